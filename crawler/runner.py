"""Run one crawl end to end — open the sink, crawl, close — for the CLI, the service and tests alike."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from crawler.config import Settings
from crawler.engine import Crawl
from crawler.errors import StoreError
from crawler.metrics import Metrics
from crawler.store.sink import JsonlSink, Sink
from crawler.types import Site


@dataclass(frozen=True, slots=True)
class RunOutcome:
    run_id: int | None
    status: str  # succeeded / interrupted / failed
    where: str  # where the results went (redacted DSN or file)
    summary: dict[str, Any] = field(default_factory=dict)


def resolve_dsn(settings: Settings) -> str:
    """The configured DSN, or the embedded server's (started on demand)."""
    if settings.dsn:
        return settings.dsn
    from crawler.store.embedded import EmbeddedError, ensure_embedded

    try:
        return ensure_embedded(settings.data_dir)
    except EmbeddedError as exc:
        raise StoreError(f"embedded PostgreSQL: {exc}") from None


async def open_sink(settings: Settings) -> tuple[Sink, str, str | None]:
    """The sink for a run, where it writes (for people), and the DSN when it is PostgreSQL."""
    if settings.out is not None:
        return JsonlSink(settings.out, settings.sink_queue), str(settings.out), None
    from crawler.store.admin import migrate
    from crawler.store.postgres import PostgresSink

    dsn = resolve_dsn(settings)
    try:
        await migrate(dsn)
    except OSError as exc:
        raise StoreError(f"cannot reach PostgreSQL: {exc}") from None
    return PostgresSink(dsn, queue_size=settings.sink_queue), redact(dsn), dsn


def redact(dsn: str) -> str:
    head, at, tail = dsn.partition("@")
    if at and ":" in head.split("//", 1)[-1]:
        return head.rsplit(":", 1)[0] + ":***@" + tail
    return dsn


async def run_once(settings: Settings, sites: list[Site], kind: str, metrics: Metrics,
                   on_start: Callable[[Crawl], None] | None = None) -> RunOutcome:
    sink, where, dsn = await open_sink(settings)
    prior = {}
    if dsn is not None and settings.conditional:
        from crawler.store.prior import load_prior_pages

        prior = await load_prior_pages(dsn, [site.code for site in sites])
    engine = Crawl(settings, sites, sink, metrics, kind=kind, prior=prior)
    if on_start is not None:
        on_start(engine)
    status = await engine.execute()
    p = engine.progress
    summary = {"sites": p.sites_total, "pages": p.pages, "requests": p.requests,
               "broken_links": p.broken_links, "seconds": round(time.monotonic() - p.started, 1),
               **engine.counts}
    return RunOutcome(engine.run.run_id if engine.run else None, status, where, summary)
