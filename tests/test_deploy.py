"""deploy/: alerts, dashboard and docs only use series crawler/metrics.py defines; promtool lints and
unit-tests them.

promtool comes from Debian's `prometheus` package. Without it these tests skip, unless
GOVCRAWL_REQUIRE_PROMTOOL=1 (set by CI), where a missing promtool is a failure.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from crawler.metrics import CHECK_CODES, Metrics
from crawler.types import FetchKind, Reason, Verdict

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
ALERTS = DEPLOY / "prometheus" / "alerts.yml"
ALERTS_TEST = DEPLOY / "prometheus" / "alerts_test.yml"
PROMETHEUS_YML = DEPLOY / "prometheus" / "prometheus.yml"
DASHBOARD = DEPLOY / "grafana" / "govcrawl-dashboard.json"
DOCS = ROOT / "docs" / "metrics.md"

NAME_RE = re.compile(r"\bgovcrawl_[a-z_]+")
SUFFIXES = ("_bucket", "_sum", "_count")


def defined_series() -> set[str]:
    """Every series name a Metrics instance can export (families and their sample names)."""
    names: set[str] = set()
    for family in Metrics().registry.collect():
        names.add(family.name)
        if family.type == "counter":
            names.add(family.name + "_total")
        elif family.type == "histogram":
            names.update(family.name + s for s in SUFFIXES)
        else:
            names.add(family.name)
    return names


def exported_families() -> set[str]:
    """Series names as a user writes them in PromQL: counters with _total, histograms bare."""
    out = set()
    for family in Metrics().registry.collect():
        out.add(family.name + "_total" if family.type == "counter" else family.name)
    return out


def referenced(text: str) -> set[str]:
    return set(NAME_RE.findall(text))


def dashboard_exprs(variables: bool = False) -> list[str]:
    """PromQL of every panel target; with `variables`, also the template variables' queries (Grafana
    syntax such as label_values(), not PromQL)."""
    exprs: list[str] = []

    def walk(panels: list[dict]) -> None:  # type: ignore[type-arg]
        for p in panels:
            walk(p.get("panels", []))
            exprs.extend(t["expr"] for t in p.get("targets", []) if t.get("expr"))

    dash = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    walk(dash["panels"])
    for var in dash.get("templating", {}).get("list", []) if variables else []:
        query = var.get("query")
        if isinstance(query, dict):
            query = query.get("query")
        if isinstance(query, str) and "govcrawl_" in query:
            exprs.append(query)
    return exprs


# --------------------------------------------------------------------------- names


def test_alert_series_exist() -> None:
    used = referenced(ALERTS.read_text(encoding="utf-8"))
    assert used, "no govcrawl_ series found in alerts.yml"
    unknown = used - defined_series()
    assert not unknown, f"alerts.yml uses series crawler/metrics.py does not define: {sorted(unknown)}"


def test_alert_test_series_exist() -> None:
    unknown = referenced(ALERTS_TEST.read_text(encoding="utf-8")) - defined_series()
    assert not unknown, f"alerts_test.yml feeds series crawler/metrics.py does not define: {sorted(unknown)}"


def test_dashboard_series_exist() -> None:
    exprs = dashboard_exprs(variables=True)
    assert len(exprs) >= 10
    used = set().union(*(referenced(e) for e in exprs))
    unknown = used - defined_series()
    assert not unknown, f"dashboard uses series crawler/metrics.py does not define: {sorted(unknown)}"


def test_dashboard_covers_the_operators_questions() -> None:
    text = " ".join(dashboard_exprs())
    for needle in ("govcrawl_run_in_progress", "govcrawl_last_run_success", "rate(govcrawl_run_pages_total",
                   "by (status_class)", "by (reason)", "topk(", "govcrawl_site_broken_links",
                   "govcrawl_site_stale_columns", "govcrawl_site_blank_columns", "govcrawl_site_homepage_up",
                   "govcrawl_site_probe_latency_seconds", "govcrawl_writer_queue_depth",
                   "govcrawl_db_errors_total"):
        assert needle in text, f"dashboard lacks {needle}"


def test_docs_describe_every_series() -> None:
    docs = DOCS.read_text(encoding="utf-8")
    missing = {name for name in exported_families() if f"`{name}`" not in docs}
    assert not missing, f"docs/metrics.md does not describe: {sorted(missing)}"
    unknown = referenced(docs) - defined_series()
    assert not unknown, f"docs/metrics.md names series that do not exist: {sorted(unknown)}"


def test_docs_list_every_check_code() -> None:
    documented = set(re.findall(r"^\| `([a-z]+\.[a-z_]+)` \|", DOCS.read_text(encoding="utf-8"), re.M))
    assert documented == set(CHECK_CODES)


def test_finding_codes_in_the_code_base_are_labels() -> None:
    """A finding code emitted anywhere in crawler/ but missing from CHECK_CODES would be counted as
    "other" on the dashboard: add it to CHECK_CODES (crawler/metrics.py) and docs/metrics.md."""
    code_re = re.compile(r"[\"'](?:site|page|link|homepage|column|content|security|identity)\.[a-z_]+[\"']")
    found: dict[str, str] = {}
    for path in (ROOT / "crawler").rglob("*.py"):
        if path.name == "metrics.py":
            continue
        for literal in code_re.findall(path.read_text(encoding="utf-8")):
            found.setdefault(literal[1:-1], str(path.relative_to(ROOT)))
    missing = {code: where for code, where in found.items() if code not in CHECK_CODES}
    assert not missing, f"finding codes not in crawler.metrics.CHECK_CODES: {missing}"


def test_every_alert_has_firing_and_quiet_tests() -> None:
    alerts = set(re.findall(r"^\s*- alert: (\w+)", ALERTS.read_text(encoding="utf-8"), re.M))
    assert {"GovcrawlSiteUnreachable", "GovcrawlHomepageStale", "GovcrawlRunFailed", "GovcrawlRunLate",
            "GovcrawlBrokenLinksJump", "GovcrawlCrawlerStuck", "GovcrawlDatabaseErrors"} <= alerts
    tests = ALERTS_TEST.read_text(encoding="utf-8")
    cases = re.findall(r"alertname: (\w+)\n\s+exp_alerts:( \[\])?", tests)
    firing = {name for name, empty in cases if not empty}
    quiet = {name for name, empty in cases if empty}
    assert alerts <= firing, f"no firing test for {sorted(alerts - firing)}"
    assert alerts <= quiet, f"no not-firing test for {sorted(alerts - quiet)}"


def test_alerts_have_bilingual_annotations() -> None:
    text = ALERTS.read_text(encoding="utf-8")
    rules = re.split(r"^\s*- alert: ", text, flags=re.M)[1:]
    for rule in rules:
        name = rule.split()[0]
        for key in ("summary", "description"):
            match = re.search(rf"^\s+{key}: (.*?)(?=^\s+\w+:|\Z)", rule, re.M | re.S)
            assert match, f"{name}: no {key}"
            body = match.group(1)
            assert re.search(r"[\u4e00-\u9fff]", body), f"{name}: {key} has no Chinese"
            assert re.search(r"\b[A-Za-z]{2,} [A-Za-z]{2,}\b", body), f"{name}: {key} has no English"


def test_systemd_units() -> None:
    serve = (DEPLOY / "systemd" / "govcrawl.service").read_text(encoding="utf-8")
    run = (DEPLOY / "systemd" / "govcrawl-run.service").read_text(encoding="utf-8")
    timer = (DEPLOY / "systemd" / "govcrawl-run.timer").read_text(encoding="utf-8")
    assert "govcrawl serve --config /etc/govcrawl/govcrawl.toml" in serve
    assert "govcrawl run --sites /etc/govcrawl/sites.csv --kind nightly" in run
    for unit in (serve, run):
        for line in ("DynamicUser=yes", "ProtectSystem=strict", "StateDirectory=govcrawl",
                     "NoNewPrivileges=yes"):
            assert f"\n{line}\n" in unit, line
    assert "\nRestart=on-failure\n" in serve
    assert "\nType=oneshot\n" in run
    assert "\nOnCalendar=*-*-* 01:00:00 Asia/Shanghai\n" in timer
    assert "\nPersistent=true\n" in timer


def test_yaml_files_parse() -> None:
    yaml = pytest.importorskip("yaml", reason="PyYAML not installed (deploy/check.sh parses YAML too)")
    files = sorted([*DEPLOY.rglob("*.yml"), *DEPLOY.rglob("*.yaml")])
    assert len(files) >= 7
    for f in files:
        docs = [d for d in yaml.safe_load_all(f.read_text(encoding="utf-8")) if d is not None]
        assert docs, f"{f}: empty"


# --------------------------------------------------------------------------- promtool


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        message = "promtool not on PATH (Debian: apt-get install -y prometheus)"
        if os.environ.get("GOVCRAWL_REQUIRE_PROMTOOL") == "1":
            pytest.fail(f"{message}; GOVCRAWL_REQUIRE_PROMTOOL=1 requires it")
        pytest.skip(message)
    return path


def run_promtool(*args: str, stdin: bytes | None = None) -> str:
    proc = subprocess.run([promtool(), *args], input=stdin, capture_output=True, cwd=ROOT, timeout=120)
    output = (proc.stdout + proc.stderr).decode(errors="replace")
    assert proc.returncode == 0, f"promtool {' '.join(args)} failed:\n{output}"
    return output


def test_promtool_check_config() -> None:
    run_promtool("check", "config", str(PROMETHEUS_YML))


def test_promtool_check_rules() -> None:
    run_promtool("check", "rules", str(ALERTS))


def test_promtool_test_rules() -> None:
    run_promtool("test", "rules", str(ALERTS_TEST))


def test_promtool_check_metrics() -> None:
    """The exposition of a fully populated instance passes promtool's naming/help lint."""
    m = Metrics()
    m.observe_fetch(FetchKind.TARGET, 404, Verdict.BROKEN, Reason.HTTP_404, 100, 0.2)
    m.backoff("rate_limited")
    m.set_scheduler(1, 1, 1, 1)
    m.run_started("nightly", 2)
    m.site_done()
    m.page_done()
    m.run_finished("nightly", True)
    m.set_site("1100000088", 1, 1, 1, {"security": True})
    m.set_probe("1100000088", True, 0.1)
    m.set_availability("1100000088", 0.01)
    m.set_writer(1)
    m.writer_rows("links", 1)
    m.db_error()
    m.db_reconnect()
    m.findings("link.broken", 1)
    output = run_promtool("check", "metrics", stdin=m.render())
    assert output.strip() == "", output


