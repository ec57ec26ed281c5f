"""The simulated web behaves exactly as its truth file says.

A small reference checker (independent of the crawler under development) fetches every planted
link and classifies it; a mini-crawl of every site's homepage, lists and first article then
proves there are no *unplanned* problems, so the truth can be used to score precision too.
"""

from __future__ import annotations

import asyncio
import json
import re
import signal
import subprocess
import sys
import time
import zlib
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import aiohttp
import pytest
from selectolax.lexbor import LexborHTMLParser

from crawler.simweb import (
    ALL_FAULTS,
    REGISTRY_HEADER,
    LogEntry,
    SimWeb,
    by_addr,
    disallowed_fetches,
    max_in_flight,
    min_spacing,
    rate_exceeded,
)
from crawler.simweb.dns import build_response, query
from crawler.simweb.names import FRESHNESS_WINDOW_DAYS, GAMBLING_TERMS, HIJACK_BRAND
from crawler.types import Element, Reason, Verdict

TODAY = date(2024, 6, 15)
PROBE_TIMEOUT = 0.6
_ARTICLE = re.compile(r"/t\d{8}_\d+\.html$|/art_\d+_\d+\.html$")
BODY_LIMIT = 2 * 1024 * 1024
SPIDER_UA = "Mozilla/5.0 (compatible; Baiduspider/2.0; +http://www.baidu.com/search/spider.html)"
Outcome = tuple[Verdict, Reason | None]


@pytest.fixture(scope="module")
async def web() -> AsyncIterator[SimWeb]:
    async with SimWeb(n_sites=60, seed=1, today=TODAY, max_items=8) as w:
        yield w


@pytest.fixture(scope="module")
async def http(web: SimWeb) -> AsyncIterator[aiohttp.ClientSession]:
    connector = aiohttp.TCPConnector(resolver=web.resolver(), limit=50)
    async with aiohttp.ClientSession(connector=connector) as session:
        yield session


# --------------------------------------------------------------------------- reference checker


def _decode(body: bytes) -> str:
    for enc in ("utf-8-sig", "gb18030"):
        try:
            return body.decode(enc)
        except UnicodeDecodeError:
            continue
    return body.decode("utf-8", "replace")


class Checker:
    """Classifies a URL the way the truth expects (robots → redirects → status → body)."""

    def __init__(self, http: aiohttp.ClientSession) -> None:
        self.http = http
        self._robots: dict[str, tuple[bool, list[str]]] = {}  # host → (disallow_all, prefixes)

    async def robots_allows(self, url: str) -> bool:
        parts = urlsplit(url)
        host = parts.hostname or ""
        if host not in self._robots:
            rule: tuple[bool, list[str]] = (False, [])
            try:
                async with self.http.get(
                    f"http://{host}/robots.txt",
                    allow_redirects=False,
                    timeout=aiohttp.ClientTimeout(PROBE_TIMEOUT),
                ) as r:
                    if r.status >= 500:
                        rule = (True, [])
                    elif r.status == 200 and r.content_type == "text/plain":
                        text = await r.text()
                        rule = (
                            False,
                            [
                                ln.split(":", 1)[1].strip()
                                for ln in text.splitlines()
                                if ln.lower().startswith("disallow:") and ln.split(":", 1)[1].strip()
                            ],
                        )
            except (aiohttp.ClientError, TimeoutError):
                pass  # transport failures surface on the real fetch
            self._robots[host] = rule
        disallow_all, prefixes = self._robots[host]
        return not disallow_all and not any(parts.path.startswith(p) for p in prefixes)

    async def fetch(self, url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes, str]:
        async with self.http.get(
            url, allow_redirects=False, headers=headers, timeout=aiohttp.ClientTimeout(total=5)
        ) as r:
            return r.status, await r.read(), r.headers.get("Content-Type", "")

    async def check(self, url: str) -> Outcome:
        if not await self.robots_allows(url):
            return Verdict.UNVERIFIED, Reason.ROBOTS_DISALLOWED
        seen: set[str] = set()
        hops = 0
        retried = False
        while True:
            if url in seen:
                return Verdict.BROKEN, Reason.REDIRECT_LOOP
            seen.add(url)
            try:
                async with self.http.get(
                    url,
                    allow_redirects=False,
                    timeout=aiohttp.ClientTimeout(total=5, sock_read=PROBE_TIMEOUT),
                ) as r:
                    if r.status in (301, 302, 303, 307, 308):
                        hops += 1
                        if hops > 10:
                            return Verdict.BROKEN, Reason.TOO_MANY_REDIRECTS
                        url = urljoin(url, r.headers["Location"])
                        continue
                    if r.status in (429, 503) and not retried:
                        retried = True
                        seen.discard(url)
                        await asyncio.sleep(float(r.headers.get("Retry-After", "0.1")))
                        continue
                    body = b""
                    while len(body) <= BODY_LIMIT:
                        chunk = await r.content.read(65536)
                        if not chunk:
                            break
                        body += chunk
                    else:
                        return Verdict.UNVERIFIED, Reason.BODY_TOO_LARGE
                    status = r.status
            except aiohttp.ClientConnectorDNSError:
                return Verdict.BROKEN, Reason.DNS
            except aiohttp.ClientConnectorError:
                return Verdict.BROKEN, Reason.REFUSED
            except TimeoutError:
                return Verdict.BROKEN, Reason.TIMEOUT
            if status in (403, 412):
                return Verdict.UNVERIFIED, Reason.BLOCKED
            fixed = {404: Reason.HTTP_404, 410: Reason.HTTP_410}
            if status in fixed:
                return Verdict.BROKEN, fixed[status]
            if status >= 500:
                return Verdict.BROKEN, Reason.HTTP_5XX
            if status >= 400:
                return Verdict.BROKEN, Reason.HTTP_4XX
            if "页面不存在" in _decode(body[:20000]):
                return Verdict.BROKEN, Reason.SOFT_404
            return Verdict.OK, None


