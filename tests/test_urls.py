from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from crawler.frontier.urls import (
    DEFAULT_SESSION_PARAMS,
    _clean,
    _fast,
    _slow,
    host_key,
    is_attachment,
    looks_like_trap,
    normalize,
)

BASE = "http://www.example.gov.cn/col/col123/index.html"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("HTTP://WWW.Example.GOV.cn/a", "http://www.example.gov.cn/a"),
        ("http://www.gov.cn", "http://www.gov.cn/"),
        ("http://www.gov.cn:80/a", "http://www.gov.cn/a"),
        ("https://www.gov.cn:443/a", "https://www.gov.cn/a"),
        ("http://www.gov.cn:8080/a", "http://www.gov.cn:8080/a"),
        ("http://www.gov.cn/a/./b/../c", "http://www.gov.cn/a/c"),
        ("http://www.gov.cn/../../a", "http://www.gov.cn/a"),
        ("http://www.gov.cn/%7euser/%2f%41%e4", "http://www.gov.cn/~user/%2FA%E4"),
        ("http://www.gov.cn/a#frag", "http://www.gov.cn/a"),
        ("http://www.gov.cn/a?", "http://www.gov.cn/a"),
        ("http://www.gov.cn/s?b=2&a=1&c", "http://www.gov.cn/s?b=2&a=1&c"),
        ("http://例子.中国/通知 1.pdf", "http://xn--fsqu00a.xn--fiqs8s/%E9%80%9A%E7%9F%A5%201.pdf"),
        ("http://user:secret@www.gov.cn/a", "http://www.gov.cn/a"),
        ("http://[::1]:8080/a", "http://[::1]:8080/a"),
        ("  http://www.gov.cn/a\n/b\t ", "http://www.gov.cn/a/b"),
    ],
)
def test_normal_forms(url: str, expected: str) -> None:
    assert normalize(url) == expected


@pytest.mark.parametrize(
    ("href", "expected"),
    [
        ("/art/2023/1/2/art_1.html", "http://www.example.gov.cn/art/2023/1/2/art_1.html"),
        ("art_1.html", "http://www.example.gov.cn/col/col123/art_1.html"),
        ("./art_1.html", "http://www.example.gov.cn/col/col123/art_1.html"),
        ("../../index.html", "http://www.example.gov.cn/index.html"),
        ("..\\col9\\index.html", "http://www.example.gov.cn/col/col9/index.html"),
        ("?page=2", "http://www.example.gov.cn/col/col123/index.html?page=2"),
        ("//cdn.example.cn/a.js", "http://cdn.example.cn/a.js"),
        ("https://other.gov.cn", "https://other.gov.cn/"),
    ],
)
def test_relative_resolution(href: str, expected: str) -> None:
    assert normalize(href, BASE) == expected


@pytest.mark.parametrize(
    "href",
    ["", "   ", "#top", "javascript:void(0)", "JavaScript:go()", "mailto:a@b.cn", "tel:12345", "data:text/html,x",
     "ftp://ftp.gov.cn/a", "http://", "http://[::1/a", "http://a.cn:99999/"],
)  # fmt: skip
def test_unusable(href: str) -> None:
    assert normalize(href, BASE) is None


def test_relative_without_base_is_unusable() -> None:
    assert normalize("/a/b.html") is None


def test_session_parameters_stripped() -> None:
    url = "http://a.gov.cn/x.do;jsessionid=0A1B2C3D?id=5&JSESSIONID=1&PHPSESSID=2&ASPSESSIONIDQSTRA=3&k=v"
    assert normalize(url) == "http://a.gov.cn/x.do?id=5&k=v"


def test_sid_only_stripped_when_it_looks_like_a_token() -> None:
    assert normalize("http://a.gov.cn/list?sid=12") == "http://a.gov.cn/list?sid=12"
    assert normalize("http://a.gov.cn/list?sid=f3a9c07be1d24a6b8c") == "http://a.gov.cn/list"


def test_strip_params_configurable() -> None:
    assert normalize("http://a.gov.cn/x?utm_source=1&id=2", strip_params=frozenset({"utm_*"})) == (
        "http://a.gov.cn/x?id=2"
    )
    assert normalize("http://a.gov.cn/x?jsessionid=1", strip_params=frozenset()) == "http://a.gov.cn/x?jsessionid=1"


