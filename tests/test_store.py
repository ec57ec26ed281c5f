"""The Postgres store against a real server: schema, writer, reconnects, views, upkeep."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from crawler.store import admin
from crawler.store.postgres import PostgresSink, StoreError
from crawler.types import (
    ColumnRecord,
    Element,
    FetchKind,
    FetchRecord,
    FindingRecord,
    LinkRecord,
    Reason,
    RunInfo,
    Severity,
    SiteRecord,
    Verdict,
)

NOW = datetime.now(UTC).replace(microsecond=0)


def fetch(run: RunInfo, seq: int, url: str = "", *, site: str = "S1", kind: FetchKind = FetchKind.PAGE,
          status: int | None = 200, verdict: Verdict = Verdict.OK, reason: Reason | None = None,
          etag: str | None = None, at: datetime = NOW) -> FetchRecord:
    url = url or f"https://s1.gov.cn/p/{seq}.html"
    return FetchRecord(
        run_id=run.run_id, seq=seq, site=site, kind=kind, url=url, final_url=url,
        redirect_chain=("https://s1.gov.cn/a", "https://s1.gov.cn/b"), method="GET", status=status,
        verdict=verdict, reason=reason, detail="", dns_ms=1.5, connect_ms=2.5, first_byte_ms=10.0,
        total_ms=12.25, bytes=1234, truncated=False, content_type="text/html", content_hash="abc",
        etag=etag, last_modified=None, attempts=1, depth=2, started_at=at, observed_at=at,
    )


def link(run: RunInfo, seq: int, target: str, *, source: str = "https://s1.gov.cn/", site: str = "S1",
         verdict: Verdict = Verdict.BROKEN, at: datetime = NOW) -> LinkRecord:
    return LinkRecord(run.run_id, seq, site, source, target, "下载", Element.A, source.endswith("/"),
                      verdict, Reason.HTTP_404 if verdict is Verdict.BROKEN else None, at)


def finding(run: RunInfo, seq: int, check: str, url: str, *, site: str = "S1", at: datetime = NOW,
            **detail: Any) -> FindingRecord:
    return FindingRecord(run.run_id, seq, site, check, Severity.ERROR, url, detail, at)


def site(code: str = "S1", at: datetime = NOW) -> SiteRecord:
    return SiteRecord(code, f"站点{code}", f"https://{code.lower()}.gov.cn/", "某市人民政府办公室", "portal",
                      "某市", at)


async def fetchval(dsn: str, sql: str, *args: Any) -> Any:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetchval(sql, *args)
    finally:
        await conn.close()


async def fetch_rows(dsn: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(dsn)
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


# --------------------------------------------------------------------------- schema


async def test_migrate_twice_is_idempotent(pg_empty_dsn: str) -> None:
    assert await admin.schema_version(pg_empty_dsn) == 0
    latest = len(list((Path(admin.__file__).parent / "migrations").glob("[0-9][0-9][0-9][0-9]_*.sql"))) + 1
    assert await admin.migrate(pg_empty_dsn) == latest
    assert await admin.migrate(pg_empty_dsn) == latest
    assert await fetchval(pg_empty_dsn, "SELECT count(*) FROM schema_version") == latest
    month = NOW.strftime("%Y_%m")
    for table in ("fetches", "links", "findings", "column_observations", "probes"):
        assert await fetchval(pg_empty_dsn, "SELECT to_regclass($1)::text", f"{table}_p{month}") is not None
        assert await fetchval(pg_empty_dsn, "SELECT to_regclass($1)::text", f"{table}_default") is not None


async def test_numbered_migrations_apply_once_in_order(pg_empty_dsn: str, tmp_path: Path) -> None:
    (tmp_path / "0002_add_note.sql").write_text("ALTER TABLE runs ADD COLUMN note text;")
    (tmp_path / "0003_fill_note.sql").write_text("ALTER TABLE runs ALTER COLUMN note SET DEFAULT 'x';")
    (tmp_path / "README.md").write_text("not a migration")
    assert await admin.migrate(pg_empty_dsn, tmp_path) == 3
    assert await admin.migrate(pg_empty_dsn, tmp_path) == 3
    names = await fetch_rows(pg_empty_dsn, "SELECT name FROM schema_version ORDER BY version")
    assert [r["name"] for r in names] == ["schema.sql", "0002_add_note.sql", "0003_fill_note.sql"]


def test_top_level_schema_is_the_packaged_one() -> None:
    root = Path(__file__).resolve().parent.parent
    assert (root / "schema.sql").read_bytes() == (root / "crawler" / "store" / "schema.sql").read_bytes()


# --------------------------------------------------------------------------- writer


async def test_writer_stores_every_record_type(pg_dsn: str) -> None:
    sink = PostgresSink(pg_dsn, flush_interval=0.05)
    run = await sink.open_run("nightly", {"max_pages": 100, "sites": ["S1"]})
    assert (await fetchval(pg_dsn, "SELECT status FROM runs WHERE id = $1", run.run_id)) == "running"
    await sink.write(site())
    await sink.write(fetch(run, 1, etag='"v1"'))
    await sink.write(fetch(run, 2, "https://s1.gov.cn/gone", status=404, verdict=Verdict.BROKEN,
                           reason=Reason.HTTP_404))
    await sink.write(fetch(run, 3, "https://s1.gov.cn/", kind=FetchKind.PROBE))
    await sink.write(link(run, 1, "https://s1.gov.cn/gone"))
    await sink.write(ColumnRecord(run.run_id, 1, "S1", "https://s1.gov.cn/tzgg/", "通知公告", "notice_policy",
                                  NOW.date(), "https://s1.gov.cn/tzgg/1.html", 20, "list", NOW))
    await sink.write(finding(run, 1, "link.broken", "https://s1.gov.cn/", target="https://s1.gov.cn/gone",
                             reason="http_404", element="a", anchor_text="下载", on_homepage=True, status=404))
    await sink.close_run(run, "succeeded", {"pages": 3})

    assert sink.rows_written == {"fetches": 3, "probes": 1, "links": 1, "findings": 1, "column_observations": 1,
                                 "sites": 1}
    assert sink.rows_duplicate == 0 and sink.db_errors == 0
    r = (await fetch_rows(pg_dsn, "SELECT * FROM runs WHERE id = $1", run.run_id))[0]
    assert (r["status"], r["ended_at"] is not None) == ("succeeded", True)
    assert r["counts"] == '{"pages": 3}' and r["settings"] == '{"sites": ["S1"], "max_pages": 100}'
    f = (await fetch_rows(pg_dsn, "SELECT * FROM fetches WHERE seq = 2"))[0]
    assert (f["kind"], f["verdict"], f["reason"], f["status"]) == ("page", "broken", "http_404", 404)
    assert f["redirect_chain"] == ["https://s1.gov.cn/a", "https://s1.gov.cn/b"]
    assert (f["total_ms"], f["observed_at"]) == (12.25, NOW)
    assert await fetchval(pg_dsn, "SELECT element || anchor_text FROM links") == "a下载"
    assert await fetchval(pg_dsn, "SELECT detail->>'status' FROM findings WHERE \"check\" = 'link.broken'") == "404"
    assert await fetchval(pg_dsn, "SELECT organizer FROM sites WHERE code = 'S1'") == "某市人民政府办公室"
    assert await fetchval(pg_dsn, "SELECT class || newest_date FROM column_observations") == (
        f"notice_policy{NOW.date().isoformat()}")
    assert await fetchval(pg_dsn, "SELECT ok FROM probes WHERE url = 'https://s1.gov.cn/'") is True
    assert await fetchval(pg_dsn, "SELECT count(*) FROM run_sites WHERE run_id = $1", run.run_id) == 1
    # url_state: pages and targets only (not the probe), validators kept for the next run.
    assert await fetchval(pg_dsn, "SELECT count(*) FROM url_state") == 2
    assert await admin.conditional_headers(pg_dsn, "S1") == {
        "https://s1.gov.cn/p/1.html": admin.Validators('"v1"', None)}


async def test_url_state_follows_broken_and_fixed(pg_dsn: str) -> None:
    url = "https://s1.gov.cn/x"
    times = [NOW - timedelta(days=3), NOW - timedelta(days=2), NOW - timedelta(days=1)]
    outcomes = [(404, Verdict.BROKEN), (404, Verdict.BROKEN), (304, Verdict.OK)]
    for at, (status, verdict) in zip(times, outcomes, strict=True):
        sink = PostgresSink(pg_dsn)
        run = await sink.open_run("nightly", {})
        await sink.write(fetch(run, 1, url, status=status, verdict=verdict, at=at,
                               etag='"e"' if status == 404 else None))
        await sink.close_run(run, "succeeded", {})
    state = (await fetch_rows(pg_dsn, "SELECT * FROM url_state WHERE url = $1", url))[0]
    assert (state["last_verdict"], state["first_broken_at"], state["fixed_at"]) == ("ok", None, times[2])
    assert state["last_change_at"] == times[2]
    assert state["etag"] == '"e"'  # the 304 carried no ETag: the stored one is still current
    # Replaying an older run never moves the state backwards.
    first_run = await fetchval(pg_dsn, "SELECT min(id) FROM runs")
    await admin.refresh_url_state(pg_dsn, first_run)
    assert await fetchval(pg_dsn, "SELECT last_verdict FROM url_state WHERE url = $1", url) == "ok"


async def test_url_state_remembers_when_breakage_began(pg_dsn: str) -> None:
    url = "https://s1.gov.cn/y"
    times = [NOW - timedelta(days=2), NOW - timedelta(days=1)]
    for at in times:
        sink = PostgresSink(pg_dsn)
        run = await sink.open_run("nightly", {})
        await sink.write(fetch(run, 1, url, status=404, verdict=Verdict.BROKEN, at=at))
        await sink.close_run(run, "succeeded", {})
    state = (await fetch_rows(pg_dsn, "SELECT * FROM url_state WHERE url = $1", url))[0]
    assert (state["first_broken_at"], state["last_change_at"], state["fixed_at"]) == (times[0], times[0], None)


async def test_full_queue_blocks_write(pg_dsn: str) -> None:
    sink = PostgresSink(pg_dsn, queue_size=50, batch_size=10, flush_interval=0.01)
    run = await sink.open_run("adhoc", {})
    locker = await asyncpg.connect(pg_dsn)
    try:
        tx = locker.transaction()
        await tx.start()
        await locker.execute("LOCK TABLE fetches IN ACCESS EXCLUSIVE MODE")  # the writer's COPY waits
        seq = 0
        with pytest.raises(TimeoutError):
            for seq in range(1, 1000):
                await asyncio.wait_for(sink.write(fetch(run, seq)), timeout=0.5)
        # Bounded: the queue, one batch per connection (2) and the one being filled, nothing more.
        assert 50 <= seq - 1 <= 50 + 3 * 10
        assert sink.queue_depth == 50
        await tx.rollback()
    finally:
        await locker.close()
    for more in range(seq, seq + 100):
        await sink.write(fetch(run, more))
    await sink.close_run(run, "succeeded", {})
    assert await fetchval(pg_dsn, "SELECT count(*) FROM fetches") == seq + 99


async def test_bad_record_surfaces_in_close_run(pg_dsn: str) -> None:
    sink = PostgresSink(pg_dsn, batch_size=5)
    run = await sink.open_run("adhoc", {})
    for seq in range(1, 6):
        await sink.write(fetch(run, seq, status=70_000))  # does not fit smallint: the batch cannot be stored
    for seq in range(6, 11):
        await sink.write(fetch(run, seq))
    with pytest.raises(StoreError, match="5 records not stored"):
        await sink.close_run(run, "succeeded", {})
    assert sink.rows_failed == 5
    assert await fetchval(pg_dsn, "SELECT count(*) FROM fetches") == 5
    assert await fetchval(pg_dsn, "SELECT status FROM runs WHERE id = $1", run.run_id) == "succeeded"


async def test_resent_records_are_not_duplicated(pg_dsn: str) -> None:
    sink = PostgresSink(pg_dsn, batch_size=100)
    run = await sink.open_run("nightly", {})
    for _ in range(2):  # a caller re-sending a whole range hits the key and falls back to staging
        for seq in range(1, 151):
            await sink.write(fetch(run, seq))
            await sink.write(finding(run, seq, "page.broken", f"https://s1.gov.cn/{seq}", reason="http_404"))
    await sink.close_run(run, "succeeded", {})
    assert sink.rows_written["fetches"] == 150 and sink.rows_duplicate == 300
    assert await fetchval(pg_dsn, "SELECT count(*) FROM fetches") == 150
    assert await fetchval(pg_dsn, "SELECT count(*) FROM findings") == 150


# --------------------------------------------------------------------------- lost connections

N_CUT = 50_000


async def _write_mixed(sink: PostgresSink, run: RunInfo, n: int) -> None:
    for seq in range(n):
        await sink.write(fetch(run, seq))
        if seq % 10 == 0:
            await sink.write(link(run, seq, f"https://x.gov.cn/{seq}"))
            await sink.write(finding(run, seq, "link.broken", "https://s1.gov.cn/", target=f"https://x.gov.cn/{seq}"))


async def _assert_exactly_once(dsn: str, run: RunInfo, n: int) -> None:
    for table, expected in (("fetches", n), ("links", n // 10), ("findings", n // 10)):
        row = (await fetch_rows(
            dsn, f"SELECT count(*) AS n, count(DISTINCT seq) AS d FROM {table} WHERE run_id = $1", run.run_id))[0]
        assert (table, row["n"], row["d"]) == (table, expected, expected)


async def test_terminated_backend_loses_and_duplicates_nothing(pg_dsn: str) -> None:
    sink = PostgresSink(pg_dsn, batch_size=500, flush_interval=0.05)
    run = await sink.open_run("nightly", {})
    killer = await asyncpg.connect(pg_dsn)
    writing = asyncio.create_task(_write_mixed(sink, run, N_CUT))
    kills = 0
    try:
        while not writing.done():
            await asyncio.sleep(0.3)
            kills += await killer.fetchval(
                "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name = 'govcrawl-writer' AND datname = current_database()")
        await writing
    finally:
        await killer.close()
    await sink.close_run(run, "succeeded", {})
    assert kills >= 3 and sink.reconnects >= 3
    await _assert_exactly_once(pg_dsn, run, N_CUT)


class CuttingProxy:
    """A loopback TCP proxy in front of Postgres whose connections can be cut mid-stream."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.server: asyncio.Server | None = None
        self.pipes: set[asyncio.StreamWriter] = set()
        self.tasks: set[asyncio.Task[None]] = set()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[int]:
        self.server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        try:
            yield self.server.sockets[0].getsockname()[1]
        finally:
            self.server.close()
            self.cut()
            await self.server.wait_closed()
            await asyncio.gather(*self.tasks, return_exceptions=True)

    def cut(self) -> None:
        for writer in list(self.pipes):
            writer.transport.abort()  # RST, as when a NAT or the server host drops the link
        self.pipes.clear()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        self.pipes |= {writer, up_writer}
        for src, dst in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pump(src, dst))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def _pump(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        try:
            while data := await src.read(65536):
                dst.write(data)
                await dst.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            dst.transport.abort()
            self.pipes.discard(dst)


async def test_cut_connection_loses_and_duplicates_nothing(pg_dsn: str) -> None:
    host_port, database = pg_dsn.rsplit("@", 1)[1].split("/")
    proxy = CuttingProxy(int(host_port.rsplit(":", 1)[1]))
    async with proxy.running() as port:
        sink = PostgresSink(pg_dsn.replace(f"@{host_port}/", f"@127.0.0.1:{port}/"), batch_size=500,
                            flush_interval=0.05)
        run = await sink.open_run("nightly", {})
        writing = asyncio.create_task(_write_mixed(sink, run, N_CUT))
        cuts = 0
        while not writing.done():
            await asyncio.sleep(0.3)
            cuts += 1
            proxy.cut()
        await writing
        await sink.close_run(run, "succeeded", {})
    assert database.startswith("test_")
    assert cuts >= 3 and sink.reconnects >= 3
    await _assert_exactly_once(pg_dsn, run, N_CUT)


async def test_unreachable_database_fails_loudly(pg_dsn: str) -> None:
    host_port = pg_dsn.rsplit("@", 1)[1].split("/")[0]
    proxy = CuttingProxy(int(host_port.rsplit(":", 1)[1]))
    async with proxy.running() as port:
        sink = PostgresSink(pg_dsn.replace(f"@{host_port}/", f"@127.0.0.1:{port}/"), batch_size=10,
                            queue_size=100, flush_interval=0.01, retry_for=0.5)
        run = await sink.open_run("nightly", {})
    # The proxy is gone: every reconnect is refused, and after retry_for the sink gives up.
    with pytest.raises(StoreError, match="unreachable"):
        for seq in range(10_000):
            await sink.write(fetch(run, seq))
            await asyncio.sleep(0)
    with pytest.raises(StoreError):
        await sink.close_run(run, "failed", {})
    assert sink.rows_failed > 0


# --------------------------------------------------------------------------- upkeep


async def test_prune_drops_only_old_partitions(pg_dsn: str) -> None:
    old = datetime(2020, 1, 15, tzinfo=UTC)
    conn = await asyncpg.connect(pg_dsn)
    try:
        await conn.execute("SELECT govcrawl_ensure_partitions($1, $2)", old, old + timedelta(days=31))
    finally:
        await conn.close()
    sink = PostgresSink(pg_dsn)
    run = await sink.open_run("nightly", {})
    await sink.write(fetch(run, 1, at=old))
    await sink.write(fetch(run, 2, at=NOW))
    await sink.close_run(run, "succeeded", {})
    dropped = await admin.prune(pg_dsn, keep=timedelta(days=365))
    tables = ("column_observations", "fetches", "findings", "links", "probes")
    assert sorted(dropped) == sorted(f"{t}_p2020_{m}" for t in tables for m in ("01", "02"))
    assert await fetchval(pg_dsn, "SELECT count(*) FROM fetches") == 1
    assert await admin.prune(pg_dsn, keep=timedelta(days=365)) == []


async def test_mark_stale_runs(pg_dsn: str) -> None:
    conn = await asyncpg.connect(pg_dsn)
    try:
        stale = await conn.fetchval(
            "INSERT INTO runs (kind, heartbeat_at) VALUES ('nightly', now() - interval '1 hour') RETURNING id")
        live = await conn.fetchval("INSERT INTO runs (kind) VALUES ('nightly') RETURNING id")
    finally:
        await conn.close()
    assert await admin.mark_stale_runs(pg_dsn) == [stale]
    assert await fetchval(pg_dsn, "SELECT status FROM runs WHERE id = $1", stale) == "failed"
    assert await fetchval(pg_dsn, "SELECT status FROM runs WHERE id = $1", live) == "running"


# --------------------------------------------------------------------------- views


async def _run(conn: asyncpg.Connection, kind: str, started: datetime, status: str, sites: list[str]) -> int:
    run_id: int = await conn.fetchval(
        "INSERT INTO runs (kind, started_at, ended_at, status) "
        "VALUES ($1, $2::timestamptz, $2::timestamptz + interval '1 hour', $3) "
        "RETURNING id", kind, started, status)
    await conn.executemany("INSERT INTO run_sites VALUES ($1, $2)", [(run_id, s) for s in sites])
    return run_id


async def test_views_on_a_hand_built_dataset(pg_dsn: str) -> None:
    d1, d2, d3 = (NOW - timedelta(days=n) for n in (3, 2, 1))
    conn = await asyncpg.connect(pg_dsn)
    try:
        r1 = await _run(conn, "nightly", d1, "succeeded", ["A", "B"])
        r2 = await _run(conn, "nightly", d2, "succeeded", ["A", "B"])
        r3 = await _run(conn, "nightly", d3, "failed", ["A"])  # newest, but failed: not a baseline
        probe = await _run(conn, "probe", d3, "succeeded", ["A"])
        links = [
            (r1, 1, "A", "https://a/", "https://a/old", True),
            (r2, 1, "A", "https://a/", "https://a/gone", True),
            (r2, 2, "A", "https://a/list", "https://a/gone", False),
            (r2, 3, "A", "https://a/list", "https://a/gone2", False),
            (r3, 1, "A", "https://a/", "https://a/other", True),
        ]
        await conn.executemany(
            "INSERT INTO links VALUES ($1, $2, $3, $4, $5, '', 'a', $6, 'broken', 'http_404', $7)",
            [(*row, NOW) for row in links])
        findings = [
            (r1, 1, "A", "link.broken", "https://a/", '{"target": "https://a/old"}'),
            (r1, 2, "A", "site.unreachable", "https://a/", "{}"),
            (r1, 3, "B", "page.broken", "https://b/x", "{}"),
            (r2, 1, "A", "link.broken", "https://a/", '{"target": "https://a/gone"}'),
            (r2, 2, "A", "link.broken", "https://a/list", '{"target": "https://a/gone"}'),
            (r2, 3, "A", "site.unreachable", "https://a/", "{}"),
            (r2, 4, "B", "page.broken", "https://b/x", "{}"),
        ]
        await conn.executemany(
            "INSERT INTO findings VALUES ($1, $2, $3, $4, 'error', $5, $6::jsonb, $7)",
            [(*row, NOW) for row in findings])

        latest = {(r["site"], r["kind"]): r["run_id"] for r in await conn.fetch("SELECT * FROM latest_runs")}
        assert latest == {("A", "nightly"): r3, ("A", "probe"): probe, ("B", "nightly"): r2}

        broken = await conn.fetch("SELECT * FROM current_broken_links ORDER BY target_url")
        assert [(b["site"], b["run_id"], b["target_url"], b["referring_pages"], b["on_homepage"]) for b in broken] == [
            ("A", r2, "https://a/gone", ["https://a/", "https://a/list"], True),
            ("A", r2, "https://a/gone2", ["https://a/list"], False),
        ]

        card = {(c["run_id"], c["site"]): c for c in await conn.fetch("SELECT * FROM site_scorecard")}
        assert card[(r2, "A")]["by_check"] == '{"link.broken": 2, "site.unreachable": 1}'
        assert card[(r2, "A")]["total"] == 2 + 1
        assert card[(r3, "A")]["by_check"] == "{}" and card[(r3, "A")]["total"] == 0

        changes = await conn.fetch(
            "SELECT prev_run_id, site, change, \"check\", url, target FROM run_changes WHERE run_id = $1 "
            "ORDER BY site, change, url, target", r2)
        assert [tuple(c) for c in changes] == [
            (r1, "A", "fixed", "link.broken", "https://a/", "https://a/old"),
            (r1, "A", "new", "link.broken", "https://a/", "https://a/gone"),
            (r1, "A", "new", "link.broken", "https://a/list", "https://a/gone"),
        ]
        # r3 failed, but it is still compared against the last good run (r2): everything of r2 fixed.
        fixed = await conn.fetchval(
            "SELECT count(*) FROM run_changes WHERE run_id = $1 AND prev_run_id = $2 AND change = 'fixed'", r3, r2)
        assert fixed == 3
        # The first run has nothing to compare with: all its findings are new.
        assert await conn.fetchval("SELECT count(*) FROM run_changes WHERE run_id = $1", r1) == 3
    finally:
        await conn.close()