def extract(base: str, body: bytes) -> set[tuple[str, Element]]:
    tree = LexborHTMLParser(_decode(body))
    out: set[tuple[str, Element]] = set()
    for sel, attr, el in (
        ("a[href]", "href", Element.A),
        ("img[src]", "src", Element.IMG),
        ("link[href]", "href", Element.STYLESHEET),
        ("script[src]", "src", Element.SCRIPT),
    ):
        for node in tree.css(sel):
            out.add((urljoin(base, node.attributes.get(attr) or ""), el))
    for node in tree.css('meta[http-equiv="refresh"]'):
        m = re.search(r"url=(.+)", node.attributes.get("content") or "", re.I)
        if m:
            out.add((urljoin(base, m.group(1).strip()), Element.META_REFRESH))
    for m in re.finditer(r"window\.location\.href\s*=\s*'([^']+)'", tree.html or ""):
        out.add((urljoin(base, m.group(1)), Element.JS_LOCATION))
    return out


# --------------------------------------------------------------------------- truth and determinism


def test_truth_is_deterministic_and_complete() -> None:
    a = SimWeb(n_sites=60, seed=1, today=TODAY)
    b = SimWeb(n_sites=60, seed=1, today=TODAY)
    assert a.truth.to_json() == b.truth.to_json()
    assert SimWeb(n_sites=60, seed=2, today=TODAY).truth.to_json() != a.truth.to_json()
    small = SimWeb(n_sites=50, seed=7, today=TODAY).truth
    assert {f for s in small.sites for f in s.faults} == set(ALL_FAULTS)
    assert any(not s.faults for s in small.sites)  # healthy controls exist
    assert not small.sites[0].faults
    data = json.loads(a.truth.to_json())
    assert data["links"][0]["verdict"] in {"broken", "unverified"}
    assert {c["reason"] for c in data["links"]} >= {
        "http_404",
        "http_410",
        "http_5xx",
        "soft_404",
        "redirect_loop",
        "too_many_redirects",
        "dns",
        "refused",
        "timeout",
        "blocked",
        "robots_disallowed",
        "body_too_large",
    }


def test_scales_to_thousands_of_sites_cheaply() -> None:
    t0 = time.perf_counter()
    big = SimWeb(n_sites=2000, seed=3, today=TODAY)
    assert time.perf_counter() - t0 < 5
    assert len({h for s in big.sites for h in s.hosts}) >= 2000
    assert len({s.code for s in big.sites}) == 2000 and all(len(s.code) == 10 for s in big.sites)
    assert len(big.truth.unreachable_sites) > 1  # faults repeat over large webs


