//! Roku Pay web services: validate-transaction, the bridge's anti-fraud check.
//!
//! The API key travels in the URL path, so no URL of ours is ever logged or put in an error:
//! reqwest errors are stripped of theirs, and spans carry only the transaction id. Roku allows
//! 20 requests per second per key and answers 429 beyond; a governor limiter keeps us under it,
//! and a 429 that still comes back is retried with backoff from 1 s, doubling (Roku's advice),
//! for as long as the call's budget allows.

use std::{num::NonZeroU32, sync::Arc, time::Duration};

use backon::{ExponentialBuilder, Retryable};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use reqwest::{StatusCode, header};
use secrecy::{ExposeSecret, SecretString};

use super::transaction::{ValidatedTransaction, is_valid_transaction_id, parse_validate_response};
use crate::{config::RokuConfig, domain::ids::log_form, outbound::url_with_segments};

#[derive(Debug, thiserror::Error)]
pub enum RokuError {
    #[error("transaction id is not one Roku issues")]
    BadTransactionId,
    /// Roku answered and said the transaction is not valid (unknown, wrong channel…).
    #[error("Roku refused the transaction: {0}")]
    Refused(String),
    /// Roku could not be asked, or answered something unreadable: retry later.
    #[error("Roku web services unavailable: {0}")]
    Unavailable(String),
}

impl RokuError {
    fn is_retryable(&self) -> bool {
        matches!(self, RokuError::Unavailable(_))
    }
}

pub struct RokuClient {
    http: reqwest::Client,
    api_url: String,
    api_key: SecretString,
    limiter: Arc<DefaultDirectRateLimiter>,
    /// The share of the limit anonymous sign-ins may use, so guesses cannot starve receipts.
    anonymous: Option<DefaultDirectRateLimiter>,
    /// Answers to anonymous sign-ins, reused for a short while: repeating an id is free.
    answers: moka::future::Cache<String, Result<ValidatedTransaction, String>>,
    budget: Duration,
}

/// Longest an anonymous sign-in waits for its share before it is told to come back.
const ANONYMOUS_WAIT: Duration = Duration::from_secs(2);

impl RokuClient {
    pub fn new(config: &RokuConfig, api_key: SecretString) -> anyhow::Result<Self> {
        let per_second = NonZeroU32::new(config.requests_per_second).unwrap_or(NonZeroU32::MIN);
        Ok(Self {
            http: reqwest::Client::builder()
                .timeout(config.timeout)
                .redirect(reqwest::redirect::Policy::none())
                .build()?,
            api_url: config.api_url.trim_end_matches('/').to_string(),
            api_key,
            limiter: Arc::new(RateLimiter::direct(Quota::per_second(per_second))),
            anonymous: NonZeroU32::new(config.anonymous_requests_per_second)
                .map(|rate| RateLimiter::direct(Quota::per_second(rate.min(per_second)))),
            answers: moka::future::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(config.validation_cache_ttl)
                .build(),
            budget: config.timeout,
        })
    }

    /// validate-transaction for a caller nobody has authenticated (a sign-in by purchase): a
    /// recent answer for the same id is reused, and a new call waits for the anonymous share
    /// of the limit — at most [`ANONYMOUS_WAIT`], then it is refused as unavailable.
    pub async fn validate_anonymous(
        &self,
        transaction_id: &str,
    ) -> Result<ValidatedTransaction, RokuError> {
        if !is_valid_transaction_id(transaction_id) {
            return Err(RokuError::BadTransactionId);
        }
        if let Some(answer) = self.answers.get(transaction_id).await {
            return answer.map_err(RokuError::Refused);
        }
        if let Some(share) = &self.anonymous
            && tokio::time::timeout(ANONYMOUS_WAIT, share.until_ready())
                .await
                .is_err()
        {
            metrics::counter!("roku_bridge_roku_anonymous_refused_total").increment(1);
            return Err(RokuError::Unavailable(
                "the anonymous share of Roku's limit is spent".into(),
            ));
        }
        let answer = self.validate_transaction(transaction_id).await;
        match &answer {
            Ok(tx) => {
                self.answers
                    .insert(transaction_id.into(), Ok(tx.clone()))
                    .await
            }
            Err(RokuError::Refused(reason)) => {
                self.answers
                    .insert(transaction_id.into(), Err(reason.clone()))
                    .await
            }
            Err(_) => {}
        }
        answer
    }

