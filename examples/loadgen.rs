//! A small open-loop HTTP/1.1 load generator for `bench/run.sh`.
//!
//! wrk is closed-loop: a connection sends its next request only when the previous answer is
//! in, so a server that stalls is simply sent less, and the stall hides in the percentiles
//! ("coordinated omission"). Here every request has a *scheduled* send time fixed in advance
//! (rate R over C connections: connection i sends at t0 + (i + kC)/R), and its latency is
//! measured from that scheduled time to the end of the answer. A request that could not be
//! sent on time because its connection was still waiting is charged the wait.
//!
//! Each connection is one OS thread with a blocking keep-alive socket (no async runtime timer:
//! tokio's timers round up to the millisecond, which would dwarf the figures measured here).
//! `send_lag` reports how late the generator itself sent (scheduler wake-up + queueing).
//!
//! cargo run --release --example loadgen -- URL RATE SECONDS CONNECTIONS
//!     [-H 'Name: value']... [--json] [--receipts]
//!
//! RATE 0 means closed-loop: each connection sends as fast as answers come back (a throughput
//! figure; latencies then are service times, not open-loop latencies).
//! `--receipts` POSTs `/roku/payment` bodies with a unique purchaseId per request
//! (`{"order":{"purchaseId":"bench-<run>-<n>","code":...}}`; code from `--code`, default
//! S598742062-US) to URL instead of GETs.

use std::{
    collections::BTreeMap,
    io::{Read, Write},
    net::TcpStream,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

struct Args {
    host: String,
    port: u16,
    path: String,
    rate: f64,
    seconds: f64,
    connections: usize,
    headers: Vec<String>,
    json: bool,
    receipts: bool,
    code: String,
}

fn usage() -> ! {
    eprintln!(
        "usage: loadgen URL RATE SECONDS CONNECTIONS [-H 'Name: value']... [--json] [--receipts] [--code CODE]"
    );
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut positional = Vec::new();
    let mut headers = Vec::new();
    let (mut json, mut receipts) = (false, false);
    let mut code = "S598742062-US".to_string();
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "-H" => headers.push(it.next().unwrap_or_else(|| usage())),
            "--json" => json = true,
            "--receipts" => receipts = true,
            "--code" => code = it.next().unwrap_or_else(|| usage()),
            "-h" | "--help" => usage(),
            _ => positional.push(a),
        }
    }
    if positional.len() != 4 {
        usage();
    }
    let url = &positional[0];
    let rest = url
        .strip_prefix("http://")
        .unwrap_or_else(|| panic!("only http:// URLs: {url}"));
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => (h.to_string(), p.parse().expect("port")),
        None => (authority.to_string(), 80),
    };
    Args {
        host,
        port,
        path: path.to_string(),
        rate: positional[1].parse().expect("rate"),
        seconds: positional[2].parse().expect("seconds"),
        connections: positional[3].parse().expect("connections"),
        headers,
        json,
        receipts,
        code,
    }
}

/// One keep-alive connection with a minimal HTTP/1.1 response reader.
struct Conn {
    addr: String,
    stream: Option<TcpStream>,
    buf: Vec<u8>,
}

impl Conn {
    fn new(addr: String) -> Self {
        Self {
            addr,
            stream: None,
            buf: Vec::with_capacity(16 * 1024),
        }
    }

    fn stream(&mut self) -> std::io::Result<&mut TcpStream> {
        if self.stream.is_none() {
            let s = TcpStream::connect(&self.addr)?;
            s.set_nodelay(true)?;
            s.set_read_timeout(Some(Duration::from_secs(30)))?;
            self.stream = Some(s);
            self.buf.clear();
        }
        Ok(self.stream.as_mut().unwrap())
    }

    /// Sends one request and reads its whole answer; the status code.
    fn exchange(&mut self, request: &[u8]) -> std::io::Result<u16> {
        let result = self.exchange_inner(request);
        if result.is_err() {
            self.stream = None;
        }
        result
    }