def test_registry_csv_and_truth_file(tmp_path: Path) -> None:
    w = SimWeb(n_sites=55, seed=1, today=TODAY)
    w.write_sites_csv(tmp_path / "sites.csv")
    w.write_truth(tmp_path / "truth.json")
    lines = (tmp_path / "sites.csv").read_text(encoding="utf-8").splitlines()
    assert lines[0] == ",".join(REGISTRY_HEADER)
    assert len(lines) == 56
    truth = json.loads((tmp_path / "truth.json").read_text(encoding="utf-8"))
    mismatch = next(c for c in truth["integrity"] if c["check"] == "identity.organizer_mismatch")
    site = next(s for s in truth["sites"] if s["code"] == mismatch["site"])
    assert site["organizer"] in (tmp_path / "sites.csv").read_text(encoding="utf-8")  # registry = TRUE value
    assert mismatch["detail"] != site["organizer"]


# --------------------------------------------------------------------------- links


async def test_every_planted_link_behaves_as_truth_says(web: SimWeb, http: aiohttp.ClientSession) -> None:
    web.reset()
    checker = Checker(http)
    cases = web.truth.links + web.truth.ok_links
    sources = {c.source for c in cases}
    pages = dict(zip(sources, await asyncio.gather(*(checker.fetch(s) for s in sources)), strict=True))
    for c in cases:
        status, body, _ = pages[c.source]
        assert status == 200, c
        assert (c.target, c.element) in extract(c.source, body), c
    outcomes = await asyncio.gather(*(checker.check(c.target) for c in cases))
    wrong = [(c.fault, c.target, got) for c, got in zip(cases, outcomes, strict=True) if got != (c.verdict, c.reason)]
    assert not wrong


async def test_no_unplanned_problems(web: SimWeb, http: aiohttp.ClientSession) -> None:
    """Homepages, every list page and each site's first article link only to what the truth predicts."""
    web.reset()
    checker = Checker(http)
    unreachable = set(web.truth.unreachable_sites)
    pages: list[str] = []
    for s in web.sites:
        if s.code in unreachable:
            continue
        pages.append(s.url)
        pages += [s.abs(c.page_path(p)) for c in s.columns for p in range(c.n_pages)]
        pages.append(s.abs(web._items(s, s.columns[0])[0].path))
    fetched = await asyncio.gather(*(checker.fetch(p) for p in pages))
    links: dict[tuple[str, str], Element] = {}
    for page, (status, body, _) in zip(pages, fetched, strict=True):
        assert status == 200, page
        for target, el in extract(page, body):
            links.setdefault((page, target), el)
    # Every non-article target, and a fixed eighth of the (uniformly generated) article links.
    # Checked: every planted target, every internal non-article target, a fixed eighth of the
    # (uniformly generated) articles, and one URL per external host (they answer any path alike).
    planted = {c.target for c in web.truth.links}
    site_hosts = {h for s in web.sites for h in s.hosts}
    per_external: dict[str, str] = {}
    targets = []
    for t in sorted({t for _, t in links}):
        host = urlsplit(t).hostname or ""
        if (
            t in planted
            or (host in site_hosts and (not _ARTICLE.search(t) or zlib.crc32(t.encode()) % 8 == 0))
            or (host not in site_hosts and per_external.setdefault(host, t) == t)
        ):
            targets.append(t)
    sem = asyncio.Semaphore(40)

    async def one(t: str) -> Outcome:
        async with sem:
            return await checker.check(t)

    results = dict(zip(targets, await asyncio.gather(*(one(t) for t in targets)), strict=True))
    found = {(src, t): results[t] for (src, t) in links if t in results and results[t][0] is not Verdict.OK}
    expected = {(c.source, c.target): (c.verdict, c.reason) for c in web.truth.links}
    assert found == expected


async def test_unreachable_site_homepage_always_500(web: SimWeb, http: aiohttp.ClientSession) -> None:
    assert web.truth.unreachable_sites
    site = web.site(web.truth.unreachable_sites[0])
    checker = Checker(http)
    for _ in range(2):
        assert (await checker.fetch(site.url))[0] == 500


async def test_robots_rules(web: SimWeb, http: aiohttp.ClientSession) -> None:
    checker = Checker(http)
    for url in web.truth.robots_disallowed_urls:
        host = urlsplit(url).hostname
        status, body, _ = await checker.fetch(f"http://{host}/robots.txt")
        assert status == 200 and "Disallow: /private/" in body.decode()
    for host, delay in web.truth.crawl_delays.items():
        body = (await checker.fetch(f"http://{host}/robots.txt"))[1].decode()
        assert f"Crawl-delay: {delay:g}" in body
    for host in web.truth.robots_disallow_all_hosts:
        assert (await checker.fetch(f"http://{host}/robots.txt"))[0] == 500


# --------------------------------------------------------------------------- freshness

_DATE_RE = re.compile(r"(\d{4})[-年](\d{2})[-月](\d{2})")


