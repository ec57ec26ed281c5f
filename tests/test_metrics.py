"""crawler.metrics: each method produces the documented series, labels stay bounded, /metrics serves."""

from __future__ import annotations

import asyncio
import re

import aiohttp
import pytest
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from crawler.metrics import (
    CHECK_CODES,
    FETCH_DURATION_BUCKETS,
    VETO_ITEMS,
    Metrics,
    metrics_handler,
    status_class,
)
from crawler.types import FetchKind, Reason, Verdict

NOW = 1_750_000_000.0
SITE = "1100000088"

Key = tuple[str, frozenset[tuple[str, str]]]


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


def samples(m: Metrics) -> dict[Key, float]:
    out: dict[Key, float] = {}
    for family in text_string_to_metric_families(m.render().decode()):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(m: Metrics, name: str, **labels: str) -> float | None:
    return samples(m).get((name, frozenset(labels.items())))


def series_of(m: Metrics, name: str) -> dict[frozenset[tuple[str, str]], float]:
    return {labels: v for (n, labels), v in samples(m).items() if n == name}


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def m(clock: Clock) -> Metrics:
    return Metrics(clock=clock)


# --------------------------------------------------------------------------- fetches


def test_observe_fetch_ok(m: Metrics) -> None:
    m.observe_fetch(FetchKind.PAGE, 200, Verdict.OK, None, 1234, 0.3)
    m.observe_fetch(FetchKind.PAGE, 204, Verdict.OK, None, 66, 0.02)
    assert value(m, "govcrawl_requests_total", kind="page", status_class="2xx", verdict="ok", reason="") == 2
    assert value(m, "govcrawl_response_bytes_total", kind="page") == 1300
    assert value(m, "govcrawl_fetch_duration_seconds_count", kind="page") == 2
    assert value(m, "govcrawl_fetch_duration_seconds_sum", kind="page") == pytest.approx(0.32)
    assert value(m, "govcrawl_fetch_duration_seconds_bucket", kind="page", le="0.025") == 1
    assert value(m, "govcrawl_fetch_duration_seconds_bucket", kind="page", le="15.0") == 2


def test_observe_fetch_broken_and_no_response(m: Metrics) -> None:
    m.observe_fetch(FetchKind.TARGET, 404, Verdict.BROKEN, Reason.HTTP_404, 0, 0.1)
    m.observe_fetch(FetchKind.TARGET, None, Verdict.BROKEN, Reason.DNS, 0, None)
    m.observe_fetch(FetchKind.PROBE, None, Verdict.BROKEN, Reason.TIMEOUT, 0, 15.0)
    assert value(m, "govcrawl_requests_total", kind="target", status_class="4xx", verdict="broken",
                 reason="http_404") == 1
    assert value(m, "govcrawl_requests_total", kind="target", status_class="none", verdict="broken",
                 reason="dns") == 1
    assert value(m, "govcrawl_requests_total", kind="probe", status_class="none", verdict="broken",
                 reason="timeout") == 1
    # No timing at all (DNS failure): the histogram is left alone rather than fed a fake 0.
    assert value(m, "govcrawl_fetch_duration_seconds_count", kind="target") == 1
    # A 15 s timeout lands in the 15 s bucket: the inspection limit is a bucket boundary.
    assert value(m, "govcrawl_fetch_duration_seconds_bucket", kind="probe", le="15.0") == 1
    assert value(m, "govcrawl_fetch_duration_seconds_bucket", kind="probe", le="10.0") == 0
    assert value(m, "govcrawl_response_bytes_total", kind="target") == 0


def test_buckets_cover_the_inspection_range() -> None:
    assert FETCH_DURATION_BUCKETS[0] == 0.01
    assert FETCH_DURATION_BUCKETS[-1] == 30.0
    assert 15.0 in FETCH_DURATION_BUCKETS
    assert list(FETCH_DURATION_BUCKETS) == sorted(FETCH_DURATION_BUCKETS)


@pytest.mark.parametrize(
    ("status", "expected"),
    [(None, "none"), (100, "1xx"), (200, "2xx"), (301, "3xx"), (404, "4xx"), (599, "5xx"), (0, "other"),
     (600, "other"), (-1, "other")],
)
def test_status_class(status: int | None, expected: str) -> None:
    assert status_class(status) == expected


def test_unknown_enum_values_become_other(m: Metrics) -> None:
    m.observe_fetch("sitemap", 200, "maybe", "cosmic_ray", 10, 0.1)  # type: ignore[arg-type]
    assert value(m, "govcrawl_requests_total", kind="other", status_class="2xx", verdict="other",
                 reason="other") == 1
    assert value(m, "govcrawl_response_bytes_total", kind="other") == 10


