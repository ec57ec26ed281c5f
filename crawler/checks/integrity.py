"""Site integrity: injected spam, hidden links (暗链), hijacked titles and footers, cloaking, parked targets.

Pure functions over a parsed Document. The page tree is never modified: the scan works on a clone.

False positives are the main risk on real government pages, so every rule is conservative:
- a hidden link is reported when it carries spam (anchor terms, gambling host), or when it is hidden by a
  covert technique (off-screen, font-size 0, same colour, tiny marquee) and leaves the site for a host
  that is not governmental or a badge/statistics/share service. display:none and friends alone are what
  every portal's dropdowns, tabs and share panels use, so they are not evidence;
- weak spam terms count only in dense combination, in covertly hidden text or in off-site link anchors;
- a term next to law-enforcement wording (警方破获…百家乐…) is news about spam, not spam.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import chain
from typing import Any, NamedTuple
from urllib.parse import unquote, urljoin, urlsplit
from weakref import WeakKeyDictionary

from selectolax.lexbor import LexborHTMLParser, LexborNode

from crawler.checks.lexicon import Lexicon, Match, spam_host
from crawler.frontier.urls import host_key, resolver
from crawler.parse.document import Document

SNIPPET = 300
_LINK_SELECTOR = "a[href], area[href]"
_INVISIBLE = "style, noscript, template"  # removed before the page is read: no text, no links
_CONTEXT = 30  # characters either side of a match in snippets and for enforcement cues
_WEAK_WINDOW = 100  # characters within which two weak terms make a combination
_MAX_HITS = 20  # per finding: enough to judge, small enough to store nightly

# Wording of news *about* gambling/porn/fake documents (police reports, court rulings, warnings).
_ENFORCEMENT_RE = re.compile(
    "打击|破获|抓获|查处|查获|捣毁|涉嫌|犯罪|违法|非法|被告|判处|判决|诈骗|敲诈|警惕|谨防|防范|举报|整治|取缔|"
    "严禁|禁止|扫黄打非|专项行动|警方|公安|民警"
)
# Techniques no interface uses to show something later: a link hidden this way is meant for crawlers only.
# display:none, visibility, opacity, the hidden attribute, text-indent (logo image replacement) and zero
# height (accordions) hide dropdowns, tabs, share panels and CMS credits on every portal, so links hidden
# that way are reported only when they carry spam.
_COVERT = frozenset({"offscreen", "font_size", "same_color", "marquee_zero_size", "marquee_scrollamount"})
# Hosts a government page legitimately links to from hidden dropdowns, share menus and badge widgets.
_TRUSTED_SUFFIXES = (".gov.cn", ".gov", ".edu.cn", ".mil.cn")
_TRUSTED_DOMAINS = frozenset({
    "conac.cn", "12377.cn", "cyberpolice.cn", "beian.gov.cn", "cnzz.com", "51.la", "baidu.com",
    "qq.com", "weibo.com", "weibo.cn", "people.com.cn", "xinhuanet.com", "news.cn", "cctv.com", "cntv.cn",
})  # fmt: skip
_SECOND_LEVEL = frozenset({"com", "net", "org", "gov", "edu", "ac", "mil", "co"})
_ORGANIZER_LINE_RE = re.compile(r"(?:主办单位|主办|承办单位|承办)\s*[:：]\s*([^\n]{1,120})")
_PARKED_RE = re.compile(
    r"域名出售|域名转让|域名正在出售|此域名(?:正在)?出售|域名可(?:以)?转让|"
    r"this domain (?:is|may be) for sale|buy this domain|domain is for sale|domain for sale",
    re.IGNORECASE,
)
_PARKING_PROVIDERS = frozenset({
    "sedo.com", "sedoparking.com", "dan.com", "bodis.com", "parkingcrew.net", "afternic.com",
    "hugedomains.com",
})  # fmt: skip
_JS_ESCAPE_RE = re.compile(r"\\x([0-9a-fA-F]{2})|\\u([0-9a-fA-F]{4})")
_PX_RE = re.compile(r"^(-?\d+(?:\.\d+)?)(px|em|rem|pt)?$")


@dataclass(frozen=True, slots=True)
class IntegrityFinding:
    check: str
    url: str
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PageView:
    """What one fetch of a page showed: compared between a browser-like and a search-engine-like fetch."""

    title: str
    final_url: str
    link_hosts: frozenset[str]  # off-site hosts only
    spam_terms: frozenset[str]


# --------------------------------------------------------------------------- entry points


def check_page(doc: Document, site_hosts: frozenset[str], lexicon: Lexicon) -> list[IntegrityFinding]:
    scan = _scan(doc)
    findings = [*_hidden_link_findings(doc.url, scan, site_hosts, lexicon)]
    spam = _spam_hits(scan, site_hosts, lexicon)
    if spam:
        findings.append(IntegrityFinding("security.spam_content", doc.url, _spam_detail(spam)))
    hijacked = _hijacked_title(scan, spam)
    if hijacked:
        findings.append(IntegrityFinding("security.hijacked_title", doc.url, hijacked))
    footer = _hijacked_footer(scan.visible_text, lexicon)
    if footer:
        findings.append(IntegrityFinding("security.hijacked_footer", doc.url, footer))
    return findings


def page_view(doc: Document, site_hosts: frozenset[str], lexicon: Lexicon) -> PageView:
    scan = _scan(doc)
    hosts = frozenset(h for link in scan.links if (h := link.host) and not is_on_site(h, site_hosts))
    terms = frozenset(hit.match.term for hit in _spam_hits(scan, site_hosts, lexicon))
    return PageView(scan.title, doc.url, hosts, terms)


def compare_cloaking(normal: PageView, crawler_view: PageView) -> dict[str, Any] | None:
    """Differences that mean the site shows search engines something else than people (黑帽 SEO)."""
    differences: list[str] = []
    if _collapse(normal.title) != _collapse(crawler_view.title):
        differences.append("title")
    if normal.final_url.rstrip("/") != crawler_view.final_url.rstrip("/"):
        differences.append("redirect")
    new_hosts = sorted(crawler_view.link_hosts - normal.link_hosts)
    if new_hosts:
        differences.append("new_link_hosts")
    crawler_only = sorted(crawler_view.spam_terms - normal.spam_terms)
    if crawler_only:
        differences.append("crawler_only_spam")
    if not differences:
        return None
    return {
        "differences": differences,
        "new_link_hosts": new_hosts,
        "crawler_only_terms": crawler_only,
        "normal": _view_dict(normal),
        "crawler": _view_dict(crawler_view),
    }


def looks_spam_or_parked(doc: Document, lexicon: Lexicon | None = None) -> dict[str, Any] | None:
    """For security.spam_outbound: is this (external, linked) page gambling/porn or a parked domain?"""
    scan = _scan(doc)
    parked = _PARKED_RE.search(scan.title + "\n" + scan.visible_text)
    provider = next((d for d in _referenced_domains(doc) if d in _PARKING_PROVIDERS), None)
    if parked or provider:
        evidence = _snippet(scan.visible_text, parked.start()) if parked else ""
        return {"kind": "parked", "provider": provider or "", "evidence": evidence, "title": scan.title}
    own_host = frozenset({urlsplit(doc.url).hostname or ""})
    spam = _spam_hits(scan, own_host, lexicon or Lexicon.load())
    if spam:
        return {"kind": "spam", "title": scan.title, **_spam_detail(spam)}
    return None


def _referenced_domains(doc: Document) -> list[str]:
    """Registrable domains of every link, script, frame and form target: parking pages load the provider's
    scripts or post to it; a substring search of the HTML would also hit "jordan.com"."""
    domains: list[str] = []
    for node in doc.tree.css("a[href], script[src], iframe[src], frame[src], form[action], link[href]"):
        target = node.attributes.get("href") or node.attributes.get("src") or node.attributes.get("action")
        host = urlsplit(urljoin(doc.url, (target or "").strip())).hostname
        if host:
            domains.append(registrable(host))
    return domains


# The host predicates below are asked for every link of every page, while a site links to few distinct hosts:
# they are cached (bounded, as the crawl meets hosts without end).


@lru_cache(maxsize=4096)
def is_on_site(host: str, site_hosts: frozenset[str]) -> bool:
    """Same host, or same registrable domain (zwfw.x.gov.cn belongs to www.x.gov.cn)."""
    host = host.lower()
    return host in site_hosts or registrable(host) in {registrable(h.lower()) for h in site_hosts}


@lru_cache(maxsize=4096)
def registrable(host: str) -> str:
    labels = host.rstrip(".").split(".")
    keep = 3 if len(labels) >= 3 and labels[-2] in _SECOND_LEVEL and len(labels[-1]) == 2 else 2
    return ".".join(labels[-keep:])


@lru_cache(maxsize=4096)
def is_trusted(host: str) -> bool:
    host = host.lower()
    return host.endswith(_TRUSTED_SUFFIXES) or registrable(host) in _TRUSTED_DOMAINS


# --------------------------------------------------------------------------- page scan


class _Link(NamedTuple):  # a tuple: built for every link of every page
    url: str
    host: str
    text: str
    path: str
    technique: str  # how it is hidden; "" when visible
    evidence: str  # outer HTML of the hiding element (or the writing script)
    via_script: bool  # written by document.write / innerHTML


@dataclass(frozen=True, slots=True)
class _Scan:
    title: str
    meta: dict[str, str]  # meta.keywords / meta.description
    visible_text: str  # lines kept: the footer check reads label lines
    hidden_texts: tuple[tuple[str, str], ...]  # (technique, text) of each outermost hidden element
    links: tuple[_Link, ...]


@dataclass(frozen=True, slots=True)
class _Hit:
    match: Match
    where: str  # title / meta.keywords / meta.description / text / anchor / hidden / link_host
    snippet: str


# SiteInspector runs check_page and then page_view on each homepage. A scan depends on the document alone (its
# tree is never modified), so it is kept as long as the document is.
_SCANS: WeakKeyDictionary[Document, _Scan] = WeakKeyDictionary()


def _scan(doc: Document) -> _Scan:
    scan = _SCANS.get(doc)
    if scan is None:
        scan = _SCANS[doc] = _scan_page(doc)
    return scan


def _scan_page(doc: Document) -> _Scan:
    head = _head(doc)
    base, rules = head.base, _style_rules(head.css)
    html = _html_copy(doc)  # the scan removes nodes; the shared tree stays intact for other checks
    if head.invisible:  # most pages have no such element: no walk over the copy for nothing
        for node in html.css(_INVISIBLE):
            node.decompose()
    hidden = _hidden_elements(html, rules)
    outermost = [(node, how) for node, how in hidden.values() if _hidden_ancestor(node, hidden) is None]
    containers = _hiding_containers(hidden, outermost)
    resolve = _link_resolver(base)
    link_nodes: list[LexborNode] = []
    scripts: list[LexborNode] = []
    for node in html.css(f"{_LINK_SELECTOR}, script"):  # one walk over the tree for both
        (scripts if node.tag == "script" else link_nodes).append(node)
    paths = _Paths()
    links = [_css_link(node, resolve, containers, rules, paths) for node in link_nodes]
    for script in scripts:
        links += _script_links(script, base, rules)
        script.decompose()
    hidden_texts = [(how, _collapse(node.text(separator=" "))) for node, how in outermost]
    for node, _ in outermost:
        if node.mem_id != html.mem_id:  # a hidden <html> leaves nothing visible (and stays until it is freed)
            node.decompose()
    body = None if html.mem_id in hidden else _body(html)
    visible_text = body.text(separator="\n") if body is not None else ""
    html.decompose()  # now rather than with the document
    return _Scan(
        title=head.title,
        meta=head.meta,
        visible_text=visible_text,
        hidden_texts=tuple((how, text) for how, text in hidden_texts if text),
        links=tuple(link for link in links if link is not None),
    )


def _html_copy(doc: Document) -> LexborNode:
    """A copy of the <html> element. It belongs to the document's parser, which costs less than a copy of the
    document: no new document, and the parser's CSS engine serves the copy too."""
    html = doc.tree.root
    assert html is not None  # the parser always makes one
    return html.clone()


