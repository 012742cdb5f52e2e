#!/usr/bin/env python3
"""Assembles bench/run.sh's parts into one JSON document and prints the table.

usage: bench/report.py PARTS_DIR OUT_JSON   (environment: see bench/run.sh)
"""
import json
import os
import platform
import sys

if sys.argv[1] == "--line":  # one loadgen result, one line (progress output)
    with open(sys.argv[2]) as f:
        r = json.load(f)
    print(
        f"{sys.argv[3]:<18} achieved {r['achieved_rate']:>8,.0f}/s  p50 {r['p50_ms']:.3f}  p99 {r['p99_ms']:.3f}"
        f"  p99.9 {r['p999_ms']:.3f}  max {r['max_ms']:.3f} ms  errors {r['errors']}  statuses {r['statuses']}"
        f"  (send lag p99 {r['send_lag_p99_ms']:.3f} ms)"
    )
    sys.exit(0)

parts, out_path = sys.argv[1], sys.argv[2]
env = os.environ


def load(name):
    path = os.path.join(parts, name)
    try:
        with open(path) as f:
            text = f.read().strip()
        # push_ingest prints one JSON line last.
        return json.loads(text.splitlines()[-1])
    except (OSError, ValueError, IndexError):
        return None


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def mem_total_gib():
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return None


machine = {
    "nproc": os.cpu_count(),
    "model_name": cpu_model(),
    "kernel": platform.release(),
    "mem_total_gib": mem_total_gib(),
    "loadavg_before": env.get("LOAD_BEFORE"),
    "loadavg_after": env.get("LOAD_AFTER"),
}

ceil_rps = float(env["CEIL_RPS"])
bridge_rps = float(env["BRIDGE_RPS"])
open_loop = {}
for target in ("ceiling", "bridge"):
    for rate in (1000, 5000, 10000):
        open_loop.setdefault(target, {})[str(rate)] = load(f"ol-{target}-{rate}.json")
uncached = {
    "bridge": load("uncached-bridge.json"),
    "direct": load("uncached-direct.json"),
}
try:
    with open(os.path.join(parts, "uncached-metrics.txt")) as f:
        uncached["bridge_metrics"] = f.read().strip().splitlines()
except OSError:
    uncached["bridge_metrics"] = []
push = (load("push.json") or {}).get("push_ingest", [])
receipts = load("receipts.json")
memory = load("memory.json") or {}

rows = []  # measure, figure, baseline, ratio, target, verdict


def verdict(ok):
    return "met" if ok else "MISSED"


rows.append((
    "cached GET /roku/entitlements, closed loop (wrk)",
    f"{bridge_rps:,.0f} req/s",
    f"ceiling {ceil_rps:,.0f} req/s",
    f"{bridge_rps / ceil_rps:.0%}",
    ">= 50 % of ceiling",
    verdict(bridge_rps / ceil_rps >= 0.5),
))
for rate in ("1000", "5000", "10000"):
    b, c = open_loop["bridge"][rate], open_loop["ceiling"][rate]
    if not b or not c:
        continue
    target, ok = "-", None
    if rate == "5000":
        target, ok = "p99 <= 1 ms at 5k/s", b["p99_ms"] <= 1.0 and b["errors"] == 0
    rows.append((
        f"cached lookup latency, open loop {int(rate) // 1000}k/s",
        f"p50 {b['p50_ms']:.2f} / p99 {b['p99_ms']:.2f} / p99.9 {b['p999_ms']:.2f} ms"
        f" ({b['achieved_rate']:,.0f}/s, {b['errors']} err)",
        f"ceiling p50 {c['p50_ms']:.2f} / p99 {c['p99_ms']:.2f} / p99.9 {c['p999_ms']:.2f} ms",
        f"p99 x{b['p99_ms'] / c['p99_ms']:.1f}",
        target,
        verdict(ok) if ok is not None else "-",
    ))
ub, ud = uncached["bridge"], uncached["direct"]
if ub and ud:
    rows.append((
        "uncached lookup via bridge (Cleeng API, TTL 0), 1k/s",
        f"p50 {ub['p50_ms']:.2f} / p99 {ub['p99_ms']:.2f} ms ({ub['errors']} err)",
        f"provider direct p50 {ud['p50_ms']:.2f} / p99 {ud['p99_ms']:.2f} ms",
        f"added p50 +{ub['p50_ms'] - ud['p50_ms']:.2f} / p99 +{ub['p99_ms'] - ud['p99_ms']:.2f} ms",
        "-",
        "-",
    ))
for row in push:
    is_sqlite = row["store"] == "sqlite"
    rows.append((
        f"push ingest {row['store']} ({row['pushes']}, {row['concurrency']} conc.)",
        f"{row['bridge_msgs_per_s']:,.0f} msg/s, p99 ack {row['p99_ms']:.1f} ms",
        f"bare INSERT {row['insert_per_s']:,.0f}/s",
        f"{row['ratio']:.0%}",
        ">= 2000 msg/s, p99 <= 50 ms" if is_sqlite else "-",
        verdict(row["bridge_msgs_per_s"] >= 2000 and row["p99_ms"] <= 50) if is_sqlite else "-",
    ))
