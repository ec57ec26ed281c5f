"""Column freshness (栏目更新): classify columns, judge stale / blank / future-dated, count veto items.

Everything here is a pure function of observations made by the crawl, so that a night's judgements can
be recomputed from stored observations with a different policy. Defaults follow the inspection
indicators (国办秘函〔2019〕19号): 动态/要闻 14 days, 通知公告/政策文件 6 months, basic information
columns 1 year; ≥ 5 stale news/notice columns, ≥ 10 stale basic columns or ≥ 5 blank columns veto.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from crawler.types import ListItem

NEWS = "news"
NOTICE_POLICY = "notice_policy"
BASIC = "basic"
OTHER = "other"  # no window: reported, never judged stale

COLUMN_STALE = "column.stale"
COLUMN_BLANK = "column.blank"
HOMEPAGE_STALE = "homepage.stale"
FUTURE_DATE = "content.future_date"


@dataclass(frozen=True, slots=True)
class ColumnClass:
    name: str
    window_days: int | None  # None: never stale
    keywords: tuple[str, ...]  # a column whose name contains one of these belongs to the class


# Order matters: the first class with a matching keyword wins, so the specific notice/policy words are
# tried before the broad news ones (政策解读 is policy, not news), and 人事/财政 before everything.
DEFAULT_CLASSES: tuple[ColumnClass, ...] = (
    ColumnClass(
        NOTICE_POLICY,
        183,
        (
            "通知公告",
            "公示公告",
            "公告公示",
            "通知",
            "公告",
            "公示",
            "政策文件",
            "规范性文件",
            "政府文件",
            "政策解读",
            "文件",
            "政策",
        ),
    ),
    ColumnClass(
        BASIC,
        365,
        (
            "人事",
            "任免",
            "规划计划",
            "发展规划",
            "规划",
            "计划",
            "财政",
            "预决算",
            "统计",
            "领导信息",
            "领导简介",
            "领导分工",
            "机构职能",
            "机构设置",
            "职能",
        ),
    ),
    ColumnClass(
        NEWS,
        14,
        ("动态", "要闻", "新闻", "图片新闻", "工作进展", "进展", "资讯", "快讯", "头条"),
    ),
)

# A note on an empty column counts as an explanation only when it gives a reason. A bare
# "暂无信息" / "本栏目暂无信息" says nothing and does not exempt the column; "正在建设" / "建设中" says
# the column is being built; phrases like "本单位不涉及" / "无此项业务" / "不适用" say why it stays empty.
_REASON_RE = re.compile(
    r"正在建设|建设中|不涉及|无此项|无该项|不适用|未设立|未设置|暂未开展|未开展|没有开展|无相关(业务|职能|事项)"
    r"|不属于|无需公开|不予公开|依法不公开|因为|由于|因本(单位|机关|部门)|未制定|未出台|未发生"
)


@dataclass(frozen=True, slots=True)
class FreshnessPolicy:
    """Class table, windows and veto thresholds; every number a configurable default."""

    classes: tuple[ColumnClass, ...] = DEFAULT_CLASSES
    homepage_window_days: int = 14
    stale_news_notice_veto: int = 5
    stale_basic_veto: int = 10
    blank_veto: int = 5
    # Per-site / per-column overrides: keys are a column name or a column URL.
    class_overrides: Mapping[str, str] = field(default_factory=dict)  # → class name
    window_overrides: Mapping[str, int | None] = field(default_factory=dict)  # → days (None: never)

    def window(self, class_name: str) -> int | None:
        return next((c.window_days for c in self.classes if c.name == class_name), None)


def classify(name: str, policy: FreshnessPolicy, column_type: str = "", url: str = "") -> str:
    """The class of a column from overrides, then its name, then its ColumnType meta."""
    for key in (url, name):
        if key and key in policy.class_overrides:
            return policy.class_overrides[key]
    for text in (name, column_type):
        for column_class in policy.classes:
            if text and any(keyword in text for keyword in column_class.keywords):
                return column_class.name
    return OTHER


def window_days(obs: ColumnObservation, policy: FreshnessPolicy) -> int | None:
    for key in (obs.url, obs.name):
        if key and key in policy.window_overrides:
            return policy.window_overrides[key]
    return policy.window(obs.column_class)


def explains_empty(note: str) -> bool:
    """Whether an empty column's note states a reason (see _REASON_RE), not just "暂无信息"."""
    return bool(_REASON_RE.search(note))


