"""A fetched HTML page parsed once; every extractor and check reads the same tree."""

from __future__ import annotations

import codecs
from dataclasses import dataclass, field
from functools import cached_property

from selectolax.lexbor import LexborHTMLParser, LexborNode

from crawler.parse.decode import decode_html


@dataclass(eq=False)
class Document:
    url: str  # final URL: the base for relative links (unless <base href> says otherwise)
    html: str
    charset: str
    # The fetched bytes when they are exactly `html` in UTF-8: the parser reads UTF-8, and given the text it
    # encodes it first (~10% of the parse on a Chinese page). Dropped once the tree is built.
    _utf8: bytes | None = field(default=None, repr=False)

    @classmethod
    def from_bytes(cls, url: str, body: bytes, header_charset: str | None = None) -> Document:
        html, charset = decode_html(body, header_charset)
        return cls(url=url, html=html, charset=charset, _utf8=body if _is_utf8_of(body, html, charset) else None)

    @classmethod
    def from_text(cls, url: str, html: str) -> Document:
        return cls(url=url, html=html, charset="utf-8")

    @cached_property
    def tree(self) -> LexborHTMLParser:
        source, self._utf8 = self._utf8 or self.html, None
        return LexborHTMLParser(source)


def title_element(doc: Document) -> LexborNode | None:
    """The page's first <title>. It is a child of <head> unless the page opens its body before it: <head>'s
    few children are looked at before the whole tree, which on a large page costs ~80 µs."""
    head = doc.tree.head
    title = next((node for node in head.iter() if node.tag == "title"), None) if head is not None else None
    return title if title is not None else next(iter(doc.tree.tags("title")), None)


def _is_utf8_of(body: bytes, html: str, charset: str) -> bool:
    """Whether `body` is `html` in UTF-8: decode_html reads UTF-8 strictly, unless it skips a BOM or puts U+FFFD
    in for bad bytes."""
    return charset == "utf-8" and not body.startswith(codecs.BOM_UTF8) and "\ufffd" not in html
