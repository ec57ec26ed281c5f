"""The `govcrawl` command as a user meets it: real subprocesses, real exit codes, never a traceback.

Exit codes (crawler/cli.py): 0 ok, 1 failed, 2 bad input, 3 database unusable, 128+N stopped by
signal N. Crawls run against the simulated government web in its own process; its ``--resolve``
rules and ``--nameserver`` are passed as flags, as an operator would.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import pytest
from aiohttp import web

from crawler.simweb.process import simweb_process

GOVCRAWL = str(Path(sys.executable).parent / "govcrawl")
TODAY = date(2026, 11, 28)
N_SITES = 24  # the simulated web; the quick runs use the first SMALL of its registry rows
SMALL = 5
UNREACHABLE_DSN = "postgresql://x@127.0.0.1:1/x"
# Quick runs: the simulated web is local, so politeness may be generous and timeouts short.
FAST = ("--rate", "20", "--ip-rate", "200", "--ip-concurrency", "16", "--timeout", "3", "--connect-timeout", "3",
        "--retries", "0")
HEADER = "name,url,site_code,organizer,kind,region"


@dataclass(frozen=True)
class Web:
    registry: Path  # all N_SITES sites
    small: Path  # the first SMALL sites
    flags: tuple[str, ...]  # --nameserver and every --resolve rule


@pytest.fixture(scope="module")
def simweb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Web]:
    folder = tmp_path_factory.mktemp("cli-web")
    registry = folder / "sites.csv"
    with simweb_process(registry, n_sites=N_SITES, seed=3, today=TODAY, max_items=5) as web_:
        lines = registry.read_text(encoding="utf-8").splitlines()
        small = folder / "small.csv"
        small.write_text("\n".join(lines[: SMALL + 1]) + "\n", encoding="utf-8")
        flags = ("--nameserver", web_.nameserver, *(f for rule in web_.resolve_rules for f in ("--resolve", rule)))
        yield Web(registry, small, flags)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """The caller's environment without GOVCRAWL_* settings; any embedded server would live in tmp."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GOVCRAWL_")}
    clean["GOVCRAWL_DATA_DIR"] = str(tmp_path / "data")
    return clean


def govcrawl(*args: str | Path, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([GOVCRAWL, *map(str, args)], env=env, capture_output=True, text=True, timeout=timeout)


def assert_one_line_error(proc: subprocess.CompletedProcess[str], code: int, *names: str) -> str:
    """Exit ``code``, no traceback, exactly one line on stderr naming every one of ``names``."""
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    for name in names:
        assert name in lines[0], (name, lines[0])
    return lines[0]


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]  # each line must be valid JSON


