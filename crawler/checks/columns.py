"""Per-site column freshness during a crawl: which columns (栏目) a site has, when each was last updated.

The engine hands every parsed page of a site to one `ColumnTracker` (homepage first, then roughly
breadth-first). Each page is parsed for its list exactly once and sorted into one of:

* the homepage (depth 0): its dated items are kept for the homepage-stale rule;
* a column list page: its items are merged into the column of its *first* page, so pagination
  (index_1.html, ?page=2, the first page's next_pages) and aliases (…/xwdt/ vs …/xwdt/index.html,
  Hanweb /col/col12/ with or without a query) count once;
* an empty column page (no item, a column-shaped URL or ColumnName meta, and a short "暂无信息"-like
  note or nothing at all): a blank-column candidate;
* anything else is treated as an article: its publication date is checked for being in the future, and
  it resolves the date of a column whose list shows no dates.

`finish()` turns what was seen into `ColumnObservation`s and runs the pure judgements of
`crawler.checks.freshness` over them. Memory is bounded per site by the MAX_* constants.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date
from functools import lru_cache
from typing import TypeVar
from urllib.parse import urlsplit

from selectolax.lexbor import LexborNode

from crawler.checks.freshness import (
    ColumnObservation,
    FreshnessPolicy,
    Judgement,
    VetoFlags,
    classify,
    explains_empty,
    future_dated,
    judge_column,
    judge_homepage,
    veto_flags,
)
from crawler.frontier.urls import normalize
from crawler.parse.dates import DateFinding, article_date
from crawler.parse.document import Document
from crawler.parse.listing import (
    ListingResult,
    column_links,
    extract_list,
    homepage_items,
    looks_like_column_url,
    marked_as_article,
)
from crawler.types import Element, ListItem, ParsedPage, Site

MAX_COLUMNS = 300  # columns tracked per site; a site with more is reported on its first ones
MAX_PENDING_ARTICLES = 2000  # article URLs awaited to date an undated list
MAX_ARTICLE_DATES = 4096  # recent article dates kept for lists seen after their articles
MAX_NAMES = 2000  # column names learnt from navigation links
MAX_ALIASES = 2000  # pagination URLs whose shape does not reveal their first page
ARTICLE_PROBES = 5  # items of an undated list whose articles are used to date it
NAV_ONLY_MAX_LINKS = 40  # a homepage with no dated item and fewer links is only navigation
MAX_NOTE_CHARS = 300  # longer text on an item-less page is content, not an "empty column" note

LIST_SOURCE = "list"
# The first date of the page text: a guess article_date makes when nothing better turns up. Good enough
# to date a column, too weak to accuse a site of a falsified (future) publication date.
GUESS_SOURCE = "text:first"

_NAME_META, _NAME_CRUMB, _NAME_LINK, _NAME_TITLE, _NO_NAME = range(5)  # name sources, best first

_HANWEB_COLUMN_RE = re.compile(r"^(https?://[^/?#]+/(?:[^?#]*/)?col/col\d+/)", re.I)
_INDEX_FILE_RE = re.compile(r"/(?:index|default)(?:_\d+)?\.(?:s?html?|jsp|php|aspx?)$", re.I)
_FIRST_INDEX_RE = re.compile(r"/(?:index|default)\.(?:s?html?|jsp|php|aspx?)$", re.I)
_LATER_PAGE_RE = re.compile(r"_\d+\.\w+$")
_PAGE_PARAMS = frozenset({"page", "pageno", "pageindex", "pagenum", "curpage", "currentpage", "pn", "p"})
_TITLE_SPLIT_RE = re.compile(r"\s*[_|\-—–]\s*")

# Text an empty list shows. Whether it also gives a *reason* (which exempts the column) is
# freshness.explains_empty's call.
_EMPTY_RE = re.compile(
    r"暂无|尚无|没有(?:相关|任何)?(?:信息|数据|记录|内容|文章)|无(?:相关)?(?:信息|数据|记录|内容)"
    r"|正在建设|建设中|正在维护"
)
# Not the list area's own text: code, furniture, and headings (the column's name above its empty list).
_SKIP_TAGS = frozenset(
    {"-comment", "script", "style", "noscript", "template", "head", "nav", "header", "footer", "select"}
    | {"h1", "h2", "h3", "h4", "h5", "h6"}
)
_MEDIA_TAGS = frozenset({"img", "iframe", "embed", "object", "video"})
# Classes / ids of page furniture whose text is not the list area's: a class that starts with a specific
# word (navbar, footer), or is a generic word on its own or before - or _ (top, head_nav, not topic,
# headline, post_header or padding-top, which wrap content).
_FURNITURE_RE = re.compile(
    r"^(?:nav|menu|daohang|foot|copyright|banquan|crumb|breadcrumb|yqlj|friendlink"
    r"|(?:header|head|top|bottom|position|location|dqwz|search)(?:$|[_-]))",
    re.I,
)

K = TypeVar("K")
V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class PageView:
    url: str  # the URL requested (normalised)
    final_url: str  # after redirects
    depth: int  # 0 = homepage
    doc: Document
    parsed: ParsedPage


@dataclass(frozen=True, slots=True)
class ColumnsOutcome:
    observations: tuple[ColumnObservation, ...]
    judgements: tuple[Judgement, ...]  # column.stale, column.blank, homepage.stale
    veto: VetoFlags


# --------------------------------------------------------------------------- URLs


@lru_cache(maxsize=4096)  # every link of the navigation, on every page that lists it
def column_key(url: str) -> str:
    """The one key of a column, whichever of its pages or URL variants `url` is.

    Hanweb columns are /col/col<id>/ whatever follows; TRS-style index.html, index_3.html and the
    bare directory are the directory; page-number query parameters are dropped.
    """
    hanweb = _HANWEB_COLUMN_RE.match(url)
    if hanweb:
        return hanweb.group(1)
    head, _, query = url.partition("?")
    head = _INDEX_FILE_RE.sub("/", head)
    kept = [pair for pair in query.split("&") if pair and not _is_page_param(pair)]
    return head + ("?" + "&".join(kept) if kept else "")


def _is_page_param(pair: str) -> bool:
    name, _, value = pair.partition("=")
    return name.lower() in _PAGE_PARAMS and value.isdigit()


def _page_key(url: str) -> str:
    """One key per list page: …/xwdt/ and …/xwdt/index.html are the same page, index_1.html is not."""
    head, sep, query = url.partition("?")
    return _FIRST_INDEX_RE.sub("/", head) + sep + query


def _is_later_page(url: str) -> bool:
    head, _, query = url.partition("?")
    if _LATER_PAGE_RE.search(head):
        return True
    return any(_is_page_param(pair) and int(pair.partition("=")[2]) > 1 for pair in query.split("&"))


@lru_cache(maxsize=4096)  # each page's URL several times, and every navigation link of every list page
def _normal(url: str) -> str:
    return normalize(url) or url


def _put_fifo(mapping: dict[K, V], key: K, value: V, limit: int) -> None:
    """Insert, dropping the oldest entry when full: recent pages matter more than old ones."""
    if key not in mapping and len(mapping) >= limit:
        del mapping[next(iter(mapping))]
    mapping[key] = value


# --------------------------------------------------------------------------- page text


@dataclass(frozen=True, slots=True)
class _Content:
    """What a page shows outside furniture: its own text (not link text), where its links go, and its
    media (an image-only page is not empty)."""

    text: str
    links: tuple[str, ...]
    media: int


def _main_content(doc: Document) -> _Content:
    body = doc.tree.body
    if body is None:
        return _Content("", (), 0)
    texts: list[str] = []
    links: list[str] = []
    media = 0
    # Depth-first in document order, not descending into furniture.
    stack: list[LexborNode] = list(reversed(list(body.iter(include_text=True))))
    while stack:
        node = stack.pop()
        tag = node.tag
        if tag == "-text":
            texts.append(node.text(deep=False))
        elif tag == "a":
            url = normalize(node.attributes.get("href") or "", doc.url)
            if url is not None:
                links.append(url)
        elif tag in _MEDIA_TAGS:
            media += 1
        elif tag not in _SKIP_TAGS and not _is_furniture(node):
            stack.extend(reversed(list(node.iter(include_text=True))))
    return _Content(" ".join(" ".join(texts).split()), tuple(links), media)


def _is_furniture(node: LexborNode) -> bool:
    attrs = node.attributes
    marks = f"{attrs.get('class') or ''} {attrs.get('id') or ''}".split()
    return any(_FURNITURE_RE.match(mark) for mark in marks)


def empty_column_note(doc: Document) -> str | None:
    """The note of an empty column page ("" when it shows nothing at all), or None when the page
    shows content: prose, images, or links to anything but itself and the homepage (a landing page of
    sub-columns is not blank)."""
    content = _main_content(doc)
    own = column_key(_normal(doc.url))
    if len(content.text) > MAX_NOTE_CHARS or any(
        column_key(url) != own and urlsplit(url).path != "/" for url in content.links
    ):
        return None
    if _EMPTY_RE.search(content.text) or explains_empty(content.text):
        return content.text
    if not content.text and content.media == 0:
        return ""
    return None


# --------------------------------------------------------------------------- state


@dataclass(slots=True)
class _Column:
    key: str  # column_key() of its pages
    url: str  # the first list page seen (a later page until the first one turns up)
    name: str = ""
    name_rank: int = _NO_NAME
    column_type: str = ""
    pages: set[str] = field(default_factory=set)
    item_count: int = 0
    newest: date | None = None
    newest_url: str | None = None
    date_source: str = ""
    empty_note: str = ""

    def name_from(self, name: str, rank: int) -> None:
        if name and rank < self.name_rank:
            self.name, self.name_rank = name, rank

    def offer(self, found: date, url: str, source: str) -> None:
        if self.newest is None or found > self.newest:
            self.newest, self.newest_url, self.date_source = found, url, source


@dataclass(frozen=True, slots=True)
class _Homepage:
    url: str
    items: tuple[ListItem, ...]
    navigation_only: bool


class ColumnTracker:
    """Column observations of one site's crawl; see the module docstring."""

    def __init__(self, site: Site, policy: FreshnessPolicy, today: date) -> None:
        self._site = site
        self._policy = policy
        self._today = today
        self._homepage: _Homepage | None = None
        # The homepage reached again as …/index.html lists the homepage's blocks: not a column.
        self._homepage_keys = {column_key(_normal(site.url))}
        self._columns: dict[str, _Column] = {}
        self._names: dict[str, str] = {}  # column key → anchor text of a navigation / 更多 link
        self._aliases: dict[str, str] = {}  # column key of an odd pagination URL → its first page's
        self._pending: dict[str, str] = {}  # article URL → key of the undated column listing it
        self._article_dates: dict[str, DateFinding] = {}
        self._second_level: ListItem | None = None  # newest dated item of the depth-1 pages
        self._flagged: set[str] = set()  # articles already reported as future-dated

    # ------------------------------------------------------------------ observe

    def observe(self, page: PageView) -> list[Judgement]:
        if page.depth == 0 and self._homepage is None:
            self._observe_homepage(page)
            return []
        if marked_as_article(page.doc):
            # Never a list (extract_list says is_list=False for these): skip the costly list scan.
            return self._observe_article(page)
        listing = extract_list(page.doc, self._today)
        if listing.is_list:
            self._observe_list(page, listing)
            return []
        if self._is_column_shaped(page) and not listing.data_urls:
            # A list loaded from data_urls is empty in the HTML only: not judged blank.
            note = empty_column_note(page.doc)
            if note is not None:
                self._observe_empty(page, listing, note)
                return []
        return self._observe_article(page)

    def _observe_homepage(self, page: PageView) -> None:
        items = homepage_items(page.doc, self._today)
        anchors = sum(1 for link in page.parsed.links if link.element is Element.A)
        self._homepage = _Homepage(page.url, items, not items and anchors < NAV_ONLY_MAX_LINKS)
        self._homepage_keys.update(column_key(url) for url in (page.url, _normal(page.final_url)))
        self._learn_names(page.doc)

    def _observe_list(self, page: PageView, listing: ListingResult) -> None:
        if page.depth <= 1:
            self._learn_names(page.doc)
        newest = _newest(item for item in listing.items if item.date is not None and item.date <= self._today)
        if page.depth == 1 and newest is not None:
            self._note_second_level(newest)
        column = self._column_of(page, listing)
        if column is None:
            return
        self._alias(listing.next_pages, column.key)
        page_key = _page_key(_normal(page.final_url))
        if page_key in column.pages:
            return  # the same list page reached by another URL
        column.pages.add(page_key)
        column.item_count += len(listing.items)
        if newest is not None and newest.date is not None:
            column.offer(newest.date, newest.url, LIST_SOURCE)
        elif column.newest is None:
            self._probe_articles(column, listing.items[:ARTICLE_PROBES])

    def _observe_empty(self, page: PageView, listing: ListingResult, note: str) -> None:
        column = self._column_of(page, listing)
        if column is not None and not column.empty_note:
            column.empty_note = note

    def _observe_article(self, page: PageView) -> list[Judgement]:
        finding = article_date(page.doc, self._today)
        if finding is None or finding.precision != "day":
            return []  # a month from a URL folder says nothing about the day
        final = _normal(page.final_url)
        for url in dict.fromkeys((page.url, final)):
            _put_fifo(self._article_dates, url, finding, MAX_ARTICLE_DATES)
            key = self._pending.pop(url, None)
            if key is not None and key in self._columns:
                self._date_column(self._columns[key], page.url, finding)
        if finding.date <= self._today:
            if page.depth == 1:
                self._note_second_level(ListItem(page.parsed.title, page.url, finding.date))
            return []
        if finding.source == GUESS_SOURCE or final in self._flagged:
            return []
        self._flagged.add(final)
        return [
            replace(j, detail={**j.detail, "date_source": finding.source})
            for j in future_dated(finding.date, self._today, page.url)
        ]

    def carry_over(self, prior: ColumnObservation) -> None:
        """A column whose first list page answered 304 Not Modified: it is as the last run saw it."""
        key = self._key(_normal(prior.url))
        if key in self._columns or key in self._homepage_keys or len(self._columns) >= MAX_COLUMNS:
            return
        column = self._columns[key] = _Column(key=key, url=prior.url, item_count=prior.item_count,
                                              newest=prior.newest_date, newest_url=prior.newest_url,
                                              date_source=prior.date_source)
        column.name_from(prior.name, _NAME_META)

    # ------------------------------------------------------------------ helpers

    def _is_column_shaped(self, page: PageView) -> bool:
        meta = page.parsed.meta
        if "articletitle" in meta or "pubdate" in meta:
            return False
        final = _normal(page.final_url)
        return (
            bool(meta.get("columnname"))
            or looks_like_column_url(final)
            or self._key(final) in self._names
            or self._key(page.url) in self._names
        )

    def _key(self, url: str) -> str:
        key = column_key(url)
        return self._aliases.get(key, key)

    def _column_of(self, page: PageView, listing: ListingResult) -> _Column | None:
        final = _normal(page.final_url)
        key = self._key(final)
        if key in self._homepage_keys:
            return None
        column = self._columns.get(key)
        if column is None:
            if len(self._columns) >= MAX_COLUMNS:
                return None
            column = self._columns[key] = _Column(key=key, url=final)
        elif _is_later_page(column.url) and not _is_later_page(final):
            column.url = final
        self._name_column(column, page, listing)
        if not column.column_type:
            column.column_type = listing.column_type
        return column

    def _name_column(self, column: _Column, page: PageView, listing: ListingResult) -> None:
        column.name_from(page.parsed.meta.get("columnname", "").strip(), _NAME_META)
        link_name = self._names.get(column.key) or self._names.get(self._key(page.url), "")
        column.name_from(link_name, _NAME_LINK)
        # listing.column_name is ColumnName meta, else the breadcrumb, else the title's first part:
        # a breadcrumb beats a link's text, the page title does not.
        title_part = _TITLE_SPLIT_RE.split(" ".join(page.parsed.title.split()))[0]
        guessed = listing.column_name
        column.name_from(guessed, _NAME_TITLE if guessed == title_part else _NAME_CRUMB)

    def _learn_names(self, doc: Document) -> None:
        for link in column_links(doc, known=self._has_name):
            if len(self._names) >= MAX_NAMES:
                return
            self._names.setdefault(self._key(_normal(link.url)), link.name)

    def _has_name(self, url: str) -> bool:
        # A column named by an earlier link keeps that name (setdefault above): its links need no reading.
        return self._key(_normal(url)) in self._names

    def _alias(self, next_pages: Iterable[str], key: str) -> None:
        for url in next_pages:
            other = column_key(_normal(url))
            if other != key and len(self._aliases) < MAX_ALIASES:
                self._aliases.setdefault(other, key)

    def _probe_articles(self, column: _Column, items: Iterable[ListItem]) -> None:
        """Date an undated list by its first (newest) articles: now if already seen, else when fetched."""
        for item in items:
            url = _normal(item.url)
            known = self._article_dates.get(url)
            if known is not None:
                self._date_column(column, url, known)
            else:
                _put_fifo(self._pending, url, column.key, MAX_PENDING_ARTICLES)

    def _date_column(self, column: _Column, url: str, finding: DateFinding) -> None:
        if finding.date <= self._today:
            column.offer(finding.date, url, f"article:{finding.source}")

    def _note_second_level(self, item: ListItem) -> None:
        self._second_level = _newest(filter(None, (self._second_level, item)))

    # ------------------------------------------------------------------ finish

    def finish(self) -> ColumnsOutcome:
        observations = tuple(self._observation(column) for column in self._columns.values())
        judgements = [j for obs in observations for j in judge_column(obs, self._policy, self._today)]
        judgements += self._homepage_judgements()
        return ColumnsOutcome(observations, tuple(judgements), veto_flags(judgements, self._policy))

    def _observation(self, column: _Column) -> ColumnObservation:
        return ColumnObservation(
            site=self._site.code,
            url=column.url,
            name=column.name,
            column_class=classify(column.name, self._policy, column.column_type, column.url),
            newest_date=column.newest,
            newest_url=column.newest_url,
            item_count=column.item_count,
            date_source=column.date_source or "none",
            empty_note=column.empty_note,
        )

    def _homepage_judgements(self) -> list[Judgement]:
        """The homepage rule; for a homepage that is only navigation, applied to the second-level pages
        together: stale unless one of them shows an item dated within the window."""
        homepage = self._homepage
        if homepage is None:
            return []  # never fetched: the availability checks report that
        items, basis = homepage.items, "homepage"
        if homepage.navigation_only:
            items, basis = (self._second_level,) if self._second_level else (), "second_level"
        found = judge_homepage(items, self._today, self._policy.homepage_window_days, homepage.url)
        return [replace(j, detail={**j.detail, "basis": basis}) for j in found]


def _newest(items: Iterable[ListItem]) -> ListItem | None:
    return max(items, key=lambda item: item.date or date.min, default=None)
