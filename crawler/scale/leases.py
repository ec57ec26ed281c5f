"""Leases: the units of work of a shared run, handed to one worker at a time through Postgres.

A lease row is taken with ``SELECT … FOR UPDATE SKIP LOCKED`` (workers never wait on each other's
locks), kept alive by renewing ``expires_at``, and taken over by anyone once it has expired. Every
take bumps ``attempt`` — the fencing token: renewing or completing a lease only works for the
attempt that holds it — and draws a fresh *seq block*, so the rows each attempt writes can be
found (and thrown away) by seq range alone.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypeVar

import asyncpg
import orjson

from crawler.frontier.frontier import Edge
from crawler.types import Element, RunInfo

T = TypeVar("T")

BLOCK_BITS = 32  # an attempt writes seq numbers in [block << 32, (block + 1) << 32)
# The tables an attempt writes rows to (sites/run_sites are upserts: redoing them is harmless).
ATTEMPT_TABLES = ("fetches", "links", "findings", "column_observations", "run_edges")
_RETRY_FOR_S = 60.0
_MAX_BACKOFF_S = 2.0


class Phase(enum.IntEnum):
    SITES = 1  # crawl a group of sites sharing server IPs
    PLAN = 2  # choose the deferred targets still to check; insert their TARGETS leases
    TARGETS = 3  # check foreign URLs on one server IP
    FINALIZE = 4  # judge deferred edges, fold url_state, close the run


@dataclass(frozen=True, slots=True)
class Target:
    """A deferred foreign URL and the one edge it is checked on behalf of (evidence for findings)."""

    url: str
    via: Edge

    def to_json(self) -> dict[str, Any]:
        via = self.via
        return {"url": self.url, "site": via.site, "source": via.source, "text": via.text,
                "element": str(via.element), "on_homepage": via.on_homepage}

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Target:
        return cls(raw["url"], Edge(raw["site"], raw["source"], raw["text"], Element(raw["element"]),
                                    raw["on_homepage"]))


@dataclass(frozen=True, slots=True)
class Lease:
    id: int
    run_id: int
    phase: Phase
    key: str  # politeness key (server IPs), or the control task's name
    sites: tuple[str, ...]
    targets: tuple[Target, ...]
    attempt: int  # the fencing token
    block: int  # this attempt's seq block
    earlier_blocks: tuple[int, ...]  # blocks of attempts that died or gave up

    @property
    def seq_base(self) -> int:
        return self.block << BLOCK_BITS


@dataclass(frozen=True, slots=True)
class FleetState:
    running: bool  # the run is still open
    open_leases: int  # leases not done yet
    next_expiry: float | None  # seconds until the earliest held lease expires (≤ 0: expired)


class LeaseLost(RuntimeError):
    """Another attempt holds the lease now: this attempt's work must not count."""


_ACQUIRE = """
WITH candidate AS (
    SELECT l.id FROM run_leases l
    WHERE l.run_id = $1
      AND (l.state = 'pending' OR (l.state = 'leased' AND l.expires_at < now()))
      AND NOT EXISTS (SELECT 1 FROM run_leases e
                      WHERE e.run_id = l.run_id AND e.phase < l.phase AND e.state <> 'done')
      AND EXISTS (SELECT 1 FROM runs r WHERE r.id = l.run_id AND r.status = 'running')
    -- Expired leases first (their work is already late), then the largest (shortest makespan).
    ORDER BY l.phase, (l.state = 'leased') DESC, l.weight DESC, l.id
    LIMIT 1
    FOR UPDATE OF l SKIP LOCKED
)
UPDATE run_leases l
SET state = 'leased', owner = $2, attempt = l.attempt + 1, blocks = l.blocks || nextval('run_lease_blocks'),
    heartbeat_at = now(), expires_at = now() + make_interval(secs => $3)
FROM candidate WHERE l.id = candidate.id
RETURNING l.id, l.phase, l.key, l.sites, l.targets, l.attempt, l.blocks
"""

# Renewing a lease also beats the run's heartbeat: admin.mark_stale_runs must not fail a run
# whose fleet is alive. Lease row first, then run row: the order finalize() locks them in.
_RENEW = """
WITH renewed AS (
    UPDATE run_leases SET heartbeat_at = now(), expires_at = now() + make_interval(secs => $3)
    WHERE id = $1 AND attempt = $2 AND state = 'leased'
    RETURNING run_id
)
UPDATE runs SET heartbeat_at = now() WHERE id IN (SELECT run_id FROM renewed) RETURNING id
"""

_FLEET = """
SELECT r.status = 'running' AS running,
       count(l.id) FILTER (WHERE l.state <> 'done') AS open_leases,
       extract(epoch FROM min(l.expires_at) FILTER (WHERE l.state = 'leased') - now())::float8 AS next_expiry
FROM runs r LEFT JOIN run_leases l ON l.run_id = r.id
WHERE r.id = $1
GROUP BY r.status
"""


def transient(exc: BaseException) -> bool:
    """Errors a new connection can cure (the database restarted, the network blinked)."""
    return isinstance(exc, OSError | TimeoutError | asyncpg.PostgresConnectionError
                      | asyncpg.exceptions.OperatorInterventionError
                      | asyncpg.exceptions.TransactionRollbackError) or type(exc) is asyncpg.InterfaceError


