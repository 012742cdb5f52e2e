#!/usr/bin/env bash
# The performance harness: every figure the product is held to, each beside a baseline measured in the
# same run on the same machine, with a table on stdout and JSON in bench/results/.
#
#   bench/run.sh                 # ~8 minutes on 2 cores once built
#   BENCH_SECS=5 bench/run.sh    # shorter runs per measure (noisier), ~5 minutes
#
# Environment: BENCH_SECS (seconds per load run, default 10), BENCH_CONNS (wrk connections,
# default 64), BENCH_PUSHES (push ingest count, default 5000), BENCH_SKIP_PG=1 (SQLite only),
# BENCH_SKIP_GROWTH=1 (no growth table),
# ROKU_BRIDGE_TEST_PG (PostgreSQL admin URL for push ingest). See docs/PERFORMANCE.md.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
secs=${BENCH_SECS:-10}
conns=${BENCH_CONNS:-64}
pushes=${BENCH_PUSHES:-5000}
olconns=16 # open-loop connections (loadgen)

log() { printf '\n== %s\n' "$*" >&2; }

# --- the load tool -----------------------------------------------------------------------------
if ! command -v wrk >/dev/null; then
  log "installing wrk from the machine's package registry"
  sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get install -y wrk >&2 || { $sudo apt-get update >&2 && $sudo apt-get install -y wrk >&2; }
fi

# --- release binaries --------------------------------------------------------------------------
log "building release binaries"
cargo build --release --quiet --bin roku-bridge --example ceiling --example loadgen \
  --example fast_provider --example memory --example push_ingest
bin=$root/target/release
ex=$bin/examples

tmp=$(mktemp -d /tmp/roku-bench.XXXXXX)
mkdir -p bench/results
out=$tmp/parts; mkdir -p "$out"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { for _ in $(seq 200); do curl -s -o /dev/null "$1" && return 0; sleep 0.05; done; echo "no answer from $1" >&2; return 1; }
session() { # base URL → access token (registers a customer)
  curl -fs -X POST "$1/roku/sessions" -H 'content-type: application/json' \
    -d '{"email":"bench@example.com","password":"bench-password","register":true}' |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["accessToken"])'
}
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
load_before=$(loadavg)

# Common bridge environment: limiters in the path with budgets the load cannot exhaust, logs at
# warn, a fresh store per bridge.
export ROKU_BRIDGE__LIMITS__PER_IP_PER_SECOND=1000000000 ROKU_BRIDGE__LIMITS__PER_IP_BURST=1000000000
export ROKU_BRIDGE__LIMITS__PER_CUSTOMER_PER_SECOND=1000000000 ROKU_BRIDGE__LIMITS__PER_CUSTOMER_BURST=1000000000
export RUST_LOG=warn
start_bridge() { # name port admin_port [VAR=value...] → pid in $bridge_pid
  local name=$1 port=$2 admin=$3; shift 3
  env ROKU_BRIDGE__SERVER__LISTEN=127.0.0.1:$port ROKU_BRIDGE__ADMIN__LISTEN=127.0.0.1:$admin \
    ROKU_BRIDGE__STORE__URL="sqlite://$tmp/$name.db" "$@" \
    "$bin/roku-bridge" serve 2>"$tmp/$name.log" &
  bridge_pid=$!; pids+=("$bridge_pid")
  wait_http "http://127.0.0.1:$port/"
}

# --- 1 + 2: cached lookups: ceiling vs bridge (simulator, config/bridge.toml) -----------------
ceil_port=$(free_port); b1_port=$(free_port)
"$ex/ceiling" "127.0.0.1:$ceil_port" 2>/dev/null & ceil_pid=$!; pids+=("$ceil_pid")
start_bridge cached "$b1_port" 0; b1_pid=$bridge_pid
wait_http "http://127.0.0.1:$ceil_port/"
b1=http://127.0.0.1:$b1_port
token=$(session "$b1")
auth="Authorization: Bearer $token"
cached_url="$b1/roku/entitlements/S598742062-US"
curl -fs -H "$auth" "$cached_url" >/dev/null # warm the cache
ceil_url="http://127.0.0.1:$ceil_port/roku/entitlements/S598742062-US"

wrk_rps() { # name url → req/s (wrk's full output kept)
  wrk -t2 -c"$conns" -d"${secs}s" --latency -H "$auth" "$2" >"$out/wrk-$1.txt"
  awk '/Requests\/sec/ {print $2}' "$out/wrk-$1.txt"
}
log "1. throughput, closed loop (wrk -t2 -c$conns -d${secs}s): ceiling, then bridge (cached)"
wrk -t2 -c"$conns" -d2s "$ceil_url" >/dev/null; wrk -t2 -c"$conns" -d2s -H "$auth" "$cached_url" >/dev/null # warm-up
ceil_rps=$(wrk_rps ceiling "$ceil_url"); echo "ceiling: $ceil_rps req/s" >&2
bridge_rps=$(wrk_rps bridge "$cached_url"); echo "bridge:  $bridge_rps req/s" >&2