def _body(html: LexborNode) -> LexborNode | None:
    """The <body> of a copy of the <html> element (which the parser always puts right under it)."""
    return next((child for child in html.iter() if child.tag == "body"), None)


class _Head(NamedTuple):
    base: str  # what links resolve against
    css: str  # the text of every style element
    title: str
    meta: dict[str, str]  # meta.keywords / meta.description
    invisible: bool  # whether the page has style, noscript or template elements (the scan removes them)


def _head(doc: Document) -> _Head:
    """The first <base href> and <title>, every <style> and <meta name>, whether there is anything the scan
    removes before it reads the page: one walk over the tree, not five."""
    base: str | None = None
    title: str | None = None
    css: list[str] = []
    meta: dict[str, str] = {}
    invisible = False
    for node in doc.tree.css(f"base[href], title, meta[name], {_INVISIBLE}"):
        tag = node.tag
        if tag in ("style", "noscript", "template"):
            invisible = True
            if tag == "style":
                css.append(node.text())
        elif tag == "meta":
            attributes = node.attributes  # a new dict at each access
            name = (attributes.get("name") or "").strip().lower()
            if name in ("keywords", "description"):
                meta[f"meta.{name}"] = _collapse(attributes.get("content") or "")
        elif tag == "title" and title is None:
            title = node.text()
        elif tag == "base" and base is None:
            base = (node.attributes.get("href") or "").strip()
    base_url = urljoin(doc.url, base) if base else doc.url
    return _Head(base_url, "\n".join(css), _collapse(title or ""), meta, invisible)


