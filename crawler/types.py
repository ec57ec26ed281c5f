"""Values that cross pipeline stages.

Every stage (fetch → frontier/politeness → parse → checks → store) hands the next one frozen
dataclasses from this module and nothing else: no raw dicts, no aiohttp or asyncpg objects.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any


class Verdict(enum.StrEnum):
    OK = "ok"
    BROKEN = "broken"
    UNVERIFIED = "unverified"


class Reason(enum.StrEnum):
    """Why a URL is not ok. A small, stable set: downstream tools match on these strings."""

    HTTP_404 = "http_404"
    HTTP_410 = "http_410"
    HTTP_4XX = "http_4xx"
    HTTP_5XX = "http_5xx"
    DNS = "dns"
    REFUSED = "refused"
    TIMEOUT = "timeout"
    TLS = "tls"
    REDIRECT_LOOP = "redirect_loop"
    TOO_MANY_REDIRECTS = "too_many_redirects"
    SOFT_404 = "soft_404"
    BODY_TOO_LARGE = "body_too_large"
    ROBOTS_DISALLOWED = "robots_disallowed"
    RATE_LIMITED = "rate_limited"
    BLOCKED = "blocked"
    # Additions beyond the list, each for a case the list could not express honestly.
    CONNECTION = "connection"  # reset / closed mid-response / protocol error
    PRIVATE_ADDRESS = "private_address"  # resolves to loopback/private/link-local: not fetched
    EMPTY_PAGE = "empty_page"  # a site page that opens with no content at all


class Element(enum.StrEnum):
    """The HTML element a link came from (what an inspector needs to find it on the page)."""

    A = "a"
    AREA = "area"
    IMG = "img"
    SCRIPT = "script"
    STYLESHEET = "link"
    IFRAME = "iframe"
    FRAME = "frame"
    EMBED = "embed"
    OBJECT = "object"
    SOURCE = "source"
    META_REFRESH = "meta_refresh"
    JS_LOCATION = "js_location"


class FetchKind(enum.StrEnum):
    PAGE = "page"  # a page of the site: fetched with GET and parsed
    TARGET = "target"  # anything else linked: checked (HEAD, GET fallback), not parsed
    ROBOTS = "robots"
    CALIBRATION = "calibration"  # a random non-existent URL fetched to learn a host's soft-404 shape
    PROBE = "probe"  # homepage availability probe
    CLOAKING = "cloaking"  # the homepage again, as a search-engine crawler would ask for it
    OUTBOUND = "outbound"  # an external page's content, checked for spam or parking


class RobotsPolicy(enum.StrEnum):
    OBEY = "obey"
    IGNORE = "ignore"


# --------------------------------------------------------------------------- registry


@dataclass(frozen=True, slots=True)
class SiteLimits:
    """Per-site overrides; None means "use the global default"."""

    rate: float | None = None  # requests per second per host
    concurrency: int | None = None  # in-flight requests per host
    max_pages: int | None = None
    max_depth: int | None = None
    robots: RobotsPolicy | None = None


@dataclass(frozen=True, slots=True)
class Site:
    code: str  # 网站标识码 (SiteIDCode), the stable key of a site
    name: str
    url: str  # homepage, normalised
    organizer: str = ""
    kind: str = ""  # portal / department / ...
    region: str = ""
    hosts: tuple[str, ...] = ()  # every host that belongs to the site (homepage host first)
    limits: SiteLimits = field(default_factory=SiteLimits)


# --------------------------------------------------------------------------- fetch


@dataclass(frozen=True, slots=True)
class Hop:
    """One step of a redirect chain."""

    url: str
    status: int
    location: str


@dataclass(frozen=True, slots=True)
class Timings:
    """Seconds; None when the phase did not happen (a reused connection has no dns/connect)."""

    dns: float | None = None
    connect: float | None = None
    first_byte: float | None = None
    total: float | None = None


@dataclass(frozen=True, slots=True)
class FetchResult:
    url: str  # the URL asked for
    final_url: str  # after redirects
    method: str
    status: int | None  # final HTTP status; None when no response came
    redirects: tuple[Hop, ...] = ()
    error: Reason | None = None  # transport-level failure (dns, refused, timeout, tls, connection, redirects)
    error_detail: str = ""
    content_type: str = ""
    charset: str | None = None  # from the Content-Type header
    etag: str | None = None
    last_modified: str | None = None
    retry_after: float | None = None  # seconds, parsed from Retry-After
    body: bytes = b""
    size: int = 0  # bytes received (before truncation)
    truncated: bool = False
    timings: Timings = field(default_factory=Timings)
    started_at: datetime | None = None
    server_header: str = ""
    location: str | None = None  # redirect target of a response returned unfollowed (follow=False)


# --------------------------------------------------------------------------- parse


@dataclass(frozen=True, slots=True)
class Link:
    url: str  # absolute, normalised
    text: str  # anchor text (or alt/title), whitespace-collapsed, at most 200 chars
    element: Element


@dataclass(frozen=True, slots=True)
class ListItem:
    title: str
    url: str
    date: date | None


@dataclass(frozen=True, slots=True)
class ParsedPage:
    url: str
    title: str
    text: str  # visible text, whitespace-collapsed
    links: tuple[Link, ...]
    meta: dict[str, str]  # lower-cased meta name → content (SiteName, ColumnName, PubDate, keywords ...)
    redirect_to: str | None = None  # meta refresh or simple JS location redirect target
    charset: str = "utf-8"
    soft404_text: bool = False  # the page text says "page not found"

    @property
    def text_length(self) -> int:
        return len(self.text)


# --------------------------------------------------------------------------- records for sinks


@dataclass(frozen=True, slots=True)
class RunInfo:
    run_id: int
    kind: str  # nightly / probe / adhoc
    started_at: datetime
    settings: dict[str, Any]


@dataclass(frozen=True, slots=True)
class FetchRecord:
    run_id: int
    seq: int  # unique within the run: makes writes idempotent across reconnects
    site: str  # site code
    kind: FetchKind
    url: str
    final_url: str
    redirect_chain: tuple[str, ...]
    method: str
    status: int | None
    verdict: Verdict
    reason: Reason | None
    detail: str
    dns_ms: float | None
    connect_ms: float | None
    first_byte_ms: float | None
    total_ms: float | None
    bytes: int
    truncated: bool
    content_type: str
    content_hash: str | None
    etag: str | None
    last_modified: str | None
    attempts: int
    depth: int | None
    started_at: datetime
    observed_at: datetime


@dataclass(frozen=True, slots=True)
class LinkRecord:
    run_id: int
    seq: int
    site: str
    source_url: str
    target_url: str
    anchor_text: str
    element: Element
    on_homepage: bool
    verdict: Verdict
    reason: Reason | None
    observed_at: datetime


class Severity(enum.StrEnum):
    CRITICAL = "critical"  # a veto item
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True, slots=True)
class FindingRecord:
    run_id: int
    seq: int
    site: str
    check: str  # stable code: site.unreachable, link.broken, page.broken, ...
    severity: Severity
    url: str
    detail: dict[str, Any]
    observed_at: datetime


@dataclass(frozen=True, slots=True)
class SiteRecord:
    """The registry entry as seen at the start of a run."""

    code: str
    name: str
    url: str
    organizer: str
    kind: str
    region: str
    observed_at: datetime


@dataclass(frozen=True, slots=True)
class ColumnRecord:
    """One column (栏目) as seen in one run: the freshness time series."""

    run_id: int
    seq: int
    site: str
    column_url: str  # the column's first list page
    name: str
    column_class: str  # news / notice_policy / basic / other
    newest_date: date | None
    newest_url: str | None
    item_count: int
    date_source: str  # list / article:meta:pubdate / ... / none
    observed_at: datetime


@dataclass(frozen=True, slots=True)
class DeferredLinkRecord:
    """A link to a host another worker owns (scale-out): checked there, judged when the run ends."""

    run_id: int
    seq: int
    site: str
    source_url: str
    target_url: str
    anchor_text: str
    element: Element
    on_homepage: bool
    observed_at: datetime


Record = FetchRecord | LinkRecord | FindingRecord | SiteRecord | ColumnRecord | DeferredLinkRecord
