"""URL normalisation, host keys, attachment and crawler-trap heuristics.

One normal form per resource, so the frontier de-duplicates and the link records of different pages agree:
lower-case scheme and host (IDNA), no default port, dot segments resolved, percent-encoding normalised (upper-case
hex, unreserved characters decoded), no fragment, empty path → "/", session identifiers removed, query otherwise
kept in order.

Pages carry a few hundred links each, and yarl's join costs ~3.5 µs per link, which alone would spend most of the
per-page CPU budget. The common link shapes (absolute or relative URLs made of plain ASCII path characters) are
therefore normalised with string operations; anything else goes through yarl. tests/test_urls.py checks with
hypothesis that both paths agree wherever the fast one answers.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache

from yarl import URL

# Names are matched case-insensitively; a trailing "*" makes the entry a prefix (ASP appends a random suffix:
# ASPSESSIONIDQASTDRCA).
DEFAULT_SESSION_PARAMS: frozenset[str] = frozenset(
    {"jsessionid", "phpsessid", "sid", "sessionid", "session_id", "aspsessionid*"}
)
# "sid" is also a common site/section id on Chinese CMSes (?sid=12); dropping that would fetch a different page,
# so an ambiguous name is only stripped when its value looks like a session token.
_AMBIGUOUS_PARAMS = frozenset({"sid"})
_TOKEN_MIN_LENGTH = 16

_DEFAULT_PORTS = {"http": 80, "https": 443}
# WHATWG: leading/trailing C0 controls and spaces are trimmed, tabs and newlines inside are removed.
_TRIM = "".join(chr(c) for c in range(0x21))
# What the fast path accepts: ASCII characters that yarl leaves as they are. Everything else (%-escapes, which
# yarl partly decodes; non-ASCII and spaces, which it encodes) and ports or userinfo in the authority take yarl.
_FAST_CHARS = re.compile(r"[A-Za-z0-9\-._~/?=&:!$'()*+,;@]*")
_FAST_HOST = re.compile(r"[a-z0-9](?:[a-z0-9\-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9\-]*[a-z0-9])?)*")
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*):")
# yarl raises these on hostile input: ValueError (incl. IDNA's UnicodeError), IndexError on "http://[::1]@".
_YARL_ERRORS = (ValueError, TypeError, IndexError)


def normalize(url: str, base: str | None = None, strip_params: frozenset[str] = DEFAULT_SESSION_PARAMS) -> str | None:
    """The normal form of `url` (resolved against `base`), or None when it is not a usable http(s) URL."""
    if base is None:
        return _resolve(url, None, strip_params)
    return resolver(base, strip_params)(url)


@lru_cache(maxsize=256)
def resolver(base: str, strip_params: frozenset[str] = DEFAULT_SESSION_PARAMS) -> Callable[[str], str | None]:
    """`normalize(·, base)` for the many links of one page, with the base parsed once."""
    parts = _base_parts(base, strip_params)
    if parts is None:
        return _unusable
    origin, path = parts
    # The cache key carries only the part of the base a link depends on, so the navigation links that every page
    # of a site repeats are resolved once per site (or per directory) rather than once per page.
    root = (origin, "/")
    directory = (origin, path[: path.rfind("/") + 1])

    def resolve(url: str) -> str | None:
        if url.startswith(("http://", "https://")):
            return _resolve(url, None, strip_params)
        if url.startswith("/"):
            return _resolve(url, root, strip_params)
        if url[:1].isalnum() or url.startswith("."):
            return _resolve(url, directory, strip_params)
        return _resolve(url, parts, strip_params)

    return resolve


def clear_caches() -> None:
    """Forget memoised results (benchmarks measure cold parsing with it)."""
    _resolve.cache_clear()
    resolver.cache_clear()
    _base_parts.cache_clear()


def host_key(url: str) -> str:
    """The host key "host:port", lower-case, with the effective port (``www.gov.cn:443``); "" without a host.

    Called for every link the crawl meets: plain ASCII http(s) URLs (all normalised ones) are split by
    hand; anything unusual goes through yarl.
    """
    scheme, sep, rest = url.partition("://")
    default = _DEFAULT_PORTS.get(scheme) if sep else None
    if default is not None:
        authority = rest.partition("/")[0].partition("?")[0].partition("#")[0]
        host, _, port = authority.partition(":")
        host = host.lower()
        if _FAST_HOST.fullmatch(host) and (not port or (port.isdigit() and 0 < int(port) < 65536)):
            return f"{host}:{int(port) if port else default}"
    return _host_key_parsed(url)


def _host_key_parsed(url: str) -> str:
    try:
        parsed = URL(url)
        host = parsed.raw_host
        port = parsed.port
    except _YARL_ERRORS:
        return ""
    if not host:
        return ""
    host = host.lower()
    if ":" in host:
        host = f"[{host}]"
    return f"{host}:{port}" if port is not None else host


ATTACHMENT_EXTENSIONS: frozenset[str] = frozenset(
    {
        # documents (wps/et/dps are WPS Office, ofd/ceb are Chinese fixed-layout formats common on gov sites)
        "pdf", "doc", "docx", "xls", "xlsx", "ppt", "pptx", "wps", "et", "dps", "ofd", "ceb", "rtf", "txt", "csv",
        "xml", "odt", "ods", "caj",
        # archives and executables
        "zip", "rar", "7z", "gz", "tgz", "tar", "bz2", "exe", "msi", "apk", "ipa", "dmg", "iso",
        # media
        "jpg", "jpeg", "png", "gif", "bmp", "tif", "tiff", "webp", "svg", "ico",
        "mp4", "mp3", "avi", "flv", "wmv", "wav", "wma", "mov", "mkv", "rm", "rmvb", "swf", "m4a", "3gp", "mpg", "mpeg",
    }
)  # fmt: skip


def is_attachment(url: str) -> bool:
    """True for a downloadable file rather than a page: by the path's extension, or a download script's
    query value naming such a file (``downfile.jsp?filename=通知.pdf``)."""
    head, _, query = url.partition("#")[0].partition("?")
    if _extension(head.rpartition("/")[2]) in ATTACHMENT_EXTENSIONS:
        return True
    return any(_extension(value) in ATTACHMENT_EXTENSIONS for value in _query_values(query))


MAX_URL_LENGTH = 1024
MAX_PATH_SEGMENTS = 16
_REPEAT_PERIODS = (1, 2, 3)  # /a/a/a, /a/b/a/b/a/b, /a/b/c/a/b/c/a/b/c
_REPEATS = 3
_YEAR_KEYS = frozenset({"year", "yyyy", "y", "nian", "nd"})
_MONTH_KEYS = frozenset({"month", "mm", "m", "yue", "mon"})
_DATE_KEYS = frozenset({"date", "day", "d", "dd", "ym", "yearmonth", "riqi", "rq", "cal", "calendar"})
_YEAR_VALUE = re.compile(r"(?:19|20|21)\d\d")
_MONTH_VALUE = re.compile(r"0?[1-9]|1[0-2]")
_DATE_VALUE = re.compile(r"(?:19|20|21)\d\d[-/.]?(?:0?[1-9]|1[0-2])(?:[-/.]?\d\d?)?")


def looks_like_trap(url: str, max_length: int = MAX_URL_LENGTH, max_segments: int = MAX_PATH_SEGMENTS) -> str | None:
    """Why `url` looks like an endless URL space (a reason string), or None.

    Reasons: "too_long", "too_many_segments", "repeated_segments" (relative links resolved against a wrong base
    grow /a/b/a/b/...), "calendar" (a calendar widget links every month forever).
    """
    if len(url) > max_length:
        return "too_long"
    head, _, query = url.partition("#")[0].partition("?")
    path = head.split("://", 1)[-1].partition("/")[2]
    segments = [s for s in path.split("/") if s]
    if len(segments) > max_segments:
        return "too_many_segments"
    if _has_repeated_run(segments):
        return "repeated_segments"
    if query and _is_calendar_query(query):
        return "calendar"
    return None


# --------------------------------------------------------------------------- normalisation internals


def _unusable(url: str) -> None:
    return None


@lru_cache(maxsize=32768)
def _resolve(url: str, base: tuple[str, str] | None, strip_params: frozenset[str]) -> str | None:
    raw = _clean(url)
    if not raw:
        return None
    scheme = _SCHEME.match(raw)
    if scheme is not None:
        name = scheme.group(1).lower()
        if name not in _DEFAULT_PORTS:
            return None  # javascript:, mailto:, tel:, data:, ftp: ... (and "c:" drive paths) without a parse
        raw = name + raw[scheme.end(1) :]
    fast = _fast(raw, base, strip_params)
    if fast is not None:
        return fast
    return _slow(raw, None if base is None else base[0] + base[1], strip_params)


def _clean(url: str) -> str:
    raw = url.strip(_TRIM)
    if "\t" in raw or "\n" in raw or "\r" in raw:
        raw = raw.replace("\t", "").replace("\n", "").replace("\r", "")
    raw = raw.partition("#")[0]
    if "\\" in raw:
        # Browsers read "\" as "/" in http(s) URLs, and hand-written gov pages do use href="..\list.html".
        head, sep, query = raw.partition("?")
        raw = head.replace("\\", "/") + sep + query
    return raw


@lru_cache(maxsize=1024)
def _base_parts(base: str, strip_params: frozenset[str]) -> tuple[str, str] | None:
    """(origin, path) of the normalised base. Its query never matters: an href that would keep it ("" or "#x")
    is not a link. Cached because every link of a page shares one base."""
    normal = normalize(base, None, strip_params)
    if normal is None:
        return None
    scheme_end = normal.index("://") + 3
    path_start = normal.find("/", scheme_end)
    origin, rest = normal[:path_start], normal[path_start:]
    return origin, rest.partition("?")[0]


def _fast(raw: str, base: tuple[str, str] | None, strip_params: frozenset[str]) -> str | None:
    """String-only normalisation of the common link shapes; None means "ask yarl"."""
    if not _FAST_CHARS.fullmatch(raw):
        return None
    if raw.startswith(("http://", "https://")):
        scheme, _, rest = raw.partition("://")
        return _fast_authority(scheme, rest, strip_params)
    if base is None:
        return None
    origin, base_path = base
    if raw.startswith("//"):
        return _fast_authority(origin.partition(":")[0], raw[2:], strip_params)
    if raw.startswith("/"):
        return _assemble(origin, raw, strip_params)
    if raw.startswith("?"):
        return _assemble(origin, base_path + raw, strip_params)
    if ":" in raw:
        return None  # "http:x" (relative with a scheme) and similar oddities
    return _assemble(origin, base_path[: base_path.rfind("/") + 1] + raw, strip_params)


def _fast_authority(scheme: str, rest: str, strip_params: frozenset[str]) -> str | None:
    cut = len(rest)
    for delimiter in "/?":
        pos = rest.find(delimiter)
        if pos != -1 and pos < cut:
            cut = pos
    host = rest[:cut].lower()
    if not _FAST_HOST.fullmatch(host):
        return None
    return _assemble(f"{scheme}://{host}", rest[cut:], strip_params)


def _assemble(origin: str, path_query: str, strip_params: frozenset[str]) -> str:
    path, _, query = path_query.partition("?")
    if "/." in path:
        path = _remove_dot_segments(path)
    if not path.startswith("/"):
        path = "/" + path
    if ";" in path and strip_params:
        path = _strip_path_params(path, strip_params)
    if query and strip_params:
        query = _strip_query(query, strip_params)
    return f"{origin}{path}?{query}" if query else origin + path


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 §5.2.4 on an absolute path."""
    out: list[str] = []
    segments = path.split("/")
    for i, segment in enumerate(segments):
        last = i == len(segments) - 1
        if segment == "..":
            if len(out) > 1:
                out.pop()
            if last:
                out.append("")
        elif segment == ".":
            if last:
                out.append("")
        else:
            out.append(segment)
    joined = "/".join(out)
    return joined if joined.startswith("/") else "/" + joined


