"""The fetcher against a real HTTP server on loopback: hops, loops, timeouts, caps, --resolve, refusals."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable

import pytest
from aiohttp import web

from crawler.config import Settings
from crawler.errors import ConfigError
from crawler.fetch.client import Fetcher, parse_retry_after
from crawler.fetch.resolver import Resolver, ResolveRule
from crawler.types import Reason


async def slow(request: web.Request) -> web.Response:
    await asyncio.sleep(2)
    return web.Response(text="late")


async def chain(request: web.Request) -> web.Response:
    n = int(request.match_info["n"])
    if n == 0:
        return web.Response(text="<html>end</html>", content_type="text/html", headers={"ETag": '"e1"'})
    raise web.HTTPFound(f"/chain/{n - 1}")


async def loop_a(request: web.Request) -> web.Response:
    raise web.HTTPFound("/loop/b")


async def loop_b(request: web.Request) -> web.Response:
    raise web.HTTPFound("http://site.example.gov.cn/loop/a")


async def big(request: web.Request) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"Content-Type": "text/html"})
    await resp.prepare(request)
    for _ in range(64):
        await resp.write(b"x" * 65536)
    return resp


async def host_echo(request: web.Request) -> web.Response:
    return web.Response(text=request.host)


_ANSWERED: set[object] = set()  # connections /drop-reused has answered once


async def drop_reused(request: web.Request) -> web.Response:
    """Answer a connection's first request; close it on the next, as servers do with idle keep-alives."""
    transport = request.transport
    if transport in _ANSWERED:
        assert transport is not None
        transport.close()
    _ANSWERED.add(transport)
    return web.Response(text="ok")


@pytest.fixture(scope="module")
async def server() -> AsyncIterator[int]:
    app = web.Application()
    app.router.add_get("/chain/{n}", chain)
    app.router.add_get("/loop/a", loop_a)
    app.router.add_get("/loop/b", loop_b)
    app.router.add_get("/slow", slow)
    app.router.add_get("/big", big)
    app.router.add_get("/host", host_echo)
    app.router.add_get("/drop-reused", drop_reused)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield port
    await runner.cleanup()


def settings(port: int, **kw: object) -> Settings:
    return Settings(resolve=(f"*.example.gov.cn=127.0.0.1:{port}",), **kw)  # type: ignore[arg-type]


async def fetch(port: int, path: str, method: str = "GET", **kw: object):  # type: ignore[no-untyped-def]
    s = settings(port, **kw)
    async with Fetcher(s, Resolver.from_settings(s.resolve, (), ())) as f:
        return await f.fetch(f"http://site.example.gov.cn{path}", method)


async def test_resolve_rule_keeps_url_and_host_header(server: int) -> None:
    result = await fetch(server, "/host")
    assert result.status == 200 and result.body == b"site.example.gov.cn"


async def test_every_redirect_hop_is_recorded(server: int) -> None:
    result = await fetch(server, "/chain/3")
    assert result.status == 200 and result.error is None
    assert [h.status for h in result.redirects] == [302, 302, 302]
    assert result.final_url == "http://site.example.gov.cn/chain/0"
    assert result.etag == '"e1"'
    assert result.timings.first_byte is not None and result.timings.total is not None


async def test_redirect_loop_and_hop_limit(server: int) -> None:
    loop = await fetch(server, "/loop/a")
    assert loop.error is Reason.REDIRECT_LOOP
    too_many = await fetch(server, "/chain/12", max_redirects=10)
    assert too_many.error is Reason.TOO_MANY_REDIRECTS and len(too_many.redirects) == 11


async def test_first_byte_timeout(server: int) -> None:
    result = await fetch(server, "/slow", first_byte_timeout=0.3, total_timeout=5.0)
    assert result.error is Reason.TIMEOUT


async def test_total_timeout(server: int) -> None:
    result = await fetch(server, "/slow", total_timeout=0.3)
    assert result.error is Reason.TIMEOUT


async def test_body_cap_truncates_and_records_it(server: int) -> None:
    result = await fetch(server, "/big", max_body_bytes=100_000)
    assert result.truncated and len(result.body) == 100_000 and result.size > 100_000


async def test_head_records_no_body(server: int) -> None:
    result = await fetch(server, "/chain/0", "HEAD")
    assert result.status == 200 and result.body == b"" and result.method == "HEAD"


