"""SimWeb: one in-process aiohttp server answering for every simulated host (by Host header).

Listens on several loopback addresses (one port, the same on each) so per-IP politeness can be
observed; runs the DNS server, a "silent" TCP server and holds a bound-but-not-listening socket
(connection refused) for the transport-failure faults.
"""

from __future__ import annotations

import asyncio
import csv
import errno
import hashlib
import random
import re
import socket
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import date
from pathlib import Path
from types import TracebackType

from aiohttp import abc, web

from crawler.simweb import render
from crawler.simweb.dns import DnsProtocol, start_dns
from crawler.simweb.logstats import LogEntry
from crawler.simweb.model import (
    EXTERNAL_ADDR,
    EXTERNAL_HOSTS,
    REFUSED_HOST,
    SILENT_HOST,
    TODAY_DEFAULT,
    ColumnSpec,
    Item,
    SiteSpec,
    Special,
    column_items,
)
from crawler.simweb.plan import build_web

REGISTRY_HEADER = ("name", "url", "site_code", "organizer", "kind", "region")
SPIDER_UA = ("baiduspider", "sogou", "360spider")
SEARCH_REFERERS = ("baidu.com", "sogou.com", "so.com", "sm.cn")
_JSESSION = re.compile(r";jsessionid=[^/?#]*", re.I)
_TRS_ARTICLE = re.compile(r"(/[a-z]+/[a-z]+)/(\d{6})/t(\d{8})_(\d+)\.html")
_HANWEB_ARTICLE = re.compile(r"/art/(\d{4})/(\d{1,2})/(\d{1,2})/art_(\d+)_(\d+)\.html")
_STATIC = re.compile(
    r"/css/\w+\.css|/js/\w+\.js|/images/(logo|gongan|404)\.png|/images/\d{6}/\d+\.jpg"
    r"|/uploadfile/\d{6}/\d+_\d\.(pdf|doc|xls)"
)
_ZT_TRAP = re.compile(r"(/zt)+/index\.html")
_GIF = bytes.fromhex("47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b")
_CONTENT_TYPES = {
    "css": "text/css",
    "js": "application/javascript",
    "png": "image/png",
    "jpg": "image/jpeg",
    "gif": "image/gif",
    "pdf": "application/pdf",
    "doc": "application/msword",
    "xls": "application/vnd.ms-excel",
}


