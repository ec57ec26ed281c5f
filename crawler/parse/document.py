"""A fetched HTML page parsed once; every extractor and check reads the same tree."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from selectolax.lexbor import LexborHTMLParser

from crawler.parse.decode import decode_html


@dataclass(eq=False)
class Document:
    url: str  # final URL: the base for relative links (unless <base href> says otherwise)
    html: str
    charset: str

    @classmethod
    def from_bytes(cls, url: str, body: bytes, header_charset: str | None = None) -> Document:
        html, charset = decode_html(body, header_charset)
        return cls(url=url, html=html, charset=charset)

    @classmethod
    def from_text(cls, url: str, html: str) -> Document:
        return cls(url=url, html=html, charset="utf-8")

    @cached_property
    def tree(self) -> LexborHTMLParser:
        return LexborHTMLParser(self.html)
