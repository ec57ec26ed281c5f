"""Cheap nightly revisits: an unchanged column list page costs a 304 and its column is carried over."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import asyncpg
import pytest

from crawler.config import Settings
from crawler.metrics import Metrics
from crawler.registry import load_registry
from crawler.runner import run_once
from crawler.simweb.process import simweb_process


@pytest.fixture
def settings_for(tmp_path: Path):  # type: ignore[no-untyped-def]
    def make(web, dsn: str, **kw: object) -> Settings:  # type: ignore[no-untyped-def]
        return Settings(resolve=tuple(web.resolve_rules), nameservers=(web.nameserver,), rate=50.0,
                        ip_rate=500.0, ip_concurrency=16, total_timeout=2.0, retries=0, dsn=dsn,
                        **kw)  # type: ignore[arg-type]
    return make


async def test_second_run_revisits_unchanged_lists_with_conditional_requests(
        pg_dsn: str, tmp_path: Path, settings_for) -> None:  # type: ignore[no-untyped-def]
    registry = tmp_path / "sites.csv"
    with simweb_process(registry, n_sites=4, seed=3, today=date.today(), max_items=6) as web:
        sites = load_registry(registry)
        first = await run_once(settings_for(web, pg_dsn), sites, "nightly", Metrics())
        second = await run_once(settings_for(web, pg_dsn), sites, "nightly", Metrics())
    assert first.status == second.status == "succeeded"
    assert second.summary.get("not_modified", 0) > 0
    conn = await asyncpg.connect(pg_dsn)
    try:
        columns = {run: {(r["column_url"], r["newest_date"], r["item_count"]) for r in await conn.fetch(
            "SELECT column_url, newest_date, item_count FROM column_observations WHERE run_id = $1", run)}
            for run in (first.run_id, second.run_id)}
        not_modified = await conn.fetchval(
            "SELECT count(*) FROM fetches WHERE run_id = $1 AND status = 304", second.run_id)
        stale = {run: {r["url"] for r in await conn.fetch(
            "SELECT url FROM findings WHERE run_id = $1 AND \"check\" LIKE 'column.%'", run)}
            for run in (first.run_id, second.run_id)}
    finally:
        await conn.close()
    assert columns[first.run_id] and columns[second.run_id] == columns[first.run_id]
    assert not_modified == second.summary["not_modified"]
    assert stale[second.run_id] == stale[first.run_id]
    # The second night asked for fewer pages: the articles under unchanged lists were not re-fetched.
    assert second.summary["pages"] < first.summary["pages"]


async def test_conditional_requests_can_be_turned_off(pg_dsn: str, tmp_path: Path,
                                                      settings_for) -> None:  # type: ignore[no-untyped-def]
    registry = tmp_path / "sites.csv"
    with simweb_process(registry, n_sites=2, seed=3, today=date.today(), max_items=4) as web:
        sites = load_registry(registry)
        await run_once(settings_for(web, pg_dsn), sites, "nightly", Metrics())
        second = await run_once(settings_for(web, pg_dsn, conditional=False), sites, "nightly", Metrics())
    assert second.summary.get("not_modified", 0) == 0
