"""robots.txt per RFC 9309, parsed by Protego (longest match wins; Allow wins a tie).

How the fetch of /robots.txt ended decides the rules (RFC 9309 §2.3.1): 2xx → the file's rules;
4xx → allow everything; 5xx or unreachable → disallow everything, and we say so in the result.
"""

from __future__ import annotations

from dataclasses import dataclass

from protego import Protego

from crawler.parse.decode import decode_html
from crawler.types import FetchResult, Reason

MAX_ROBOTS_BYTES = 500 * 1024  # RFC 9309 §2.5: parse at least 500 KiB
# The product token we match robots groups against (our User-Agent carries a version and contact).
PRODUCT_TOKEN = "govcrawl"


@dataclass(frozen=True, slots=True)
class Robots:
    mode: str  # rules / allow_all / disallow_all
    why: str  # for the record: "robots.txt answered 503", "robots.txt unreachable: timeout", ...
    parser: Protego | None = None
    unreachable: Reason | None = None  # the host itself failed (dns, refused, timeout, tls)

    @classmethod
    def from_fetch(cls, result: FetchResult, *, redirected: bool = False) -> Robots:
        if result.error is not None:
            # Only a failure of the host itself says the host is down; a robots.txt redirected to a
            # dead host says nothing about this one: treat the file as unavailable (allow).
            if result.error in (Reason.DNS, Reason.REFUSED, Reason.TIMEOUT, Reason.TLS, Reason.CONNECTION,
                                Reason.PRIVATE_ADDRESS) and not redirected:
                return cls("disallow_all", f"robots.txt unreachable: {result.error}", unreachable=result.error)
            # Redirect loops and the like: treat as unavailable, i.e. allow (RFC 9309 §2.3.1.2).
            return cls("allow_all", f"robots.txt unavailable: {result.error}")
        status = result.status or 0
        if 200 <= status < 300:
            text, _ = decode_html(result.body[:MAX_ROBOTS_BYTES], result.charset)
            return cls("rules", f"robots.txt {status}", Protego.parse(text))
        if 400 <= status < 500:
            return cls("allow_all", f"robots.txt answered {status}")
        return cls("disallow_all", f"robots.txt answered {status}: everything disallowed (RFC 9309)")

    def allows(self, url: str) -> bool:
        if self.mode == "allow_all":
            return True
        if self.mode == "disallow_all":
            return False
        assert self.parser is not None
        return bool(self.parser.can_fetch(url, PRODUCT_TOKEN))

    def crawl_delay(self) -> float:
        if self.parser is None:
            return 0.0
        delay = self.parser.crawl_delay(PRODUCT_TOKEN)
        return float(delay) if delay else 0.0