@dataclass(frozen=True, slots=True)
class ColumnObservation:
    site: str  # site code
    url: str  # column index page
    name: str
    column_class: str  # from classify()
    newest_date: date | None  # newest dated item (list date, or the article's own date)
    newest_url: str | None
    item_count: int
    date_source: str = ""  # "list", or an article DateFinding.source such as "meta:pubdate"
    empty_note: str = ""  # text shown on an empty list ("本栏目暂无信息" ...)


@dataclass(frozen=True, slots=True)
class Judgement:
    check: str  # column.stale / column.blank / homepage.stale / content.future_date
    url: str
    detail: dict[str, Any]
    column_class: str = ""  # for veto counting


@dataclass(frozen=True, slots=True)
class VetoFlags:
    stale_news_notice: int
    stale_basic: int
    blank: int
    homepage_stale: bool
    columns_veto: bool  # any of the three column counts reached its threshold
    homepage_veto: bool

    @property
    def any(self) -> bool:
        return self.columns_veto or self.homepage_veto


def _days(since: date, today: date) -> int:
    return (today - since).days


def judge_column(obs: ColumnObservation, policy: FreshnessPolicy, today: date) -> list[Judgement]:
    """column.blank when nothing was ever published (and no reason is given), column.stale when the
    newest item is older than the class window; nothing for classes without a window or undated lists.

    Stale means strictly more than window_days since the newest item: a news column updated exactly
    14 days ago is still fresh.
    """
    base = {"name": obs.name, "class": obs.column_class}
    if obs.item_count == 0:
        if explains_empty(obs.empty_note):
            return []
        return [Judgement(COLUMN_BLANK, obs.url, {**base, "note": obs.empty_note}, obs.column_class)]
    window = window_days(obs, policy)
    latest = obs.newest_date
    # No window: never stale. No date on any item (nor on the newest article page): the crawl could
    # not tell, and a guess would be a false alarm.
    if window is None or latest is None:
        return []
    days_since = _days(latest, today)
    if days_since <= window:
        return []
    detail = {
        **base,
        "latest_date": latest.isoformat(),
        "latest_url": obs.newest_url,
        "days_since": days_since,
        "window_days": window,
        "date_source": obs.date_source,
    }
    return [Judgement(COLUMN_STALE, obs.url, detail, obs.column_class)]


def judge_homepage(
    items: Iterable[ListItem], today: date, window: int = 14, url: str = ""
) -> list[Judgement]:
    """homepage.stale when no dated homepage item is within `window` days; undated items do not count."""
    dates = [item.date for item in items if item.date is not None and item.date <= today]
    latest = max(dates, default=None)
    days_since = _days(latest, today) if latest is not None else None
    if days_since is not None and days_since <= window:
        return []
    detail = {
        "name": "首页",
        "class": "homepage",
        "latest_date": latest.isoformat() if latest else None,
        "days_since": days_since,
        "window_days": window,
    }
    return [Judgement(HOMEPAGE_STALE, url, detail)]


def future_dated(found: date, today: date, url: str = "") -> list[Judgement]:
    """content.future_date when a publication date is strictly after the crawl date."""
    if found <= today:
        return []
    return [Judgement(FUTURE_DATE, url, {"date": found.isoformat(), "days_ahead": (found - today).days})]


def veto_flags(judgements: Iterable[Judgement], policy: FreshnessPolicy) -> VetoFlags:
    """Count stale and blank columns against the veto thresholds."""
    stale_news_notice = stale_basic = blank = 0
    homepage_stale = False
    for j in judgements:
        if j.check == COLUMN_STALE and j.column_class in (NEWS, NOTICE_POLICY):
            stale_news_notice += 1
        elif j.check == COLUMN_STALE and j.column_class == BASIC:
            stale_basic += 1
        elif j.check == COLUMN_BLANK:
            blank += 1
        elif j.check == HOMEPAGE_STALE:
            homepage_stale = True
    columns_veto = (
        stale_news_notice >= policy.stale_news_notice_veto
        or stale_basic >= policy.stale_basic_veto
        or blank >= policy.blank_veto
    )
    return VetoFlags(stale_news_notice, stale_basic, blank, homepage_stale, columns_veto, homepage_stale)
