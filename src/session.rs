//! Device sessions: the bridge's own HS256 tokens (DESIGN.md §2.1).
//!
//! The access token is stateless and short. The refresh token is a JWT too, but each one is
//! also registered here by its `jti` so that rotation can retire it: a refresh token works
//! exactly once. Verification pins the algorithm, issuer and audience, so a token minted for
//! one purpose (or forged with `alg: none`, or signed with another key) is refused.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, errors::ErrorKind};
use rand::RngCore;
use serde::{Deserialize, Serialize};

use crate::provider::Customer;

pub const ISSUER: &str = "roku-bridge";
pub const ACCESS_AUDIENCE: &str = "roku-device";
const REFRESH_AUDIENCE: &str = "roku-bridge-refresh";
/// Clock skew tolerated between the bridge replicas that mint and verify.
const LEEWAY_SECS: u64 = 30;
/// Expired refresh registrations are swept every this many issues.
const SWEEP_EVERY: u64 = 1024;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AccessClaims {
    pub iss: String,
    pub aud: String,
    pub sub: String,
    pub email: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rcid: Option<String>,
    pub iat: u64,
    pub exp: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct RefreshClaims {
    iss: String,
    aud: String,
    sub: String,
    email: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    rcid: Option<String>,
    jti: String,
    iat: u64,
    exp: u64,
}

#[derive(Debug, Clone)]
pub struct Tokens {
    pub access_token: String,
    pub refresh_token: String,
    pub expires_in: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid")]
    Invalid,
    #[error("the refresh token was already used or revoked")]
    Retired,
}

pub struct Sessions {
    encoding: EncodingKey,
    decoding: DecodingKey,
    access_ttl: Duration,
    refresh_ttl: Duration,
    /// Live refresh tokens: jti → expiry (epoch seconds).
    live: Mutex<LiveRefresh>,
}

#[derive(Default)]
struct LiveRefresh {
    tokens: HashMap<String, u64>,
    issued: u64,
}

impl Sessions {
    pub fn new(key: &[u8], access_ttl: Duration, refresh_ttl: Duration) -> Self {
        Self {
            encoding: EncodingKey::from_secret(key),
            decoding: DecodingKey::from_secret(key),
            access_ttl,
            refresh_ttl,
            live: Mutex::new(LiveRefresh::default()),
        }
    }

    /// A key for runs without a configured one (the simulator default): sessions then end
    /// with the process, which is fine for a demo and refused by validation for a real provider.
    pub fn random_key() -> Vec<u8> {
        let mut key = vec![0u8; 32];
        rand::rng().fill_bytes(&mut key);
        key
    }

    pub fn issue(&self, customer: &Customer, rcid: Option<String>) -> Tokens {
        let now = now_secs();
        let access = AccessClaims {
            iss: ISSUER.into(),
            aud: ACCESS_AUDIENCE.into(),
            sub: customer.id.clone(),
            email: customer.email.clone(),
            rcid: rcid.clone(),
            iat: now,
            exp: now + self.access_ttl.as_secs(),
        };
        let jti = random_id();
        let refresh_exp = now + self.refresh_ttl.as_secs();
        let refresh = RefreshClaims {
            iss: ISSUER.into(),
            aud: REFRESH_AUDIENCE.into(),
            sub: customer.id.clone(),
            email: customer.email.clone(),
            rcid,
            jti: jti.clone(),
            iat: now,
            exp: refresh_exp,
        };
        {
            let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
            live.issued += 1;
            if live.issued % SWEEP_EVERY == 0 {
                live.tokens.retain(|_, exp| *exp + LEEWAY_SECS > now);
            }
            live.tokens.insert(jti, refresh_exp);
        }
        Tokens {
            access_token: self.sign(&access),
            refresh_token: self.sign(&refresh),
            expires_in: self.access_ttl.as_secs(),
        }
    }

    pub fn verify_access(&self, token: &str) -> Result<AccessClaims, TokenError> {
        self.decode(token, ACCESS_AUDIENCE)
    }

    /// Retires `refresh_token` and returns the customer it was issued to; the caller issues a
    /// new pair. Two concurrent rotations of one token: exactly one wins.
    pub fn rotate(&self, refresh_token: &str) -> Result<(Customer, Option<String>), TokenError> {
        let claims: RefreshClaims = self.decode(refresh_token, REFRESH_AUDIENCE)?;
        let removed = self
            .live
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .tokens
            .remove(&claims.jti);
        if removed.is_none() {
            return Err(TokenError::Retired);
        }
        Ok((
            Customer {
                id: claims.sub,
                email: claims.email,
            },
            claims.rcid,
        ))
    }

    fn sign<C: Serialize>(&self, claims: &C) -> String {
        // HS256 over our own serializable claims cannot fail: the key is bytes, the claims JSON.
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .expect("HS256 signing of plain claims")
    }

    fn decode<C: serde::de::DeserializeOwned>(
        &self,
        token: &str,
        audience: &str,
    ) -> Result<C, TokenError> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_audience(&[audience]);
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        validation.leeway = LEEWAY_SECS;
        jsonwebtoken::decode::<C>(token, &self.decoding, &validation)
            .map(|data| data.claims)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid,
            })
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn random_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sessions() -> Sessions {
        Sessions::new(
            b"0123456789abcdef0123456789abcdef",
            Duration::from_secs(900),
            Duration::from_secs(86400),
        )
    }

    fn customer() -> Customer {
        Customer {
            id: "900000001".into(),
            email: "ann@example.com".into(),
        }
    }

    #[test]
    fn access_token_round_trips_with_the_documented_claims() {
        let s = sessions();
        let t = s.issue(&customer(), Some("rc-1".into()));
        let c = s.verify_access(&t.access_token).unwrap();
        assert_eq!(c.iss, "roku-bridge");
        assert_eq!(c.aud, "roku-device");
        assert_eq!(c.sub, "900000001");
        assert_eq!(c.rcid.as_deref(), Some("rc-1"));
        assert_eq!(c.exp - c.iat, 900);
    }

    #[test]
    fn refresh_token_is_not_an_access_token_and_vice_versa() {
        let s = sessions();
        let t = s.issue(&customer(), None);
        assert_eq!(s.verify_access(&t.refresh_token), Err(TokenError::Invalid));
        assert!(matches!(
            s.rotate(&t.access_token),
            Err(TokenError::Invalid)
        ));
    }

    #[test]
    fn refresh_token_works_once() {
        let s = sessions();
        let t = s.issue(&customer(), None);
        let (c, _) = s.rotate(&t.refresh_token).unwrap();
        assert_eq!(c, customer());
        assert!(matches!(
            s.rotate(&t.refresh_token),
            Err(TokenError::Retired)
        ));
    }

    #[test]
    fn another_key_is_refused() {
        let t = sessions().issue(&customer(), None);
        let other = Sessions::new(
            &[7u8; 32],
            Duration::from_secs(900),
            Duration::from_secs(900),
        );
        assert_eq!(
            other.verify_access(&t.access_token),
            Err(TokenError::Invalid)
        );
    }
}
