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
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from functools import cached_property, lru_cache, partial
from operator import itemgetter
from urllib.parse import urljoin, urlsplit
from weakref import WeakKeyDictionary

from selectolax.lexbor import LexborHTMLParser, LexborNode

from crawler.frontier.urls import resolver
from crawler.parse.dates import find_full_dates, meta_attributes, parse_date_text
from crawler.parse.document import Document, title_element
from crawler.types import ListItem


@dataclass(frozen=True, slots=True)
class ColumnLink:
    url: str
    name: str
    via_more: bool  # found as a block's 更多/more link (name is the block heading)


MIN_LIST_ITEMS = 3  # fewer repeated links is a link group, not a column list
MAX_ITEM_LINKS = 3  # an element with more links than this is a nested list or a link group, not a list item
MAX_GENERATED_PAGES = 500  # a TRS script claiming more pages than this is not trusted further

# --------------------------------------------------------------------------- urls and text


# Whole-document lookups go through tree.tags(name) rather than a CSS query: the same elements, in document
# order, at half the cost or less on a typical page (no selector to compile and match per element).


def _base_url(tree: LexborHTMLParser, url: str) -> str:
    base = next((node.attributes for node in tree.tags("base") if "href" in node.attributes), None)
    href = (base["href"] or "").strip() if base is not None else ""
    return urljoin(url, href) if href else url


def _live_href(href: str | None) -> str | None:
    """The href, stripped, or None for links that go nowhere (javascript:, mailto:, #)."""
    href = (href or "").strip()
    return href if href and not href.startswith("#") and not href.lower().startswith(_DEAD_SCHEMES) else None


_DEAD_SCHEMES = ("javascript:", "mailto:", "tel:")


def _absolute(base: str, href: str | None) -> str | None:
    """Absolute URL without fragment, or None for links that go nowhere (javascript:, mailto:, #)."""
    live = _live_href(href)
    return _joiner(base)(live) if live is not None else None


@lru_cache(maxsize=64)
def _joiner(base: str) -> Callable[[str], str | None]:
    """Resolves live hrefs against `base`."""
    if base.startswith(("http://", "https://")):
        # The crawler's own normalisation (cached per site), so items match the URLs it fetches.
        return resolver(base)
    return partial(_local_url, base)


def _local_url(base: str, href: str) -> str | None:
    url = urljoin(base, href).split("#", 1)[0]  # a local file (inspect-page)
    return url if url.startswith(("http://", "https://", "file://")) else None


def _clean(text: str) -> str:
    return " ".join(text.split())


def _elements(node: LexborNode, tag: str) -> Iterator[LexborNode]:
    """What node.css(tag) finds (the node itself included), in document order, without the set-up of a
    CSS query: worth it within the few elements of a link or a paragraph."""
    return (element for element in node.traverse() if element.tag == tag)


_COLUMN_URL_RE = re.compile(r"(/col/col\d+/?(index\.s?html?)?$|/$|/index\.(s?html?|jsp|php|aspx?)$)", re.I)
_ARTICLE_PATH_RE = re.compile(r"/t\d{8}_|/art/\d{4}/")


@lru_cache(maxsize=4096)  # asked for every item of every list and most links: nav URLs repeat on each page
def looks_like_column_url(url: str) -> bool:
    """Whether a URL looks like a column index (…/tzgg/, …/index.html, Hanweb /col/col1234/) rather
    than an article (…/t20231120_123.html, /art/2023/11/20/art_1_2.html)."""
    path = _url_path(url) or "/"
    return bool(_COLUMN_URL_RE.search(path)) and not _ARTICLE_PATH_RE.search(path)


def _url_path(url: str) -> str:
    """urlsplit(url).path. Plain http(s) URLs (the crawler's normal forms) are cut here: urlsplit takes
    ~10 µs, and most URLs are asked about once."""
    scheme_end = 7 if url.startswith("http://") else 8 if url.startswith("https://") else 0
    if not scheme_end or "\t" in url or "\r" in url or "\n" in url:
        return urlsplit(url).path  # (it removes those characters)
    host_end = min([i for i in (url.find(c, scheme_end) for c in "/?#") if i != -1], default=len(url))
    host = url[scheme_end:host_end]
    if "[" in host or "]" in host or not host.isascii():
        return urlsplit(url).path  # (it checks IPv6 and non-ASCII hosts)
    return url[host_end:].partition("#")[0].partition("?")[0]


