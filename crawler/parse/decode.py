"""Bytes → text for HTML pages whose declared charsets cannot be trusted.

Order of evidence: byte-order mark (WHATWG: a BOM beats everything), then the declarations — the HTTP header,
then every ``<meta>`` charset in the first 4 KB, in order — then detection. Chinese government pages often declare
``gb2312`` while serving UTF-8 (or the reverse), or declare two different charsets, so a declaration is only used when
it actually decodes the body (strictly, or with a few damaged bytes), and a body that is clearly valid UTF-8 is read
as UTF-8 whatever it declares (the fast path: one strict decode). GBK-family labels are decoded as GB18030, their
superset, because pages labelled gb2312 routinely contain GBK-only characters (rare surnames, 镕, 堃 ...).
"""

from __future__ import annotations

import codecs
import re

from charset_normalizer import from_bytes

_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF8, "utf-8"),
    # UTF-32 before UTF-16: the UTF-32-LE BOM starts with the UTF-16-LE one.
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)

_ASCII = bytes(range(128))
_META_WINDOW = 4096
# Matches both <meta charset="x"> and <meta http-equiv="Content-Type" content="text/html; charset=x">.
_META_CHARSET = re.compile(rb"<meta[^>]*?charset\s*=\s*[\"']?\s*([a-z0-9_:.\-]+)", re.IGNORECASE)

_GBK_FAMILY = frozenset({"gbk", "gb2312", "gb18030"})
# WHATWG labels seen on Chinese pages that Python's codec registry does not know.
_ALIASES = {
    **dict.fromkeys(("x-gbk", "gb_2312", "gb_2312-80", "gb-2312", "csgb2312", "x-euc-cn", "windows-936"), "gbk"),
    "csgb18030": "gb18030",
    "x-x-big5": "big5",
    "unicode-1-1-utf-8": "utf-8",
}
# Single-byte Western charsets decode *any* byte string, so a strict decode proves nothing. On Chinese sites such a
# declaration is nearly always a server default (Tomcat's ISO-8859-1), so it is used only when UTF-8 and GB18030
# fail, even tolerantly. GB18030 is the domain prior for undeclared non-UTF-8 pages: charset-normalizer misreads
# short Chinese text (a GBK "首页" comes back as big5), so it is consulted only when both fail.
_WEAK = frozenset({"cp1252", "ascii", "iso8859-1"})
# A body that is valid UTF-8 with at least this many continuation bytes is UTF-8 whatever it declares: GBK text
# essentially never forms valid UTF-8 beyond a handful of characters.
_UTF8_EVIDENCE = 16


def decode_html(body: bytes, header_charset: str | None) -> tuple[str, str]:
    """Return (text, charset actually used). Never raises; GBK/GB2312 are decoded as GB18030."""
    bom = _sniff_bom(body)
    if bom is not None:
        charset, skip = bom
        return body[skip:].decode(charset, errors="replace"), charset

    declared = _declared(body, header_charset)
    utf8 = _strict(body, "utf-8")
    if utf8 is not None and (not any(c != "utf-8" for c in declared) or len(body) - len(utf8) >= _UTF8_EVIDENCE):
        return utf8, "utf-8"

    strong = [c for c in declared if c not in _WEAK]
    candidates = strong + [c for c in ("utf-8", "gb18030") if c not in strong]
    for charset in candidates:
        text = utf8 if charset == "utf-8" else _strict(body, charset)
        if text is not None:
            return text, charset

    tolerated = _least_damaged(body, candidates)
    if tolerated is not None:
        return tolerated
    weak = [c for c in declared if c in _WEAK]
    if weak:
        return body.decode(weak[0], errors="replace"), weak[0]
    return _detect(body, candidates[0])


def canonical_charset(label: str | None) -> str | None:
    """Python codec name for a charset label, GBK family folded into GB18030; None if unknown."""
    if not label:
        return None
    label = label.strip().strip("\"'").lower()
    try:
        name = codecs.lookup(_ALIASES.get(label, label)).name
    except (LookupError, ValueError):
        return None
    if name in _GBK_FAMILY:
        return "gb18030"
    if name == "big5":
        return "big5hkscs"  # WHATWG's big5 is the HKSCS superset
    return name


def _sniff_bom(body: bytes) -> tuple[str, int] | None:
    for bom, charset in _BOMS:
        if body.startswith(bom):
            return charset, len(bom)
    return None


def _declared(body: bytes, header_charset: str | None) -> list[str]:
    """Header then meta charsets, canonical and de-duplicated, in order of authority."""
    out: list[str] = []
    header = canonical_charset(header_charset)
    if header is not None:
        out.append(header)
    for label in _META_CHARSET.findall(body[:_META_WINDOW]):
        charset = canonical_charset(label.decode("ascii"))
        # A meta tag cannot truthfully declare UTF-16/32 (it would not be readable as ASCII): WHATWG reads UTF-8.
        if charset is not None and charset.startswith(("utf-16", "utf-32")):
            charset = "utf-8"
        if charset is not None and charset not in out:
            out.append(charset)
    return out


def _strict(body: bytes, charset: str) -> str | None:
    try:
        return body.decode(charset)
    except (UnicodeDecodeError, LookupError):
        return None


def _least_damaged(body: bytes, candidates: list[str]) -> tuple[str, str] | None:
    """The candidate with the fewest replacement characters, if that damage is small.

    Real pages carry stray bad bytes (a UTF-8 snippet pasted into a GBK template, a body cut mid-character by the size
    limit). Damage is measured against the non-ASCII bytes, not the whole page: a GBK page read as UTF-8 loses nearly
    every Chinese character even when markup dominates its length.
    """
    non_ascii = len(body) - len(body.translate(None, _ASCII))
    allowed = 1 + non_ascii // 200
    best: tuple[int, str, str] | None = None
    for charset in candidates:
        text = body.decode(charset, errors="replace")
        bad = text.count("\ufffd")
        if bad <= allowed and (best is None or bad < best[0]):
            best = (bad, text, charset)
    return None if best is None else (best[1], best[2])


def _detect(body: bytes, fallback: str) -> tuple[str, str]:
    try:
        match = from_bytes(body).best()
    except Exception:  # detection is a heuristic over hostile bytes: never let it fail the page
        match = None
    charset = canonical_charset(match.encoding) if match is not None else None
    return body.decode(charset or fallback, errors="replace"), charset or fallback
