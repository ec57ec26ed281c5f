"""Memory as a crawl grows: govcrawl's frontier against a naive set-of-URLs + dict-of-edges baseline.

    python benchmarks/bench_memory.py [--urls 1000000]

A full crawl of a million URLs takes far too long on this machine, so this drives the frontier
directly with synthetic URLs, the way the engine does: every "page" of a site links to 10 URLs not
seen before and to the site's 10 navigation URLs (seen before); each new URL is ``Frontier.offer``ed
with its ``Edge``, waits in a FIFO window of ``--window`` queued jobs (the scheduler's queues) and is
then ``settle``d — 99 % ok, 1 % broken (their verdicts are kept for later referrers). So after warm-up
the in-flight part is constant and what grows is what the frontier keeps per URL *seen*.

The naive baseline keeps a ``set`` of URL strings and a ``dict`` target URL → list of (source URL,
anchor text) edges, with the same window of queued URL strings.

Each structure runs in its own process; RSS (VmRSS, after ``gc.collect()``) is printed at 10k,
100k and 1M URLs seen, with the growth per URL between checkpoints.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import time
from collections import deque
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from crawler.frontier.frontier import Edge, Frontier, Offer, SiteState
from crawler.types import Element, Reason, Site, Verdict

SITES = 2000
NEW_LINKS = 10  # URLs per page never seen before
NAV_LINKS = 10  # the site's navigation: the same URLs on every page
BROKEN_EVERY = 100  # 1 % of URLs end broken


def rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def checkpoints(total: int) -> list[int]:
    points = [p for p in (10_000, 30_000, 100_000, 300_000, 1_000_000, 3_000_000, 10_000_000) if p < total]
    return [*points, total]


def url_of(site: int, n: int) -> str:
    # The shape of a TRS article URL on a department site: ~75 characters.
    return f"http://zwgk.site{site:04d}.gov.cn/xxgk/tzgg/2024{n % 12 + 1:02d}/t2024{n % 12 + 1:02d}15_{n}.html"


def nav_of(site: int, k: int) -> str:
    return f"http://zwgk.site{site:04d}.gov.cn/col/col{1000 + k}/index.html"


def run_govcrawl(total: int, window: int) -> list[dict[str, float]]:
    frontier = Frontier(max_pages=10**9, max_depth=10**6, max_url_length=1024, check_external=True)
    states = []
    for s in range(SITES):
        state = SiteState(Site(code=f"21{s:08d}", name=f"site {s}", url=f"http://zwgk.site{s:04d}.gov.cn/",
                               hosts=(f"zwgk.site{s:04d}.gov.cn",)))
        frontier.add_site(state)
        states.append(state)
    queue: deque[str] = deque()
    out = []
    marks = iter(checkpoints(total))
    mark = next(marks)
    base = rss_bytes()
    started = time.perf_counter()
    seen = 0
    page = 0
    while seen < total:
        site = page % SITES
        state = states[site]
        source = url_of(site, page)  # the page whose links these are (one string, shared by its edges)
        links = [(nav_of(site, k), "栏目") for k in range(NAV_LINKS)]
        links += [(url_of(site, seen + SITES + i), "关于印发实施方案的通知") for i in range(NEW_LINKS)]
        for url, text in links:
            offer, _job = frontier.offer(url, 2, Edge(state.site.code, source, text, Element.A, False), state)
            if offer is Offer.NEW:
                seen += 1
                queue.append(url)
            if len(queue) > window:
                done = queue.popleft()
                broken = hash(done) % BROKEN_EVERY == 0
                frontier.settle(done, Verdict.BROKEN if broken else Verdict.OK,
                                Reason.HTTP_404 if broken else None, 404 if broken else None)
            if seen >= mark:
                gc.collect()
                out.append({"urls": seen, "rss": rss_bytes() - base, "seconds": time.perf_counter() - started,
                            "settled_ok": len(frontier._done_ok), "bad": len(frontier._bad),
                            "pending": frontier.pending,
                            "seen_bytes": frontier._done_ok.memory_bytes(), "bad_table": sys.getsizeof(frontier._bad)})
                mark = next(marks, total + 1)
        page += 1
    return out


def run_naive(total: int, window: int) -> list[dict[str, float]]:
    seen_urls: set[str] = set()
    edges: dict[str, list[tuple[str, str]]] = {}
    queue: deque[str] = deque()
    out = []
    marks = iter(checkpoints(total))
    mark = next(marks)
    base = rss_bytes()
    started = time.perf_counter()
    seen = 0
    page = 0
    while seen < total:
        site = page % SITES
        source = url_of(site, page)
        links = [(nav_of(site, k), "栏目") for k in range(NAV_LINKS)]
        links += [(url_of(site, seen + SITES + i), "关于印发实施方案的通知") for i in range(NEW_LINKS)]
        for url, text in links:
            edges.setdefault(url, []).append((source, text))
            if url not in seen_urls:
                seen_urls.add(url)
                queue.append(url)
                seen += 1
            if len(queue) > window:
                queue.popleft()
            if seen >= mark:
                gc.collect()
                out.append({"urls": seen, "rss": rss_bytes() - base, "seconds": time.perf_counter() - started,
                            "set_table": sys.getsizeof(seen_urls), "edges": sum(len(v) for v in edges.values())})
                mark = next(marks, total + 1)
        page += 1
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--urls", type=int, default=1_000_000, help="distinct URLs seen at the end")
    parser.add_argument("--window", type=int, default=10_000, help="queued (not yet settled) URLs")
    parser.add_argument("--mode", choices=["govcrawl", "naive"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.mode:
        run = run_govcrawl if args.mode == "govcrawl" else run_naive
        print(json.dumps(run(args.urls, args.window)), flush=True)
        return

    print(f"{args.urls:,} URLs over {SITES} sites, {NEW_LINKS} new + {NAV_LINKS} navigation links per page, "
          f"{args.window:,} queued; load {os.getloadavg()[0]:.2f}")
    results = {}
    for mode in ("govcrawl", "naive"):
        proc = subprocess.run([sys.executable, __file__, "--mode", mode, "--urls", str(args.urls),
                               "--window", str(args.window)], capture_output=True, text=True, check=True)
        results[mode] = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"\n{'URLs seen':>10} | {'govcrawl RSS':>12} {'B/URL':>6} {'Δ B/URL':>8} | "
          f"{'naive RSS':>10} {'B/URL':>6} {'Δ B/URL':>8} | {'naive/govcrawl':>14}")
    prev = {"govcrawl": (0, 0.0), "naive": (0, 0.0)}
    for gov, naive in zip(results["govcrawl"], results["naive"], strict=True):
        cells = []
        for mode, row in (("govcrawl", gov), ("naive", naive)):
            n0, r0 = prev[mode]
            delta = (row["rss"] - r0) / (row["urls"] - n0)
            prev[mode] = (row["urls"], row["rss"])
            cells.append(f"{row['rss'] / 2**20:>9.1f} MB {row['rss'] / row['urls']:>6.0f} {delta:>8.0f}")
        print(f"{gov['urls']:>10,} | {cells[0]} | {cells[1]} | {naive['rss'] / max(gov['rss'], 1):>13.1f}x")
    last = results["govcrawl"][-1]
    print(f"\ngovcrawl at {last['urls']:,}: {last['settled_ok']:,} ok hashes packed in "
          f"{last['seen_bytes'] / 2**20:.1f} MB (SeenHashes, incl. its 2 MB filter), {last['bad']:,} broken verdicts "
          f"(dict table {last['bad_table'] / 2**20:.1f} MB), {last['pending']:,} pending; "
          f"{last['seconds']:.1f} s to offer and settle them all")
    last_naive = results["naive"][-1]
    print(f"naive at {last_naive['urls']:,}: set table {last_naive['set_table'] / 2**20:.1f} MB, "
          f"{last_naive['edges']:,} edges kept; {last_naive['seconds']:.1f} s")


if __name__ == "__main__":
    main()