_LinkResolver = Callable[[LexborNode], tuple[str, str] | None]


def _link_resolver(base: str) -> _LinkResolver:
    """(url, host) of a link node, or None for fragments, javascript:/mailto:/tel: and unusable URLs."""
    normalise = resolver(base) if base.startswith(("http://", "https://")) else None  # the crawler's, cached

    def resolve(node: LexborNode) -> tuple[str, str] | None:
        href = (node.attrs.get("href") or "").strip()  # attrs: one attribute, not a dict of all
        if not href or href.startswith("#") or href.lower().startswith(("javascript:", "mailto:", "tel:")):
            return None
        if normalise is None:
            url = urljoin(base, href)
            host = urlsplit(url).hostname or ""
        elif (normalised := normalise(href)) is not None:
            url, host = normalised, _normalised_host(normalised)
        else:
            return None
        return (url, host) if host else None

    return resolve


@lru_cache(maxsize=4096)  # the navigation links every page of a site repeats
def _normalised_host(url: str) -> str:
    return host_key(url).rpartition(":")[0].strip("[]")  # normalised: "host:port" by hand


@dataclass(slots=True)
class _Hiding:
    """The nearest hidden element around a link, shared by all the links it hides."""

    node: LexborNode
    technique: str
    evidence: str | None = None  # its outer HTML, serialised once when a hidden link first needs it

    def snippet(self) -> str:
        if self.evidence is None:
            self.evidence = (self.node.html or "")[:SNIPPET]
        return self.evidence


