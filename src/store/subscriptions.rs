//! Subscription state per Roku customer and product, as the pushes tell it.

use sqlx::{Row, any::AnyRow};

use super::{Store, StoreError, now_ms};
use crate::domain::{
    subscription::{Subscription, SubscriptionState},
    time::EpochMs,
};

const COLUMNS: &str = "roku_customer_id, product_code, state, expires_at, cancelled_at,
                       last_transaction_id, last_event_at";

impl Store {
    /// Applies a state change unless a later event for the same subscription is already
    /// recorded: Roku's replays arrive out of order, and an old Sale must not revive a cancel.
    pub async fn record_subscription(&self, s: &Subscription) -> Result<bool, StoreError> {
        upsert(self.pool(), s).await
    }

    pub async fn subscription(
        &self,
        rcid: &str,
        product_code: &str,
    ) -> Result<Option<Subscription>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM subscriptions WHERE roku_customer_id = $1 AND product_code = $2"
        ))
        .bind(rcid)
        .bind(product_code)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(subscription_from).transpose()
    }

    pub async fn subscriptions_of(&self, rcid: &str) -> Result<Vec<Subscription>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM subscriptions WHERE roku_customer_id = $1"
        ))
        .bind(rcid)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(subscription_from).collect()
    }
}

pub(super) async fn upsert<'e, E: sqlx::Executor<'e, Database = sqlx::Any>>(
    executor: E,
    s: &Subscription,
) -> Result<bool, StoreError> {
    let result = sqlx::query(
        "INSERT INTO subscriptions (roku_customer_id, product_code, state, expires_at, cancelled_at,
                                    last_transaction_id, last_event_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (roku_customer_id, product_code) DO UPDATE
           SET state = excluded.state,
               expires_at = COALESCE(excluded.expires_at, subscriptions.expires_at),
               cancelled_at = excluded.cancelled_at,
               last_transaction_id = excluded.last_transaction_id,
               last_event_at = excluded.last_event_at,
               updated_at = excluded.updated_at
           WHERE subscriptions.last_event_at <= excluded.last_event_at",
    )
    .bind(&s.roku_customer_id)
    .bind(&s.product_code)
    .bind(s.state.as_str())
    .bind(s.expires_at.map(|t| t.0))
    .bind(s.cancelled_at.map(|t| t.0))
    .bind(&s.last_transaction_id)
    .bind(s.last_event_at.0)
    .bind(now_ms())
    .execute(executor)
    .await?;
    Ok(result.rows_affected() > 0)
}

fn subscription_from(r: &AnyRow) -> Result<Subscription, StoreError> {
    let state: String = r.try_get("state")?;
    Ok(Subscription {
        roku_customer_id: r.try_get("roku_customer_id")?,
        product_code: r.try_get("product_code")?,
        state: state
            .parse::<SubscriptionState>()
            .map_err(StoreError::Unavailable)?,
        expires_at: r.try_get::<Option<i64>, _>("expires_at")?.map(EpochMs),
        cancelled_at: r.try_get::<Option<i64>, _>("cancelled_at")?.map(EpochMs),
        last_transaction_id: r.try_get("last_transaction_id")?,
        last_event_at: EpochMs(r.try_get("last_event_at")?),
    })
}
