"""What a crawled page costs: govcrawl's full pipeline against a bare floor and Scrapy, same crawl.

    python benchmarks/bench_crawl.py [--sites 2000] [--max-pages N] [--repeat 3] [--profile]

For each contender a fresh simulated web (``simweb_process``, its own process) serves ``--sites``
sites, and the contender crawls it in a process of its own, so CPU time and peak RSS belong to the
crawler alone (``getrusage(RUSAGE_SELF)`` deltas taken inside the crawling process around the crawl
itself; the simulated web and PostgreSQL are never counted):

* govcrawl — the full pipeline: scheduler, fetch, parse, every check, PostgresSink into an embedded
  throwaway PostgreSQL (temp data dir, fsync off);
* floor — ``benchmarks/floor.py``: bare aiohttp + selectolax fetch, extract, follow same-site links,
  dedupe; no checks, no DB;
* scrapy — ``benchmarks/scrapy_crawl.py``: a CrawlSpider doing the same crawl (skipped with a note
  when Scrapy is not installed).

Politeness is raised so the crawl is CPU-bound (2,000 hosts × ``--rate`` is far above what two
cores can fetch) and then verified at that speed: per-host and per-IP in-flight limits from the
server's request log; per-host, per-IP and Crawl-delay spacing from the server's log (25 % tolerance,
as in tests/test_crawl.py) and, run as root, from the loopback wire by kernel timestamps
(``benchmarks/wire.py``, 1 %), which no process's scheduling can blur.

Goal (issue "Speed and scale"): govcrawl ≤ 1.0 CPU-second per 1,000 pages, within 2× of the floor,
≥ 10× cheaper than Scrapy. The machine is shared: take medians (``--repeat``) and read the load.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import json
import math
import os
import pstats
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.wire import WireLog, open_wire
from crawler.simweb.logstats import LogEntry, by_addr, max_in_flight, min_spacing, rate_exceeded
from crawler.simweb.process import simweb_process

HERE = Path(__file__).resolve().parent
TODAY = date(2026, 11, 28)
SEED = 7
TOLERANCE = 0.25  # as tests/test_crawl.py: the server stamps requests when its loop gets to them
# Kernel send times need no allowance for scheduling: the scheduler stamps a request after its write. They
# are wall-clock stamps, though, which NTP may slew by up to 0.05 % against the scheduler's monotonic clock.
WIRE_TOLERANCE = 0.01
CONTENDERS = ("govcrawl", "floor", "scrapy")
GOAL_CPU_PER_1K = 1.0
GOAL_VS_FLOOR = 2.0
GOAL_VS_SCRAPY = 10.0


@dataclass
class Options:
    sites: int
    max_items: int
    addresses: int
    rate: float
    host_concurrency: int
    ip_rate: float
    ip_concurrency: int
    concurrency: int
    max_pages: int
    max_depth: int
    timeout: float


@dataclass
class Result:
    contender: str
    pages: int
    wall: float
    cpu: float
    maxrss_mb: float
    server_requests: int
    db_rows: int = 0
    db_cpu: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def pages_per_s(self) -> float:
        return self.pages / self.wall if self.wall else 0.0

    @property
    def cpu_per_1k(self) -> float:
        return self.cpu / self.pages * 1000 if self.pages else float("inf")

    @property
    def cpu_per_1k_requests(self) -> float:
        return self.cpu / self.server_requests * 1000 if self.server_requests else float("inf")


# --------------------------------------------------------------------------- the govcrawl worker


def govcrawl_worker(args: argparse.Namespace) -> None:
    """Runs in the child process: the full pipeline into PostgreSQL; prints ``RESULT {json}``."""
    from crawler import runtime
    from crawler.config import Settings
    from crawler.engine import Crawl
    from crawler.metrics import Metrics
    from crawler.registry import load_registry
    from crawler.store.admin import migrate
    from crawler.store.postgres import PostgresSink

    rules = tuple(Path(args.resolve_file).read_text(encoding="utf-8").split())
    settings = Settings(
        resolve=rules, nameservers=(args.nameserver,), rate=args.rate, host_concurrency=args.host_concurrency,
        ip_rate=args.ip_rate, ip_concurrency=args.ip_concurrency, global_concurrency=args.concurrency,
        max_pages=args.max_pages, max_depth=args.max_depth, connect_timeout=args.timeout,
        first_byte_timeout=args.timeout, total_timeout=args.timeout, retries=1, retry_base_delay=0.2,
        dsn=args.dsn,
    )
    sites = load_registry(Path(args.sites_csv))

    async def crawl() -> dict[str, Any]:
        await migrate(args.dsn)
        sink = PostgresSink(args.dsn, queue_size=settings.sink_queue)
        engine = Crawl(settings, sites, sink, Metrics(), kind="adhoc", today=TODAY)
        # CPU time, not cProfile's default wall clock: on a loaded 2-core machine a socket write that wakes
        # the simulated web is often descheduled for a while, which is not the crawler's cost.
        profile = cProfile.Profile(time.process_time) if args.profile else None
        before = resource.getrusage(resource.RUSAGE_SELF)
        started = time.perf_counter()
        if profile is not None:
            profile.enable()
        status = await engine.execute()
        if profile is not None:
            profile.disable()
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_SELF)
        if profile is not None:
            _print_profile(profile)
        return {
            "contender": "govcrawl", "status": status, "pages": engine.progress.pages,
            "requests": engine.progress.requests, "wall": wall,
            "cpu_user": after.ru_utime - before.ru_utime, "cpu_sys": after.ru_stime - before.ru_stime,
            "maxrss_kb": after.ru_maxrss, "db_rows": sum(sink.rows_written.values()),
            "db_tables": sink.rows_written, "broken_links": engine.progress.broken_links,
        }

    result = runtime.run(crawl())  # as `govcrawl run`: uvloop, the collector tuned
    print("RESULT " + json.dumps(result), flush=True)


def _print_profile(profile: cProfile.Profile) -> None:
    for order in ("cumulative", "tottime"):
        out = io.StringIO()
        stats = pstats.Stats(profile, stream=out)
        stats.strip_dirs().sort_stats(order).print_stats(25)
        text = out.getvalue()
        start = text.find("   ncalls")
        print(f"\n--- govcrawl profile: top 25 by {order} ---")
        print(text[start:].rstrip() if start >= 0 else text)


# --------------------------------------------------------------------------- the parent


def _command(name: str, opts: Options, folder: Path, nameserver: str, dsn: str | None, profile: bool) -> list[str]:
    common = ["--sites-csv", str(folder / "sites.csv"), "--resolve-file", str(folder / "rules.txt"),
              "--concurrency", str(opts.concurrency), "--max-pages", str(opts.max_pages),
              "--max-depth", str(opts.max_depth), "--timeout", str(opts.timeout)]
    if name == "govcrawl":
        assert dsn is not None
        cmd = [sys.executable, __file__, "--worker", "govcrawl", *common, "--nameserver", nameserver,
               "--dsn", dsn, "--rate", str(opts.rate), "--host-concurrency", str(opts.host_concurrency),
               "--ip-rate", str(opts.ip_rate), "--ip-concurrency", str(opts.ip_concurrency)]
        return cmd + (["--profile"] if profile else [])
    if name == "floor":
        return [sys.executable, str(HERE / "floor.py"), *common, "--host-concurrency", str(opts.host_concurrency)]
    return [sys.executable, str(HERE / "scrapy_crawl.py"), *common, "--host-concurrency", str(opts.host_concurrency)]


def _postgres_cpu(data_dir: Path | None) -> float | None:
    """CPU seconds the embedded server has used so far (postmaster, live backends, reaped backends)."""
    if data_dir is None:
        return None
    try:
        import psutil  # optional: only for this side figure
    except ImportError:
        return None
    pidfiles = list(data_dir.rglob("postmaster.pid"))
    if not pidfiles:
        return None
    try:
        master = psutil.Process(int(pidfiles[0].read_text().split()[0]))
        total = sum(master.cpu_times()[:4])  # user, system, children_user, children_system
        for child in master.children():
            with contextlib.suppress(psutil.NoSuchProcess):
                total += sum(child.cpu_times()[:2])
        return total
    except (psutil.Error, OSError, ValueError):
        return None


@dataclass
class Outcome:
    """One contender's run: its figures (None when it failed), what the server and the wire saw."""

    result: Result | None
    log: list[LogEntry]  # the simulated web's request log
    wire: WireLog | None  # requests as sent, by kernel timestamps (None without CAP_NET_RAW)
    crawl_delays: dict[str, float]
    output: str


