//! PostgreSQL's LISTEN/NOTIFY, the one channel replicas share without new infrastructure.

use sqlx::postgres::PgListener;

use super::{Dialect, Store, StoreError};

impl Store {
    /// Announces `payload` on `channel` to every listening replica; nothing on SQLite (one
    /// process, nobody to tell).
    pub async fn notify(&self, channel: &str, payload: &str) -> Result<(), StoreError> {
        if self.dialect() != Dialect::Postgres {
            return Ok(());
        }
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(channel)
            .bind(payload)
            .execute(self.pool())
            .await?;
        Ok(())
    }
}

/// A dedicated connection listening on `channel`.
pub async fn listen(url: &str, channel: &str) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect(url).await?;
    listener.listen(channel).await?;
    Ok(listener)
}
