"""``govcrawl serve``: the long-running service — nightly crawl on a cron schedule, homepage probes
every few minutes, and /metrics, /healthz, /readyz over HTTP.

Several instances may run against one database (a rolling deploy, a standby): a Postgres advisory
lock, held on a dedicated connection for the whole crawl, lets one of them run a night's crawl and
makes the others skip it. Probes are not locked: every instance probing is harmless (more probes)
and keeps availability measured while one instance is down.

On start: migrate the schema, mark runs a dead process left 'running' as failed, and seed the
last-run gauges from the database so dashboards survive a restart. On SIGTERM/SIGINT (or the
``stop`` event): the crawl is stopped gracefully (its results are kept, the run is recorded as
interrupted), a probe round in flight is cancelled, and ``serve`` returns 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import asyncpg
from aiohttp import web
from croniter import croniter

from crawler.config import Settings, replace
from crawler.engine import Crawl
from crawler.errors import ConfigError, StoreError
from crawler.fetch.client import Fetcher
from crawler.fetch.resolver import Resolver
from crawler.metrics import Metrics, metrics_handler
from crawler.probes import PROBE_LIMIT_S, probe_round, publish
from crawler.runner import RunOutcome, resolve_dsn, run_once
from crawler.store import admin
from crawler.types import Site

log = logging.getLogger("govcrawl.service")

DEFAULT_SCHEDULE = "0 1 * * *"
DEFAULT_TZ = "Asia/Shanghai"
DEFAULT_PROBE_INTERVAL_S = 30 * 60.0  # 48 probes a day: the rule asks for at least 20
NIGHTLY_LOCK_KEY = 0x6F76_6372_6177_6C02  # "ovcrawl\x02"; admin.migrate uses ...01
MAX_SLEEP_S = 60.0  # re-read the wall clock at least this often (NTP steps, suspend/resume)
LOOP_TICK_S = 1.0
LOOP_STALL_S = 10.0  # /healthz fails when the event loop has not ticked for this long
READY_TIMEOUT_S = 3.0
EXIT_OK = 0


# --------------------------------------------------------------------------- schedule


def parse_tz(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"--tz {tz!r}: unknown time zone") from None


def check_schedule(schedule: str) -> None:
    if not croniter.is_valid(schedule):
        raise ConfigError(f"--schedule {schedule!r}: not a cron expression (e.g. '0 1 * * *')")


def next_run(schedule: str, tz: str, now: datetime) -> datetime:
    """The first time strictly after ``now`` matching ``schedule`` read as wall time in ``tz``.

    Returned as an aware datetime in ``tz``. ``now`` must be aware: a naive one would be read in
    whatever zone the host happens to use, which is exactly the ambiguity this function removes.
    """
    if now.tzinfo is None:
        raise ValueError("next_run: now must be timezone-aware")
    check_schedule(schedule)
    local = now.astimezone(parse_tz(tz))
    found: datetime = croniter(schedule, local).get_next(datetime)
    return found


# --------------------------------------------------------------------------- one nightly run


@dataclass(frozen=True, slots=True)
class NightlyAttempt:
    scheduled_for: datetime
    ran: bool
    skipped: str = ""  # why not: "locked" (another instance is crawling) / "done" (this slot already ran)
    outcome: RunOutcome | None = None


@contextlib.asynccontextmanager
async def nightly_lock(dsn: str) -> AsyncIterator[bool]:
    """Try the nightly advisory lock; yields whether it was taken.

    The lock lives as long as its session, so a dedicated connection is held for the whole run:
    if this process dies, Postgres releases the lock with the connection and another instance
    can run the next night.
    """
    conn = await asyncpg.connect(dsn, server_settings={"application_name": "govcrawl-nightly-lock"})
    try:
        taken = bool(await conn.fetchval("SELECT pg_try_advisory_lock($1)", NIGHTLY_LOCK_KEY))
        try:
            yield taken
        finally:
            if taken and not conn.is_closed():
                with contextlib.suppress(OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                    await conn.execute("SELECT pg_advisory_unlock($1)", NIGHTLY_LOCK_KEY)
    finally:
        await conn.close()


async def _slot_already_ran(dsn: str, scheduled_for: datetime) -> bool:
    # The lock serialises runs but does not make them once-a-night: an instance whose clock lags
    # could take the lock just after another finished. A nightly run started since the slot (with
    # a minute of clock skew allowed) means this slot is done.
    conn = await asyncpg.connect(dsn)
    try:
        return bool(await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM runs WHERE kind = 'nightly' AND started_at >= $1)",
            scheduled_for - timedelta(minutes=1)))
    finally:
        await conn.close()


async def attempt_nightly(settings: Settings, sites: list[Site], metrics: Metrics, scheduled_for: datetime,
                          on_start: Callable[[Crawl], None] | None = None) -> NightlyAttempt:
    """Run the nightly crawl for one schedule slot unless another instance has it or had it.

    ``settings.dsn`` must be set (``serve`` resolves the embedded server's DSN up front).
    """
    assert settings.dsn, "attempt_nightly needs a resolved DSN"
    async with nightly_lock(settings.dsn) as taken:
        if not taken:
            log.warning("nightly run for %s skipped: another instance holds the lock", scheduled_for.isoformat())
            return NightlyAttempt(scheduled_for, ran=False, skipped="locked")
        if await _slot_already_ran(settings.dsn, scheduled_for):
            log.warning("nightly run for %s skipped: already run by another instance", scheduled_for.isoformat())
            return NightlyAttempt(scheduled_for, ran=False, skipped="done")
        await admin.mark_stale_runs(settings.dsn)
        outcome = await run_once(settings, sites, "nightly", metrics, on_start)
        log.info("nightly run %s %s", outcome.run_id, outcome.status, extra={"fields": outcome.summary})
        return NightlyAttempt(scheduled_for, ran=True, outcome=outcome)


# --------------------------------------------------------------------------- the service


async def restore_metrics(dsn: str, metrics: Metrics) -> None:
    """Seed last-run gauges of every run kind from the newest finished run of that kind."""
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            """SELECT DISTINCT ON (kind) kind, started_at, ended_at, status,
                      (SELECT max(s.ended_at) FROM runs s
                       WHERE s.kind = r.kind AND s.status = 'succeeded') AS last_success_end
               FROM runs r WHERE status <> 'running'
               ORDER BY kind, started_at DESC, id DESC""")
    finally:
        await conn.close()
    for row in rows:
        metrics.restore_last_run(row["kind"], row["started_at"].timestamp(),
                                 row["ended_at"].timestamp() if row["ended_at"] else None,
                                 row["status"] == "succeeded",
                                 row["last_success_end"].timestamp() if row["last_success_end"] else None)


class Service:
    def __init__(self, settings: Settings, sites: list[Site], metrics: Metrics, *, schedule: str, tz: str,
                 probe_interval_s: float, stop: asyncio.Event) -> None:
        assert settings.dsn
        self.settings = settings
        self.dsn: str = settings.dsn
        self.sites = sites
        self.metrics = metrics
        self.schedule = schedule
        self.tz = tz
        self.probe_interval_s = probe_interval_s
        self.stop = stop
        self.schema_version = 0
        self.engine: Crawl | None = None
        self.last_tick = time.monotonic()

    async def start(self) -> None:
        self.schema_version = await admin.migrate(self.dsn)
        stale = await admin.mark_stale_runs(self.dsn)
        if stale:
            log.warning("marked runs left running by a dead process as failed: %s", stale)
        await restore_metrics(self.dsn, self.metrics)
        self.metrics.retain_sites(site.code for site in self.sites)

    # ------------------------------------------------------------------ loops

    async def nightly_loop(self) -> None:
        while not self.stop.is_set():
            due = next_run(self.schedule, self.tz, datetime.now(UTC))
            log.info("next nightly run at %s", due.isoformat())
            if await self._sleep_until(due):
                return
            try:
                await attempt_nightly(self.settings, self.sites, self.metrics, due, self.on_crawl_start)
            except Exception:  # one bad night (database down, a bug) must not end the service
                log.exception("nightly run for %s failed", due.isoformat())
            finally:
                self.engine = None

    def on_crawl_start(self, engine: Crawl) -> None:
        self.engine = engine
        if self.stop.is_set():  # stopped while the run was being set up: record it as interrupted
            engine.stop()

    async def probe_loop(self) -> None:
        # Fixed cadence from the first round (not interval-after-finish), so a slow round does not
        # push the day's probe count under the rule's minimum.
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while not self.stop.is_set():
            try:
                await self.probe_once()
            except Exception:  # a failed round is a gap in the data, not a reason to stop probing
                log.exception("probe round failed")
            next_at += self.probe_interval_s
            next_at = max(next_at, loop.time())  # after a very long round, do not fire a burst
            if await self._wait_stop(next_at - loop.time()):
                return

    async def probe_once(self) -> None:
        limit = PROBE_LIMIT_S
        # The probe limit is the rule's, not the crawl's timeouts; a fresh resolver per round so
        # DNS changes (and DNS failures) are seen by the next round.
        settings = replace(self.settings, total_timeout=limit, first_byte_timeout=limit,
                           connect_timeout=min(self.settings.connect_timeout, limit))
        resolver = Resolver.from_settings(settings.resolve, settings.nameservers, settings.allow_private)
        async with Fetcher(settings, resolver) as fetcher:
            round_ = await probe_round(self.dsn, self.sites, fetcher, settings=settings.snapshot(), limit_s=limit)
        publish(self.metrics, round_)
        self.metrics.run_finished("probe", round_.status == "succeeded")
        log.info("probe round %s: %d/%d homepages up", round_.run_id, sum(r.ok for r in round_.results),
                 len(round_.results))

    async def tick_loop(self) -> None:
        while True:
            await asyncio.sleep(LOOP_TICK_S)
            self.last_tick = time.monotonic()

    async def _sleep_until(self, due: datetime) -> bool:
        """Wait for ``due`` (wall clock) or the stop event; True when stopped."""
        while (remaining := (due - datetime.now(UTC)).total_seconds()) > 0:
            if await self._wait_stop(min(remaining, MAX_SLEEP_S)):
                return True
        return self.stop.is_set()

    async def _wait_stop(self, seconds: float) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stop.wait(), timeout=max(seconds, 0))
        return self.stop.is_set()

    def shutdown(self) -> None:
        if self.engine is not None:
            self.engine.stop()

    # ------------------------------------------------------------------ HTTP

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/metrics", metrics_handler(self.metrics))
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/readyz", self.readyz)
        return app

    async def healthz(self, request: web.Request) -> web.Response:
        stalled = time.monotonic() - self.last_tick
        ok = stalled < LOOP_STALL_S
        return web.json_response({"status": "ok" if ok else "stalled", "loop_lag_s": round(stalled, 3)},
                                 status=200 if ok else 503)

    async def readyz(self, request: web.Request) -> web.Response:
        try:
            async with asyncio.timeout(READY_TIMEOUT_S):
                version = await admin.schema_version(self.dsn)
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            return web.json_response({"status": "database unreachable", "error": type(exc).__name__}, status=503)
        if version < self.schema_version:
            return web.json_response({"status": "schema not migrated", "schema_version": version}, status=503)
        return web.json_response({"status": "ready", "schema_version": version})


async def serve(settings: Settings, sites: Sequence[Site], *, schedule: str = DEFAULT_SCHEDULE,
                tz: str = DEFAULT_TZ, probe_interval_s: float = DEFAULT_PROBE_INTERVAL_S, host: str = "0.0.0.0",
                port: int = 9108, stop: asyncio.Event | None = None) -> int:
    """Run the service until ``stop`` is set (or SIGTERM/SIGINT when ``stop`` is None); returns 0.

    Raises ConfigError for a bad schedule, time zone or interval, and StoreError when the database
    cannot be used at start (a supervisor restarts the process; later outages are ridden out).
    """
    check_schedule(schedule)
    parse_tz(tz)
    if probe_interval_s <= 0:
        raise ConfigError(f"--probe-interval: must be > 0, got {probe_interval_s}")
    if settings.out is not None:
        raise ConfigError("serve stores results in PostgreSQL; --out is for one-shot runs")
    settings = replace(settings, dsn=resolve_dsn(settings))
    own_signals = stop is None
    stop = stop or asyncio.Event()
    service = Service(settings, list(sites), Metrics(), schedule=schedule, tz=tz,
                      probe_interval_s=probe_interval_s, stop=stop)
    try:
        await service.start()
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise StoreError(f"cannot use PostgreSQL at start: {exc}") from None
    runner = web.AppRunner(service.app(), access_log=None)
    await runner.setup()
    loop = asyncio.get_running_loop()
    tasks: list[asyncio.Task[Any]] = []
    try:
        await web.TCPSite(runner, host, port).start()
        log.info("serving /metrics /healthz /readyz on %s:%d; schedule %r %s; probes every %gs",
                 host, port, schedule, tz, probe_interval_s)
        if own_signals:
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(signum, _on_signal, signum, stop)
        tasks = [asyncio.create_task(service.tick_loop(), name="tick"),
                 asyncio.create_task(service.nightly_loop(), name="nightly"),
                 asyncio.create_task(service.probe_loop(), name="probes")]
        await stop.wait()
        log.info("stopping")
        service.shutdown()
        await _finish(tasks)
    finally:
        for task in tasks:
            task.cancel()
        if own_signals:
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(signum)
        await runner.cleanup()
    return EXIT_OK


def _on_signal(signum: int, stop: asyncio.Event) -> None:
    log.warning("signal %s: stopping; a crawl in progress keeps what it collected", signal.Signals(signum).name)
    stop.set()


async def _finish(tasks: list[asyncio.Task[Any]]) -> None:
    """Let the nightly loop wind down (the engine stops within seconds and closes its run); cancel
    the probe round, which closes its run as interrupted, and the ticker."""
    tick, nightly, probes = tasks
    tick.cancel()
    probes.cancel()
    results = await asyncio.gather(nightly, probes, tick, return_exceptions=True)
    for result in results:
        if isinstance(result, Exception):
            log.error("task ended with an error during shutdown: %r", result)


__all__ = [
    "DEFAULT_PROBE_INTERVAL_S",
    "DEFAULT_SCHEDULE",
    "DEFAULT_TZ",
    "NIGHTLY_LOCK_KEY",
    "NightlyAttempt",
    "Service",
    "attempt_nightly",
    "next_run",
    "nightly_lock",
    "serve",
]
