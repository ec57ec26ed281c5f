"""A worker of a shared run: take a lease, do it, mark it done; until the run is closed.

``govcrawl worker --dsn DSN --run ID --sites sites.csv`` runs one. Any number of them, on any
machines that reach the database, share a run made by ``plan_run``; each brings the same registry
file, and the crawl settings come from the run itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
from collections import Counter
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path

import asyncpg
import orjson

from crawler.config import Settings
from crawler.engine import Crawl
from crawler.errors import StoreError
from crawler.metrics import Metrics
from crawler.registry import load_registry
from crawler.scale.finalize import finalize
from crawler.scale.leases import Lease, LeaseBook, LeaseLost, Phase
from crawler.scale.plan import plan_targets, settings_of_run
from crawler.store.postgres import PostgresSink
from crawler.store.prior import PriorPage, load_prior_pages
from crawler.types import RunInfo, Site

log = logging.getLogger("govcrawl.worker")

_DONE = {Phase.SITES: "sites", Phase.PLAN: "plan", Phase.TARGETS: "targets", Phase.FINALIZE: "finalize"}
_RENEW_ERRORS = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)


@dataclass(frozen=True, slots=True)
class WorkerSummary:
    worker_id: str
    run_id: int
    sites: int  # SITES leases this worker completed
    targets: int  # TARGETS leases completed
    planned: bool  # this worker planned the targets phase
    finalized: bool  # this worker closed the run
    given_up: int  # leases released unfinished (stop, store failure) or lost (fenced)
    run_status: str  # the run's status when the worker left


async def work(dsn: str, settings: Settings, sites: Sequence[Site], run_id: int, *, worker_id: str,
               lease_ttl: float = 30.0, heartbeat: float = 5.0, stop: asyncio.Event | None = None,
               today: date | None = None, poll: float = 1.0) -> WorkerSummary:
    """Work on run ``run_id`` until it is closed (or ``stop`` is set); see docs/scale.md."""
    if not 0 < heartbeat < lease_ttl / 2:
        raise ValueError("heartbeat must be shorter than half the lease TTL (the self-fencing margin)")
    stop = stop or asyncio.Event()
    tally: Counter[str] = Counter()
    async with LeaseBook(dsn, run_id, worker_id) as book:
        worker = _Worker(dsn, settings, sites, await book.run_info(), book, today, lease_ttl, heartbeat, stop)
        while not stop.is_set():
            lease = await book.acquire(lease_ttl)
            if lease is None:
                fleet = await book.fleet()
                if not fleet.running or fleet.open_leases == 0:
                    break
                # Stay until the run closes: a lease whose holder dies must find a taker.
                wait = poll if fleet.next_expiry is None else min(poll, max(fleet.next_expiry, 0.05))
                await _pause(stop, wait)
                continue
            tally[await worker.handle(lease)] += 1
        status = await book.run_status()
    return WorkerSummary(worker_id, run_id, tally["sites"], tally["targets"], tally["plan"] > 0,
                         tally["finalize"] > 0, tally["given_up"], status or "missing")


class _Worker:
    def __init__(self, dsn: str, settings: Settings, sites: Sequence[Site], run: RunInfo, book: LeaseBook,
                 today: date | None, ttl: float, heartbeat: float, stop: asyncio.Event) -> None:
        self.dsn = dsn
        self.settings = settings
        self.sites = list(sites)
        self.by_code = {site.code: site for site in sites}
        self.run = run
        self.book = book
        self.today = today
        self.ttl = ttl
        self.heartbeat = heartbeat
        self.stop = stop
        self.metrics = Metrics()
        self.sink = PostgresSink(dsn, queue_size=settings.sink_queue)

    async def handle(self, lease: Lease) -> str:
        """Do one lease; returns what it came to: the phase's name, or "given_up"."""
        log.info("lease %s (phase %s, %s) attempt %s", lease.id, lease.phase.name.lower(), lease.key, lease.attempt)
        fenced = asyncio.Event()
        keeper = asyncio.create_task(self._keep(lease, fenced))
        try:
            if lease.phase in (Phase.SITES, Phase.TARGETS):
                done = await self._crawl(lease, fenced)
            elif lease.phase is Phase.PLAN:
                await self.book.call(lambda c: plan_targets(c, self.settings, self.sites, lease))
                done = True
            else:
                await self.book.call(lambda c: finalize(c, lease, keep_all_links=self.settings.keep_all_links))
                done = True
        except LeaseLost:
            log.warning("lease %s attempt %s was taken over; its work is discarded", lease.id, lease.attempt)
            return "given_up"
        except StoreError as exc:
            log.error("lease %s: results not stored (%s); giving it back", lease.id, exc)
            done = False
        except BaseException:
            await _quietly(self.book.release(lease))
            raise
        finally:
            keeper.cancel()
        if not done:
            await self.book.release(lease)
            return "given_up"
        return _DONE[lease.phase]

    async def _crawl(self, lease: Lease, fenced: asyncio.Event) -> bool:
        removed = await self.book.discard_earlier_attempts(lease)
        if removed:
            log.info("lease %s: removed %d rows of earlier attempts", lease.id, removed)
        if lease.phase is Phase.SITES:
            # Only the lease's sites: a link into another group's site is deferred like any foreign
            # link, so no host of another lease is crawled from here.
            group = [self.by_code[code] for code in lease.sites]
            prior = await load_prior_pages(self.dsn, lease.sites) if self.settings.conditional else {}
            crawl = self._new_crawl(lease, group, prior)
            seeds = [crawl.frontier.seed(state) for state in crawl.states]
        else:
            # Every site: targets are checked on behalf of pages of any site.
            crawl = self._new_crawl(lease, self.sites, {})
            seeds = [crawl.target_seed(target.url, target.via) for target in lease.targets]
        await self.sink.attach(self.run)
        watch = asyncio.create_task(_stop_on(crawl, self.stop, fenced))
        try:
            status = await crawl.crawl(self.run, seeds)
        finally:
            watch.cancel()
            await self.sink.detach()  # every row is committed before the lease can count as done
        if status != "succeeded" or fenced.is_set():
            if fenced.is_set():
                raise LeaseLost(lease)
            return False
        if not await self.book.complete(lease, crawl.counts):
            raise LeaseLost(lease)
        return True

    def _new_crawl(self, lease: Lease, sites: Sequence[Site], prior: Mapping[str, PriorPage]) -> Crawl:
        return Crawl(self.settings, sites, self.sink, self.metrics, kind=self.run.kind, today=self.today,
                     seq_base=lease.seq_base, defer_foreign=True, prior=prior)

    async def _keep(self, lease: Lease, fenced: asyncio.Event) -> None:
        """Renew the lease; fence (stop the work) once it is lost or renewals failed for TTL/2.

        Stopping at half the TTL leaves the other half for the crawl to wind down (a few seconds)
        before anyone else may take the lease, so two attempts never crawl the same hosts at once.
        """
        loop = asyncio.get_running_loop()
        renewed = loop.time()
        while True:
            await asyncio.sleep(self.heartbeat)
            try:
                if not await self.book.renew(lease, self.ttl):
                    log.warning("lease %s is no longer ours: stopping its work", lease.id)
                    fenced.set()
                    return
                renewed = loop.time()
            except _RENEW_ERRORS as exc:
                if loop.time() - renewed > self.ttl / 2:
                    log.error("lease %s: renewals failing for %.1fs (%r): stopping its work",
                              lease.id, loop.time() - renewed, exc)
                    fenced.set()
                    return