# --------------------------------------------------------------------------- what a page is read for once

# The column tracker asks several questions of one page (its list, its column links, its pagination), and
# each reads the same links and scripts: those are read once per document. The memo holds no reference to
# the document, so entries go with their documents.


@dataclass(slots=True)  # not frozen: a frozen dataclass takes twice as long to build, and pages have hundreds
class _Link:
    """One <a href> of a page, read once."""

    node: LexborNode
    url: str | None  # absolute, without fragment; None when it goes nowhere
    text: str  # whitespace-collapsed
    live: bool  # the href goes somewhere (its URL can still be None when unusable, e.g. ftp:)
    title_attribute: str | None

    @property
    def title(self) -> str:
        # Lists truncate long titles in the text ("关于印发…的通知...") and keep the full one in title=.
        return _clean(self.title_attribute or "") or self.text


def _read_links(tree: LexborHTMLParser, base: str) -> tuple[_Link, ...]:
    join = _joiner(base)
    links = []
    for a in tree.tags("a"):
        attrs = a.attributes
        if "href" not in attrs:
            continue
        href = _live_href(attrs["href"])
        url = join(href) if href is not None else None
        links.append(_Link(a, url, _clean(a.text()), href is not None, attrs.get("title")))
    return tuple(links)


@dataclass(frozen=True, slots=True)
class _Holders:
    """The elements of a body that hold live links, and their first live links (document order, at most
    MAX_ITEM_LINKS + 1: enough to tell a list item from a link group). Keys are node mem_ids: wrappers of
    one node differ, and comparing them costs microseconds."""

    order: tuple[LexborNode, ...]  # every holder, in document order
    links: dict[int, list[_Link]]
    holding_children: dict[int, int]  # how many of a holder's children are holders


def _holders(links: Iterable[_Link], body: LexborNode | None) -> _Holders:
    """One upward walk per live link instead of a CSS query per element.

    A walk stops at the first holder that is full (has more than MAX_ITEM_LINKS links): its ancestors are
    full too, and how full does not matter. So the walks take linear time: each element is new to one walk
    and taken up by at most MAX_ITEM_LINKS more, and each walk ends at one full holder.
    """
    order: list[LexborNode] = []
    held: dict[int, list[_Link]] = {}
    holding_children: dict[int, int] = {}
    if body is None:
        return _Holders((), held, holding_children)
    top = body.mem_id
    for link in links:
        if not link.live:
            continue
        # The link and its ancestors that hold no earlier link (deepest first), up to the first that does.
        fresh: list[LexborNode] = []
        keys: list[int] = []
        node, key = link.node, link.node.mem_id
        while key != top and key not in held:
            fresh.append(node)
            keys.append(key)
            parent = node.parent
            if parent is None:
                break  # not inside <body>
            node, key = parent, parent.mem_id
        else:
            # This link is the first of each fresh holder, so they come in document order from the top down.
            order.extend(reversed(fresh))
            for fresh_key in keys:
                held[fresh_key] = [link]
            for parent_key in [*keys[1:], key]:
                holding_children[parent_key] = holding_children.get(parent_key, 0) + 1
            _add_to_holders(link, node, top, held)
    return _Holders(tuple(order), held, holding_children)


def _add_to_holders(link: _Link, node: LexborNode | None, top: int, held: dict[int, list[_Link]]) -> None:
    """Add the link to `node` and its ancestors below `top`, up to the first that is full."""
    while node is not None and (key := node.mem_id) != top:
        older = held[key]
        if len(older) > MAX_ITEM_LINKS:
            return
        older.append(link)
        node = node.parent


@dataclass(frozen=True, slots=True)
class _Script:
    text: str
    external: bool  # has a src
    xml: bool  # type="text/xml" (compared case-insensitively, as the CSS attribute selector does)


