"""PostgresSink: the Sink that writes a run's records to Postgres, fast and exactly once.

``write`` only puts the record on a bounded queue (backpressure when full). One background task
batches records by type and hands each batch to one of two connections ("lanes"), which writes
it in one transaction: COPY straight into the partitioned table, or, when the batch is a replay,
COPY into a temp staging table and ``INSERT … SELECT … ON CONFLICT DO NOTHING`` (key: run_id,
seq, observed_at). A batch leaves memory only after its COMMIT succeeded, and replaying a batch
whose COMMIT did succeed (acknowledgement lost) inserts nothing, so a lost connection is handled
by reconnecting and replaying: nothing lost, nothing duplicated.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import asyncpg
import orjson

from crawler.store.sink import SinkStats
from crawler.types import (
    ColumnRecord,
    DeferredLinkRecord,
    FetchKind,
    FetchRecord,
    FindingRecord,
    LinkRecord,
    Record,
    RunInfo,
    SiteRecord,
    Verdict,
)

T = TypeVar("T")

HEARTBEAT_INTERVAL_S = 30.0  # admin.mark_stale_runs() relies on a live writer beating this often
URL_STATE_TIMEOUT_S = 3600.0  # folding a run of millions of fetches into url_state takes minutes
_MAX_BACKOFF_S = 2.0

_STAGING_DDL = """
CREATE TEMP TABLE IF NOT EXISTS stage_fetches (LIKE fetches) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS stage_links (LIKE links) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS stage_findings (LIKE findings) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS stage_probes (LIKE probes) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS stage_column_observations (LIKE column_observations) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS stage_sites (LIKE sites) ON COMMIT DELETE ROWS;
DO $$ BEGIN
    -- run_edges arrives with schema version 2; a writer must still start on a version-1 database.
    IF to_regclass('run_edges') IS NOT NULL THEN
        CREATE TEMP TABLE IF NOT EXISTS stage_run_edges (LIKE run_edges) ON COMMIT DELETE ROWS;
    END IF;
END $$;
"""

_FETCH_COLUMNS = (
    "run_id", "seq", "site", "kind", "url", "final_url", "redirect_chain", "method", "status", "verdict",
    "reason", "detail", "dns_ms", "connect_ms", "first_byte_ms", "total_ms", "bytes", "truncated",
    "content_type", "content_hash", "etag", "last_modified", "attempts", "depth", "started_at",
    "observed_at",
)
_LINK_COLUMNS = (
    "run_id", "seq", "site", "source_url", "target_url", "anchor_text", "element", "on_homepage", "verdict",
    "reason", "observed_at",
)
_PROBE_COLUMNS = ("run_id", "seq", "site", "url", "observed_at", "ok", "status", "reason", "total_ms")
_FINDING_COLUMNS = ("run_id", "seq", "site", "check", "severity", "url", "detail", "observed_at")
_COLUMN_COLUMNS = (
    "run_id", "seq", "site", "column_url", "name", "class", "newest_date", "newest_url", "item_count",
    "date_source", "observed_at",
)
_EDGE_COLUMNS = (
    "run_id", "seq", "site", "source_url", "target_url", "anchor_text", "element", "on_homepage", "observed_at",
)
_SITE_COLUMNS = ("code", "name", "homepage", "organizer", "kind", "region", "updated_at")

_UPSERT_SITES = """
INSERT INTO sites AS s
SELECT DISTINCT ON (code) * FROM stage_sites ORDER BY code, updated_at DESC
ON CONFLICT (code) DO UPDATE SET
    name = EXCLUDED.name, homepage = EXCLUDED.homepage, organizer = EXCLUDED.organizer,
    kind = EXCLUDED.kind, region = EXCLUDED.region, updated_at = EXCLUDED.updated_at
