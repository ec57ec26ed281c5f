"""Throughput of the Postgres store: PostgresSink against a plain executemany INSERT baseline.

    python benchmarks/bench_store.py [--rows 100000]

Starts a throwaway embedded server in a temporary directory (durable settings, as in production),
writes the same records both ways into fresh databases and prints rows/s. Goal: >= 50,000 rows/s
through PostgresSink. The sink figure includes everything a run pays: queueing, COPY, partition
checks and, for fetches, folding the run into url_state at close_run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from crawler.store import admin
from crawler.store.embedded import ensure_embedded, stop_embedded
from crawler.store.postgres import PostgresSink
from crawler.types import (
    Element,
    FetchKind,
    FetchRecord,
    FindingRecord,
    LinkRecord,
    Reason,
    Record,
    Severity,
    Verdict,
)

BATCH = 2_000
NOW = datetime.now(UTC)


def fetches(run_id: int, n: int) -> list[Record]:
    return [
        FetchRecord(run_id, i, f"S{i % 50}", FetchKind.PAGE, f"https://s{i % 50}.gov.cn/p/{i}.html",
                    f"https://s{i % 50}.gov.cn/p/{i}.html", (), "GET", 200, Verdict.OK, None, "", 1.2, 3.4,
                    20.5, 31.0, 24_576, False, "text/html", "9f86d081884c7d65", '"5f3c-1a"', None, 1, 3,
                    NOW, NOW)
        for i in range(n)
    ]


def links(run_id: int, n: int) -> list[Record]:
    return [
        LinkRecord(run_id, i, f"S{i % 50}", f"https://s{i % 50}.gov.cn/list/{i // 40}.html",
                   f"https://other.gov.cn/file/{i}.pdf", "政策文件下载", Element.A, i % 40 == 0,
                   Verdict.BROKEN, Reason.HTTP_404, NOW)
        for i in range(n)
    ]


def findings(run_id: int, n: int) -> list[Record]:
    return [
        FindingRecord(run_id, i, f"S{i % 50}", "link.broken", Severity.ERROR,
                      f"https://s{i % 50}.gov.cn/list/{i // 40}.html",
                      {"target": f"https://other.gov.cn/file/{i}.pdf", "reason": "http_404", "element": "a",
                       "anchor_text": "政策文件下载", "on_homepage": False, "status": 404}, NOW)
        for i in range(n)
    ]


def as_row(record: Record) -> tuple[object, ...]:
    if isinstance(record, FindingRecord):
        return (record.run_id, record.seq, record.site, record.check, record.severity, record.url,
                orjson.dumps(record.detail).decode(), record.observed_at)
    return tuple(getattr(record, name) for name in record.__slots__)


async def fresh_database(base_dsn: str, name: str) -> str:
    conn = await asyncpg.connect(base_dsn.rsplit("/", 1)[0] + "/postgres")
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {name}")
        await conn.execute(f"CREATE DATABASE {name}")
    finally:
        await conn.close()
    dsn = base_dsn.rsplit("/", 1)[0] + "/" + name
    await admin.migrate(dsn)
    return dsn


async def via_sink(dsn: str, make: Callable[[int, int], list[Record]], n: int) -> float:
    sink = PostgresSink(dsn)
    run = await sink.open_run("adhoc", {"bench": True})
    records = make(run.run_id, n)
    started = time.perf_counter()
    for record in records:
        await sink.write(record)
    await sink.close_run(run, "succeeded", {})
    return n / (time.perf_counter() - started)


async def via_executemany(dsn: str, table: str, make: Callable[[int, int], list[Record]], n: int) -> float:
    conn = await asyncpg.connect(dsn)
    try:
        records = make(1, n)
        columns: Sequence[str] = records[0].__slots__
        names = ", ".join(f'"{c}"' for c in columns)
        values = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
        sql = f"INSERT INTO {table} ({names}) VALUES ({values}) ON CONFLICT DO NOTHING"
        started = time.perf_counter()
        for i in range(0, n, BATCH):
            async with conn.transaction():
                await conn.executemany(sql, [as_row(r) for r in records[i:i + BATCH]])
        return n / (time.perf_counter() - started)
    finally:
        await conn.close()


async def url_state_fold(dsn: str) -> tuple[int, float]:
    """Time folding the last run into url_state from scratch (what close_run pays per run)."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("TRUNCATE url_state")
        run_id = await conn.fetchval("SELECT max(id) FROM runs")
        started = time.perf_counter()
        count = await conn.fetchval("SELECT govcrawl_refresh_url_state($1)", run_id)
        return int(count), time.perf_counter() - started
    finally:
        await conn.close()


async def main(n: int, base_dsn: str) -> None:
    print(f"{n:,} records per case, batches of {BATCH:,}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
    print(f"{'table':<10} {'PostgresSink':>14} {'executemany':>14} {'speed-up':>9}")
    rates: dict[str, float] = {}
    for table, make in (("fetches", fetches), ("links", links), ("findings", findings)):
        rates[table] = await via_sink(await fresh_database(base_dsn, f"bench_sink_{table}"), make, n)
        base_rate = await via_executemany(await fresh_database(base_dsn, f"bench_base_{table}"), table, make, n)
        print(f"{table:<10} {rates[table]:>10,.0f} r/s {base_rate:>10,.0f} r/s {rates[table] / base_rate:>8.1f}x")
    urls, seconds = await url_state_fold(base_dsn.rsplit("/", 1)[0] + "/bench_sink_fetches")
    print(f"url_state fold at close_run: {urls:,} URLs in {seconds:.2f} s ({urls / seconds:,.0f} URLs/s); "
          f"fetches without it: {n / (n / rates['fetches'] - seconds):,.0f} r/s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    data_dir = Path(tempfile.gettempdir()) / f"govcrawl-bench-{os.getpid()}"
    try:
        asyncio.run(main(args.rows, ensure_embedded(data_dir)))
    finally:
        stop_embedded(data_dir)
        shutil.rmtree(data_dir, ignore_errors=True)
