"""Homepage availability probes and the 7-day availability rule (网站无法访问, a veto item).

The rule (docs/operations.md, /work/shared/reference/indicators.md): probe every homepage at least
20 times a day, spaced; a probe not open within 15 s (timeout, DNS/connect error, 4xx/5xx) fails;
a site whose failures / probes over the last 7 days reach 5 % fails the inspection.

One probe round is one run of kind ``probe``: every homepage fetched once, each result stored as a
FetchRecord of kind ``probe`` (the Postgres writer copies those into the ``probes`` table, which is
kept longer than ``fetches``), then the rule evaluated over the window and a ``site.unreachable``
finding written for every site it fails. Keeping the round a run gives probes the same provenance
(settings, worker, heartbeat, stale-run handling) as crawls, and lets ``run_changes`` tell when a
site started or stopped failing the rule.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any

import asyncpg

from crawler.checks.verdict import judge
from crawler.fetch.client import Fetcher
from crawler.metrics import Metrics
from crawler.store.postgres import PostgresSink
from crawler.types import (
    FetchKind,
    FetchRecord,
    FetchResult,
    FindingRecord,
    Reason,
    Severity,
    Site,
    SiteRecord,
    Timings,
    Verdict,
)

PROBE_LIMIT_S = 15.0  # the inspection rule: a homepage not open at 15 s has failed
PROBE_CONCURRENCY = 32  # homepages probed at once; one request per site, so politeness is not at stake
UNREACHABLE = "site.unreachable"


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """One homepage probe, with what a FetchRecord needs (never the body)."""

    site: str
    url: str
    final_url: str
    ok: bool
    verdict: Verdict
    status: int | None
    reason: Reason | None
    detail: str
    total_ms: float | None
    dns_ms: float | None
    connect_ms: float | None
    first_byte_ms: float | None
    size: int
    content_type: str
    redirect_chain: tuple[str, ...]
    started_at: datetime
    observed_at: datetime


@dataclass(frozen=True, slots=True)
class AvailabilityPolicy:
    days: int = 7
    threshold: float = 0.05
    min_probes_per_day: int = 20

    def __post_init__(self) -> None:
        if self.days < 1 or not 0 < self.threshold <= 1 or self.min_probes_per_day < 0:
            raise ValueError(f"invalid availability policy {self}")


@dataclass(frozen=True, slots=True)
class ProbeTally:
    """Probes of one site over a window; ``reasons`` counts the failures by reason."""

    probes: int = 0
    failures: int = 0
    reasons: dict[str, int] = field(default_factory=dict)

    def plus(self, other: ProbeTally) -> ProbeTally:
        reasons = dict(self.reasons)
        for reason, n in other.reasons.items():
            reasons[reason] = reasons.get(reason, 0) + n
        return ProbeTally(self.probes + other.probes, self.failures + other.failures, reasons)


@dataclass(frozen=True, slots=True)
class Availability:
    site: str
    probes: int
    failures: int
    ratio: float  # failures / probes; 0 when there were none
    window_days: int
    threshold: float
    veto: bool  # ratio ≥ threshold
    enough_probes: bool  # ≥ min_probes_per_day a day on average over the window
    reasons: dict[str, int] = field(default_factory=dict)

    @property
    def fails_rule(self) -> bool:
        """Over the threshold on enough evidence: what a site.unreachable finding asserts."""
        return self.veto and self.enough_probes

    def finding_detail(self) -> dict[str, Any]:
        return {"failures": self.failures, "probes": self.probes, "ratio": round(self.ratio, 4),
                "window_days": self.window_days, "threshold": self.threshold, "reasons": self.reasons}


@dataclass(frozen=True, slots=True)
class ProbeRound:
    run_id: int
    status: str  # succeeded / interrupted / failed
    results: tuple[ProbeResult, ...]
    availability: tuple[Availability, ...]  # for the sites of the round


# --------------------------------------------------------------------------- probing


async def probe_sites(sites: Sequence[Site], fetcher: Fetcher, *, limit_s: float = PROBE_LIMIT_S,
                      concurrency: int = PROBE_CONCURRENCY) -> list[ProbeResult]:
    """GET every homepage once, no retry (the rule judges single attempts); results in site order."""
    gate = asyncio.Semaphore(concurrency)

    async def one(site: Site) -> ProbeResult:
        async with gate:
            return await probe_one(site, fetcher, limit_s)

    return list(await asyncio.gather(*(one(site) for site in sites)))


async def probe_one(site: Site, fetcher: Fetcher, limit_s: float) -> ProbeResult:
    started_at = datetime.now(UTC)
    clock = time.perf_counter()
    try:
        # Our own limit on top of the fetcher's: its timeouts come from crawl settings, the rule's
        # limit is fixed, and a slow body must count too (the page is not open until it has arrived).
        async with asyncio.timeout(limit_s):
            result = await fetcher.fetch(site.url, "GET")
    except TimeoutError:
        result = FetchResult(url=site.url, final_url=site.url, method="GET", status=None, error=Reason.TIMEOUT,
                             error_detail=f"not open within {limit_s:g} s", started_at=started_at,
                             timings=Timings(total=time.perf_counter() - clock))
    return to_probe_result(site.code, result, limit_s, started_at)


def to_probe_result(site: str, result: FetchResult, limit_s: float, started_at: datetime) -> ProbeResult:
    """ok = a 2xx/3xx final answer within the limit; any other outcome fails, reason from `judge`."""
    verdict, reason = judge(result)
    total = result.timings.total
    if verdict is Verdict.OK and (total is None or total > limit_s):
        verdict, reason = Verdict.BROKEN, Reason.TIMEOUT
    t = result.timings
    return ProbeResult(
        site=site, url=result.url, final_url=result.final_url, ok=verdict is Verdict.OK, verdict=verdict,
        status=result.status, reason=reason, detail=result.error_detail[:500], total_ms=_ms(t.total),
        dns_ms=_ms(t.dns), connect_ms=_ms(t.connect), first_byte_ms=_ms(t.first_byte), size=result.size,
        content_type=result.content_type,
        redirect_chain=tuple(h.url for h in result.redirects) + ((result.final_url,) if result.redirects else ()),
        started_at=result.started_at or started_at, observed_at=datetime.now(UTC),
    )


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 2)


# --------------------------------------------------------------------------- the 7-day rule


def judge_availability(site: str, tally: ProbeTally, policy: AvailabilityPolicy) -> Availability:
    ratio = tally.failures / tally.probes if tally.probes else 0.0
    # Exact arithmetic at the boundary: 7/140 must meet a 5 % threshold, and in floats
    # 0.05 * 140 is 7.000000000000001. The threshold is taken as the decimal it was written as.
    veto = tally.probes > 0 and Fraction(tally.failures, tally.probes) >= Fraction(str(policy.threshold))
    return Availability(
        site=site, probes=tally.probes, failures=tally.failures, ratio=ratio, window_days=policy.days,
        threshold=policy.threshold, veto=veto,
        enough_probes=tally.probes >= policy.min_probes_per_day * policy.days, reasons=dict(tally.reasons),
    )


_TALLY_SQL = """
SELECT site, sum(n)::bigint AS probes, coalesce(sum(n) FILTER (WHERE NOT ok), 0)::bigint AS failures,
       jsonb_object_agg(coalesce(reason, 'unknown'), n) FILTER (WHERE NOT ok) AS reasons
