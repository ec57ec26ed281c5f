"""The crawl's one place for results and statistics: records for the sink, counts, progress, metrics.

Verdicts are reached in synchronous code, so records wait in an outbox until the worker that made
them awaits the sink (`flush`): a full sink queue then slows the workers down (backpressure).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from crawler.checks.freshness import ColumnObservation
from crawler.frontier.frontier import Edge, Job
from crawler.metrics import Metrics
from crawler.store.sink import Sink
from crawler.types import (
    ColumnRecord,
    DeferredLinkRecord,
    FetchKind,
    FetchRecord,
    FetchResult,
    FindingRecord,
    Link,
    LinkRecord,
    Reason,
    Record,
    RunInfo,
    Severity,
    Site,
    SiteRecord,
    Verdict,
)

MAX_DETAIL = 500  # characters of free-text error detail kept per fetch


@dataclass(slots=True)
class Progress:
    sites_total: int = 0
    sites_done: int = 0
    pages: int = 0
    requests: int = 0
    broken_links: int = 0
    started: float = field(default_factory=time.monotonic)


class Recorder:
    def __init__(self, metrics: Metrics, progress: Progress, seq_base: int = 0) -> None:
        self._run: RunInfo | None = None
        self.metrics = metrics
        self.progress = progress
        self.counts: dict[str, int] = {}
        self.broken_by_site: dict[str, int] = {}
        self._seq = seq_base  # workers sharing a run write disjoint seq ranges
        self._outbox: list[Record] = []

    def bind(self, run: RunInfo) -> None:
        """Records carry the id of the run they belong to: known once the sink opened it."""
        self._run = run

    @property
    def run(self) -> RunInfo:
        assert self._run is not None, "Recorder used before bind(run)"
        return self._run

    def count(self, key: str, n: int = 1) -> None:
        self.counts[key] = self.counts.get(key, 0) + n

    async def flush(self, sink: Sink) -> None:
        while self._outbox:
            batch, self._outbox = self._outbox, []
            for record in batch:
                await sink.write(record)

    def _next(self) -> int:
        self._seq += 1
        return self._seq

    # ------------------------------------------------------------------ records

    def site(self, site: Site) -> None:
        self._outbox.append(SiteRecord(site.code, site.name, site.url, site.organizer, site.kind, site.region,
                                       datetime.now(UTC)))

    def fetch(self, job: Job, result: FetchResult, verdict: Verdict, reason: Reason | None, detail: str,
              content_hash: str | None = None) -> None:
        t = result.timings
        now = datetime.now(UTC)
        self.count(f"fetch_{verdict}")
        if job.kind is FetchKind.PAGE:
            self.progress.pages += 1
            self.metrics.page_done()
        self.metrics.observe_fetch(job.kind, result.status, verdict, reason, result.size, t.total)
        chain = tuple(h.url for h in result.redirects)
        self._outbox.append(FetchRecord(
            run_id=self.run.run_id, seq=self._next(), site=job.site.site.code, kind=job.kind,
            url=job.url, final_url=result.final_url, redirect_chain=(*chain, result.final_url) if chain else (),
            method=result.method, status=result.status, verdict=verdict, reason=reason,
            detail=detail[:MAX_DETAIL], dns_ms=_ms(t.dns), connect_ms=_ms(t.connect),
            first_byte_ms=_ms(t.first_byte), total_ms=_ms(t.total), bytes=result.size,
            truncated=result.truncated, content_type=result.content_type, content_hash=content_hash,
            etag=result.etag, last_modified=result.last_modified, attempts=job.attempt + 1, depth=job.depth,
            started_at=result.started_at or now, observed_at=now,
        ))

    def link(self, edge: Edge, target: str, verdict: Verdict, reason: Reason | None) -> None:
        self._outbox.append(LinkRecord(self.run.run_id, self._next(), edge.site, edge.source, target, edge.text,
                                       edge.element, edge.on_homepage, verdict, reason, datetime.now(UTC)))

    def bad_link(self, edge: Edge, target: str, verdict: Verdict, reason: Reason | None,
                 status: int | None) -> None:
        """A link whose target is not ok: the edge, and the finding an inspector reads."""
        self.link(edge, target, verdict, reason)
        if verdict is Verdict.BROKEN:
            self.progress.broken_links += 1
            self.broken_by_site[edge.site] = self.broken_by_site.get(edge.site, 0) + 1
        self.finding(edge.site, "link.broken" if verdict is Verdict.BROKEN else "link.unverified",
                     Severity.ERROR if verdict is Verdict.BROKEN else Severity.INFO, edge.source,
                     {"target": target, "reason": reason, "status": status, "element": edge.element,
                      "anchor_text": edge.text, "on_homepage": edge.on_homepage})

    def deferred(self, site: str, source: str, link: Link, on_homepage: bool) -> None:
        self._outbox.append(DeferredLinkRecord(self.run.run_id, self._next(), site, source, link.url, link.text,
                                               link.element, on_homepage, datetime.now(UTC)))

    def finding(self, site: str, check: str, severity: Severity, url: str, detail: dict[str, Any]) -> None:
        self.count(f"finding_{check}")
        self.metrics.findings(check, 1)
        self._outbox.append(FindingRecord(self.run.run_id, self._next(), site, check, severity, url, detail,
                                          datetime.now(UTC)))

    def columns(self, site: str, observations: tuple[ColumnObservation, ...]) -> None:
        now = datetime.now(UTC)
        for obs in observations:
            self._outbox.append(ColumnRecord(self.run.run_id, self._next(), site, obs.url, obs.name,
                                             obs.column_class, obs.newest_date, obs.newest_url, obs.item_count,
                                             obs.date_source or "none", now))


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 2)