def test_every_reason_and_kind_is_a_label_value(m: Metrics) -> None:
    for kind in FetchKind:
        for reason in Reason:
            m.observe_fetch(kind, 500, Verdict.BROKEN, reason, 1, 0.5)
    reasons = {dict(labels)["reason"] for labels in series_of(m, "govcrawl_requests_total")}
    kinds = {dict(labels)["kind"] for labels in series_of(m, "govcrawl_requests_total")}
    assert reasons == {r.value for r in Reason}
    assert kinds == {k.value for k in FetchKind}


# --------------------------------------------------------------------------- scheduler


def test_backoff_and_scheduler(m: Metrics) -> None:
    for cause in ("rate_limited", "rate_limited", "server_error", "timeout", "crawl_delay", "solar_flare"):
        m.backoff(cause)
    assert value(m, "govcrawl_host_backoffs_total", cause="rate_limited") == 2
    assert value(m, "govcrawl_host_backoffs_total", cause="server_error") == 1
    assert value(m, "govcrawl_host_backoffs_total", cause="crawl_delay") == 1
    assert value(m, "govcrawl_host_backoffs_total", cause="other") == 1
    assert value(m, "govcrawl_host_backoffs_total", cause="solar_flare") is None

    m.set_scheduler(hosts_active=7, hosts_waiting=3, queued_requests=120, in_flight=16)
    assert value(m, "govcrawl_scheduler_hosts_active") == 7
    assert value(m, "govcrawl_scheduler_hosts_backed_off") == 3
    assert value(m, "govcrawl_scheduler_queued_requests") == 120
    assert value(m, "govcrawl_scheduler_in_flight_requests") == 16


def test_counters_exist_at_zero_before_first_increment(m: Metrics) -> None:
    # rate()/increase() need the series before the first event, or the first burst is invisible.
    assert value(m, "govcrawl_host_backoffs_total", cause="timeout") == 0
    assert value(m, "govcrawl_db_errors_total") == 0
    assert value(m, "govcrawl_run_pages_total") == 0
    assert value(m, "govcrawl_findings_total", check="link.broken") == 0
    assert value(m, "govcrawl_writer_rows_total", table="fetches") == 0


# --------------------------------------------------------------------------- runs


def test_run_lifecycle_success(m: Metrics, clock: Clock) -> None:
    m.run_started("nightly", sites_total=3)
    assert value(m, "govcrawl_run_in_progress", kind="nightly") == 1
    assert value(m, "govcrawl_run_sites") == 3
    assert value(m, "govcrawl_run_sites_done") == 0
    assert value(m, "govcrawl_last_run_start_timestamp_seconds", kind="nightly") == NOW
    m.site_done()
    m.site_done()
    for _ in range(5):
        m.page_done()
    assert value(m, "govcrawl_run_sites_done") == 2
    assert value(m, "govcrawl_run_pages_total") == 5

    clock.now = NOW + 3600
    m.run_finished("nightly", success=True)
    assert value(m, "govcrawl_run_in_progress", kind="nightly") == 0
    assert value(m, "govcrawl_last_run_end_timestamp_seconds", kind="nightly") == NOW + 3600
    assert value(m, "govcrawl_last_run_success_timestamp_seconds", kind="nightly") == NOW + 3600
    assert value(m, "govcrawl_last_run_success", kind="nightly") == 1


def test_failed_run_keeps_last_success_time(m: Metrics, clock: Clock) -> None:
    m.run_started("nightly", 1)
    m.run_finished("nightly", success=True)
    clock.now = NOW + 86400
    m.run_started("nightly", 1)
    assert value(m, "govcrawl_run_sites_done") == 0  # reset by the new run
    clock.now = NOW + 90000
    m.run_finished("nightly", success=False)
    assert value(m, "govcrawl_last_run_success", kind="nightly") == 0
    assert value(m, "govcrawl_last_run_end_timestamp_seconds", kind="nightly") == NOW + 90000
    assert value(m, "govcrawl_last_run_success_timestamp_seconds", kind="nightly") == NOW


def test_run_kinds_are_separate_and_bounded(m: Metrics) -> None:
    m.run_started("probe", 10)
    m.run_finished("probe", True)
    m.run_started("whatever-the-cli-said", 1)
    kinds = {dict(labels)["kind"] for labels in series_of(m, "govcrawl_run_in_progress")}
    assert kinds == {"probe", "other"}


def test_restore_last_run(m: Metrics) -> None:
    m.restore_last_run("nightly", start=NOW - 7200, end=NOW - 3600, success=False,
                       last_success_end=NOW - 90000)
    assert value(m, "govcrawl_last_run_start_timestamp_seconds", kind="nightly") == NOW - 7200
    assert value(m, "govcrawl_last_run_end_timestamp_seconds", kind="nightly") == NOW - 3600
    assert value(m, "govcrawl_last_run_success", kind="nightly") == 0
    assert value(m, "govcrawl_last_run_success_timestamp_seconds", kind="nightly") == NOW - 90000
    assert value(m, "govcrawl_run_in_progress", kind="nightly") == 0


