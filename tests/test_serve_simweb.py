"""`govcrawl serve` against the simulated government web: the schedule fires a nightly crawl, probes
run for every site, and /metrics shows both (a down homepage as down)."""

from __future__ import annotations

import asyncio
import socket
from datetime import date
from pathlib import Path

import aiohttp
import asyncpg

from crawler.config import Settings
from crawler.registry import load_registry
from crawler.service import serve
from crawler.simweb.process import simweb_process


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def count(dsn: str, sql: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval(sql))
    finally:
        await conn.close()


async def crawled_and_probed_twice(dsn: str) -> bool:
    nightly = await count(dsn, "SELECT count(*) FROM runs WHERE kind = 'nightly' AND status = 'succeeded'")
    return nightly >= 1 and await count(dsn, "SELECT count(DISTINCT run_id) FROM probes") >= 2


async def test_serve_runs_the_schedule_and_probes_against_the_simulated_web(pg_dsn: str, tmp_path: Path) -> None:
    registry = tmp_path / "sites.csv"
    with simweb_process(registry, n_sites=10, seed=5, today=date.today(), max_items=3) as web:
        down = web.truth.unreachable_sites[0]
        sites = load_registry(registry)
        settings = Settings(resolve=tuple(web.resolve_rules), nameservers=(web.nameserver,), rate=20.0,
                            ip_rate=300.0, ip_concurrency=16, total_timeout=2.0, retries=0, dsn=pg_dsn)
        port, stop = free_port(), asyncio.Event()
        # A schedule with a seconds field (croniter's sixth) fires within the test; nightly is "0 1 * * *".
        service = asyncio.create_task(serve(settings, sites, schedule="* * * * * */5", tz="Asia/Shanghai",
                                            probe_interval_s=1.0, host="127.0.0.1", port=port, stop=stop))
        try:
            for _ in range(180):  # the database is the service's only outward sign of progress: poll it
                if await crawled_and_probed_twice(pg_dsn):
                    break
                await asyncio.sleep(0.5)
            async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{port}/metrics") as resp:
                metrics = await resp.text()
        finally:
            stop.set()
            assert await asyncio.wait_for(service, 30) == 0
    probed = await count(pg_dsn, "SELECT count(DISTINCT site) FROM probes")
    assert probed == len(sites)
    assert await count(pg_dsn, f"SELECT count(*) FROM probes WHERE site = '{down}' AND ok") == 0
    assert await count(pg_dsn, "SELECT count(*) FROM findings WHERE \"check\" = 'link.broken'") > 0
    assert f'govcrawl_site_homepage_up{{site="{down}"}} 0.0' in metrics
    healthy = next(site.code for site in sites if site.code != down)
    assert f'govcrawl_site_homepage_up{{site="{healthy}"}} 1.0' in metrics
    assert 'govcrawl_last_run_success{kind="nightly"} 1.0' in metrics
