//! Refresh tokens, by SHA-256 of the token: what is stored cannot be replayed, and each can be
//! rotated exactly once, here or on another replica. Tokens rotated from one sign-in form a
//! family; a rotated token is kept, marked used, so its reuse can revoke the family.

use sqlx::Row;

use super::{Store, StoreError, now_ms};

/// What presenting a refresh token found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Taken {
    /// A live token, now retired; its successor joins this family.
    Rotated { family: String },
    /// A token already rotated: someone holds a copy. Its family has been revoked.
    Reused { family: String, revoked: u64 },
    /// Unknown, expired or revoked.
    Unknown,
}

impl Store {
    pub async fn save_refresh(
        &self,
        token_hash: &str,
        customer_id: &str,
        expires_at: i64,
        family: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO refresh_tokens (token_hash, customer_id, expires_at, created_at, family_id)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(token_hash)
        .bind(customer_id)
        .bind(expires_at)
        .bind(now_ms())
        .bind(family)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Retires a refresh token: `Rotated` only for the one caller that held a live token. A
    /// token presented again after its rotation revokes every token of its family (OAuth 2.0
    /// Security BCP: the thief and the customer cannot be told apart, so both lose it).
    pub async fn take_refresh(&self, token_hash: &str) -> Result<Taken, StoreError> {
        let now = now_ms();
        let rotated = sqlx::query(
            "UPDATE refresh_tokens SET used_at = $2
             WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2
             RETURNING COALESCE(family_id, token_hash) AS family",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(self.pool())
        .await?;
        if let Some(row) = rotated {
            return Ok(Taken::Rotated {
                family: row.try_get("family")?,
            });
        }
        let used = sqlx::query(
            "SELECT COALESCE(family_id, token_hash) AS family FROM refresh_tokens
             WHERE token_hash = $1 AND used_at IS NOT NULL",
        )
        .bind(token_hash)
        .fetch_optional(self.pool())
        .await?;
        let Some(row) = used else {
            return Ok(Taken::Unknown);
        };
        let family: String = row.try_get("family")?;
        let revoked = sqlx::query(
            "DELETE FROM refresh_tokens
             WHERE COALESCE(family_id, token_hash) = $1 AND used_at IS NULL",
        )
        .bind(&family)
        .execute(self.pool())
        .await?
        .rows_affected();
        Ok(Taken::Reused { family, revoked })
    }

    /// Forgets refresh tokens past their expiry (used ones are kept only to spot reuse).
    pub async fn purge_expired_refresh(&self) -> Result<u64, StoreError> {
        let result = sqlx::query("DELETE FROM refresh_tokens WHERE expires_at <= $1")
            .bind(now_ms())
            .execute(self.pool())
            .await?;
        Ok(result.rows_affected())
    }

    /// Signs a customer out everywhere: every refresh token they hold stops working.
    pub async fn revoke_refresh(&self, customer_id: &str) -> Result<u64, StoreError> {
        let result =
            sqlx::query("DELETE FROM refresh_tokens WHERE customer_id = $1 AND used_at IS NULL")
                .bind(customer_id)
                .execute(self.pool())
                .await?;
        // The rotated ones already stopped working; they go too, uncounted.
        sqlx::query("DELETE FROM refresh_tokens WHERE customer_id = $1")
            .bind(customer_id)
            .execute(self.pool())
            .await?;
        Ok(result.rows_affected())
    }
}
