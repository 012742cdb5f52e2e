//! Verification of Roku Pay push notifications (DESIGN.md §3.1, `reference/roku-pay.md` §2.1).
//!
//! A push is a compact JWS: RS256 only, key chosen by `kid` from Roku's JWKS at a fixed URL.
//! Nothing in the token decides where keys come from (no `jku`, no `x5u`, no embedded `jwk`):
//! a forger controls the token, not our configuration. An unknown `kid` refetches the set (Roku
//! rotates keys), at most once per `refetch_interval`, so a flood of made-up kids cannot turn
//! the bridge into a load generator against Roku's CDN.

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
    time::Duration,
};

use jsonwebtoken::{Algorithm, DecodingKey, Validation, jwk::JwkSet};
use serde_json::Value;
use tokio::time::Instant;

/// `iss` of every Roku push.
pub const ROKU_ISSUER: &str = "Roku, Inc. urn:roku:apps:partner-service.roku.com";

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

type Keys = Arc<HashMap<String, DecodingKey>>;

pub struct PushVerifier {
    http: reqwest::Client,
    jwks_url: String,
    refetch_interval: Duration,
    leeway: Duration,
    keys: RwLock<Keys>,
    /// Serializes fetches and remembers the last one (for the refetch rate limit).
    fetch: tokio::sync::Mutex<Option<Instant>>,
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
            jwks_url,
            refetch_interval,
            leeway,
            keys: RwLock::new(Arc::new(HashMap::new())),
            fetch: tokio::sync::Mutex::new(None),
        })
    }

    /// Verifies the token and returns its claims.
    pub async fn verify(&self, token: &str) -> Result<Value, PushAuthError> {
        let header =
            jsonwebtoken::decode_header(token).map_err(|_| PushAuthError::Invalid("not a JWS"))?;
        if header.alg != Algorithm::RS256 {
            return Err(PushAuthError::Invalid("algorithm is not RS256"));
        }
        let kid = header.kid.ok_or(PushAuthError::Invalid("no key id"))?;
        let key = self.key(&kid).await?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&[ROKU_ISSUER]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss"]);
        validation.validate_nbf = true;
        validation.validate_aud = false;
        validation.leeway = self.leeway.as_secs();
        jsonwebtoken::decode::<Value>(token, &key, &validation)
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

    /// Roku's `roku.invalidate_public_keys`: forget the keys, so the next push refetches them.
    pub async fn invalidate(&self) {
        *self.keys.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(HashMap::new());
        *self.fetch.lock().await = None;
    }

    async fn key(&self, kid: &str) -> Result<DecodingKey, PushAuthError> {
        if let Some(key) = self.cached(kid) {
            return Ok(key);
        }
        self.refetch().await?;
        self.cached(kid).ok_or(PushAuthError::UnknownKey)
    }

    fn cached(&self, kid: &str) -> Option<DecodingKey> {
        self.keys
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(kid)
            .cloned()
    }

    async fn refetch(&self) -> Result<(), PushAuthError> {
        let mut last = self.fetch.lock().await;
        // Whoever waited on the lock may find the set already refreshed by the holder.
        if let Some(at) = *last
            && at.elapsed() < self.refetch_interval
        {
            return Ok(());
        }
        let fetched = async {
            let resp = self
                .http
                .get(&self.jwks_url)
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
                // A failed fetch also counts against the interval unless nothing is cached,
                // so an outage at Roku is not met with a retry per push.
                if !self
                    .keys
                    .read()
                    .unwrap_or_else(|p| p.into_inner())
                    .is_empty()
                {
                    *last = Some(Instant::now());
                }
                return Err(PushAuthError::KeysUnavailable(e));
            }
        };
        let keys: HashMap<String, DecodingKey> = set
            .keys
            .iter()
            .filter_map(|jwk| {
                let kid = jwk.common.key_id.clone()?;
                DecodingKey::from_jwk(jwk).ok().map(|k| (kid, k))
            })
            .collect();
        tracing::info!(keys = keys.len(), "Roku key set loaded");
        *self.keys.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(keys);
        *last = Some(Instant::now());
        Ok(())
    }
}
