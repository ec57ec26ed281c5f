"""What to fetch next and what has been decided: scope, budgets, per-run dedupe, waiting link edges.

Each unique URL is checked once per run however many pages link to it. Until its verdict is known,
the edges pointing at it (referring page, anchor text, element) wait here; once it is known they are
released to the caller, which reports the not-ok ones and drops the rest — so memory holds only
edges of URLs still in flight, not every edge of the crawl. Settled URLs are remembered as 64-bit
hashes in `SeenHashes`, which keeps a fixed amount in memory and spills the rest to a temporary
file; a not-ok URL's hash maps to a small code for its `Known` verdict (a run has few distinct ones).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import NamedTuple

from crawler.frontier.seen import BUDGET, SeenHashes
from crawler.frontier.urls import host_key, is_attachment, looks_like_trap
from crawler.types import Element, FetchKind, Hop, Reason, Site, Verdict

PAGE_ELEMENTS = frozenset({Element.A, Element.AREA, Element.FRAME, Element.META_REFRESH, Element.JS_LOCATION})
MAX_EDGES_PER_TARGET = 1000  # beyond this a target's referrers are counted, not listed


class Edge(NamedTuple):
    site: str
    source: str
    text: str
    element: Element
    on_homepage: bool


@dataclass(slots=True)
class SiteState:
    site: Site
    pages_queued: int = 0
    outstanding: int = 0
    homepage_verdict: Verdict | None = None
    homepage_reason: Reason | None = None


@dataclass(slots=True)
class Job:
    url: str
    host: str  # host key (host:port)
    site: SiteState  # the site that first linked to it: owns its budget and counters
    kind: FetchKind
    depth: int
    parse: bool = False  # extract links from it (a page within the depth budget)
    attempt: int = 0
    via: Edge | None = None  # the first link that led here (evidence for content findings)
    # Each redirect hop is its own scheduled request (the next hop may be on another host): where the
    # job stands now, and the hops behind it.
    current: str = ""
    chain: tuple[Hop, ...] = ()
    elapsed: float = 0.0  # seconds spent on earlier hops
    method: str = ""  # "" = the kind's usual method
    home: str = ""  # host key of `url`; `host` follows the redirects

    def __post_init__(self) -> None:
        self.current = self.current or self.url
        self.home = self.home or self.host

    def restart(self, method: str) -> None:
        """Ask again from the original URL (a GET after a HEAD the server answered wrongly)."""
        self.method, self.current, self.chain, self.elapsed = method, self.url, (), 0.0
        self.host, self.attempt = self.home, 0


class Offer(enum.Enum):
    NEW = "new"  # a job was created: fetch it
    PENDING = "pending"  # already queued; the edge waits for its verdict
    KNOWN = "known"  # verdict already known; see `Frontier.known`
    SKIPPED = "skipped"  # out of budget, a trap, or not checked by configuration


@dataclass(frozen=True, slots=True)
class Known:
    verdict: Verdict
    reason: Reason | None
    status: int | None


OK = Known(Verdict.OK, None, None)


class Frontier:
    def __init__(self, max_pages: int, max_depth: int, max_url_length: int, check_external: bool, *,
                 memory_budget: int = BUDGET) -> None:
        self.max_pages = max_pages
        self.max_depth = max_depth
        self.max_url_length = max_url_length
        self.check_external = check_external
        self.site_of_host: dict[str, SiteState] = {}
        # The bulk of what a run remembers; beyond `memory_budget` bytes it goes to a temporary file.
        self._done_ok = SeenHashes(budget=memory_budget)
        # Not-ok URLs (~1 % of them): hash → index into _outcomes. Smaller parts will do.
        self._bad = SeenHashes(codes=True, budget=memory_budget // 2, buffer=1 << 12, filter_bits=1 << 21,
                               hot=1 << 12)
        self._outcomes: list[Known] = []
        self._outcome_codes: dict[Known, int] = {}
        self._pending: dict[int, list[Edge]] = {}
        self._overflow: dict[int, int] = {}
        self.skipped: dict[str, int] = {}

    def add_site(self, state: SiteState) -> None:
        for host in state.site.hosts:
            self.site_of_host.setdefault(host_key(f"http://{host}/"), state)
            self.site_of_host.setdefault(host_key(f"https://{host}/"), state)

    def seed(self, state: SiteState) -> Job:
        url = state.site.url
        self._pending[hash(url)] = []
        state.pages_queued += 1
        return Job(url, host_key(url), state, FetchKind.PAGE, depth=0, parse=self.max_depth > 0)

    def offer(self, url: str, depth: int, edge: Edge, referrer: SiteState) -> tuple[Offer, Job | None]:
        key = hash(url)
        if key in self._pending:
            edges = self._pending[key]
            if len(edges) < MAX_EDGES_PER_TARGET:
                edges.append(edge)
            else:
                self._overflow[key] = self._overflow.get(key, 0) + 1
            return Offer.PENDING, None
        if key in self._done_ok or key in self._bad:
            return Offer.KNOWN, None
        host = host_key(url)
        owner = self.site_of_host.get(host)
        is_page_link = edge.element in PAGE_ELEMENTS and not is_attachment(url)
        if owner is None and not self.check_external:
            return self._skip("external"), None
        if (trap := looks_like_trap(url, max_length=self.max_url_length)) is not None:
            return self._skip(f"trap:{trap}"), None
        if owner is not None and is_page_link:
            if owner.pages_queued >= self.max_pages:
                return self._skip("max_pages"), None
            owner.pages_queued += 1
            job = Job(url, host, owner, FetchKind.PAGE, depth, parse=depth < self.max_depth, via=edge)
        else:
            job = Job(url, host, referrer, FetchKind.TARGET, depth, via=edge)
        self._pending[key] = [edge]
        return Offer.NEW, job

    def target(self, url: str, via: Edge, owner: SiteState) -> Job:
        """A job checking a target handed over from elsewhere (not discovered by this frontier)."""
        self._pending[hash(url)] = []
        return Job(url, host_key(url), owner, FetchKind.TARGET, 1, via=via)

    def known(self, url: str) -> Known:
        code = self._bad.get(hash(url))
        return OK if code is None else self._outcomes[code]

    def settle(self, url: str, verdict: Verdict, reason: Reason | None,
               status: int | None) -> tuple[list[Edge], int]:
        """Record the verdict; return the edges that waited for it and how many more were not listed."""
        key = hash(url)
        edges = self._pending.pop(key, [])
        overflow = self._overflow.pop(key, 0)
        if verdict is Verdict.OK:
            # Not looked up first, which would cost as much again: a URL settled twice (a seed or a
            # handed-over target that was also linked) is only a harmless duplicate.
            self._done_ok.add(key)
        else:
            self._bad.add(key, self._code_of(Known(verdict, reason, status)))
        return edges, overflow

    def close(self) -> None:
        """Delete the settled URLs' spill files now rather than when the frontier is garbage-collected."""
        self._done_ok.close()
        self._bad.close()

    def _code_of(self, known: Known) -> int:
        code = self._outcome_codes.get(known)
        if code is None:
            code = self._outcome_codes[known] = len(self._outcomes)
            self._outcomes.append(known)
        return code

    def _skip(self, why: str) -> Offer:
        self.skipped[why] = self.skipped.get(why, 0) + 1
        return Offer.SKIPPED

    @property
    def pending(self) -> int:
        return len(self._pending)
