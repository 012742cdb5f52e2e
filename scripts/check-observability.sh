#!/usr/bin/env bash
# CI: the alert rules pass `promtool check rules`, the PrometheusRule in the production overlay
# carries the same rules, and every metric the Grafana dashboard and the rules name is listed
# by /metrics of a bridge that has served the integration flow (the integration test
# `console::metrics_after_the_flow` writes that scrape to target/observability/metrics.txt).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v promtool >/dev/null 2>&1; then
  echo "== installing Debian's prometheus (for promtool)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus >/dev/null
fi
promtool check rules ops/alerts.yml

scrape=target/observability/metrics.txt
if [[ ! -s $scrape ]]; then
  echo "== no scrape yet: running the integration flow that writes it"
  cargo test --test it console::metrics_after_the_flow -- --exact >/dev/null
fi

python3 - "$scrape" <<'PY'
import json, re, sys
import yaml

scrape = open(sys.argv[1]).read()
exposed = set()
for line in scrape.splitlines():
    if line and not line.startswith("#"):
        exposed.add(re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", line).group(0))

def names(expr):
    # Metric names: identifiers that are not PromQL keywords, functions or label names.
    expr = re.sub(r"\{[^}]*\}", "", expr)           # label matchers
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    expr = re.sub(r"\[[^\]]*\]", "", expr)           # ranges
    words = set(re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", expr))
    return {w for w in words if w.startswith(("roku_bridge_", "process_"))}

wanted = {}
rules = yaml.safe_load(open("ops/alerts.yml"))
for group in rules["groups"]:
    for rule in group["rules"]:
        for n in names(rule["expr"]):
            wanted.setdefault(n, f"alert {rule['alert']}")
dashboard = json.load(open("ops/grafana-dashboard.json"))
for panel in dashboard["panels"]:
    for target in panel.get("targets", []):
        for n in names(target["expr"]):
            wanted.setdefault(n, f"panel {panel['title']!r}")

operator = yaml.safe_load(open("k8s/overlays/production/prometheusrule.yaml"))
if operator["spec"] != rules:
    sys.exit("k8s/overlays/production/prometheusrule.yaml differs from ops/alerts.yml")

missing = sorted(n for n in wanted if n not in exposed)
for n in missing:
    print(f"not exposed: {n} (used by {wanted[n]})", file=sys.stderr)
if missing:
    sys.exit(1)
print(f"observability: {len(wanted)} metrics named by the dashboard and rules, all exposed")
PY