FROM (SELECT site, ok, reason, count(*) AS n FROM probes
      WHERE observed_at > $1 AND observed_at <= $2 AND run_id IS DISTINCT FROM $3
      GROUP BY site, ok, reason) t
GROUP BY site
"""


async def _tally(conn: asyncpg.Connection, since: datetime, until: datetime,
                 exclude_run: int | None = None) -> dict[str, ProbeTally]:
    rows = await conn.fetch(_TALLY_SQL, since, until, exclude_run)
    return {row["site"]: ProbeTally(row["probes"], row["failures"],
                                    json.loads(row["reasons"]) if row["reasons"] else {})
            for row in rows}


def tally_results(results: Iterable[ProbeResult]) -> dict[str, ProbeTally]:
    out: dict[str, ProbeTally] = {}
    for r in results:
        failed = ProbeTally(1, 0 if r.ok else 1, {} if r.ok else {str(r.reason or "unknown"): 1})
        out[r.site] = out.get(r.site, ProbeTally()).plus(failed)
    return out


async def availability(dsn: str, *, days: int = 7, threshold: float = 0.05, min_probes_per_day: int = 20,
                       now: datetime | None = None) -> list[Availability]:
    """The rule for every site with probes in the window (now - days, now], by site code."""
    policy = AvailabilityPolicy(days, threshold, min_probes_per_day)
    until = now or datetime.now(UTC)
    conn = await asyncpg.connect(dsn)
    try:
        tallies = await _tally(conn, until - timedelta(days=days), until)
    finally:
        await conn.close()
    return [judge_availability(site, tallies[site], policy) for site in sorted(tallies)]


# --------------------------------------------------------------------------- one round


async def probe_round(dsn: str, sites: Sequence[Site], fetcher: Fetcher, *, settings: dict[str, Any],
                      limit_s: float = PROBE_LIMIT_S,
                      policy: AvailabilityPolicy | None = None) -> ProbeRound:
    """Probe every site once as a run of kind ``probe``, store it and apply the 7-day rule.

    Cancelling it closes the run as interrupted (nothing of the round is kept but the run row),
    so a service stopping mid-round leaves no 'running' run behind.
    """
    policy = policy or AvailabilityPolicy()
    sink = PostgresSink(dsn)
    run = await sink.open_run("probe", settings)
    status, counts = "failed", {"sites": len(sites)}
    try:
        for site in sites:
            await sink.write(SiteRecord(site.code, site.name, site.url, site.organizer, site.kind, site.region,
                                        datetime.now(UTC)))
        results = await probe_sites(sites, fetcher, limit_s=limit_s)
        for seq, result in enumerate(results, start=1):
            await sink.write(_fetch_record(run.run_id, seq, result))
        judged = await _judge_round(dsn, run.run_id, results, policy)
        failing = [a for a in judged if a.fails_rule]
        for seq, verdict in enumerate(failing, start=len(results) + 1):
            await sink.write(FindingRecord(run.run_id, seq, verdict.site, UNREACHABLE, Severity.CRITICAL,
                                           _homepage(sites, verdict.site), verdict.finding_detail(),
                                           datetime.now(UTC)))
        counts.update(probes=len(results), failures=sum(not r.ok for r in results),
                      **{f"finding_{UNREACHABLE}": len(failing)})
        status = "succeeded"
    except asyncio.CancelledError:
        status = "interrupted"
        raise
    finally:
        await sink.close_run(run, status, counts)
    return ProbeRound(run.run_id, status, tuple(results), tuple(judged))


async def _judge_round(dsn: str, run_id: int, results: Sequence[ProbeResult],
                       policy: AvailabilityPolicy) -> list[Availability]:
    """The rule over stored probes plus this round's. The writer may have committed part of the
    round already, so the stored tally leaves this run out and the round is added from memory."""
    now = datetime.now(UTC)
    conn = await asyncpg.connect(dsn)
    try:
        stored = await _tally(conn, now - timedelta(days=policy.days), now, exclude_run=run_id)
    finally:
        await conn.close()
    current = tally_results(results)
    return [judge_availability(site, stored.get(site, ProbeTally()).plus(tally), policy)
            for site, tally in current.items()]


def _homepage(sites: Sequence[Site], code: str) -> str:
    return next(s.url for s in sites if s.code == code)


def _fetch_record(run_id: int, seq: int, r: ProbeResult) -> FetchRecord:
    return FetchRecord(
        run_id=run_id, seq=seq, site=r.site, kind=FetchKind.PROBE, url=r.url, final_url=r.final_url,
        redirect_chain=r.redirect_chain, method="GET", status=r.status, verdict=r.verdict, reason=r.reason,
        detail=r.detail, dns_ms=r.dns_ms, connect_ms=r.connect_ms, first_byte_ms=r.first_byte_ms,
        total_ms=r.total_ms, bytes=r.size, truncated=False, content_type=r.content_type, content_hash=None,
        etag=None, last_modified=None, attempts=1, depth=0, started_at=r.started_at, observed_at=r.observed_at,
    )


def publish(metrics: Metrics, round_: ProbeRound) -> None:
    """Export a finished round: per-probe fetch counters, homepage up/latency, the 7-day ratio."""
    for r in round_.results:
        metrics.observe_fetch(FetchKind.PROBE, r.status, r.verdict, r.reason, r.size,
                              None if r.total_ms is None else r.total_ms / 1000)
        metrics.set_probe(r.site, r.ok, None if r.total_ms is None else r.total_ms / 1000)
    for a in round_.availability:
        metrics.set_availability(a.site, a.ratio)
    metrics.findings(UNREACHABLE, sum(a.fails_rule for a in round_.availability))


__all__ = [
    "PROBE_LIMIT_S",
    "Availability",
    "AvailabilityPolicy",
    "ProbeResult",
    "ProbeRound",
    "ProbeTally",
    "availability",
    "judge_availability",
    "probe_round",
    "probe_sites",
    "publish",
]
