"""End to end into PostgreSQL: a crawl of the simulated web, the documented views and queries, the report.

One nightly crawl of ≥ 50 simulated sites is written to a real database; every test reads it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date

import asyncpg
import pytest

from crawler.config import Settings
from crawler.metrics import Metrics
from crawler.registry import load_registry
from crawler.report import build_report, render
from crawler.runner import RunOutcome, run_once
from crawler.simweb.process import RemoteSimWeb, simweb_process

N_SITES = 55


@dataclass
class Stored:
    web: RemoteSimWeb
    outcome: RunOutcome
    dsn: str
    today: date


@pytest.fixture(scope="module")
async def stored(pg_module_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stored]:
    registry = tmp_path_factory.mktemp("store") / "sites.csv"
    today = date.today()
    with simweb_process(registry, n_sites=N_SITES, seed=11, today=today, max_items=6) as web:
        settings = Settings(resolve=tuple(web.resolve_rules), nameservers=(web.nameserver,), rate=10.0,
                            ip_rate=300.0, ip_concurrency=16, total_timeout=2.0, first_byte_timeout=2.0,
                            retries=1, retry_base_delay=0.2, max_body_bytes=2 * 1024 * 1024,
                            dsn=pg_module_dsn)
        outcome = await run_once(settings, load_registry(registry), "nightly", Metrics())
    yield Stored(web, outcome, pg_module_dsn, today)


async def fetch(dsn: str, sql: str, *args: object) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetch(sql, *args)
    finally:
        await conn.close()


async def test_every_result_is_stored(stored: Stored) -> None:
    counts = stored.outcome.summary
    run_id = stored.outcome.run_id
    [run] = await fetch(stored.dsn, "SELECT status, counts FROM runs WHERE id = $1", run_id)
    assert run["status"] == "succeeded"
    fetches = await fetch(stored.dsn, "SELECT verdict, count(*) AS n FROM fetches WHERE run_id = $1 GROUP BY 1",
                          run_id)
    assert {r["verdict"]: r["n"] for r in fetches} == {
        verdict: counts[f"fetch_{verdict}"] for verdict in ("ok", "broken", "unverified")
        if counts.get(f"fetch_{verdict}")}
    findings = await fetch(stored.dsn, 'SELECT "check", count(*) AS n FROM findings WHERE run_id = $1 GROUP BY 1',
                           run_id)
    assert {r["check"]: r["n"] for r in findings} == {
        key.removeprefix("finding_"): n for key, n in counts.items() if key.startswith("finding_")}
    duplicates = await fetch(stored.dsn, """
        SELECT url, kind FROM fetches WHERE run_id = $1 AND kind IN ('page', 'target')
        GROUP BY 1, 2 HAVING count(*) > 1""", run_id)
    assert duplicates == []


async def test_current_broken_links_view_lists_every_planted_broken_target(stored: Stored) -> None:
    rows = await fetch(stored.dsn, "SELECT target_url, reason, referring_pages FROM current_broken_links")
    by_target = {r["target_url"]: r for r in rows}
    truth = [c for c in stored.web.truth.links if c.verdict == "broken"]
    assert {c.target for c in truth} == set(by_target)
    for case in truth:
        assert by_target[case.target]["reason"] == str(case.reason)
        assert case.source in by_target[case.target]["referring_pages"]


async def test_homepage_broken_links_query_from_the_docs(stored: Stored) -> None:
    rows = await fetch(stored.dsn, """
        SELECT s.name, b.target_url, b.reason, b.referring_pages
        FROM current_broken_links b JOIN sites s ON s.code = b.site
        WHERE b.on_homepage
        ORDER BY s.name, b.target_url""")
    homepages = {site.url for site in stored.web.truth.sites}
    expected = {c.target for c in stored.web.truth.links if c.verdict == "broken" and c.source in homepages}
    assert {r["target_url"] for r in rows} == expected


async def test_stale_columns_in_a_region_query_from_the_docs(stored: Stored) -> None:
    stale = [c for c in stored.web.truth.freshness if c.check == "column.stale"]
    assert stale, "the simulated web plants stale columns"
    region = next(s.region for s in stored.web.truth.sites if s.code == stale[0].site)
    rows = await fetch(stored.dsn, """
        SELECT s.name, f.detail->>'name' AS column_name, f.url, (f.detail->>'latest_date')::date AS latest,
               (f.detail->>'days_since')::int AS days
        FROM latest_runs lr
        JOIN findings f ON f.run_id = lr.run_id AND f.site = lr.site
        JOIN sites s ON s.code = lr.site
        WHERE lr.kind = 'nightly' AND s.region = $1
          AND f."check" = 'column.stale' AND (f.detail->>'days_since')::int > 182
        ORDER BY days DESC""", region)
    in_region = {s.code for s in stored.web.truth.sites if s.region == region}
    expected = {c.url for c in stale if c.site in in_region and c.newest is not None
                and (stored.today - c.newest).days > 182}
    assert {r["url"] for r in rows} == expected


async def test_scorecard_counts_match_the_findings(stored: Stored) -> None:
    rows = await fetch(stored.dsn, "SELECT site, by_check, total FROM site_scorecard WHERE run_id = $1",
                       stored.outcome.run_id)
    assert len(rows) == N_SITES
    per_site = await fetch(stored.dsn, "SELECT site, count(*) AS n FROM findings WHERE run_id = $1 GROUP BY 1",
                           stored.outcome.run_id)
    assert {r["site"]: r["total"] for r in rows if r["total"]} == {r["site"]: r["n"] for r in per_site}


async def test_columns_are_stored_as_a_time_series(stored: Stored) -> None:
    rows = await fetch(stored.dsn, "SELECT column_url FROM column_observations WHERE run_id = $1",
                       stored.outcome.run_id)
    planted = {c.column_url for c in stored.web.truth.freshness if c.column_url}
    assert planted <= {r["column_url"] for r in rows}


async def test_report_lists_every_planted_fault(stored: Stored) -> None:
    report = await build_report(stored.dsn, str(stored.outcome.run_id))
    csv = render(report, "csv").decode("utf-8-sig")
    html = render(report, "html").decode()
    truth = stored.web.truth
    expected_urls = ({c.target for c in truth.links if c.verdict == "broken"}
                     | {c.url for c in truth.freshness if c.expect_finding}
                     | {c.url for c in truth.integrity})
    assert sorted(url for url in expected_urls if url not in csv) == []
    assert sorted(url for url in expected_urls if url.replace("&", "&amp;") not in html) == []
    unreachable = [s.name for s in truth.sites if s.code in truth.unreachable_sites]
    assert unreachable and all(name in html for name in unreachable)