log "2. latency, open loop (loadgen, $olconns connections, ${secs}s per rate)"
for rate in 1000 5000 10000; do
  for target in ceiling bridge; do
    url=$ceil_url; [ $target = bridge ] && url=$cached_url
    "$ex/loadgen" "$url" "$rate" "$secs" "$olconns" -H "$auth" --json >"$out/ol-$target-$rate.json"
    python3 bench/report.py --line "$out/ol-$target-$rate.json" "$target $rate/s" >&2
  done
done
stop "$ceil_pid"; stop "$b1_pid"

# --- 3: uncached path against a provider that answers at once ----------------------------------
log "3. uncached lookups: bridge (cleeng kind, cache TTL 0s) vs the fast provider directly, 1000/s"
fp_port=$(free_port); b2_port=$(free_port); b2_admin=$(free_port)
"$ex/fast_provider" "127.0.0.1:$fp_port" 2>/dev/null & fp_pid=$!; pids+=("$fp_pid")
wait_http "http://127.0.0.1:$fp_port/"
fp=http://127.0.0.1:$fp_port
start_bridge uncached "$b2_port" "$b2_admin" \
  ROKU_BRIDGE__PROVIDER__KIND=cleeng ROKU_BRIDGE__PROVIDER__RECEIPT_URL="$fp" \
  ROKU_BRIDGE__PROVIDER__CORE_URL="$fp" ROKU_BRIDGE__PROVIDER__MEDIASTORE_URL="$fp" \
  ROKU_BRIDGE__PROVIDER__PUSH_URL="$fp" ROKU_BRIDGE__PROVIDER__PUBLISHER_ID='"123"' \
  ROKU_BRIDGE__PROVIDER__PUBLISHER_TOKEN=bench-token \
  ROKU_BRIDGE__SESSION__SIGNING_KEY=bench-signing-key-0123456789abcdef0123 \
  ROKU_BRIDGE__ENTITLEMENTS__GRANTED_TTL=0s ROKU_BRIDGE__ENTITLEMENTS__NOT_GRANTED_TTL=0s
b2_pid=$bridge_pid
b2=http://127.0.0.1:$b2_port
token2=$(session "$b2")
curl -fs -H "Authorization: Bearer $token2" "$b2/roku/entitlements/S598742062-US" >/dev/null
direct_url="$fp/3.1/entitlements/customer_id/C1/offer_id/S598742062_US"
"$ex/loadgen" "$direct_url" 1000 "$secs" "$olconns" -H "X-Publisher-Token: bench-token" --json >"$out/uncached-direct.json"
"$ex/loadgen" "$b2/roku/entitlements/S598742062-US" 1000 "$secs" "$olconns" \
  -H "Authorization: Bearer $token2" --json >"$out/uncached-bridge.json"
python3 bench/report.py --line "$out/uncached-direct.json" "provider direct" >&2
python3 bench/report.py --line "$out/uncached-bridge.json" "bridge uncached" >&2
# Proof that the bridge asked the provider every time: its own cache and provider counters.
curl -fs "http://127.0.0.1:$b2_admin/metrics" | grep -E '^roku_bridge_(entitlement_cache_total|provider_calls_total)' \
  >"$out/uncached-metrics.txt" || true
cat "$out/uncached-metrics.txt" >&2
stop "$b2_pid"; stop "$fp_pid"

# --- 4: push ingest ----------------------------------------------------------------------------
which=both; [ "${BENCH_SKIP_PG:-}" = 1 ] && which=sqlite
log "4. push ingest ($ex/push_ingest $pushes 32 $which)"
"$ex/push_ingest" "$pushes" 32 "$which" --json >"$out/push.json"

# --- 5: receipt flow (simulator granting at once) --------------------------------------------
log "5. receipts: POST /roku/payment, closed loop, 32 concurrent, ${secs}s (simulator, grant_delay 0s)"
b3_port=$(free_port)
start_bridge receipts "$b3_port" 0 ROKU_BRIDGE__PROVIDER__SIMULATOR__GRANT_DELAY=0s
b3_pid=$bridge_pid
b3=http://127.0.0.1:$b3_port
token3=$(session "$b3")
"$ex/loadgen" "$b3/roku/payment" 0 "$secs" 32 --receipts -H "Authorization: Bearer $token3" --json >"$out/receipts.json"
python3 bench/report.py --line "$out/receipts.json" receipts >&2
stop "$b3_pid"
# The same with the first access poll after 1 ms instead of 250 ms: what the bridge itself can
# process when nothing makes it wait.
log "5b. receipts again with payment.poll_initial_interval = 1ms"
b4_port=$(free_port)
start_bridge receipts-fast "$b4_port" 0 ROKU_BRIDGE__PROVIDER__SIMULATOR__GRANT_DELAY=0s \
  ROKU_BRIDGE__PAYMENT__POLL_INITIAL_INTERVAL=1ms
