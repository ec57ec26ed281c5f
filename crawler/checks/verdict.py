"""From a fetch result to a verdict with a reason: ok, broken(reason) or unverified(reason).

Broken means an inspector can defend it: the server said the page is gone or failing, or nothing
answered at all. Whatever a bot-blocker or throttle could have caused (403/412/429, WAF challenges,
robots rules) is unverified, never broken.
"""

from __future__ import annotations

from crawler.types import FetchResult, Reason, Verdict

TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})
TRANSIENT_ERRORS = frozenset({Reason.TIMEOUT, Reason.CONNECTION, Reason.REFUSED})
BROKEN_ERRORS = frozenset({Reason.DNS, Reason.REFUSED, Reason.TIMEOUT, Reason.TLS, Reason.REDIRECT_LOOP,
                           Reason.TOO_MANY_REDIRECTS})
# Phrases of Chinese and international WAF/anti-bot challenge pages (answered with 200 or 403/412).
WAF_MARKERS = ("安全狗", "云锁", "创宇盾", "访问被拦截", "您的访问请求可能对网站造成安全威胁", "网站防火墙",
               "请开启JavaScript并刷新该页", "waf", "request blocked", "access denied", "_waf_")


def is_retryable(result: FetchResult) -> bool:
    """Worth asking again (after a backoff) before settling on a verdict."""
    if result.error is not None:
        return result.error in TRANSIENT_ERRORS
    return result.status in TRANSIENT_STATUSES


def looks_like_waf(title: str, text: str) -> bool:
    head = f"{title} {text[:500]}".lower()
    return any(marker in head for marker in WAF_MARKERS)


def judge(result: FetchResult, *, soft_404: bool = False, waf: bool = False, empty: bool = False,
          is_page: bool = False) -> tuple[Verdict, Reason | None]:
    if result.error is not None:
        if result.error in BROKEN_ERRORS:
            return Verdict.BROKEN, result.error
        return Verdict.UNVERIFIED, result.error
    status = result.status or 0
    if status == 404:
        return Verdict.BROKEN, Reason.HTTP_404
    if status == 410:
        return Verdict.BROKEN, Reason.HTTP_410
    if status in (401, 403, 407, 412) or waf:
        return Verdict.UNVERIFIED, Reason.BLOCKED
    if status == 429:
        return Verdict.UNVERIFIED, Reason.RATE_LIMITED
    if 400 <= status < 500:
        return Verdict.BROKEN, Reason.HTTP_4XX
    if status >= 500:
        return Verdict.BROKEN, Reason.HTTP_5XX
    if soft_404:
        return Verdict.BROKEN, Reason.SOFT_404
    if is_page and result.truncated:
        return Verdict.UNVERIFIED, Reason.BODY_TOO_LARGE
    if is_page and empty:
        return Verdict.BROKEN, Reason.EMPTY_PAGE
    return Verdict.OK, None
