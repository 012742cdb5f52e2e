//! Who is who: email hashes for Instant Signup eligibility, and revocable refresh tokens.

use sqlx::Row;

use super::{Account, Store, StoreError, Subscription, account_from, now_ms, subscription_from};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailHash {
    pub hash: String,
    pub roku_customer_id: Option<String>,
    pub customer_id: Option<String>,
    pub imported_subscriber: bool,
}

impl Store {
    /// Records what is known about an email hash; known ids are kept when a source lacks them.
    pub async fn record_email_hash(
        &self,
        hash: &str,
        rcid: Option<&str>,
        customer_id: Option<&str>,
        source: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO email_hashes (hash, roku_customer_id, customer_id, source, updated_at)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (hash) DO UPDATE
               SET roku_customer_id = COALESCE(excluded.roku_customer_id, email_hashes.roku_customer_id),
                   customer_id = COALESCE(excluded.customer_id, email_hashes.customer_id),
                   source = excluded.source,
                   updated_at = excluded.updated_at",
        )
        .bind(hash)
        .bind(rcid)
        .bind(customer_id)
        .bind(source)
        .bind(now_ms())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The operator's list of current subscribers (`roku-bridge isu import-hashes`), one
    /// transaction per batch so a million lines take seconds, not a commit each.
    pub async fn import_subscriber_hashes(&self, hashes: &[String]) -> Result<(), StoreError> {
        let now = now_ms();
        let mut tx = self.pool().begin().await?;
        for hash in hashes {
            sqlx::query(
                "INSERT INTO email_hashes (hash, imported_subscriber, source, updated_at)
                 VALUES ($1, 1, 'import', $2)
                 ON CONFLICT (hash) DO UPDATE SET imported_subscriber = 1, updated_at = excluded.updated_at",
            )
            .bind(hash)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn email_hash(&self, hash: &str) -> Result<Option<EmailHash>, StoreError> {
        let row = sqlx::query(
            "SELECT hash, roku_customer_id, customer_id, imported_subscriber FROM email_hashes WHERE hash = $1",
        )
        .bind(hash)
        .fetch_optional(self.pool())
        .await?;
        Ok(row
            .map(|r| -> Result<EmailHash, sqlx::Error> {
                Ok(EmailHash {
                    hash: r.try_get("hash")?,
                    roku_customer_id: r.try_get("roku_customer_id")?,
                    customer_id: r.try_get("customer_id")?,
                    imported_subscriber: r.try_get::<i64, _>("imported_subscriber")? != 0,
                })
            })
            .transpose()?)
    }

    pub async fn subscriptions_of(&self, rcid: &str) -> Result<Vec<Subscription>, StoreError> {
        let rows = sqlx::query(
            "SELECT roku_customer_id, product_code, state, expires_at, cancelled_at,
                    last_transaction_id, last_event_at
             FROM subscriptions WHERE roku_customer_id = $1",
        )
        .bind(rcid)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(subscription_from)
            .collect::<Result<_, sqlx::Error>>()
            .map_err(Into::into)
    }

    /// The Roku customers linked to a provider customer.
    pub async fn roku_customers_of(&self, customer_id: &str) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query("SELECT roku_customer_id FROM accounts WHERE customer_id = $1")
            .bind(customer_id)
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| r.try_get("roku_customer_id"))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(Into::into)
    }

    pub async fn account_by_email(&self, email: &str) -> Result<Option<Account>, StoreError> {
        let row = sqlx::query(
            "SELECT roku_customer_id, customer_id, email FROM accounts WHERE email = $1 ORDER BY updated_at DESC LIMIT 1",
        )
        .bind(email.trim().to_lowercase())
        .fetch_optional(self.pool())
        .await?;
        Ok(row.as_ref().map(account_from).transpose()?)
    }

    // === refresh tokens ===

    pub async fn save_refresh(
        &self,
        token_hash: &str,
        customer_id: &str,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO refresh_tokens (token_hash, customer_id, expires_at, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(token_hash)
        .bind(customer_id)
        .bind(expires_at)
        .bind(now_ms())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Retires a refresh token; `true` only for the one caller that held a live token.
    pub async fn take_refresh(&self, token_hash: &str) -> Result<bool, StoreError> {
        let result =
            sqlx::query("DELETE FROM refresh_tokens WHERE token_hash = $1 AND expires_at > $2")
                .bind(token_hash)
                .bind(now_ms())
                .execute(self.pool())
                .await?;
        Ok(result.rows_affected() == 1)
    }

    /// Signs a customer out everywhere: every refresh token they hold stops working.
    pub async fn revoke_refresh(&self, customer_id: &str) -> Result<u64, StoreError> {
        let result = sqlx::query("DELETE FROM refresh_tokens WHERE customer_id = $1")
            .bind(customer_id)
            .execute(self.pool())
            .await?;
        Ok(result.rows_affected())
    }
}
