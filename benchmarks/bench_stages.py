"""Where a crawled page's CPU goes, stage by stage, without a profiler's distortion.

    python benchmarks/bench_stages.py [--sites 80] [--rounds 3]

``bench_crawl.py`` gives the whole pipeline's CPU per page; this splits it. A crawl of ``--sites``
simulated sites (the same simulated web as bench_crawl.py) records every page govcrawl inspects
and every request it makes, and then each stage is replayed alone, in this process, timed with
``time.process_time`` (best of ``--rounds``):

* fetch, per request — the same GETs through a bare aiohttp session (the floor's client), through
  govcrawl's ``Fetcher`` (timings, result records), and — when httptools is installed — through a
  bare asyncio protocol parsed by httptools, the floor of any replacement for aiohttp; 32 in flight;
* the page stage, per page — decode, parse tree, ``parse_page`` (links, text, meta), and the site
  checks of ``SiteInspector.observe`` split into columns/freshness and integrity/identity — on the
  simulated pages and on the 129 real pages of /work/shared/data/dates-dev (~100 KB each).

What remains of bench_crawl.py's figure after these is the engine itself: scheduling, verdicts,
records, the PostgreSQL writer and the event loop.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import sys
import tempfile
import time
import zlib
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp

from crawler.checks.columns import ColumnTracker, PageView
from crawler.checks.freshness import FreshnessPolicy
from crawler.checks.identity import check_identity
from crawler.checks.integrity import check_page, page_view
from crawler.checks.lexicon import Lexicon
from crawler.config import Settings
from crawler.engine import Crawl
from crawler.fetch.client import Fetcher
from crawler.fetch.resolver import Resolver
from crawler.frontier.urls import clear_caches
from crawler.metrics import Metrics
from crawler.parse.document import Document
from crawler.parse.extract import parse_page
from crawler.registry import load_registry
from crawler.simweb.process import simweb_process
from crawler.store.sink import JsonlSink
from crawler.types import Site

TODAY = date(2026, 11, 28)
SEED = 7  # as bench_crawl.py
REAL_PAGES = Path("/work/shared/data/dates-dev")
IN_FLIGHT = 32


@dataclass(frozen=True, slots=True)
class Page:
    site: Site
    url: str
    final_url: str
    depth: int
    body: bytes
    charset: str


def record_crawl(sites_csv: Path, rules: list[str], nameserver: str) -> tuple[list[Page], list[str]]:
    """Crawl the simulated web once; keep the pages the checks saw and the URLs of every page GET."""
    pages: list[Page] = []

    class Recording(Crawl):
        def _inspect(self, job: Any, doc: Document, parsed: Any) -> None:
            pages.append(Page(job.site.site, job.url, doc.url, job.depth, doc.html.encode(doc.charset, "replace"),
                              doc.charset))
            super()._inspect(job, doc, parsed)

    settings = Settings(resolve=tuple(rules), nameservers=(nameserver,), rate=100.0, ip_rate=5000.0,
                        ip_concurrency=32, retries=0)
    with tempfile.TemporaryDirectory() as folder:
        crawl = Recording(settings, load_registry(sites_csv), JsonlSink(Path(folder) / "out.jsonl"), Metrics(),
                          today=TODAY)
        run(crawl.execute())
    return pages, [page.final_url for page in pages]


def real_pages(site: Site) -> list[Page]:
    rows = [json.loads(line) for line in (REAL_PAGES / "truth.jsonl").read_text().splitlines()]
    return [Page(site, f"http://{site.hosts[0]}/art/{i}.html", f"http://{site.hosts[0]}/art/{i}.html", 1,
                 (REAL_PAGES / row["file"]).read_bytes(), "") for i, row in enumerate(rows)]


# --------------------------------------------------------------------------- fetch


async def _bare(urls: list[str], rules: list[str]) -> float:
    settings = Settings(resolve=tuple(rules))
    resolver = Resolver.from_settings(settings.resolve, (), ())
    connector = aiohttp.TCPConnector(resolver=resolver, limit=IN_FLIGHT, use_dns_cache=False)
    async with aiohttp.ClientSession(connector=connector) as session:
        async def get(url: str) -> None:
            async with session.get(url, allow_redirects=False) as response:
                await response.read()
        return await _timed(urls, get)


async def _fetcher(urls: list[str], rules: list[str]) -> float:
    settings = Settings(resolve=tuple(rules), global_concurrency=IN_FLIGHT)
    async with Fetcher(settings, Resolver.from_settings(settings.resolve, (), ())) as fetcher:
        async def get(url: str) -> None:
            await fetcher.fetch(url, "GET", follow=False)
        return await _timed(urls, get)


class _RawConnection(asyncio.Protocol):
    """One keep-alive connection speaking just enough HTTP/1.1 for a GET, parsed by httptools."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.answer: asyncio.Future[bytes] | None = None
        self.body: list[bytes] = []
        self.gzip = False
        self.parser: Any = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports are not its subclasses

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() == b"content-encoding" and value.strip().lower() == b"gzip":
            self.gzip = True

    def on_body(self, chunk: bytes) -> None:
        self.body.append(chunk)

    def on_message_complete(self) -> None:
        body = b"".join(self.body)
        assert self.answer is not None
        self.answer.set_result(zlib.decompress(body, 16 + zlib.MAX_WBITS) if self.gzip else body)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.answer is not None and not self.answer.done():
            self.answer.set_result(b"")

    async def get(self, host: str, target: str) -> bytes:
        import httptools  # benchmark-only, like Scrapy: the floor of a hand-made client

        self.parser, self.body, self.gzip = httptools.HttpResponseParser(self), [], False
        self.answer = asyncio.get_running_loop().create_future()
        assert self.transport is not None
        self.transport.write(f"GET {target} HTTP/1.1\r\nHost: {host}\r\nAccept-Encoding: gzip\r\n"
                             "User-Agent: bench\r\n\r\n".encode())
        return await self.answer


