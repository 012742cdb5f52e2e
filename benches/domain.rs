//! Where the time of a push verification goes (criterion), next to `hot_paths.rs`, which times
//! `PushVerifier::verify` end to end: `cargo bench --bench domain` (add `-- --quick`).
//!
//! `PushVerifier` takes its keys only from a JWKS URL, so this bench builds the key and the
//! validation offline exactly as `src/roku/jws.rs` does (`DecodingKey::from_jwk`, RS256, Roku's
//! issuer, `exp`/`nbf`/`iss` required) and times each step on its own. The difference between
//! `hot_paths`' "RS256 verify + decode + parse event" and the sum here is the verifier's own
//! overhead (runtime entry, key cache lookup and clone).

use std::hint::black_box;

use base64::Engine;
use criterion::{Criterion, criterion_group, criterion_main};
use jsonwebtoken::{
    Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, decode_header, jwk::JwkSet,
};
use roku_bridge::roku::{
    events::{decode_message, parse_event},
    jws::ROKU_ISSUER,
};
use serde_json::{Value, json};

const ROKU_KEY: &[u8] = include_bytes!("../tests/fixtures/roku-test-key.pem");
const JWKS: &str = include_str!("../tests/fixtures/roku-jwks.json");

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A push signed like `tests/it/fake_roku.rs` signs them.
fn signed_push() -> String {
    let event = json!({"transactionType": "Sale", "transactionId": "tx-1", "customerId": "rc-1",
                       "productCode": "S1-US", "eventDate": "2026-11-25T05:14:50Z",
                       "expirationDate": "/Date(1766640890000+0000)/", "responseKey": "rk"});
    let claims = json!({
        "iss": ROKU_ISSUER,
        "nbf": now() - 3600, "exp": now() + 86400,
        "x-Roku-message": base64::engine::general_purpose::STANDARD.encode(event.to_string()),
        "x-Roku-message-encoding": "base64-utf8",
        "x-Roku-message-key": "k-1", "x-Roku-message-type": "roku.rpay.push",
    });
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("roku-test-1".into());
    jsonwebtoken::encode(
        &header,
        &claims,
        &EncodingKey::from_rsa_pem(ROKU_KEY).unwrap(),
    )
    .unwrap()
}

/// The validation `PushVerifier::verify` builds (leeway 60 s, as in the default config).
fn validation() -> Validation {
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_issuer(&[ROKU_ISSUER]);
    validation.set_required_spec_claims(&["exp", "nbf", "iss"]);
    validation.validate_nbf = true;
    validation.validate_aud = false;
    validation.leeway = 60;
    validation
}

fn push_breakdown(c: &mut Criterion) {
    let set: JwkSet = serde_json::from_str(JWKS).unwrap();
    let jwk = &set.keys[0];
    let key = DecodingKey::from_jwk(jwk).unwrap();
    let token = signed_push();
    let validation = validation();
    let claims = decode::<Value>(&token, &key, &validation)
        .expect("the fixture push verifies offline")
        .claims;
    let message = claims["x-Roku-message"].as_str().unwrap().to_string();

    let mut g = c.benchmark_group("push breakdown");
    g.bench_function("decode_header", |b| {
        b.iter(|| decode_header(black_box(&token)).unwrap())
    });
    g.bench_function("DecodingKey::from_jwk (per key-set fetch)", |b| {
        b.iter(|| DecodingKey::from_jwk(black_box(jwk)).unwrap())
    });
    g.bench_function("DecodingKey clone (per push, cache hit)", |b| {
        b.iter(|| black_box(&key).clone())
    });
    g.bench_function("RS256 decode + validate (offline, as jws.rs)", |b| {
        b.iter(|| decode::<Value>(black_box(&token), &key, &validation).unwrap())
    });
    g.bench_function("offline verify + decode_message + parse_event", |b| {
        b.iter(|| {
            let claims = decode::<Value>(black_box(&token), &key, &validation)
                .unwrap()
                .claims;
            let value = decode_message(claims["x-Roku-message"].as_str().unwrap()).unwrap();
            parse_event(&value).unwrap()
        })
    });
    g.bench_function("decode_message only", |b| {
        b.iter(|| decode_message(black_box(&message)).unwrap())
    });
    g.finish();
}

criterion_group!(benches, push_breakdown);
criterion_main!(benches);