def _hiding_containers(
    hidden: dict[int, tuple[LexborNode, str]], outermost: list[tuple[LexborNode, str]]
) -> dict[int, _Hiding]:
    """mem_id → nearest hidden element (itself included) of every link inside one. Most pages hide nothing or a
    few menus, so looking for links under the outermost hidden elements spares walking up from every link."""
    hidings = {mem_id: _Hiding(node, technique) for mem_id, (node, technique) in hidden.items()}
    containers: dict[int, _Hiding] = {}
    for outer, _ in outermost:
        for node in outer.css(_LINK_SELECTOR):  # the element itself included, when it is a link
            nearest = _hidden_ancestor(node, hidden, include_self=True) or outer  # never None: in `outer`
            containers[node.mem_id] = hidings[nearest.mem_id]
    return containers


def _css_link(
    node: LexborNode,
    resolve: _LinkResolver,
    containers: dict[int, _Hiding],
    rules: tuple[_Rule, ...],
    paths: _Paths,
) -> _Link | None:
    resolved = resolve(node)
    if resolved is None:
        return None
    hiding = containers.get(node.mem_id)
    technique, evidence = "", ""
    if hiding is not None and not _revealed(node, hiding.node, hiding.technique, rules):
        technique, evidence = hiding.technique, hiding.snippet()
    text = _collapse(node.text(separator=" ") or node.attributes.get("title") or "")
    path = paths(node) if technique else ""  # only hidden links are ever reported; paths are costly
    return _Link(resolved[0], resolved[1], text, path, technique, evidence, False)


def _script_links(script: LexborNode, base: str, rules: tuple[_Rule, ...]) -> list[_Link | None]:
    """Links an inline script writes into the page. The script text, unescaped, is parsed as HTML: the
    parser skips the JavaScript around the markup, and inline styles in the markup still show hiding."""
    if script.attrs.get("src"):
        return []
    code = script.text(deep=True)
    lowered = code.lower()
    if not any(k in lowered for k in ("document.write", "innerhtml")):
        return []
    markup = _unescape_js(code)
    if "href" not in markup.lower():  # the parser makes no a[href] without one: spare parsing the fragment
        return []
    fragment = LexborHTMLParser(markup)
    hidden = _hidden_elements(fragment, rules)
    method = "document.write" if "document.write" in lowered else "innerHTML"
    path, evidence = _Paths()(script), (script.html or "")[:SNIPPET]
    resolve = _link_resolver(base)
    links: list[_Link | None] = []
    for node in fragment.css(_LINK_SELECTOR):
        resolved = resolve(node)
        if resolved is None:
            continue
        container = _hidden_ancestor(node, hidden, include_self=True)
        technique = method + (f"+{hidden[container.mem_id][1]}" if container is not None else "")
        text = _collapse(node.text(separator=" "))
        links.append(_Link(resolved[0], resolved[1], text, path, technique, evidence, True))
    return links


