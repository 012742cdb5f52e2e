//! Micro-benchmarks of the per-request domain work (criterion):
//! `cargo bench --bench hot_paths` (add `-- --quick` for a short run).

use std::{collections::BTreeMap, hint::black_box, time::Duration};

use base64::Engine;
use criterion::{Criterion, criterion_group, criterion_main};
use hmac::{Hmac, Mac};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use roku_bridge::{
    domain::catalog::{self, Catalog, Date, Query},
    domain::mapping::{ProductMap, Rule},
    provider::Customer,
    roku::{
        events::{decode_message, parse_event},
        isu::{self, Endpoint},
        jws::PushVerifier,
        wcf,
    },
    session::Sessions,
};
use serde_json::json;
use sha2::Sha512;

const ROKU_KEY: &[u8] = include_bytes!("../tests/fixtures/roku-test-key.pem");
const JWKS: &str = include_str!("../tests/fixtures/roku-jwks.json");
const CATALOG: &str = include_str!("../config/catalog.example.toml");

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn mapping(c: &mut Criterion) {
    let table = BTreeMap::from([("S598742062-US".to_string(), "S598742062_US".to_string())]);
    let map = ProductMap::new(Rule::DashToUnderscore, table).unwrap();
    let mut g = c.benchmark_group("mapping");
    g.bench_function("offer_for, table hit", |b| {
        b.iter(|| map.offer_for(black_box("S598742062-US")))
    });
    g.bench_function("offer_for, rule", |b| {
        b.iter(|| map.offer_for(black_box("S123123123-US")))
    });
    g.bench_function("code_for (reverse)", |b| {
        b.iter(|| map.code_for(black_box("S123123123_US")))
    });
    g.finish();
}

fn catalog_paths(c: &mut Criterion) {
    #[derive(serde::Deserialize)]
    struct File {
        catalog: catalog::CatalogConfig,
    }
    let config: File = toml::from_str(CATALOG).unwrap();
    let catalog = Catalog::from_config(config.catalog).unwrap();
    let query: Vec<Query> = serde_json::from_value(json!([
        {"referenceSku": "basic-monthly", "compareCost": "more", "base": true}
    ]))
    .unwrap();
    let today = Date::from_unix_ms(now() as u64 * 1000);
    let mut g = c.benchmark_group("catalog");
    g.bench_function("offers_for_sku (bundle)", |b| {
        b.iter(|| catalog.offers_for_sku(black_box("premium-sports-monthly")))
    });
    g.bench_function("query (referenceSku + compareCost + base)", |b| {
        b.iter(|| catalog::query(&catalog, black_box(&query), today))
    });
    g.finish();
}

/// Serves the fixture JWKS once so the verifier takes the real path (fetch, then cache).
fn jwks_server() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for mut stream in listener.incoming().flatten() {
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{JWKS}",
                JWKS.len()
            );
        }
    });
    format!("http://{addr}/jwks.json")
}

fn pushes(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let verifier = PushVerifier::new(
        jwks_server(),
        Duration::from_secs(60),
        Duration::from_secs(60),
        Duration::from_secs(5),
    )
    .unwrap();
    let event = json!({"transactionType": "Sale", "transactionId": "tx-1", "customerId": "rc-1",
                       "productCode": "S1-US", "eventDate": "2026-11-25T05:14:50Z",
                       "expirationDate": "/Date(1766640890000+0000)/", "responseKey": "rk"});
    let message = base64::engine::general_purpose::STANDARD.encode(event.to_string());
    let claims = json!({
        "iss": "Roku, Inc. urn:roku:apps:partner-service.roku.com",
        "nbf": now() - 3600, "exp": now() + 86400,
        "x-Roku-message": message, "x-Roku-message-encoding": "base64-utf8",
        "x-Roku-message-key": "k-1", "x-Roku-message-type": "roku.rpay.push",
    });
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("roku-test-1".into());
    let token = jsonwebtoken::encode(
        &header,
        &claims,
        &EncodingKey::from_rsa_pem(ROKU_KEY).unwrap(),
    )
    .unwrap();
    rt.block_on(verifier.verify(&token))
        .expect("the fixture push verifies");
    let mut g = c.benchmark_group("push");
    g.bench_function("RS256 verify + decode + parse event", |b| {
        b.iter(|| {
            let claims = rt.block_on(verifier.verify(black_box(&token))).unwrap();
            let value = decode_message(claims["x-Roku-message"].as_str().unwrap()).unwrap();
            parse_event(&value).unwrap()
        })
    });
    g.bench_function("decode + parse event only", |b| {
        b.iter(|| parse_event(&decode_message(black_box(&message)).unwrap()).unwrap())
    });
    g.finish();
}

fn dates(c: &mut Criterion) {
    let mut g = c.benchmark_group("wcf dates");
    g.bench_function("/Date(ms+0000)/", |b| {
        b.iter(|| wcf::parse(black_box("/Date(1581033062000+0000)/")))
    });
    g.bench_function("ISO-8601 with nanoseconds", |b| {
        b.iter(|| wcf::parse(black_box("2022-07-11T20:00:45.458297119Z")))
    });
    g.finish();
}

fn tokens(c: &mut Criterion) {
    let sessions = Sessions::new(
        b"0123456789abcdef0123456789abcdef",
        Duration::from_secs(900),
        Duration::from_secs(86400),
    );
    let customer = Customer {
        id: "900000001".into(),
        email: "ann@example.com".into(),
    };
    let access = sessions.issue(&customer, Some("rc-1".into())).access_token;

    let api_key = "ROKU-API-KEY-a1b2c3d4e5f6a7b8c9d0e1f2";
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let input = format!(
        "{}.{}",
        b64(br#"{"alg":"HS512","typ":"JWT"}"#),
        b64(
            json!({"iss": "roku_instant_signup", "sub": "instant_signup_elegibility",
                   "aud": "bench_app", "iat": now(), "exp": now() + 3600})
            .to_string()
            .as_bytes()
        )
    );
    let mut mac = Hmac::<Sha512>::new_from_slice(api_key.as_bytes()).unwrap();
    mac.update(input.as_bytes());
    let isu_token = format!("Bearer {input}.{}", b64(&mac.finalize().into_bytes()));

    let mut g = c.benchmark_group("tokens");
    g.bench_function("session access token verify (HS256)", |b| {
        b.iter(|| sessions.verify_access(black_box(&access)).unwrap())
    });
    g.bench_function("Instant Signup token verify (HS512)", |b| {
        b.iter(|| {
            isu::verify(
                Some(black_box(&isu_token)),
                &[api_key.as_bytes()],
                "bench_app",
                Endpoint::Products,
                60,
            )
            .unwrap()
        })
    });
    g.bench_function("email hash (SHA-512)", |b| {
        b.iter(|| isu::email_hash(black_box("Ann@Example.com")))
    });
    g.finish();
}

criterion_group!(benches, mapping, catalog_paths, pushes, dates, tokens);
criterion_main!(benches);
