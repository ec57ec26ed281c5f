"""One crawl run: seeds → scheduler → fetch → parse → verdicts and findings → sink.

Workers (as many as the global concurrency cap) lease ready requests from the politeness scheduler,
fetch, judge and hand records to the sink; nothing here sleeps to be polite. A host is prepared once
(address, robots.txt, soft-404 calibration) before its first ordinary request.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Any

from yarl import URL

from crawler.checks.columns import PageView
from crawler.checks.freshness import FreshnessPolicy
from crawler.checks.integrity import compare_cloaking, looks_spam_or_parked, page_view
from crawler.checks.lexicon import Lexicon
from crawler.checks.site import SiteInspector
from crawler.checks.verdict import is_retryable, judge, looks_like_waf
from crawler.config import Settings
from crawler.fetch.client import Fetcher
from crawler.fetch.resolver import Resolver
from crawler.frontier.frontier import Edge, Frontier, Job, Offer, SiteState
from crawler.frontier.politeness import HostSlot, Lease, Limits, Scheduler, backoff_delay
from crawler.frontier.robots import MAX_ROBOTS_BYTES, Robots
from crawler.frontier.urls import host_key
from crawler.metrics import Metrics
from crawler.parse.document import Document
from crawler.parse.extract import page_title, parse_page, visible_text
from crawler.parse.soft404 import Soft404Profile, text_fingerprint
from crawler.recorder import Progress, Recorder
from crawler.store.prior import PriorPage
from crawler.store.sink import Sink
from crawler.types import (
    Element,
    FetchKind,
    FetchResult,
    Hop,
    ParsedPage,
    Reason,
    RobotsPolicy,
    RunInfo,
    Severity,
    Site,
    Verdict,
)

log = logging.getLogger("govcrawl.engine")

HTML_TYPES = ("text/html", "application/xhtml+xml", "")
TARGET_BODY_BYTES = 64 * 1024  # enough of a GET-fallback body to recognise a soft-404
CALIBRATION_BYTES = 256 * 1024
# How search engines ask: cloaked pages show spam only to these (and to visitors arriving from them).
CRAWLER_HEADERS = {
    "User-Agent": "Mozilla/5.0 (compatible; Baiduspider/2.0; +http://www.baidu.com/search/spider.html)",
    "Referer": "https://www.baidu.com/s?wd=site",
}
PREPARATION = (FetchKind.ROBOTS, FetchKind.CALIBRATION)  # run before a host's gate opens
STOP_GRACE = 3.0  # seconds in-flight requests get to finish after a stop signal


@dataclass(slots=True)
class HostInfo:
    key: str
    origin: str  # scheme://host[:port]
    site: SiteState | None  # the site this host belongs to; None for other hosts
    robots: Robots | None = None
    dead: FetchResult | None = None  # a failure every request to this host shares (dns, refused, ...)
    profile: Soft404Profile | None = None


class Crawl:
    def __init__(self, settings: Settings, sites: Sequence[Site], sink: Sink, metrics: Metrics, *,
                 kind: str = "adhoc", today: date | None = None, seq_base: int = 0,
                 defer_foreign: bool = False, prior: Mapping[str, PriorPage] | None = None) -> None:
        self.settings = settings
        self.sink = sink
        self.metrics = metrics
        self.kind = kind
        self.today = today or date.today()
        self.states = [SiteState(site) for site in sites]
        self._site_states = {state.site.code: state for state in self.states}
        self.frontier = Frontier(settings.max_pages, settings.max_depth, settings.max_url_length,
                                 settings.check_external)
        for state in self.states:
            self.frontier.add_site(state)
        self.scheduler: Scheduler[Job] = Scheduler(
            Limits(settings.rate, settings.host_concurrency),
            Limits(settings.ip_rate, settings.ip_concurrency),
        )
        self.resolver = Resolver.from_settings(settings.resolve, settings.nameservers, settings.allow_private)
        self.fetcher = Fetcher(settings, self.resolver)
        self.hosts: dict[str, HostInfo] = {}
        self.progress = Progress(sites_total=len(self.states))
        self.recorder = Recorder(metrics, self.progress, seq_base)
        self.policy = FreshnessPolicy()
        self.lexicon = Lexicon.load()
        self.inspectors: dict[str, SiteInspector] = {}
        self.run: RunInfo | None = None
        self.defer_foreign = defer_foreign
        self.prior = prior or {}  # column list pages the last run saw, by URL (conditional requests)
        self._outstanding = 0
        self._stopping = False
        self._tasks: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------------ run

    @property
    def counts(self) -> dict[str, int]:
        return self.recorder.counts

    async def execute(self) -> str:
        """Open a run, crawl every site, close the run; return its status."""
        run = await self.sink.open_run(self.kind, self.settings.snapshot())
        self.metrics.run_started(self.kind, len(self.states))
        status = "failed"
        try:
            status = await self.crawl(run, [self.frontier.seed(state) for state in self.states])
        finally:
            await self.sink.close_run(run, status, self.counts)
            self.metrics.run_finished(self.kind, status == "succeeded")
        return status

    async def crawl(self, run: RunInfo, seeds: Sequence[Job]) -> str:
        """Crawl from ``seeds`` into an already open run (a worker's share of a run, or all of it).

        Sites whose homepage is among the seeds are crawled and judged; the others are only there
        to own targets checked on their behalf.
        """
        self.run = run
        self.recorder.bind(run)
        status = "failed"
        crawled = [job.site for job in seeds if job.kind is FetchKind.PAGE and job.depth == 0]
        try:
            async with self.fetcher:
                for state in crawled:
                    self.recorder.site(state.site)
                await self.recorder.flush(self.sink)
                for job in seeds:
                    self._enqueue(job)
                if self._outstanding == 0:
                    self.scheduler.close()
                workers = [asyncio.create_task(self._worker()) for _ in range(self.settings.global_concurrency)]
                await self._wait(workers)
                self._finish_sites(crawled)
                status = "interrupted" if self._stopping else "succeeded"
        finally:
            for task in list(self._tasks):
                task.cancel()
            self.counts.update({f"skipped_{k}": v for k, v in self.frontier.skipped.items()})
            await self.recorder.flush(self.sink)
            self.counts.update(pages=self.progress.pages, requests=self.progress.requests,
                               broken_links=self.progress.broken_links, sites=len(crawled))
            self.frontier.close()  # its spill files go now, not whenever the collector gets to them
        return status

    def target_seed(self, url: str, via: Edge) -> Job:
        """A job checking ``url`` on behalf of the page that linked to it (a deferred foreign link)."""
        state = self._site_states[via.site]
        return self.frontier.target(url, via, state)

    async def _wait(self, workers: list[asyncio.Task[None]]) -> None:
        done = asyncio.gather(*workers)
        while True:
            try:
                await asyncio.wait_for(asyncio.shield(done), timeout=0.5 if self._stopping else 1.0)
                return
            except TimeoutError:
                self._report_scheduler()
                if self._stopping and time.monotonic() - self._stop_at > STOP_GRACE:
                    for worker in workers:
                        worker.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await done
                    return

    def stop(self) -> None:
        """Graceful stop: no new requests; in-flight ones get a few seconds; results are kept."""
        if not self._stopping:
            self._stopping = True
            self._stop_at = time.monotonic()
            self.scheduler.close()

    def _report_scheduler(self) -> None:
        hosts, backed_off, queued = self.scheduler.stats()
        self.metrics.set_scheduler(hosts, backed_off, queued, self.scheduler.in_flight)
        self.metrics.observe_writer(self.sink.stats())

    # ------------------------------------------------------------------ queueing

    def _enqueue(self, job: Job) -> None:
        self._outstanding += 1
        job.site.outstanding += 1
        self._route(job)

    def _route(self, job: Job) -> None:
        """Queue a job (or its next redirect hop) on its host, unless the host already decided it."""
        info = self.hosts.get(job.host)
        if info is None:
            info = self._new_host(job)
        slot = self.scheduler.host(job.host)
        if info.dead is not None:
            self._finish_without_fetch(job, info.dead)
        elif info.robots is not None and not self._robots_allow(info, job):
            self._disallowed(job, info)
        else:
            self.scheduler.push(slot, job, urgent=job.kind in PREPARATION)

    def _new_host(self, job: Job) -> HostInfo:
        url = URL(job.current)
        origin = f"{url.scheme}://{url.raw_authority}"
        owner = self.frontier.site_of_host.get(job.host)
        info = self.hosts[job.host] = HostInfo(job.host, origin, owner)
        limits = None
        if owner is not None:
            lim = owner.site.limits
            limits = Limits(lim.rate or self.settings.rate, lim.concurrency or self.settings.host_concurrency)
        self.scheduler.host(job.host, limits)
        self._spawn(self._prepare_host(info, url.host or "", url.port or 80))
        return info

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _prepare_host(self, info: HostInfo, host: str, port: int) -> None:
        slot = self.scheduler.host(info.key)
        lookup = await self.resolver.lookup(host, port)
        if not lookup.addrs or self.resolver.refuses(lookup):
            reason = Reason.PRIVATE_ADDRESS if lookup.addrs else Reason.DNS
            info.dead = FetchResult(url="", final_url="", method="GET", status=None, error=reason,
                                    error_detail=lookup.error, started_at=datetime.now(UTC))
            self._drain(slot, lambda job: self._finish_without_fetch(job, info.dead))  # type: ignore[arg-type]
            return
        self.scheduler.bind_ip(slot, lookup.ip_key)
        policy = (info.site.site.limits.robots if info.site else None) or self.settings.robots
        if policy is RobotsPolicy.IGNORE:
            info.robots = Robots("allow_all", "robots.txt ignored by configuration")
            self._calibrate(info, slot)
            self.scheduler.open_gate(slot)
        else:
            self._add_job(Job(f"{info.origin}/robots.txt", info.key, self._owner(info), FetchKind.ROBOTS, 0),
                          slot, urgent=True)

    def _calibrate(self, info: HostInfo, slot: HostSlot[Job]) -> None:
        """Learn how a site host answers a URL that cannot exist (after robots.txt: it sets the pace)."""
        probe = f"{info.origin}/govcrawl-{secrets.token_hex(8)}.html"
        allowed = info.robots is None or info.robots.allows(probe)
        if info.site is not None and self.settings.soft404_calibration and allowed:
            self._add_job(Job(probe, info.key, info.site, FetchKind.CALIBRATION, 0), slot, urgent=True)

    def _owner(self, info: HostInfo) -> SiteState:
        if info.site is not None:
            return info.site
        queued = self.scheduler.host(info.key).queue
        return queued[0].site if queued else self.states[0]

    def _add_job(self, job: Job, slot: HostSlot[Job], *, urgent: bool = False) -> None:
        self._outstanding += 1
        job.site.outstanding += 1
        self.scheduler.push(slot, job, urgent=urgent)

    def _drain(self, slot: HostSlot[Job], finish: Callable[[Job], None]) -> None:
        jobs = list(slot.queue)
        slot.queue.clear()
        for job in jobs:
            finish(job)
        self.scheduler.open_gate(slot)

    def _robots_allow(self, info: HostInfo, job: Job) -> bool:
        assert info.robots is not None
        return job.kind in PREPARATION or info.robots.allows(job.current)

    # ------------------------------------------------------------------ workers

    async def _worker(self) -> None:
        while (lease := await self.scheduler.lease()) is not None:
            try:
                await self._process(lease)
                await self.recorder.flush(self.sink)
            except Exception:  # a bug must cost one URL, not the night's run
                log.exception("internal error on %s", lease.job.url)
                self.scheduler.release(lease)
                self._settle(lease.job, FetchResult(url=lease.job.url, final_url=lease.job.url, method="GET",
                                                    status=None, error=Reason.CONNECTION,
                                                    error_detail="internal error",
                                                    started_at=datetime.now(UTC)),
                             Verdict.UNVERIFIED, Reason.CONNECTION, "internal error")
                await self.recorder.flush(self.sink)

    async def _process(self, lease: Lease[Job]) -> None:
        job = lease.job
        method, max_body, headers = self._request_shape(job)
        result = await self.fetcher.fetch(job.current, method, max_body=max_body, headers=headers, follow=False,
                                          on_writing=lambda: self.scheduler.writing(lease),
                                          on_written=lambda: self.scheduler.sent(lease))
        self.progress.requests += 1
        if self._retry(lease, result):
            return
        self.scheduler.release(lease)
        self.scheduler.succeeded(lease.host)
        if result.location is not None:
            self._next_hop(job, result)
            return
        result = self._whole_chain(job, result)
        if method == "HEAD" and _head_unreliable(result):
            # Many servers answer HEAD wrongly (405, 404, 500): only a GET is evidence.
            job.restart("GET")
            self._route(job)
            return
        self._conclude(job, result)

    def _request_shape(self, job: Job) -> tuple[str, int | None, dict[str, str] | None]:
        """Method, body cap and extra headers for a job of each kind."""
        kind = job.kind
        if kind is FetchKind.TARGET:
            return job.method or "HEAD", TARGET_BODY_BYTES, None
        if kind is FetchKind.ROBOTS:
            return "GET", MAX_ROBOTS_BYTES, None
        if kind is FetchKind.CALIBRATION:
            return "GET", CALIBRATION_BYTES, None
        if kind is FetchKind.CLOAKING:
            return "GET", None, CRAWLER_HEADERS
        if kind is FetchKind.OUTBOUND:
            return "GET", TARGET_BODY_BYTES, None
        prior = self.prior.get(job.url)
        return "GET", None, prior.conditional_headers() if prior is not None and not job.chain else None

    def _next_hop(self, job: Job, result: FetchResult) -> None:
        assert result.location is not None and result.status is not None
        hop = Hop(job.current, result.status, result.location)
        visited = {job.url, job.current, *(h.url for h in job.chain)}
        chain = (*job.chain, hop)
        elapsed = job.elapsed + (result.timings.total or 0.0)
        error = None
        if result.location in visited:
            error = Reason.REDIRECT_LOOP
        elif len(chain) > self.settings.max_redirects:
            error = Reason.TOO_MANY_REDIRECTS
        if error is not None:
            self._conclude(job, replace(result, url=job.url, final_url=job.current, redirects=chain, error=error,
                                        error_detail=f"{len(chain)} redirects", location=None,
                                        timings=replace(result.timings, total=elapsed)))
            return
        job.chain, job.current, job.elapsed, job.attempt = chain, result.location, elapsed, 0
        job.host = host_key(result.location)
        self._route(job)

    @staticmethod
    def _whole_chain(job: Job, result: FetchResult) -> FetchResult:
        """The result of the last hop, seen as the answer to the job's original URL."""
        if not job.chain:
            return result
        total = job.elapsed + (result.timings.total or 0.0)
        return replace(result, url=job.url, final_url=job.current, redirects=job.chain,
                       timings=replace(result.timings, total=total))

    def _conclude(self, job: Job, result: FetchResult) -> None:
        info = self.hosts[job.home]
        if job.kind is FetchKind.ROBOTS:
            self._robots_done(job, info, result)
        elif job.kind is FetchKind.CALIBRATION:
            self._calibration_done(job, info, result)
        elif job.kind in (FetchKind.CLOAKING, FetchKind.OUTBOUND):
            self._content_done(job, result)
        else:
            self._judge_and_settle(job, self.hosts[job.host], result)

    def _retry(self, lease: Lease[Job], result: FetchResult) -> bool:
        job = lease.job
        if self._stopping or not is_retryable(result) or job.attempt >= self.settings.retries:
            return False
        throttle = backoff_delay(result.status, result.retry_after, lease.host.backoff_level,
                                 base=self.settings.retry_base_delay, cap=self.settings.max_backoff)
        if result.retry_after is not None and result.retry_after > self.settings.max_backoff:
            return False  # the server asks for longer than we may wait: give up as rate_limited
        delay = throttle or self.settings.retry_base_delay * (2 ** job.attempt)
        if throttle:
            self.metrics.backoff("rate_limited" if result.status == 429 else "server_error")
        else:
            self.metrics.backoff("timeout" if result.error else "server_error")
        job.attempt += 1
        self.scheduler.release(lease, backoff=delay)
        self.scheduler.push(lease.host, job, urgent=job.kind in PREPARATION, front=True)
        return True

    # ------------------------------------------------------------------ host preparation results

    def _robots_done(self, job: Job, info: HostInfo, result: FetchResult) -> None:
        robots = info.robots = Robots.from_fetch(result, redirected=bool(job.chain))
        slot = self.scheduler.host(info.key)
        verdict = Verdict.OK if robots.mode != "disallow_all" else Verdict.UNVERIFIED
        self.recorder.fetch(job, result, verdict, None if verdict is Verdict.OK else Reason.ROBOTS_DISALLOWED,
                     robots.why)
        self._done(job)
        if robots.unreachable is not None:
            # The host itself did not answer: every link to it fails the same way (evidence: this fetch).
            info.dead = result
            self._drain(slot, lambda j: self._finish_without_fetch(j, result))
            return
        delay = robots.crawl_delay()
        if delay > slot.limits.interval:
            self.scheduler.slow_down(slot, delay)
            self.metrics.backoff("crawl_delay")
        self._calibrate(info, slot)
        self._drain(slot, lambda j: self.scheduler.push(slot, j) if self._robots_allow(info, j)
                    else self._disallowed(j, info))

    def _calibration_done(self, job: Job, info: HostInfo, result: FetchResult) -> None:
        if result.error is None and result.status and result.status < 300 and result.body:
            doc = Document.from_bytes(result.final_url, result.body, result.charset)
            info.profile = Soft404Profile.learn(job.url, result.final_url, result.status, page_title(doc),
                                                visible_text(doc))
        self.recorder.fetch(job, result, Verdict.OK, None, "soft-404 calibration")
        self._done(job)

    # ------------------------------------------------------------------ verdicts

    def _judge_and_settle(self, job: Job, info: HostInfo, result: FetchResult) -> None:
        parsed: ParsedPage | None = None
        doc: Document | None = None
        soft = waf = empty = False
        if result.method == "GET" and result.error is None and result.status and 200 <= result.status < 300 \
                and _is_html(result):
            doc = Document.from_bytes(result.final_url, result.body, result.charset)
            parsed = parse_page(doc)
            waf = looks_like_waf(parsed.title, "")
            soft = parsed.soft404_text or self._matches_error_page(info, job, result, parsed)
            empty = parsed.text_length == 0 and not parsed.links and parsed.redirect_to is None
        is_page = job.kind is FetchKind.PAGE
        verdict, reason = judge(result, soft_404=soft, waf=waf, empty=empty, is_page=is_page)
        detail = result.error_detail
        if reason is Reason.BODY_TOO_LARGE:
            detail = f"body larger than {self.settings.max_body_bytes} bytes; parsed the first part"
        content_hash = hashlib.blake2b(result.body, digest_size=16).hexdigest() if is_page and result.body \
            else None
        self.recorder.fetch(job, result, verdict, reason, detail, content_hash)
        # The job stays open until its links are queued: finishing it first could close the run
        # (when it was the last one) before the work it leads to exists.
        self._settle(job, result, verdict, reason, detail, record=False, done=False)
        if result.status == 304 and job.url in self.prior:
            self.recorder.count("not_modified")
            self._inspector(job.site).columns.carry_over(self.prior[job.url].column)
        if doc is not None and parsed is not None and verdict is Verdict.OK:
            in_scope = self.frontier.site_of_host.get(host_key(result.final_url)) is job.site
            if is_page and in_scope:
                self._inspect(job, doc, parsed)
                if job.parse:
                    self._follow_links(job, parsed)
            elif job.kind is FetchKind.TARGET:
                self._check_outbound(job, doc)
        elif verdict is Verdict.OK and self._wants_content(job, result):
            self._enqueue_extra(job, FetchKind.OUTBOUND)
        self._done(job)

    @staticmethod
    def _matches_error_page(info: HostInfo, job: Job, result: FetchResult, parsed: ParsedPage) -> bool:
        profile = info.profile
        if profile is None or profile.status != result.status:
            return False  # the host answers unknown URLs honestly: nothing to compare
        return profile.matches(result.final_url, result.status or 0, parsed.title, parsed.text_length,
                               text_fingerprint(parsed.text), requested_url=job.url)

    # ------------------------------------------------------------------ site checks

    def _inspector(self, state: SiteState) -> SiteInspector:
        inspector = self.inspectors.get(state.site.code)
        if inspector is None:
            inspector = self.inspectors[state.site.code] = SiteInspector(state.site, self.today, self.policy,
                                                                         self.lexicon)
        return inspector

    def _inspect(self, job: Job, doc: Document, parsed: ParsedPage) -> None:
        inspector = self._inspector(job.site)
        for found in inspector.observe(PageView(job.url, doc.url, job.depth, doc, parsed)):
            self.recorder.finding(job.site.site.code, found.check, found.severity, found.url, found.detail)
        if job.depth == 0:
            self._enqueue_extra(job, FetchKind.CLOAKING)

    def _wants_content(self, job: Job, result: FetchResult) -> bool:
        """An off-site page (not a file) that answered HEAD: fetch it to see what it serves now."""
        return (job.kind is FetchKind.TARGET and job.via is not None and job.via.element is Element.A
                and job.host not in self.frontier.site_of_host and result.method == "HEAD"
                and result.content_type in HTML_TYPES)

    def _enqueue_extra(self, job: Job, kind: FetchKind) -> None:
        extra = Job(job.url, job.host, job.site, kind, job.depth, via=job.via)
        self._add_job(extra, self.scheduler.host(job.host))

    def _check_outbound(self, job: Job, doc: Document) -> None:
        if job.via is None or job.host in self.frontier.site_of_host:
            return
        spam = looks_spam_or_parked(doc, self.lexicon)
        if spam is not None:
            self.recorder.finding(job.via.site, "security.spam_outbound", Severity.CRITICAL, job.via.source,
                          {"target": job.url, "anchor_text": job.via.text, **spam})

    def _content_done(self, job: Job, result: FetchResult) -> None:
        ok = result.error is None and result.status is not None and 200 <= result.status < 300
        self.recorder.fetch(job, result, Verdict.OK if ok else Verdict.UNVERIFIED, None if ok else result.error,
                     result.error_detail)
        if ok and _is_html(result):
            doc = Document.from_bytes(result.final_url, result.body, result.charset)
            if job.kind is FetchKind.OUTBOUND:
                self._check_outbound(job, doc)
            else:
                self._compare_cloaking(job, doc, result)
        self._done(job)

    def _compare_cloaking(self, job: Job, doc: Document, result: FetchResult) -> None:
        inspector = self._inspector(job.site)
        if inspector.homepage_view is None:
            return
        seen_as_crawler = page_view(doc, frozenset(job.site.site.hosts), self.lexicon)
        difference = compare_cloaking(inspector.homepage_view, seen_as_crawler)
        if difference is not None:
            self.recorder.finding(job.site.site.code, "security.cloaking", Severity.CRITICAL, job.url,
                          {**difference, "as": CRAWLER_HEADERS["User-Agent"], "referer": CRAWLER_HEADERS["Referer"]})

    def _finish_sites(self, crawled: Sequence[SiteState]) -> None:
        """Site-level judgements (columns, homepage, veto) once every page of the run has been seen."""
        for state in crawled:
            code = state.site.code
            outcome = self._inspector(state).finish()
            for found in outcome.findings:
                self.recorder.finding(code, found.check, found.severity, found.url, found.detail)
            self.recorder.columns(code, outcome.columns.observations)
            veto = outcome.columns.veto
            self.metrics.set_site(code, self.recorder.broken_by_site.get(code, 0),
                                  veto.stale_news_notice + veto.stale_basic, veto.blank, {
                                      "unreachable": state.homepage_verdict is Verdict.BROKEN,
                                      "homepage_stale": veto.homepage_veto,
                                      "columns_stale": veto.stale_news_notice >= self.policy.stale_news_notice_veto,
                                      "columns_basic_stale": veto.stale_basic >= self.policy.stale_basic_veto,
                                      "columns_blank": veto.blank >= self.policy.blank_veto,
                                      "security": any(k.startswith("security.") for k in outcome.pages_per_problem),
                                  })

    def _follow_links(self, job: Job, parsed: ParsedPage) -> None:
        site = job.site
        on_homepage = job.depth == 0
        for link in parsed.links:
            if self.defer_foreign and host_key(link.url) not in self.frontier.site_of_host:
                # Another worker owns that host: leave the check to it, keep the edge for the verdict.
                self.recorder.deferred(site.site.code, job.url, link, on_homepage)
                continue
            redirect = link.element in (Element.META_REFRESH, Element.JS_LOCATION)
            depth = job.depth if redirect else job.depth + 1
            edge = Edge(site.site.code, job.url, link.text, link.element, on_homepage)
            offer, new = self.frontier.offer(link.url, depth, edge, site)
            if offer is Offer.NEW:
                assert new is not None
                self._enqueue(new)
            elif offer is Offer.KNOWN:
                known = self.frontier.known(link.url)
                if known.verdict is not Verdict.OK:
                    self.recorder.bad_link(edge, link.url, known.verdict, known.reason, known.status)
                elif self.settings.keep_all_links:
                    self.recorder.link(edge, link.url, Verdict.OK, None)

    def _finish_without_fetch(self, job: Job, shared: FetchResult) -> None:
        """A job answered by a failure its whole host shares (DNS, refused, private address)."""
        result = FetchResult(url=job.url, final_url=job.current, method="GET", status=shared.status,
                             redirects=job.chain, error=shared.error, error_detail=shared.error_detail,
                             started_at=datetime.now(UTC))
        if job.kind is not FetchKind.PAGE and job.kind is not FetchKind.TARGET:
            self._conclude(job, result)
            return
        verdict, reason = judge(result, is_page=job.kind is FetchKind.PAGE)
        self._settle(job, result, verdict, reason, shared.error_detail)

    def _disallowed(self, job: Job, info: HostInfo) -> None:
        why = info.robots.why if info.robots else "robots.txt"
        result = FetchResult(url=job.url, final_url=job.current, method="GET", status=None, redirects=job.chain,
                             started_at=datetime.now(UTC))
        if job.kind in (FetchKind.CLOAKING, FetchKind.OUTBOUND):
            self._done(job)  # an extra look we may not take: nothing to report
            return
        self._settle(job, result, Verdict.UNVERIFIED, Reason.ROBOTS_DISALLOWED, f"disallowed by {why}")

    def _settle(self, job: Job, result: FetchResult, verdict: Verdict, reason: Reason | None, detail: str,
                *, record: bool = True, done: bool = True) -> None:
        if record:
            self.recorder.fetch(job, result, verdict, reason, detail)
        edges, overflow = self.frontier.settle(job.url, verdict, reason, result.status)
        if verdict is not Verdict.OK:
            for edge in edges:
                self.recorder.bad_link(edge, job.url, verdict, reason, result.status)
            if overflow:
                self.recorder.count("edges_not_listed", overflow)
        elif self.settings.keep_all_links:
            for edge in edges:
                self.recorder.link(edge, job.url, verdict, reason)
        site = job.site.site
        if job.kind is FetchKind.PAGE:
            if job.depth == 0 and job.url == site.url:
                job.site.homepage_verdict, job.site.homepage_reason = verdict, reason
                if verdict is Verdict.BROKEN:
                    self.recorder.finding(site.code, "site.unreachable", Severity.CRITICAL, site.url,
                                  {"reason": reason, "status": result.status, "detail": detail})
            if verdict is Verdict.BROKEN:
                self.recorder.finding(site.code, "page.broken", Severity.ERROR, job.url,
                              {"reason": reason, "status": result.status, "depth": job.depth,
                               "final_url": result.final_url, "detail": detail})
        if done:
            self._done(job)

    def _done(self, job: Job) -> None:
        self._outstanding -= 1
        job.site.outstanding -= 1
        if job.site.outstanding == 0:
            self.progress.sites_done += 1
            self.metrics.site_done()
        if self._outstanding == 0:
            self.scheduler.close()


def _head_unreliable(result: FetchResult) -> bool:
    if result.error in (Reason.DNS, Reason.PRIVATE_ADDRESS, Reason.TLS):
        return False  # a GET would fail the same way
    return not (result.status is not None and 200 <= result.status < 300)


def _is_html(result: FetchResult) -> bool:
    if result.content_type not in HTML_TYPES and not result.content_type.startswith("text/"):
        return False
    head = result.body[:1024]
    return head.count(b"\x00") == 0  # a binary body served as text/html is not a page to parse
