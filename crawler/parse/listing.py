"""Column (栏目) pages: their list of articles, pagination, data endpoints, and links to other columns.

A list page is recognised by its dominant repeated structure: the container (ul/ol/table/dl/div) whose
children repeat the same tag, each with one article link and usually a date. Navigation menus repeat
too, so containers inside nav/header/footer furniture, and undated runs of links to column index pages,
are not lists. Hanweb (大汉) sites ship their list as `<record><![CDATA[...]]></record>` entries in a
`<script type="text/xml">` block; those are read first.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from urllib.parse import urljoin, urlsplit

from selectolax.lexbor import LexborHTMLParser, LexborNode

from crawler.frontier.urls import resolver
from crawler.parse.dates import find_full_dates, parse_date_text
from crawler.parse.document import Document
from crawler.types import ListItem


@dataclass(frozen=True, slots=True)
class ListingResult:
    items: tuple[ListItem, ...]
    is_list: bool
    next_pages: tuple[str, ...] = ()  # other pages of the same list (absolute URLs)
    column_name: str = ""
    column_type: str = ""  # ColumnType meta, as written
    data_urls: tuple[str, ...] = ()  # endpoints the page loads its list from (not fetched here)


@dataclass(frozen=True, slots=True)
class ColumnLink:
    url: str
    name: str
    via_more: bool  # found as a block's 更多/more link (name is the block heading)


MIN_LIST_ITEMS = 3  # fewer repeated links is a link group, not a column list
MAX_GENERATED_PAGES = 500  # a TRS script claiming more pages than this is not trusted further

# --------------------------------------------------------------------------- urls and text


def _base_url(doc: Document) -> str:
    base = doc.tree.css_first("base[href]")
    href = (base.attributes.get("href") or "").strip() if base is not None else ""
    return urljoin(doc.url, href) if href else doc.url


def _goes_somewhere(href: str | None) -> bool:
    href = (href or "").strip()
    return bool(href) and not href.startswith("#") and not href.lower().startswith(_DEAD_SCHEMES)


_DEAD_SCHEMES = ("javascript:", "mailto:", "tel:")


def _absolute(base: str, href: str | None) -> str | None:
    """Absolute URL without fragment, or None for links that go nowhere (javascript:, mailto:, #)."""
    if not _goes_somewhere(href):
        return None
    href = (href or "").strip()
    if base.startswith(("http://", "https://")):
        # The crawler's own normalisation (cached per site), so items match the URLs it fetches.
        return _resolver_for(base)(href)
    url = urljoin(base, href).split("#", 1)[0]  # a local file (inspect-page)
    return url if url.startswith(("http://", "https://", "file://")) else None


@lru_cache(maxsize=64)
def _resolver_for(base: str) -> Callable[[str], str | None]:
    return resolver(base)


def _clean(text: str) -> str:
    return " ".join(text.split())


def _link_title(a: LexborNode) -> str:
    # Lists truncate long titles in the text ("关于印发…的通知...") and keep the full one in title=.
    title = _clean(a.attributes.get("title") or "")
    return title or _clean(a.text())


_COLUMN_URL_RE = re.compile(r"(/col/col\d+/?(index\.s?html?)?$|/$|/index\.(s?html?|jsp|php|aspx?)$)", re.I)


def looks_like_column_url(url: str) -> bool:
    """Whether a URL looks like a column index (…/tzgg/, …/index.html, Hanweb /col/col1234/) rather
    than an article (…/t20231120_123.html, /art/2023/11/20/art_1_2.html)."""
    path = urlsplit(url).path or "/"
    return bool(_COLUMN_URL_RE.search(path)) and not re.search(r"/t\d{8}_|/art/\d{4}/", path)


# --------------------------------------------------------------------------- list detection

_FURNITURE_TAGS = frozenset({"nav", "header", "footer", "head", "script", "style", "select", "form"})
# class/id tokens of furniture: prefixes (navbar, menu-list, footer) and whole tokens ("page" alone is a
# pager, but "pagecontent" is not).
_FURNITURE_PREFIX_RE = re.compile(r"^(?:nav|menu|daohang|foot|copyright|banquan|crumb|breadcrumb)", re.I)
_FURNITURE_TOKENS = frozenset(
    {
        "dh",
        "bottom",
        "header",
        "head",
        "top",
        "position",
        "location",
        "page",
        "pager",
        "pages",
        "paging",
        "fenye",
        "pagination",
        "yqlj",
        "links",
        "friendlink",
    }
)
_TOKEN_SPLIT_RE = re.compile(r"[\s_-]+")
_CONTAINER_TAGS = frozenset({"ul", "ol", "tbody", "table", "dl", "div", "td", "section"})


@dataclass(frozen=True, slots=True)
class _Block:
    """A container whose children repeat: its items and how it scores as the page's list."""

    node: LexborNode
    items: tuple[ListItem, ...]

    @property
    def dated(self) -> int:
        return sum(1 for item in self.items if item.date is not None)

    @property
    def is_navigation(self) -> bool:
        # Menus are undated runs of links to column index pages.
        columns = sum(looks_like_column_url(item.url) for item in self.items)
        return self.dated == 0 and columns * 2 >= len(self.items)


def _is_furniture(node: LexborNode) -> bool:
    """Whether the node or an ancestor is page furniture (menus, header, footer, pagination)."""
    current: LexborNode | None = node
    while current is not None and current.tag not in ("body", "html"):
        if current.tag in _FURNITURE_TAGS:
            return True
        attrs = current.attributes
        for token in _TOKEN_SPLIT_RE.split(f"{attrs.get('class') or ''} {attrs.get('id') or ''}"):
            if token and (token.lower() in _FURNITURE_TOKENS or _FURNITURE_PREFIX_RE.match(token)):
                return True
        current = current.parent
    return False


def _item_of(child: LexborNode, base: str, today: date) -> ListItem | None:
    """A list item from one repeated child: its main link and the date next to it, if any."""
    if child.tag == "a":
        links = [child]
    else:
        links = [a for a in child.css("a[href]") if _goes_somewhere(a.attributes.get("href"))]
    if not links or len(links) > 3:  # more links than an item has: a nested list or a link group
        return None
    a = max(links, key=lambda node: len(_clean(node.text())))  # the title, not a "[通知公告]" tag
    title = _link_title(a)
    url = _absolute(base, a.attributes.get("href"))
    if url is None or len(title) < 2:
        return None
    return ListItem(title=title, url=url, date=_item_date(child, a, today))


def _item_date(child: LexborNode, a: LexborNode, today: date) -> date | None:
    if child.tag == "a":
        # <a>title</a><span>2023-11-20</span><br><a>…: the date is the next sibling element.
        sibling = child.next
        while sibling is not None and not sibling.is_element_node:
            sibling = sibling.next
        rest = _clean(sibling.text()) if sibling is not None and sibling.tag != "a" else ""
    else:
        rest = _clean(child.text(separator=" ").replace(a.text(separator=" "), " ", 1))
    found = parse_date_text(rest, today) if rest else None
    if found is None:
        # Some CMSs put the date inside the link: "标题 2023-11-20". Only dates with a year there,
        # since titles are full of numbers.
        full = find_full_dates(_clean(a.text()), today)
        found = full[-1].date if full else None
    return found


def _blocks(doc: Document, today: date) -> list[_Block]:
    """Every container whose element children repeat one tag, with the items of those children."""
    body = doc.tree.body
    if body is None:
        return []
    base = _base_url(doc)
    blocks: list[_Block] = []
    for node in body.traverse():
        if node.tag not in _CONTAINER_TAGS:
            continue
        children = [c for c in node.iter() if c.is_element_node and c.tag not in ("br", "script", "style")]
        if len(children) < 2:
            continue
        tag, count = Counter(c.tag for c in children).most_common(1)[0]
        if count < 2 or (tag == "a" and node.tag in ("ul", "ol", "tbody", "table", "dl")):
            continue
        items = tuple(item for c in children if c.tag == tag and (item := _item_of(c, base, today)))
        if len(items) >= 2:
            blocks.append(_Block(node, items))
    return blocks


def _main_block(blocks: list[_Block]) -> _Block | None:
    """The page's list: the non-navigation block with the most dated items, then the most items."""
    best: tuple[int, int] | None = None
    chosen: _Block | None = None
    for block in blocks:
        if block.is_navigation or len(block.items) < MIN_LIST_ITEMS or _is_furniture(block.node):
            continue
        score = (block.dated, len(block.items))
        if best is None or score > best:
            best, chosen = score, block
    return chosen


# --------------------------------------------------------------------------- Hanweb records

_RECORD_RE = re.compile(r"<record>\s*<!\[CDATA\[(.*?)\]\]>\s*</record>", re.S | re.I)


def _hanweb_items(doc: Document, today: date) -> tuple[ListItem, ...]:
    """Items of Hanweb (大汉) lists shipped as CDATA records in <script type="text/xml">."""
    base = _base_url(doc)
    items: list[ListItem] = []
    for script in doc.tree.css('script[type="text/xml"]'):
        records = _RECORD_RE.findall(script.text())
        if not records:
            continue
        # One parse for all records of the block; each record becomes one <div> child.
        fragment = LexborHTMLParser("".join(f"<div>{r}</div>" for r in records)).body
        if fragment is None:
            continue
        for record in fragment.iter():
            if record.is_element_node and (item := _item_of(record, base, today)) is not None:
                items.append(item)
    return tuple(items)


# --------------------------------------------------------------------------- pagination

_PAGE_TEXT_RE = re.compile(r"^(下一页|下页|尾页|末页|最后一页|后页|next|>|>>|»|›)$", re.I)
_PAGE_HREF_RE = re.compile(
    r"(index_\d+\.s?html?$|[?&](page|pageno|pageindex|pagenum|curpage|currentpage|pn|p)=\d+)", re.I
)
_PAGER_MARK_RE = re.compile(r"page|pager|fenye|pagination", re.I)
_TRS_PAGER_RE = re.compile(r"createPageHTML\s*\(([^)]*)\)")


def _pagination(doc: Document, base: str) -> tuple[str, ...]:
    found: dict[str, None] = {}  # ordered set
    for a in doc.tree.css("a[href]"):
        url = _absolute(base, a.attributes.get("href"))
        if url is None or url == doc.url:
            continue
        text = _clean(a.text())
        if (
            _PAGE_TEXT_RE.match(text)
            or _PAGE_HREF_RE.search(url)
            or (text.isdigit() and a.parent is not None and _pager_ancestor(a))
        ):
            found[url] = None
    for script in doc.tree.css("script"):
        body = script.text()
        for m in _TRS_PAGER_RE.finditer(body):
            for url in trs_pages(m.group(1), body, base):
                found.setdefault(url, None)
    found.pop(doc.url, None)
    return tuple(found)


def _pager_ancestor(node: LexborNode) -> bool:
    current = node.parent
    for _ in range(3):
        if current is None:
            return False
        attrs = current.attributes
        if _PAGER_MARK_RE.search(f"{attrs.get('class') or ''} {attrs.get('id') or ''}"):
            return True
        current = current.parent
    return False


def trs_pages(arguments: str, script: str, base: str) -> list[str]:
    """URLs of the pages a TRS `createPageHTML(...)` call renders links to.

    The classic call is createPageHTML(countPage, currentPage, "index", "html"); newer templates put a
    div id first and a record count last. Page 0 is index.html, page n is index_n.html. Arguments
    may be variables assigned earlier in the same script.
    """
    numbers: list[int] = []
    strings: list[str] = []
    for raw in arguments.split(","):
        arg = raw.strip()
        if arg[:1] in "'\"":
            if len(numbers) >= 2:  # strings before the numbers are element ids
                strings.append(arg.strip("'\""))
        elif arg.isdigit():
            numbers.append(int(arg))
        elif re.fullmatch(r"[A-Za-z_$][\w$]*", arg):
            m = re.search(rf"\b{re.escape(arg)}\s*=\s*(\d+)", script)
            if m:
                numbers.append(int(m.group(1)))
    if len(numbers) < 2:
        return []
    total = min(numbers[0], MAX_GENERATED_PAGES)
    prefix, ext = (strings + ["index", "html"][len(strings) :])[:2]
    return [urljoin(base, prefix + ("" if n == 0 else f"_{n}") + "." + ext) for n in range(total)]


# --------------------------------------------------------------------------- column name, data urls

_CRUMB_TEXT_RE = re.compile(r"当前位置|您的位置|您现在的位置|所在位置|当前栏目")
_CRUMB_MARK_RE = re.compile(r"crumb|position|location|dqwz|weizhi|curpos|mianbao", re.I)
_CRUMB_SEPARATORS = ">»＞›/|-→:："


def _meta(doc: Document, name: str) -> str:
    for node in doc.tree.css("meta[name]"):
        if (node.attributes.get("name") or "").strip().lower() == name:
            return _clean(node.attributes.get("content") or "")
    return ""


def _breadcrumb_last(doc: Document) -> str:
    """The last item of the 当前位置 breadcrumb: the column the page belongs to."""
    body = doc.tree.body
    if body is None:
        return ""
    for node in body.traverse():
        attrs = node.attributes
        marks = f"{attrs.get('class') or ''} {attrs.get('id') or ''}"
        if _CRUMB_TEXT_RE.search(node.text(deep=False)):
            # "当前位置：" may be a label of its own with the links as its siblings.
            name = _last_crumb(node) or (_last_crumb(node.parent) if node.parent is not None else "")
        elif len(marks) > 1 and _CRUMB_MARK_RE.search(marks):
            name = _last_crumb(node)
        else:
            continue
        if name:
            return name
    return ""


def _last_crumb(node: LexborNode) -> str:
    parts = [p.strip(_CRUMB_SEPARATORS + " \u3000") for p in node.text(separator="\n").split("\n")]
    parts = [p for p in parts if p and not _CRUMB_TEXT_RE.search(p)]
    return parts[-1] if parts and len(parts[-1]) <= 30 else ""


def _column_name(doc: Document) -> str:
    name = _meta(doc, "columnname") or _breadcrumb_last(doc)
    if name:
        return name
    title = doc.tree.css_first("title")
    return re.split(r"\s*[_|\-—–]\s*", _clean(title.text()))[0] if title is not None else ""


_DATA_URL_RES = (
    re.compile(r"""["']([^"'\s]*dataproxy\.jsp[^"'\s]*)["']"""),
    re.compile(r"""\burl\s*:\s*["']([^"'\s]+)["']"""),
    re.compile(r"""\$\.(?:get|post|getJSON)\(\s*["']([^"'\s]+)["']"""),
    re.compile(r"""\bfetch\(\s*["']([^"'\s]+)["']"""),
)
_STATIC_RE = re.compile(r"\.(js|css|png|jpe?g|gif|svg|ico|woff2?)(\?|$)", re.I)


def _data_urls(doc: Document, base: str) -> tuple[str, ...]:
    found: dict[str, None] = {}
    for script in doc.tree.css("script"):
        if script.attributes.get("src"):
            continue
        body = script.text()
        for pattern in _DATA_URL_RES:
            for m in pattern.finditer(body):
                url = _absolute(base, m.group(1))
                if url is not None and not _STATIC_RE.search(url):
                    found[url] = None
    return tuple(found)


# --------------------------------------------------------------------------- public API


# Article bodies of the common government CMSs (TRS, Hanweb, UEditor).
_ARTICLE_BODY_SELECTOR = ".TRS_Editor, .TRS_UEDITOR, #zoom, .article-content, #UCAP-CONTENT"
MIN_PROSE_CHARS = 300  # paragraph text, outside links, that makes a page an article


_ARTICLE_URL_RE = re.compile(r"/t\d{8}_\d+|/art/\d{4}/\d{1,2}/\d{1,2}/")


def marked_as_article(doc: Document) -> bool:
    """The cheap signs of an article: its CMS meta tags or an article URL (TRS, Hanweb)."""
    return bool(_meta(doc, "articletitle") or _meta(doc, "pubdate")
                or _ARTICLE_URL_RE.search(urlsplit(doc.url).path))


def _is_article(doc: Document) -> bool:
    """Article pages carry related-article lists too; CMS meta tags, article URLs, article body
    containers and paragraphs of prose tell them apart from list pages."""
    if marked_as_article(doc):
        return True
    if doc.tree.css_first(_ARTICLE_BODY_SELECTOR) is not None:
        return True
    prose = 0
    for p in doc.tree.css("p"):
        if p.css_first("a") is None:
            prose += len(p.text(strip=True))
            if prose >= MIN_PROSE_CHARS:
                return True
    return False


def extract_list(doc: Document, today: date) -> ListingResult:
    """The column list of a page (if it is a list page), its pagination, name, type and data URLs."""
    base = _base_url(doc)
    items = _hanweb_items(doc, today)
    if not items:
        block = _main_block(_blocks(doc, today))
        items = block.items if block is not None else ()
    return ListingResult(
        items=items,
        is_list=bool(items) and not _is_article(doc),
        next_pages=_pagination(doc, base),
        column_name=_column_name(doc),
        column_type=_meta(doc, "columntype"),
        data_urls=_data_urls(doc, base),
    )


def homepage_items(doc: Document, today: date) -> tuple[ListItem, ...]:
    """Dated items of every list block on a homepage (news, notices ...), each URL once."""
    seen: dict[str, ListItem] = {}
    blocks = _blocks(doc, today)
    for item in _hanweb_items(doc, today) + tuple(i for b in blocks for i in b.items):
        if item.date is not None and item.url not in seen:
            seen[item.url] = item
    return tuple(seen.values())


_MORE_RE = re.compile(r"^(更多|更多>+|更多\+|more|more>+|>>|》》|\+更多|查看更多|更多信息)$", re.I)
_NAV_MARK_RE = re.compile(r"(?:^|[\s_-])(?:nav|menu|daohang|dh)", re.I)


def column_links(doc: Document) -> tuple[ColumnLink, ...]:
    """Links to column index pages: navigation entries, 更多 links of blocks, other column-shaped links.

    Host filtering is the caller's: a site's columns may live on several of its hosts.
    """
    base = _base_url(doc)
    found: dict[str, ColumnLink] = {}
    for a in doc.tree.css("a[href]"):
        url = _absolute(base, a.attributes.get("href"))
        if url is None or url == doc.url:
            continue
        text = _clean(a.text()) or _clean(" ".join((img.attributes.get("alt") or "") for img in a.css("img")))
        if _MORE_RE.match(text.replace(" ", "")):
            name = _block_heading(a)
            if name and url not in found:
                found[url] = ColumnLink(url=url, name=name, via_more=True)
            continue
        if not 2 <= len(text) <= 15 or url in found:
            continue
        if looks_like_column_url(url) or _in_navigation(a):
            found[url] = ColumnLink(url=url, name=text, via_more=False)
    return tuple(found.values())


def _in_navigation(node: LexborNode) -> bool:
    current = node.parent
    while current is not None and current.tag not in ("body", "html"):
        attrs = current.attributes
        if current.tag == "nav" or _NAV_MARK_RE.search(f"{attrs.get('class') or ''} {attrs.get('id') or ''}"):
            return True
        current = current.parent
    return False


def _block_heading(more: LexborNode) -> str:
    """The heading of the block a 更多 link belongs to: the first short text of its nearest ancestors."""
    current = more.parent
    for _ in range(4):
        if current is None:
            return ""
        for part in current.text(separator="\n").split("\n"):
            part = part.strip(" \u3000>»|·")
            if 2 <= len(part) <= 20 and not _MORE_RE.match(part.replace(" ", "")):
                return part
        current = current.parent
    return ""
