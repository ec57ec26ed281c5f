"""Scale-out end to end: worker processes share one run through a real Postgres.

Three crawls of the same simulated web (same seed, same day), each against its own simulated-web
process (its "fail once" faults and its request log are per crawl): a single-process
``Crawl.execute()`` (the reference), then side by side a fleet of three worker processes and a
fleet of three of which one is SIGKILLed in the middle of a site group. Both
fleets must produce the reference's findings — nothing lost, nothing twice — and stay polite.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from crawler.config import Settings
from crawler.engine import Crawl
from crawler.metrics import Metrics
from crawler.registry import load_registry
from crawler.scale.plan import plan_run
from crawler.scale.worker import worker_argv
from crawler.simweb.logstats import by_addr, max_in_flight, rate_exceeded
from crawler.simweb.process import RemoteSimWeb, simweb_process
from crawler.store.postgres import PostgresSink

TODAY = date(2026, 11, 28)
N_SITES = 20
SEED = 7
RATE = 4.0  # 250 ms spacing: three crawls of 20 sites must fit the test's time
HOST_CONCURRENCY = 2
IP_RATE = 150.0
IP_CONCURRENCY = 8
TOLERANCE = 0.25  # ~60 ms: server-side stamping jitter on a loaded 2-core machine (see tests/test_crawl.py)
LEASE_TTL = 3.0
HEARTBEAT = 0.5
WORKERS = 3

# Three crawls (a reference and two fleets) of 20 sites share this module: allow them more than the default.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


@dataclass
class Outcome:
    run_id: int
    status: str
    web: RemoteSimWeb
    exit_codes: list[int | None]
    killed: str | None = None  # worker id of the SIGKILLed worker


def _settings(web: RemoteSimWeb) -> Settings:
    return Settings(resolve=tuple(web.resolve_rules), nameservers=(web.nameserver,), rate=RATE,
                    host_concurrency=HOST_CONCURRENCY, ip_rate=IP_RATE, ip_concurrency=IP_CONCURRENCY,
                    global_concurrency=32, total_timeout=2.0, first_byte_timeout=2.0, retries=1,
                    retry_base_delay=0.2, max_body_bytes=2 * 1024 * 1024,
                    # Each crawl must see the whole web: no conditional revisits from the run before.
                    conditional=False)


async def _single(dsn: str, folder: Path, web: RemoteSimWeb) -> Outcome:
    crawl = Crawl(_settings(web), load_registry(folder / "sites.csv"), PostgresSink(dsn), Metrics(), today=TODAY)
    status = await crawl.execute()
    assert crawl.run is not None
    return Outcome(crawl.run.run_id, status, web, [])


async def _fleet(dsn: str, folder: Path, web: RemoteSimWeb, *, kill_one: bool) -> Outcome:
    sites_csv = folder / "sites.csv"
    run_id = await plan_run(dsn, _settings(web), load_registry(sites_csv), "adhoc")
    workers = {f"w{n}": await asyncio.create_subprocess_exec(
        *worker_argv(dsn, run_id, sites_csv, worker_id=f"w{n}", lease_ttl=LEASE_TTL, heartbeat=HEARTBEAT, today=TODAY),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL) for n in range(WORKERS)}
    killed = None
    try:
        if kill_one:
            killed = await _victim(dsn, run_id)
            workers[killed].send_signal(signal.SIGKILL)
        async with asyncio.timeout(120):
            await asyncio.gather(*(p.wait() for p in workers.values()))
    finally:
        for process in workers.values():
            if process.returncode is None:
                process.kill()
    status = await _one(dsn, "SELECT status FROM runs WHERE id = $1", run_id)
    return Outcome(run_id, status, web, [p.returncode for p in workers.values()], killed)


async def _victim(dsn: str, run_id: int) -> str:
    """A worker half-way through a site group: it holds one and has stored some of its rows."""
    async with asyncio.timeout(60):
        while True:
            owner = await _one(dsn, """
                SELECT l.owner FROM run_leases l
                JOIN fetches f ON f.run_id = l.run_id AND f.seq >> 32 = l.blocks[cardinality(l.blocks)]
                WHERE l.run_id = $1 AND l.phase = 1 AND l.state = 'leased'
                GROUP BY l.owner HAVING count(*) >= 40 LIMIT 1""", run_id)
            if owner is not None:
                # Lease renewals beat the run's heartbeat: admin.mark_stale_runs leaves a live fleet alone.
                assert await _one(dsn, "SELECT now() - heartbeat_at < interval '2 seconds' FROM runs WHERE id = $1",
                                  run_id)
                return str(owner)
            await asyncio.sleep(0.1)


async def _one(dsn: str, sql: str, *args: Any) -> Any:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetchval(sql, *args)
    finally:
        await conn.close()


async def _rows(dsn: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(dsn)
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


@pytest.fixture(scope="module")
async def runs(pg_module_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[dict[str, Outcome]]:
    folders = {name: tmp_path_factory.mktemp(name) for name in ("single", "fleet", "killed")}
    with contextlib.ExitStack() as stack:
        webs = {name: stack.enter_context(simweb_process(folder / "sites.csv", n_sites=N_SITES, seed=SEED,
                                                         today=TODAY, max_items=8))
                for name, folder in folders.items()}
        dsn = pg_module_dsn
        # The reference alone, then the two fleets side by side: all three at once loads the two
        # cores enough to skew the servers' request stamps beyond the politeness tolerance.
        single = await _single(dsn, folders["single"], webs["single"])
        fleet, killed = await asyncio.gather(_fleet(dsn, folders["fleet"], webs["fleet"], kill_one=False),
                                             _fleet(dsn, folders["killed"], webs["killed"], kill_one=True))
    # The request logs arrive when the simulated webs stop (leaving the ExitStack).
    yield {"single": single, "fleet": fleet, "killed": killed}


async def _findings(dsn: str, run_id: int) -> Counter[tuple[str, str, str, str | None]]:
    rows = await _rows(dsn, """SELECT "check", site, url, detail->>'target' AS target FROM findings
                               WHERE run_id = $1""", run_id)
    return Counter((r["check"], r["site"], r["url"], r["target"]) for r in rows)


def test_every_run_succeeds(runs: dict[str, Outcome]) -> None:
    assert {name: o.status for name, o in runs.items()} == dict.fromkeys(runs, "succeeded")
    assert runs["fleet"].exit_codes == [0] * WORKERS
    killed = runs["killed"]
    assert killed.killed is not None
    assert sorted(code for code in killed.exit_codes) == [-signal.SIGKILL, 0, 0]


@pytest.mark.parametrize("fleet", ["fleet", "killed"])
async def test_fleet_findings_equal_the_single_process_crawl(runs: dict[str, Outcome], pg_module_dsn: str,
                                                             fleet: str) -> None:
    reference = await _findings(pg_module_dsn, runs["single"].run_id)
    found = await _findings(pg_module_dsn, runs[fleet].run_id)
    assert reference, "the reference crawl found nothing: the comparison would prove nothing"
    # Counters, not sets: a finding stored twice is a difference too.
    assert found - reference == Counter() and reference - found == Counter()


@pytest.mark.parametrize("fleet", ["fleet", "killed"])
async def test_fleet_finds_every_planted_link_problem(runs: dict[str, Outcome], pg_module_dsn: str,
                                                      fleet: str) -> None:
    outcome = runs[fleet]
    rows = await _rows(pg_module_dsn, """SELECT "check", url, detail->>'target' AS target, detail->>'reason' AS reason
                                         FROM findings WHERE run_id = $1 AND "check" LIKE 'link.%'""", outcome.run_id)
    found = {(r["url"], r["target"]): (r["check"], r["reason"]) for r in rows}
    missing = [(c.fault, c.source, c.target) for c in outcome.web.truth.links
               if found.get((c.source, c.target)) != (f"link.{c.verdict}", str(c.reason))]
    planted = {(c.source, c.target) for c in outcome.web.truth.links if c.verdict == "broken"}
    false_broken = [key for key, (check, _) in found.items() if check == "link.broken" and key not in planted]
    assert missing == [] and false_broken == []


@pytest.mark.parametrize("fleet", ["fleet", "killed"])
async def test_nothing_is_stored_twice(runs: dict[str, Outcome], pg_module_dsn: str, fleet: str) -> None:
    run_id = runs[fleet].run_id
    twice = await _rows(pg_module_dsn, """SELECT url, kind, count(*) FROM fetches WHERE run_id = $1
                                          AND kind IN ('page', 'target') GROUP BY 1, 2 HAVING count(*) > 1""", run_id)
    assert twice == []
    links = await _rows(pg_module_dsn, """SELECT source_url, target_url, count(*) FROM links WHERE run_id = $1
                                          GROUP BY 1, 2 HAVING count(*) > 1""", run_id)
    reference = await _rows(pg_module_dsn, """SELECT source_url, target_url, count(*) FROM links WHERE run_id = $1
                                              GROUP BY 1, 2 HAVING count(*) > 1""", runs["single"].run_id)
    assert {tuple(r) for r in links} == {tuple(r) for r in reference}
    pages = {name: await _one(pg_module_dsn, "SELECT count(*) FROM fetches WHERE run_id = $1 AND kind = 'page'",
                              runs[name].run_id) for name in ("single", fleet)}
    assert pages[fleet] == pages["single"]


async def test_the_killed_workers_lease_was_redone_by_another(runs: dict[str, Outcome], pg_module_dsn: str) -> None:
    killed = runs["killed"]
    redone = await _rows(pg_module_dsn, """SELECT owner, attempt FROM run_leases
                                           WHERE run_id = $1 AND phase = 1 AND attempt > 1""", killed.run_id)
    assert redone and all(r["owner"] != killed.killed for r in redone)
    # The work tables are emptied when the run is finalized; every lease is done.
    assert await _one(pg_module_dsn, "SELECT count(*) FROM run_edges WHERE run_id = $1", killed.run_id) == 0
    assert await _one(pg_module_dsn, "SELECT count(*) FROM run_leases WHERE run_id = $1 AND state <> 'done'",
                      killed.run_id) == 0


@pytest.mark.parametrize("fleet", ["fleet", "killed"])
def test_politeness_holds_across_the_fleet(runs: dict[str, Outcome], fleet: str) -> None:
    log = runs[fleet].web.log
    assert log, "the simulated web saw no requests"
    assert max(max_in_flight(log).values()) <= HOST_CONCURRENCY
    assert max(max_in_flight(log, key=by_addr).values()) <= IP_CONCURRENCY
    assert rate_exceeded(log, RATE, tolerance=TOLERANCE) == {}
    for host, delay in runs[fleet].web.truth.crawl_delays.items():
        assert rate_exceeded(log, 1 / delay, tolerance=TOLERANCE, host=host) == {}