WHERE EXCLUDED.updated_at >= s.updated_at
"""


class StoreError(RuntimeError):
    """Records could not be stored; raised by close_run (and by write once the sink has failed)."""


@dataclass(slots=True)
class _Drain:
    """Queue marker: flush everything before it, then resolve ``done``; with ``stop`` also exit."""

    done: asyncio.Future[None]
    stop: bool = False


class _Batches(dict[type, list[Any]]):
    """Records waiting to be written, by record type."""

    def size(self) -> int:
        return sum(map(len, self.values()))


@dataclass(slots=True, eq=False)
class _Lane:
    """One connection of the writer. Batches go to whichever lane is idle, so while one lane's
    batch is being stored by the server the next batch is encoded and sent on another."""

    conn: asyncpg.Connection | None = None
    lost: bool = False  # the last connection died: the next successful connect is a reconnect


def _transient(exc: BaseException) -> bool:
    """Errors a fresh connection and a replay can cure (as opposed to bad data or SQL)."""
    return isinstance(
        exc,
        OSError
        | TimeoutError
        | asyncpg.PostgresConnectionError  # connection lost / does not exist / rejected
        | asyncpg.exceptions.OperatorInterventionError  # admin shutdown, terminate, cannot connect now
        | asyncpg.exceptions.TransactionRollbackError  # deadlock, serialization failure
        | asyncpg.exceptions.TooManyConnectionsError
        # asyncpg's protocol state is confused after a link dies mid-COPY; the connection is discarded.
        | asyncpg.exceptions.InternalClientError,
    ) or type(exc) is asyncpg.InterfaceError  # exactly: "connection is closed"; subclasses are data errors


class PostgresSink:
    """Sink writing to Postgres. Counters (for metrics) are plain attributes; see ``queue_depth``."""

    def __init__(
        self,
        dsn: str,
        queue_size: int = 10_000,
        batch_size: int = 2_000,
        flush_interval: float = 0.5,
        *,
        retry_for: float = 300.0,
        connections: int = 2,
    ) -> None:
        self.dsn = dsn
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.retry_for = retry_for  # give up after this many seconds of failing to reach the database
        # Two connections overlap encoding one batch with the server storing the previous one.
        self._queue: asyncio.Queue[Record | _Drain] = asyncio.Queue(queue_size)
        self._lanes = [_Lane() for _ in range(connections)]
        self._idle: asyncio.Queue[_Lane] = asyncio.Queue()
        for lane in self._lanes:
            self._idle.put_nowait(lane)
        self._inflight: set[asyncio.Task[None]] = set()
        # Record type → its writer, in flush order. Sites first: views join run_sites, so a run's
        # sites should land before its results.
        self._writers: dict[type, Callable[[_Lane, Sequence[Any]], Coroutine[Any, Any, None]]] = {
            SiteRecord: self._write_sites, FetchRecord: self._write_fetches, LinkRecord: self._write_links,
            FindingRecord: self._write_findings, ColumnRecord: self._write_columns,
            DeferredLinkRecord: self._write_edges,
        }
        self._task: asyncio.Task[None] | None = None
        self._run: RunInfo | None = None
        self._months: set[tuple[int, int]] = set()  # (year, month) whose partitions exist
        self._failure: BaseException | None = None  # the database is gone for good: stop trying
        self._errors: list[BaseException] = []  # batches that could not be stored
        # Metrics.
        self.rows_written: dict[str, int] = dict.fromkeys(
            ("fetches", "probes", "links", "findings", "column_observations", "sites"), 0)
        self.rows_duplicate = 0  # rows already stored (replays after a lost COMMIT acknowledgement)
        self.rows_failed = 0  # rows in batches that could not be stored (see close_run's error)
        self.batches = 0
        self.reconnects = 0
        self.db_errors = 0

    @property
    def queue_depth(self) -> int:
        return self._queue.qsize()

    def stats(self) -> SinkStats:
        return SinkStats(self.queue_depth, dict(self.rows_written), self.db_errors, self.reconnects)

    # ----------------------------------------------------------------------- Sink protocol

    async def open_run(self, kind: str, settings: dict[str, Any]) -> RunInfo:
        if self._task is not None:
            raise RuntimeError("PostgresSink: a run is already open")
        self._failure = None
        self._errors = []
        worker = f"{socket.gethostname()}:{os.getpid()}"
        settings_json = orjson.dumps(settings, default=str).decode()
        row = await self._with_retry(self._lanes[0], lambda conn: conn.fetchrow(
            "INSERT INTO runs (kind, settings, worker) VALUES ($1, $2::jsonb, $3) RETURNING id, started_at",
            kind, settings_json, worker))
        self._run = RunInfo(run_id=row["id"], kind=kind, started_at=row["started_at"], settings=settings)
        self._task = asyncio.create_task(self._consume(), name="postgres-sink")
        return self._run

    async def write(self, record: Record) -> None:
        if self._failure is not None:
            raise StoreError(f"the Postgres store failed: {self._failure}") from self._failure
        if self._task is None or self._task.done():
            raise StoreError("PostgresSink.write outside an open run (or its writer task died)")
        await self._queue.put(record)

    async def close_run(self, run: RunInfo, status: str, counts: dict[str, int]) -> None:
        """Drain and flush everything written, record the run's end, release the connection.

        Raises StoreError (after recording the run's end where possible) when any record could
        not be stored or the writer task died.
        """
        task, self._task = self._task, None
        try:
            if task is not None:
                crash = await self._drain_and_stop(task)
                if crash is not None:
                    self._errors.append(crash)
            if self._failure is None:
                # url_state is folded in once per run rather than per batch: the set-based upsert
                # costs a fraction of doing it batch by batch, and only the next run reads it.
                await self._with_retry(self._lanes[0], lambda conn: conn.fetchval(
                    "SELECT govcrawl_refresh_url_state($1)", run.run_id, timeout=URL_STATE_TIMEOUT_S))
                counts_json = orjson.dumps(counts).decode()
                await self._with_retry(self._lanes[0], lambda conn: conn.execute(
                    """UPDATE runs SET ended_at = now(), heartbeat_at = now(), status = $2,
                                      counts = $3::jsonb WHERE id = $1""",
                    run.run_id, status, counts_json))
        finally:
            for lane in self._lanes:
                await self._close_connection(lane)
        problems = ([self._failure] if self._failure else []) + self._errors
        if problems:
            raise StoreError(
                f"{self.rows_failed} records not stored; first error: {problems[0]!r}"
            ) from problems[0]

    # ----------------------------------------------------------------------- shared runs (scale-out)

    async def attach(self, run: RunInfo) -> None:
        """Write into a run someone else opened (a worker's share of a shared run); see ``detach``."""
        if self._task is not None:
            raise RuntimeError("PostgresSink: a run is already open")
        self._failure = None
        self._errors = []
        self._run = run
        self._task = asyncio.create_task(self._consume(), name="postgres-sink")

    async def detach(self) -> None:
        """Drain and flush everything written since ``attach``; the ``runs`` row is left alone.

        Raises StoreError when any record could not be stored: the caller must not count the
        work behind those records as done.
        """
        task, self._task = self._task, None
        try:
            if task is not None:
                crash = await self._drain_and_stop(task)
                if crash is not None:
                    self._errors.append(crash)
        finally:
            for lane in self._lanes:
                await self._close_connection(lane)
        problems = ([self._failure] if self._failure else []) + self._errors
        if problems:
            raise StoreError(
                f"{self.rows_failed} records not stored; first error: {problems[0]!r}"
            ) from problems[0]

    # ----------------------------------------------------------------------- consumer task

    async def _drain_and_stop(self, task: asyncio.Task[None]) -> BaseException | None:
        marker = _Drain(asyncio.get_running_loop().create_future(), stop=True)
        put = asyncio.ensure_future(self._queue.put(marker))
        # The task can only be done here if it crashed; then nobody would ever take the marker.
        await asyncio.wait({put, task}, return_when=asyncio.FIRST_COMPLETED)
        if not put.done():
            put.cancel()
        await asyncio.wait({task})
        return None if task.cancelled() else task.exception()

    async def _consume(self) -> None:
        loop = asyncio.get_running_loop()
        batches = _Batches()
        first_at = 0.0  # when the oldest buffered record arrived
        last_beat = loop.time()
        while True:
            wait = first_at + self.flush_interval - loop.time() if batches.size() else HEARTBEAT_INTERVAL_S
            item: Record | _Drain | None = None
            if wait > 0:
                try:
                    async with asyncio.timeout(wait):
                        item = await self._queue.get()
                except TimeoutError:
                    pass
            if item is None:  # flush interval or heartbeat interval elapsed
                await self._flush(batches)
            else:
                if not batches.size():
                    first_at = loop.time()
                if await self._take(item, batches):
                    return
                # Take what is already queued without yielding: per-record cost stays tiny.
                while batches.size() < self.batch_size and not self._queue.empty():
                    if await self._take(self._queue.get_nowait(), batches):
                        return
            if loop.time() - last_beat >= HEARTBEAT_INTERVAL_S:
                await self._submit(self._heartbeat, ())
                last_beat = loop.time()

    async def _take(self, item: Record | _Drain, batches: _Batches) -> bool:
        """Buffer one record (flushing a full batch); returns True when told to stop."""
        if isinstance(item, _Drain):
            await self._flush(batches)
            while self._inflight:
                await asyncio.wait(set(self._inflight))
            if not item.done.done():  # close_run may have been cancelled meanwhile
                item.done.set_result(None)
            return item.stop
        kind = type(item)
        batch = batches.setdefault(kind, [])
        batch.append(item)
        if len(batch) >= self.batch_size and kind is not SiteRecord:  # sites go first, at flush time
            await self._submit(self._writers[kind], batch)
            batches[kind] = []
        return False

    async def _flush(self, batches: _Batches) -> None:
        for kind, write in self._writers.items():  # in order: sites first (see _writers)
            if batches.get(kind):
                await self._submit(write, batches[kind])
        batches.clear()

    async def _submit(self, write: Callable[[_Lane, Sequence[Any]], Coroutine[Any, Any, None]],
                      records: Sequence[Any]) -> None:
        """Hand a batch to an idle lane; waits while every lane is busy (that is the backpressure)."""
        lane = await self._idle.get()
        task = asyncio.create_task(self._on_lane(lane, write, records))
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)

    async def _on_lane(self, lane: _Lane, write: Callable[[_Lane, Sequence[Any]], Coroutine[Any, Any, None]],
                       records: Sequence[Any]) -> None:
        try:
            await self._guard(write(lane, records), len(records))
        finally:
            self._idle.put_nowait(lane)

    async def _guard(self, write: Coroutine[Any, Any, None], rows: int) -> None:
        """Run one batch write; a failure is recorded for close_run instead of killing the task."""
        if self._failure is not None:  # the database is gone: count the records, don't wait again
            write.close()
            self.rows_failed += rows
            return
        try:
            await write
        except StoreError as exc:  # retry_for ran out
            self._failure = exc
            self.rows_failed += rows
        except Exception as exc:  # bad data or SQL: this batch is lost, later ones may be fine
            self.db_errors += 1
            self.rows_failed += rows
            self._errors.append(exc)

    # ----------------------------------------------------------------------- batch writers

    async def _write_fetches(self, lane: _Lane, records: Sequence[FetchRecord]) -> None:
        rows = [
            (r.run_id, r.seq, r.site, r.kind, r.url, r.final_url, r.redirect_chain, r.method, r.status,
             r.verdict, r.reason, r.detail, r.dns_ms, r.connect_ms, r.first_byte_ms, r.total_ms, r.bytes,
             r.truncated, r.content_type, r.content_hash, r.etag, r.last_modified, r.attempts, r.depth,
             r.started_at, r.observed_at)
            for r in records
        ]
        probes = [
            (r.run_id, r.seq, r.site, r.url, r.observed_at, r.verdict is Verdict.OK, r.status, r.reason,
             r.total_ms)
            for r in records if r.kind is FetchKind.PROBE
        ]
        await self._ensure_partitions(lane, records)
        await self._store(lane, "fetches", _FETCH_COLUMNS, rows)
        if probes:
            await self._store(lane, "probes", _PROBE_COLUMNS, probes)

    async def _write_links(self, lane: _Lane, records: Sequence[LinkRecord]) -> None:
        rows = [
            (r.run_id, r.seq, r.site, r.source_url, r.target_url, r.anchor_text, r.element, r.on_homepage,
             r.verdict, r.reason, r.observed_at)
            for r in records
        ]
        await self._ensure_partitions(lane, records)
        await self._store(lane, "links", _LINK_COLUMNS, rows)

    async def _write_findings(self, lane: _Lane, records: Sequence[FindingRecord]) -> None:
        rows = [
            (r.run_id, r.seq, r.site, r.check, r.severity, r.url,
             orjson.dumps(r.detail, default=str, option=orjson.OPT_NON_STR_KEYS).decode(), r.observed_at)
            for r in records
        ]
        await self._ensure_partitions(lane, records)
        await self._store(lane, "findings", _FINDING_COLUMNS, rows)

    async def _write_columns(self, lane: _Lane, records: Sequence[ColumnRecord]) -> None:
        rows = [
            (r.run_id, r.seq, r.site, r.column_url, r.name, r.column_class, r.newest_date, r.newest_url,
             r.item_count, r.date_source, r.observed_at)
            for r in records
        ]
        await self._ensure_partitions(lane, records)
        await self._store(lane, "column_observations", _COLUMN_COLUMNS, rows)

    async def _write_edges(self, lane: _Lane, records: Sequence[DeferredLinkRecord]) -> None:
        rows = [
            (r.run_id, r.seq, r.site, r.source_url, r.target_url, r.anchor_text, r.element, r.on_homepage,
             r.observed_at)
            for r in records
        ]
        await self._store(lane, "run_edges", _EDGE_COLUMNS, rows)  # not partitioned: a per-run work table

    async def _store(self, lane: _Lane, table: str, columns: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
        """Write one batch of a time-series table exactly once.

        First try: COPY straight into the table (about twice as fast as going through staging).
        A retry after a lost connection, or a batch that hits the primary key (some rows are
        already stored: the first try committed but its acknowledgement was lost, or a caller
        re-sent records), goes through staging + ON CONFLICT DO NOTHING instead.
        """
        direct = True
        column_list = ", ".join(f'"{c}"' for c in columns)

        async def attempt(conn: asyncpg.Connection) -> None:
            nonlocal direct
            if direct:
                direct = False
                try:
                    async with conn.transaction():
                        await conn.copy_records_to_table(table, records=rows, columns=columns)
                except asyncpg.UniqueViolationError:
                    pass
                else:
                    self._count(table, len(rows), len(rows))
                    return
            async with conn.transaction():
                await conn.copy_records_to_table(f"stage_{table}", records=rows, columns=columns)
                status = await conn.execute(
                    f"INSERT INTO {table} ({column_list}) SELECT {column_list} FROM stage_{table} "
                    "ON CONFLICT DO NOTHING")
            self._count(table, int(status.rsplit(" ", 1)[-1]), len(rows))  # "INSERT 0 <n>"

        await self._with_retry(lane, attempt)

    async def _write_sites(self, lane: _Lane, records: Sequence[SiteRecord]) -> None:
        assert self._run is not None
        run_id = self._run.run_id
        rows = [(r.code, r.name, r.url, r.organizer, r.kind, r.region, r.observed_at) for r in records]

        async def attempt(conn: asyncpg.Connection) -> None:
            async with conn.transaction():
                await conn.copy_records_to_table("stage_sites", records=rows, columns=_SITE_COLUMNS)
                status = await conn.execute(_UPSERT_SITES)
                await conn.execute(
                    "INSERT INTO run_sites (run_id, site) SELECT DISTINCT $1::bigint, code FROM stage_sites "
                    "ON CONFLICT DO NOTHING", run_id)
            self._count("sites", int(status.rsplit(" ", 1)[-1]), len(rows))

        await self._with_retry(lane, attempt)

    def _count(self, table: str, inserted: int, sent: int) -> None:
        # run_edges only appears once a worker of a shared run writes some (see attach).
        self.rows_written[table] = self.rows_written.get(table, 0) + inserted
        if table != "sites":  # a site upsert that changes nothing is not a duplicate
            self.rows_duplicate += sent - inserted
        self.batches += 1

    async def _ensure_partitions(
        self, lane: _Lane, records: Sequence[FetchRecord | LinkRecord | FindingRecord | ColumnRecord]
    ) -> None:
        """Create the monthly partitions a batch needs before writing it (not the DEFAULT one).

        Only months that occur: one stray old timestamp must not create every month in between.
        """
        lo = min(r.observed_at for r in records).astimezone(UTC)
        hi = max(r.observed_at for r in records).astimezone(UTC)
        if (lo.year, lo.month) == (hi.year, hi.month):
            months = {(lo.year, lo.month)}
        else:
            months = {(t.year, t.month) for t in (r.observed_at.astimezone(UTC) for r in records)}
        for year, month in sorted(months - self._months):
            await self._create_month(lane, datetime(year, month, 1, tzinfo=UTC))
            self._months.add((year, month))

    async def _create_month(self, lane: _Lane, start: datetime) -> None:
        await self._with_retry(lane, lambda conn: conn.execute("SELECT govcrawl_ensure_partitions($1, $1)", start))

    async def _heartbeat(self, lane: _Lane, _: Sequence[Any]) -> None:
        if self._run is not None:
            run_id = self._run.run_id
            await self._with_retry(
                lane, lambda conn: conn.execute("UPDATE runs SET heartbeat_at = now() WHERE id = $1", run_id))

    # ----------------------------------------------------------------------- connection

    async def _with_retry(self, lane: _Lane, op: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        """Run ``op`` on the lane's live connection, reconnecting with backoff while errors are transient.

        ``op`` must be safe to repeat: every write here is one transaction with an idempotent key.
        """
        loop = asyncio.get_running_loop()
        started = loop.time()
        delay = 0.05
        while True:
            try:
                return await op(await self._connection(lane))
            except Exception as exc:
                if not _transient(exc):
                    raise
                self.db_errors += 1
                lane.lost = True
                if lane.conn is not None:
                    # terminate(), not close(): the link may be dead, and a polite close would wait on it.
                    lane.conn.terminate()
                    lane.conn = None
                if loop.time() - started > self.retry_for:
                    raise StoreError(f"database unreachable for {self.retry_for:.0f}s: {exc!r}") from exc
                await asyncio.sleep(delay)
                delay = min(delay * 2, _MAX_BACKOFF_S)

    async def _connection(self, lane: _Lane) -> asyncpg.Connection:
        if lane.conn is None or lane.conn.is_closed():
            conn = await asyncpg.connect(
                self.dsn, timeout=10, command_timeout=120,
                server_settings={"application_name": "govcrawl-writer"})
            try:
                await conn.execute(_STAGING_DDL)
            except BaseException:
                conn.terminate()
                raise
            lane.conn = conn
            if lane.lost:
                self.reconnects += 1
                lane.lost = False
        return lane.conn

    async def _close_connection(self, lane: _Lane) -> None:
        if lane.conn is not None:
            conn, lane.conn = lane.conn, None
            try:
                await asyncio.wait_for(conn.close(), timeout=5)
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
                conn.terminate()