class _Page:
    """What the functions here read from one document; each part on first use."""

    def __init__(self, tree: LexborHTMLParser, url: str) -> None:
        self.tree = tree
        self.url = url
        self.meta: dict[str, str] | None = None  # meta name → content, filled by _meta
        self.nav_marks: dict[int, bool] = {}  # _in_navigation's answers, by mem_id
        self.furniture_marks: dict[int, bool] = {}  # _is_furniture's

    @cached_property
    def base(self) -> str:
        return _base_url(self.tree, self.url)

    @cached_property
    def links(self) -> tuple[_Link, ...]:  # every a[href], in document order
        return _read_links(self.tree, self.base)

    @cached_property
    def holders(self) -> _Holders:
        return _holders(self.links, self.tree.body)

    @cached_property
    def scripts(self) -> tuple[_Script, ...]:
        return tuple(_script(node) for node in self.tree.tags("script"))


def _script(node: LexborNode) -> _Script:
    attrs = node.attributes
    return _Script(node.text(), bool(attrs.get("src")), (attrs.get("type") or "").lower() == "text/xml")


_PAGES: WeakKeyDictionary[Document, _Page] = WeakKeyDictionary()


def _page(doc: Document) -> _Page:
    page = _PAGES.get(doc)
    if page is None:
        page = _PAGES[doc] = _Page(doc.tree, doc.url)
    return page


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
        if self.dated:
            return False
        columns = sum(looks_like_column_url(item.url) for item in self.items)
        return columns * 2 >= len(self.items)


def _is_furniture(node: LexborNode, page: _Page) -> bool:
    """Whether the node or an ancestor is page furniture (menus, header, footer, pagination)."""
    return _self_or_ancestor(node, _furniture_marked, page.furniture_marks)


def _furniture_marked(node: LexborNode) -> bool:
    if node.tag in _FURNITURE_TAGS:
        return True
    attrs = node.attributes
    tokens = _TOKEN_SPLIT_RE.split(f"{attrs.get('class') or ''} {attrs.get('id') or ''}")
    return any(token and (token.lower() in _FURNITURE_TOKENS or _FURNITURE_PREFIX_RE.match(token)) for token in tokens)


def _self_or_ancestor(node: LexborNode | None, marked: Callable[[LexborNode], bool], known: dict[int, bool]) -> bool:
    """Whether `node` or an ancestor below <body> is `marked`.

    `known` keeps the answer for every element walked, by mem_id: a page's lists and links share their
    ancestors, so each element is looked at once per page rather than once per descendant asking.
    """
    walked: list[int] = []
    answer = False
    while node is not None and node.tag not in ("body", "html"):
        key = node.mem_id
        if key in known:
            answer = known[key]
            break
        walked.append(key)
        if marked(node):
            answer = True
            break
        node = node.parent
    for key in walked:
        known[key] = answer
    return answer


def _item_of(child: LexborNode, holders: _Holders, today: date) -> ListItem | None:
    """A list item from one repeated child: its main link and the date next to it, if any."""
    links = holders.links.get(child.mem_id)
    if not links:
        return None
    if child.tag == "a":
        # A live <a> holds itself first (document order); one that goes nowhere has no URL.
        link = links[0]
        if link.node.mem_id != child.mem_id:
            return None
    elif len(links) > MAX_ITEM_LINKS:  # more links than an item has: a nested list or a link group
        return None
    else:
        link = max(links, key=lambda link: len(link.text))  # the title, not a "[通知公告]" tag
    title = link.title
    if link.url is None or len(title) < 2:
        return None
    return ListItem(title=title, url=link.url, date=_item_date(child, link, today))


_DATE_CHAR_RE = re.compile(r"[\d年]")  # every date text has one (二〇二三年十一月二十日 only the 年)