    /// `GET …/validate-transaction/{apiKey}/{transactionId}`, JSON.
    pub async fn validate_transaction(
        &self,
        transaction_id: &str,
    ) -> Result<ValidatedTransaction, RokuError> {
        if !is_valid_transaction_id(transaction_id) {
            return Err(RokuError::BadTransactionId);
        }
        // 1 s, 2 s, 4 s… as Roku asks, but only as many as fit in the budget of one call.
        let mut retries = 0;
        let mut total = Duration::ZERO;
        let mut next = Duration::from_secs(1);
        while total + next <= self.budget {
            total += next;
            retries += 1;
            next = (next * 2).min(Duration::from_secs(60));
        }
        (|| self.validate_once(transaction_id))
            .retry(
                ExponentialBuilder::default()
                    .with_min_delay(Duration::from_secs(1))
                    .with_max_delay(Duration::from_secs(60))
                    .with_factor(2.0)
                    .with_max_times(retries),
            )
            .when(RokuError::is_retryable)
            .notify(|e, after| tracing::warn!(transaction_id = %log_form(transaction_id), error = %e, retry_in = ?after, "Roku validate-transaction failed"))
            .await
    }

    async fn validate_once(&self, transaction_id: &str) -> Result<ValidatedTransaction, RokuError> {
        let started = std::time::Instant::now();
        let result = self.validate_call(transaction_id).await;
        let outcome = match &result {
            Ok(_) => "ok",
            Err(e) if e.is_retryable() => "unavailable",
            Err(_) => "refused",
        };
        let labels = [("operation", "validate_transaction"), ("outcome", outcome)];
        metrics::counter!("roku_bridge_roku_calls_total", &labels).increment(1);
        metrics::histogram!("roku_bridge_roku_call_duration_seconds", &labels)
            .record(started.elapsed().as_secs_f64());
        result
    }

    /// `{api_url}/listen/transaction-service.svc/validate-transaction/{key}/{id}`, each of the
    /// last two a percent-encoded path segment, so neither can add, remove or climb segments.
    fn validate_url(&self, transaction_id: &str) -> Result<String, RokuError> {
        url_with_segments(
            &self.api_url,
            &[
                "listen",
                "transaction-service.svc",
                "validate-transaction",
                self.api_key.expose_secret(),
                transaction_id,
            ],
        )
        .map_err(|_| RokuError::BadTransactionId)
    }

    async fn validate_call(&self, transaction_id: &str) -> Result<ValidatedTransaction, RokuError> {
        self.limiter.until_ready().await;
        let url = self.validate_url(transaction_id)?;
        let resp = self
            .http
            .get(url)
            .header(header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| RokuError::Unavailable(e.without_url().to_string()))?;
        let status = resp.status();
        if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
            return Err(RokuError::Unavailable(format!("HTTP {}", status.as_u16())));
        }
        let body = resp
            .bytes()
            .await
            .map_err(|e| RokuError::Unavailable(e.without_url().to_string()))?;
        if !status.is_success() {
            return Err(RokuError::Refused(format!("HTTP {}", status.as_u16())));
        }
        // Roku's own error text could quote the request; the key must not travel on in it.
        parse_validate_response(&body).map_err(|e| {
            let reason = e.to_string().replace(self.api_key.expose_secret(), "***");
            if e.is_retryable() {
                // An answer we cannot read says nothing about the purchase: a 503 the channel
                // retries, never a receipt lost as "invalid". Counted apart, since a steady
                // rate means Roku changed its format.
                metrics::counter!("roku_bridge_roku_unreadable_answers_total").increment(1);
                tracing::warn!(
                    transaction_id = %log_form(transaction_id),
                    bytes = body.len(),
                    "unreadable validate-transaction answer"
                );
                RokuError::Unavailable(reason)
            } else {
                RokuError::Refused(reason)
            }
        })
    }
}