async def _raw(urls: list[str], rules: list[str]) -> float:
    settings = Settings(resolve=tuple(rules))
    resolver = Resolver.from_settings(settings.resolve, (), ())
    idle: dict[str, list[_RawConnection]] = defaultdict(list)
    loop = asyncio.get_running_loop()

    async def get(url: str) -> None:
        parts = urlsplit(url)
        host = parts.hostname or ""
        pool = idle[host]
        if pool:
            connection = pool.pop()
        else:
            address = (await resolver.resolve(host, parts.port or 80))[0]
            _, connection = await loop.create_connection(_RawConnection, address["host"], address["port"])
        await connection.get(host, parts.path + (f"?{parts.query}" if parts.query else ""))
        if connection.transport is not None and not connection.transport.is_closing():
            pool.append(connection)

    try:
        return await _timed(urls, get)
    finally:
        for pool in idle.values():
            for connection in pool:
                if connection.transport is not None:
                    connection.transport.close()


async def _timed(urls: list[str], get: Callable[[str], Any]) -> float:
    gate = asyncio.Semaphore(IN_FLIGHT)

    async def one(url: str) -> None:
        async with gate:
            await get(url)

    start = time.process_time()
    await asyncio.gather(*(one(url) for url in urls))
    return (time.process_time() - start) / len(urls) * 1000


# --------------------------------------------------------------------------- page stage


def page_stages(pages: list[Page]) -> dict[str, float]:
    """CPU ms per page of each stage, each stage timed around its own calls only."""
    totals = dict.fromkeys(("decode", "tree", "parse_page", "columns", "integrity"), 0.0)
    policy, lexicon = FreshnessPolicy(), Lexicon.load()
    trackers: dict[str, ColumnTracker] = {}
    clock = time.process_time
    for page in pages:
        t0 = clock()
        doc = Document.from_bytes(page.final_url, page.body, page.charset or None)
        t1 = clock()
        _ = doc.tree
        t2 = clock()
        parsed = parse_page(doc)
        t3 = clock()
        tracker = trackers.get(page.site.code)
        if tracker is None:
            tracker = trackers[page.site.code] = ColumnTracker(page.site, policy, TODAY)
        tracker.observe(PageView(page.url, doc.url, page.depth, doc, parsed))
        t4 = clock()
        hosts = frozenset(page.site.hosts)
        check_page(doc, hosts, lexicon)
        if page.depth == 0:
            check_identity(doc, page.site, is_homepage=True)
            page_view(doc, hosts, lexicon)
        t5 = clock()
        for name, spent in zip(totals, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4), strict=True):
            totals[name] += spent
    return {name: spent / len(pages) * 1000 for name, spent in totals.items()}


def best_of(rounds: int, run: Callable[[], dict[str, float]]) -> dict[str, float]:
    results = []
    for _ in range(rounds):
        clear_caches()
        results.append(run())
    return min(results, key=lambda r: sum(r.values()))


def table(rows: Iterable[tuple[str, str, str]]) -> None:
    for name, sim, real in rows:
        print(f"{name:<34}{sim:>18}{real:>14}")


def run(coroutine: Any) -> Any:
    try:
        import uvloop  # what `govcrawl run` uses
    except ImportError:
        return asyncio.run(coroutine)
    return uvloop.run(coroutine)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sites", type=int, default=80)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        sites_csv = Path(folder) / "sites.csv"
        with simweb_process(sites_csv, n_sites=args.sites, seed=SEED, today=TODAY, max_items=3) as web:
            pages, urls = record_crawl(sites_csv, web.resolve_rules, web.nameserver)
            clients = {"bare aiohttp": _bare, "govcrawl Fetcher": _fetcher}
            if importlib.util.find_spec("httptools") is not None:
                clients["asyncio protocol + httptools"] = _raw
            fetch: dict[str, list[float]] = {name: [] for name in clients}
            for _ in range(args.rounds):
                for name, client in clients.items():
                    fetch[name].append(run(client(urls, web.resolve_rules)))
    sim = best_of(args.rounds, lambda: page_stages(pages))
    real_set = real_pages(pages[0].site) if REAL_PAGES.is_dir() else []
    real = best_of(args.rounds, lambda: page_stages(real_set)) if real_set else {}
    print(f"{len(pages)} simulated pages from {args.sites} sites; {len(real_set)} "
          f"real pages; CPU ms, best of {args.rounds}")
    print()
    print(f"{'fetch, per GET (' + str(len(urls)) + ' page URLs)':<34}{'CPU ms':>18}")
    for name, values in fetch.items():
        print(f"  {name:<32}{min(values):>18.3f}")
    if len(fetch) < 3:
        print("  (pip install httptools adds the floor of a hand-made client: an asyncio protocol + httptools)")
    print()
    table([("page stage, per page", "simulated", "real")])
    table([(f"  {name}", f"{value:.3f}", f"{real[name]:.3f}" if real else "–") for name, value in sim.items()])
    table([("  page stage in all", f"{sum(sim.values()):.3f}", f"{sum(real.values()):.3f}" if real else "–")])


if __name__ == "__main__":
    main()
