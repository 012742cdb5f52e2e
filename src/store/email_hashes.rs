//! Email hashes (SHA-512 of the lower-cased email, Roku's `roku-reserved-email-hash`): who an
//! Instant Signup eligibility question is about.

use sqlx::Row;

use super::{Store, StoreError, now_ms};

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
}
