"""Parse-stage throughput on real pages: Document.from_bytes + parse_page versus a bare selectolax baseline.

    python benchmarks/bench_parse.py [rounds]

Pages: the HTML files of /work/shared/data/dates-dev (real Chinese news/portal pages, 16 MB in all). The URL
caches are cleared before every round, so "full" is the cold cost of a site's first page; "full, warm URL cache"
shows pages whose links were seen before, as with the navigation every page of one site repeats.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

from selectolax.lexbor import LexborHTMLParser

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from crawler.frontier.urls import clear_caches
from crawler.parse.decode import decode_html
from crawler.parse.document import Document
from crawler.parse.extract import extract_links, meta_tags, page_title, parse_page, visible_text

DATA = Path("/work/shared/data/dates-dev")


def load_pages() -> list[tuple[str, bytes]]:
    rows = [json.loads(line) for line in (DATA / "truth.jsonl").read_text().splitlines()]
    return [(f"http://www.site{i}.gov.cn/col/col{i}/art_{i}.html", (DATA / row["file"]).read_bytes()) for i, row in
            enumerate(rows)]  # fmt: skip


def full(pages: list[tuple[str, bytes]]) -> int:
    links = 0
    for url, body in pages:
        links += len(parse_page(Document.from_bytes(url, body)).links)
    return links


def baseline(pages: list[tuple[str, str]]) -> int:
    """Parse and read every <a href>: the least a link checker can do."""
    links = 0
    for _, html in pages:
        links += sum(1 for node in LexborHTMLParser(html).css("a") if node.attributes.get("href"))
    return links


def cpu_ms_per_page(run: Callable[[], object], pages: int, rounds: int, cold: bool = True) -> float:
    best = float("inf")
    for _ in range(rounds):
        if cold:
            clear_caches()
        start = time.process_time()
        run()
        best = min(best, time.process_time() - start)
    return best / pages * 1000


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    pages = load_pages()
    decoded = [(url, decode_html(body, None)[0]) for url, body in pages]
    n = len(pages)
    size = sum(len(body) for _, body in pages) / n / 1024
    links = full(pages)

    base_ms = cpu_ms_per_page(lambda: baseline(decoded), n, rounds)
    full_ms = cpu_ms_per_page(lambda: full(pages), n, rounds)
    warm_ms = cpu_ms_per_page(lambda: full(pages), n, rounds, cold=False)
    print(f"{n} pages, {size:.0f} KB average, {links / n:.0f} links per page, best of {rounds} rounds (CPU time)")
    print(f"{'':34}{'pages/s':>10}{'CPU-ms/page':>14}")
    for name, ms in (
        ("baseline: parse + css('a') hrefs", base_ms),
        ("full: from_bytes + parse_page", full_ms),
        ("full, warm URL cache", warm_ms),
    ):
        print(f"{name:34}{1000 / ms:>10.0f}{ms:>14.3f}")
    print(f"full / baseline: {full_ms / base_ms:.2f}x")

    docs = [Document.from_bytes(url, body) for url, body in pages]
    for doc in docs:
        _ = doc.tree  # parsed once, outside the timed steps
    print("steps on pre-parsed trees (CPU-ms/page; extract_links includes visible_text, for the JS-redirect rule):")
    for name, ms in (
        ("decode_html", cpu_ms_per_page(lambda: [decode_html(body, None) for _, body in pages], n, rounds)),
        ("lexbor parse", cpu_ms_per_page(lambda: [LexborHTMLParser(doc.html) for doc in docs], n, rounds)),
        ("visible_text", cpu_ms_per_page(lambda: [visible_text(doc) for doc in docs], n, rounds)),
        ("title + meta", cpu_ms_per_page(lambda: [(page_title(doc), meta_tags(doc)) for doc in docs], n, rounds)),
        ("extract_links (cold URL cache)", cpu_ms_per_page(lambda: [extract_links(doc) for doc in docs], n, rounds)),
        ("parse_page total", cpu_ms_per_page(lambda: [parse_page(doc) for doc in docs], n, rounds)),
    ):
        print(f"  {name:32}{ms:>8.3f}")


if __name__ == "__main__":
    main()
