//! Verification of Roku Pay push notifications.
//!
//! A push is a compact JWS: RS256 only, key chosen by `kid` from Roku's JWKS at a fixed URL.
//! Nothing in the token decides where keys come from: Roku says "notifications with a different
//! URL in the JOSE header must be rejected", so a header carrying `jku`, `x5u`, `x5c` or an
//! embedded `jwk` is refused outright (a forger controls the token, not our configuration). An
//! unknown `kid` refetches the set (Roku rotates keys), at most once per `refetch_interval`, so
//! a flood of made-up kids cannot turn the bridge into a load generator against Roku's CDN.
//!
//! Roku signs the dashboard's test messages (test URL, "send test notification") with a second,
//! test key set. A verifier given that set says which set verified a push, so the caller can
//! keep test pushes away from anything that grants or revokes access in production.

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
    time::Duration,
};

use aws_lc_rs::{
    encoding::AsDer,
    signature::{
        ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents, UnparsedPublicKey,
    },
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{
    Algorithm, DecodingKey, Validation,
    jwk::{AlgorithmParameters, Jwk, JwkSet},
};
use serde_json::Value;
use tokio::time::Instant;

/// `iss` of every Roku push.
pub const ROKU_ISSUER: &str = "Roku, Inc. urn:roku:apps:partner-service.roku.com";

/// Where Roku publishes the keys of its test pushes.
pub const ROKU_TEST_JWKS_URL: &str = "https://assets.cs.roku.com/keys/partner-jwks-test.json";

/// Which of Roku's key sets verified a push.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySet {
    Production,
    /// The test set: a dashboard test message. Acknowledge and record it, never act on it.
    Test,
}

impl KeySet {
    pub fn is_test(self) -> bool {
        self == KeySet::Test
    }

    /// A bounded label for metrics and logs.
    pub fn label(self) -> &'static str {
        match self {
            KeySet::Production => "production",
            KeySet::Test => "test",
        }
    }
}

/// A push whose signature checked out, and the key set that checked it.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedPush {
    pub claims: Value,
    pub key_set: KeySet,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PushAuthError {
    /// Not a push Roku signed: wrong algorithm, bad signature, expired, wrong issuer…
    #[error("push refused: {0}")]
    Invalid(&'static str),
    #[error("push signed with a key Roku does not publish")]
    UnknownKey,
    /// Roku's key set could not be fetched; Roku will resend, so this is a 503.
    #[error("Roku's key set is unavailable: {0}")]
    KeysUnavailable(String),
}

impl PushAuthError {
    /// A bounded label for metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            PushAuthError::Invalid(reason) => reason,
            PushAuthError::UnknownKey => "unknown key",
            PushAuthError::KeysUnavailable(_) => "keys unavailable",
        }
    }
}

type Keys = Arc<HashMap<String, Arc<PushKey>>>;

/// One of Roku's RSA keys, parsed once when the set is fetched. jsonwebtoken rebuilds the RSA
/// key from its modulus and exponent on every verification, which cost about a third of each
/// push's verify; the signature is checked here with the parsed key instead, and jsonwebtoken
/// (handed `decoding`) checks the claims.
struct PushKey {
    rsa: ParsedPublicKey,
    decoding: DecodingKey,
}

impl PushKey {
    /// `None` for anything but an RSA key of at least 2048 bits (all Roku publishes).
    fn from_jwk(jwk: &Jwk) -> Option<Self> {
        let AlgorithmParameters::RSA(params) = &jwk.algorithm else {
            return None;
        };
        // Big-endian integers; some publishers pad with a zero byte the RSA API refuses.
        let unpadded = |b64: &str| {
            let bytes = URL_SAFE_NO_PAD.decode(b64.trim_end_matches('=')).ok()?;
            let start = bytes.iter().position(|&b| b != 0)?;
            Some(bytes[start..].to_vec())
        };
        let (n, e) = (unpadded(&params.n)?, unpadded(&params.e)?);
        let der = RsaPublicKeyComponents { n: &n, e: &e }.as_der().ok()?;
        let rsa = UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, der.as_ref())
            .parse()
            .ok()?;
        Some(Self {
            rsa,
            decoding: DecodingKey::from_jwk(jwk).ok()?,
        })
    }
}

