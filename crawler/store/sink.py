"""The one interface every result passes through on its way out of the crawl.

A sink owns a bounded queue: ``write`` returns at once while there is room and waits (backpressure)
when there is not, so memory stays bounded however large the crawl. ``close`` drains the queue,
so every record written before it is kept, also when the crawl was interrupted.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Protocol

import orjson

from crawler.types import Record, RunInfo

# Table a record lands in (PostgreSQL), also used to count JSON lines by kind.
TABLE_OF = {"FetchRecord": "fetches", "LinkRecord": "links", "FindingRecord": "findings",
            "ColumnRecord": "column_observations", "SiteRecord": "sites", "DeferredLinkRecord": "run_edges"}


@dataclass(frozen=True, slots=True)
class SinkStats:
    """Totals since the sink was made; metrics turn them into counters."""

    queue_depth: int
    rows_written: Mapping[str, int]
    errors: int = 0
    reconnects: int = 0


class Sink(Protocol):
    async def open_run(self, kind: str, settings: dict[str, Any]) -> RunInfo:
        """Register a run and return it with its id."""
        ...

    async def write(self, record: Record) -> None:
        """Queue one record; waits while the queue is full."""
        ...

    async def close_run(self, run: RunInfo, status: str, counts: dict[str, int]) -> None:
        """Flush everything queued, then record how the run ended."""
        ...

    def stats(self) -> SinkStats:
        """Queue depth and rows written so far (for metrics)."""
        ...


def record_to_json(record: Record) -> bytes:
    return orjson.dumps(
        {"type": type(record).__name__.removesuffix("Record").lower(), **_fields(record)},
        option=orjson.OPT_NON_STR_KEYS,
    )


def _fields(record: Record) -> dict[str, Any]:
    return {name: getattr(record, name) for name in record.__slots__}


class JsonlSink:
    """Writes one JSON object per line. A writer task drains the bounded queue to the file."""

    def __init__(self, path: Path, queue_size: int = 10_000) -> None:
        self.path = path
        self._queue: asyncio.Queue[Record | None] = asyncio.Queue(queue_size)
        self._file: IO[bytes] | None = None
        self._task: asyncio.Task[None] | None = None
        self._written: dict[str, int] = {}

    def stats(self) -> SinkStats:
        return SinkStats(self._queue.qsize(), dict(self._written))

    async def open_run(self, kind: str, settings: dict[str, Any]) -> RunInfo:
        self._file = self.path.open("ab")
        self._task = asyncio.create_task(self._drain())
        run = RunInfo(run_id=int(time.time() * 1000), kind=kind, started_at=datetime.now(UTC), settings=settings)
        self._file.write(orjson.dumps({"type": "run", "run_id": run.run_id, "kind": kind,
                                       "started_at": run.started_at, "settings": settings}) + b"\n")
        return run

    async def write(self, record: Record) -> None:
        await self._queue.put(record)

    async def close_run(self, run: RunInfo, status: str, counts: dict[str, int]) -> None:
        await self._queue.put(None)
        if self._task is not None:
            await self._task
        assert self._file is not None
        self._file.write(orjson.dumps({"type": "run_end", "run_id": run.run_id, "status": status,
                                       "ended_at": datetime.now(UTC), "counts": counts}) + b"\n")
        self._file.close()

    async def _drain(self) -> None:
        assert self._file is not None
        while (record := await self._queue.get()) is not None:
            self._file.write(record_to_json(record) + b"\n")
            table = TABLE_OF[type(record).__name__]
            self._written[table] = self._written.get(table, 0) + 1
