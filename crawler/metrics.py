"""Every Prometheus series govcrawl exports, defined in one place.

The crawler always holds a `Metrics` (it is cheap): stages call its methods and never touch
prometheus_client themselves, so names, label sets and their allowed values are decided here and
nowhere else. docs/metrics.md documents each series; deploy/prometheus/alerts.yml and
deploy/grafana/govcrawl-dashboard.json query them (tests/test_deploy.py keeps the three in step).

Cardinality is bounded by construction. Every label takes its value from a fixed set, and a value
outside the set becomes "other" rather than a new series (a new enum member added elsewhere must not
silently grow the series count, nor crash a crawl over a metric). The only open-ended label is
`site`, and it must be a site code (网站标识码): never a URL, which `_site_label` rejects.

Each instance owns its `CollectorRegistry`, so tests build isolated instances and the process
default registry (with its process/platform collectors) stays out of our exposition.
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Final

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, push_to_gateway
from prometheus_client.exposition import choose_encoder, generate_latest
from prometheus_client.metrics import disable_created_metrics

from crawler.store.sink import SinkStats
from crawler.types import FetchKind, Reason, Verdict

log = logging.getLogger(__name__)

# `_created` series double the series count of every labelled counter and histogram and no dashboard
# or alert of ours reads them. The switch is process-wide in prometheus_client; this module is the
# only place the project defines metrics, so flipping it here affects nothing else of ours.
disable_created_metrics()

NAMESPACE: Final = "govcrawl"
OTHER: Final = "other"

# --------------------------------------------------------------------------- allowed label values

FETCH_KINDS: Final = frozenset(k.value for k in FetchKind)
VERDICTS: Final = frozenset(v.value for v in Verdict)
REASONS: Final = frozenset(r.value for r in Reason)
STATUS_CLASSES: Final = ("1xx", "2xx", "3xx", "4xx", "5xx", "none", OTHER)

RUN_KINDS: Final = frozenset({"nightly", "probe", "adhoc"})

BACKOFF_CAUSES: Final = frozenset({"rate_limited", "server_error", "timeout", "crawl_delay"})

# The veto items (单项否决) of the government-website inspection rules the crawler can judge.
VETO_ITEMS: Final = (
    "unreachable",  # 站点无法访问
    "homepage_stale",  # 首页不更新
    "columns_stale",  # 栏目不更新
    "columns_basic_stale",  # 基本信息更新不及时
    "columns_blank",  # 空白栏目
    "security",  # 严重表述错误 / 安全、泄密问题
)

# Finding codes (FindingRecord.check), as emitted by crawler/engine.py and crawler/checks/. A check that
# emits a code not listed here is counted as "other": add the code here and to docs/metrics.md when
# adding the check.
CHECK_CODES: Final = frozenset(
    {
        # reachability and links (engine)
        "site.unreachable",  # homepage could not be opened
        "site.veto",  # a counting rule of the column/homepage veto was hit (detail.item)
        "page.broken",  # a page of the site that does not open
        "link.broken",  # a link whose target is broken
        "link.unverified",  # a link whose target could not be verified (blocked, throttled ...)
        # freshness (checks/freshness.py)
        "homepage.stale",  # homepage news columns not updated within the limit
        "column.stale",  # a column not updated within its limit (detail says which class)
        "column.blank",  # a column with no content
        "content.future_date",  # a publication date in the future
        # integrity (checks/integrity.py)
        "security.spam_content",  # gambling/spam terms injected into the page
        "security.hijacked_title",  # title replaced by a foreign brand
        "security.hijacked_footer",  # footer replaced by a foreign brand
        "security.hidden_link",  # links hidden from visitors (dark links, 暗链)
        "security.cloaking",  # crawlers or search-engine referers get another page
        "security.spam_outbound",  # a linked domain now serves spam/gambling
        # identity (checks/identity.py)
        "identity.site_code_missing",  # no SiteIDCode meta
        "identity.site_code_mismatch",  # SiteIDCode differs from the registry
        "identity.icp_missing",  # no ICP licence number
        "identity.psb_missing",  # no public-security filing number
        "identity.organizer_missing",  # organizer not stated
        "identity.organizer_mismatch",  # organizer differs from the registry
        "identity.jiucuo_missing",  # no error-report (我为政府网站找错) entry
        "identity.conac_missing",  # no 党政机关 identity mark
        "identity.domain_pattern",  # domain outside the gov.cn naming rules
    }
)

WRITER_TABLES: Final = frozenset({"runs", "sites", "fetches", "links", "findings", "column_observations", "probes",
                                  "run_edges"})

# Inspection rule: a page not open within 15 s has failed, so 15 is a bucket boundary; 30 covers the
# slowest retried fetches; the low end resolves healthy intranet-close servers.
FETCH_DURATION_BUCKETS: Final = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 30.0)

# A site code is a short token (e.g. 1100000088, bm01000001). Anything with '/' or ':' is a URL or a
# host and would make one series per page: refuse it loudly, it is a programming error.
_SITE_RE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}")


def _bounded(value: object, allowed: frozenset[str] | tuple[str, ...], what: str) -> str:
    text = str(value)  # a StrEnum member's str() is its value
    if text in allowed:
        return text
    _warn_once(what, text)
    return OTHER


_warned: set[tuple[str, str]] = set()


def _warn_once(what: str, value: str) -> None:
    # Once per (label, value): enough to notice a missing entry without flooding the log per fetch.
    if (what, value) not in _warned:
        _warned.add((what, value))
        log.warning("metrics: unknown %s %r counted as %r", what, value[:100], OTHER)


def status_class(status: int | None) -> str:
    if status is None:
        return "none"
    if 100 <= status <= 599:
        return f"{status // 100}xx"
    return OTHER


def _site_label(site: str) -> str:
    if not _SITE_RE.fullmatch(site):
        raise ValueError(f"metrics: site label must be a site code, not {site[:100]!r}")
    return site


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Metrics:
    """The crawler's single choke point for metrics. Methods never do I/O except `push`."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock  # injectable so tests can check timestamps exactly
        self._writer_seen: dict[str, int] = {}  # sink totals already counted (see observe_writer)
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        n = NAMESPACE

        # -- fetches (hot path)
        self._requests = Counter(
            "requests", "HTTP fetches by kind, status class, verdict and reason.",
            ["kind", "status_class", "verdict", "reason"], namespace=n, registry=r,
        )
        self._bytes = Counter(
            "response_bytes", "Response body bytes received.", ["kind"],
            namespace=n, unit="bytes", registry=r,
        )
        self._duration = Histogram(
            "fetch_duration", "Wall time of one fetch, redirects included.", ["kind"],
            namespace=n, unit="seconds", buckets=FETCH_DURATION_BUCKETS, registry=r,
        )
        # Children are cached: `labels()` takes a lock and builds a tuple key on every call, and
        # observe_fetch runs for every request of a crawl.
        self._request_children: dict[tuple[str, str, str, str], Counter] = {}
        self._kind_children: dict[str, tuple[Counter, Histogram]] = {}

        # -- scheduler / politeness
        self._backoffs = Counter(
            "host_backoffs", "Times a host was backed off, by cause.", ["cause"], namespace=n, registry=r
        )
        self._hosts_active = Gauge(
            "scheduler_hosts_active", "Hosts with requests queued or in flight.", namespace=n, registry=r
        )
        self._hosts_backed_off = Gauge(
            "scheduler_hosts_backed_off", "Hosts currently waiting out a backoff or crawl delay.",
            namespace=n, registry=r,
        )
        self._queued = Gauge(
            "scheduler_queued_requests", "Requests waiting in per-host queues.", namespace=n, registry=r
        )
        self._in_flight = Gauge(
            "scheduler_in_flight_requests", "Requests currently in flight.", namespace=n, registry=r
        )

        # -- run progress
        self._run_sites = Gauge(
            "run_sites", "Sites in the current (or last) run.", namespace=n, registry=r
        )
        self._run_sites_done = Gauge(
            "run_sites_done", "Sites finished in the current (or last) run.", namespace=n, registry=r
        )
        self._pages = Counter("run_pages", "Site pages crawled (all runs).", namespace=n, registry=r)
        self._run_start = Gauge(
            "last_run_start_timestamp_seconds", "Unix time the last run of this kind started.",
            ["kind"], namespace=n, registry=r,
        )
        self._run_end = Gauge(
            "last_run_end_timestamp_seconds", "Unix time the last run of this kind ended.",
            ["kind"], namespace=n, registry=r,
        )
        self._run_success_ts = Gauge(
            "last_run_success_timestamp_seconds", "Unix time the last successful run of this kind ended.",
            ["kind"], namespace=n, registry=r,
        )
        self._run_success = Gauge(
            "last_run_success", "1 if the last finished run of this kind succeeded, else 0.",
            ["kind"], namespace=n, registry=r,
        )
        self._run_in_progress = Gauge(
            "run_in_progress", "1 while a run of this kind is in progress.", ["kind"], namespace=n, registry=r
        )

        # -- per site
        self._site_broken = Gauge(
            "site_broken_links", "Broken links found on the site in its last crawl.", ["site"],
            namespace=n, registry=r,
        )
        self._site_stale = Gauge(
            "site_stale_columns", "Columns not updated within their limit.", ["site"], namespace=n, registry=r
        )
        self._site_blank = Gauge(
            "site_blank_columns", "Columns with no content.", ["site"], namespace=n, registry=r
        )
        self._site_veto = Gauge(
            "site_veto", "1 if the site fails this veto item (单项否决).", ["site", "item"],
            namespace=n, registry=r,
        )
        self._site_up = Gauge(
            "site_homepage_up", "1 if the last homepage probe succeeded.", ["site"], namespace=n, registry=r
        )
        self._site_latency = Gauge(
            "site_probe_latency_seconds", "Duration of the last successful homepage probe.", ["site"],
            namespace=n, registry=r,
        )
        self._sites: set[str] = set()  # sites with series, for forget_site/retain_sites
        self._site_failure_ratio = Gauge(
            "site_probe_failure_ratio", "Share of homepage probes that failed over the last 7 days.",
            ["site"], namespace=n, registry=r,
        )

        # -- writer / database
        self._writer_queue = Gauge(
            "writer_queue_depth", "Records waiting in the sink queue.", namespace=n, registry=r
        )
        self._writer_rows = Counter(
            "writer_rows", "Rows written to the database, by table.", ["table"], namespace=n, registry=r
        )
        self._db_errors = Counter("db_errors", "Database operations that failed.", namespace=n, registry=r)
        self._db_reconnects = Counter(
            "db_reconnects", "Reconnections to the database.", namespace=n, registry=r
        )

        # -- findings
        self._findings = Counter(
            "findings", "Findings emitted by checks, by check code.", ["check"], namespace=n, registry=r
        )

        self._prime()

    def _prime(self) -> None:
        """Create the fixed label sets at zero.

        A counter child that does not exist yet has no series, so `rate()` and `increase()` see
        nothing until its first increment and an alert on "errors went up" misses the first burst.
        Only small fixed sets are primed; the requests combinations are left lazy (they are many).
        """
        for cause in (*sorted(BACKOFF_CAUSES), OTHER):
            self._backoffs.labels(cause)
        for table in (*sorted(WRITER_TABLES), OTHER):
            self._writer_rows.labels(table)
        for check in (*sorted(CHECK_CODES), OTHER):
            self._findings.labels(check)
        for kind in sorted(FETCH_KINDS):
            self._kind(kind)

    # ------------------------------------------------------------------ fetches

    def _kind(self, kind: str) -> tuple[Counter, Histogram]:
        children = self._kind_children.get(kind)
        if children is None:
            children = (self._bytes.labels(kind), self._duration.labels(kind))
            self._kind_children[kind] = children
        return children

    def observe_fetch(
        self,
        kind: FetchKind,
        status: int | None,
        verdict: Verdict,
        reason: Reason | None,
        size: int,
        duration_s: float | None,
    ) -> None:
        """Count one finished fetch (after retries: one call per FetchRecord)."""
        # StrEnum members hash and compare as their values, so set membership is the cheap common path.
        kind_l = str(kind) if kind in FETCH_KINDS else _bounded(kind, FETCH_KINDS, "fetch kind")
        verdict_l = str(verdict) if verdict in VERDICTS else _bounded(verdict, VERDICTS, "verdict")
        reason_l = "" if reason is None else str(reason) if reason in REASONS else _bounded(reason, REASONS, "reason")
        key = (kind_l, status_class(status), verdict_l, reason_l)
        child = self._request_children.get(key)
        if child is None:
            child = self._request_children[key] = self._requests.labels(*key)
        child.inc()
        bytes_child, duration_child = self._kind(kind_l)
        if size > 0:
            bytes_child.inc(size)
        # None: no response timing at all (e.g. refused before connecting); leave the histogram alone
        # rather than record a fake 0.
        if duration_s is not None and duration_s >= 0:
            duration_child.observe(duration_s)

    # ------------------------------------------------------------------ scheduler

    def backoff(self, cause: str) -> None:
        self._backoffs.labels(_bounded(cause, BACKOFF_CAUSES, "backoff cause")).inc()

    def set_scheduler(
        self, hosts_active: int, hosts_waiting: int, queued_requests: int, in_flight: int
    ) -> None:
        self._hosts_active.set(hosts_active)
        self._hosts_backed_off.set(hosts_waiting)
        self._queued.set(queued_requests)
        self._in_flight.set(in_flight)

    # ------------------------------------------------------------------ runs

    def run_started(self, kind: str, sites_total: int) -> None:
        kind_l = _bounded(kind, RUN_KINDS, "run kind")
        self._run_sites.set(sites_total)
        self._run_sites_done.set(0)
        self._run_start.labels(kind_l).set(self._clock())
        self._run_in_progress.labels(kind_l).set(1)

    def site_done(self) -> None:
        self._run_sites_done.inc()

    def page_done(self) -> None:
        self._pages.inc()

    def run_finished(self, kind: str, success: bool) -> None:
        kind_l = _bounded(kind, RUN_KINDS, "run kind")
        now = self._clock()
        self._run_end.labels(kind_l).set(now)
        self._run_in_progress.labels(kind_l).set(0)
        self._run_success.labels(kind_l).set(1 if success else 0)
        if success:
            self._run_success_ts.labels(kind_l).set(now)

    def restore_last_run(self, kind: str, start: float, end: float | None, success: bool | None,
                         last_success_end: float | None) -> None:
        """Seed the last-run gauges from the database when `serve` starts.

        Without it a restarted process exports no last-run series until its next run, and
        dashboards show "no data" for the run that did happen last night.
        """
        kind_l = _bounded(kind, RUN_KINDS, "run kind")
        self._run_start.labels(kind_l).set(start)
        self._run_in_progress.labels(kind_l).set(0)
        if end is not None:
            self._run_end.labels(kind_l).set(end)
        if success is not None:
            self._run_success.labels(kind_l).set(1 if success else 0)
        if last_success_end is not None:
            self._run_success_ts.labels(kind_l).set(last_success_end)

    # ------------------------------------------------------------------ per site

    def _site(self, site: str) -> str:
        s = _site_label(site)
        self._sites.add(s)
        return s

    def set_site(
        self, site: str, broken_links: int, stale_columns: int, blank_columns: int, veto: Mapping[str, bool]
    ) -> None:
        """Per-site results of a finished crawl. Every veto item is set (missing ones to 0), so a
        site's veto series always exist together and a cleared item drops to 0 instead of vanishing."""
        s = self._site(site)
        self._site_broken.labels(s).set(broken_links)
        self._site_stale.labels(s).set(stale_columns)
        self._site_blank.labels(s).set(blank_columns)
        for item in veto:
            if item not in VETO_ITEMS:
                # An unknown item cannot be folded into "other" meaningfully (several would collide).
                _warn_once("veto item (ignored)", item)
        for item in VETO_ITEMS:
            self._site_veto.labels(s, item).set(1 if veto.get(item, False) else 0)

    def set_probe(self, site: str, up: bool, latency_s: float | None) -> None:
        s = self._site(site)
        self._site_up.labels(s).set(1 if up else 0)
        # A failed probe has no meaningful latency: keep the last good value instead of a fake one.
        if up and latency_s is not None:
            self._site_latency.labels(s).set(latency_s)

    def set_availability(self, site: str, failure_ratio_7d: float) -> None:
        self._site_failure_ratio.labels(self._site(site)).set(min(max(failure_ratio_7d, 0.0), 1.0))

    def forget_site(self, site: str) -> None:
        """Drop every series of a site removed from the registry (long-running `serve` would otherwise
        export it forever)."""
        s = _site_label(site)
        self._sites.discard(s)
        for gauge in (self._site_broken, self._site_stale, self._site_blank, self._site_up,
                      self._site_latency, self._site_failure_ratio):
            with contextlib.suppress(KeyError):  # older prometheus_client raises on unknown labels
                gauge.remove(s)
        for item in VETO_ITEMS:
            with contextlib.suppress(KeyError):
                self._site_veto.remove(s, item)

    def retain_sites(self, sites: Iterable[str]) -> None:
        """Forget every site not in `sites` (call after loading the registry)."""
        for site in self._sites - set(sites):
            self.forget_site(site)

    # ------------------------------------------------------------------ writer

    def set_writer(self, queue_depth: int) -> None:
        self._writer_queue.set(queue_depth)

    def observe_writer(self, stats: SinkStats) -> None:
        """Totals from the sink become counter increments (the sink counts; Prometheus wants deltas)."""
        self.set_writer(stats.queue_depth)
        for table, total in stats.rows_written.items():
            self.writer_rows(table, self._delta(table, total))
        self.db_error(self._delta(" errors", stats.errors))
        self.db_reconnect(self._delta(" reconnects", stats.reconnects))

    def _delta(self, key: str, total: int) -> int:
        previous, self._writer_seen[key] = self._writer_seen.get(key, 0), total
        return total - previous

    def writer_rows(self, table: str, n: int) -> None:
        if n > 0:
            self._writer_rows.labels(_bounded(table, WRITER_TABLES, "writer table")).inc(n)

    def db_error(self, n: int = 1) -> None:
        if n > 0:
            self._db_errors.inc(n)

    def db_reconnect(self, n: int = 1) -> None:
        if n > 0:
            self._db_reconnects.inc(n)

    # ------------------------------------------------------------------ findings

    def findings(self, check: str, n: int = 1) -> None:
        if n > 0:
            self._findings.labels(_bounded(check, CHECK_CODES, "check code")).inc(n)

    # ------------------------------------------------------------------ exposition

    def render(self) -> bytes:
        """The Prometheus text exposition of this instance's registry."""
        return generate_latest(self.registry)

    def push(self, gateway_url: str, job: str = "govcrawl") -> None:
        """Push everything to a Pushgateway (one-shot `run`, which has no scraper).

        Blocking (urllib): from async code call it via ``asyncio.to_thread``. PUT semantics: the
        pushed group is replaced, so a finished run's gauges overwrite the previous run's.
        """
        push_to_gateway(gateway_url, job=job, registry=self.registry, timeout=10)


def metrics_handler(metrics: Metrics) -> Handler:
    """An aiohttp handler for GET /metrics serving `metrics`, negotiating the format like
    prometheus_client's own server (OpenMetrics when the scraper asks for it)."""

    async def handle(request: web.Request) -> web.StreamResponse:
        encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
        # Rendering a few thousand series takes milliseconds; not worth a thread hop.
        return web.Response(body=encoder(metrics.registry), headers={"Content-Type": content_type})

    return handle


__all__ = [
    "BACKOFF_CAUSES",
    "CHECK_CODES",
    "FETCH_DURATION_BUCKETS",
    "RUN_KINDS",
    "VETO_ITEMS",
    "WRITER_TABLES",
    "Metrics",
    "metrics_handler",
    "status_class",
]