def test_dashboard_promql_parses(tmp_path: Path) -> None:
    """promtool has no bare expression linter; recording rules are parsed with the real PromQL parser."""
    exprs = [re.sub(r"\$\{?\w+\}?", ".*", e) for e in dashboard_exprs()]
    records = [{"record": f"dashboard:expr_{i}", "expr": e} for i, e in enumerate(exprs)]
    rules = {"groups": [{"name": "dashboard", "rules": records}]}
    path = tmp_path / "dashboard_rules.json"  # JSON is YAML: promtool reads it as is
    path.write_text(json.dumps(rules), encoding="utf-8")
    run_promtool("check", "rules", str(path))


def test_promtool_catches_a_broken_alert(tmp_path: Path) -> None:
    """The unit tests have teeth: with an alert's threshold changed, promtool test rules fails."""
    alerts = ALERTS.read_text(encoding="utf-8")
    rule = "govcrawl_site_probe_failure_ratio >= 0.05"
    broken = alerts.replace(rule, rule.replace(">=", ">"))
    assert broken != alerts
    # Only the first test group (the one about that rule): the whole file takes seconds to evaluate.
    head, *groups = re.split(r"^(?=- name: )", ALERTS_TEST.read_text(encoding="utf-8"), flags=re.M)
    assert "probe failure ratio" in groups[0]
    (tmp_path / "alerts.yml").write_text(broken, encoding="utf-8")
    (tmp_path / "alerts_test.yml").write_text(head + groups[0], encoding="utf-8")
    proc = subprocess.run([promtool(), "test", "rules", str(tmp_path / "alerts_test.yml")],
                          capture_output=True, timeout=120)
    assert proc.returncode != 0
    (tmp_path / "alerts.yml").write_text(alerts, encoding="utf-8")
    run_promtool("test", "rules", str(tmp_path / "alerts_test.yml"))
