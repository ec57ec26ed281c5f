from __future__ import annotations

import codecs
import json
import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crawler.parse.decode import canonical_charset, decode_html

TEXT = "关于印发《2023年政府信息公开工作要点》的通知：镕基、堃、喆等字在 GB2312 之外。"
DATES_DEV = Path("/work/shared/data/dates-dev")


def page(body_text: str, meta: str = "") -> str:
    return f"<html><head>{meta}<title>测试</title></head><body><p>{body_text}</p></body></html>"


def gbk_page(meta: str = '<meta http-equiv="Content-Type" content="text/html; charset=gb2312">') -> bytes:
    return page(TEXT, meta).encode("gb18030")


def test_valid_utf8_fast_path() -> None:
    assert decode_html(page(TEXT).encode(), None) == (page(TEXT), "utf-8")


def test_header_charset_used() -> None:
    assert decode_html(page(TEXT).encode("gbk", "ignore"), "GBK")[1] == "gb18030"


def test_gb2312_meta_decoded_as_gb18030_including_gbk_only_characters() -> None:
    text, charset = decode_html(gbk_page(), None)
    assert charset == "gb18030"
    assert TEXT in text  # 镕 and 堃 are not in GB2312: a strict gb2312 codec would fail


def test_html5_meta_charset() -> None:
    assert decode_html(gbk_page('<meta charset="gbk">'), None)[1] == "gb18030"


def test_wrong_header_falls_back_to_meta() -> None:
    text, charset = decode_html(gbk_page(), "utf-8")
    assert (TEXT in text, charset) == (True, "gb18030")


def test_utf8_body_declared_gbk_is_utf8() -> None:
    body = page(TEXT, '<meta charset="gb2312">').encode()
    text, charset = decode_html(body, "gbk")
    assert (TEXT in text, charset) == (True, "utf-8")


def test_double_declaration_first_wrong() -> None:
    meta = '<meta http-equiv="Content-Type" content="text/html; charset=utf-8"><meta charset="gb2312">'
    text, charset = decode_html(page(TEXT, meta).encode("gb18030"), None)
    assert (TEXT in text, charset) == (True, "gb18030")


def test_iso_8859_1_server_default_does_not_win_over_content() -> None:
    text, charset = decode_html(gbk_page(meta=""), "ISO-8859-1")
    assert (TEXT in text, charset) == (True, "gb18030")


def test_undeclared_gbk_detected() -> None:
    text, charset = decode_html(gbk_page(meta=""), None)
    assert (TEXT in text, charset) == (True, "gb18030")


@pytest.mark.parametrize(
    ("bom", "codec"),
    [(codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be")],
)
def test_bom_beats_wrong_header(bom: bytes, codec: str) -> None:
    body = bom + page(TEXT).encode(codec)
    assert decode_html(body, "gb2312") == (page(TEXT), codec)


def test_truncated_body_keeps_declared_charset() -> None:
    body = gbk_page()[:-1] + "中".encode("gb18030")[:1]  # cut mid-character by the size limit
    text, charset = decode_html(body, "gbk")
    assert charset == "gb18030"
    assert TEXT in text


def test_stray_bad_bytes_tolerated() -> None:
    body = page(TEXT * 5).encode() + b"\xff" + page(TEXT).encode()
    text, charset = decode_html(body, "utf-8")
    assert charset == "utf-8"
    assert text.count("\ufffd") == 1


def test_gbk_declared_utf8_is_not_accepted_with_replacements() -> None:
    body = page(TEXT * 3, '<meta charset="utf-8">').encode("gb18030")
    text, charset = decode_html(body, None)
    assert (TEXT in text, charset) == (True, "gb18030")


def test_unknown_labels_are_ignored() -> None:
    assert decode_html(gbk_page('<meta charset="x-no-such-charset">'), "bogus")[1] == "gb18030"


@pytest.mark.parametrize(
    ("label", "expected"),
    [("GB2312", "gb18030"), ("x-gbk", "gb18030"), ("cp936", "gb18030"), ("UTF8", "utf-8"), ("'utf-8'", "utf-8"),
     ("big5", "big5hkscs"), ("nonsense", None), ("", None), (None, None)],
)  # fmt: skip
def test_canonical_charset(label: str | None, expected: str | None) -> None:
    assert canonical_charset(label) == expected


def test_binary_garbage_never_raises() -> None:
    rng = random.Random(7)
    for _ in range(20):
        body = bytes(rng.randrange(256) for _ in range(2000))
        text, charset = decode_html(body, rng.choice([None, "utf-8", "gbk", "latin-1", "no-such"]))
        assert isinstance(text, str)
        assert codecs.lookup(charset)


def test_empty_body() -> None:
    assert decode_html(b"", None) == ("", "utf-8")


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300), st.sampled_from([None, "utf-8", "gb2312", "utf-16", "", "x"]))
def test_decode_total(body: bytes, header: str | None) -> None:
    text, charset = decode_html(body, header)
    assert isinstance(text, str)
    assert codecs.lookup(charset)


@pytest.mark.skipif(not DATES_DEV.exists(), reason="dates-dev data set not present")
def test_real_pages_decode_as_labelled() -> None:
    for line in (DATES_DEV / "truth.jsonl").read_text().splitlines():
        row = json.loads(line)
        _, charset = decode_html((DATES_DEV / row["file"]).read_bytes(), None)
        expected = "gb18030" if row["encoding"].startswith("gb") else "utf-8"
        assert charset == expected, row["file"]