def _unescape_js(code: str) -> str:
    code = re.sub(r"""(["'])\s*\+\s*(["'])""", "", code)  # '<a hr' + 'ef=...' string concatenation
    code = code.replace("\\/", "/").replace('\\"', '"').replace("\\'", "'")
    code = _JS_ESCAPE_RE.sub(lambda m: chr(int(m.group(1) or m.group(2), 16)), code)
    return unquote(code) if "%3c" in code.lower() else code  # document.write(unescape("%3Ca href=..."))


class _Paths:
    """Where elements are (body > div#nav > ul.menu > li > a), from <body> or the top of <head>. The path of
    each element on the way is remembered: the links of one hidden menu share all but their last steps."""

    def __init__(self) -> None:
        self._known: dict[int, str] = {}

    def __call__(self, node: LexborNode) -> str:
        unknown: list[LexborNode] = []  # from `node` up to an element with a known path, or to the top
        element = node
        path = self._known.get(element.mem_id)
        while path is None:
            unknown.append(element)
            parent = element.parent
            if element.tag == "body" or parent is None or parent.tag in (None, "html", "-document", "#document"):
                path = ""
            else:
                element = parent
                path = self._known.get(element.mem_id)
        for element in reversed(unknown):
            path = f"{path} > {_label(element)}" if path else _label(element)
            self._known[element.mem_id] = path
        return path


def _label(node: LexborNode) -> str:
    attributes = node.attributes  # a new dict at each access
    node_id = (attributes.get("id") or "").strip()
    if node_id:
        return f"{node.tag}#{node_id}"
    classes = (attributes.get("class") or "").split()
    return node.tag + "".join(f".{name}" for name in classes[:2]) if node.tag else ""


def _ancestors(node: LexborNode) -> Iterator[LexborNode]:
    parent = node.parent
    while parent is not None and parent.tag is not None:
        yield parent
        parent = parent.parent


# --------------------------------------------------------------------------- hiding (CSS)

_COMMENT_RE = re.compile(r"/\*.*?\*/", re.DOTALL)
_AT_STATEMENT_RE = re.compile(r"@[^{};]*;")
_BRACE_RE = re.compile(r"[{}]")
_RULE_RE = re.compile(r"([^{}]+)\{([^{}]*)\}")
# Only simple selectors (tag, tag.class, .class.class, #id): injected 暗链 styles are always this plain, and
# anything with combinators or pseudo-classes (.nav li:hover ul) is a menu the site styles on purpose.
_SIMPLE_SELECTOR = r"(?:[a-zA-Z][a-zA-Z0-9]*)?(?:[#.][A-Za-z_][\w-]*)+|[a-zA-Z][a-zA-Z0-9]*"
# The simple selectors of a selector list: each one alone between commas, spaces around it aside.
_SIMPLE_IN_LIST_RE = re.compile(rf"(?:\A|,)\s*({_SIMPLE_SELECTOR})\s*(?=,|\Z)")
_COLOURS = {"white": "#ffffff", "black": "#000000", "red": "#ff0000", "transparent": "transparent"}


@dataclass(frozen=True, slots=True)
class _Rule:
    selector: str
    declarations: dict[str, str]


@lru_cache(maxsize=32)  # the pages of a site share their stylesheets; rules are never modified
def _style_rules(css: str) -> tuple[_Rule, ...]:
    css = _strip_at_blocks(_COMMENT_RE.sub("", css))
    merged: dict[str, dict[str, str]] = {}  # later rules for the same selector override earlier ones
    for selector_list, body in _RULE_RE.findall(css):
        selectors = _SIMPLE_IN_LIST_RE.findall(selector_list)
        if not selectors:
            continue  # not parsing the declarations of the many rules for menus and layout
        declarations = _declarations(body)
        for selector in selectors:
            merged.setdefault(selector, {}).update(declarations)
    return tuple(_Rule(selector, declarations) for selector, declarations in merged.items())


