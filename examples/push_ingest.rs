//! Push ingest: signed Roku pushes per second through the whole bridge (RS256 verify, durable
//! write of the push and its outbox rows, ack), on SQLite and on PostgreSQL, with the ack
//! latency percentiles. The baseline, measured in the same run on the same store, is the bare
//! storage ceiling: one committed single-row INSERT per push, at the same concurrency.
//!
//! cargo run --release --example push_ingest -- [pushes] [concurrency] [sqlite|postgres|both] [--json] [--prefill=N]
//! With `--json`, stdout is only the JSON line (the table goes to stderr): `bench/run.sh` reads it.
//! With `--prefill=N`, both stores (the baseline's and the bridge's) first get N stored pushes
//! of the same size, so the figures show what a store that has run for months costs.
//! PostgreSQL: ROKU_BRIDGE_TEST_PG (default postgres://postgres@127.0.0.1:5432/postgres).

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use roku_bridge::config::Config;
use serde_json::json;
use sqlx::Executor;

const KEY: &[u8] = include_bytes!("../tests/fixtures/roku-test-key.pem");
const JWKS: &str = include_str!("../tests/fixtures/roku-jwks.json");

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args: Vec<String> = std::env::args().collect();
    let as_json = args.iter().any(|a| a == "--json");
    args.retain(|a| a != "--json");
    let prefill: u64 = args
        .iter()
        .find_map(|a| a.strip_prefix("--prefill="))
        .map(|n| n.parse().expect("--prefill=N takes a count"))
        .unwrap_or(0);
    args.retain(|a| !a.starts_with("--prefill="));
    // The human table: stdout normally, stderr under --json.
    macro_rules! table {
        ($($t:tt)*) => {
            if as_json { eprintln!($($t)*) } else { println!($($t)*) }
        };
    }
    let pushes: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(5000);
    let concurrency: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(32);
    let which = args.get(3).map(String::as_str).unwrap_or("both");

    let jwks = serve_jwks().await?;
    eprintln!("signing {pushes} pushes…");
    let bodies = Arc::new(sign_pushes(pushes));
    table!(
        "push ingest: {pushes} pushes, {concurrency} concurrent, 2-core machine, client in the same process"
    );
    table!(
        "{:<10} {:>14} {:>14} {:>8} {:>9} {:>9} {:>9}",
        "store",
        "bridge msg/s",
        "INSERT/s",
        "ratio",
        "p50 ms",
        "p99 ms",
        "max ms"
    );
    let mut rows = Vec::new();
    for backend in ["sqlite", "postgres"] {
        if which != "both" && which != backend {
            continue;
        }
        let (url, _dir) = fresh_store(backend).await?;
        prefill_store(&url, prefill).await?;
        let baseline = insert_ceiling(&url, pushes, concurrency).await?;
        let (url, _dir2) = fresh_store(backend).await?;
        prefill_store(&url, prefill).await?;
        let (rate, lat) = ingest(&url, &jwks, bodies.clone(), concurrency).await?;
        let pct = |p: f64| {
            lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)].as_secs_f64() * 1000.0
        };
        table!(
            "{backend:<10} {rate:>14.0} {baseline:>14.0} {:>7.0}% {:>9.2} {:>9.2} {:>9.2}",
            100.0 * rate / baseline,
            pct(0.50),
            pct(0.99),
            lat.last().unwrap().as_secs_f64() * 1000.0
        );
        rows.push(
            json!({"store": backend, "pushes": pushes, "concurrency": concurrency, "prefill": prefill,
                "bridge_msgs_per_s": rate, "insert_per_s": baseline, "ratio": rate / baseline,
                "p50_ms": pct(0.5), "p99_ms": pct(0.99), "p999_ms": pct(0.999),
                "max_ms": lat.last().unwrap().as_secs_f64() * 1000.0}),
        );
    }
    println!("{}", json!({"push_ingest": rows}));
    Ok(())
}

async fn serve_jwks() -> anyhow::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let app = axum::Router::new().route("/jwks.json", axum::routing::get(|| async { JWKS }));
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(format!("http://{addr}/jwks.json"))
}

fn sign_pushes(n: usize) -> Vec<String> {
    let key = EncodingKey::from_rsa_pem(KEY).expect("fixture key");
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("roku-test-1".into());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    (0..n)
        .map(|i| {
            let event = json!({"customerId": format!("rc{}", i % 997), "transactionType": "Sale",
                "transactionId": format!("bench-{i}"), "channelId": "1", "productCode": "S1-US",
                "eventDate": "2026-11-25T05:00:00Z", "responseKey": format!("rk{i}")});
            let claims = json!({"iss": "Roku, Inc. urn:roku:apps:partner-service.roku.com",
                "nbf": now - 3600, "exp": now + 86400, "x-Roku-message-type": "roku.rpay.push",
                "x-Roku-message-key": format!("bench-{i}-{now}"), "x-Roku-message-encoding": "base64-utf8",
                "x-Roku-message": base64::engine::general_purpose::STANDARD.encode(event.to_string())});
            jsonwebtoken::encode(&header, &claims, &key).unwrap()
        })
        .collect()
}

