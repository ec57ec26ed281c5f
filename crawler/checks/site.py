"""Every page-level check of one site, in one place: freshness, integrity, identity.

The engine hands each parsed page of a site to its `SiteInspector` and calls `finish()` once the run
is over. Findings come back as `SiteFinding`s with a severity; veto items (单项否决) are critical.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from crawler.checks.columns import ColumnsOutcome, ColumnTracker, PageView
from crawler.checks.freshness import FreshnessPolicy, Judgement, VetoFlags
from crawler.checks.identity import check_identity
from crawler.checks.integrity import IntegrityFinding, check_page, page_view
from crawler.checks.integrity import PageView as IntegrityView
from crawler.checks.lexicon import Lexicon
from crawler.types import Severity, Site

SEVERITY_BY_PREFIX = (
    ("site.", Severity.CRITICAL),
    ("homepage.stale", Severity.CRITICAL),
    ("security.", Severity.CRITICAL),
    ("content.future_date", Severity.ERROR),
    ("column.", Severity.WARNING),
    ("identity.", Severity.WARNING),
)
# A template-level compromise repeats on every page; an inspector needs a few pages as evidence and
# the count, not one finding per page.
MAX_PAGES_PER_PROBLEM = 20


def severity_of(check: str) -> Severity:
    return next((sev for prefix, sev in SEVERITY_BY_PREFIX if check.startswith(prefix)), Severity.WARNING)


@dataclass(frozen=True, slots=True)
class SiteFinding:
    check: str
    severity: Severity
    url: str
    detail: dict[str, Any]


@dataclass(frozen=True, slots=True)
class SiteOutcome:
    findings: tuple[SiteFinding, ...]
    columns: ColumnsOutcome
    pages_per_problem: dict[str, int]  # check → pages it was seen on (also those not listed)


@dataclass(slots=True)
class SiteInspector:
    site: Site
    today: date
    policy: FreshnessPolicy
    lexicon: Lexicon
    columns: ColumnTracker = field(init=False)
    homepage_view: IntegrityView | None = None
    _seen: dict[str, int] = field(default_factory=dict)
    _hosts: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        self.columns = ColumnTracker(self.site, self.policy, self.today)
        self._hosts = frozenset(self.site.hosts)

    def observe(self, page: PageView) -> list[SiteFinding]:
        found = [_from_judgement(j) for j in self.columns.observe(page)]
        problems: list[IntegrityFinding] = check_page(page.doc, self._hosts, self.lexicon)
        if page.depth == 0:
            problems += check_identity(page.doc, self.site, is_homepage=True)
            self.homepage_view = page_view(page.doc, self._hosts, self.lexicon)
        for problem in problems:
            if self._first_pages(problem.check):
                found.append(SiteFinding(problem.check, severity_of(problem.check), problem.url, problem.detail))
        return found

    def _first_pages(self, check: str) -> bool:
        self._seen[check] = self._seen.get(check, 0) + 1
        return self._seen[check] <= MAX_PAGES_PER_PROBLEM

    def finish(self) -> SiteOutcome:
        outcome = self.columns.finish()
        findings = [_from_judgement(j) for j in outcome.judgements]
        findings += _veto_findings(outcome.veto, self.policy, self.site.url)
        return SiteOutcome(tuple(findings), outcome, dict(self._seen))


def _from_judgement(j: Judgement) -> SiteFinding:
    return SiteFinding(j.check, severity_of(j.check), j.url, j.detail)


def _veto_findings(veto: VetoFlags, policy: FreshnessPolicy, homepage: str) -> list[SiteFinding]:
    """The counting rules of the column veto, as one `site.veto` finding per item hit."""
    items = (
        ("columns_stale", veto.stale_news_notice, policy.stale_news_notice_veto),
        ("columns_basic_stale", veto.stale_basic, policy.stale_basic_veto),
        ("columns_blank", veto.blank, policy.blank_veto),
    )
    found = [SiteFinding("site.veto", Severity.CRITICAL, homepage,
                         {"item": item, "count": count, "threshold": threshold})
             for item, count, threshold in items if count >= threshold]
    if veto.homepage_veto:
        found.append(SiteFinding("site.veto", Severity.CRITICAL, homepage,
                                 {"item": "homepage_stale", "count": 1, "threshold": 1}))
    return found
