//! Device sessions: the bridge's own HS256 tokens.
//!
//! The access token is stateless and short. The refresh token is a JWT too, but each one is
//! also recorded in the store (by its SHA-256, so the table cannot be replayed) so that
//! rotation retires it — a refresh token works exactly once, across restarts and replicas —
//! and an operator or the customer can revoke them all. Verification pins the algorithm,
//! issuer and audience, so a token minted for one purpose (or forged with `alg: none`, or
//! signed with another key) is refused. This module is pure; the handlers do the storing.

use std::{
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, errors::ErrorKind};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::provider::Customer;

pub const ISSUER: &str = "roku-bridge";
pub const ACCESS_AUDIENCE: &str = "roku-device";
const REFRESH_AUDIENCE: &str = "roku-bridge-refresh";
/// Clock skew tolerated between the bridge replicas that mint and verify.
const LEEWAY_SECS: u64 = 30;
/// Access tokens remembered once verified. A device sends the same token for its whole
/// lifetime, so a few tens of thousands cover every device active in one access-token TTL; a
/// token pushed out is simply verified again.
const VERIFIED_CAPACITY: u64 = 50_000;

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
    /// Epoch milliseconds: how long the store must remember the refresh token.
    pub refresh_expires_at: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid")]
    Invalid,
}

pub struct Sessions {
    encoding: EncodingKey,
    decoding: DecodingKey,
    access_ttl: Duration,
    refresh_ttl: Duration,
    /// Access tokens whose signature, issuer and audience already verified, by their whole
    /// text. Safe because an access token is stateless: nothing can make a genuine one invalid
    /// before its `exp` (sign-out retires refresh tokens, never access tokens), and `exp` is
    /// checked again on every hit. Only a token that verified is ever inserted, and the key is
    /// the entire token, so a forgery can neither match an entry nor evict one without first
    /// being a valid token of ours. Decoding was the largest single cost of a cached
    /// entitlement check.
    verified: moka::sync::Cache<Box<str>, Arc<AccessClaims>>,
}

impl Sessions {
    pub fn new(key: &[u8], access_ttl: Duration, refresh_ttl: Duration) -> Self {
        Self {
            encoding: EncodingKey::from_secret(key),
            decoding: DecodingKey::from_secret(key),
            access_ttl,
            refresh_ttl,
            verified: moka::sync::Cache::builder()
                .max_capacity(VERIFIED_CAPACITY)
                // No token outlives its TTL (plus the leeway), so neither does its entry.
                .time_to_live(access_ttl + Duration::from_secs(LEEWAY_SECS))
                .build(),
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
        Tokens {
            access_token: self.sign(&access),
            refresh_token: self.sign(&refresh),
            expires_in: self.access_ttl.as_secs(),
            refresh_expires_at: (refresh_exp as i64).saturating_mul(1000),
        }
    }

    pub fn verify_access(&self, token: &str) -> Result<Arc<AccessClaims>, TokenError> {
        if let Some(claims) = self.verified.get(token) {
            // jsonwebtoken's own rule: expired once `exp` is more than the leeway behind now.
            if claims.exp + LEEWAY_SECS < now_secs() {
                self.verified.invalidate(token);
                return Err(TokenError::Expired);
            }
            return Ok(claims);
        }
        let claims: Arc<AccessClaims> = Arc::new(self.decode(token, ACCESS_AUDIENCE)?);
        self.verified.insert(token.into(), claims.clone());
        Ok(claims)
    }

    /// The customer a refresh token was issued to, if it is genuine and unexpired. Whether it
    /// is still live (not rotated or revoked) is the store's answer, by [`refresh_hash`].
    pub fn verify_refresh(
        &self,
        refresh_token: &str,
    ) -> Result<(Customer, Option<String>), TokenError> {
        let claims: RefreshClaims = self.decode(refresh_token, REFRESH_AUDIENCE)?;
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

/// What the store keeps of a refresh token: its SHA-256, hex.
pub fn refresh_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
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

    fn sign_access(s: &Sessions, exp: u64) -> String {
        let now = now_secs();
        s.sign(&AccessClaims {
            iss: ISSUER.into(),
            aud: ACCESS_AUDIENCE.into(),
            sub: "900000001".into(),
            email: "ann@example.com".into(),
            rcid: None,
            iat: now - 60,
            exp,
        })
    }

    #[test]
    fn a_remembered_token_still_expires_and_vouches_for_no_other_token() {
        let s = sessions();
        // At the very edge of the leeway: valid now, expired within a second.
        let token = sign_access(&s, now_secs() - LEEWAY_SECS);
        assert_eq!(s.verify_access(&token).unwrap().sub, "900000001");
        assert_eq!(s.verify_access(&token).unwrap().sub, "900000001");
        // The same claims under another key, and the genuine token with one byte changed.
        let other = Sessions::new(
            b"another-key-another-key-another-",
            Duration::from_secs(900),
            Duration::from_secs(86400),
        );
        let forged = sign_access(&other, now_secs() + 600);
        assert_eq!(s.verify_access(&forged), Err(TokenError::Invalid));
        let mut tampered = token.clone().into_bytes();
        let last = tampered.len() - 2;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        assert_eq!(s.verify_access(&tampered), Err(TokenError::Invalid));
        std::thread::sleep(Duration::from_millis(1100));
        assert_eq!(s.verify_access(&token), Err(TokenError::Expired));
    }

    #[test]
    fn refresh_token_is_not_an_access_token_and_vice_versa() {
        let s = sessions();
        let t = s.issue(&customer(), None);
        assert_eq!(s.verify_access(&t.refresh_token), Err(TokenError::Invalid));
        assert!(matches!(
            s.verify_refresh(&t.access_token),
            Err(TokenError::Invalid)
        ));
        let (c, _) = s.verify_refresh(&t.refresh_token).unwrap();
        assert_eq!(c, customer());
    }

    #[test]
    fn each_refresh_token_has_its_own_hash() {
        let s = sessions();
        let a = s.issue(&customer(), None);
        let b = s.issue(&customer(), None);
        assert_ne!(
            refresh_hash(&a.refresh_token),
            refresh_hash(&b.refresh_token)
        );
        assert_eq!(refresh_hash(&a.refresh_token).len(), 64);
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