def _dates(html: str) -> list[date]:
    return [date(int(y), int(m), int(d)) for y, m, d in _DATE_RE.findall(html)]


async def test_freshness_cases(web: SimWeb, http: aiohttp.ClientSession) -> None:
    checker = Checker(http)
    kinds = set()
    for case in web.truth.freshness:
        kinds.add(case.kind)
        html = _decode((await checker.fetch(case.url))[1])
        if case.kind == "stale":
            assert case.newest is not None
            assert max(_dates(html.split('class="footer"')[0])) == case.newest
            assert (TODAY - case.newest).days > FRESHNESS_WINDOW_DAYS[case.cls]
        elif case.kind in ("blank", "blank_explained"):
            assert "/art/" not in html and "/t20" not in html
            assert ("本栏目暂无信息" in html) == (case.kind == "blank_explained") != case.expect_finding
        elif case.kind == "future":
            assert case.newest is not None and case.newest > TODAY
            assert f'name="PubDate" content="{case.newest.isoformat()}' in html
            listing = _decode((await checker.fetch(case.column_url))[1])
            assert case.url.rsplit("/", 1)[1] in listing
        elif case.kind == "homepage_stale":
            shown = [date.fromisoformat(d) for d in re.findall(r'class="date">([\d-]+)<', html)]
            assert shown and max(shown) == case.newest and (TODAY - max(shown)).days > 14
    assert kinds == {"stale", "blank", "blank_explained", "future", "homepage_stale"}
    # No false alarms: every column not listed as a case is fresh by its class window.
    listed = {c.url for c in web.truth.freshness}
    for s in web.truth.sites:
        for col in s.columns:
            if col.url not in listed:
                assert col.newest is not None and 0 <= (TODAY - col.newest).days <= FRESHNESS_WINDOW_DAYS[col.cls]


async def test_list_pages_cms_styles(web: SimWeb, http: aiohttp.ClientSession) -> None:
    checker = Checker(http)
    trs = next(s for s in web.sites if s.cms == "trs" and not s.faults and s.columns[0].n_pages > 1)
    han = next(s for s in web.sites if s.cms == "hanweb" and not s.faults)
    html = _decode((await checker.fetch(trs.abs(trs.columns[0].page_path(1))))[1])
    assert re.search(r'href="\./\d{6}/t\d{8}_\d+\.html"', html) and "createPageHTML" in html
    assert 'name="ColumnName"' in html and "当前位置" in html
    html = _decode((await checker.fetch(han.abs(han.columns[0].list_path)))[1])
    assert '<script type="text/xml"><datastore>' in html and "<record><![CDATA[" in html
    art = re.search(r'href="(/art/\d{4}/\d+/\d+/art_\d+_\d+\.html)"', html)
    assert art is not None
    page = _decode((await checker.fetch(han.abs(art.group(1))))[1])
    assert 'name="ArticleTitle"' in page and 'name="PubDate"' in page and "发布时间：" in page


# --------------------------------------------------------------------------- integrity


def _footer_organizer(html: str) -> str | None:
    m = re.search(r"主办单位：([^<]+)<", html)
    return m.group(1) if m else None


def _meta(html: str, name: str) -> str | None:
    m = re.search(rf'<meta name="{name}" content="([^"]*)"', html)
    return m.group(1) if m else None