if receipts:
    sqlite_insert = next((r["insert_per_s"] for r in push if r["store"] == "sqlite"), None)
    rows.append((
        "receipts: POST /roku/payment, forward + confirm (32 conc., defaults)",
        f"{receipts['achieved_rate']:,.0f} receipts/s, p50 {receipts['p50_ms']:.1f} / p99 {receipts['p99_ms']:.1f} ms"
        f" ({receipts['errors']} err)",
        f"bare INSERT {sqlite_insert:,.0f}/s" if sqlite_insert else "-",
        f"{receipts['achieved_rate'] / sqlite_insert:.0%}" if sqlite_insert else "-",
        "-",
        "-",
    ))
receipts_fast = load("receipts-fastpoll.json")
if receipts_fast:
    rows.append((
        "receipts, payment.poll_initial_interval 1ms",
        f"{receipts_fast['achieved_rate']:,.0f} receipts/s, p50 {receipts_fast['p50_ms']:.1f} / p99 {receipts_fast['p99_ms']:.1f} ms"
        f" ({receipts_fast['errors']} err)",
        f"default poll {receipts['achieved_rate']:,.0f}/s" if receipts else "-",
        f"x{receipts_fast['achieved_rate'] / receipts['achieved_rate']:.1f}" if receipts else "-",
        "-",
        "-",
    ))
ent, hm = memory.get("entitlements"), memory.get("hashmap")
if ent:
    rows.append((
        "RSS of 1M cached entitlements",
        f"{ent['mb_per_million']:.0f} MB ({ent['bytes_per_entry']:.0f} B/answer)",
        f"plain HashMap {hm['mb_per_million']:.0f} MB" if hm else "-",
        f"x{ent['mb_per_million'] / hm['mb_per_million']:.2f}" if hm else "-",
        "<= 300 MB",
        verdict(ent["mb_per_million"] <= 300),
    ))
ip = memory.get("ip_limiter")
if ip:
    bounded = ip["keys_after_retain"] == 0 and ip["rss_after_second_fill_mb"] <= ip["rss_after_fill_mb"] * 1.15
    rows.append((
        "per-IP limiter, 1M distinct keys, twice",
        f"{ip['grown_mb']:.0f} MB at 1M keys ({ip['bytes_per_key']:.0f} B/key); "
        f"0 keys after retain; 2nd 1M: {ip['rss_after_second_fill_mb']:.0f} MB RSS",
        f"1st 1M: {ip['rss_after_fill_mb']:.0f} MB RSS",
        f"x{ip['rss_after_second_fill_mb'] / ip['rss_after_fill_mb']:.2f}",
        "bounded under churn",
        verdict(bounded),
    ))
cust = memory.get("customer_limiter")
if cust:
    rows.append((
        "per-customer limiter (bridge Limits), 1M keys",
        f"{cust['grown_mb']:.0f} MB ({cust['bytes_per_key']:.0f} B/key); "
        f"{cust['keys_after_shrink']} keys after shrink()",
        f"{cust['keys_peak']:,} keys before",
        "-",
        "bounded under churn",
        verdict(cust["keys_after_shrink"] == 0),
    ))

rs256 = (load("rs256.json") or {}).get("criterion_us", {})
try:
    with open(os.path.join(parts, "openssl-rsa-verify-us.txt")) as f:
        openssl_us = float(f.read().strip())
except (OSError, ValueError):
    openssl_us = None
full = rs256.get("RS256 verify + decode + parse event")
if full:
    rows.append((
        "RS256 push verification + decode + parse (criterion, per push)",
        f"{full:.1f} µs",
        f"openssl speed rsa2048 raw verify {openssl_us:.1f} µs" if openssl_us else "-",
        f"x{full / openssl_us:.2f}" if openssl_us else "-",
        "<= 50 µs",
        verdict(full <= 50),
    ))


def wrk_figures(name):
    """req/s and p99 (ms) from one wrk --latency output."""
    try:
        with open(os.path.join(parts, name)) as f:
            text = f.read()
    except OSError:
        return None
    rps = p99 = None
    for line in text.splitlines():
        fields = line.split()
        if line.startswith("Requests/sec:"):
            rps = float(fields[1])
        if fields[:1] == ["99%"]:
            value = fields[1]
            scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
            for unit in ("us", "ms", "s"):
                if value.endswith(unit):
                    p99 = float(value[: -len(unit)]) * scale[unit]
                    break
    return {"rps": rps, "p99_ms": p99}


