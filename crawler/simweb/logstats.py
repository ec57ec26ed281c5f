"""The server-side request log and the politeness metrics computed from it.

The log is the ground truth for politeness tests: it is what the *server* saw, so it catches a
crawler that believes it is polite but is not (e.g. two connection pools hitting one host).
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass(frozen=True, slots=True)
class LogEntry:
    start: float  # time.monotonic() when the request headers were handled
    end: float  # time.monotonic() after the last body byte was written (or the write failed)
    host: str  # Host header without port, lower-cased
    local_addr: str  # the loopback address the request arrived on
    method: str
    path: str  # path + query, as requested (raw)
    user_agent: str
    referer: str
    status: int


def max_in_flight(log: Iterable[LogEntry], key: Callable[[LogEntry], str] = lambda e: e.host) -> dict[str, int]:
    """Peak number of overlapping requests per key (default: per host; use ``by_addr`` per IP).

    A request ending at the same instant another starts does not overlap it (end events sort first).
    """
    events: dict[str, list[tuple[float, int]]] = defaultdict(list)
    for e in log:
        events[key(e)] += [(e.start, 1), (e.end, -1)]
    out = {}
    for k, evs in events.items():
        evs.sort(key=lambda ev: (ev[0], ev[1]))
        cur = peak = 0
        for _, delta in evs:
            cur += delta
            peak = max(peak, cur)
        out[k] = peak
    return out


def by_addr(e: LogEntry) -> str:
    return e.local_addr


def min_spacing(log: Iterable[LogEntry], key: Callable[[LogEntry], str] = lambda e: e.host) -> dict[str, float]:
    """Smallest gap between consecutive request starts per key (inf when only one request)."""
    starts: dict[str, list[float]] = defaultdict(list)
    for e in log:
        starts[key(e)].append(e.start)
    out = {}
    for k, ss in starts.items():
        ss.sort()
        out[k] = min((b - a for a, b in itertools.pairwise(ss)), default=float("inf"))
    return out


def rate_exceeded(
    log: Iterable[LogEntry], rate: float, tolerance: float = 0.1, host: str | None = None,
    key: Callable[[LogEntry], str] = lambda e: e.host,
) -> dict[str, float]:
    """Hosts (or other keys: ``by_addr`` per IP) whose requests came faster than ``rate`` per second:
    key → offending min spacing.

    A spacing counts as a violation when it is below ``(1 / rate) * (1 - tolerance)``; the tolerance
    absorbs timer jitter between the crawler's clock and the server's.
    """
    limit = (1.0 / rate) * (1.0 - tolerance)
    entries = [e for e in log if host is None or e.host == host]
    return {k: gap for k, gap in min_spacing(entries, key).items() if gap < limit}


def disallowed_fetches(
    log: Iterable[LogEntry], disallowed_urls: Iterable[str], disallow_all_hosts: Iterable[str] = ()
) -> list[LogEntry]:
    """Requests that robots.txt forbade: exact disallowed URLs, or anything but robots.txt on a
    disallow-all host."""
    banned: set[tuple[str, str]] = set()
    for url in disallowed_urls:
        parts = urlsplit(url)
        banned.add((parts.hostname or "", parts.path + (f"?{parts.query}" if parts.query else "")))
    all_hosts = set(disallow_all_hosts)
    return [
        e for e in log if (e.host, e.path) in banned or (e.host in all_hosts and not e.path.startswith("/robots.txt"))
    ]