/// One published key set, cached, refetched on an unknown `kid` at most once per interval.
struct CachedKeySet {
    url: String,
    keys: RwLock<Keys>,
    /// Serializes fetches and remembers the last one (for the refetch rate limit).
    fetch: tokio::sync::Mutex<FetchState>,
}

/// When the set was last fetched, and — after failures — when the next try may go out.
#[derive(Default)]
struct FetchState {
    last: Option<Instant>,
    failures: u32,
    retry_at: Option<Instant>,
}

/// First pause after a failed key-set fetch; it doubles per failure up to [`MAX_FETCH_BACKOFF`].
const FIRST_FETCH_BACKOFF: Duration = Duration::from_secs(1);
const MAX_FETCH_BACKOFF: Duration = Duration::from_secs(60);

/// Longest push accepted: Roku's are a few kilobytes; anything far larger is refused before
/// it is parsed.
const MAX_PUSH_BYTES: usize = 32 * 1024;
/// Longest `kid` considered: Roku's are short names.
const MAX_KID: usize = 128;

impl CachedKeySet {
    fn new(url: String) -> Self {
        Self {
            url,
            keys: RwLock::new(Arc::new(HashMap::new())),
            fetch: tokio::sync::Mutex::new(FetchState::default()),
        }
    }

    fn cached(&self, kid: &str) -> Option<Arc<PushKey>> {
        self.keys
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(kid)
            .cloned()
    }

    async fn invalidate(&self) {
        *self.keys.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(HashMap::new());
        *self.fetch.lock().await = FetchState::default();
    }

    async fn refetch(
        &self,
        http: &reqwest::Client,
        refetch_interval: Duration,
    ) -> Result<(), PushAuthError> {
        let mut state = self.fetch.lock().await;
        // Whoever waited on the lock may find the set already refreshed by the holder.
        if let Some(at) = state.last
            && at.elapsed() < refetch_interval
        {
            return Ok(());
        }
        // A failed fetch is remembered, with a doubling pause, so an outage at Roku is not
        // met with one fetch per push.
        if let Some(at) = state.retry_at
            && Instant::now() < at
        {
            metrics::counter!("roku_bridge_jwks_fetches_total", "outcome" => "skipped")
                .increment(1);
            return Err(PushAuthError::KeysUnavailable(
                "the last fetch failed; waiting before the next".into(),
            ));
        }
        let fetched = async {
            let resp = http
                .get(&self.url)
                .header(reqwest::header::ACCEPT, "application/json")
                .send()
                .await
                .map_err(|e| e.without_url().to_string())?;
            if !resp.status().is_success() {
                return Err(format!("HTTP {}", resp.status().as_u16()));
            }
            resp.json::<JwkSet>()
                .await
                .map_err(|e| e.without_url().to_string())
        }
        .await;
        let set = match fetched {
            Ok(set) => set,
            Err(e) => {
                metrics::counter!("roku_bridge_jwks_fetches_total", "outcome" => "failed")
                    .increment(1);
                let backoff = FIRST_FETCH_BACKOFF
                    .saturating_mul(1 << state.failures.min(16))
                    .min(MAX_FETCH_BACKOFF);
                state.failures = state.failures.saturating_add(1);
                state.retry_at = Some(Instant::now() + backoff);
                return Err(PushAuthError::KeysUnavailable(e));
            }
        };
        metrics::counter!("roku_bridge_jwks_fetches_total", "outcome" => "ok").increment(1);
        let keys: HashMap<String, Arc<PushKey>> = set
            .keys
            .iter()
            .filter_map(|jwk| {
                let kid = jwk.common.key_id.clone()?;
                PushKey::from_jwk(jwk).map(|k| (kid, Arc::new(k)))
            })
            .collect();
        tracing::info!(keys = keys.len(), url = %self.url, "Roku key set loaded");
        *self.keys.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(keys);
        *state = FetchState {
            last: Some(Instant::now()),
            ..FetchState::default()
        };
        Ok(())
    }
}

pub struct PushVerifier {
    http: reqwest::Client,
    refetch_interval: Duration,
    leeway: Duration,
    production: CachedKeySet,
    test: Option<CachedKeySet>,
}