async fn fresh_store(backend: &str) -> anyhow::Result<(String, Option<tempfile::TempDir>)> {
    if backend == "sqlite" {
        let dir = tempfile::tempdir()?;
        return Ok((
            format!("sqlite://{}/bench.db", dir.path().display()),
            Some(dir),
        ));
    }
    let admin = std::env::var("ROKU_BRIDGE_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let name = format!("rb_bench_{}", uuid::Uuid::new_v4().simple());
    let pool = sqlx::PgPool::connect(&admin).await?;
    pool.execute(format!("CREATE DATABASE {name}").as_str())
        .await?;
    pool.close().await;
    let base = admin
        .rsplit_once('/')
        .map(|(b, _)| b)
        .unwrap_or(&admin)
        .to_string();
    Ok((format!("{base}/{name}"), None))
}

/// `n` pushes already stored, the size of the benchmark's own (a 900-byte JWS each), written in
/// one statement per 100 000 rows: the migrations run first through the bridge's own store.
async fn prefill_store(url: &str, n: u64) -> anyhow::Result<()> {
    if n == 0 {
        return Ok(());
    }
    roku_bridge::store::Store::connect(url).await?.close().await;
    let started = Instant::now();
    let chunk = 100_000u64;
    let sqlite = url.starts_with("sqlite:");
    let (sqlite_pool, pg_pool) = if sqlite {
        (Some(sqlx::SqlitePool::connect(url).await?), None)
    } else {
        (None, Some(sqlx::PgPool::connect(url).await?))
    };
    for from in (0..n).step_by(chunk as usize) {
        let to = (from + chunk).min(n) - 1;
        if let Some(pool) = &sqlite_pool {
            let sql = format!(
                "WITH RECURSIVE s(i) AS (SELECT {from} UNION ALL SELECT i + 1 FROM s WHERE i < {to}) \
                 INSERT INTO pushes (message_key, message_type, raw_jws, received_at) \
                 SELECT 'prefill-' || i, 'roku.rpay.push', printf('%.900c', 'x'), 0 FROM s"
            );
            pool.execute(sql.as_str()).await?;
        }
        if let Some(pool) = &pg_pool {
            let sql = format!(
                "INSERT INTO pushes (message_key, message_type, raw_jws, received_at) \
                 SELECT 'prefill-' || i, 'roku.rpay.push', repeat('x', 900), 0 \
                 FROM generate_series({from}, {to}) AS i"
            );
            pool.execute(sql.as_str()).await?;
        }
    }
    if let Some(pool) = sqlite_pool {
        pool.close().await;
    }
    if let Some(pool) = pg_pool {
        pool.execute("ANALYZE pushes").await?;
        pool.close().await;
    }
    eprintln!(
        "prefilled {n} pushes in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The storage ceiling: a committed single-row INSERT per message through the bridge's own store.
async fn insert_ceiling(url: &str, n: usize, concurrency: usize) -> anyhow::Result<f64> {
    let store = roku_bridge::store::Store::connect(url).await?;
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (store, next) = (store.clone(), next.clone());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        break;
                    }
                    let push = roku_bridge::store::NewPush {
                        message_key: format!("ceiling-{i}"),
                        message_type: "roku.rpay.push".into(),
                        transaction_type: None,
                        transaction_id: None,
                        roku_customer_id: None,
                        product_code: None,
                        raw_jws: "x".repeat(900),
                        event_json: None,
                        test: false,
                    };
                    let record = roku_bridge::store::pushes::PushRecord {
                        push,
                        deliveries: Vec::new(),
                        subscription: None,
                    };
                    store.record_push(&record).await.unwrap();
                }
            })
        })
        .collect();
    for w in workers {
        w.await?;
    }
    let rate = n as f64 / started.elapsed().as_secs_f64();
    store.close().await;
    Ok(rate)
}

async fn ingest(
    url: &str,
    jwks: &str,
    bodies: Arc<Vec<String>>,
    concurrency: usize,
) -> anyhow::Result<(f64, Vec<Duration>)> {
    let config = Config::from_toml_layers(&[&format!(
        "[store]\nurl = \"{url}\"\n[roku]\njwks_url = \"{jwks}\"\n[session]\nsigning_key = \"bench-key-0123456789abcdef0123456789\"\n"
    )])?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(roku_bridge::run(config, listener));
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()?;
    let target = format!("http://{addr}/roku/notifications");
    // Warm up: the key set is fetched on the first push.
    let warm = http.post(&target).body(bodies[0].clone()).send().await?;
    anyhow::ensure!(
        warm.status().is_success(),
        "warm-up push refused: {}",
        warm.status()
    );
    let next = Arc::new(AtomicUsize::new(1));
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (http, target, bodies, next) =
                (http.clone(), target.clone(), bodies.clone(), next.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= bodies.len() {
                        break latencies;
                    }
                    let t = Instant::now();
                    let resp = http
                        .post(&target)
                        .body(bodies[i].clone())
                        .send()
                        .await
                        .unwrap();
                    assert!(resp.status().is_success(), "push {i}: {}", resp.status());
                    resp.bytes().await.unwrap();
                    latencies.push(t.elapsed());
                }
            })
        })
        .collect();
    let mut all = Vec::new();
    for w in workers {
        all.extend(w.await?);
    }
    let rate = all.len() as f64 / started.elapsed().as_secs_f64();
    all.sort();
    Ok((rate, all))
}