def _item_date(child: LexborNode, link: _Link, today: date) -> date | None:
    if child.tag == "a":
        # <a>title</a><span>2023-11-20</span><br><a>…: the date is the next sibling element.
        sibling = child.next
        while sibling is not None and not sibling.is_element_node:
            sibling = sibling.next
        rest = _clean(sibling.text()) if sibling is not None and sibling.tag != "a" else ""
    else:
        text = child.text(separator=" ")
        if not _DATE_CHAR_RE.search(text):
            return None  # nor has the link's text, which is part of it
        rest = _clean(text.replace(link.node.text(separator=" "), " ", 1))
    found = parse_date_text(rest, today) if rest else None
    if found is None:
        # Some CMSs put the date inside the link: "标题 2023-11-20". Only dates with a year there,
        # since titles are full of numbers.
        full = find_full_dates(link.text, today)
        found = full[-1].date if full else None
    return found


def _repeated(holders: _Holders) -> Iterator[tuple[LexborNode, list[LexborNode]]]:
    """Every container whose element children repeat one tag, with its children of that tag.

    Only holders with two holding children can have two items, so other elements are not looked at.
    """
    for node in holders.order:
        if holders.holding_children.get(node.mem_id, 0) >= 2 and (children := _repeating_children(node)):
            yield node, children


def _repeating_children(node: LexborNode) -> list[LexborNode]:
    """The element children of a container that repeat one tag, the most common one ([] if none repeats)."""
    if node.tag not in _CONTAINER_TAGS:
        return []
    children = [(c, c.tag) for c in node.iter() if c.is_element_node]
    tags = [tag for _, tag in children if tag not in ("br", "script", "style")]
    if len(tags) < 2:
        return []
    tag, count = max(Counter(tags).items(), key=itemgetter(1))  # the first of the most common
    if count < 2 or (tag == "a" and node.tag in ("ul", "ol", "tbody", "table", "dl")):
        return []
    return [c for c, other in children if other == tag]


def _items(children: list[LexborNode], holders: _Holders, today: date) -> tuple[ListItem, ...]:
    return tuple(item for c in children if (item := _item_of(c, holders, today)))


def _blocks(holders: _Holders, today: date) -> list[_Block]:
    """Every repeated structure with two items or more."""
    blocks: list[_Block] = []
    for node, children in _repeated(holders):
        items = _items(children, holders, today)
        if len(items) >= 2:
            blocks.append(_Block(node, items))
    return blocks


def _main_block(page: _Page, today: date) -> _Block | None:
    """The page's list: the non-navigation block with the most dated items, then the most items.

    Structures that cannot win are not read for items: furniture, and those with too few children to
    beat the best so far (n children score at most (n, n)). Only children that hold a link make items,
    so their count rules out most containers before their children are looked at.
    """
    holders = page.holders
    best: tuple[int, int] | None = None
    chosen: _Block | None = None
    for node in holders.order:
        holding = holders.holding_children.get(node.mem_id, 0)
        if holding < MIN_LIST_ITEMS or (best is not None and (holding, holding) <= best):
            continue
        children = _repeating_children(node)
        most = (len(children), len(children))
        if len(children) < MIN_LIST_ITEMS or (best is not None and most <= best) or _is_furniture(node, page):
            continue
        block = _Block(node, _items(children, holders, today))
        score = (block.dated, len(block.items))
        if len(block.items) < MIN_LIST_ITEMS or (best is not None and score <= best) or block.is_navigation:
            continue
        best, chosen = score, block
    return chosen


# --------------------------------------------------------------------------- Hanweb records

_RECORD_RE = re.compile(r"<record>\s*<!\[CDATA\[(.*?)\]\]>\s*</record>", re.S | re.I)


def _hanweb_items(doc: Document, today: date) -> tuple[ListItem, ...]:
    """Items of Hanweb (大汉) lists shipped as CDATA records in <script type="text/xml">."""
    page = _page(doc)
    items: list[ListItem] = []
    for script in page.scripts:
        # No CDATA section, no records: spares the search on most scripts.
        if not script.xml or "<![" not in script.text:
            continue
        records = _RECORD_RE.findall(script.text)
        if not records:
            continue
        # One parse for all records of the block; each record becomes one <div> child.
        fragment = LexborHTMLParser("".join(f"<div>{r}</div>" for r in records))
        body = fragment.body
        if body is None:
            continue
        holders = _holders(_read_links(fragment, page.base), body)
        for record in body.iter():
            if record.is_element_node and (item := _item_of(record, holders, today)) is not None:
                items.append(item)
    return tuple(items)