def _strip_at_blocks(css: str) -> str:
    """Drop @media/@supports/@font-face blocks: what is hidden on a phone-sized screen is layout, not 暗链."""
    out: list[str] = []
    index = 0
    while (at := css.find("@", index)) != -1:
        out.append(css[index:at])
        statement = _AT_STATEMENT_RE.match(css, at)
        if statement is not None:  # @import ...; @charset ...;
            index = statement.end()
            continue
        depth, index = 0, len(css)
        for brace in _BRACE_RE.finditer(css, at):
            depth += 1 if brace.group() == "{" else -1
            if depth == 0:
                index = brace.end()
                break
    out.append(css[index:])
    return "".join(out)


def _declarations(style: str) -> dict[str, str]:
    declarations: dict[str, str] = {}
    for item in style.split(";"):
        name, _, value = item.partition(":")
        value = value.replace("!important", "").strip().lower()
        if value:
            declarations[name.strip().lower()] = value
    return declarations


def _hidden_elements(
    tree: LexborHTMLParser | LexborNode, rules: tuple[_Rule, ...]
) -> dict[int, tuple[LexborNode, str]]:
    """mem_id → (element, technique) for every element the page hides. Stylesheet rules come first, then inline
    styles, the hidden attribute and marquees: the first technique found for an element is the one kept."""
    hidden: dict[int, tuple[LexborNode, str]] = {}
    for rule in rules:
        by_rule = _technique(rule.declarations)
        if by_rule is None:
            continue
        for node in tree.css(rule.selector):
            # An inline style wins over the stylesheet (class="hid" style="display:block" is visible).
            style = node.attributes.get("style")
            technique = _technique({**rule.declarations, **_declarations(style)}) if style else by_rule
            if technique:
                hidden.setdefault(node.mem_id, (node, technique))
    styled: list[tuple[LexborNode, str | None]] = []
    attributed: list[tuple[LexborNode, str | None]] = []
    marquees: list[tuple[LexborNode, str | None]] = []
    for node in tree.css("[style], [hidden], marquee"):  # one walk over the tree for the three kinds
        attributes = node.attributes
        if "style" in attributes:
            styled.append((node, _style_technique(attributes["style"] or "")))
        if "hidden" in attributes:
            attributed.append((node, "hidden_attribute"))
        if node.tag == "marquee":
            marquees.append((node, _marquee_technique(node)))
    for node, technique in chain(styled, attributed, marquees):
        if technique:
            hidden.setdefault(node.mem_id, (node, technique))
    return hidden


@lru_cache(maxsize=1024)  # pages repeat the same inline styles on every item of a list
def _style_technique(style: str) -> str | None:
    return _technique(_declarations(style))


# Each test of _technique needs one of these: most styles (width, float, border ...) need no test at all.
_HIDING_PROPERTIES = frozenset({
    "display", "visibility", "opacity", "position", "margin-left", "margin-top", "text-indent", "overflow",
    "font-size", "color",
})  # fmt: skip


def _technique(d: dict[str, str]) -> str | None:
    """The hiding technique these declarations amount to, or None when they leave the element visible."""
    if d.keys().isdisjoint(_HIDING_PROPERTIES):
        return None
    if d.get("display") == "none":
        return "display:none"
    if d.get("visibility") in ("hidden", "collapse"):
        return "visibility:hidden"
    if _number(d.get("opacity")) == 0:
        return "opacity:0"
    if d.get("position") in ("absolute", "fixed") and _at_most(d, ("left", "top"), -999):
        return "offscreen"
    if _at_most(d, ("margin-left", "margin-top"), -999):
        return "offscreen"
    if _at_most(d, ("text-indent",), -999):
        return "text_indent"
    if d.get("overflow") == "hidden" and _at_most(d, ("width", "height"), 1):
        return "zero_size"
    if _at_most(d, ("font-size",), 1):
        return "font_size"
    colour = _colour(d.get("color"))
    background = _colour(d.get("background-color") or (d.get("background") or "").split(" ")[0])
    if colour and colour == background:
        return "same_color"
    return None


def _marquee_technique(node: LexborNode) -> str | None:
    attrs = node.attributes
    style = _declarations(attrs.get("style") or "")
    sizes = [_number(attrs.get("height")), _number(attrs.get("width"))]
    sizes += [_number(style.get("height")), _number(style.get("width"))]
    if any(size is not None and size <= 1 for size in sizes):
        return "marquee_zero_size"
    amount = _number(attrs.get("scrollamount"))
    # A scrollamount in the thousands moves the text off the box before it can be read.
    return "marquee_scrollamount" if amount is not None and amount >= 500 else None


def _at_most(d: dict[str, str], names: tuple[str, ...], limit: float) -> bool:
    return any((value := _number(d.get(name))) is not None and value <= limit for name in names)


