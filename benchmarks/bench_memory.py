"""Memory as a crawl grows: govcrawl's frontier against a naive set-of-URLs + dict-of-edges baseline.

    python benchmarks/bench_memory.py [--urls 1000000] [--window 10000] [--budget BYTES] [--only govcrawl,naive]

A full crawl of a million URLs takes far too long on this machine, so this drives the frontier
directly with synthetic URLs, the way the engine does: every "page" of a site links to 10 URLs not
seen before and to the site's 10 navigation URLs (seen before); each new URL is ``Frontier.offer``ed
with its ``Edge``, waits in a FIFO window of ``--window`` queued jobs (the scheduler's queues) and is
then ``settle``d — 99 % ok, 1 % broken (their verdicts are kept for later referrers). So after warm-up
the in-flight part is constant and what grows is what the frontier keeps per URL *seen*.

Three runs, each in its own process:

* **govcrawl** — ``Frontier`` as the crawler builds it: settled URL hashes beyond ``--budget`` bytes
  (default: the frontier's own) spill to a temporary file;
* **in-memory** — the same with a budget too large to spill: every hash stays packed in memory, as
  before the spill existed (the time baseline);
* **naive** — a ``set`` of URL strings and a ``dict`` target URL → list of (source URL, anchor text)
  edges, with the same window of queued URL strings.

RSS (VmRSS after ``gc.collect()``, counted from before the structure is built, so fixed parts such as
the filters count) is printed at 10k, 30k, 100k, 300k and 1M URLs seen, with the growth per URL
between checkpoints; then the time spent inside offer and settle calls.
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
from crawler.frontier.seen import BUDGET
from crawler.types import Element, Reason, Site, Verdict

SITES = 2000
NEW_LINKS = 10  # URLs per page never seen before
NAV_LINKS = 10  # the site's navigation: the same URLs on every page
BROKEN_EVERY = 100  # 1 % of URLs end broken
NO_SPILL = 1 << 40  # a budget no run here reaches
MODES = ("govcrawl", "in-memory", "naive")


def rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def peak_rss_bytes() -> int:
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) * 1024 for line in fh if line.startswith("VmHWM:"))


def checkpoints(total: int) -> list[int]:
    points = [p for p in (10_000, 30_000, 100_000, 300_000, 1_000_000, 3_000_000, 10_000_000) if p < total]
    return [*points, total]


def url_of(site: int, n: int) -> str:
    # The shape of a TRS article URL on a department site: ~75 characters.
    return f"http://zwgk.site{site:04d}.gov.cn/xxgk/tzgg/2024{n % 12 + 1:02d}/t2024{n % 12 + 1:02d}15_{n}.html"


def nav_of(site: int, k: int) -> str:
    return f"http://zwgk.site{site:04d}.gov.cn/col/col{1000 + k}/index.html"


def links_of(site: int, seen: int) -> list[tuple[str, str]]:
    links = [(nav_of(site, k), "栏目") for k in range(NAV_LINKS)]
    return links + [(url_of(site, seen + SITES + i), "关于印发实施方案的通知") for i in range(NEW_LINKS)]


def run_govcrawl(total: int, window: int, budget: int) -> list[dict[str, float]]:
    base = rss_bytes()
    frontier = Frontier(max_pages=10**9, max_depth=10**6, max_url_length=1024, check_external=True,
                        memory_budget=budget)
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
    clock = time.perf_counter
    started = clock()
    offer_s = settle_s = 0.0
    offers = settles = seen = page = 0
    while seen < total:
        site = page % SITES
        state = states[site]
        source = url_of(site, page)  # the page whose links these are (one string, shared by its edges)
        for url, text in links_of(site, seen):
            edge = Edge(state.site.code, source, text, Element.A, False)
            t0 = clock()
            offer, _job = frontier.offer(url, 2, edge, state)
            offer_s += clock() - t0
            offers += 1
            if offer is Offer.NEW:
                seen += 1
                queue.append(url)
            if len(queue) > window:
                done = queue.popleft()
                broken = hash(done) % BROKEN_EVERY == 0
                t0 = clock()
                frontier.settle(done, Verdict.BROKEN if broken else Verdict.OK,
                                Reason.HTTP_404 if broken else None, 404 if broken else None)
                settle_s += clock() - t0
                settles += 1
            if seen >= mark:
                gc.collect()
                ok, bad = frontier._done_ok, frontier._bad
                out.append({"urls": seen, "rss": rss_bytes() - base, "peak": peak_rss_bytes() - base,
                            "seconds": clock() - started, "offer_s": offer_s, "settle_s": settle_s,
                            "offers": offers, "settles": settles, "settled_ok": len(ok), "bad": len(bad),
                            "pending": frontier.pending, "memory": ok.memory_bytes() + bad.memory_bytes(),
                            "runs": ok.runs + bad.runs, "disk": ok.disk_bytes() + bad.disk_bytes()})
                mark = next(marks, total + 1)
        page += 1
    frontier.close()
    return out


def run_naive(total: int, window: int) -> list[dict[str, float]]:
    base = rss_bytes()
    seen_urls: set[str] = set()
    edges: dict[str, list[tuple[str, str]]] = {}
    queue: deque[str] = deque()
    out = []
    marks = iter(checkpoints(total))
    mark = next(marks)
    clock = time.perf_counter
    started = clock()
    offer_s = settle_s = 0.0
    offers = settles = seen = page = 0
    while seen < total:
        site = page % SITES
        source = url_of(site, page)
        for url, text in links_of(site, seen):
            t0 = clock()
            edges.setdefault(url, []).append((source, text))
            new = url not in seen_urls
            if new:
                seen_urls.add(url)
            offer_s += clock() - t0
            offers += 1
            if new:
                queue.append(url)
                seen += 1
            if len(queue) > window:
                t0 = clock()
                queue.popleft()
                settle_s += clock() - t0
                settles += 1
            if seen >= mark:
                gc.collect()
                out.append({"urls": seen, "rss": rss_bytes() - base, "peak": peak_rss_bytes() - base,
                            "seconds": clock() - started, "offer_s": offer_s, "settle_s": settle_s,
                            "offers": offers, "settles": settles, "set_table": sys.getsizeof(seen_urls),
                            "edges": sum(len(v) for v in edges.values())})
                mark = next(marks, total + 1)
        page += 1
    return out


def measure(mode: str, urls: int, window: int, budget: int) -> list[dict[str, float]]:
    """Run one mode in a fresh process, so that each RSS starts from the same interpreter."""
    proc = subprocess.run([sys.executable, __file__, "--mode", mode, "--urls", str(urls), "--window", str(window),
                           "--budget", str(budget)], capture_output=True, text=True, check=True)
    rows: list[dict[str, float]] = json.loads(proc.stdout.strip().splitlines()[-1])
    return rows


def print_table(results: dict[str, list[dict[str, float]]]) -> None:
    modes = list(results)
    ratio = "govcrawl" in results and "naive" in results
    header = " | ".join(f"{mode + ' RSS':>14} {'Δ B/URL':>8}" for mode in modes)
    print(f"\n{'URLs seen':>10} | {header}" + (f" | {'naive/govcrawl':>14}" if ratio else ""))
    previous = dict.fromkeys(modes, (0, 0.0))
    for rows in zip(*results.values(), strict=True):
        row_of = dict(zip(modes, rows, strict=True))
        cells = []
        for mode, row in row_of.items():
            urls, rss = previous[mode]
            previous[mode] = (row["urls"], row["rss"])
            cells.append(f"{row['rss'] / 2**20:>11.1f} MB {(row['rss'] - rss) / (row['urls'] - urls):>8.0f}")
        line = f"{rows[0]['urls']:>10,.0f} | {' | '.join(cells)}"
        if ratio:
            line += f" | {row_of['naive']['rss'] / max(row_of['govcrawl']['rss'], 1):>13.1f}x"
        print(line)


def print_times(results: dict[str, list[dict[str, float]]]) -> None:
    print("\nTime inside the calls (perf_counter around each; the naive 'offer' is its set and dict work):")
    for mode in results:
        last = results[mode][-1]
        print(f"  {mode:>9}: {last['offers']:,.0f} offers {last['offer_s'] / last['offers'] * 1e6:5.2f} µs each, "
              f"{last['settles']:,.0f} settles {last['settle_s'] / last['settles'] * 1e6:5.2f} µs each; "
              f"{last['offer_s'] + last['settle_s']:.1f} s in all, {last['seconds']:.1f} s with the driving loop; "
              f"peak RSS +{last['peak'] / 2**20:.1f} MB")
    for mode in [mode for mode in results if mode != "naive"]:
        last = results[mode][-1]
        print(f"  {mode:>9} at {last['urls']:,.0f}: {last['settled_ok']:,.0f} ok + {last['bad']:,.0f} broken hashes, "
              f"{last['memory'] / 2**20:.1f} MB in memory (filters, hot caches, buffers, levels, fences), "
              f"{last['runs']:.0f} runs / {last['disk'] / 2**20:.1f} MB on disk; {last['pending']:,.0f} pending")
    if "naive" not in results:
        return
    naive = results["naive"][-1]
    print(f"      naive at {naive['urls']:,.0f}: set table {naive['set_table'] / 2**20:.1f} MB, "
          f"{naive['edges']:,.0f} edges kept")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--urls", type=int, default=1_000_000, help="distinct URLs seen at the end")
    parser.add_argument("--window", type=int, default=10_000, help="queued (not yet settled) URLs")
    parser.add_argument("--budget", type=int, default=BUDGET,
                        help="bytes of settled hashes govcrawl keeps in memory before spilling (default %(default)s)")
    parser.add_argument("--only", default=",".join(MODES), help="comma-separated runs (default %(default)s)")
    parser.add_argument("--mode", choices=MODES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.mode:
        if args.mode == "naive":
            rows = run_naive(args.urls, args.window)
        else:
            rows = run_govcrawl(args.urls, args.window, args.budget if args.mode == "govcrawl" else NO_SPILL)
        print(json.dumps(rows), flush=True)
        return

    print(f"{args.urls:,} URLs over {SITES} sites, {NEW_LINKS} new + {NAV_LINKS} navigation links per page, "
          f"{args.window:,} queued, govcrawl budget {args.budget / 2**20:g} MB; load {os.getloadavg()[0]:.2f}")
    modes = [mode for mode in MODES if mode in args.only.split(",")]
    results = {mode: measure(mode, args.urls, args.window, args.budget) for mode in modes}
    print_table(results)
    print_times(results)
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
