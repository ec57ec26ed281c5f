"""`govcrawl serve` against a real Postgres and real local HTTP servers: schedule, lock, restart, HTTP."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import aiohttp
import asyncpg
import pytest
from aiohttp import web

from crawler.config import Settings
from crawler.engine import Crawl
from crawler.errors import ConfigError, StoreError
from crawler.metrics import Metrics
from crawler.service import Service, attempt_nightly, next_run, serve
from crawler.types import RobotsPolicy, Site

SHANGHAI = ZoneInfo("Asia/Shanghai")
HOMEPAGE_DELAY_S = 0.5  # a crawl lasts long enough for a second instance to find the lock taken


# --------------------------------------------------------------------------- next_run (pure)


def test_next_run_reads_cron_in_the_time_zone() -> None:
    # 00:59 in Shanghai is 16:59 UTC the day before.
    now = datetime(2024, 3, 10, 16, 59, tzinfo=UTC)
    due = next_run("0 1 * * *", "Asia/Shanghai", now)
    assert due == datetime(2024, 3, 11, 1, 0, tzinfo=SHANGHAI)
    assert due.astimezone(UTC) == datetime(2024, 3, 10, 17, 0, tzinfo=UTC)
    # Exactly at the slot: the next one, never the same one twice.
    assert next_run("0 1 * * *", "Asia/Shanghai", due) == datetime(2024, 3, 12, 1, 0, tzinfo=SHANGHAI)
    assert next_run("*/30 * * * *", "Asia/Shanghai", now) == datetime(2024, 3, 11, 1, 0, tzinfo=SHANGHAI)


def test_next_run_shanghai_has_no_dst_but_new_york_does() -> None:
    # Every night of a year (across the EU and US DST switches) 01:00 in Shanghai is 17:00 UTC.
    start = datetime(2024, 1, 1, tzinfo=UTC)
    utc_hours = {next_run("0 1 * * *", "Asia/Shanghai", start + timedelta(days=d)).astimezone(UTC).hour
                 for d in range(366)}
    assert utc_hours == {17}
    winter = next_run("0 1 * * *", "America/New_York", datetime(2024, 1, 15, tzinfo=UTC)).astimezone(UTC)
    summer = next_run("0 1 * * *", "America/New_York", datetime(2024, 7, 15, tzinfo=UTC)).astimezone(UTC)
    assert (winter.hour, summer.hour) == (6, 5)


def test_next_run_rejects_bad_input() -> None:
    now = datetime(2024, 1, 1, tzinfo=UTC)
    with pytest.raises(ConfigError, match="cron"):
        next_run("every night", "Asia/Shanghai", now)
    with pytest.raises(ConfigError, match="time zone"):
        next_run("0 1 * * *", "Asia/Nowhere", now)
    with pytest.raises(ValueError, match="aware"):
        next_run("0 1 * * *", "Asia/Shanghai", datetime(2024, 1, 1))


# --------------------------------------------------------------------------- a local site


async def _homepage(request: web.Request) -> web.Response:
    await asyncio.sleep(HOMEPAGE_DELAY_S)
    return web.Response(text="<html><head><title>测试首页</title></head><body>首页</body></html>",
                        content_type="text/html")


@pytest.fixture
async def site_base() -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_get("/", _homepage)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/"
    finally:
        await runner.cleanup()


def _settings(dsn: str) -> Settings:
    return Settings(dsn=dsn, allow_private=("127.0.0.1",), robots=RobotsPolicy.IGNORE, soft404_calibration=False,
                    retries=0, max_pages=3, rate=50.0, ip_rate=50.0, check_external=False, global_concurrency=4)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _rows(dsn: str, sql: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(dsn)
    try:
        return list(await conn.fetch(sql))
    finally:
        await conn.close()


async def _get(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.get(url) as resp:
        return resp.status, await resp.text()


async def _eventually(url: str, want: str, seconds: float = 10.0) -> str:
    """GET ``url`` until the body contains ``want`` (the service works in the background)."""
    deadline = asyncio.get_running_loop().time() + seconds
    body = ""
    while asyncio.get_running_loop().time() < deadline:
        try:
            _, body = await _get(url)
        except aiohttp.ClientConnectionError:
            body = ""
        if want in body:
            return body
        await asyncio.sleep(0.05)
    raise AssertionError(f"{url}: {want!r} not seen; last body: {body[:2000]}")


# --------------------------------------------------------------------------- the nightly lock


async def test_only_one_of_two_concurrent_nightly_attempts_runs(pg_dsn: str, site_base: str) -> None:
    sites = [Site("T1", "测试站", site_base)]
    slot = datetime.now(UTC) - timedelta(seconds=1)
    first, second = await asyncio.gather(
        attempt_nightly(_settings(pg_dsn), sites, Metrics(), slot),
        attempt_nightly(_settings(pg_dsn), sites, Metrics(), slot))
    ran = [a for a in (first, second) if a.ran]
    skipped = [a for a in (first, second) if not a.ran]
    assert len(ran) == 1 and len(skipped) == 1
    assert skipped[0].skipped == "locked" and skipped[0].outcome is None
    assert ran[0].outcome is not None and ran[0].outcome.status == "succeeded"
    runs = await _rows(pg_dsn, "SELECT id, status FROM runs WHERE kind = 'nightly'")
    assert [(r["id"], r["status"]) for r in runs] == [(ran[0].outcome.run_id, "succeeded")]
    # An instance coming late for the same slot (clock skew) finds it done instead of running twice.
    late = await attempt_nightly(_settings(pg_dsn), sites, Metrics(), slot)
    assert (late.ran, late.skipped) == (False, "done")


async def test_stopping_the_service_interrupts_the_crawl_and_keeps_the_run(pg_dsn: str, site_base: str) -> None:
    settings, sites, stop = _settings(pg_dsn), [Site("T1", "测试站", site_base)], asyncio.Event()
    service = Service(settings, sites, Metrics(), schedule="0 1 * * *", tz="Asia/Shanghai", probe_interval_s=60,
                      stop=stop)
    started = asyncio.Event()

    def on_start(engine: Crawl) -> None:
        service.on_crawl_start(engine)
        started.set()

    attempt = asyncio.create_task(attempt_nightly(settings, sites, service.metrics, datetime.now(UTC), on_start))
    await asyncio.wait_for(started.wait(), 10)
    stop.set()
    service.shutdown()
    result = await asyncio.wait_for(attempt, 10)
    assert result.outcome is not None and result.outcome.status == "interrupted"
    runs = await _rows(pg_dsn, "SELECT status, ended_at FROM runs WHERE kind = 'nightly'")
    assert [r["status"] for r in runs] == ["interrupted"] and runs[0]["ended_at"] is not None


# --------------------------------------------------------------------------- serve


async def test_serve_marks_stale_runs_restores_metrics_probes_and_serves_http(pg_dsn: str, site_base: str) -> None:
    conn = await asyncpg.connect(pg_dsn)
    try:
        stale = await conn.fetchval(
            """INSERT INTO runs (kind, started_at, status, heartbeat_at)
               VALUES ('nightly', now() - interval '3 hours', 'running', now() - interval '2 hours') RETURNING id""")
        await conn.execute(
            """INSERT INTO runs (kind, started_at, ended_at, status)
               VALUES ('nightly', now() - interval '1 day', now() - interval '23 hours', 'succeeded')""")
    finally:
        await conn.close()
    port, stop = _free_port(), asyncio.Event()
    task = asyncio.create_task(serve(_settings(pg_dsn), [Site("T1", "测试站", site_base)], schedule="0 1 * * *",
                                     tz="Asia/Shanghai", probe_interval_s=3600, host="127.0.0.1", port=port,
                                     stop=stop))
    base = f"http://127.0.0.1:{port}"
    try:
        await _eventually(f"{base}/readyz", '"ready"')
        assert (await _get(f"{base}/healthz"))[0] == 200
        metrics = await _eventually(f"{base}/metrics", 'govcrawl_site_homepage_up{site="T1"} 1.0')
        # Restored from the database: the newest finished nightly run is the dead one, now failed;
        # the last success is the run of the day before.
        assert 'govcrawl_last_run_success{kind="nightly"} 0.0' in metrics
        assert 'govcrawl_last_run_success_timestamp_seconds{kind="nightly"}' in metrics
        assert 'govcrawl_last_run_end_timestamp_seconds{kind="nightly"}' in metrics
        assert 'govcrawl_site_probe_failure_ratio{site="T1"} 0.0' in metrics
        assert 'govcrawl_requests_total{kind="probe",reason="",status_class="2xx",verdict="ok"} 1.0' in metrics
    finally:
        stop.set()
        assert await asyncio.wait_for(task, 10) == 0
    runs = {r["id"]: (r["kind"], r["status"]) for r in await _rows(pg_dsn, "SELECT id, kind, status FROM runs")}
    assert runs[stale] == ("nightly", "failed")
    assert ("probe", "succeeded") in runs.values()
    assert "running" not in {status for _, status in runs.values()}


async def test_serve_stops_on_sigterm(pg_dsn: str, site_base: str) -> None:
    port = _free_port()
    task = asyncio.create_task(serve(_settings(pg_dsn), [Site("T1", "测试站", site_base)], schedule="0 1 * * *",
                                     tz="Asia/Shanghai", probe_interval_s=3600, host="127.0.0.1", port=port))
    await _eventually(f"http://127.0.0.1:{port}/healthz", '"ok"')
    os.kill(os.getpid(), signal.SIGTERM)
    assert await asyncio.wait_for(task, 10) == 0


async def test_readyz_fails_without_database() -> None:
    dead = f"postgresql://govcrawl@127.0.0.1:{_free_port()}/govcrawl"
    service = Service(Settings(dsn=dead), [], Metrics(), schedule="0 1 * * *", tz="Asia/Shanghai",
                      probe_interval_s=60, stop=asyncio.Event())
    runner = web.AppRunner(service.app())
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        status, body = await _get(f"http://127.0.0.1:{runner.addresses[0][1]}/readyz")
    finally:
        await runner.cleanup()
    assert status == 503 and "database unreachable" in body


async def test_serve_rejects_bad_options() -> None:
    unused = _settings("postgresql://unused@127.0.0.1:1/unused")  # rejected before any connection
    with pytest.raises(ConfigError, match="cron"):
        await serve(unused, [], schedule="61 * * * *", tz="Asia/Shanghai", probe_interval_s=60,
                    host="127.0.0.1", port=0, stop=asyncio.Event())
    with pytest.raises(ConfigError, match="probe-interval"):
        await serve(unused, [], schedule="0 1 * * *", tz="Asia/Shanghai", probe_interval_s=0,
                    host="127.0.0.1", port=0, stop=asyncio.Event())
    with pytest.raises(StoreError, match="PostgreSQL"):  # the CLI's exit code 3
        await serve(unused, [], schedule="0 1 * * *", tz="Asia/Shanghai", probe_interval_s=60,
                    host="127.0.0.1", port=0, stop=asyncio.Event())