# --------------------------------------------------------------------------- pagination

_PAGE_TEXT_RE = re.compile(r"^(下一页|下页|尾页|末页|最后一页|后页|next|>|>>|»|›)$", re.I)
_PAGE_HREF_RE = re.compile(
    r"(index_\d+\.s?html?$|[?&](page|pageno|pageindex|pagenum|curpage|currentpage|pn|p)=\d+)", re.I
)
_PAGER_MARK_RE = re.compile(r"page|pager|fenye|pagination", re.I)
_TRS_PAGER_RE = re.compile(r"createPageHTML\s*\(([^)]*)\)")


def _is_page_url(url: str) -> bool:
    # Either shape holds an "=" or an "index_" (in any case): the search, slow on every URL, runs on few.
    return ("=" in url or "ndex_" in url.lower()) and bool(_PAGE_HREF_RE.search(url))


def _pagination(doc: Document) -> tuple[str, ...]:
    page = _page(doc)
    found: dict[str, None] = {}  # ordered set
    for link in page.links:
        url = link.url
        if url is None or url == doc.url:
            continue
        text = link.text
        if (
            _PAGE_TEXT_RE.match(text)
            or _is_page_url(url)
            or (text.isdigit() and link.node.parent is not None and _pager_ancestor(link.node))
        ):
            found[url] = None
    for script in page.scripts:
        for m in _TRS_PAGER_RE.finditer(script.text):
            for url in trs_pages(m.group(1), script.text, page.base):
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
    """The content of the first meta tag with this name (compared stripped and lower-cased)."""
    page = _page(doc)
    if page.meta is None:
        page.meta = {}
        for attrs in meta_attributes(doc):
            if "name" in attrs:
                page.meta.setdefault((attrs["name"] or "").strip().lower(), attrs.get("content") or "")
    return _clean(page.meta.get(name, ""))


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
    title = title_element(doc)
    return re.split(r"\s*[_|\-—–]\s*", _clean(title.text()))[0] if title is not None else ""


_DATA_URL_RES = (
    re.compile(r"""["']([^"'\s]*dataproxy\.jsp[^"'\s]*)["']"""),
    re.compile(r"""\burl\s*:\s*["']([^"'\s]+)["']"""),
    re.compile(r"""\$\.(?:get|post|getJSON)\(\s*["']([^"'\s]+)["']"""),
    re.compile(r"""\bfetch\(\s*["']([^"'\s]+)["']"""),
)
_STATIC_RE = re.compile(r"\.(js|css|png|jpe?g|gif|svg|ico|woff2?)(\?|$)", re.I)


def _data_urls(doc: Document) -> tuple[str, ...]:
    page = _page(doc)
    found: dict[str, None] = {}
    for script in page.scripts:
        if script.external:
            continue
        for pattern in _DATA_URL_RES:
            for m in pattern.finditer(script.text):
                url = _absolute(page.base, m.group(1))
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
    # The URL first: it spares the meta tags' query on most articles.
    return _is_article_url(doc.url) or bool(_meta(doc, "articletitle") or _meta(doc, "pubdate"))


@lru_cache(maxsize=256)  # a list page is asked twice: by the column tracker, then by the list's own test
def _is_article_url(url: str) -> bool:
    return bool(_ARTICLE_URL_RE.search(_url_path(url)))


def _is_article(doc: Document) -> bool:
    """Article pages carry related-article lists too; CMS meta tags, article URLs, article body
    containers and paragraphs of prose tell them apart from list pages."""
    if marked_as_article(doc):
        return True
    if doc.tree.css_first(_ARTICLE_BODY_SELECTOR) is not None:
        return True
    paragraphs = [(p, len(p.text(strip=True))) for p in doc.tree.tags("p")]
    if sum(length for _, length in paragraphs) < MIN_PROSE_CHARS:
        return False  # too little text even counting the paragraphs that hold links
    prose = 0
    for p, length in paragraphs:
        if not any(_elements(p, "a")):
            prose += length
            if prose >= MIN_PROSE_CHARS:
                return True
    return False