impl PushVerifier {
    pub fn new(
        jwks_url: String,
        refetch_interval: Duration,
        leeway: Duration,
        timeout: Duration,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            http: reqwest::Client::builder()
                .timeout(timeout)
                .redirect(reqwest::redirect::Policy::limited(3))
                .build()?,
            refetch_interval,
            leeway,
            production: CachedKeySet::new(jwks_url),
            test: None,
        })
    }

    /// Also trust Roku's test key set (`roku.test_jwks_url`), for [`Self::verify_push`] only.
    pub fn with_test_keys(mut self, test_jwks_url: String) -> Self {
        self.test = Some(CachedKeySet::new(test_jwks_url));
        self
    }

    /// Verifies the token against the production keys only and returns its claims. A push
    /// signed with the test keys is refused here: callers that can tell test from production
    /// use [`Self::verify_push`].
    pub async fn verify(&self, token: &str) -> Result<Value, PushAuthError> {
        let kid = checked_kid(token)?;
        let key = self.key(&self.production, &kid).await?;
        self.decode(token, &key)
    }

    /// Verifies the token with the production keys, or else the test keys (when configured),
    /// and says which set it was.
    pub async fn verify_push(&self, token: &str) -> Result<VerifiedPush, PushAuthError> {
        let kid = checked_kid(token)?;
        let Some(test) = &self.test else {
            let key = self.key(&self.production, &kid).await?;
            return self.decode(token, &key).map(|claims| VerifiedPush {
                claims,
                key_set: KeySet::Production,
            });
        };
        // Cached keys first, so a known kid costs no fetch; then each set is refetched once.
        let mut unavailable = None;
        for refetch in [false, true] {
            for (set, key_set) in [(&self.production, KeySet::Production), (test, KeySet::Test)] {
                if refetch && let Err(e) = set.refetch(&self.http, self.refetch_interval).await {
                    unavailable = Some(e);
                    continue;
                }
                if let Some(key) = set.cached(&kid) {
                    match self.decode(token, &key) {
                        Ok(claims) => return Ok(VerifiedPush { claims, key_set }),
                        // A kid both sets publish: the other set's key may still verify it.
                        Err(PushAuthError::Invalid("bad signature"))
                            if key_set == KeySet::Production =>
                        {
                            if let Some(test_key) = test.cached(&kid) {
                                return self.decode(token, &test_key).map(|claims| VerifiedPush {
                                    claims,
                                    key_set: KeySet::Test,
                                });
                            }
                            return Err(PushAuthError::Invalid("bad signature"));
                        }
                        Err(e) => return Err(e),
                    }
                }
            }
        }
        // Roku will resend: a key set we could not fetch is a 503, not a forged push.
        Err(unavailable.unwrap_or(PushAuthError::UnknownKey))
    }

    /// Roku's `roku.invalidate_public_keys`: forget the keys, so the next push refetches them.
    pub async fn invalidate(&self) {
        self.production.invalidate().await;
        if let Some(test) = &self.test {
            test.invalidate().await;
        }
    }

    async fn key(&self, set: &CachedKeySet, kid: &str) -> Result<Arc<PushKey>, PushAuthError> {
        if let Some(key) = set.cached(kid) {
            return Ok(key);
        }
        set.refetch(&self.http, self.refetch_interval).await?;
        set.cached(kid).ok_or(PushAuthError::UnknownKey)
    }

    fn decode(&self, token: &str, key: &PushKey) -> Result<Value, PushAuthError> {
        // The signature first, as jsonwebtoken would: a forged push learns nothing about its
        // claims. RS256 is the only algorithm this key verifies, whatever the header says.
        let (signed, signature) = token
            .rsplit_once('.')
            .ok_or(PushAuthError::Invalid("malformed"))?;
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| PushAuthError::Invalid("malformed"))?;
        key.rsa
            .verify_sig(signed.as_bytes(), &signature)
            .map_err(|_| PushAuthError::Invalid("bad signature"))?;
        let mut validation = Validation::new(Algorithm::RS256);
        // Verified just above with the parsed key; jsonwebtoken checks the claims only. The
        // method is deprecated in favour of `insecure_decode`, which checks nothing at all:
        // keeping jsonwebtoken's exp/nbf/iss rules is the point, so the allowance stays here.
        #[allow(deprecated)]
        validation.insecure_disable_signature_validation();
        validation.set_issuer(&[ROKU_ISSUER]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss"]);
        validation.validate_nbf = true;
        validation.validate_aud = false;
        validation.leeway = self.leeway.as_secs();
        jsonwebtoken::decode::<Value>(token, &key.decoding, &validation)
            .map(|data| data.claims)
            .map_err(|e| {
                use jsonwebtoken::errors::ErrorKind::*;
                PushAuthError::Invalid(match e.kind() {
                    ExpiredSignature => "expired",
                    ImmatureSignature => "not yet valid",
                    InvalidIssuer => "wrong issuer",
                    InvalidSignature => "bad signature",
                    MissingRequiredClaim(_) => "missing claim",
                    _ => "malformed",
                })
            })
    }
}

