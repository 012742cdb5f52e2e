//! The HTTP targets: push relay targets (the provider's push URL first, then the configured
//! ones) and the publisher's events webhook.

use hmac::{Hmac, Mac};
use reqwest::{StatusCode, header};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

use super::Attempt;
use crate::{
    config::{Config, PROVIDER_TARGET, ProviderKind},
    outbound::{failure_kind, retry_after},
};

pub struct HttpTargets {
    http: reqwest::Client,
    /// Push targets by name: the provider's push URL first, then the configured ones.
    push: Vec<(String, String)>,
    events_url: Option<String>,
    events_secret: Option<SecretString>,
}

impl HttpTargets {
    pub fn new(config: &Config) -> anyhow::Result<Self> {
        let mut push = Vec::new();
        if config.relay.provider && config.provider.kind == ProviderKind::Cleeng {
            let urls = config.provider.cleeng_urls();
            let publisher = config.provider.publisher_id.clone().unwrap_or_default();
            push.push((
                PROVIDER_TARGET.to_string(),
                crate::outbound::url_with_segments(
                    &urls.push,
                    &["roku", "push-notification", &publisher],
                )?,
            ));
        }
        for t in &config.relay.targets {
            push.push((t.name.clone(), t.url.clone()));
        }
        let http = reqwest::Client::builder()
            .timeout(config.relay.timeout)
            // Roku does not follow redirects to us; we do not follow them for it either.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("roku-bridge/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            http,
            push,
            events_url: config.relay.events_url.clone(),
            events_secret: config.relay.events_secret.clone(),
        })
    }

    /// Names of the targets every push is relayed to.
    pub fn push_target_names(&self) -> Vec<String> {
        self.push.iter().map(|(n, _)| n.clone()).collect()
    }

    pub async fn push(&self, target: &str, jws: &str) -> Attempt {
        let Some((_, url)) = self.push.iter().find(|(n, _)| n == target) else {
            return Attempt::Dead {
                error: format!("target {target} is no longer configured"),
            };
        };
        let sent = self
            .http
            .post(url)
            .header(header::CONTENT_TYPE, "text/plain")
            .body(jws.to_string())
            .send()
            .await;
        answered(sent)
    }

    pub async fn event(&self, id: &str, body: &str) -> Attempt {
        let Some(url) = &self.events_url else {
            return Attempt::Dead {
                error: "relay.events_url is no longer configured".into(),
            };
        };
        let mut request = self
            .http
            .post(url)
            .header(header::CONTENT_TYPE, "application/json")
            .header("x-roku-bridge-event-id", id);
        if let Some(secret) = &self.events_secret {
            request = request.header(
                "x-roku-bridge-signature",
                sign_event(secret.expose_secret().as_bytes(), body.as_bytes()),
            );
        }
        answered(request.body(body.to_string()).send().await)
    }
}

fn answered(sent: Result<reqwest::Response, reqwest::Error>) -> Attempt {
    match sent {
        Ok(resp) => classify(resp.status(), retry_after(resp.headers())),
        Err(e) => Attempt::Retry {
            after: None,
            error: failure_kind(&e).into(),
        },
    }
}

/// `sha256=<hex>`: HMAC-SHA256 of the exact body, as GitHub and Stripe sign their webhooks.
pub fn sign_event(secret: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

fn classify(status: StatusCode, retry_after: Option<std::time::Duration>) -> Attempt {
    if status.is_success() {
        Attempt::Delivered
    } else if status.is_server_error()
        || status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
    {
        Attempt::Retry {
            after: retry_after,
            error: format!("HTTP {}", status.as_u16()),
        }
    } else {
        // A 4xx says the content or the URL is wrong; the same bytes will fail the same way.
        // It waits in the dead letters for the operator to fix the target and redrive.
        Attempt::Dead {
            error: format!("HTTP {}", status.as_u16()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn statuses_sort_into_retry_and_dead() {
        assert_eq!(classify(StatusCode::OK, None), Attempt::Delivered);
        assert_eq!(classify(StatusCode::NO_CONTENT, None), Attempt::Delivered);
        assert!(matches!(
            classify(StatusCode::BAD_GATEWAY, None),
            Attempt::Retry { .. }
        ));
        assert!(matches!(
            classify(StatusCode::TOO_MANY_REQUESTS, Some(Duration::from_secs(9))),
            Attempt::Retry { after: Some(d), .. } if d == Duration::from_secs(9)
        ));
        assert!(matches!(
            classify(StatusCode::NOT_FOUND, None),
            Attempt::Dead { .. }
        ));
        assert!(matches!(
            classify(StatusCode::MOVED_PERMANENTLY, None),
            Attempt::Dead { .. }
        ));
    }
}