class ListingResult:
    """The column list of a page (if it is a list page), its pagination, name, type and data URLs.

    Each part is read from the page when first asked for: the column tracker needs the pagination and
    name of list pages only, and the data URLs of item-less pages only.
    """

    def __init__(self, doc: Document, today: date) -> None:
        self._doc = doc
        self._today = today

    @cached_property
    def items(self) -> tuple[ListItem, ...]:
        items = _hanweb_items(self._doc, self._today)
        if not items:
            block = _main_block(_page(self._doc), self._today)
            items = block.items if block is not None else ()
        return items

    @cached_property
    def is_list(self) -> bool:
        # The article test first: it is the cheaper, and an article's items are never asked for.
        return not _is_article(self._doc) and bool(self.items)

    @cached_property
    def next_pages(self) -> tuple[str, ...]:
        """Other pages of the same list (absolute URLs)."""
        return _pagination(self._doc)

    @cached_property
    def column_name(self) -> str:
        return _column_name(self._doc)

    @cached_property
    def column_type(self) -> str:
        """ColumnType meta, as written."""
        return _meta(self._doc, "columntype")

    @cached_property
    def data_urls(self) -> tuple[str, ...]:
        """Endpoints the page loads its list from (not fetched here)."""
        return _data_urls(self._doc)


def extract_list(doc: Document, today: date) -> ListingResult:
    """The column list of a page (if it is a list page), its pagination, name, type and data URLs."""
    return ListingResult(doc, today)


def homepage_items(doc: Document, today: date) -> tuple[ListItem, ...]:
    """Dated items of every list block on a homepage (news, notices ...), each URL once."""
    seen: dict[str, ListItem] = {}
    blocks = _blocks(_page(doc).holders, today)
    for item in _hanweb_items(doc, today) + tuple(i for b in blocks for i in b.items):
        if item.date is not None and item.url not in seen:
            seen[item.url] = item
    return tuple(seen.values())


_MORE_RE = re.compile(r"^(更多|更多>+|更多\+|more|more>+|>>|》》|\+更多|查看更多|更多信息)$", re.I)
_NAV_MARK_RE = re.compile(r"(?:^|[\s_-])(?:nav|menu|daohang|dh)", re.I)


def column_links(doc: Document, known: Callable[[str], bool] | None = None) -> tuple[ColumnLink, ...]:
    """Links to column index pages: navigation entries, 更多 links of blocks, other column-shaped links.

    Links whose URL is `known` are left out unread: a crawl sees the same navigation on every page, and
    its caller has learnt those columns already. Host filtering is the caller's: a site's columns may
    live on several of its hosts.
    """
    page = _page(doc)
    found: dict[str, ColumnLink] = {}
    for link in page.links:
        url = link.url
        if url is None or url == doc.url or (known is not None and known(url)):
            continue
        a = link.node
        text = link.text or _clean(" ".join((img.attributes.get("alt") or "") for img in _elements(a, "img")))
        if _MORE_RE.match(text.replace(" ", "")):
            name = _block_heading(a)
            if name and url not in found:
                found[url] = ColumnLink(url=url, name=name, via_more=True)
            continue
        if not 2 <= len(text) <= 15 or url in found:
            continue
        if looks_like_column_url(url) or _in_navigation(a, page):
            found[url] = ColumnLink(url=url, name=text, via_more=False)
    return tuple(found.values())


def _in_navigation(node: LexborNode, page: _Page) -> bool:
    return _self_or_ancestor(node.parent, _navigation_marked, page.nav_marks)


def _navigation_marked(node: LexborNode) -> bool:
    attrs = node.attributes
    return node.tag == "nav" or bool(_NAV_MARK_RE.search(f"{attrs.get('class') or ''} {attrs.get('id') or ''}"))


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
