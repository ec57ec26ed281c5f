"""TLS failures are `Reason.TLS`, and a link to such a host is `broken(tls)`.

Certificates are made at test time with the ``openssl`` command (the ``cryptography`` package is not
a dependency) and served by aiohttp on 127.0.0.1; ``--resolve`` rules send the certificate's host
name there, so the name checked by TLS is the one in the URL.
"""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from aiohttp import web

from crawler.checks.verdict import judge
from crawler.config import Settings
from crawler.engine import Crawl
from crawler.fetch.client import Fetcher
from crawler.fetch.resolver import Resolver
from crawler.metrics import Metrics
from crawler.registry import load_registry
from crawler.store.sink import JsonlSink
from crawler.types import FetchResult, Reason, Verdict

VALID_HOST = "secure.tlstest.gov.cn"
EXPIRED_HOST = "expired.tlstest.gov.cn"
SITE_HOST = "www.tlstest.gov.cn"  # plain HTTP: the site whose page links to the TLS hosts

CA_CONFIG = """\
[ca]
default_ca = ca_default
[ca_default]
dir = .
database = index.txt
new_certs_dir = .
serial = serial
default_md = sha256
policy = policy_any
unique_subject = no
x509_extensions = ext
[policy_any]
commonName = supplied
[ext]
basicConstraints = critical,CA:TRUE
subjectAltName = DNS:{host}
"""


def make_certificate(folder: Path, host: str, not_before: datetime, not_after: datetime) -> tuple[Path, Path]:
    """A self-signed certificate for ``host`` valid from ``not_before`` to ``not_after``: (cert, key).

    ``openssl ca -selfsign`` is used rather than ``openssl req -x509`` because only it can set an
    arbitrary validity window (an expired certificate needs a notAfter in the past).
    """
    if shutil.which("openssl") is None:
        pytest.fail("the openssl command is needed to make test certificates (and cryptography is not installed)")
    folder.mkdir(parents=True)
    (folder / "ca.cnf").write_text(CA_CONFIG.format(host=host), encoding="utf-8")
    (folder / "index.txt").write_text("", encoding="utf-8")
    (folder / "serial").write_text("01\n", encoding="utf-8")
    stamp = "%Y%m%d%H%M%SZ"

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True, timeout=30)

    openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", "key.pem", "-out", "req.csr", "-subj", f"/CN={host}")
    openssl("ca", "-batch", "-selfsign", "-config", "ca.cnf", "-keyfile", "key.pem", "-in", "req.csr",
            "-out", "cert.pem", "-startdate", not_before.strftime(stamp), "-enddate", not_after.strftime(stamp))
    return folder / "cert.pem", folder / "key.pem"


@dataclass(frozen=True)
class TlsServers:
    valid_port: int  # serves a certificate for VALID_HOST, valid now
    expired_port: int  # serves a certificate for EXPIRED_HOST that expired in 2020
    http_port: int  # plain HTTP: the site SITE_HOST
    valid_cert: Path
    expired_cert: Path


async def hello(request: web.Request) -> web.Response:
    return web.Response(text="<html><head><title>ok</title></head><body>secure page</body></html>",
                        content_type="text/html")


SITE_HOME = (
    "<html><head><title>TLS 测试网站</title></head><body><h1>首页</h1>"
    f'<a href="https://{VALID_HOST}:{{valid}}/page.html">有效证书</a>'
    f'<a href="https://{EXPIRED_HOST}:{{expired}}/page.html">过期证书</a>'
    f"<p>{'本网站用于测试证书错误。' * 20}</p></body></html>"
)


async def _serve(app: web.Application, ssl_context: ssl.SSLContext | None) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
    await site.start()
    return runner, site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]


def _server_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