def _number(value: str | None) -> float | None:
    """A CSS length or plain number in px (0, 1px, -9999px, 0.5); None for %, auto, calc() and friends."""
    if value is None:
        return None
    found = _PX_RE.match(value.strip().lower())
    if found is None:
        return None
    number = float(found.group(1))
    return number * 16 if found.group(2) in ("em", "rem") else number


def _colour(value: str | None) -> str | None:
    if not value:
        return None
    value = value.strip().lower()
    if value in _COLOURS:
        return _COLOURS[value]
    if re.fullmatch(r"#[0-9a-f]{3}", value):
        return "#" + "".join(ch * 2 for ch in value[1:])
    if re.fullmatch(r"#[0-9a-f]{6}", value):
        return value
    rgb = re.fullmatch(r"rgba?\(\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*(?:,\s*[\d.]+\s*)?\)", value)
    return "#" + "".join(f"{int(part):02x}" for part in rgb.groups()) if rgb else None


def _hidden_ancestor(
    node: LexborNode, hidden: dict[int, tuple[LexborNode, str]], include_self: bool = False
) -> LexborNode | None:
    """The nearest hidden element containing `node`."""
    if include_self and node.mem_id in hidden:
        return node
    for ancestor in _ancestors(node):
        if ancestor.mem_id in hidden:
            return ancestor
    return None


def _revealed(node: LexborNode, container: LexborNode, technique: str, rules: tuple[_Rule, ...]) -> bool:
    """Whether something between the link and its hidden container undoes the hiding. Layouts use
    `ul{font-size:0} li{font-size:14px}` to kill inline-block gaps; visibility:visible on a child shows it."""
    if technique not in ("font_size", "visibility:hidden"):
        return False
    name = "font-size" if technique == "font_size" else "visibility"
    declaring = [rule for rule in rules if name in rule.declarations]  # the others cannot undo it
    for element in chain([node], _ancestors(node)):
        if element.mem_id == container.mem_id:
            break
        declared = _declared(element, declaring)
        if technique == "font_size" and (size := _number(declared.get("font-size"))) is not None and size > 1:
            return True
        if technique == "visibility:hidden" and declared.get("visibility") == "visible":
            return True
    return False


def _declared(node: LexborNode, rules: Iterable[_Rule]) -> dict[str, str]:
    declared: dict[str, str] = {}
    for rule in rules:
        if node.css_matches(rule.selector):
            declared.update(rule.declarations)
    declared.update(_declarations(node.attributes.get("style") or ""))
    return declared


# --------------------------------------------------------------------------- spam terms in context


def _counts(matches: list[Match], single_weak: bool) -> bool:
    """Strong terms count alone. Weak ones need a second, different weak term close by — injected spam is a
    dense keyword block or link list, while a news portal may mention two such words far apart — unless
    the context is one where any spam word is suspicious (hidden text, off-site anchors, organizer line)."""
    if any(match.strength == "strong" for match in matches):
        return True
    if single_weak:
        return bool(matches)
    for index, first in enumerate(matches):
        for second in matches[index + 1 :]:
            if second.start - first.start > _WEAK_WINDOW:
                break
            if second.term != first.term:
                return True
    return False


def _discounted(text: str, matches: list[Match]) -> list[Match]:
    """Drop matches next to law-enforcement wording: 警方破获一起"百家乐"赌博案 reports on spam."""
    kept: list[Match] = []
    for match in matches:
        window = text[max(0, match.start - _CONTEXT) : match.start + len(match.term) + _CONTEXT]
        if not _ENFORCEMENT_RE.search(window):
            kept.append(match)
    return kept


def _context_hits(text: str, where: str, lexicon: Lexicon, single_weak: bool) -> list[_Hit]:
    matches = _discounted(text, lexicon.find(text))
    if not matches or not _counts(matches, single_weak):
        return []
    return [_Hit(match, where, _snippet(text, match.start)) for match in matches]