@dataclass
class Politeness:
    hosts: int
    host_in_flight_violations: int
    max_host_in_flight: int
    ip_in_flight_violations: int
    max_ip_in_flight: int
    host_rate_violations: int  # from the server log's stamps, within TOLERANCE
    crawl_delay_violations: int
    wire: dict[str, int] | None = None  # the same spacing checks on kernel send times, within WIRE_TOLERANCE
    stamp_lag_ms: tuple[float, float, float] | None = None  # server-log stamp minus wire time: p50, p99, max
    tightest_ms: float | None = None  # closest two requests to one host on the wire (no Crawl-delay hosts)


def run_contender(name: str, opts: Options, folder: Path, dsn: str | None, data_dir: Path | None,
                  profile: bool = False) -> Outcome:
    """Fresh simulated web, one contender in its own process, watched on the wire when permitted."""
    with simweb_process(folder / "sites.csv", n_sites=opts.sites, seed=SEED, today=TODAY, max_items=opts.max_items,
                        n_addresses=opts.addresses, huge_bytes=256 * 1024) as web:
        (folder / "rules.txt").write_text("\n".join(web.resolve_rules) + "\n", encoding="utf-8")
        db_before = _postgres_cpu(data_dir) if name == "govcrawl" else None
        wire = open_wire(web.port) if name == "govcrawl" and not profile else None
        try:
            proc = subprocess.run(_command(name, opts, folder, web.nameserver, dsn, profile), capture_output=True,
                                  text=True, check=False)
        finally:
            seen = wire.close() if wire is not None else None
        db_after = _postgres_cpu(data_dir) if name == "govcrawl" else None
        delays = dict(web.truth.crawl_delays)
    output = proc.stdout
    line = next((ln for ln in reversed(output.splitlines()) if ln.startswith("RESULT ")), None)
    if proc.returncode != 0 or line is None:
        return Outcome(None, web.log, seen, delays, output + proc.stderr[-3000:])
    raw = json.loads(line.removeprefix("RESULT "))
    result = Result(name, raw["pages"], raw["wall"], raw["cpu_user"] + raw["cpu_sys"], raw["maxrss_kb"] / 1024,
                    len(web.log), raw.get("db_rows", 0),
                    None if db_before is None or db_after is None else db_after - db_before, raw)
    return Outcome(result, web.log, seen, delays, output)