    fn exchange_inner(&mut self, request: &[u8]) -> std::io::Result<u16> {
        self.stream()?.write_all(request)?;
        let eof = || std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "connection closed");
        // Headers.
        let head_end = loop {
            if let Some(i) = find(&self.buf, b"\r\n\r\n") {
                break i + 4;
            }
            self.fill()?.then_some(()).ok_or_else(eof)?;
        };
        let head = std::str::from_utf8(&self.buf[..head_end])
            .map_err(|_| std::io::Error::other("non-UTF-8 head"))?;
        let status: u16 = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| std::io::Error::other("bad status line"))?;
        let mut length = None;
        let mut chunked = false;
        let mut close = false;
        for line in head.split("\r\n").skip(1) {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                length = value.parse::<usize>().ok();
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = value.eq_ignore_ascii_case("chunked");
            } else if name.eq_ignore_ascii_case("connection") {
                close = value.eq_ignore_ascii_case("close");
            }
        }
        self.buf.drain(..head_end);
        if chunked {
            // Enough for this harness: read until the last chunk's terminator.
            loop {
                if let Some(i) = find(&self.buf, b"0\r\n\r\n") {
                    self.buf.drain(..i + 5);
                    break;
                }
                self.fill()?.then_some(()).ok_or_else(eof)?;
            }
        } else {
            let length = length.unwrap_or(0);
            while self.buf.len() < length {
                self.fill()?.then_some(()).ok_or_else(eof)?;
            }
            self.buf.drain(..length);
        }
        if close {
            self.stream = None;
        }
        Ok(status)
    }

    fn fill(&mut self) -> std::io::Result<bool> {
        let mut chunk = [0u8; 8192];
        let n = self.stream.as_mut().unwrap().read(&mut chunk)?;
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n > 0)
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[derive(Default)]
struct Tally {
    latencies: Vec<u64>,
    send_lag: Vec<u64>,
    statuses: BTreeMap<u16, u64>,
    io_errors: u64,
    not_sent: u64,
    last_done: Option<Instant>,
}

fn main() {
    let args = Arc::new(parse_args());
    let addr = format!("{}:{}", args.host, args.port);
    let run_id = format!(
        "{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_micros()
    );
    let counter = Arc::new(AtomicU64::new(0));
    let open = args.rate > 0.0;
    let conns = args.connections.max(1);
    // Connect everything before the clock starts.
    let mut connections: Vec<Conn> = (0..conns).map(|_| Conn::new(addr.clone())).collect();
    for c in &mut connections {
        c.stream()
            .unwrap_or_else(|e| panic!("connecting to {addr}: {e}"));
    }
    let start = Instant::now() + Duration::from_millis(20);
    let end = start + Duration::from_secs_f64(args.seconds);
    // Past this, requests still queued behind a stalled server are counted as not sent.
    let give_up = end + Duration::from_secs(5);
    let threads: Vec<_> = connections
        .into_iter()
        .enumerate()
        .map(|(i, mut conn)| {
            let (args, counter, run_id) = (args.clone(), counter.clone(), run_id.clone());
            std::thread::spawn(move || {
                let fixed = (!args.receipts).then(|| request_bytes(&args, None));
                let mut tally = Tally::default();
                let expected = if open {
                    (args.rate * args.seconds / conns as f64) as usize + 16
                } else {
                    100_000
                };
                tally.latencies.reserve(expected);
                tally.send_lag.reserve(expected);
                let interval = Duration::from_secs_f64(conns as f64 / args.rate.max(1e-9));
                let mut scheduled = start + Duration::from_secs_f64(i as f64 / args.rate.max(1.0));
                if !open {
                    scheduled = start;
                }
                loop {
                    let now = Instant::now();
                    if open {
                        if scheduled >= end {
                            break;
                        }
                        if now >= give_up {
                            let left = (end - scheduled).as_secs_f64() / interval.as_secs_f64();
                            tally.not_sent += left.ceil() as u64;
                            break;
                        }
                        if scheduled > now {
                            std::thread::sleep(scheduled - now);
                        }
                    } else {
                        if now >= end {
                            break;
                        }
                        if now < start {
                            std::thread::sleep(start - now);
                        }
                        scheduled = Instant::now();
                    }
                    let body;
                    let request: &[u8] = match &fixed {
                        Some(r) => r,
                        None => {
                            let n = counter.fetch_add(1, Ordering::Relaxed);
                            body = request_bytes(&args, Some(format!("bench-{run_id}-{n}")));
                            &body
                        }
                    };
                    let sent = Instant::now();
                    let outcome = conn.exchange(request);
                    let done = Instant::now();
                    tally.last_done = Some(done);
                    match outcome {
                        Ok(status) => {
                            *tally.statuses.entry(status).or_default() += 1;
                            tally
                                .latencies
                                .push(done.duration_since(scheduled).as_nanos() as u64);
                            tally
                                .send_lag
                                .push(sent.duration_since(scheduled).as_nanos() as u64);
                        }
                        Err(_) => tally.io_errors += 1,
                    }
                    if open {
                        scheduled += interval;
                    }
                }
                tally
            })
        })
        .collect();
    let mut all = Tally::default();
    for t in threads {
        let t = t.join().expect("worker");
        all.latencies.extend(t.latencies);
        all.send_lag.extend(t.send_lag);
        for (s, n) in t.statuses {
            *all.statuses.entry(s).or_default() += n;
        }
        all.io_errors += t.io_errors;
        all.not_sent += t.not_sent;
        all.last_done = all.last_done.max(t.last_done);
    }
    report(&args, all, start);
}