growth_rows = []  # measure, size, figure, baseline, ratio
growth = {"connections": {}, "memory": {}, "push_prefilled": []}
for c in (64, 256, 1024):
    b, k = wrk_figures(f"grow-bridge-{c}.txt"), wrk_figures(f"grow-ceiling-{c}.txt")
    if not b or not k or not b["rps"] or not k["rps"]:
        continue
    growth["connections"][str(c)] = {"bridge": b, "ceiling": k}
    growth_rows.append((
        "cached lookup, closed loop (wrk -t2)",
        f"{c} connections",
        f"{b['rps']:,.0f} req/s, p99 {b['p99_ms']:.2f} ms",
        f"ceiling {k['rps']:,.0f} req/s, p99 {k['p99_ms']:.2f} ms",
        f"{b['rps'] / k['rps']:.0%} of the rate, p99 x{b['p99_ms'] / k['p99_ms']:.1f}",
    ))
for n in (100000, 1000000, 5000000):
    if n == 1000000:
        cache, plain = memory.get("entitlements"), memory.get("hashmap")
    else:
        cache = (load(f"memory-cache-{n}.json") or {}).get("entitlements")
        plain = (load(f"memory-hashmap-{n}.json") or {}).get("hashmap")
    if not cache or not plain:
        continue
    growth["memory"][str(n)] = {"cache": cache, "hashmap": plain}
    growth_rows.append((
        "RSS of cached entitlements",
        f"{n:,} answers",
        f"{cache['cache_mb']:,.0f} MB ({cache['bytes_per_entry']:.0f} B/answer)",
        f"plain HashMap {plain['rss_after_mb'] - plain['rss_before_mb']:,.0f} MB ({plain['bytes_per_entry']:.0f} B)",
        f"x{cache['bytes_per_entry'] / plain['bytes_per_entry']:.2f}",
    ))
prefilled = (load("push-prefilled.json") or {}).get("push_ingest", [])
growth["push_prefilled"] = prefilled
for row in push + prefilled:
    stored = row.get("prefill", 0)
    growth_rows.append((
        f"push ingest, {row['store']}",
        f"{stored:,} pushes already stored",
        f"{row['bridge_msgs_per_s']:,.0f} msg/s, p99 ack {row['p99_ms']:.1f} ms",
        f"bare INSERT {row['insert_per_s']:,.0f}/s (same store size)",
        f"{row['ratio']:.0%}",
    ))
if ip:
    growth_rows.append((
        "per-IP limiter memory",
        "1M distinct IPs, then 1M new ones after retain_recent()",
        f"{ip['grown_mb']:.0f} MB at 1M keys; {ip['rss_after_second_fill_mb']:.0f} MB RSS after the 2nd 1M",
        f"{ip['rss_after_fill_mb']:.0f} MB RSS after the 1st 1M",
        f"x{ip['rss_after_second_fill_mb'] / ip['rss_after_fill_mb']:.2f} (bounded)",
    ))

document = {
    "timestamp": env.get("STAMP"),
    "machine": machine,
    "settings": {
        "bench_secs": int(env.get("BENCH_SECS", "10")),
        "wrk_connections": int(env.get("BENCH_CONNS", "64")),
        "open_loop_connections": int(env.get("OLCONNS", "16")),
        "pushes": int(env.get("PUSHES", "5000")),
    },
    "cached_throughput": {
        "ceiling_rps": ceil_rps,
        "bridge_rps": bridge_rps,
        "ratio": bridge_rps / ceil_rps,
    },
    "open_loop_latency": open_loop,
    "uncached": uncached,
    "push_ingest": push,
    "receipts": receipts,
    "receipts_fast_poll": receipts_fast,
    "memory": memory,
    "rs256_us": rs256,
    "openssl_rsa2048_verify_us": openssl_us,
    "growth": growth,
    "growth_table": [
        dict(zip(("measure", "size", "figure", "baseline", "ratio"), r)) for r in growth_rows
    ],
    "table": [
        dict(zip(("measure", "figure", "baseline", "ratio", "target", "verdict"), r)) for r in rows
    ],
}
with open(out_path, "w") as f:
    json.dump(document, f, indent=2)

print(
    f"\nroku-bridge benchmark {env.get('STAMP')} — {machine['nproc']} cores, {machine['model_name']}, "
    f"kernel {machine['kernel']}, {machine['mem_total_gib']} GiB; load avg before {machine['loadavg_before']}\n"
)
headers = ("measure", "figure", "same-run baseline", "ratio", "target", "verdict")
print("| " + " | ".join(headers) + " |")
print("|" + "---|" * len(headers))
for r in rows:
    print("| " + " | ".join(r) + " |")
if growth_rows:
    print("\nHow cost grows (each size with its own same-run baseline)\n")
    headers = ("measure", "size", "figure", "same-run baseline", "ratio")
    print("| " + " | ".join(headers) + " |")
    print("|" + "---|" * len(headers))
    for r in growth_rows:
        print("| " + " | ".join(r) + " |")