@settings(max_examples=300, deadline=None)
@example("http://\\")  # once answered "\\:80" by hand: yarl refuses a backslash in the authority
@example("http://a b/")
@example("http://exa_mple.gov.cn/")
@example("http://a:0/")
@given(st.from_regex(r"\A(https?|HTTP|ftp)://([a-zA-Z0-9.-]{0,12}|[^/]{0,6})(:[0-9]{0,6})?(/[a-z?#@:]{0,6})?\Z"))
def test_host_key_by_hand_agrees_with_yarl(url: str) -> None:
    from crawler.frontier.urls import _host_key_parsed

    assert host_key(url) == _host_key_parsed(url)


def test_host_key() -> None:
    assert host_key("HTTP://WWW.Gov.CN/a") == "www.gov.cn:80"
    assert host_key("https://www.gov.cn:8443/a") == "www.gov.cn:8443"
    assert host_key("not a url") == ""


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://a.gov.cn/files/通知.PDF", True),
        ("http://a.gov.cn/files/x.wps?v=1", True),
        ("http://a.gov.cn/a.ofd", True),
        ("http://a.gov.cn/module/download/downfile.jsp?classid=0&filename=2305.docx", True),
        ("http://a.gov.cn/art/2023/5/1/art_1.html", False),
        ("http://a.gov.cn/col/", False),
        ("http://a.gov.cn/list.jsp?page=2", False),
    ],
)
def test_is_attachment(url: str, expected: bool) -> None:
    assert is_attachment(url) is expected


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://a.gov.cn/" + "x" * 2000, "too_long"),
        ("http://a.gov.cn/" + "/".join(str(i) for i in range(30)), "too_many_segments"),
        ("http://a.gov.cn/a/b/a/b/a/b/c.html", "repeated_segments"),
        ("http://a.gov.cn/x/x/x/", "repeated_segments"),
        ("http://a.gov.cn/cal.jsp?year=2031&month=7", "calendar"),
        ("http://a.gov.cn/cal.jsp?date=2031-07-01", "calendar"),
        ("http://a.gov.cn/art/2023/05/05/art_1.html", None),
        ("http://a.gov.cn/list.jsp?year=2023", None),
        ("http://a.gov.cn/a/b/a/b/c.html", None),
    ],
)
def test_looks_like_trap(url: str, reason: str | None) -> None:
    assert looks_like_trap(url) == reason


def test_trap_max_length_configurable() -> None:
    assert looks_like_trap("http://a.gov.cn/" + "x" * 100, max_length=50) == "too_long"


# --------------------------------------------------------------------------- properties

_url_chars = st.sampled_from([*"aZ09-._~/?=&:;%#@!$'()*+, \\\t中é", "..", "./", "%2e", "%7E", "%zz"])
_paths = st.lists(_url_chars, max_size=25).map("".join)
_hosts = st.sampled_from(["www.gov.cn", "WWW.GOV.CN", "a-b.gov.cn", "例子.中国", "1.2.3.4", "[::1]", "a_b.cn", ""])
_urls = st.builds(
    lambda scheme, host, port, path: f"{scheme}{host}{port}{path}",
    st.sampled_from(["http://", "https://", "HTTP://", "", "//", "javascript:", "mailto:"]),
    _hosts,
    st.sampled_from(["", ":80", ":443", ":8080", ":", ":x"]),
    _paths,
)


@settings(max_examples=400, deadline=None)
@given(st.one_of(_urls, _paths, st.text(max_size=60)), st.sampled_from([None, BASE, "https://a.cn/x/y/?q=1"]))
def test_normalize_idempotent_and_total(url: str, base: str | None) -> None:
    once = normalize(url, base)
    if once is not None:
        assert normalize(once) == once
        assert normalize(once, base) == once


@settings(max_examples=400, deadline=None)
@given(st.one_of(_urls, _paths), st.sampled_from([BASE, "https://a.cn/x/y/", "http://a.cn"]))
def test_fast_path_agrees_with_yarl(href: str, base: str) -> None:
    origin, _, path = base.partition("://")[2].partition("/")
    scheme = base.partition("://")[0]
    parts = (f"{scheme}://{origin}", "/" + path)
    raw = _clean(href)
    fast = _fast(raw, parts, DEFAULT_SESSION_PARAMS) if raw else None
    if fast is not None:
        assert fast == _slow(raw, parts[0] + parts[1], DEFAULT_SESSION_PARAMS)
