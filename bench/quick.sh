#!/usr/bin/env bash
# A first rough figure: cached GET /roku/entitlements/{code} through the whole bridge, against a
# bare hyper server (examples/ceiling.rs) measured in the same run with the same load tool.
# Usage: bench/quick.sh [seconds] [connections]. Needs wrk (apt-get install wrk).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}; conns=${2:-64}
command -v wrk >/dev/null || { echo "wrk not found: apt-get install wrk" >&2; exit 1; }
cargo build --release --quiet --bin roku-bridge --example ceiling

bridge_port=18080; ceiling_port=18090
# One load generator is one IP and one customer: the limiters stay in the path (their cost is
# part of the figure) with budgets the load cannot exhaust.
export ROKU_BRIDGE__LIMITS__PER_IP_PER_SECOND=1000000000 ROKU_BRIDGE__LIMITS__PER_IP_BURST=1000000000
export ROKU_BRIDGE__LIMITS__PER_CUSTOMER_PER_SECOND=1000000000 ROKU_BRIDGE__LIMITS__PER_CUSTOMER_BURST=1000000000
ROKU_BRIDGE__SERVER__LISTEN=127.0.0.1:$bridge_port ROKU_BRIDGE__ADMIN__LISTEN=127.0.0.1:18091 RUST_LOG=warn \
  target/release/roku-bridge serve 2>/tmp/roku-bridge-bench.log & bridge=$!
target/release/examples/ceiling 127.0.0.1:$ceiling_port 2>/dev/null & ceiling=$!
trap 'kill $bridge $ceiling 2>/dev/null' EXIT
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$bridge_port/" && break; sleep 0.1; done

token=$(curl -fs -X POST "http://127.0.0.1:$bridge_port/roku/sessions" \
  -d '{"email":"bench@example.com","password":"bench-password","register":true}' |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["accessToken"])')
url="http://127.0.0.1:$bridge_port/roku/entitlements/S598742062-US"
curl -fs -H "Authorization: Bearer $token" "$url" >/dev/null   # warm the cache

run() { wrk -t2 -c"$conns" -d"${secs}s" --latency -H "Authorization: Bearer $token" "$1" | tee /dev/stderr |
  awk '/Requests\/sec/ {print $2}'; }
echo "== ceiling (bare hyper)" >&2; ceil_rps=$(run "http://127.0.0.1:$ceiling_port/")
echo "== bridge, cached entitlement" >&2; bridge_rps=$(run "$url")
python3 - "$ceil_rps" "$bridge_rps" <<'PY'
import sys
c, b = map(float, sys.argv[1:3])
print(f"ceiling {c:,.0f} req/s | bridge cached lookup {b:,.0f} req/s | ratio {b/c:.0%}")
PY