@pytest.fixture(scope="module")
async def servers(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[TlsServers]:
    folder = tmp_path_factory.mktemp("tls")
    now = datetime.now(UTC)
    valid_cert, valid_key = await asyncio.to_thread(
        make_certificate, folder / "valid", VALID_HOST, now - timedelta(days=1), now + timedelta(days=30))
    expired_cert, expired_key = await asyncio.to_thread(
        make_certificate, folder / "expired", EXPIRED_HOST, datetime(2020, 1, 1, tzinfo=UTC),
        datetime(2020, 2, 1, tzinfo=UTC))
    runners = []
    secure = web.Application()
    secure.router.add_get("/page.html", hello)
    runner, valid_port = await _serve(secure, _server_context(valid_cert, valid_key))
    runners.append(runner)
    old = web.Application()
    old.router.add_get("/page.html", hello)
    runner, expired_port = await _serve(old, _server_context(expired_cert, expired_key))
    runners.append(runner)

    async def home(request: web.Request) -> web.Response:
        return web.Response(text=SITE_HOME.format(valid=valid_port, expired=expired_port), content_type="text/html")

    plain = web.Application()
    plain.router.add_get("/", home)
    runner, http_port = await _serve(plain, None)
    runners.append(runner)
    try:
        yield TlsServers(valid_port, expired_port, http_port, valid_cert, expired_cert)
    finally:
        for runner in runners:
            await runner.cleanup()


def rules(s: TlsServers) -> tuple[str, ...]:
    return (f"{VALID_HOST}=127.0.0.1:{s.valid_port}", f"{EXPIRED_HOST}=127.0.0.1:{s.expired_port}",
            f"wrong-name.tlstest.gov.cn=127.0.0.1:{s.valid_port}", f"{SITE_HOST}=127.0.0.1:{s.http_port}")


async def fetch(s: TlsServers, url: str, ca_file: Path | None = None) -> FetchResult:
    settings = Settings(resolve=rules(s), ca_file=ca_file, total_timeout=5.0, connect_timeout=5.0)
    async with Fetcher(settings, Resolver.from_settings(settings.resolve, (), ())) as fetcher:
        return await fetcher.fetch(url)


async def test_self_signed_certificate_is_tls_with_default_settings(servers: TlsServers) -> None:
    result = await fetch(servers, f"https://{VALID_HOST}/page.html")
    assert result.status is None
    assert result.error is Reason.TLS, (result.error, result.error_detail)
    assert "certificate verify failed" in result.error_detail
    assert judge(result) == (Verdict.BROKEN, Reason.TLS)


async def test_trusted_with_ca_file_the_fetch_succeeds(servers: TlsServers) -> None:
    result = await fetch(servers, f"https://{VALID_HOST}/page.html", ca_file=servers.valid_cert)
    assert result.error is None, result.error_detail
    assert result.status == 200
    assert b"secure page" in result.body
    assert judge(result, is_page=True) == (Verdict.OK, None)


async def test_expired_certificate_is_tls_even_when_trusted(servers: TlsServers) -> None:
    # The expired certificate is itself the trust anchor, so expiry is the only thing wrong with it.
    result = await fetch(servers, f"https://{EXPIRED_HOST}/page.html", ca_file=servers.expired_cert)
    assert result.error is Reason.TLS, (result.error, result.error_detail)
    assert "expired" in result.error_detail
    assert judge(result) == (Verdict.BROKEN, Reason.TLS)


async def test_host_name_mismatch_is_tls(servers: TlsServers) -> None:
    # Trusted certificate, but issued for another name than the one in the URL.
    result = await fetch(servers, "https://wrong-name.tlstest.gov.cn/page.html", ca_file=servers.valid_cert)
    assert result.error is Reason.TLS, (result.error, result.error_detail)
    assert "wrong-name.tlstest.gov.cn" in result.error_detail or "hostname" in result.error_detail.lower()


async def test_https_to_a_plain_http_server_is_tls(servers: TlsServers) -> None:
    # The handshake itself fails: the server answers the ClientHello with plain HTTP.
    result = await fetch(servers, f"https://{SITE_HOST}/")
    assert result.error is Reason.TLS, (result.error, result.error_detail)


async def test_links_to_tls_failures_are_broken_tls_in_a_crawl(servers: TlsServers, tmp_path: Path) -> None:
    registry = tmp_path / "sites.csv"
    registry.write_text("name,url,site_code,organizer,kind,region\n"
                        f"TLS 测试网站,http://{SITE_HOST}/,2100009999,测试单位,portal,测试市\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    settings = Settings(resolve=rules(servers), rate=50.0, ip_rate=200.0, total_timeout=5.0,
                        connect_timeout=5.0, retries=0, out=out)
    crawl = Crawl(settings, load_registry(registry), JsonlSink(out), Metrics(), today=date.today())
    assert await crawl.execute() == "succeeded"
    records = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    broken = {f["detail"]["target"]: f["detail"]["reason"] for f in records
              if f["type"] == "finding" and f["check"] == "link.broken"}
    valid = f"https://{VALID_HOST}:{servers.valid_port}/page.html"
    expired = f"https://{EXPIRED_HOST}:{servers.expired_port}/page.html"
    # Without --ca-file neither certificate is trusted: both links are broken(tls), nothing else is.
    assert broken == {valid: "tls", expired: "tls"}
    verdicts = {r["url"]: (r["verdict"], r["reason"]) for r in records if r["type"] == "fetch"}
    assert verdicts[valid] == ("broken", "tls") and verdicts[expired] == ("broken", "tls")
    assert verdicts[f"http://{SITE_HOST}/"] == ("ok", None)