async def test_integrity_cases(web: SimWeb, http: aiohttp.ClientSession) -> None:
    checker = Checker(http)
    seen = set()
    for case in web.truth.integrity:
        seen.add(case.check)
        site = web.site(case.site)
        html = _decode((await checker.fetch(case.url))[1])
        title = re.search(r"<title>([^<]*)</title>", html)
        assert title is not None
        if case.check == "security.hidden_link":
            assert case.target in html.replace('\\"', '"')
        elif case.check == "security.hijacked_title":
            assert HIJACK_BRAND in title.group(1)
        elif case.check == "security.hijacked_footer":
            assert _footer_organizer(html) == HIJACK_BRAND
        elif case.check == "security.spam_content":
            assert GAMBLING_TERMS[0] in (_meta(html, "keywords") or "")
        elif case.check == "security.cloaking":
            assert title.group(1) == site.name and GAMBLING_TERMS[0] not in html
            for headers in ({"User-Agent": SPIDER_UA}, {"Referer": "https://www.baidu.com/s?wd=x"}):
                cloaked = _decode((await checker.fetch(case.url, headers))[1])
                assert f"<title>{GAMBLING_TERMS[0]}" in cloaked
        elif case.check == "security.spam_outbound":
            assert case.target in html
            assert GAMBLING_TERMS[0] in _decode((await checker.fetch(case.target))[1])
        elif case.check == "identity.site_code_missing":
            assert _meta(html, "SiteIDCode") is None and "网站标识码" not in html
        elif case.check == "identity.site_code_mismatch":
            assert _meta(html, "SiteIDCode") not in (None, site.code)
        elif case.check == "identity.icp_missing":
            assert "ICP备" not in html
        elif case.check == "identity.psb_missing":
            assert "公网安备" not in html
        elif case.check == "identity.organizer_missing":
            assert _footer_organizer(html) is None
        elif case.check == "identity.organizer_mismatch":
            assert _footer_organizer(html) not in (None, site.organizer)
    assert len(seen) == 12
    # A healthy control is clean and matches the registry exactly.
    clean = web.sites[0]
    html = _decode((await checker.fetch(clean.url, {"User-Agent": SPIDER_UA}))[1])
    assert _meta(html, "SiteIDCode") == clean.code and _footer_organizer(html) == clean.organizer
    assert clean.icp in html and clean.psb in html and "我为政府网站找错" in html and "conac.cn" in html
    assert not any(t in html for t in GAMBLING_TERMS)


# --------------------------------------------------------------------------- transport details


async def test_encodings_are_recoverable(web: SimWeb, http: aiohttp.ClientSession) -> None:
    checker = Checker(http)
    assert len(web.truth.encodings) == 4
    for case in web.truth.encodings:
        _, body, ctype = await checker.fetch(case.url)
        header = ctype.partition("charset=")[2] or None
        assert header == case.header_charset
        assert body.startswith(b"\xef\xbb\xbf") == case.bom
        text = body.decode("utf-8-sig" if case.bom else case.actual)
        assert f"<title>{case.expected_title}</title>" in text and "镕城大道" in text
        declared = re.findall(r'charset="?([\w-]+)', text.split("<title>")[0])
        assert tuple(declared) == case.meta_charsets
    gb = next(c for c in web.truth.encodings if c.header_charset == "gb2312")
    with pytest.raises(UnicodeDecodeError):  # trusting "gb2312" literally is the planted trap
        (await checker.fetch(gb.url))[1].decode("gb2312")


async def test_gzip_only_when_accepted(web: SimWeb) -> None:
    connector = aiohttp.TCPConnector(resolver=web.resolver())
    async with aiohttp.ClientSession(connector=connector, auto_decompress=False) as s:
        url = web.sites[0].url
        async with s.get(url, headers={"Accept-Encoding": "gzip"}) as r:
            assert r.headers.get("Content-Encoding") == "gzip"
        async with s.get(url, headers={"Accept-Encoding": "identity"}) as r:
            assert "Content-Encoding" not in r.headers
            assert b"<title>" in await r.read()


async def test_traps_and_session_ids(web: SimWeb, http: aiohttp.ClientSession) -> None:
    checker = Checker(http)
    for trap in web.truth.traps:
        status, body, _ = await checker.fetch(trap.url)
        assert status == 200, trap
        if trap.kind == "calendar":
            assert "/calendar?month=2" in body.decode()
            assert "/calendar?month=1000" in (await checker.fetch(trap.url.replace("=1", "=999")))[1].decode()
        if trap.kind == "session_id":
            plain = re.sub(r"[;?]jsessionid=\w+", "", trap.url, flags=re.I)
            assert (await checker.fetch(plain))[1] == body
    site = next(s for s in web.sites if "long_urls" in s.faults)
    deep = site.abs("/zt" * 30 + "/index.html")
    status, body, _ = await checker.fetch(deep)
    assert status == 200 and b'href="zt/index.html"' in body


async def test_alias_host_and_unknown_host(web: SimWeb, http: aiohttp.ClientSession) -> None:
    checker = Checker(http)
    portal = next(s for s in web.sites if len(s.hosts) > 1)
    status, _, _ = await checker.fetch(f"http://{portal.hosts[1]}/index.html")
    assert status == 301
    addr, port = web.resolve_map[portal.host]
    async with http.get(f"http://{addr}:{port}/", headers={"Host": "nowhere.example.cn"}) as r:
        assert r.status == 404


# --------------------------------------------------------------------------- DNS and addressing


