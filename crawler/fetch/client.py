"""One HTTP fetch, with every redirect hop followed by hand and recorded.

The only module that touches aiohttp's client. Every aiohttp/OS/TLS exception is translated to a
`Reason` here (`classify_exception`), so nothing downstream ever sees a library exception.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import time
import weakref
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp
import yarl
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.connector import Connection
from yarl import URL

from crawler.config import Settings
from crawler.fetch.resolver import PrivateAddressError, Resolver
from crawler.types import FetchResult, Hop, Reason, Timings

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# yarl keeps the IDNA form of only 256 host names; a crawl cycles through thousands, and every miss
# costs an IDNA decode on every request (3-4 % of a crawl's CPU before this).
HOST_CACHE = 1 << 15
yarl.cache_configure(idna_encode_size=HOST_CACHE, idna_decode_size=HOST_CACHE, encode_host_size=HOST_CACHE)


def classify_exception(exc: BaseException) -> tuple[Reason, str]:
    """The one place that decides what a transport failure means."""
    text = str(exc) or type(exc).__name__
    if isinstance(exc, PrivateAddressError) or isinstance(getattr(exc, "os_error", None), PrivateAddressError):
        return Reason.PRIVATE_ADDRESS, text
    if isinstance(exc, aiohttp.ClientConnectorCertificateError | aiohttp.ClientSSLError | ssl.SSLError):
        return Reason.TLS, text
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return Reason.DNS, text
    if isinstance(exc, TimeoutError):  # includes aiohttp's ServerTimeoutError / ConnectionTimeoutError
        return Reason.TIMEOUT, text
    if isinstance(exc, aiohttp.ClientConnectorError):
        if isinstance(exc.os_error, ConnectionRefusedError):
            return Reason.REFUSED, text
        if exc.os_error.errno is None and not isinstance(exc.os_error, ConnectionError):
            return Reason.DNS, text  # our resolver's failures carry no errno
        return Reason.CONNECTION, text
    if isinstance(exc, aiohttp.ClientError | OSError):
        return Reason.CONNECTION, text
    raise exc


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


@dataclass(slots=True)
class _Clock:
    """Timestamps of a fetch's first connection, filled by the timing connector and resolver below."""

    start: float = field(default_factory=time.perf_counter)
    dns: float | None = None
    connect: float | None = None
    # Told as each write of the request begins, and again once it is done (aiohttp writes it again, on a new
    # connection, when a pooled keep-alive connection turns out to be closed); cleared when a redirect is followed.
    on_writing: Callable[[], None] | None = None
    on_written: Callable[[], None] | None = None


# The clock of the request the current task is making. aiohttp calls the connector and the resolver from
# the task that made the request, so they find it here. (aiohttp's trace hooks did this job, but they cost
# ~0.1 ms of CPU per request — a fifth of the whole request — even with no callback on most of them.)
_CLOCK: ContextVar[_Clock | None] = ContextVar("govcrawl_request_clock", default=None)


class _TimedResolver(AbstractResolver):
    """Times the DNS lookup of a new connection."""

    def __init__(self, resolver: Resolver) -> None:
        self.resolver = resolver

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        clock, started = _CLOCK.get(), time.perf_counter()
        try:
            return await self.resolver.resolve(host, port, family)
        finally:
            if clock is not None and clock.dns is None:
                clock.dns = time.perf_counter() - started

    async def close(self) -> None:
        await self.resolver.close()