def _spam_hits(scan: _Scan, site_hosts: frozenset[str], lexicon: Lexicon) -> list[_Hit]:
    hits: list[_Hit] = []
    hits += _context_hits(scan.title, "title", lexicon, single_weak=False)
    for where, text in scan.meta.items():
        hits += _context_hits(text, where, lexicon, single_weak=False)
    hits += _context_hits(_collapse(scan.visible_text), "text", lexicon, single_weak=False)
    for technique, text in scan.hidden_texts:
        # Tabs and dropdowns (display:none) hold ordinary content; covertly hidden text is for crawlers only.
        hits += _context_hits(text, "hidden", lexicon, single_weak=technique in _COVERT)
    search_anchors = _any_anchor_term(scan.links, lexicon)
    for link in scan.links:
        off_site = not is_on_site(link.host, site_hosts)
        if search_anchors:
            hits += _context_hits(link.text, "anchor", lexicon, single_weak=off_site)
        pattern = spam_host(link.host) if off_site else None
        if pattern:
            hits.append(_Hit(Match(pattern, "gambling", "strong", 0), "link_host", link.url[:SNIPPET]))
    return _dedupe(hits)


def _any_anchor_term(links: Iterable[_Link], lexicon: Lexicon) -> bool:
    """Whether any anchor holds a term. Pages have dozens to hundreds of links and hardly ever a spam term in
    an anchor: one search over all anchors spares searching each one (and judging it in its context)."""
    return lexicon.find_in_any(link.text for link in links)


def _dedupe(hits: list[_Hit]) -> list[_Hit]:
    seen: set[tuple[str, str]] = set()
    unique: list[_Hit] = []
    for hit in hits:
        key = (hit.where, hit.match.term)
        if key not in seen:
            seen.add(key)
            unique.append(hit)
    return unique


def _spam_detail(hits: list[_Hit]) -> dict[str, Any]:
    return {
        "terms": sorted({hit.match.term for hit in hits}),
        "categories": sorted({hit.match.category for hit in hits}),
        "where": sorted({hit.where for hit in hits}),
        "hits": [
            {"term": h.match.term, "strength": h.match.strength, "where": h.where, "snippet": h.snippet}
            for h in hits[:_MAX_HITS]
        ],
    }


# --------------------------------------------------------------------------- findings


def _hidden_link_findings(
    url: str, scan: _Scan, site_hosts: frozenset[str], lexicon: Lexicon
) -> Iterable[IntegrityFinding]:
    suspects = [link for link in scan.links if link.technique or link.via_script]
    search_anchors = _any_anchor_term(suspects, lexicon)
    for link in suspects:
        off_site = not is_on_site(link.host, site_hosts)
        terms = _discounted(link.text, lexicon.find(link.text)) if search_anchors else []
        spam_anchor = bool(terms) and _counts(terms, single_weak=off_site)
        pattern = spam_host(link.host) if off_site else None
        covert = link.technique.rsplit("+", 1)[-1] in _COVERT
        if spam_anchor or pattern or (covert and off_site and not is_trusted(link.host)):
            yield IntegrityFinding(
                "security.hidden_link",
                url,
                {
                    "path": link.path,
                    "technique": link.technique,
                    "href": link.url,
                    "anchor": link.text[:200],
                    "terms": [match.term for match in terms],
                    "host_pattern": pattern or "",
                    "evidence": link.evidence,
                },
            )


def _hijacked_title(scan: _Scan, spam: list[_Hit]) -> dict[str, Any] | None:
    """From the spam hits in the title and meta fields (the same contexts: strong terms or close weak ones)."""
    fields = {"title": scan.title, **scan.meta}
    hits = [hit for hit in spam if hit.where in fields]
    if not hits:
        return None
    hit_fields = sorted({hit.where for hit in hits})
    return {
        "fields": hit_fields,
        "terms": sorted({hit.match.term for hit in hits}),
        "categories": sorted({hit.match.category for hit in hits}),
        **{name: fields[name][:SNIPPET] for name in hit_fields},
    }


def _hijacked_footer(visible_text: str, lexicon: Lexicon) -> dict[str, Any] | None:
    for line in _ORGANIZER_LINE_RE.finditer(visible_text):
        hits = _context_hits(line.group(0), "footer", lexicon, single_weak=True)
        if hits:
            return {
                "line": _collapse(line.group(0))[:SNIPPET],
                "terms": sorted({hit.match.term for hit in hits}),
                "categories": sorted({hit.match.category for hit in hits}),
            }
    return None


# --------------------------------------------------------------------------- small helpers


def _collapse(text: str) -> str:
    return " ".join(text.split())


def _snippet(text: str, start: int) -> str:
    return _collapse(text[max(0, start - _CONTEXT) : start + _CONTEXT * 2])


def _view_dict(view: PageView) -> dict[str, Any]:
    return {
        "title": view.title,
        "final_url": view.final_url,
        "link_hosts": sorted(view.link_hosts),
        "spam_terms": sorted(view.spam_terms),
    }
