//! Refresh tokens, by SHA-256 of the token: what is stored cannot be replayed, and each can be
//! rotated exactly once, here or on another replica.

use super::{Store, StoreError, now_ms};

impl Store {
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