# --------------------------------------------------------------------------- sites


def test_set_site(m: Metrics) -> None:
    m.set_site(SITE, broken_links=42, stale_columns=3, blank_columns=1,
               veto={"homepage_stale": True, "columns_blank": False, "made_up_item": True})
    assert value(m, "govcrawl_site_broken_links", site=SITE) == 42
    assert value(m, "govcrawl_site_stale_columns", site=SITE) == 3
    assert value(m, "govcrawl_site_blank_columns", site=SITE) == 1
    veto = {dict(labels)["item"]: v for labels, v in series_of(m, "govcrawl_site_veto").items()}
    # Every item is present (missing ones at 0) and unknown ones are not exported.
    assert veto == {item: (1 if item == "homepage_stale" else 0) for item in VETO_ITEMS}
    assert set(VETO_ITEMS) == {"unreachable", "homepage_stale", "columns_stale", "columns_basic_stale",
                               "columns_blank", "security"}

    m.set_site(SITE, 40, 0, 0, {})  # next night: cleared items drop to 0, they do not vanish
    assert value(m, "govcrawl_site_veto", site=SITE, item="homepage_stale") == 0


def test_probe_and_availability(m: Metrics) -> None:
    m.set_probe(SITE, up=True, latency_s=0.42)
    assert value(m, "govcrawl_site_homepage_up", site=SITE) == 1
    assert value(m, "govcrawl_site_probe_latency_seconds", site=SITE) == 0.42
    m.set_probe(SITE, up=False, latency_s=None)
    assert value(m, "govcrawl_site_homepage_up", site=SITE) == 0
    assert value(m, "govcrawl_site_probe_latency_seconds", site=SITE) == 0.42  # last good value kept
    m.set_availability(SITE, 0.0625)
    assert value(m, "govcrawl_site_probe_failure_ratio", site=SITE) == 0.0625
    m.set_availability(SITE, 1.7)  # a caller's arithmetic slip must not show as 170 %
    assert value(m, "govcrawl_site_probe_failure_ratio", site=SITE) == 1.0


@pytest.mark.parametrize(
    "bad", ["https://www.gov.cn/", "www.gov.cn/zhengce", "www.gov.cn:443", "", "a b", "x" * 65, "站点"]
)
def test_site_label_must_be_a_site_code(m: Metrics, bad: str) -> None:
    with pytest.raises(ValueError, match="site code"):
        m.set_site(bad, 0, 0, 0, {})
    with pytest.raises(ValueError, match="site code"):
        m.set_probe(bad, True, 0.1)
    with pytest.raises(ValueError, match="site code"):
        m.set_availability(bad, 0.0)


def test_forget_and_retain_sites(m: Metrics) -> None:
    for site in ("1100000001", "1100000002"):
        m.set_site(site, 1, 1, 1, {"security": True})
        m.set_probe(site, True, 0.1)
        m.set_availability(site, 0.0)
    m.retain_sites(["1100000002"])
    left = {dict(labels)["site"] for (name, labels) in samples(m) if "site" in dict(labels)}
    assert left == {"1100000002"}
    m.forget_site("1100000002")
    m.forget_site("1100000002")  # idempotent
    assert not any("site" in dict(labels) for (_, labels) in samples(m))


# --------------------------------------------------------------------------- writer, findings


def test_writer_and_db(m: Metrics) -> None:
    m.set_writer(queue_depth=250)
    m.writer_rows("fetches", 100)
    m.writer_rows("links", 7)
    m.writer_rows("links", 0)
    m.writer_rows("some_new_table", 3)
    m.db_error()
    m.db_error()
    m.db_reconnect()
    assert value(m, "govcrawl_writer_queue_depth") == 250
    assert value(m, "govcrawl_writer_rows_total", table="fetches") == 100
    assert value(m, "govcrawl_writer_rows_total", table="links") == 7
    assert value(m, "govcrawl_writer_rows_total", table="other") == 3
    assert value(m, "govcrawl_db_errors_total") == 2
    assert value(m, "govcrawl_db_reconnects_total") == 1


def test_findings(m: Metrics) -> None:
    m.findings("link.broken", 5)
    m.findings("homepage.stale", 1)
    m.findings("https://evil.example/link", 2)  # not a code: must not become a label value
    assert value(m, "govcrawl_findings_total", check="link.broken") == 5
    assert value(m, "govcrawl_findings_total", check="homepage.stale") == 1
    assert value(m, "govcrawl_findings_total", check="other") == 2
    checks = {dict(labels)["check"] for labels in series_of(m, "govcrawl_findings_total")}
    assert checks == CHECK_CODES | {"other"}


