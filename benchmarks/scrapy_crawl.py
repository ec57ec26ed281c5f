"""Scrapy doing govcrawl's crawl: a CrawlSpider over the registry, same seeds and scope.

    python benchmarks/scrapy_crawl.py --sites-csv sites.csv --resolve-file rules.txt [--max-pages 2000]

Seeds are the registry's homepages; links are followed when they point at a registry host (the
host's site owns the page budget, as in govcrawl), are not attachments/media (Scrapy's own
IGNORED_EXTENSIONS) and are within ``--max-depth`` (DEPTH_LIMIT). Dedupe is Scrapy's dupefilter.
Settings are Scrapy's defaults except what the crawl needs: no robots.txt, no cookies, no
throttling delays, ``--concurrency`` requests in flight, ``--host-concurrency`` per host, the
uvloop event loop under Twisted's asyncio reactor (as govcrawl and the floor run on uvloop).

Hosts are connected to like curl's ``--connect-to``: a download handler sends each request to the
rule's ADDR:PORT with the real Host header and hands the response back under the real URL, so the
spider, link extraction, dedupe and redirects all see the real host names. Scrapy is a benchmark
dependency only (``pip install scrapy``); govcrawl never imports it. ``bench_crawl.py`` runs this in
its own process and reads the ``RESULT {json}`` line it prints last.
"""

from __future__ import annotations

import json
import logging
import resource
import time
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from contender import contender_parser, load_rules, load_seeds  # benchmarks/ is on sys.path when run
from scrapy import Request
from scrapy.core.downloader.handlers.http11 import HTTP11DownloadHandler
from scrapy.crawler import CrawlerProcess
from scrapy.http import Response
from scrapy.link import Link
from scrapy.linkextractors import LinkExtractor
from scrapy.spiders import CrawlSpider, Rule

MAX_URL_LENGTH = 1024



class ConnectToHandler(HTTP11DownloadHandler):
    """The http download handler, connecting to the rule's address:port for each registry host."""

    async def download_request(self, request: Request) -> Response:
        rules: dict[str, tuple[str, int]] = self._crawler.settings.get("BENCH_CONNECT_TO")
        parts = urlsplit(request.url)
        target = rules.get(parts.hostname or "")
        if target is None:
            return await super().download_request(request)
        addr, port = target
        wire_url = f"http://{addr}:{port}{parts.path or '/'}" + (f"?{parts.query}" if parts.query else "")
        wire = request.replace(url=wire_url)
        wire.headers[b"Host"] = parts.netloc.encode()
        response = await super().download_request(wire)
        return response.replace(url=request.url, request=request)


class GovSpider(CrawlSpider):
    name = "gov"

    def __init__(self, seeds: list[str], max_pages: int, counter: dict[str, int], **kwargs: Any) -> None:
        self.start_urls = seeds
        self.owner = {urlsplit(url).hostname or "": i for i, url in enumerate(seeds)}  # host → site index
        self.queued = [1] * len(seeds)
        self.max_pages = max_pages
        self.counter = counter
        self.rules = (Rule(LinkExtractor(tags=("a", "area", "frame", "iframe"), attrs=("href", "src")),
                           callback="page", follow=True, process_links="in_scope"),)
        super().__init__(**kwargs)

    def in_scope(self, links: Iterable[Link]) -> list[Link]:
        out = []
        for link in links:
            site = self.owner.get(urlsplit(link.url).hostname or "")
            if site is None or len(link.url) > MAX_URL_LENGTH or self.queued[site] >= self.max_pages:
                continue
            self.queued[site] += 1  # counted when offered; the dupefilter may still drop repeats
            out.append(link)
        return out

    def parse_start_url(self, response: Response, **kwargs: Any) -> list[Any]:
        return self.page(response)

    def page(self, response: Response) -> list[Any]:
        self.counter["pages"] += 1
        return []



def main() -> None:
    args = contender_parser(__doc__.splitlines()[0] if __doc__ else "").parse_args()
    seeds = load_seeds(args.sites_csv)
    settings: dict[str, Any] = {
        "BENCH_CONNECT_TO": load_rules(args.resolve_file),
        "DOWNLOAD_HANDLERS": {"http": f"{__name__}.ConnectToHandler"},
        "ROBOTSTXT_OBEY": False,
        "COOKIES_ENABLED": False,
        "TELNETCONSOLE_ENABLED": False,
        "CONCURRENT_REQUESTS": args.concurrency,
        "CONCURRENT_REQUESTS_PER_DOMAIN": args.host_concurrency,
        "DOWNLOAD_DELAY": 0,
        "DOWNLOAD_TIMEOUT": args.timeout,
        "RETRY_TIMES": 1,
        "DEPTH_LIMIT": args.max_depth,
        "URLLENGTH_LIMIT": MAX_URL_LENGTH,
        "LOG_LEVEL": "WARNING",
        "TWISTED_REACTOR": "twisted.internet.asyncioreactor.AsyncioSelectorReactor",
    }
    try:
        import uvloop  # noqa: F401
        settings["ASYNCIO_EVENT_LOOP"] = "uvloop.Loop"
    except ImportError:
        pass
    counter = {"pages": 0}
    process = CrawlerProcess(settings)
    crawler = process.create_crawler(GovSpider)
    process.crawl(crawler, seeds=seeds, max_pages=args.max_pages, counter=counter)
    before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    process.start()
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF)
    stats = crawler.stats.get_stats() if crawler.stats else {}
    logging.getLogger(__name__).debug("stats %s", stats)
    print("RESULT " + json.dumps({
        # Pages: responses that reached the spider (2xx) and those HttpErrorMiddleware dropped (4xx/5xx).
        "contender": "scrapy", "pages": counter["pages"] + stats.get("httperror/response_ignored_count", 0),
        "responses": stats.get("response_received_count", 0),
        "requests": stats.get("downloader/request_count", 0), "wall": wall,
        "cpu_user": after.ru_utime - before.ru_utime, "cpu_sys": after.ru_stime - before.ru_stime,
        "maxrss_kb": after.ru_maxrss,
    }), flush=True)


if __name__ == "__main__":
    main()
