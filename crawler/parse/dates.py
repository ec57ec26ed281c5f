"""Dates on Chinese government pages: list-item date texts and the publication date of an article page.

Two entry points:

* `parse_date_text` reads the short date text of a list item ("2023-11-20", "[11-20]", "11月20日" ...).
* `article_date` finds the publication date of an article page, strongest evidence first: CMS meta tags,
  then a labelled or unlabelled date in the header area around the title, inline-script date keys,
  then the URL, and only then weak guesses.

Pages are full of other dates (today's date in the site header, related-article lists, catalogue
生成日期, event dates in the body, copyright years), so the text phase anchors on the article title
and ignores link lists, footers and sidebars rather than taking the first date it sees.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import NamedTuple
from weakref import WeakKeyDictionary

from selectolax.lexbor import LexborNode

from crawler.parse.document import Document, title_element

MIN_YEAR = 1970  # older "dates" are version numbers, counters or typos
MAX_YEARS_AHEAD = 20  # keep mildly future dates: a future publication date is itself a finding

# --------------------------------------------------------------------------- date texts

_CN_DIGITS = {
    "〇": 0,
    "零": 0,
    "○": 0,
    "O": 0,
    "一": 1,
    "二": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}

# Full dates. The separator must repeat ("2023-11-20", never "2023-11.20") so that version strings
# and phone numbers are not read as dates. The year must not follow a digit or a dot; that test comes
# after its "19"/"20" (and so looks three characters back) so that the regex engine can skip ahead to
# the 1s and 2s of long paragraphs instead of trying every position.
_FULL_RE = re.compile(
    r"((?:19|20)(?<![\d.](?:19|20))\d{2})\s*(?:"
    r"([-/.])\s*(\d{1,2})\s*\2\s*(\d{1,2})"
    r"|年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日?"
    r")(?![\d])"
)
# M/D/YYYY, the default date format of US-locale ASP/.NET servers ("7/5/2005 9:23:57 PM").
_US_RE = re.compile(r"(?<![\d/])(\d{1,2})/(\d{1,2})/((?:19|20)\d{2})(?![\d/])")
# 成文日期 of official documents is written in Chinese numerals: 二〇二三年十一月二十日.
_CN_NUM = "[一二三四五六七八九十]{1,3}"
_CN_FULL_RE = re.compile(rf"([〇零○O一二三四五六七八九]{{4}})年({_CN_NUM})月({_CN_NUM})日")
# Month and day without a year: only in brackets, as the whole text, or in 月/日 form.
_MD_CN_RE = re.compile(r"(?<!\d)(\d{1,2})\s*月\s*(\d{1,2})\s*日")
_MD_BRACKET_RE = re.compile(r"[\[(（【]\s*(\d{1,2})([-/.])(\d{1,2})\s*[\])）】]")
# As the whole text only with - or /: a bare "1.5" is a number.
_MD_WHOLE_RE = re.compile(r"^\s*(\d{1,2})([-/])(\d{1,2})(?:\s+\d{1,2}:\d{2}(?::\d{2})?)?\s*$")


def make_date(year: int, month: int, day: int, today: date) -> date | None:
    """A real calendar date in the plausible range, else None (2023-02-30, 1900-01-01 ...)."""
    if not MIN_YEAR <= year <= today.year + MAX_YEARS_AHEAD:
        return None
    try:
        return date(year, month, day)
    except ValueError:
        return None


def infer_year(month: int, day: int, today: date) -> date | None:
    """The latest real date with this month and day that is not after `today`.

    List pages drop the year for recent items, so "12-30" seen on 2024-01-02 means 2023-12-30.
    Looking back a few years also places 02-29 in the last leap year.
    """
    for year in range(today.year, today.year - 8, -1):
        found = make_date(year, month, day, today)
        if found is not None and found <= today:
            return found
    return None


def _cn_number(text: str) -> int:
    """十一 → 11, 二十 → 20, 三十一 → 31, 九 → 9."""
    if "十" not in text:
        return _CN_DIGITS[text]
    tens, _, units = text.partition("十")
    return (_CN_DIGITS[tens] if tens else 1) * 10 + (_CN_DIGITS[units] if units else 0)


class DateMatch(NamedTuple):  # a tuple: built for every dated text, at half the cost of a frozen dataclass
    """A full date (with year) found in a text, with its span."""

    date: date
    start: int
    end: int


def find_full_dates(text: str, today: date) -> list[DateMatch]:
    """Every valid date with a year in `text`, in order of position."""
    if "19" not in text and "20" not in text and "年" not in text:
        return []  # each shape has a year starting 19 or 20, or a 年: most texts stop at this test
    found = [DateMatch(d, m.start(), m.end()) for m, d in _full_matches(text, today) if d is not None]
    if len(found) > 1:
        found.sort(key=lambda f: f.start)
    return found


def _full_matches(text: str, today: date) -> Iterator[tuple[re.Match[str], date | None]]:
    """(match, date) for each full-date shape; the date is None when the match is no real date."""
    for m in _FULL_RE.finditer(text):
        month, day = (m.group(3), m.group(4)) if m.group(2) else (m.group(5), m.group(6))
        yield m, make_date(int(m.group(1)), int(month), int(day), today)
    if "/" in text:
        for m in _US_RE.finditer(text):
            yield m, make_date(int(m.group(3)), int(m.group(1)), int(m.group(2)), today)
    if "年" in text:
        for m in _CN_FULL_RE.finditer(text):
            digits = [_CN_DIGITS[c] for c in m.group(1)]
            year = digits[0] * 1000 + digits[1] * 100 + digits[2] * 10 + digits[3]
            yield m, make_date(year, _cn_number(m.group(2)), _cn_number(m.group(3)), today)


def _first_date(text: str, today: date) -> DateMatch | None:
    found = find_full_dates(text, today)
    return found[0] if found else None


def parse_date_text(s: str, today: date) -> date | None:
    """The date in a list item's date text; a missing year is the latest one not after `today`.

    Accepts 2023-11-20, 2023/11/20, 2023.11.20, 2023-1-5, 2023年11月20日 (times after it are ignored),
    and without a year [11-20], (11-20), 11-20 (as the whole text) and 11月20日.
    """
    full = find_full_dates(s, today)
    if full:
        return full[0].date
    m = _MD_CN_RE.search(s)
    if m:
        return infer_year(int(m.group(1)), int(m.group(2)), today)
    m = _MD_BRACKET_RE.search(s) or _MD_WHOLE_RE.match(s)
    if m:
        return infer_year(int(m.group(1)), int(m.group(3)), today)
    return None


# --------------------------------------------------------------------------- article pages


@dataclass(frozen=True, slots=True)
class DateFinding:
    date: date
    source: str  # meta:<name>, text:<label>, text:header, url:<pattern>, script:<key>
    precision: str = "day"  # "month" when only the year and month are known (URL /202311/)


# Meta names CMSs use for the publication date, best first. Names are compared lower-cased.
_META_NAMES = (
    "pubdate",
    "publishdate",
    "firstpublishedtime",
    "article:published_time",
    "og:article:published_time",
    "publish_date",
    "publishtime",
    "datepublished",
    "og:release_date",
    "apub:time",
    "dc.date.issued",
    "dc.date",
    "dcterms.created",
    "citation_publication_date",
    "citation_date",
    "prism.publicationdate",
    "og:time",
)
_META_RANK = {name: rank for rank, name in enumerate(_META_NAMES)}
_MODIFIED_META_RANK = {
    name: rank
    for rank, name in enumerate(
        (
            "article:modified_time",
            "datemodified",
            "dateupdate",
            "lastmodifiedtime",
            "weibo: article:update_at",
        )
    )
}


MetaAttributes = dict[str, str | None]
_METAS: WeakKeyDictionary[Document, tuple[MetaAttributes, ...]] = WeakKeyDictionary()


def meta_attributes(doc: Document) -> tuple[MetaAttributes, ...]:
    """The attributes of each <meta> of a page, in document order.

    Read once per document: the article date and the list page tests of one page all look at them,
    and each CSS query walks the whole tree.
    """
    found = _METAS.get(doc)
    if found is None:
        found = _METAS[doc] = tuple(node.attributes for node in doc.tree.tags("meta"))
    return found


def _from_meta(doc: Document, today: date, ranks: dict[str, int]) -> DateFinding | None:
    best: tuple[int, DateFinding] | None = None
    for attrs in meta_attributes(doc):
        name = (attrs.get("name") or attrs.get("property") or attrs.get("itemprop") or "").strip().lower()
        rank = ranks.get(name)
        if rank is None or (best is not None and best[0] <= rank):
            continue
        found = _first_date(attrs.get("content") or "", today)
        if found is not None:
            best = (rank, DateFinding(found.date, f"meta:{name}"))
    return best[1] if best else None


# Keys in inline scripts / JSON-LD that carry the publication date.
_SCRIPT_RE = re.compile(
    r"""["']?(datePublished|publish_?[tT]ime|pubDate|pub_date|publishDate)["']?\s*[:=]\s*["']([^"']{8,40})["']"""
)


def _from_scripts(doc: Document, today: date) -> DateFinding | None:
    for node in doc.tree.tags("script"):  # (cheaper than a CSS query, same elements)
        if node.attributes.get("src"):
            continue
        m = _SCRIPT_RE.search(node.text())
        if m:
            found = _first_date(m.group(2), today)
            if found is not None:
                return DateFinding(found.date, f"script:{m.group(1)}")
    return None


# URL shapes of the common CMSs: TRS t20231120_123.html, Hanweb /art/2023/11/20/, news sites
# /2023-11/20/ and /20231120/, and TRS month folders /202311/ (month precision only).
_URL_DAY_RES = (
    ("url:trs", re.compile(r"/t((?:19|20)\d{2})(\d{2})(\d{2})_\d+")),
    ("url:art", re.compile(r"/art/((?:19|20)\d{2})/(\d{1,2})/(\d{1,2})/")),
    ("url:ymd", re.compile(r"/((?:19|20)\d{2})[-/](\d{1,2})[-/](\d{1,2})/")),
    ("url:ymd", re.compile(r"/((?:19|20)\d{2})(\d{2})(\d{2})/")),
    ("url:ymd", re.compile(r"/((?:19|20)\d{2})(\d{2})/(\d{2})/")),
)
_URL_MONTH_RE = re.compile(r"/((?:19|20)\d{2})(\d{2})/")


def date_from_url(url: str, today: date) -> DateFinding | None:
    path = url.split("?", 1)[0]
    for source, pattern in _URL_DAY_RES:
        m = pattern.search(path)
        if m:
            found = make_date(int(m.group(1)), int(m.group(2)), int(m.group(3)), today)
            if found is not None:
                return DateFinding(found, source)
    m = _URL_MONTH_RE.search(path)
    if m:
        found = make_date(int(m.group(1)), int(m.group(2)), 1, today)
        if found is not None:
            return DateFinding(found, "url:month", precision="month")
    return None


# --------------------------------------------------------------------------- header-area text

# Elements whose text never carries the article's date.
_SKIP_TAGS = frozenset(
    {
        "script",
        "style",
        "noscript",
        "template",
        "select",
        "option",
        "textarea",
        "button",
        "svg",
        "iframe",
        "nav",
        "footer",
        "head",
        "title",
    }
)
# class/id tokens of page furniture: footers (copyright years), sidebars and related/hot lists,
# menus, comments. Matched at the start of a token so that "photo" is not "hot".
_NOISE_RE = re.compile(
    r"(?:^|[\s_-])(?:foot|copyright|banquan|bottom|side|relat|xgwz|xgxw|xglj|hot|rank|recommend|tuijian"
    r"|comment|nav|menu|weather)",
    re.IGNORECASE,
)
_HEADING_TAGS = frozenset({"h1", "h2", "h3"})
_BLOCK_TAGS = frozenset({"li", "tr", "dd", "dt", "p", "div", "td", "table", "ul", "ol", "dl", "section"})

# Labels in front of a date. Long labels are specific enough anywhere ("信息发布时间："); the bare
# 日期/时间 must not follow another Chinese character, which rules out 生成日期 (catalogue build
# date), 活动时间, 截止日期 and the like.
_STRONG_LABELS = (
    "发布时间",
    "发布日期",
    "发表时间",
    "发表日期",
    "发稿时间",
    "发文日期",
    "印发日期",
    "成文日期",
    "出版日期",
    "出版时间",
    "上传时间",
    "录入时间",
    "公开日期",
    "发布",
)
_SIGNING_LABELS = frozenset({"成文日期", "发文日期", "印发日期"})
_LABEL_RE = re.compile(
    r"(?:(" + "|".join(_STRONG_LABELS) + r")|(?<![\u4e00-\u9fff])(日期|时间))\s*[:：]?\s*[\[(（【]?\s*$"
)
_TODAY_RE = re.compile(r"(?:今天是|今日是|今天|今日|当前日期|当前时间)\s*[:：]?\s*$")
_WEEKDAY_RE = re.compile(r"^\s*(?:星期|周|礼拜)[一二三四五六日天]")


@dataclass(slots=True)
class _Segment:
    text: str
    start: int  # offset in the joined page text
    link: bool  # inside <a>: related-article and navigation lists
    heading: bool
    node: LexborNode


_Frame = tuple[Iterator[LexborNode], bool, bool]  # children to visit, inside a link, inside a heading


def _segments(doc: Document) -> list[_Segment]:
    """Visible text nodes of the body in document order, without page furniture."""
    body = doc.tree.body
    if body is None:
        return []
    out: list[_Segment] = []
    offset = 0
    # Explicit stack of the open elements (pages nest deeper than Python's recursion limit allows).
    stack: list[_Frame] = [(body.iter(include_text=True, skip_empty=True), False, False)]
    while stack:
        children, link, heading = stack[-1]
        node = next(children, None)
        if node is None:
            stack.pop()
            continue
        if node.is_text_node:
            text = " ".join((node.text_content or "").split())
            if text:
                out.append(_Segment(text, offset, link, heading, node))
                offset += len(text) + 1
            continue
        tag = node.tag
        if not node.is_element_node or tag in _SKIP_TAGS:
            continue
        attrs = node.attributes
        marks = f"{attrs.get('class') or ''} {attrs.get('id') or ''}"
        if len(marks) > 1 and _NOISE_RE.search(marks):
            continue
        inner = node.iter(include_text=True, skip_empty=True)
        stack.append((inner, link or tag == "a", heading or tag in _HEADING_TAGS))
    return out


_TITLE_SPLIT_RE = re.compile(r"\s*(?:[_|]|--|—|–|\s-\s)\s*")
_TITLE_MARK_RE = re.compile(r"title|biaoti|bt", re.IGNORECASE)


def _title_texts(doc: Document) -> list[str]:
    """What the article title may look like: ArticleTitle / og:title meta and the parts of <title>."""
    texts: list[str] = []
    for attrs in meta_attributes(doc):
        name = (attrs.get("name") or attrs.get("property") or "").lower()
        if name in ("articletitle", "og:title", "title"):
            texts.append(" ".join((attrs.get("content") or "").split()))
    title = title_element(doc)
    if title is not None:
        full = " ".join(title.text().split())
        texts.append(full)
        texts.extend(_TITLE_SPLIT_RE.split(full))
    return [t for t in texts if len(t) >= 4]


_CRUMB_MARK_RE = re.compile(r"crumb|position|location|dqwz|weizhi|curpos|path", re.IGNORECASE)
_CRUMB_TEXT_RE = re.compile(r"^[>»＞›]|当前位置|您的位置|所在位置")


def _ancestor_marked(node: LexborNode, pattern: re.Pattern[str], levels: int) -> bool:
    """Whether one of the `levels` nearest element ancestors has a class or id matching `pattern`."""
    parent = node.parent
    for _ in range(levels):
        if parent is None:
            return False
        attrs = parent.attributes
        if pattern.search(f"{attrs.get('class') or ''} {attrs.get('id') or ''}"):
            return True
        parent = parent.parent
    return False


def _is_heading(seg: _Segment) -> bool:
    # Old CMSs style the title with a class on a nearby td/div/span rather than with <h1>.
    return seg.heading or _ancestor_marked(seg.node, _TITLE_MARK_RE, 3)


def _is_breadcrumb(seg: _Segment) -> bool:
    return bool(_CRUMB_TEXT_RE.search(seg.text)) or _ancestor_marked(seg.node, _CRUMB_MARK_RE, 4)


def _title_anchor(doc: Document, segments: list[_Segment]) -> int | None:
    """Index of the segment that is the article's title on the page."""
    titles = _title_texts(doc)
    # Quick rejection of the many segments that overlap no title. Segment texts have no newline, so one
    # is in the joined titles exactly when it is in one of them.
    joined = "\n".join(titles)
    long_titles = [t for t in titles if len(t) >= 8]
    best: tuple[bool, bool, int, bool] | None = None
    best_index: int | None = None
    for index, seg in enumerate(segments):
        text = seg.text
        if len(text) < 4 or (text not in joined and not any(t in text for t in long_titles)):
            continue
        # How much of a title this segment covers: the whole article title beats the site name.
        overlap = max(
            (min(len(text), len(t)) for t in titles if text in t or (len(t) >= 8 and t in text)), default=0
        )
        if not overlap:
            continue
        # Plain text beats a link (related lists) and a breadcrumb, a longer match beats a shorter
        # one, a heading beats plain text; ties keep the first (titles repeat in hidden share data).
        score = (not seg.link, not _is_breadcrumb(seg), overlap, _is_heading(seg))
        if best is None or score > best:
            best, best_index = score, index
    if best_index is None:
        best_index = next(
            (i for i, seg in enumerate(segments) if seg.heading and not seg.link and len(seg.text) >= 6), None
        )
    return best_index


def _in_link_list(node: LexborNode) -> bool:
    """Whether a date sits in a list item whose text is mostly a link (related/latest-news lists)."""
    block = node.parent
    while block is not None and block.tag not in _BLOCK_TAGS:
        block = block.parent
    if block is None:
        return False
    link_chars = sum(len(a.text(strip=True)) for a in block.css("a"))
    return link_chars >= 6 and link_chars >= 0.4 * len(block.text(strip=True))


@dataclass(frozen=True, slots=True)
class _Candidate:
    date: date
    position: int  # offset in the joined page text
    label: str  # "" when unlabelled
    label_class: int  # 0 strong label, 1 bare 日期/时间, 2 none
    in_list: bool


def _candidates(segments: list[_Segment], skip: int | None, today: date) -> list[_Candidate]:
    out: list[_Candidate] = []
    for index, seg in enumerate(segments):
        if seg.link or index == skip:
            continue  # (find_full_dates rules out texts without a year at once)
        previous = segments[index - 1].text if index else ""
        for found in find_full_dates(seg.text, today):
            before = (previous + " " + seg.text[: found.start])[-24:]
            if _TODAY_RE.search(before):
                continue  # "今天是2026年11月28日 星期六" in the site header
            if found.date == today and _WEEKDAY_RE.match(seg.text[found.end :]):
                continue
            m = _LABEL_RE.search(before)
            label = (m.group(1) or m.group(2)) if m else ""
            label_class = 2 if not m else 0 if m.group(1) else 1
            in_list = label_class == 2 and _in_link_list(seg.node)
            out.append(_Candidate(found.date, seg.start + found.start, label, label_class, in_list))
    return out


def _text_dates(doc: Document, today: date) -> tuple[DateFinding | None, DateFinding | None]:
    """(finding, guess) from the page text.

    The finding is a date of the title's header area or a 发布时间-type labelled date; the guess, used
    only when nothing better turns up, is the first date after the title (blogs and forums put the
    date line at the end) or, with no title found, the first date of the page.
    """
    segments = _segments(doc)
    anchor_index = _title_anchor(doc, segments)
    candidates = _candidates(segments, anchor_index, today)
    usable = [c for c in candidates if not c.in_list]
    if anchor_index is not None:
        anchor = segments[anchor_index]
        best = _nearest_to_title(usable, anchor.start, anchor.start + len(anchor.text))
        if best is not None:
            return DateFinding(best.date, f"text:{best.label or 'header'}"), None
    labelled = next((c for c in usable if c.label_class == 0), None)
    if labelled is not None:
        return DateFinding(labelled.date, f"text:{labelled.label}"), None
    if anchor_index is not None:
        title_start = segments[anchor_index].start
        usable = [c for c in usable if c.position > title_start]
    elif not usable:
        usable = candidates  # a bare page whose only dates sit in link lists
    return None, (DateFinding(usable[0].date, "text:first") if usable else None)


# How far from the title a date may be, by label class (strong label, bare 日期/时间, none):
# publication lines sit right under the title, 信息公开 tables with 发布日期 sit above it.
_WINDOW_BELOW = (1000, 300, 300)
_WINDOW_ABOVE = (300, 300, 150)


def _nearest_to_title(candidates: list[_Candidate], title_start: int, title_end: int) -> _Candidate | None:
    """The best date of the title's header area.

    Labelled beats unlabelled, below the title beats above it, then the nearest wins.
    """
    scored: list[tuple[int, bool, int, int, _Candidate]] = []
    for c in candidates:
        # A document's 成文日期 (when it was signed) yields to its 发布日期 (when it was published).
        signed = c.label in _SIGNING_LABELS
        if c.position >= title_end:
            distance = c.position - title_end
            if distance <= _WINDOW_BELOW[c.label_class]:
                scored.append((c.label_class, signed, 0, distance, c))
        else:
            distance = title_start - c.position
            if distance <= _WINDOW_ABOVE[c.label_class]:
                scored.append((c.label_class, signed, 1, distance, c))
    return min(scored, key=lambda s: s[:4])[4] if scored else None


def article_date(doc: Document, today: date) -> DateFinding | None:
    """The publication date of an article page and where it came from, or None.

    Evidence in order of trust: publication-date meta tags, the header area under the title (or a
    labelled 发布时间 line), a date key in inline scripts/JSON-LD, the URL; then weak guesses: a
    modification-date meta tag (an upper bound that usually equals the publication date) and the
    first date of the page text.
    """
    meta = _from_meta(doc, today, _META_RANK)
    if meta is not None:
        return meta
    found, guess = _text_dates(doc, today)
    return (
        found
        or _from_scripts(doc, today)
        or date_from_url(doc.url, today)
        or _from_meta(doc, today, _MODIFIED_META_RANK)
        or guess
    )