async def test_refused_connection() -> None:
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = await fetch(port, "/")
    assert result.error is Reason.REFUSED


async def test_private_addresses_are_refused_unless_pinned_or_allowed() -> None:
    resolver = Resolver()
    lookup = await resolver.lookup("127.0.0.1", 80)
    assert resolver.refuses(lookup)
    s = Settings()
    async with Fetcher(s, Resolver()) as f:
        result = await f.fetch("http://127.0.0.1:9/")
    assert result.error is Reason.PRIVATE_ADDRESS
    allowed = Resolver(allow_private=("127.0.0.1",))
    assert not allowed.refuses(await allowed.lookup("127.0.0.1", 80))


def test_resolve_rule_syntax() -> None:
    assert ResolveRule.parse("*.gov.cn=127.0.0.2:8080") == ResolveRule("*.gov.cn", "127.0.0.2", 8080)
    assert ResolveRule.parse("a.gov.cn=::1") == ResolveRule("a.gov.cn", "::1", None)
    assert ResolveRule.parse("a=[::1]:81").port == 81
    with pytest.raises(ConfigError, match="not an IP address"):
        ResolveRule.parse("a=example.com")
    with pytest.raises(ConfigError, match="expected PATTERN=ADDR"):
        ResolveRule.parse("nothing")


def test_retry_after_forms() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0


async def test_new_connection_is_timed_and_reused_one_is_not(server: int) -> None:
    s = settings(server)
    told: list[str] = []
    async with Fetcher(s, Resolver.from_settings(s.resolve, (), ())) as f:
        first = await f.fetch("http://site.example.gov.cn/host", follow=False, **notices(told, "first"))
        again = await f.fetch("http://site.example.gov.cn/host", follow=False, **notices(told, "again"))
    assert first.timings.dns is not None and first.timings.connect is not None
    assert first.timings.connect >= first.timings.dns  # the connection's time includes its lookup
    assert again.timings.dns is None and again.timings.connect is None  # a pooled keep-alive connection
    # Each request told its sender once that it was being written, and once (later) that it had been.
    assert told == ["first writing", "first written", "again writing", "again written"]


def notices(told: list[str], name: str) -> dict[str, Callable[[], None]]:
    return {"on_writing": lambda: told.append(f"{name} writing"),
            "on_written": lambda: told.append(f"{name} written")}


async def test_written_is_told_after_the_write_not_during_it(server: int) -> None:
    s = settings(server)
    told: list[str] = []
    async with Fetcher(s, Resolver.from_settings(s.resolve, (), ())) as f:
        def writing() -> None:
            told.append("writing")
            # The task's step that writes the request goes on after this; anything queued now runs after it.
            asyncio.get_running_loop().call_soon(lambda: told.append("next round"))

        await f.fetch("http://site.example.gov.cn/host", follow=False, on_writing=writing,
                      on_written=lambda: told.append("written"))
    assert told == ["writing", "next round", "written"]  # not told "written" in the step that writes


async def test_a_request_written_again_on_a_new_connection_is_reported_again(server: int) -> None:
    # The pooled connection is closed by the server when reused; aiohttp writes the request once more on a
    # new one, and the host's spacing must count from that second write.
    s = settings(server)
    told: list[str] = []
    async with Fetcher(s, Resolver.from_settings(s.resolve, (), ())) as f:
        first = await f.fetch("http://site.example.gov.cn/drop-reused", follow=False, **notices(told, "first"))
        again = await f.fetch("http://site.example.gov.cn/drop-reused", follow=False, **notices(told, "again"))
    assert first.status == again.status == 200
    assert again.timings.connect is not None  # answered on a new connection
    assert told == ["first writing", "first written", "again writing", "again written", "again writing",
                    "again written"]


async def test_sending_is_reported_once_across_redirect_hops(server: int) -> None:
    s = settings(server)
    sent: list[int] = []
    async with Fetcher(s, Resolver.from_settings(s.resolve, (), ())) as f:
        result = await f.fetch("http://site.example.gov.cn/chain/3", on_writing=lambda: sent.append(1),
                               on_written=lambda: sent.append(2))
    assert result.status == 200 and len(result.redirects) == 3
    assert sent == [1, 2]