class SilentProtocol(asyncio.Protocol):
    """Accepts a connection and never says a word (the "timeout" fault)."""

    def __init__(self, transports: set[asyncio.BaseTransport]) -> None:
        self._transports = transports
        self._transport: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport
        self._transports.add(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._transport is not None:
            self._transports.discard(self._transport)


class SimResolver(abc.AbstractResolver):
    """aiohttp resolver mapping simulated hosts to their addr:port (for tests of other modules).

    The requested port (80) is ignored — the simulated servers listen elsewhere; unknown hosts
    fail like NXDOMAIN.
    """

    def __init__(self, mapping: dict[str, tuple[str, int]]) -> None:
        self._mapping = mapping

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[abc.ResolveResult]:
        try:
            addr, real_port = self._mapping[host.lower()]
        except KeyError:
            raise OSError(socket.EAI_NONAME, f"NXDOMAIN {host}") from None
        return [
            {
                "hostname": host,
                "host": addr,
                "port": real_port,
                "family": socket.AF_INET,
                "proto": 0,
                "flags": socket.AI_NUMERICHOST,
            }
        ]

    async def close(self) -> None:
        return None


class SimWeb:
    """The simulated government web. ``async with SimWeb(n_sites=60, seed=1, today=...) as web:``."""

    def __init__(
        self,
        n_sites: int = 60,
        seed: int = 1,
        today: date | None = None,
        *,
        n_addresses: int = 4,
        max_items: int = 20,
        huge_bytes: int = 20 * 1024 * 1024,
    ) -> None:
        self.n_sites = n_sites
        self.seed = seed
        self.today = today or TODAY_DEFAULT
        self.huge_bytes = huge_bytes
        self.sites, self.truth = build_web(n_sites, seed, self.today, n_addresses, max_items)
        self.addresses = [
            EXTERNAL_ADDR,
            *sorted({s.addr for s in self.sites}, key=lambda a: int(a.rsplit(".", 1)[1])),
        ]
        self._by_host: dict[str, SiteSpec] = {h: s for s in self.sites for h in s.hosts}
        self._site_by_code = {s.code: s for s in self.sites}
        self.log: list[LogEntry] = []
        self._hits: Counter[tuple[str, str]] = Counter()  # (host, path) → requests, for "once" faults
        self._list_maps: dict[int, dict[str, tuple[ColumnSpec, int]]] = {}
        self.port = 0
        self.refused_port = 0
        self.silent_port = 0
        self.dns_port = 0
        self._runner: web.AppRunner | None = None
        self._silent: asyncio.Server | None = None
        self._silent_transports: set[asyncio.BaseTransport] = set()
        self._refused_sock: socket.socket | None = None
        self._dns: DnsProtocol | None = None

    # ------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> SimWeb:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        app = web.Application(middlewares=[self._log_middleware])
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        socks = _bind_same_port(self.addresses)
        self.port = socks[0].getsockname()[1]
        for sock in socks:
            await web.SockSite(self._runner, sock).start()
        # Bound but never listening: the kernel answers SYN with RST → "connection refused".
        self._refused_sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._refused_sock.bind((EXTERNAL_ADDR, 0))
        self.refused_port = self._refused_sock.getsockname()[1]
        loop = asyncio.get_running_loop()
        self._silent = await loop.create_server(lambda: SilentProtocol(self._silent_transports), EXTERNAL_ADDR, 0)
        self.silent_port = self._silent.sockets[0].getsockname()[1]
        self._dns, self.dns_port = await start_dns(self.dns_records, EXTERNAL_ADDR, 0)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._silent is not None:
            for t in list(self._silent_transports):
                t.close()
            self._silent.close()
            await self._silent.wait_closed()
            self._silent = None
        if self._refused_sock is not None:
            self._refused_sock.close()
            self._refused_sock = None
        if self._dns is not None and self._dns.transport is not None:
            self._dns.transport.close()
            self._dns = None
        await asyncio.sleep(0)  # let transports run their connection_lost callbacks

    def reset(self) -> None:
        """Forget the request log and the "first request" state of transient faults."""
        self.log.clear()
        self._hits.clear()

    # ------------------------------------------------------------------ addressing

    @property
    def dns_records(self) -> dict[str, str]:
        """Every resolvable name → its loopback address (what the DNS server answers)."""
        recs = {h: s.addr for s in self.sites for h in s.hosts}
        recs.update({h: EXTERNAL_ADDR for h in EXTERNAL_HOSTS})
        recs[REFUSED_HOST] = recs[SILENT_HOST] = EXTERNAL_ADDR
        return recs

    @property
    def resolve_map(self) -> dict[str, tuple[str, int]]:
        """host → (address, port) where it is really served (needs a started SimWeb)."""
        out = {h: (a, self.port) for h, a in self.dns_records.items()}
        out[REFUSED_HOST] = (EXTERNAL_ADDR, self.refused_port)
        out[SILENT_HOST] = (EXTERNAL_ADDR, self.silent_port)
        return out

    @property
    def resolve_rules(self) -> list[str]:
        """curl ``--connect-to``-style ``HOST=ADDR:PORT`` strings, one per host (for ``--resolve``)."""
        return [f"{h}={a}:{p}" for h, (a, p) in sorted(self.resolve_map.items())]

    @property
    def nameserver(self) -> str:
        return f"{EXTERNAL_ADDR}:{self.dns_port}"

    def resolver(self) -> SimResolver:
        return SimResolver(self.resolve_map)

    def site(self, code: str) -> SiteSpec:
        return self._site_by_code[code]

    # ------------------------------------------------------------------ registry / truth

    def registry_rows(self) -> list[dict[str, str]]:
        """The registry as the inspection authority holds it: TRUE codes and organizers."""
        return [
            {
                "name": s.name,
                "url": s.url,
                "site_code": s.code,
                "organizer": s.organizer,
                "kind": s.kind,
                "region": s.region,
            }
            for s in self.sites
        ]

    def write_sites_csv(self, path: str | Path) -> None:
        with open(path, "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=REGISTRY_HEADER)
            writer.writeheader()
            writer.writerows(self.registry_rows())

    def write_truth(self, path: str | Path) -> None:
        self.truth.write(path)

    # ------------------------------------------------------------------ request handling

    @web.middleware
    async def _log_middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        start = time.monotonic()
        status = 0
        try:
            resp = await handler(request)
            status = resp.status
            if not resp.prepared:  # write the body here so "end" covers the whole response
                await resp.prepare(request)
                await resp.write_eof()
            return resp
        except (ConnectionError, asyncio.CancelledError):
            status = status or 499  # the client went away mid-response
            raise
        finally:
            sockname = request.transport.get_extra_info("sockname") if request.transport else None
            self.log.append(
                LogEntry(
                    start,
                    time.monotonic(),
                    _host(request),
                    sockname[0] if sockname else "",
                    request.method,
                    request.raw_path,
                    request.headers.get("User-Agent", ""),
                    request.headers.get("Referer", ""),
                    status,
                )
            )

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        host = _host(request)
        path = _JSESSION.sub("", request.path)
        site = self._by_host.get(host)
        if site is not None:
            return await self._site(request, site, host, path)
        kind = EXTERNAL_HOSTS.get(host)
        if kind is not None:
            return self._external(request, host, kind, path)
        return web.Response(status=404, text=f"unknown host {host}")

    def _html(
        self,
        request: web.Request,
        site: SiteSpec | None,
        html: str,
        status: int = 200,
        headers: dict[str, str] | None = None,
    ) -> web.Response:
        body, ctype = render.encode(site, html)
        extra = dict(headers or {})
        if status == 200:
            # Like nginx serving a CMS's static pages: a validator, and 304 when the page is unchanged.
            etag = '"' + hashlib.blake2b(body, digest_size=8).hexdigest() + '"'
            if request.headers.get("If-None-Match") == etag:
                return web.Response(status=304, headers={"ETag": etag, "Server": "nginx"})
            extra["ETag"] = etag
        resp = web.Response(body=body, status=status, headers={"Content-Type": ctype, "Server": "nginx", **extra})
        if "gzip" in request.headers.get("Accept-Encoding", "").lower():
            resp.enable_compression(web.ContentCoding.gzip)
        return resp

    def _items(self, site: SiteSpec, col: ColumnSpec) -> list[Item]:
        return column_items(self.seed, site, col, self.today)  # LRU-cached in model

    def _list_map(self, site: SiteSpec) -> dict[str, tuple[ColumnSpec, int]]:
        m = self._list_maps.get(site.index)
        if m is None:
            m = {}
            for col in site.columns:
                for page in range(col.n_pages):
                    m[col.page_path(page)] = (col, page)
                if col.cms == "trs":
                    m[col.dir + "/"] = (col, 0)
            self._list_maps[site.index] = m
        return m

    async def _site(self, request: web.Request, site: SiteSpec, host: str, path: str) -> web.StreamResponse:
        f = site.faults
        if host != site.host:  # alias host (bare domain) → canonical host
            raise web.HTTPMovedPermanently(f"http://{site.host}{request.raw_path}")
        if "homepage_down" in f:
            if path == "/robots.txt":
                return self._html(request, None, render.error_html(404, "Not Found"), 404)
            return self._html(request, site, render.error_html(500, "Internal Server Error"), 500)
        if path == "/robots.txt" and site.robots is not None:
            return web.Response(text=site.robots, content_type="text/plain")
        sp = site.specials.get(path)
        if sp is not None:
            return await self._special(request, site, host, path, sp)
        if path in ("/", "/index.html"):
            return self._html(
                request,
                site,
                render.homepage(site, self.seed, self.today, "cloaking" in f and _is_cloak_target(request)),
            )
        page = self._dynamic(request, site, path)
        if page is not None:
            return page
        if _STATIC.fullmatch(path):
            return _static(path)
        listed = self._list_map(site).get(path)
        if listed is not None:
            col, n = listed
            return self._html(request, site, render.list_page(site, col, n, self._items(site, col)))
        art = self._article(site, path)
        if art is not None:
            col, it = art
            first = col is site.columns[0] and it.idx == 0
            return self._html(request, site, render.article(site, col, it, first))
        if "soft404_host" in f:  # every unknown URL lands on one error page answering 200
            if path == "/404.html":
                return self._html(request, site, render.soft404_page(site))
            raise web.HTTPFound("/404.html")
        return self._html(request, site, render.error_html(404, "Not Found"), 404)

    def _dynamic(self, request: web.Request, site: SiteSpec, path: str) -> web.Response | None:
        """Trap pages: endless calendar, self-nesting relative links, search with a long query."""
        f = site.faults
        if "calendar_trap" in f and path == "/calendar":
            try:
                month = int(request.query.get("month", "1"))
            except ValueError:
                month = 1
            body = f'<p>第{month}月活动安排</p><a href="/calendar?month={month + 1}">下一月</a>'
            if month > 1:
                body += f'<a href="/calendar?month={month - 1}">上一月</a>'
            return self._html(request, site, render.simple_page(site, f"活动日历（{month}）", body))
        if "long_urls" in f:
            if path == "/search":
                return self._html(request, site, render.simple_page(site, "站内搜索", "<p>未找到相关结果</p>"))
            if _ZT_TRAP.fullmatch(path):
                body = '<a href="zt/index.html">专题专栏</a><a href="/">首页</a>'
                return self._html(request, site, render.simple_page(site, "专题专栏", body))
        return None

    def _article(self, site: SiteSpec, path: str) -> tuple[ColumnSpec, Item] | None:
        if site.cms == "hanweb":
            m = _HANWEB_ARTICLE.fullmatch(path)
            cid, artid = (int(m.group(4)), int(m.group(5))) if m else (0, 0)
        else:
            m = _TRS_ARTICLE.fullmatch(path)
            artid = int(m.group(4)) if m else 0
            cid = artid // 10000
        if not m:
            return None
        for col in site.columns:
            if col.cid == cid:
                items = self._items(site, col)
                idx = artid - cid * 10000
                if 0 <= idx < len(items) and items[idx].path == path:
                    return col, items[idx]
        return None

    async def _special(
        self, request: web.Request, site: SiteSpec, host: str, path: str, sp: Special
    ) -> web.StreamResponse:
        if sp.kind == "status":
            reasons = {404: "Not Found", 410: "Gone", 500: "Internal Server Error"}
            return self._html(request, site, render.error_html(sp.status, reasons.get(sp.status, "Error")), sp.status)
        if sp.kind == "soft404":
            return self._html(request, site, render.soft404_page(site))
        if sp.kind == "redirect":
            return web.Response(status=sp.status, headers={"Location": sp.location, "Server": "nginx"})
        if sp.kind == "page":
            return self._html(request, site, render.simple_page(site, sp.title, f"<p>{sp.title}</p>"))
        if sp.kind == "meta_refresh":
            html = (
                f'<html><head><meta http-equiv="refresh" content="0;url={sp.location}">'
                "<title>跳转中</title></head><body>正在跳转……</body></html>"
            )
            return self._html(request, site, html)
        if sp.kind == "js_redirect":
            html = (
                f"<html><head><title>跳转中</title><script>window.location.href='{sp.location}';</script></head>"
                "<body>正在跳转……</body></html>"
            )
            return self._html(request, site, html)
        if sp.kind == "once":
            self._hits[(host, path)] += 1
            if self._hits[(host, path)] == 1:
                headers = {"Retry-After": str(sp.retry_after)} if sp.retry_after else {}
                reason = {429: "Too Many Requests", 503: "Service Unavailable"}.get(sp.status, "Error")
                return self._html(request, site, render.error_html(sp.status, reason), sp.status, headers)
            return self._html(request, site, render.simple_page(site, sp.title, f"<p>{sp.title}</p>"))
        if sp.kind == "huge":
            return await self._huge(request)
        if sp.kind == "binary":
            data = random.Random(f"{self.seed}/binary/{host}").randbytes(64 * 1024)
            return web.Response(body=data, headers={"Content-Type": "text/html", "Server": "nginx"})
        raise AssertionError(sp.kind)

    async def _huge(self, request: web.Request) -> web.StreamResponse:
        """Stream ``huge_bytes`` of HTML without a Content-Length; stops quietly if the client hangs up."""
        resp = web.StreamResponse(headers={"Content-Type": "text/html; charset=utf-8", "Server": "nginx"})
        await resp.prepare(request)
        if request.method != "HEAD":
            chunk = ("<p>" + "统计数据" * 2000 + "</p>\n").encode()
            sent = 0
            try:
                while sent < self.huge_bytes:
                    await resp.write(chunk[: self.huge_bytes - sent])
                    sent += len(chunk)
            except ConnectionError:
                return resp
        await resp.write_eof()
        return resp

    def _external(self, request: web.Request, host: str, kind: str, path: str) -> web.Response:
        if kind == "waf403":
            return web.Response(
                status=403,
                text="您的访问请求可能对网站造成安全威胁，已被拦截。",
                headers={"Server": "WAF/2.0"},
            )
        if kind == "waf412":
            html = "<html><head><script>var _$ = 'challenge';</script></head><body></body></html>"
            return web.Response(status=412, text=html, content_type="text/html", headers={"Server": "nginx"})
        if path == "/robots.txt":
            if kind == "robots500":
                return web.Response(status=500, text="Internal Server Error")
            return web.Response(text="User-agent: *\nAllow: /\n", content_type="text/plain")
        if kind == "static":
            return _static(path)
        if kind == "parked":
            return self._html(request, None, render.parked_page())
        return self._html(request, None, render.simple_page(None, host, f"<p>{host}</p>"))


def _host(request: web.Request) -> str:
    return (request.headers.get("Host") or "").rsplit(":", 1)[0].lower()


def _is_cloak_target(request: web.Request) -> bool:
    ua = request.headers.get("User-Agent", "").lower()
    ref = request.headers.get("Referer", "").lower()
    return any(s in ua for s in SPIDER_UA) or any(s in ref for s in SEARCH_REFERERS)


def _static(path: str) -> web.Response:
    ext = path.rsplit(".", 1)[-1].lower()
    ctype = _CONTENT_TYPES.get(ext, "application/octet-stream")
    body = _GIF if ctype.startswith("image/") else b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n" if ext == "pdf" else b"/* sim */\n"
    return web.Response(body=body, headers={"Content-Type": ctype, "Server": "nginx"})


def _bind_same_port(addresses: list[str], attempts: int = 50) -> list[socket.socket]:
    """Listening-ready sockets on every address, all with one free port (retry on collisions)."""
    for _ in range(attempts):
        socks: list[socket.socket] = []
        try:
            for addr in addresses:
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                socks.append(s)
                s.bind((addr, socks[0].getsockname()[1] if len(socks) > 1 else 0))
            return socks
        except OSError as e:
            for s in socks:
                s.close()
            if e.errno != errno.EADDRINUSE:
                raise
    raise OSError(errno.EADDRINUSE, "no common free port on the loopback addresses")


__all__ = ["REGISTRY_HEADER", "SimResolver", "SimWeb"]