# --------------------------------------------------------------------------- cardinality, naming

ALLOWED_LABELS = {"kind", "status_class", "verdict", "reason", "cause", "site", "item", "table", "check",
                  "le"}


def test_cardinality_is_bounded(m: Metrics) -> None:
    """Whatever garbage callers pass, no URL becomes a label value and the series count stays put."""
    junk = [f"https://site{i}.gov.cn/page/{i}.html" for i in range(50)]
    for i, url in enumerate(junk):
        m.observe_fetch(url, 200 + i, url, url, 1, 0.1)  # type: ignore[arg-type]
        m.backoff(url)
        m.writer_rows(url, 1)
        m.findings(url, 1)
        m.run_started(url, 1)
        m.run_finished(url, True)
        with pytest.raises(ValueError):
            m.set_site(url, 1, 1, 1, {url: True})
    all_samples = samples(m)
    for name, labels in all_samples:
        assert name.startswith("govcrawl_")
        for label, label_value in labels:
            assert label in ALLOWED_LABELS, (name, label)
            assert "/" not in label_value and "://" not in label_value, (name, label, label_value)
    before = len(all_samples)
    for url in junk:
        m.observe_fetch(url, 250, url, url, 1, 0.1)  # type: ignore[arg-type]
        m.findings(url, 1)
    assert len(samples(m)) == before


def test_naming_conventions(m: Metrics) -> None:
    m.observe_fetch(FetchKind.PAGE, 200, Verdict.OK, None, 1, 0.1)
    for family in text_string_to_metric_families(m.render().decode()):
        assert re.fullmatch(r"govcrawl_[a-z0-9_]+", family.name), family.name
        if family.type == "counter":
            assert all(s.name.endswith("_total") for s in family.samples), family.name
        else:
            assert not family.name.endswith("_total"), f"{family.name}: only counters end in _total"
        if family.type == "histogram":
            assert family.name.endswith("_seconds")
        assert not family.name.endswith(("_ms", "_milliseconds", "_kb"))
    # No _created series: they would double the series count for nothing.
    assert b"_created" not in m.render()


def test_instances_are_isolated() -> None:
    a, b = Metrics(), Metrics()
    a.db_error()
    assert value(a, "govcrawl_db_errors_total") == 1
    assert value(b, "govcrawl_db_errors_total") == 0


# --------------------------------------------------------------------------- exposition


async def _serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}"


async def test_metrics_handler_serves_on_loopback() -> None:
    m = Metrics()
    m.observe_fetch(FetchKind.PAGE, 200, Verdict.OK, None, 10, 0.1)
    app = web.Application()
    app.router.add_get("/metrics", metrics_handler(m))
    runner, base = await _serve(app)
    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{base}/metrics") as resp:
                assert resp.status == 200
                assert resp.headers["Content-Type"].startswith("text/plain")
                text = await resp.text()
            names = {f.name for f in text_string_to_metric_families(text)}
            assert "govcrawl_requests" in names
            async with session.get(
                f"{base}/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"}
            ) as resp:
                assert resp.status == 200
                assert resp.headers["Content-Type"].startswith("application/openmetrics-text")
                assert (await resp.text()).rstrip().endswith("# EOF")
    finally:
        await runner.cleanup()


async def test_push_to_gateway() -> None:
    received: list[tuple[str, str, bytes]] = []

    async def gateway(request: web.Request) -> web.Response:
        received.append((request.method, request.path, await request.read()))
        return web.Response(status=200)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", gateway)
    runner, base = await _serve(app)
    try:
        m = Metrics()
        m.run_started("nightly", 2)
        m.run_finished("nightly", True)
        # push is blocking (urllib): off the event loop, as the crawler must call it too.
        await asyncio.to_thread(m.push, base, "govcrawl")
    finally:
        await runner.cleanup()
    assert len(received) == 1
    method, path, body = received[0]
    assert method == "PUT"
    assert path == "/metrics/job/govcrawl"
    assert b'govcrawl_last_run_success{kind="nightly"} 1.0' in body


def test_writer_totals_become_counter_increments() -> None:
    from crawler.store.sink import SinkStats

    m = Metrics()
    m.observe_writer(SinkStats(queue_depth=7, rows_written={"fetches": 10}, errors=1, reconnects=0))
    m.observe_writer(SinkStats(queue_depth=2, rows_written={"fetches": 25, "links": 3}, errors=1, reconnects=2))
    text = m.render().decode()
    assert 'govcrawl_writer_rows_total{table="fetches"} 25.0' in text
    assert 'govcrawl_writer_rows_total{table="links"} 3.0' in text
    assert "govcrawl_writer_queue_depth 2.0" in text
    assert "govcrawl_db_errors_total 1.0" in text
    assert "govcrawl_db_reconnects_total 2.0" in text