fn request_bytes(args: &Args, purchase_id: Option<String>) -> Vec<u8> {
    let mut head = String::new();
    let body = purchase_id.map(|id| {
        format!(
            r#"{{"order":{{"purchaseId":"{id}","code":"{}","amount":4.99,"total":4.99,"qty":1}}}}"#,
            args.code
        )
    });
    let method = if body.is_some() { "POST" } else { "GET" };
    head.push_str(&format!(
        "{method} {} HTTP/1.1\r\nHost: {}:{}\r\n",
        args.path, args.host, args.port
    ));
    for h in &args.headers {
        head.push_str(h);
        head.push_str("\r\n");
    }
    if let Some(b) = &body {
        head.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{b}",
            b.len()
        ));
    } else {
        head.push_str("\r\n");
    }
    head.into_bytes()
}

fn pct(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i] as f64 / 1e6
}

fn report(args: &Args, mut t: Tally, start: Instant) {
    t.latencies.sort_unstable();
    t.send_lag.sort_unstable();
    let ok: u64 = t
        .statuses
        .iter()
        .filter(|(s, _)| (200..300).contains(*s))
        .map(|(_, n)| n)
        .sum();
    let answered: u64 = t.statuses.values().sum();
    let errors = answered - ok + t.io_errors + t.not_sent;
    let elapsed = t
        .last_done
        .map_or(args.seconds, |d| d.duration_since(start).as_secs_f64())
        .max(1e-9);
    let achieved = answered as f64 / elapsed;
    let (p50, p99, p999) = (
        pct(&t.latencies, 0.50),
        pct(&t.latencies, 0.99),
        pct(&t.latencies, 0.999),
    );
    let max = t.latencies.last().map_or(f64::NAN, |m| *m as f64 / 1e6);
    let lag99 = pct(&t.send_lag, 0.99);
    let statuses: serde_json::Map<String, serde_json::Value> = t
        .statuses
        .iter()
        .map(|(s, n)| (s.to_string(), (*n).into()))
        .collect();
    if args.json {
        let json = serde_json::json!({
            "mode": if args.rate > 0.0 { "open" } else { "closed" },
            "target_rate": args.rate,
            "connections": args.connections,
            "seconds": args.seconds,
            "requests": answered,
            "ok": ok,
            "errors": errors,
            "io_errors": t.io_errors,
            "not_sent": t.not_sent,
            "statuses": statuses,
            "achieved_rate": achieved,
            "p50_ms": p50, "p99_ms": p99, "p999_ms": p999, "max_ms": max,
            "send_lag_p99_ms": lag99,
        });
        println!("{json}");
    } else {
        println!(
            "{} loop, target {} req/s, {} connections: {answered} answers ({ok} 2xx, {errors} errors) in {elapsed:.1}s = {achieved:.0} req/s",
            if args.rate > 0.0 { "open" } else { "closed" },
            args.rate,
            args.connections
        );
        println!(
            "latency from scheduled send: p50 {p50:.3} ms  p99 {p99:.3} ms  p99.9 {p999:.3} ms  max {max:.3} ms  (generator send lag p99 {lag99:.3} ms)"
        );
        println!("statuses: {statuses:?}");
    }
}