b4_pid=$bridge_pid
token4=$(session "http://127.0.0.1:$b4_port")
"$ex/loadgen" "http://127.0.0.1:$b4_port/roku/payment" 0 "$secs" 32 --receipts \
  -H "Authorization: Bearer $token4" --json >"$out/receipts-fastpoll.json"
python3 bench/report.py --line "$out/receipts-fastpoll.json" "receipts (1ms poll)" >&2
stop "$b4_pid"

# --- 6: memory ---------------------------------------------------------------------------------
log "6. memory (1 000 000 cached answers; limiter keys under churn)"
"$ex/memory" 1000000 --json >"$out/memory.json"

# --- 7: RS256 push verification ------------------------------------------------------------------
# The bridge's whole verify (criterion, benches/hot_paths.rs) beside the CPU's raw RSA-2048 verify
# (OpenSSL's own benchmark, key already parsed): the floor no RS256 implementation gets under.
log "7. RS256 push verification (criterion) and openssl speed rsa2048 (raw verify)"
cargo bench --quiet --bench hot_paths -- '^push/' --warm-up-time 1 --measurement-time "$secs" \
  >"$out/criterion-push.txt" 2>&1
python3 - "$root/target/criterion/push" >"$out/rs256.json" <<'PY'
import json, os, sys
d = sys.argv[1]
out = {}
for name in os.listdir(d):
    with open(os.path.join(d, name, "new", "estimates.json")) as f:
        out[name] = json.load(f)["mean"]["point_estimate"] / 1000.0  # µs
print(json.dumps({"criterion_us": out}))
PY
openssl speed -seconds "$((secs < 5 ? secs : 5))" rsa2048 2>/dev/null | awk '/^rsa 2048/ {sub(/s$/, "", $5); print $5 * 1e6}' \
  >"$out/openssl-rsa-verify-us.txt" || true
echo "RS256 push (criterion, µs): $(cat "$out/rs256.json"); openssl raw verify: $(cat "$out/openssl-rsa-verify-us.txt") µs" >&2

# --- 8: how cost grows -----------------------------------------------------------------------------
# Each measure at several sizes, each size with its own same-run baseline. BENCH_SKIP_GROWTH=1
# skips the section (it adds about three minutes).
if [ "${BENCH_SKIP_GROWTH:-}" != 1 ]; then
  log "8a. cached throughput and closed-loop p99 at 64, 256 and 1024 connections"
  ceil_port=$(free_port); g_port=$(free_port)
  "$ex/ceiling" "127.0.0.1:$ceil_port" 2>/dev/null & ceil_pid=$!; pids+=("$ceil_pid")
  # One load generator is one source address: the per-source connection cap would refuse it.
  start_bridge growth "$g_port" 0 ROKU_BRIDGE__SERVER__MAX_CONNECTIONS_PER_SOURCE=0
  g_pid=$bridge_pid
  wait_http "http://127.0.0.1:$ceil_port/"
  gb=http://127.0.0.1:$g_port
  auth="Authorization: Bearer $(session "$gb")"
  curl -fs -H "$auth" "$gb/roku/entitlements/S598742062-US" >/dev/null
  for c in 64 256 1024; do
    for target in ceiling bridge; do
      url="http://127.0.0.1:$ceil_port/roku/entitlements/S598742062-US"
      [ $target = bridge ] && url="$gb/roku/entitlements/S598742062-US"
      wrk -t2 -c"$c" -d"${secs}s" --latency -H "$auth" "$url" >"$out/grow-$target-$c.txt"
      echo "$target c=$c: $(awk '/Requests\/sec/ {print $2}' "$out/grow-$target-$c.txt") req/s," \
        "p99 $(awk '$1 == "99%" {print $2}' "$out/grow-$target-$c.txt")" >&2
    done
  done
  stop "$ceil_pid"; stop "$g_pid"

  log "8b. RSS at 100 000 and 5 000 000 cached entitlements (1 000 000 is step 6)"
  for n in 100000 5000000; do
    "$ex/memory" cache "$n" >"$out/memory-cache-$n.json"
    "$ex/memory" hashmap "$n" >"$out/memory-hashmap-$n.json"
  done

  log "8c. push ingest with 1 000 000 pushes already stored ($which)"
  "$ex/push_ingest" "$pushes" 32 "$which" --json --prefill=1000000 >"$out/push-prefilled.json"
fi

# --- report ------------------------------------------------------------------------------------
stamp=$(date -u +%Y%m%dT%H%M%SZ)
BENCH_SECS=$secs BENCH_CONNS=$conns OLCONNS=$olconns LOAD_BEFORE="$load_before" LOAD_AFTER="$(loadavg)" \
  CEIL_RPS=$ceil_rps BRIDGE_RPS=$bridge_rps STAMP=$stamp PUSHES=$pushes \
  python3 bench/report.py "$out" "bench/results/$stamp.json"
cp "bench/results/$stamp.json" bench/results/latest.json
echo "JSON: bench/results/$stamp.json (and bench/results/latest.json)" >&2
