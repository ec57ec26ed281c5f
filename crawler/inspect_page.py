"""`govcrawl inspect-page FILE_OR_URL [--json]`: what the crawler reads on one page.

For a developer or an inspector asking "why did the crawl say that?": the page's title, whether it
counts as a list, an article or neither, its publication date and where that date came from, the list
items with their dates, the column name and type, the identity labels of its footer, and every link.
The same extractors as the nightly crawl produce it, so the answer is what the crawl saw.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import orjson

from crawler.checks.columns import GUESS_SOURCE
from crawler.checks.identity import IdentityFields, extract_identity
from crawler.config import Settings
from crawler.errors import UserError
from crawler.fetch.client import Fetcher
from crawler.fetch.resolver import Resolver
from crawler.parse.dates import article_date
from crawler.parse.document import Document
from crawler.parse.extract import parse_page
from crawler.parse.listing import extract_list
from crawler.types import FetchResult, Link, ListItem

Fetch = Callable[[str], Awaitable[FetchResult]]

LIST, ARTICLE, OTHER = "list", "article", "other"
_KIND_LABELS = {LIST: "列表页", ARTICLE: "文章页", OTHER: "其他页面"}


@dataclass(frozen=True, slots=True)
class PageReport:
    url: str
    title: str
    page_kind: str  # list / article / other
    pub_date: date | None  # an article's publication date; None for list pages
    pub_date_source: str  # meta:pubdate, text:发布时间, url:trs, ... ("" without a date)
    list_items: tuple[ListItem, ...]
    column_name: str
    column_type: str
    identity: IdentityFields
    links: tuple[Link, ...]


async def inspect(source: str, *, today: date, fetch: Fetch | None = None, url: str | None = None) -> PageReport:
    """Report on `source`: an http(s) URL fetched with `fetch`, or a local file read as the page at
    `url` (default: the file's own file:// URI, so relative links resolve next to it)."""
    if source.startswith(("http://", "https://")):
        if fetch is None:
            raise UserError(f"{source}: a URL needs a fetcher")
        doc = _document_of(source, await fetch(source))
    else:
        doc = await asyncio.to_thread(_read_file, source, url)
    return build_report(doc, today)


def build_report(doc: Document, today: date) -> PageReport:
    parsed = parse_page(doc)
    listing = extract_list(doc, today)
    # A list page's dates are its items'; article_date would pick one of them as "the" date.
    found = None if listing.is_list else article_date(doc, today)
    if listing.is_list:
        kind = LIST
    elif (found is not None and found.source != GUESS_SOURCE) or "articletitle" in parsed.meta:
        kind = ARTICLE
    else:
        kind = OTHER
    return PageReport(
        url=doc.url,
        title=parsed.title,
        page_kind=kind,
        pub_date=found.date if found else None,
        pub_date_source=found.source if found else "",
        list_items=listing.items if listing.is_list else (),
        column_name=listing.column_name,
        column_type=listing.column_type,
        identity=extract_identity(doc),
        links=parsed.links,
    )


@asynccontextmanager
async def settings_fetch(settings: Settings) -> AsyncIterator[Fetch]:
    """The crawl's own fetcher (resolver rules, timeouts, private-address refusal) as a `Fetch`."""
    resolver = Resolver.from_settings(settings.resolve, settings.nameservers, settings.allow_private)
    async with Fetcher(settings, resolver) as fetcher:
        yield fetcher.fetch


def _document_of(source: str, result: FetchResult) -> Document:
    if result.error is not None:
        raise UserError(f"{source}: {result.error} {result.error_detail}".rstrip())
    if result.status is None or not 200 <= result.status < 300:
        raise UserError(f"{source}: HTTP {result.status}")
    if result.content_type and "html" not in result.content_type:
        raise UserError(f"{source}: not an HTML page ({result.content_type})")
    return Document.from_bytes(result.final_url, result.body, result.charset)


def _read_file(source: str, url: str | None) -> Document:
    path = Path(source)
    try:
        body = path.read_bytes()
    except OSError as exc:
        raise UserError(f"{source}: {exc.strerror or exc}") from None
    # No HTTP header here: the charset comes from the page's meta tag or a guess (GBK pages are common).
    return Document.from_bytes(url or path.resolve().as_uri(), body)


# --------------------------------------------------------------------------- rendering


def render_json(report: PageReport) -> bytes:
    # orjson writes dataclasses, enums and dates (as YYYY-MM-DD) natively, keyed by field name.
    return orjson.dumps(report, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE)


def render_text(report: PageReport) -> str:
    ident = report.identity
    pub = f"{report.pub_date.isoformat()}（来源 {report.pub_date_source}）" if report.pub_date else "未找到"
    column = report.column_name or "—"
    if report.column_type:
        column += f"（ColumnType {report.column_type}）"
    code = f"{ident.site_id_code}（{ident.site_id_code_source}）" if ident.site_id_code else "未找到"
    lines = [
        f"网址      {report.url}",
        f"标题      {report.title or '—'}",
        f"页面类型  {_KIND_LABELS[report.page_kind]}（{report.page_kind}）",
        f"发布日期  {pub}",
        f"栏目      {column}",
        f"网站标识码 {code}",
        f"ICP备案   {ident.icp or '未找到'}",
        f"公安备案  {ident.psb or '未找到'}",
        f"主办单位  {ident.organizer or '未找到'}",
    ]
    if report.page_kind == LIST:
        lines.append(f"列表条目  {len(report.list_items)} 条")
        lines += [f"  {_date_text(item.date)}  {item.title}  {item.url}" for item in report.list_items]
    lines.append(f"链接      {len(report.links)} 个")
    lines += [f"  [{link.element}] {link.text or '—'}  {link.url}" for link in report.links]
    return "\n".join(lines) + "\n"


def _date_text(found: date | None) -> str:
    return found.isoformat() if found else "无日期    "
