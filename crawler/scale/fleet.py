"""A fleet on one machine: plan a run and start N worker processes on it (``govcrawl run --workers N``).

Workers on other machines can join the same run at any time with ``govcrawl worker --run ID``.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import asyncpg

from crawler.config import Settings
from crawler.scale.plan import plan_run
from crawler.scale.worker import worker_argv
from crawler.store.admin import migrate
from crawler.types import Site


@dataclass(frozen=True, slots=True)
class FleetOutcome:
    run_id: int
    status: str  # the run's status when the last worker exited (running: every worker died)
    exit_codes: tuple[int, ...]


async def run_fleet(dsn: str, settings: Settings, sites: Sequence[Site], sites_path: Path, *, kind: str,
                    workers: int, lease_ttl: float = 30.0, heartbeat: float = 5.0,
                    today: date | None = None) -> FleetOutcome:
    """Plan a run of ``sites`` (read from ``sites_path`` by the workers) and crawl it with local workers."""
    await migrate(dsn)
    run_id = await plan_run(dsn, settings, sites, kind)
    processes = [await asyncio.create_subprocess_exec(
        *worker_argv(dsn, run_id, sites_path, worker_id=f"{n}@fleet-{run_id}", lease_ttl=lease_ttl,
                     heartbeat=heartbeat, today=today),
        stdout=asyncio.subprocess.DEVNULL) for n in range(workers)]
    try:
        codes = tuple([await process.wait() for process in processes])
    finally:
        for process in processes:
            if process.returncode is None:  # we were cancelled: workers stop gracefully on SIGTERM
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGTERM)
    conn = await asyncpg.connect(dsn)
    try:
        status = await conn.fetchval("SELECT status FROM runs WHERE id = $1", run_id)
    finally:
        await conn.close()
    return FleetOutcome(run_id, status, codes)
