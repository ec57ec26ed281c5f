"""What was planted in the simulated web: the answer key crawler tests and benchmarks score against.

Everything is a frozen dataclass of plain values so the truth can be compared, hashed and written
as JSON (dates as ISO strings, enums as their values).
"""

from __future__ import annotations

import dataclasses
import enum
import json
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from crawler.types import Element, Reason, Verdict

# Freshness / homepage check codes this truth uses (the checks module is expected to match them).
CHECK_COLUMN_STALE = "column.stale"
CHECK_COLUMN_BLANK = "column.blank"
CHECK_FUTURE_DATE = "content.future_date"  # matches crawler.checks.freshness
CHECK_HOMEPAGE_STALE = "homepage.stale"


@dataclass(frozen=True, slots=True)
class ColumnTruth:
    url: str  # first list page
    name: str
    cls: str  # news | notice | policy | personnel | plan
    cms: str  # trs | hanweb
    date_format: str  # iso | bracket | cn | none (how dates appear in the list)
    newest: date | None  # newest real (not future) item; None = blank column
    n_items: int
    pages: int
    note: str = ""  # explanatory note on a blank column


@dataclass(frozen=True, slots=True)
class SiteTruth:
    code: str  # TRUE code (what the registry holds)
    name: str
    url: str
    organizer: str  # TRUE organizer
    kind: str
    region: str
    hosts: tuple[str, ...]
    ip: str  # loopback address all hosts of the site resolve to
    cms: str
    charset_case: str  # utf8 or one of the enc_* faults
    faults: tuple[str, ...]
    columns: tuple[ColumnTruth, ...]


@dataclass(frozen=True, slots=True)
class LinkCase:
    """One planted link: the verdict the crawler must reach for target, as linked from source."""

    site: str  # site code
    source: str  # referring page URL
    target: str  # absolute target URL
    element: Element
    verdict: Verdict
    reason: Reason | None
    fault: str  # the planted fault name (see model.SLOTS)


@dataclass(frozen=True, slots=True)
class FreshnessCase:
    site: str
    kind: str  # stale | blank | blank_explained | future | homepage_stale
    check: str  # column.stale | column.blank | content.future_date | homepage.stale
    url: str  # column list URL (homepage URL for homepage_stale, article URL for future)
    column: str  # column name ("" for homepage_stale)
    cls: str
    newest: date | None  # newest date the page shows (the future date for kind=future)
    expect_finding: bool = True  # False: must NOT be reported (explained blank column)
    column_url: str = ""  # for kind=future: the column listing the article


@dataclass(frozen=True, slots=True)
class IntegrityCase:
    site: str
    check: str  # security.* / identity.*
    url: str  # page on which the problem is visible
    fault: str
    detail: str = ""
    target: str = ""  # the offending link target, if any


@dataclass(frozen=True, slots=True)
class EncodingCase:
    site: str
    url: str  # homepage (every page of the site has the same encoding setup)
    actual: str  # encoding of the body bytes
    header_charset: str | None  # charset in the Content-Type header
    meta_charsets: tuple[str, ...]  # meta declarations, in document order
    bom: bool
    expected_title: str


@dataclass(frozen=True, slots=True)
class TrapCase:
    site: str
    kind: str  # session_id | calendar | long_url
    url: str  # the linked entry URL
    detail: str = ""


@dataclass(slots=True)
class Truth:
    seed: int
    n_sites: int
    today: date
    sites: list[SiteTruth] = field(default_factory=list)
    links: list[LinkCase] = field(default_factory=list)  # problems: broken | unverified
    ok_links: list[LinkCase] = field(default_factory=list)  # tricky links that must end ok
    unreachable_sites: list[str] = field(default_factory=list)  # site codes
    robots_disallowed_urls: list[str] = field(default_factory=list)
    robots_disallow_all_hosts: list[str] = field(default_factory=list)  # robots.txt answers 5xx
    crawl_delays: dict[str, float] = field(default_factory=dict)  # host → seconds
    freshness: list[FreshnessCase] = field(default_factory=list)
    integrity: list[IntegrityCase] = field(default_factory=list)
    encodings: list[EncodingCase] = field(default_factory=list)
    traps: list[TrapCase] = field(default_factory=list)
    external_hosts: list[str] = field(default_factory=list)
    nx_hosts: list[str] = field(default_factory=list)
    refused_hosts: list[str] = field(default_factory=list)
    silent_hosts: list[str] = field(default_factory=list)
    blocked_hosts: list[str] = field(default_factory=list)  # WAF: 403/412 to everything

    def site(self, code: str) -> SiteTruth:
        return next(s for s in self.sites if s.code == code)

    def sites_with(self, fault: str) -> list[SiteTruth]:
        return [s for s in self.sites if fault in s.faults]

    def to_dict(self) -> dict[str, Any]:
        return _plain(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=1, sort_keys=True)

    def write(self, path: str | Path) -> None:
        Path(path).write_text(self.to_json(), encoding="utf-8")


def _plain(value: Any) -> Any:
    """dataclasses → dicts, dates → ISO strings, enums → values (json-ready, deterministic)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
