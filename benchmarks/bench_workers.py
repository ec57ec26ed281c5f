"""Scale-out speed-up: the same simulated web crawled by 1 worker process and by 3.

    python benchmarks/bench_workers.py [--sites 60] [--addresses 7] [--workers 1 3]

Starts a throwaway embedded PostgreSQL and, for each fleet size, a fresh simulated web in its own
process (same seed: the same pages and faults). Politeness limits are set high on purpose: at the
defaults a crawl of the simulated web waits on per-host spacing and more workers cannot make a
polite crawl faster — what they add is CPU (parsing, checks, encoding rows) and more lanes to the
database, which is what this measures. Wall time runs from planning to the run's close (process
start-up, both phases and finalizing included).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from crawler.config import Settings
from crawler.registry import load_registry
from crawler.scale.fleet import run_fleet
from crawler.simweb.process import simweb_process
from crawler.store.embedded import ensure_embedded, stop_embedded

TODAY = date(2026, 11, 28)


async def crawl_with(workers: int, dsn: str, n_sites: int, n_addresses: int, folder: Path) -> tuple[float, int, str]:
    """(seconds, pages, status) of one fleet of ``workers`` processes over a fresh simulated web."""
    with simweb_process(folder / "sites.csv", n_sites=n_sites, seed=3, today=TODAY, n_addresses=n_addresses) as web:
        settings = Settings(resolve=tuple(web.resolve_rules), nameservers=(web.nameserver,), rate=50.0,
                            host_concurrency=4, ip_rate=2000.0, ip_concurrency=32, global_concurrency=64,
                            total_timeout=2.0, first_byte_timeout=2.0, retries=1, retry_base_delay=0.2,
                            conditional=False)
        started = time.monotonic()
        outcome = await run_fleet(dsn, settings, load_registry(folder / "sites.csv"), folder / "sites.csv",
                                  kind="adhoc", workers=workers, today=TODAY)
        seconds = time.monotonic() - started
    conn = await asyncpg.connect(dsn)
    try:
        pages = await conn.fetchval("SELECT count(*) FROM fetches WHERE run_id = $1 AND kind = 'page'",
                                    outcome.run_id)
    finally:
        await conn.close()
    return seconds, pages, outcome.status


async def main(dsn: str, n_sites: int, n_addresses: int, fleets: list[int], folder: Path) -> None:
    print(f"simulated web: {n_sites} sites on {n_addresses - 1} site-cluster addresses; {os.cpu_count()} CPUs")
    results: dict[int, float] = {}
    for workers in fleets:
        seconds, pages, status = await crawl_with(workers, dsn, n_sites, n_addresses, folder / f"w{workers}")
        results[workers] = seconds
        print(f"{workers} worker(s): {seconds:6.1f} s  {pages} pages  {pages / seconds:6.1f} pages/s  run {status}")
    base = results[fleets[0]]
    for workers in fleets[1:]:
        print(f"speed-up {fleets[0]} → {workers} workers: {base / results[workers]:.2f}×")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--sites", type=int, default=60)
    parser.add_argument("--addresses", type=int, default=7, help="loopback addresses (one is for external hosts)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 3])
    args = parser.parse_args()
    work = Path(tempfile.gettempdir()) / f"govcrawl-bench-workers-{os.getpid()}"
    for n in args.workers:
        (work / "webs" / f"w{n}").mkdir(parents=True)
    try:
        asyncio.run(main(ensure_embedded(work / "pg", durable=False), args.sites, args.addresses, args.workers,
                         work / "webs"))
    finally:
        stop_embedded(work / "pg")
        shutil.rmtree(work, ignore_errors=True)
