"""Soft 404s: error pages served with status 200 (or reached by redirecting every unknown URL to one page).

Three independent signals, each cheap:
- `says_not_found`: the page's own words ("您访问的页面不存在") — only in its title or when it has little text,
  because long articles mention 已删除 / 404 in passing;
- `Soft404Profile`: the host's answer to a random non-existent URL, learnt by one calibration fetch, which every
  later answer is compared with;
- `RedirectCollapse`: many distinct URLs redirecting to one final URL.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass

# Phrases that mean "not found" wherever they appear near the top of a short page.
_STRONG_PHRASES: tuple[str, ...] = (
    "页面不存在", "网页不存在", "页面找不到", "找不到页面", "找不到该页面", "找不到网页", "找不到您要访问的页面",
    "页面未找到", "无法找到该页", "无法找到页面", "无法找到网页", "页面已删除", "页面已被删除", "页面无法访问",
    "信息不存在", "文章不存在", "内容不存在", "栏目不存在", "文档不存在", "资源不存在", "稿件不存在",
    "页面走丢", "页面飞走", "访问出错", "访问的页面已", "请求的页面已",
    "page not found", "not found", "page does not exist", "file not found",
)  # fmt: skip
# Phrases that are a soft 404 only in a short title or a near-empty page: an article can say "相关文件已删除".
_WEAK_PHRASES: tuple[str, ...] = ("已删除", "已被删除", "无法找到", "出错啦", "错误提示")
# "404" as the error code, not "第404号" or "404条": digits, 第 before, or a counter word after, disqualify it.
# One scan of the text for any phrase (a loop of `in` tests was ~70 scans per page).
_STRONG = re.compile("|".join(map(re.escape, _STRONG_PHRASES)))
_WEAK = re.compile("|".join(map(re.escape, _WEAK_PHRASES)))
_ERROR_404 = re.compile(r"(?<![0-9第])404(?![0-9号条件次期份元个人家万米年])")

# Visible-text sizes. A government error page keeps the site's header and footer, so "short" has to allow a few
# hundred characters of navigation around the message; an article body is well above both.
_SHORT_TEXT = 1500
_TINY_TEXT = 300
_SHORT_TITLE = 40
# The error message sits near the top of the page's own content; the rest is template.
_HEAD_OF_TEXT = 600


def says_not_found(title: str, text: str) -> bool:
    """True when the page says it does not exist: in its title, or near the top of a short page."""
    if _title_says_not_found(title):
        return True
    if len(text) > _SHORT_TEXT:
        return False
    head = text[:_HEAD_OF_TEXT].lower()
    if _STRONG.search(head):
        return True
    return len(text) <= _TINY_TEXT and _weak_signal(head)


def _title_says_not_found(title: str) -> bool:
    title = title.strip().lower()
    if not title or len(title) > _SHORT_TITLE:
        return False
    return _STRONG.search(title) is not None or _weak_signal(title)


def _weak_signal(text: str) -> bool:
    return _WEAK.search(text) is not None or _ERROR_404.search(text) is not None


# --------------------------------------------------------------------------- per-host fingerprint

# Echoed request paths, counters, dates and session ids differ between two answers of the same error page; the
# fingerprint keeps only the rest.
_VOLATILE = re.compile(r"[\x21-\x7e]+")


def text_fingerprint(text: str) -> str:
    """A hash of the visible text with ASCII tokens (echoed URLs, dates, counters) removed."""
    stable = " ".join(_VOLATILE.sub(" ", text).split())
    return hashlib.blake2b(stable.encode("utf-8"), digest_size=8).hexdigest()


def length_bucket(text_length: int) -> int:
    """Logarithmic size class: ±12% in length stays in the same or a neighbouring bucket."""
    return int(math.log2(text_length + 1) * 6)


@dataclass(frozen=True, slots=True)
class Soft404Profile:
    """How one host answers a URL that cannot exist, learnt from one calibration fetch.

    A host that answers honestly (404/410) yields a profile that matches nothing with a different status.
    """

    requested_url: str
    final_url: str
    status: int
    title: str
    bucket: int
    text_hash: str
    says_not_found: bool  # the calibration page itself reads like an error page

    @classmethod
    def learn(cls, requested_url: str, final_url: str, status: int, title: str, text: str) -> Soft404Profile:
        return cls(
            requested_url=requested_url,
            final_url=final_url,
            status=status,
            title=" ".join(title.split()),
            bucket=length_bucket(len(text)),
            text_hash=text_fingerprint(text),
            says_not_found=says_not_found(title, text),
        )

    @property
    def redirects_unknown(self) -> bool:
        """Unknown URLs are redirected (to one error page, or the homepage)."""
        return self.final_url != self.requested_url

    def matches(
        self,
        final_url: str,
        status: int,
        title: str,
        text_len: int,
        text_hash: str,
        requested_url: str | None = None,
    ) -> bool:
        """Whether a response is this host's error page.

        `text_hash` is `text_fingerprint(visible text)`. Pass `requested_url` when known: a request for the sink
        itself (a link to the homepage, when unknown URLs land there) is not an error.
        """
        if status != self.status:
            return False
        if self.redirects_unknown and final_url == self.final_url:
            return requested_url is None or requested_url != final_url
        if text_hash == self.text_hash:
            return True
        # The error page may echo the request in its text; a same-titled page of about the same size is the same
        # page — but only when that title is an error title: many gov sites give every page the site's name.
        return (
            self.says_not_found
            and " ".join(title.split()) == self.title
            and abs(length_bucket(text_len) - self.bucket) <= 1
        )


# --------------------------------------------------------------------------- redirect sinks

DEFAULT_SINK_SOURCES = 5


class RedirectCollapse:
    """Flags a final URL that many distinct URLs redirect to: the site sends unknown pages to one error sink."""

    def __init__(self, min_sources: int = DEFAULT_SINK_SOURCES) -> None:
        self.min_sources = min_sources
        self._sources: dict[str, set[str]] = {}

    def record(self, source_url: str, final_url: str) -> None:
        """Note one redirect; an answer without redirect (source == final) is not one."""
        if source_url == final_url:
            return
        sources = self._sources.setdefault(final_url, set())
        if len(sources) < self.min_sources:  # enough to decide: memory stays bounded on huge sites
            sources.add(source_url)

    def is_sink(self, final_url: str) -> bool:
        return len(self._sources.get(final_url, ())) >= self.min_sources

    def sinks(self) -> frozenset[str]:
        return frozenset(url for url, sources in self._sources.items() if len(sources) >= self.min_sources)