/// The header checks that need no key: RS256, a `kid`, and no key location of its own. The
/// cheapest come first (size, three base64url parts), so garbage costs no parse, and a `kid`
/// that is no plausible key name costs no key-set fetch.
fn checked_kid(token: &str) -> Result<String, PushAuthError> {
    if token.len() > MAX_PUSH_BYTES {
        return Err(PushAuthError::Invalid("too large"));
    }
    let base64url = |part: &str| {
        !part.is_empty()
            && part
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    let mut parts = token.split('.');
    let shaped = parts.by_ref().take(3).filter(|p| base64url(p)).count() == 3;
    if !shaped || parts.next().is_some() {
        return Err(PushAuthError::Invalid("not a JWS"));
    }
    let header =
        jsonwebtoken::decode_header(token).map_err(|_| PushAuthError::Invalid("not a JWS"))?;
    if header.jku.is_some() || header.x5u.is_some() || header.x5c.is_some() || header.jwk.is_some()
    {
        return Err(PushAuthError::Invalid("key location in the JOSE header"));
    }
    if header.alg != Algorithm::RS256 {
        return Err(PushAuthError::Invalid("algorithm is not RS256"));
    }
    let kid = header.kid.ok_or(PushAuthError::Invalid("no key id"))?;
    let plausible = kid.len() <= MAX_KID
        && kid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
    if !plausible {
        return Err(PushAuthError::Invalid("implausible key id"));
    }
    Ok(kid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::json;
    use wiremock::{
        Mock, MockServer, ResponseTemplate,
        matchers::{method, path},
    };

    const PROD_KEY: &[u8] = include_bytes!("../../tests/fixtures/roku-test-key.pem");
    const TEST_SET_KEY: &[u8] = include_bytes!("../../tests/fixtures/roku-testset-key.pem");
    const WRONG_KEY: &[u8] = include_bytes!("../../tests/fixtures/wrong-key.pem");

    async fn roku() -> MockServer {
        let server = MockServer::start().await;
        for (route, body) in [
            (
                "/keys/partner-jwks.json",
                include_str!("../../tests/fixtures/roku-jwks.json"),
            ),
            (
                "/keys/partner-jwks-test.json",
                include_str!("../../tests/fixtures/roku-jwks-test.json"),
            ),
        ] {
            Mock::given(method("GET"))
                .and(path(route))
                .respond_with(ResponseTemplate::new(200).set_body_raw(body, "application/json"))
                .mount(&server)
                .await;
        }
        server
    }

    fn verifier(server: &MockServer, with_test: bool) -> PushVerifier {
        let v = PushVerifier::new(
            format!("{}/keys/partner-jwks.json", server.uri()),
            Duration::from_millis(1),
            Duration::from_secs(60),
            Duration::from_secs(3),
        )
        .unwrap();
        if with_test {
            v.with_test_keys(format!("{}/keys/partner-jwks-test.json", server.uri()))
        } else {
            v
        }
    }

    fn claims() -> Value {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        // The JWT page's claims, with live times.
        json!({
            "iss": ROKU_ISSUER, "nbf": now - 3600, "exp": now + 24 * 3600,
            "x-Roku-message": "e30", "x-Roku-message-encoding": "base64-utf8",
            "x-Roku-message-key": "some-unique-key-for-the-message",
            "x-Roku-message-type": "roku.rpay.push",
        })
    }

    fn sign(header: Header, key: &[u8]) -> String {
        jsonwebtoken::encode(&header, &claims(), &EncodingKey::from_rsa_pem(key).unwrap()).unwrap()
    }

    fn header(kid: &str) -> Header {
        let mut h = Header::new(Algorithm::RS256);
        h.kid = Some(kid.into());
        h
    }

    #[test]
    fn a_modulus_padded_with_a_zero_byte_still_verifies_and_other_keys_do_not() {
        let set: JwkSet =
            serde_json::from_str(include_str!("../../tests/fixtures/roku-jwks.json")).unwrap();
        let mut jwk = set.keys[0].clone();
        let AlgorithmParameters::RSA(params) = &mut jwk.algorithm else {
            panic!("the fixture key is RSA");
        };
        let mut n = vec![0u8];
        n.extend(URL_SAFE_NO_PAD.decode(&params.n).unwrap());
        params.n = URL_SAFE_NO_PAD.encode(n);
        let key = PushKey::from_jwk(&jwk).expect("a padded modulus is still the key");
        let v = PushVerifier::new(
            "http://127.0.0.1:9/unused".into(),
            Duration::from_secs(60),
            Duration::from_secs(60),
            Duration::from_secs(1),
        )
        .unwrap();
        let kid = jwk.common.key_id.clone().unwrap();
        let genuine = sign(header(&kid), PROD_KEY);
        assert_eq!(v.decode(&genuine, &key).unwrap()["iss"], ROKU_ISSUER);
        let forged = sign(header(&kid), WRONG_KEY);
        assert_eq!(
            v.decode(&forged, &key).unwrap_err(),
            PushAuthError::Invalid("bad signature")
        );
        // The claims are still checked once the signature holds.
        let mut stale = claims();
        stale["exp"] = json!(0);
        stale["nbf"] = json!(0);
        let expired = jsonwebtoken::encode(
            &header(&kid),
            &stale,
            &EncodingKey::from_rsa_pem(PROD_KEY).unwrap(),
        )
        .unwrap();
        assert_eq!(
            v.decode(&expired, &key).unwrap_err(),
            PushAuthError::Invalid("expired")
        );
    }

    #[tokio::test]
    async fn test_pushes_verify_with_the_test_set_and_say_so() {
        let server = roku().await;
        let v = verifier(&server, true);
        let prod = v
            .verify_push(&sign(header("roku-test-1"), PROD_KEY))
            .await
            .unwrap();
        assert_eq!(prod.key_set, KeySet::Production);
        assert_eq!(prod.claims["x-Roku-message-type"], "roku.rpay.push");
        let test = sign(header("roku-testset-1"), TEST_SET_KEY);
        let pushed = v.verify_push(&test).await.unwrap();
        assert_eq!(pushed.key_set, KeySet::Test);
        assert!(pushed.key_set.is_test());
        // The production-only entry point never takes a test push for a real one.
        assert_eq!(
            v.verify(&test).await.unwrap_err(),
            PushAuthError::UnknownKey
        );
        // Nor does a verifier that was not given the test set.
        let plain = verifier(&server, false);
        assert_eq!(
            plain.verify_push(&test).await.unwrap_err(),
            PushAuthError::UnknownKey
        );
        assert_eq!(
            plain
                .verify_push(&sign(header("roku-test-1"), PROD_KEY))
                .await
                .unwrap()
                .key_set,
            KeySet::Production
        );
    }

    #[tokio::test]
    async fn a_test_kid_with_someone_else_s_signature_is_refused() {
        let server = roku().await;
        let v = verifier(&server, true);
        for (kid, key) in [("roku-testset-1", WRONG_KEY), ("roku-test-1", TEST_SET_KEY)] {
            assert_eq!(
                v.verify_push(&sign(header(kid), key)).await.unwrap_err(),
                PushAuthError::Invalid("bad signature"),
                "{kid}"
            );
        }
        assert_eq!(
            v.verify_push(&sign(header("made-up"), PROD_KEY))
                .await
                .unwrap_err(),
            PushAuthError::UnknownKey
        );
    }

    #[tokio::test]
    async fn a_key_location_in_the_jose_header_is_refused_before_any_key_is_looked_up() {
        let server = roku().await;
        let v = verifier(&server, true);
        let mut jku = header("roku-test-1");
        jku.jku = Some("https://assets.cs.roku.com/keys/partner-jwks.json".into());
        let mut x5u = header("roku-test-1");
        x5u.x5u = Some("https://example.roku.com/samplecert".into());
        let mut x5c = header("roku-test-1");
        x5c.x5c = Some(vec!["MIIB".into()]);
        for h in [jku, x5u, x5c] {
            let token = sign(h, PROD_KEY);
            for result in [
                v.verify(&token).await.map(|_| ()),
                v.verify_push(&token).await.map(|_| ()),
            ] {
                assert_eq!(
                    result.unwrap_err(),
                    PushAuthError::Invalid("key location in the JOSE header")
                );
            }
        }
        // Even Roku's own key URL in the header is refused; nothing was fetched for these.
        assert!(server.received_requests().await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn the_jwt_page_s_example_token_is_refused() {
        let server = roku().await;
        let v = verifier(&server, true);
        let body = include_str!("../../tests/fixtures/roku-pushes/jwt-page-encoded-body.txt");
        let token: String = body.split_whitespace().collect();
        assert_eq!(
            v.verify_push(&token).await.unwrap_err(),
            PushAuthError::Invalid("algorithm is not RS256")
        );
    }

    #[tokio::test]
    async fn an_unreachable_test_set_does_not_stop_production_pushes() {
        let server = roku().await;
        let v = PushVerifier::new(
            format!("{}/keys/partner-jwks.json", server.uri()),
            Duration::from_millis(1),
            Duration::from_secs(60),
            Duration::from_secs(3),
        )
        .unwrap()
        .with_test_keys("http://127.0.0.1:9/partner-jwks-test.json".into());
        assert_eq!(
            v.verify_push(&sign(header("roku-test-1"), PROD_KEY))
                .await
                .unwrap()
                .key_set,
            KeySet::Production
        );
        // A kid neither set publishes while one set is unreachable: Roku will resend (503).
        assert!(matches!(
            v.verify_push(&sign(header("roku-testset-1"), TEST_SET_KEY))
                .await,
            Err(PushAuthError::KeysUnavailable(_))
        ));
    }

    #[tokio::test]
    async fn a_failing_key_set_is_fetched_with_backoff_not_per_push() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(500))
            .mount(&server)
            .await;
        let v = verifier(&server, false);
        // Signed first: signing is slow in a debug build, and the pushes must arrive together.
        let tokens: Vec<_> = (0..200)
            .map(|i| sign(header(&format!("rotated-{i}")), PROD_KEY))
            .collect();
        for token in tokens {
            assert!(matches!(
                v.verify_push(&token).await,
                Err(PushAuthError::KeysUnavailable(_))
            ));
        }
        let fetches = server.received_requests().await.unwrap().len();
        assert_eq!(fetches, 1, "one fetch, then the backoff answers");
    }

    #[tokio::test]
    async fn garbage_is_refused_before_any_key_is_looked_up() {
        let server = roku().await;
        let v = verifier(&server, false);
        let big = format!("{}.e30.sig", "a".repeat(MAX_PUSH_BYTES));
        let mut odd_kid = header("x");
        odd_kid.kid = Some("../../etc/passwd".into());
        for token in [
            "x".to_string(),
            "a.b".into(),
            "a.b.c.d".into(),
            "a..c".into(),
            "a+b.c.d".into(),
            big,
            sign(odd_kid, PROD_KEY),
        ] {
            assert!(
                matches!(v.verify_push(&token).await, Err(PushAuthError::Invalid(_))),
                "{}",
                &token[..token.len().min(40)]
            );
        }
        assert!(server.received_requests().await.unwrap().is_empty());
    }

    #[test]
    fn the_default_test_key_url_is_roku_s() {
        assert_eq!(
            ROKU_TEST_JWKS_URL,
            "https://assets.cs.roku.com/keys/partner-jwks-test.json"
        );
    }
}