class _TimedConnector(aiohttp.TCPConnector):
    """Times new connections (DNS included) and tells the requester when its request is going out."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._opened: weakref.WeakSet[object] = weakref.WeakSet()  # protocols of connections made so far

    async def connect(self, req: aiohttp.ClientRequest, traces: list[Any],
                      timeout: aiohttp.ClientTimeout) -> Connection:  # noqa: ASYNC109 (aiohttp's signature)
        clock, started = _CLOCK.get(), time.perf_counter()
        connection = await super().connect(req, traces, timeout)
        if clock is not None:
            protocol = connection.protocol
            if protocol is not None and protocol not in self._opened:  # made now, not taken from the pool
                self._opened.add(protocol)
                if clock.connect is None:
                    clock.connect = time.perf_counter() - started
            # The request is written as soon as its connection is in hand, in this same step of the task. The
            # sender hears "writing" now and "written" in the loop's next round: after the write, however long
            # the process is held up before it (preempted, collecting garbage). Pacing a host from "writing"
            # let its next request go out up to 24 ms short of the interval (seen on the wire).
            if clock.on_writing is not None:
                clock.on_writing()
            if clock.on_written is not None:
                asyncio.get_running_loop().call_soon(clock.on_written)
        return connection


class Fetcher:
    def __init__(self, settings: Settings, resolver: Resolver) -> None:
        self.settings = settings
        self.resolver = resolver
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Fetcher:
        s = self.settings
        ssl_context = ssl.create_default_context(cafile=str(s.ca_file) if s.ca_file else None)
        connector = _TimedConnector(
            resolver=_TimedResolver(self.resolver),
            limit=s.global_concurrency,
            limit_per_host=0,  # the scheduler owns per-host limits
            ssl=ssl_context,
            use_dns_cache=False,  # the resolver caches; aiohttp's cache would hide its errors
            enable_cleanup_closed=True,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=s.total_timeout, sock_connect=s.connect_timeout,
                                          sock_read=s.first_byte_timeout),
            headers={"User-Agent": s.user_agent, "Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"},
            auto_decompress=True,
            cookie_jar=aiohttp.DummyCookieJar(),
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()
        await self.resolver.close()

    async def fetch(self, url: str, method: str = "GET", *, max_body: int | None = None,
                    headers: dict[str, str] | None = None, follow: bool = True,
                    on_writing: Callable[[], None] | None = None,
                    on_written: Callable[[], None] | None = None) -> FetchResult:
        """Fetch ``url``; never raises for network trouble (the result carries the reason).

        With ``follow=False`` a redirect is returned as it is (``location`` set), so the caller can
        schedule the next hop under its host's politeness limits like any other request. ``on_writing``
        is called as the request is being written and ``on_written`` after, again if it is written once more
        (the politeness scheduler paces the IP from the one and the host from the other).
        """
        started_at = datetime.now(UTC)
        clock = _Clock(on_writing=on_writing, on_written=on_written)
        token = _CLOCK.set(clock)
        hops: list[Hop] = []
        state: dict[str, Any] = {"url": url, "status": None, "first_byte": None}
        # One request is bounded by aiohttp's own total timeout; a followed chain needs one deadline across
        # its hops (a second timer per request costs ~4 % of a crawl's CPU, so only then).
        deadline = asyncio.timeout(self.settings.total_timeout) if follow else contextlib.nullcontext()
        try:
            async with deadline:
                return await self._follow(url, method, max_body, headers or {}, clock, hops, started_at,
                                          state, follow)
        except Exception as exc:  # translated in one place; unknown kinds are re-raised there
            reason, detail = classify_exception(exc)
        finally:
            _CLOCK.reset(token)
        return FetchResult(
            url=url, final_url=state["url"], method=method, status=None, redirects=tuple(hops),
            error=reason, error_detail=detail[:300], started_at=started_at,
            timings=Timings(clock.dns, clock.connect, state["first_byte"], time.perf_counter() - clock.start),
        )

    async def _follow(self, url: str, method: str, max_body: int | None, headers: dict[str, str],
                      clock: _Clock, hops: list[Hop], started_at: datetime, state: dict[str, Any],
                      follow: bool) -> FetchResult:
        assert self._session is not None, "Fetcher used outside 'async with'"
        seen = {url}
        current = url
        while True:
            state["url"] = current
            request_url = URL(current, encoded=True)
            self.resolver.check_literal(request_url.host or "")
            async with self._session.request(method, request_url, allow_redirects=False, headers=headers) as resp:
                if state["first_byte"] is None:
                    state["first_byte"] = time.perf_counter() - clock.start
                location = resp.headers.get("Location")
                if resp.status in REDIRECT_STATUSES and location:
                    target = str(resp.url.join(URL(location)).with_fragment(None))
                    if not follow:
                        return replace(self._result(url, current, method, resp, hops, clock, state, started_at,
                                                    b"", 0, False, None), location=target)
                    hops.append(Hop(current, resp.status, target))
                    error = None
                    if target in seen:
                        error = Reason.REDIRECT_LOOP
                    elif len(hops) > self.settings.max_redirects:
                        error = Reason.TOO_MANY_REDIRECTS
                    if error is not None:
                        return self._result(url, current, method, resp, hops, clock, state, started_at,
                                            b"", 0, False, error)
                    seen.add(target)
                    current = target
                    # The sender paces the first hop's host; later hops are not its own.
                    clock.on_writing = clock.on_written = None
                    continue
                body, size, truncated = b"", 0, False
                if method != "HEAD" and max_body != 0:
                    body, size, truncated = await self._read(resp, max_body or self.settings.max_body_bytes)
                return self._result(url, current, method, resp, hops, clock, state, started_at,
                                    body, size, truncated, None)

    @staticmethod
    async def _read(resp: aiohttp.ClientResponse, cap: int) -> tuple[bytes, int, bool]:
        chunks: list[bytes] = []
        size = 0
        async for chunk in resp.content.iter_chunked(65536):
            size += len(chunk)
            if size > cap:
                chunks.append(chunk[: cap - (size - len(chunk))])
                # Drop the connection rather than draining a huge body we will not use.
                with contextlib.suppress(Exception):
                    resp.close()
                return b"".join(chunks), size, True
            chunks.append(chunk)
        return b"".join(chunks), size, False

    def _result(self, url: str, final: str, method: str, resp: aiohttp.ClientResponse, hops: list[Hop],
                clock: _Clock, state: dict[str, Any], started_at: datetime, body: bytes, size: int,
                truncated: bool, error: Reason | None) -> FetchResult:
        h = resp.headers
        return FetchResult(
            url=url, final_url=final, method=method, status=resp.status, redirects=tuple(hops),
            error=error, error_detail=f"{len(hops)} redirects" if error else "",
            content_type=(resp.content_type or "").lower(), charset=resp.charset,
            etag=h.get("ETag"), last_modified=h.get("Last-Modified"),
            retry_after=parse_retry_after(h.get("Retry-After")),
            body=body, size=size if method != "HEAD" else _content_length(h.get("Content-Length")),
            truncated=truncated, started_at=started_at, server_header=h.get("Server", "")[:100],
            timings=Timings(clock.dns, clock.connect, state["first_byte"], time.perf_counter() - clock.start),
        )


def _content_length(value: str | None) -> int:
    return int(value) if value and value.isdigit() else 0
