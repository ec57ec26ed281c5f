#!/usr/bin/env bash
# Lint everything under deploy/ that can be checked without Docker or a cluster:
#   - Prometheus config, alerting rules, and the rules' unit tests (promtool);
#   - every PromQL expression of the Grafana dashboard (parsed by promtool as recording rules);
#   - JSON and YAML files parse; compose and k8s manifests have the parts we rely on;
#   - systemd units (systemd-analyze verify / calendar), when systemd-analyze is present.
# Needs promtool (Debian: apt-get install -y prometheus). Uses only the Python standard library,
# plus PyYAML if some python3 on PATH has it (Debian: python3-yaml); without it YAML files other
# than Prometheus' own are not parsed, and a warning says so.
# Usage: bash deploy/check.sh   (from anywhere; PYTHON=... picks the interpreter to try first)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
cd "$root"

fail() { echo "deploy/check.sh: FAIL: $*" >&2; exit 1; }
step() { echo "--- $*"; }

command -v promtool >/dev/null || fail "promtool not found (apt-get install -y prometheus)"

step "promtool check config deploy/prometheus/prometheus.yml"
promtool check config deploy/prometheus/prometheus.yml

step "promtool check rules deploy/prometheus/alerts.yml"
promtool check rules deploy/prometheus/alerts.yml

step "promtool test rules deploy/prometheus/alerts_test.yml"
promtool test rules deploy/prometheus/alerts_test.yml

# A Python with the standard library is enough for JSON; prefer one that also has PyYAML.
py=""
yaml_py=""
for candidate in "${PYTHON:-}" python3 /usr/bin/python3; do
    [ -n "$candidate" ] && command -v "$candidate" >/dev/null || continue
    [ -z "$py" ] && py="$candidate"
    if "$candidate" -c "import yaml" 2>/dev/null; then yaml_py="$candidate"; break; fi
done
[ -n "$py" ] || fail "no python3 found"

step "JSON: deploy/grafana/govcrawl-dashboard.json"
"$py" -m json.tool deploy/grafana/govcrawl-dashboard.json >/dev/null

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

step "PromQL of every dashboard panel (promtool check rules)"
# Grafana variables are replaced by values that keep the expression valid PromQL.
"$py" - deploy/grafana/govcrawl-dashboard.json "$tmp/dashboard_rules.json" <<'EOF'
import json, re, sys
dash = json.load(open(sys.argv[1], encoding="utf-8"))
exprs = []
def walk(panels):
    for p in panels:
        walk(p.get("panels", []))
        for t in p.get("targets", []):
            if t.get("expr"):
                exprs.append((p.get("title", "?"), t["expr"]))
walk(dash.get("panels", []))
if not exprs:
    sys.exit("dashboard has no PromQL targets")
def concrete(e):
    e = re.sub(r"\$__(rate_)?interval", "5m", e)
    e = re.sub(r"\$\{?\w+\}?", ".*", e)
    return e
rules = [{"record": f"dashboard:panel_{i}", "expr": concrete(e)} for i, (_, e) in enumerate(exprs)]
json.dump({"groups": [{"name": "dashboard", "rules": rules}]}, open(sys.argv[2], "w"))
print(f"{len(rules)} expressions")
EOF
promtool check rules "$tmp/dashboard_rules.json"

if [ -n "$yaml_py" ]; then
    step "YAML parses; compose and k8s manifests have what the deployment relies on ($yaml_py)"
    "$yaml_py" - <<'EOF'
import glob, sys, yaml
files = sorted(set(glob.glob("deploy/**/*.yml", recursive=True) + glob.glob("deploy/**/*.yaml", recursive=True)))
docs = {}
for f in files:
    try:
        docs[f] = [d for d in yaml.safe_load_all(open(f, encoding="utf-8")) if d is not None]
    except yaml.YAMLError as exc:
        sys.exit(f"{f}: {exc}")
    print(f"ok {f}")

compose = docs["deploy/docker-compose.yml"][0]
services = compose["services"]
for name in ("postgres", "govcrawl", "prometheus", "grafana"):
    assert name in services, f"docker-compose.yml: service {name} missing"
assert services["postgres"]["image"].startswith("postgres:15"), "docker-compose.yml: postgres must be 15"
assert "GOVCRAWL_DSN" in services["govcrawl"]["environment"], "docker-compose.yml: GOVCRAWL_DSN missing"

kinds = {d["kind"]: d for f in ("deploy/k8s/deployment.yaml", "deploy/k8s/cronjob.yaml") for d in docs[f]}
for kind in ("ConfigMap", "Deployment", "Service", "CronJob"):
    assert kind in kinds, f"k8s: {kind} missing"
pod = kinds["Deployment"]["spec"]["template"]
c = pod["spec"]["containers"][0]
assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
assert pod["metadata"]["annotations"]["prometheus.io/port"] == "9108"
cj = kinds["CronJob"]["spec"]
assert cj["schedule"] == "0 1 * * *" and cj["timeZone"] == "Asia/Shanghai"
assert cj["concurrencyPolicy"] == "Forbid" and cj["jobTemplate"]["spec"]["activeDeadlineSeconds"] == 8 * 3600
assert set(kinds["ConfigMap"]["data"]) >= {"sites.csv", "govcrawl.toml"}
print("compose and k8s structure ok")
EOF
else
    echo "WARNING: no python3 with PyYAML (Debian: python3-yaml): compose/k8s/grafana YAML not parsed" >&2
fi

if command -v systemd-analyze >/dev/null; then
    step "systemd units (systemd-analyze verify, with the govcrawl binary stubbed)"
    # verify insists that ExecStart's binary exists; the real one is installed by pip elsewhere.
    for unit in deploy/systemd/*; do
        sed 's#/usr/local/bin/govcrawl#/bin/true#' "$unit" >"$tmp/$(basename "$unit")"
    done
    out="$(SYSTEMD_LOG_LEVEL=notice systemd-analyze verify --man=no "$tmp"/*.service "$tmp"/*.timer 2>&1 || true)"
    if [ -n "$out" ]; then echo "$out" >&2; fail "systemd-analyze verify reported problems"; fi
    cal="$(sed -n 's/^OnCalendar=//p' deploy/systemd/govcrawl-run.timer)"
    systemd-analyze calendar "$cal" >/dev/null || fail "govcrawl-run.timer: bad OnCalendar $cal"
    echo "ok"
else
    echo "note: systemd-analyze not found: systemd units not verified"
fi

echo "deploy/check.sh: all checks passed"
