//! Who may use the console: one operator token (from the environment), exchanged at sign-in
//! for a random session id in an HttpOnly, SameSite=Strict cookie, and a CSRF token per
//! session that every state-changing form carries.
//!
//! The CSRF token is an HMAC of the session id under a key born with the process, so it needs
//! no storage and proves the form was rendered for this session. The sign-in form itself gets
//! the same protection from a short-lived pre-session cookie, so another site cannot sign a
//! browser into the console behind the operator's back.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use axum::http::{HeaderMap, header};
use hmac::{Hmac, Mac};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

pub const SESSION_COOKIE: &str = "rb_console";
pub const LOGIN_COOKIE: &str = "rb_console_login";
/// A signed-in operator stays signed in this long without a request.
pub const SESSION_IDLE: Duration = Duration::from_secs(8 * 3600);
const LOGIN_TTL: Duration = Duration::from_secs(15 * 60);
/// Bounds memory if something signs in in a loop: the oldest sessions go first.
const MAX_SESSIONS: usize = 256;

pub struct Access {
    token: SecretString,
    csrf_key: [u8; 32],
    sessions: Mutex<HashMap<String, Instant>>,
}

impl Access {
    pub fn new(token: SecretString) -> Self {
        let mut csrf_key = [0u8; 32];
        rand::rng().fill_bytes(&mut csrf_key);
        Self {
            token,
            csrf_key,
            sessions: Mutex::new(HashMap::new()),
        }
    }

    /// Compares digests, whose length does not depend on the guess, in time that does not
    /// depend on where they first differ.
    pub fn token_matches(&self, offered: &str) -> bool {
        let want = Sha256::digest(self.token.expose_secret().as_bytes());
        let got = Sha256::digest(offered.as_bytes());
        constant_time_eq(&want, &got)
    }

    /// Starts a session; the id goes into the cookie and nowhere else.
    pub fn open_session(&self) -> String {
        let id = random_id();
        let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        sessions.retain(|_, seen| now.duration_since(*seen) < SESSION_IDLE);
        if sessions.len() >= MAX_SESSIONS
            && let Some(oldest) = sessions
                .iter()
                .min_by_key(|(_, seen)| **seen)
                .map(|(k, _)| k.clone())
        {
            sessions.remove(&oldest);
        }
        sessions.insert(id.clone(), now);
        id
    }

    pub fn close_session(&self, id: &str) {
        self.sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
    }

    /// The live session the request's cookie names, refreshed.
    pub fn session(&self, headers: &HeaderMap) -> Option<String> {
        let id = cookie(headers, SESSION_COOKIE)?;
        let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        let seen = sessions.get_mut(&id)?;
        if seen.elapsed() >= SESSION_IDLE {
            sessions.remove(&id);
            return None;
        }
        *seen = Instant::now();
        Some(id)
    }

    /// The CSRF token of a session (or of a pre-session login cookie).
    pub fn csrf_for(&self, id: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.csrf_key).expect("any key length");
        mac.update(b"console-csrf:");
        mac.update(id.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    pub fn csrf_ok(&self, id: &str, offered: Option<&str>) -> bool {
        match offered {
            Some(offered) => constant_time_eq(self.csrf_for(id).as_bytes(), offered.as_bytes()),
            None => false,
        }
    }
}

/// A new random id, 256 bits in hex.
pub fn random_id() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// The cookie that holds a session. No `Secure`: the console is reached over plain HTTP on
/// the admin port (through `kubectl port-forward` to localhost), where a Secure cookie would
/// never be sent back; the listener is kept off the public network instead.
pub fn session_cookie(id: &str) -> String {
    format!(
        "{SESSION_COOKIE}={id}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={}",
        SESSION_IDLE.as_secs()
    )
}

pub fn login_cookie(id: &str) -> String {
    format!(
        "{LOGIN_COOKIE}={id}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={}",
        LOGIN_TTL.as_secs()
    )
}

pub fn expired_cookie(name: &str) -> String {
    format!("{name}=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0")
}

/// One cookie's value from the request's `Cookie` headers.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
        .filter(|v| !v.is_empty())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access() -> Access {
        Access::new(SecretString::from("the-token"))
    }

    #[test]
    fn only_the_configured_token_signs_in() {
        let a = access();
        assert!(a.token_matches("the-token"));
        assert!(!a.token_matches("the-token "));
        assert!(!a.token_matches(""));
    }

    #[test]
    fn a_session_is_found_by_its_cookie_and_gone_once_closed() {
        let a = access();
        let id = a.open_session();
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            format!("other=1; {SESSION_COOKIE}={id}").parse().unwrap(),
        );
        assert_eq!(a.session(&headers).as_deref(), Some(id.as_str()));
        a.close_session(&id);
        assert_eq!(a.session(&headers), None);
    }

    #[test]
    fn the_csrf_token_belongs_to_one_session() {
        let a = access();
        let (one, two) = (a.open_session(), a.open_session());
        let token = a.csrf_for(&one);
        assert!(a.csrf_ok(&one, Some(&token)));
        assert!(!a.csrf_ok(&two, Some(&token)));
        assert!(!a.csrf_ok(&one, None));
        assert!(!a.csrf_ok(&one, Some("")));
    }
}