def summary(stdout: str) -> dict[str, Any]:
    """The `run_finished` line `govcrawl run` prints on standard output."""
    lines = [orjson.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    assert len(lines) == 1 and lines[0]["event"] == "run_finished", stdout
    return lines[0]


def one_site_registry(tmp_path: Path) -> Path:
    path = tmp_path / "one.csv"
    path.write_text(f"{HEADER}\n某市人民政府,http://www.a.gov.cn/,2100000001,某市人民政府办公室,portal,某市\n",
                    encoding="utf-8")
    return path


# ---------------------------------------------------------------------- bad input: exit 2, no traceback


def test_every_bad_registry_row_is_listed_and_no_run_starts(tmp_path: Path, env: dict[str, str]) -> None:
    registry = tmp_path / "sites.csv"
    registry.write_text(f"{HEADER},rate,robots\n"
                        "好的,http://www.a.gov.cn/,2100000001,,portal,,,\n"
                        "无网址,,2100000002,,portal,,,\n"
                        "坏网址,ftp://x.gov.cn/,2100000003,,portal,,,\n"
                        "坏标识码,http://www.b.gov.cn/,12,,portal,,,\n"
                        "坏频率,http://www.c.gov.cn/,2100000004,,portal,,fast,\n"
                        "坏协议,http://www.d.gov.cn/,2100000005,,portal,,,maybe\n"
                        "重复,http://www.e.gov.cn/,2100000001,,portal,,,\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    # `python -m crawler` is the same command as the `govcrawl` entry point.
    proc = subprocess.run([sys.executable, "-m", "crawler", "run", "--sites", str(registry), "--out", str(out)],
                          env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert [line.removeprefix("govcrawl: ") for line in proc.stderr.splitlines()] == [
        f"{registry}:3: url: missing",
        f"{registry}:4: url: 'ftp://x.gov.cn/' is not an absolute http(s) URL",
        f"{registry}:5: site_code: '12' is not a 10-character 网站标识码",
        f"{registry}:6: rate: 'fast' is not a number",
        f"{registry}:7: robots: 'maybe' is not one of obey, ignore",
        f"{registry}:8: site_code: duplicate of line 2",
    ]
    assert not out.exists(), "a registry with problems must start no run"


def test_missing_registry_file(tmp_path: Path, env: dict[str, str]) -> None:
    missing = tmp_path / "no-such-sites.csv"
    proc = govcrawl("run", "--sites", missing, "--out", tmp_path / "out.jsonl", env=env)
    assert_one_line_error(proc, 2, str(missing), "cannot read")
    assert not (tmp_path / "out.jsonl").exists()


@pytest.mark.parametrize(("text", "names"), [
    ("rate = [\n", ()),  # not TOML at all
    ("rate = 'fast'\n", ("rate",)),  # TOML, but not a number
    ("speed = 3\n", ("speed", "unknown setting")),  # no such setting
], ids=["syntax", "bad-value", "unknown-key"])
def test_bad_config_file(tmp_path: Path, env: dict[str, str], text: str, names: tuple[str, ...]) -> None:
    config = tmp_path / "govcrawl.toml"
    config.write_text(text, encoding="utf-8")
    proc = govcrawl("run", "--sites", one_site_registry(tmp_path), "--config", config,
                    "--out", tmp_path / "out.jsonl", env=env)
    assert_one_line_error(proc, 2, str(config), *names)
    assert not (tmp_path / "out.jsonl").exists()


def test_missing_config_file_named_by_environment(tmp_path: Path, env: dict[str, str]) -> None:
    missing = tmp_path / "nowhere.toml"
    proc = govcrawl("run", "--sites", one_site_registry(tmp_path), "--out", tmp_path / "out.jsonl",
                    env={**env, "GOVCRAWL_CONFIG": str(missing)})
    assert_one_line_error(proc, 2, str(missing))


@pytest.mark.parametrize(("var", "value"), [("GOVCRAWL_RATE", "fast"), ("GOVCRAWL_MAX_PAGES", "1.5"),
                                            ("GOVCRAWL_ROBOTS", "sometimes")])
def test_bad_environment_variable(tmp_path: Path, env: dict[str, str], var: str, value: str) -> None:
    proc = govcrawl("run", "--sites", one_site_registry(tmp_path), "--out", tmp_path / "out.jsonl",
                    env={**env, var: value})
    field = var.removeprefix("GOVCRAWL_").lower()
    line = assert_one_line_error(proc, 2, field)
    # The message says where the value came from — or at least which value it was.
    assert var in line or value in line, line
    assert not (tmp_path / "out.jsonl").exists()


@pytest.mark.parametrize("rule", ["nonsense", "www.a.gov.cn=localhost:80", "www.a.gov.cn=127.0.0.1:99999"])
def test_bad_resolve_flag(tmp_path: Path, env: dict[str, str], rule: str) -> None:
    proc = govcrawl("run", "--sites", one_site_registry(tmp_path), "--out", tmp_path / "out.jsonl",
                    "--resolve", rule, env=env)
    assert_one_line_error(proc, 2, "--resolve", rule)
    assert not (tmp_path / "out.jsonl").exists()


def test_bad_nameserver_flag(tmp_path: Path, env: dict[str, str]) -> None:
    proc = govcrawl("run", "--sites", one_site_registry(tmp_path), "--out", tmp_path / "out.jsonl",
                    "--nameserver", "dns.example", env=env)
    assert_one_line_error(proc, 2, "--nameserver", "dns.example")


def test_missing_page_for_inspect_page(tmp_path: Path, env: dict[str, str]) -> None:
    missing = tmp_path / "missing.html"
    assert_one_line_error(govcrawl("inspect-page", missing, "--json", env=env), 2, str(missing))


# ---------------------------------------------------------------------- database unusable: exit 3


def test_unreachable_database_for_run(tmp_path: Path, env: dict[str, str]) -> None:
    proc = govcrawl("run", "--sites", one_site_registry(tmp_path), "--dsn", UNREACHABLE_DSN, env=env)
    assert_one_line_error(proc, 3, "PostgreSQL")
    assert proc.stdout == ""


def test_unreachable_database_for_report(env: dict[str, str]) -> None:
    assert_one_line_error(govcrawl("report", "--dsn", UNREACHABLE_DSN, "--format", "json", env=env), 3, "PostgreSQL")


@pytest.mark.parametrize("command", [("migrate",), ("prune", "--keep", "180d")], ids=["migrate", "prune"])
def test_unreachable_database_for_db_commands(env: dict[str, str], command: tuple[str, ...]) -> None:
    assert_one_line_error(govcrawl("db", *command, "--dsn", UNREACHABLE_DSN, env=env), 3, "PostgreSQL")


# ---------------------------------------------------------------------- runs against the simulated web


def test_run_writes_complete_jsonl(simweb: Web, tmp_path: Path, env: dict[str, str]) -> None:
    out = tmp_path / "out.jsonl"
    proc = govcrawl("run", "--sites", simweb.small, "--out", out, *FAST, *simweb.flags, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    records = read_jsonl(out)
    assert records[0]["type"] == "run" and records[0]["kind"] == "adhoc"
    end = records[-1]
    assert end["type"] == "run_end" and end["status"] == "succeeded"
    assert [r["type"] for r in records].count("run_end") == 1
    assert len([r for r in records if r["type"] == "site"]) == SMALL
    fetches = [r for r in records if r["type"] == "fetch"]
    assert sum(1 for r in fetches if r["kind"] == "page") > SMALL  # beyond the homepages
    # The run_end counts agree with the records actually in the file: nothing was lost on the way.
    assert sum(v for k, v in end["counts"].items() if k.startswith("fetch_")) == len(fetches)
    assert end["counts"]["pages"] == sum(1 for r in fetches if r["kind"] == "page")
    done = summary(proc.stdout)
    assert done["status"] == "succeeded" and done["run_id"] == records[0]["run_id"] and done["sites"] == SMALL


@dataclass(frozen=True)
class Stopped:
    code: int
    seconds: float  # from the signal to the process's exit
    records: list[dict[str, Any]]
    stdout: str
    stderr: str


def wait_for_fetch_records(out: Path, process: subprocess.Popen[str], deadline: float = 30.0) -> None:
    """Until fetch records have reached the file (the sink writes through a buffer), so some exist."""
    end = time.monotonic() + deadline
    while time.monotonic() < end and process.poll() is None:
        if out.exists() and b'"type":"fetch"' in out.read_bytes():
            return
        time.sleep(0.1)
    raise AssertionError(f"no fetch records in {out} after {deadline} s (exit code {process.poll()})")


def run_and_signal(simweb: Web, out: Path, env: dict[str, str], signum: int) -> Stopped:
    # Slow politeness: at 0.5 request/s per host, robots.txt and the soft-404 calibration alone take
    # each host 2 s, so the signal (about a second after the first results) comes long before the end.
    args = [GOVCRAWL, "run", "--sites", str(simweb.registry), "--out", str(out), "--rate", "0.5",
            "--timeout", "3", "--connect-timeout", "3", "--retries", "0", *simweb.flags]
    process = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_fetch_records(out, process)
        time.sleep(1.0)
        assert process.poll() is None, "the run ended before it could be interrupted"
        sent = time.monotonic()
        process.send_signal(signum)
        stdout, stderr = process.communicate(timeout=8)
        seconds = time.monotonic() - sent
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    return Stopped(process.returncode, seconds, read_jsonl(out), stdout, stderr)


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)], ids=["SIGTERM", "SIGINT"])
def test_signal_stops_cleanly_keeping_collected_results(simweb: Web, tmp_path: Path, env: dict[str, str],
                                                        signum: int, code: int) -> None:
    stopped = run_and_signal(simweb, tmp_path / "out.jsonl", env, signum)
    assert stopped.code == code, (stopped.code, stopped.stderr[-2000:])
    assert stopped.seconds < 8
    assert "Traceback" not in stopped.stderr
    records = stopped.records
    assert records[0]["type"] == "run"
    end = records[-1]
    assert end["type"] == "run_end" and end["status"] == "interrupted"
    fetches = [r for r in records if r["type"] == "fetch"]
    assert len(fetches) > 0
    # Every result counted before the stop is in the file.
    assert sum(v for k, v in end["counts"].items() if k.startswith("fetch_")) == len(fetches)
    # It really was interrupted: not every site got as far as its homepage.
    homepages = {r["url"] for r in fetches if r["kind"] == "page"}
    sites = {r["url"] for r in records if r["type"] == "site"}
    assert len(sites) == N_SITES and not sites <= homepages
    assert summary(stopped.stdout)["status"] == "interrupted"


# ---------------------------------------------------------------------- a single site (engine bug)


HOME = ('<html><head><title>某市人民政府</title></head><body><h1>某市人民政府</h1>'
        f'<p>{"政务公开。" * 40}</p><a href="/a.html">通知公告</a><a href="/gone.html">旧文件</a></body></html>')


async def test_one_site_run_checks_the_links_of_its_homepage(tmp_path: Path, env: dict[str, str]) -> None:
    async def page(request: web.Request) -> web.Response:
        if request.path == "/":
            return web.Response(text=HOME, content_type="text/html")
        if request.path == "/a.html":
            return web.Response(text=f"<html><title>通知公告</title><body>{'内容' * 50}</body></html>",
                                content_type="text/html")
        raise web.HTTPNotFound()

    app = web.Application()
    app.router.add_get("/{tail:.*}", page)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    out = tmp_path / "out.jsonl"
    try:
        process = await asyncio.create_subprocess_exec(
            GOVCRAWL, "run", "--sites", str(one_site_registry(tmp_path)), "--out", str(out), *FAST,
            "--resolve", f"www.a.gov.cn=127.0.0.1:{port}", env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        _, stderr = await asyncio.wait_for(process.communicate(), 60)
    finally:
        await runner.cleanup()
    assert process.returncode == 0, stderr.decode()[-2000:]
    records = read_jsonl(out)
    verdicts = {r["url"]: (r["verdict"], r["reason"]) for r in records if r["type"] == "fetch"}
    assert verdicts["http://www.a.gov.cn/"] == ("ok", None)  # the homepage itself is fine ...
    fetched = set(verdicts)  # ... and its two links must have been checked
    assert {"http://www.a.gov.cn/a.html", "http://www.a.gov.cn/gone.html"} <= fetched
    broken = [(f["url"], f["detail"]["target"]) for f in records
              if f["type"] == "finding" and f["check"] == "link.broken"]
    assert broken == [("http://www.a.gov.cn/", "http://www.a.gov.cn/gone.html")]


# ---------------------------------------------------------------------- PostgreSQL


async def test_run_into_postgres_then_report(simweb: Web, tmp_path: Path, env: dict[str, str], pg_dsn: str) -> None:
    proc = await asyncio.to_thread(govcrawl, "run", "--sites", simweb.small, "--dsn", pg_dsn, *FAST, *simweb.flags,
                                   env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    done = summary(proc.stdout)
    run_id = done["run_id"]
    assert done["status"] == "succeeded" and isinstance(run_id, int)
    assert pg_dsn.rsplit("/", 1)[-1] in done["results"]
    conn = await asyncpg.connect(pg_dsn)
    try:
        status = await conn.fetchval("SELECT status FROM runs WHERE id = $1", run_id)
        fetches = await conn.fetchval("SELECT count(*) FROM fetches WHERE run_id = $1", run_id)
        findings = await conn.fetchval("SELECT count(*) FROM findings WHERE run_id = $1", run_id)
        sites = await conn.fetchval("SELECT count(*) FROM sites")
    finally:
        await conn.close()
    assert status == "succeeded"
    assert fetches == sum(v for k, v in done.items() if k.startswith("fetch_")) > 0
    assert findings == sum(v for k, v in done.items() if k.startswith("finding_")) > 0
    assert sites == SMALL

    report = await asyncio.to_thread(govcrawl, "report", "--dsn", pg_dsn, "--format", "json", env=env)
    assert report.returncode == 0, report.stderr
    data = orjson.loads(report.stdout)
    assert data["run_id"] == run_id and data["status"] == "succeeded" and len(data["sites"]) == SMALL

    markdown = await asyncio.to_thread(govcrawl, "report", "--dsn", pg_dsn, "--format", "md", "--run", str(run_id),
                                       env=env)
    assert markdown.returncode == 0, markdown.stderr
    assert f"第 {run_id} 次检查" in markdown.stdout and "succeeded" in markdown.stdout


async def test_db_migrate_is_idempotent(pg_empty_dsn: str, env: dict[str, str]) -> None:
    first = await asyncio.to_thread(govcrawl, "db", "migrate", "--dsn", pg_empty_dsn, env=env)
    second = await asyncio.to_thread(govcrawl, "db", "migrate", "--dsn", pg_empty_dsn, env=env)
    assert first.returncode == 0 and second.returncode == 0, (first.stderr, second.stderr)
    assert first.stdout.startswith("schema version ") and first.stdout == second.stdout
    conn = await asyncpg.connect(pg_empty_dsn)
    try:
        version = await conn.fetchval("SELECT max(version) FROM schema_version")
        applied = await conn.fetchval("SELECT count(*) FROM schema_version")
        has_runs = await conn.fetchval("SELECT to_regclass('runs') IS NOT NULL")
    finally:
        await conn.close()
    assert first.stdout == f"schema version {version}\n"
    assert applied == version and has_runs  # each version applied once, not twice


# ---------------------------------------------------------------------- inspect-page


ARTICLE = (
    '<html><head><title>关于开展某项工作的通知_某市人民政府</title><meta name="SiteIDCode" content="1100000001">'
    '<meta name="ArticleTitle" content="关于开展某项工作的通知"><meta name="PubDate" content="2023-11-20 09:30">'
    '</head><body><h1>关于开展某项工作的通知</h1><div class="info">发布时间：2023-11-20</div>'
    f'<div id="zoom"><p>{"各有关单位：现将有关事项通知如下。" * 30}</p></div><a href="/tzgg/">返回列表</a>'
    '<div class="footer"><p>主办单位：某市人民政府办公室</p><p>网站标识码：1100000001　京ICP备05023109号</p></div>'
    "</body></html>"
)


def test_inspect_page_json(tmp_path: Path, env: dict[str, str]) -> None:
    page = tmp_path / "t20231120_1.html"
    page.write_text(ARTICLE, encoding="utf-8")
    proc = govcrawl("inspect-page", page, "--json", "--url", "http://www.x.gov.cn/tzgg/t20231120_1.html", env=env)
    assert proc.returncode == 0, proc.stderr
    data = orjson.loads(proc.stdout)
    assert list(data) == ["url", "title", "page_kind", "pub_date", "pub_date_source", "list_items", "column_name",
                          "column_type", "identity", "links"]
    assert data["url"] == "http://www.x.gov.cn/tzgg/t20231120_1.html"
    assert data["title"] == "关于开展某项工作的通知_某市人民政府"
    assert data["page_kind"] == "article" and data["pub_date"] == "2023-11-20"
    assert data["identity"]["site_id_code"] == "1100000001"
    assert {"url": "http://www.x.gov.cn/tzgg/", "text": "返回列表", "element": "a"} in data["links"]