async def _stop_on(crawl: Crawl, *events: asyncio.Event) -> None:
    waits = [asyncio.create_task(event.wait()) for event in events]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        crawl.stop()
    finally:
        for task in waits:
            task.cancel()


async def _pause(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


async def _quietly(op: Awaitable[object]) -> None:
    try:
        await op
    except Exception:
        log.exception("while giving a lease back")


# ---------------------------------------------------------------------- entry point


def worker_argv(dsn: str, run_id: int, sites: Path, *, worker_id: str | None = None, lease_ttl: float = 30.0,
                heartbeat: float = 5.0, today: date | None = None) -> list[str]:
    """The command line of a worker process (for ``govcrawl run --workers N``, tests, benchmarks)."""
    argv = [sys.executable, "-m", "crawler", "worker", "--dsn", dsn, "--run", str(run_id), "--sites", str(sites),
            "--lease-ttl", str(lease_ttl), "--heartbeat", str(heartbeat)]
    if worker_id is not None:
        argv += ["--worker-id", worker_id]
    if today is not None:
        argv += ["--today", today.isoformat()]
    return argv


async def worker_command(dsn: str, run_id: int, sites_path: Path, *, worker_id: str | None = None,
                         lease_ttl: float = 30.0, heartbeat: float = 5.0, today: date | None = None) -> int:
    """Run one worker until the run closes; the exit code (0 done, 1 run failed, 128+N signal N)."""
    settings = await settings_of_run(dsn, run_id)
    sites = load_registry(sites_path)
    stop, signals = asyncio.Event(), list[int]()
    loop = asyncio.get_running_loop()

    def on_signal(signum: int) -> None:
        signals.append(signum)
        stop.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, on_signal, signum)
    summary = await work(dsn, settings, sites, run_id, worker_id=worker_id or f"{socket.gethostname()}:{os.getpid()}",
                         lease_ttl=lease_ttl, heartbeat=heartbeat, stop=stop, today=today)
    sys.stdout.write(orjson.dumps({"event": "worker_finished", **asdict(summary)}).decode() + "\n")
    if signals:
        return 128 + signals[0]
    return 1 if summary.run_status == "failed" else 0
