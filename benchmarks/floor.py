"""The floor: a bare aiohttp + selectolax fetch-and-extract loop doing the same crawl as govcrawl.

    python benchmarks/floor.py --sites-csv sites.csv --resolve-file rules.txt [--max-pages 2000]

Same seeds (the registry's homepages), same scope (pages on the registry's hosts; other hosts,
attachments, images, scripts and stylesheets are not followed), per-site page budget and depth
limit, per-host in-flight limit, per-run dedupe of URLs — and nothing else: no rate pacing, no robots.txt, no
checks, no records, no database. What it costs per page is what any Python crawler on this stack
must pay at least; govcrawl's goal is to stay within 2x of it. ``bench_crawl.py`` runs it in its
own process and reads the ``RESULT {json}`` line it prints last.

Hosts are connected to like curl's ``--connect-to`` (``HOST=ADDR:PORT`` rules, one per line): the
URL and Host header keep the real host name, only the socket goes to the simulated web.
"""

from __future__ import annotations

import asyncio
import json
import resource
import socket
import time
from collections import deque
from urllib.parse import urljoin, urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from contender import contender_parser, load_rules, load_seeds  # benchmarks/ is on sys.path when run
from selectolax.lexbor import LexborHTMLParser

SKIP_EXTENSIONS = frozenset((
    "pdf", "doc", "docx", "xls", "xlsx", "ppt", "pptx", "wps", "et", "dps", "ofd", "ceb", "rtf", "txt", "csv", "xml",
    "odt", "ods", "caj", "zip", "rar", "7z", "gz", "tgz", "tar", "bz2", "exe", "msi", "apk", "ipa", "dmg", "iso",
    "jpg", "jpeg", "png", "gif", "bmp", "tif", "tiff", "webp", "svg", "ico", "mp4", "mp3", "avi", "flv", "wmv",
    "wav", "wma", "mov", "mkv", "rm", "rmvb", "swf", "m4a", "3gp", "mpg", "mpeg", "css", "js",
))  # what govcrawl's crawler/frontier/urls.py treats as attachments, plus stylesheets and scripts
MAX_URL_LENGTH = 1024



class ConnectTo(AbstractResolver):
    """host → (address, port) from ``HOST=ADDR:PORT`` rules; unknown hosts fail like NXDOMAIN."""

    def __init__(self, rules: dict[str, tuple[str, int]]) -> None:
        self.rules = rules

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        try:
            addr, real_port = self.rules[host]
        except KeyError:
            raise OSError(socket.EAI_NONAME, f"NXDOMAIN {host}") from None
        return [ResolveResult(hostname=host, host=addr, port=real_port, family=socket.AF_INET, proto=0,
                              flags=socket.AI_NUMERICHOST)]

    async def close(self) -> None:
        return None




class Floor:
    def __init__(self, seeds: list[str], rules: dict[str, tuple[str, int]], concurrency: int, host_concurrency: int,
                 max_pages: int, max_depth: int, timeout: float) -> None:
        self.rules = rules
        self.concurrency = concurrency
        self.host_concurrency = host_concurrency
        self.max_pages = max_pages
        self.max_depth = max_depth
        self.timeout = timeout
        self.owner = {urlsplit(url).hostname or "": i for i, url in enumerate(seeds)}  # host → site index
        self.queued = [1] * len(seeds)  # pages queued per site (the budget)
        self.seen: set[str] = set(seeds)
        # Per-host queues served round-robin, at most `host_concurrency` in flight per host (the same
        # in-flight shape as govcrawl's; without it one site's links would occupy every worker).
        self.todo: dict[str, deque[tuple[str, int]]] = {}
        self.in_flight: dict[str, int] = {}
        self.ready: deque[str] = deque()
        for url in seeds:
            self.push(urlsplit(url).hostname or "", url, 0)
        self.wake = asyncio.Event()
        self.active = 0
        self.pages = 0
        self.errors = 0
        self.links = 0

    def push(self, host: str, url: str, depth: int) -> None:
        queue = self.todo.get(host)
        if queue is None:
            queue = self.todo[host] = deque()
            self.in_flight[host] = 0
        queue.append((url, depth))
        if len(queue) == 1 and self.in_flight[host] < self.host_concurrency:
            self.ready.append(host)

    async def run(self) -> None:
        connector = aiohttp.TCPConnector(resolver=ConnectTo(self.rules), limit=self.concurrency,
                                         limit_per_host=self.host_concurrency, use_dns_cache=False)
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout,
                                         cookie_jar=aiohttp.DummyCookieJar()) as session:
            await asyncio.gather(*(self.worker(session) for _ in range(self.concurrency)))

    async def worker(self, session: aiohttp.ClientSession) -> None:
        while True:
            host = self.ready.popleft() if self.ready else None
            if host is None:
                if self.active == 0:
                    self.wake.set()  # nothing ready and nobody can add more: done
                    return
                self.wake.clear()
                await self.wake.wait()
                continue
            queue = self.todo[host]
            if not queue or self.in_flight[host] >= self.host_concurrency:
                continue
            url, depth = queue.popleft()
            self.in_flight[host] += 1
            if queue and self.in_flight[host] < self.host_concurrency:
                self.ready.append(host)
            self.active += 1
            try:
                await self.visit(session, url, depth)
            finally:
                self.active -= 1
                self.in_flight[host] -= 1
                if queue and self.in_flight[host] == self.host_concurrency - 1:
                    self.ready.append(host)
                self.wake.set()

    async def visit(self, session: aiohttp.ClientSession, url: str, depth: int) -> None:
        try:
            async with session.get(url) as resp:
                body = await resp.read()
                final = str(resp.url)
                html = resp.status == 200 and (resp.content_type or "").startswith("text/html")
        except (aiohttp.ClientError, OSError, TimeoutError):
            self.errors += 1
            return
        self.pages += 1
        if not html or depth >= self.max_depth:
            return
        for node in LexborHTMLParser(body).css("a[href], area[href], frame[src], iframe[src]"):
            href = node.attributes.get("href") or node.attributes.get("src")
            if href:
                self.offer(href, final, depth + 1)

    def offer(self, href: str, base: str, depth: int) -> None:
        self.links += 1
        url = urljoin(base, href.strip()).partition("#")[0]
        if url in self.seen or len(url) > MAX_URL_LENGTH or not url.startswith(("http://", "https://")):
            return
        parts = urlsplit(url)
        site = self.owner.get(parts.hostname or "")
        if site is None:
            return  # another host: out of scope
        if parts.path.rpartition(".")[2].lower() in SKIP_EXTENSIONS:
            return
        if self.queued[site] >= self.max_pages:
            return
        self.queued[site] += 1
        self.seen.add(url)
        self.push(parts.hostname or "", url, depth)


def main() -> None:
    args = contender_parser(__doc__.splitlines()[0] if __doc__ else "").parse_args()
    floor = Floor(load_seeds(args.sites_csv), load_rules(args.resolve_file), args.concurrency, args.host_concurrency,
                  args.max_pages, args.max_depth, args.timeout)
    before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    try:
        import uvloop  # the event loop govcrawl runs on in production
    except ImportError:
        asyncio.run(floor.run())
    else:
        uvloop.run(floor.run())
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF)
    print("RESULT " + json.dumps({
        "contender": "floor", "pages": floor.pages, "errors": floor.errors, "links": floor.links, "wall": wall,
        "cpu_user": after.ru_utime - before.ru_utime, "cpu_sys": after.ru_stime - before.ru_stime,
        "maxrss_kb": after.ru_maxrss,
    }), flush=True)


if __name__ == "__main__":
    main()