class LeaseBook:
    """One worker's view of a run's leases."""

    def __init__(self, dsn: str, run_id: int, worker_id: str, *, retry_for: float = _RETRY_FOR_S) -> None:
        self.run_id = run_id
        self.worker_id = worker_id
        self.retry_for = retry_for
        # Renewals have a connection of their own: planning and finalizing hold the other for minutes.
        self._main = _Link(dsn)
        self._beat = _Link(dsn)

    async def __aenter__(self) -> LeaseBook:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self._main.close()
        await self._beat.close()

    async def run_info(self) -> RunInfo:
        row = await self.call(lambda c: c.fetchrow("SELECT kind, started_at, settings FROM runs WHERE id = $1",
                                                   self.run_id))
        if row is None:
            raise LookupError(f"run {self.run_id} does not exist")
        return RunInfo(self.run_id, row["kind"], row["started_at"], orjson.loads(row["settings"]))

    async def acquire(self, ttl: float) -> Lease | None:
        row = await self.call(lambda c: c.fetchrow(_ACQUIRE, self.run_id, self.worker_id, ttl))
        if row is None:
            return None
        blocks = tuple(row["blocks"])
        return Lease(row["id"], self.run_id, Phase(row["phase"]), row["key"], tuple(row["sites"]),
                     tuple(Target.from_json(t) for t in orjson.loads(row["targets"])), row["attempt"],
                     blocks[-1], blocks[:-1])

    async def renew(self, lease: Lease, ttl: float) -> bool:
        """Push the lease's expiry out; False when the lease is no longer ours.

        One try, no retry: the caller counts how long renewals have been failing.
        """
        link = self._beat
        try:
            conn = await link.connection()
            row = await conn.fetchrow(_RENEW, lease.id, lease.attempt, ttl, timeout=max(ttl / 4, 0.5))
        except Exception as exc:
            if transient(exc):
                link.drop()
            raise
        return row is not None

    async def complete(self, lease: Lease, counts: Mapping[str, int]) -> bool:
        """Mark the lease done (idempotent for its attempt); False when another attempt holds it now."""
        return await self.call(lambda c: complete(c, lease, counts))

    async def release(self, lease: Lease) -> None:
        """Give a lease back unfinished, for another worker to take at once."""
        await self.call(lambda c: c.execute(
            """UPDATE run_leases SET state = 'pending', expires_at = NULL
               WHERE id = $1 AND attempt = $2 AND state = 'leased'""", lease.id, lease.attempt))

    async def fleet(self) -> FleetState:
        row = await self.call(lambda c: c.fetchrow(_FLEET, self.run_id))
        if row is None:
            return FleetState(False, 0, None)
        return FleetState(row["running"], row["open_leases"], row["next_expiry"])

    async def run_status(self) -> str | None:
        status: str | None = await self.call(lambda c: c.fetchval("SELECT status FROM runs WHERE id = $1",
                                                                  self.run_id))
        return status

    async def discard_earlier_attempts(self, lease: Lease) -> int:
        """Delete what earlier attempts at this lease wrote, so redone work is never stored twice."""
        async def delete(conn: asyncpg.Connection) -> int:
            removed = 0
            async with conn.transaction():
                for block in lease.earlier_blocks:
                    for table in ATTEMPT_TABLES:
                        status = await conn.execute(
                            f"DELETE FROM {table} WHERE run_id = $1 AND seq >= $2 AND seq < $3",
                            self.run_id, block << BLOCK_BITS, (block + 1) << BLOCK_BITS)
                        removed += int(status.rsplit(" ", 1)[-1])
            return removed

        return await self.call(delete) if lease.earlier_blocks else 0

    async def call(self, op: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        """Run ``op`` (one statement or one transaction: safe to repeat) with reconnects and backoff."""
        loop = asyncio.get_running_loop()
        started, delay = loop.time(), 0.05
        link = self._main
        while True:
            async with link.lock:
                try:
                    return await op(await link.connection())
                except Exception as exc:
                    if not transient(exc) or loop.time() - started > self.retry_for:
                        raise
                    link.drop()
            await asyncio.sleep(delay)
            delay = min(delay * 2, _MAX_BACKOFF_S)


class _Link:
    """One connection, made on first use and again after it was lost."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.conn: asyncpg.Connection | None = None
        self.lock = asyncio.Lock()

    async def connection(self) -> asyncpg.Connection:
        if self.conn is None or self.conn.is_closed():
            self.conn = await asyncpg.connect(self.dsn, timeout=10, command_timeout=3600,
                                              server_settings={"application_name": "govcrawl-worker"})
        return self.conn

    def drop(self) -> None:
        if self.conn is not None:
            self.conn.terminate()  # the link may be dead: a polite close would wait on it
            self.conn = None

    async def close(self) -> None:
        if self.conn is not None:
            conn, self.conn = self.conn, None
            try:
                await asyncio.wait_for(conn.close(), timeout=5)
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
                conn.terminate()


async def complete(conn: asyncpg.Connection, lease: Lease, counts: Mapping[str, int]) -> bool:
    """Mark ``lease`` done on ``conn`` (inside the caller's transaction, when it has one)."""
    row = await conn.fetchrow(
        """UPDATE run_leases SET state = 'done', done_at = coalesce(done_at, now()), counts = $3::jsonb
           WHERE id = $1 AND attempt = $2 AND state IN ('leased', 'done')
           RETURNING id""",
        lease.id, lease.attempt, orjson.dumps(dict(counts)).decode())
    return row is not None