def _strip_path_params(path: str, strip_params: frozenset[str]) -> str:
    segments = []
    for segment in path.split("/"):
        if ";" in segment:
            name, *params = segment.split(";")
            segment = ";".join([name, *(p for p in params if not _is_session_param(p, strip_params))])
        segments.append(segment)
    return "/".join(segments)


def _strip_query(query: str, strip_params: frozenset[str]) -> str:
    pairs = query.split("&")
    kept = [p for p in pairs if not _is_session_param(p, strip_params)]
    return query if len(kept) == len(pairs) else "&".join(kept)


def _is_session_param(pair: str, strip_params: frozenset[str]) -> bool:
    name, _, value = pair.partition("=")
    name = name.lower()
    if name in _AMBIGUOUS_PARAMS and len(value) < _TOKEN_MIN_LENGTH:
        return False
    if name in strip_params:
        return True
    return any(p.endswith("*") and name.startswith(p[:-1]) for p in strip_params)


def _slow(raw: str, base: str | None, strip_params: frozenset[str]) -> str | None:
    try:
        parsed = URL(raw)
        scheme = parsed.scheme.lower()
        if scheme not in ("", "http", "https"):
            return None
        if not parsed.absolute or not scheme:
            if base is None or (scheme and raw[len(scheme) + 1 :].startswith("//")):  # "http://": no host
                return None
            # Re-parsed as an absolute URL: yarl escapes a relative path differently ("-:" → "-%3A"), and the
            # normal form must not depend on whether the link was relative.
            parsed = URL(str(URL(base).join(parsed)))
            scheme = parsed.scheme.lower()
        host = parsed.raw_host
        port = parsed.explicit_port
        path, query = parsed.raw_path, parsed.raw_query_string
    except _YARL_ERRORS:
        return None
    if not host or scheme not in _DEFAULT_PORTS:
        return None
    host = host.lower()
    if ":" in host:
        host = f"[{host}]"  # IPv6 literal
    origin = f"{scheme}://{host}"
    # Userinfo is dropped on purpose: credentials must not reach the frontier or the stored link records.
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        origin += f":{port}"
    return _assemble(origin, path + ("?" + query if query else ""), strip_params)


def _extension(name: str) -> str:
    dot = name.rfind(".")
    return name[dot + 1 :].lower() if dot != -1 else ""


def _query_values(query: str) -> list[str]:
    return [pair.partition("=")[2] for pair in query.split("&") if "." in pair]


# --------------------------------------------------------------------------- trap internals


def _has_repeated_run(segments: list[str]) -> bool:
    for period in _REPEAT_PERIODS:
        span = period * _REPEATS
        for start in range(len(segments) - span + 1):
            unit = segments[start : start + period]
            if all(segments[start + k * period : start + (k + 1) * period] == unit for k in range(1, _REPEATS)):
                return True
    return False


def _is_calendar_query(query: str) -> bool:
    has_year = has_month = False
    for pair in query.split("&"):
        name, _, value = pair.partition("=")
        name = name.lower()
        if name in _YEAR_KEYS and _YEAR_VALUE.fullmatch(value):
            has_year = True
        elif name in _MONTH_KEYS and _MONTH_VALUE.fullmatch(value):
            has_month = True
        elif name in _DATE_KEYS and _DATE_VALUE.fullmatch(value):
            return True
    return has_year and has_month