async def test_dns_answers_known_and_nxdomain_unknown(web: SimWeb) -> None:
    server = ("127.0.0.1", int(web.nameserver.rsplit(":", 1)[1]))
    site = web.sites[1]
    assert await query(server, site.host) == (0, [site.addr])
    assert await query(server, site.host.upper() + ".") == (0, [site.addr])
    assert await query(server, "www.gov.cn") == (0, ["127.0.0.1"])
    assert await query(server, "www.expired-example.cn") == (3, [])
    assert await query(server, site.host, qtype=28) == (0, [])  # AAAA: name exists, no record
    assert build_response(b"\x12\x34" + b"\0" * 10, {}) is not None  # qdcount 0 → FORMERR, not a crash
    assert build_response(b"\x01", {}) is None


async def test_resolve_rules_and_addresses(web: SimWeb) -> None:
    rules = dict(r.split("=", 1) for r in web.resolve_rules)
    assert rules[web.sites[0].host] == f"{web.sites[0].addr}:{web.port}"
    assert len({s.addr for s in web.sites}) == 3 and web.addresses[0] == "127.0.0.1"
    assert "www.expired-example.cn" not in rules
    assert web.nameserver.startswith("127.0.0.1:")


# --------------------------------------------------------------------------- request log and metrics


def _e(start: float, end: float, host: str = "a", addr: str = "127.0.0.2", path: str = "/") -> LogEntry:
    return LogEntry(start, end, host, addr, "GET", path, "ua", "", 200)


def test_log_metrics_on_synthetic_log() -> None:
    log = [
        _e(0.0, 1.0),
        _e(0.5, 1.5),
        _e(1.0, 2.0),
        _e(0.6, 0.7, host="b"),
        _e(3.0, 3.1, host="b", addr="127.0.0.3"),
    ]
    assert max_in_flight(log) == {"a": 2, "b": 1}  # touching intervals do not overlap
    assert max_in_flight(log, by_addr) == {"127.0.0.2": 3, "127.0.0.3": 1}
    assert min_spacing(log) == {"a": 0.5, "b": pytest.approx(2.4)}
    assert rate_exceeded(log, rate=1.0) == {"a": 0.5}
    assert rate_exceeded(log, rate=2.0) == {}
    assert rate_exceeded(log, rate=1.0, host="b") == {}
    banned = [
        _e(0, 1, host="h", path="/private/x.html"),
        _e(0, 1, host="r", path="/robots.txt"),
        _e(0, 1, host="r", path="/a"),
        _e(0, 1, host="h", path="/ok"),
    ]
    assert disallowed_fetches(banned, ["http://h/private/x.html"], ["r"]) == [banned[0], banned[2]]


async def test_log_records_requests_per_address(web: SimWeb, http: aiohttp.ClientSession) -> None:
    web.reset()
    site = web.sites[1]
    checker = Checker(http)
    await asyncio.gather(*(checker.fetch(site.abs(c.list_path), {"User-Agent": "probe/1"}) for c in site.columns))
    entries = [e for e in web.log if e.host == site.host]
    assert len(entries) == len(site.columns)
    assert {e.local_addr for e in entries} == {site.addr}
    assert all(e.user_agent == "probe/1" and e.status == 200 and e.end >= e.start for e in entries)
    assert 1 <= max_in_flight(entries)[site.host] <= len(site.columns)
    assert not disallowed_fetches(web.log, web.truth.robots_disallowed_urls, web.truth.robots_disallow_all_hosts)


async def test_transient_faults_reset(web: SimWeb, http: aiohttp.ClientSession) -> None:
    web.reset()
    case = next(c for c in web.truth.ok_links if c.fault == "rate_limited_429")
    checker = Checker(http)
    assert (await checker.fetch(case.target))[0] == 429
    assert (await checker.fetch(case.target))[0] == 200
    web.reset()
    async with http.get(case.target) as r:
        assert r.status == 429 and r.headers["Retry-After"] == "1"


# --------------------------------------------------------------------------- CLI


def test_cli_runs_until_signal(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "crawler.simweb", "--sites", "6", "--seed", "1", "--today", "2024-06-15",
         "--truth", str(tmp_path / "t.json"), "--sites-csv", str(tmp_path / "s.csv"),
         "--resolve-out", str(tmp_path / "r.txt")],
        stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[1],
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith("simweb: 6 sites"), first
        assert proc.stdout.readline().startswith("--nameserver 127.0.0.1:")
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0 and "stopped" in out
    assert json.loads((tmp_path / "t.json").read_text(encoding="utf-8"))["n_sites"] == 6
    assert "www.site0001.gov.cn=127.0.0.2:" in (tmp_path / "r.txt").read_text()