def _spacing(log: list[LogEntry], opts: Options, crawl_delays: dict[str, float], tolerance: float) -> dict[str, int]:
    return {
        "host_rate": len(rate_exceeded(log, opts.rate, tolerance=tolerance)),
        "ip_rate": len(rate_exceeded(log, opts.ip_rate, tolerance=tolerance, key=by_addr)),
        "crawl_delay": sum(len(rate_exceeded(log, 1 / d, tolerance=tolerance, host=h))
                           for h, d in crawl_delays.items()),
    }


def _stamp_lag(log: list[LogEntry], wire: list[LogEntry]) -> tuple[float, float, float] | None:
    """How late the server stamped each request after it was sent: p50, p99, max in ms."""
    sent: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    for e in sorted(wire, key=lambda e: e.start):
        sent[(e.host, e.method, e.path)].append(e.start)
    stamped: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    for e in sorted(log, key=lambda e: e.start):
        stamped[(e.host, e.method, e.path)].append(e.start)
    lags = sorted((s - w) * 1000 for key, times in stamped.items() for s, w in zip(times, sent.get(key, ()),
                                                                                   strict=False))
    if not lags:
        return None
    return lags[len(lags) // 2], lags[int(0.99 * (len(lags) - 1))], lags[-1]


def politeness(outcome: Outcome, opts: Options) -> Politeness:
    log, delays = outcome.log, outcome.crawl_delays
    host_peak = max_in_flight(log)
    ip_peak = max_in_flight(log, key=by_addr)
    server = _spacing(log, opts, delays, TOLERANCE)
    found = Politeness(
        hosts=len(host_peak),
        host_in_flight_violations=sum(1 for v in host_peak.values() if v > opts.host_concurrency),
        max_host_in_flight=max(host_peak.values(), default=0),
        ip_in_flight_violations=sum(1 for v in ip_peak.values() if v > opts.ip_concurrency),
        max_ip_in_flight=max(ip_peak.values(), default=0),
        host_rate_violations=server["host_rate"],
        crawl_delay_violations=server["crawl_delay"],
    )
    if outcome.wire is not None:
        found.wire = {**_spacing(outcome.wire.requests, opts, delays, WIRE_TOLERANCE),
                      "requests": len(outcome.wire.requests), "dropped": outcome.wire.dropped}
        found.tightest_ms = 1000 * min((gap for host, gap in min_spacing(outcome.wire.requests).items()
                                        if host not in delays), default=math.inf)
        found.stamp_lag_ms = _stamp_lag(log, outcome.wire.requests)
    return found


def _median(results: list[Result]) -> Result:
    """The run with the median CPU per 1,000 pages (its other figures come along)."""
    ordered = sorted(results, key=lambda r: r.cpu_per_1k)
    return ordered[(len(ordered) - 1) // 2]


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=2000)
    parser.add_argument("--max-pages", type=int, default=2000, help="per-site page budget (as govcrawl's)")
    parser.add_argument("--max-items", type=int, default=3, help="SimWeb: max items per column (site size)")
    parser.add_argument("--max-depth", type=int, default=5)
    parser.add_argument("--addresses", type=int, default=16, help="SimWeb: loopback addresses (shared-IP groups)")
    parser.add_argument("--rate", type=float, default=100.0, help="per-host req/s (politeness under test)")
    parser.add_argument("--host-concurrency", type=int, default=2)
    parser.add_argument("--ip-rate", type=float, default=5000.0)
    parser.add_argument("--ip-concurrency", type=int, default=32)
    parser.add_argument("--concurrency", type=int, default=64, help="requests in flight per crawler")
    parser.add_argument("--timeout", type=float, default=3.0, help="seconds per request (silent-host faults)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per contender; the median is reported")
    parser.add_argument("--only", default=",".join(CONTENDERS), help="comma-separated subset of the contenders")
    parser.add_argument("--profile", action="store_true", help="also run govcrawl once under cProfile")
    # Internal: the govcrawl child process.
    parser.add_argument("--worker", choices=["govcrawl"], help=argparse.SUPPRESS)
    parser.add_argument("--sites-csv", help=argparse.SUPPRESS)
    parser.add_argument("--resolve-file", help=argparse.SUPPRESS)
    parser.add_argument("--nameserver", help=argparse.SUPPRESS)
    parser.add_argument("--dsn", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker == "govcrawl":
        govcrawl_worker(args)
        return

    opts = Options(args.sites, args.max_items, args.addresses, args.rate, args.host_concurrency, args.ip_rate,
                   args.ip_concurrency, args.concurrency, args.max_pages, args.max_depth, args.timeout)
    wanted = [c for c in args.only.split(",") if c]
    unknown = set(wanted) - set(CONTENDERS)
    if unknown:
        parser.error(f"--only: unknown contender(s) {', '.join(sorted(unknown))}")
    notes: list[str] = []
    if "scrapy" in wanted and subprocess.run([sys.executable, "-c", "import scrapy"], capture_output=True,
                                             check=False).returncode != 0:
        wanted.remove("scrapy")
        notes.append("scrapy: not installed (pip install scrapy) — not measured")

    folder = Path(tempfile.mkdtemp(prefix="govcrawl-bench-crawl-"))
    # Not under `folder` (mode 0700): the embedded server may run as the postgres user.
    data_dir = Path(tempfile.gettempdir()) / f"govcrawl-bench-crawl-{os.getpid()}" if "govcrawl" in wanted else None
    dsn = None
    print(f"{opts.sites} sites (max_items={opts.max_items}, {opts.addresses} addresses), per-host {opts.rate} req/s "
          f"× {opts.host_concurrency} in flight, per-IP {opts.ip_rate} req/s × {opts.ip_concurrency}, "
          f"{opts.concurrency} in flight per crawler; {os.cpu_count()} CPUs, load {_load()}", flush=True)
    try:
        if data_dir is not None:
            from crawler.store.embedded import ensure_embedded

            dsn = ensure_embedded(data_dir, durable=False)
        results: dict[str, list[Result]] = {c: [] for c in wanted}
        polite: list[Politeness] = []
        for rep in range(args.repeat):
            for name in wanted:
                outcome = run_contender(name, opts, folder, dsn, data_dir)
                result = outcome.result
                if result is None:
                    print(f"{name}: FAILED\n{outcome.output}", flush=True)
                    continue
                results[name].append(result)
                line = (f"[{rep + 1}/{args.repeat}] {name:<9} {result.pages:>7,} pages {result.wall:>6.1f} s "
                        f"{result.cpu:>6.1f} CPU-s  {result.cpu_per_1k:.2f} CPU-s/1k pages  "
                        f"{result.maxrss_mb:.0f} MB  load {_load()}")
                if name == "govcrawl":
                    polite.append(politeness(outcome, opts))
                    line += f"  status={result.extra.get('status')}"
                print(line, flush=True)
        if args.profile and dsn is not None:
            output = run_contender("govcrawl", opts, folder, dsn, data_dir, profile=True).output
            print("\n".join(ln for ln in output.splitlines() if not ln.startswith("RESULT ")))
        report(results, polite, notes, opts)
    finally:
        if data_dir is not None:
            from crawler.store.embedded import stop_embedded

            with contextlib.suppress(Exception):
                stop_embedded(data_dir)
            shutil.rmtree(data_dir, ignore_errors=True)
        shutil.rmtree(folder, ignore_errors=True)


def report(results: dict[str, list[Result]], polite: list[Politeness], notes: list[str], opts: Options) -> None:
    medians = {name: _median(runs) for name, runs in results.items() if runs}
    print(f"\nMedians of {max((len(r) for r in results.values()), default=0)} run(s); load now {_load()}")
    header = (f"{'contender':<9} {'pages':>8} {'srv req':>8} {'wall s':>7} {'pages/s':>8} {'CPU s':>7} "
              f"{'CPU-s/1k pg':>11} {'CPU-s/1k req':>12} {'peak RSS':>9} {'DB rows/s':>10} {'DB CPU s':>8}")
    print(header)
    print("-" * len(header))
    for name, r in medians.items():
        db_rate = f"{r.db_rows / r.wall:>10,.0f}" if r.db_rows else f"{'-':>10}"
        db_cpu = f"{r.db_cpu:>8.1f}" if r.db_cpu is not None else f"{'-':>8}"
        print(f"{name:<9} {r.pages:>8,} {r.server_requests:>8,} {r.wall:>7.1f} {r.pages_per_s:>8.0f} {r.cpu:>7.1f} "
              f"{r.cpu_per_1k:>11.2f} {r.cpu_per_1k_requests:>12.2f} {r.maxrss_mb:>7.0f}MB {db_rate} {db_cpu}")
    gov = medians.get("govcrawl")
    if gov is not None:
        print("\nGoal                                   measured   target   ")
        ok = gov.cpu_per_1k <= GOAL_CPU_PER_1K
        print(f"govcrawl CPU-s per 1,000 pages        {gov.cpu_per_1k:>8.2f}   ≤ {GOAL_CPU_PER_1K:.1f}    "
              f"{'met' if ok else 'NOT MET'}")
        if "floor" in medians:
            ratio = gov.cpu_per_1k / medians["floor"].cpu_per_1k
            print(f"govcrawl / floor (CPU per page)        {ratio:>8.2f}x  ≤ {GOAL_VS_FLOOR:.1f}x   "
                  f"{'met' if ratio <= GOAL_VS_FLOOR else 'NOT MET'}")
        if "scrapy" in medians:
            ratio = medians["scrapy"].cpu_per_1k / gov.cpu_per_1k
            print(f"scrapy / govcrawl (CPU per page)       {ratio:>8.2f}x  ≥ {GOAL_VS_SCRAPY:.0f}x    "
                  f"{'met' if ratio >= GOAL_VS_SCRAPY else 'NOT MET'}")
        if gov.db_rows:
            print(f"govcrawl DB rows: {gov.db_rows:,} ({gov.extra.get('db_tables')})")
    for i, p in enumerate(polite, 1):
        print(f"politeness (govcrawl run {i}, server log, {p.hosts} hosts): "
              f"per-host in-flight > {opts.host_concurrency}: {p.host_in_flight_violations} "
              f"(peak {p.max_host_in_flight}); per-IP in-flight > {opts.ip_concurrency}: "
              f"{p.ip_in_flight_violations} (peak {p.max_ip_in_flight}); per-host rate > {opts.rate}/s "
              f"(tolerance {TOLERANCE:.0%}): {p.host_rate_violations}; Crawl-delay: {p.crawl_delay_violations}")
        if p.wire is None:
            print("  on the wire: not measured (opening a packet socket on lo needs CAP_NET_RAW: run as root)")
            continue
        w = p.wire
        print(f"  on the wire ({w['requests']:,} requests by kernel send time, {w['dropped']} packets dropped, "
              f"tolerance {WIRE_TOLERANCE:.0%}): per-host rate > {opts.rate}/s: {w['host_rate']}; "
              f"per-IP rate > {opts.ip_rate}/s: {w['ip_rate']}; Crawl-delay: {w['crawl_delay']}; "
              f"closest two requests to one host {p.tightest_ms:.2f} ms apart (interval {1000 / opts.rate:.2f})")
        if p.stamp_lag_ms is not None:
            p50, p99, worst = p.stamp_lag_ms
            print(f"  the server log stamps requests {p50:.1f} ms after they are sent at the median, "
                  f"{p99:.1f} ms at p99, {worst:.1f} ms at worst")
    for note in notes:
        print(note)


if __name__ == "__main__":
    main()
