"""Homepage probes against a real local server, and the 7-day rule against a real Postgres."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import orjson
import pytest
from aiohttp import web

from crawler.config import Settings
from crawler.fetch.client import Fetcher
from crawler.fetch.resolver import Resolver
from crawler.probes import (
    AvailabilityPolicy,
    ProbeTally,
    availability,
    judge_availability,
    probe_round,
    probe_sites,
)
from crawler.types import Reason, Site, Verdict

SETTINGS = Settings(allow_private=("127.0.0.1",), retries=0)


async def _up(request: web.Request) -> web.Response:
    return web.Response(text="<title>首页</title>", content_type="text/html")


async def _moved(request: web.Request) -> web.Response:
    raise web.HTTPFound("/up")


async def _err(request: web.Request) -> web.Response:
    return web.Response(status=500, text="oops")


async def _slow(request: web.Request) -> web.Response:
    await asyncio.sleep(1.0)
    return web.Response(text="late")


@pytest.fixture
async def web_base() -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_get("/up", _up)
    app.router.add_get("/moved", _moved)
    app.router.add_get("/err", _err)
    app.router.add_get("/slow", _slow)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _site(code: str, url: str) -> Site:
    return Site(code=code, name=f"站点{code}", url=url)


def _fetcher() -> Fetcher:
    return Fetcher(SETTINGS, Resolver.from_settings((), (), SETTINGS.allow_private))


async def test_probe_sites_up_error_slow_refused(web_base: str) -> None:
    sites = [_site("UP", f"{web_base}/up"), _site("MOVED", f"{web_base}/moved"), _site("ERR", f"{web_base}/err"),
             _site("SLOW", f"{web_base}/slow"), _site("GONE", f"http://127.0.0.1:{_closed_port()}/")]
    async with _fetcher() as fetcher:
        up, moved, err, slow, gone = await probe_sites(sites, fetcher, limit_s=0.3)
    assert (up.ok, up.status, up.reason, up.verdict) == (True, 200, None, Verdict.OK)
    assert up.total_ms is not None and up.total_ms < 300
    assert (moved.ok, moved.status, moved.final_url) == (True, 200, f"{web_base}/up")
    assert moved.redirect_chain == (f"{web_base}/moved", f"{web_base}/up")
    assert (err.ok, err.status, err.reason) == (False, 500, Reason.HTTP_5XX)
    assert (slow.ok, slow.status, slow.reason) == (False, None, Reason.TIMEOUT)
    assert slow.total_ms is not None and 280 <= slow.total_ms < 900  # cut at the limit, not at the 1 s answer
    assert (gone.ok, gone.reason) == (False, Reason.REFUSED)


# --------------------------------------------------------------------------- the 7-day rule


def test_threshold_boundary_is_exact() -> None:
    policy = AvailabilityPolicy()  # 7 days, 5 %, 20 a day
    assert judge_availability("A", ProbeTally(140, 7), policy).veto  # exactly 5 %: 0.05 * 140 ≠ 7 in floats
    assert not judge_availability("A", ProbeTally(140, 6), policy).veto
    assert not judge_availability("A", ProbeTally(0, 0), policy).veto
    few = judge_availability("A", ProbeTally(139, 139), policy)
    assert few.veto and not few.enough_probes and not few.fails_rule


async def _insert_probes(dsn: str, site: str, n: int, failures: int, at: datetime, run_id: int = 0) -> None:
    """n probes of `site` ending at `at`, the last `failures` of them timeouts."""
    ok = [seq < n - failures for seq in range(n)]
    rows = [(run_id, seq, site, f"https://{site.lower()}.gov.cn/", at - timedelta(seconds=seq), ok[seq],
             200 if ok[seq] else None, None if ok[seq] else "timeout", 12.5)
            for seq in range(n)]
    conn = await asyncpg.connect(dsn)
    try:
        await conn.copy_records_to_table(
            "probes", records=rows,
            columns=["run_id", "seq", "site", "url", "observed_at", "ok", "status", "reason", "total_ms"])
    finally:
        await conn.close()


async def test_availability_ratio_veto_and_too_few(pg_dsn: str) -> None:
    now = datetime.now(UTC)
    await _insert_probes(pg_dsn, "AT5", 140, 7, now - timedelta(hours=1), run_id=1)
    await _insert_probes(pg_dsn, "UNDER", 140, 6, now - timedelta(hours=1), run_id=2)
    await _insert_probes(pg_dsn, "FEW", 30, 30, now - timedelta(hours=1), run_id=3)
    # Outside the window: 8 days old failures do not count.
    await _insert_probes(pg_dsn, "UNDER", 50, 50, now - timedelta(days=8), run_id=4)
    found = {a.site: a for a in await availability(pg_dsn, now=now)}
    assert set(found) == {"AT5", "UNDER", "FEW"}
    at5, under, few = found["AT5"], found["UNDER"], found["FEW"]
    assert (at5.probes, at5.failures, at5.ratio, at5.veto, at5.enough_probes) == (140, 7, 0.05, True, True)
    assert at5.reasons == {"timeout": 7} and at5.window_days == 7 and at5.threshold == 0.05
    assert (under.probes, under.failures, under.veto, under.enough_probes) == (140, 6, False, True)
    assert (few.probes, few.ratio, few.veto, few.enough_probes, few.fails_rule) == (30, 1.0, True, False, False)
    # A shorter window and a lower bar: the 30 probes of FEW are then enough (30 ≥ 20 × 1).
    one_day = {a.site: a for a in await availability(pg_dsn, days=1, min_probes_per_day=20, now=now)}
    assert one_day["FEW"].fails_rule


async def test_probe_round_stores_probes_and_writes_unreachable_finding(pg_dsn: str, web_base: str) -> None:
    now = datetime.now(UTC)
    await _insert_probes(pg_dsn, "DOWN", 139, 6, now - timedelta(hours=2), run_id=901)  # one more failure tips it
    await _insert_probes(pg_dsn, "UP", 139, 0, now - timedelta(hours=2), run_id=902)
    sites = [_site("UP", f"{web_base}/up"), _site("DOWN", f"{web_base}/err")]
    async with _fetcher() as fetcher:
        result = await probe_round(pg_dsn, sites, fetcher, settings={"test": True}, limit_s=2.0)
    assert result.status == "succeeded"
    judged = {a.site: a for a in result.availability}
    assert (judged["DOWN"].probes, judged["DOWN"].failures, judged["DOWN"].fails_rule) == (140, 7, True)
    assert (judged["UP"].probes, judged["UP"].failures, judged["UP"].fails_rule) == (140, 0, False)

    conn = await asyncpg.connect(pg_dsn)
    try:
        run = await conn.fetchrow("SELECT kind, status, counts FROM runs WHERE id = $1", result.run_id)
        probes = await conn.fetch("SELECT site, ok, status, reason FROM probes WHERE run_id = $1 ORDER BY site",
                                  result.run_id)
        fetch_kinds = await conn.fetch("SELECT DISTINCT kind FROM fetches WHERE run_id = $1", result.run_id)
        findings = await conn.fetch('SELECT site, "check", severity, url, detail FROM findings WHERE run_id = $1',
                                    result.run_id)
        covered = await conn.fetchval("SELECT count(*) FROM run_sites WHERE run_id = $1", result.run_id)
    finally:
        await conn.close()
    assert (run["kind"], run["status"]) == ("probe", "succeeded")
    assert orjson.loads(run["counts"]) == {"sites": 2, "probes": 2, "failures": 1, "finding_site.unreachable": 1}
    assert [tuple(p) for p in probes] == [("DOWN", False, 500, "http_5xx"), ("UP", True, 200, None)]
    assert [k["kind"] for k in fetch_kinds] == ["probe"]
    assert covered == 2
    assert len(findings) == 1
    f = findings[0]
    assert (f["site"], f["check"], f["severity"], f["url"]) == ("DOWN", "site.unreachable", "critical",
                                                                f"{web_base}/err")
    assert orjson.loads(f["detail"]) == {"failures": 7, "probes": 140, "ratio": 0.05, "window_days": 7,
                                         "threshold": 0.05, "reasons": {"timeout": 6, "http_5xx": 1}}
