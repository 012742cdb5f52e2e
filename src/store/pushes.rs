//! Verified pushes, stored with everything their acknowledgement promises, in one transaction.

use sqlx::Row;

use super::{NewDelivery, Store, StoreError, now_ms, outbox, subscriptions};
use crate::domain::subscription::Subscription;

/// A verified push, ready to store.
#[derive(Debug, Clone)]
pub struct NewPush {
    pub message_key: String,
    pub message_type: String,
    pub transaction_type: Option<String>,
    pub transaction_id: Option<String>,
    pub roku_customer_id: Option<String>,
    pub product_code: Option<String>,
    pub raw_jws: String,
    pub event_json: Option<String>,
    /// Verified with Roku's test key set: recorded, never acted on.
    pub test: bool,
}

/// What a push writes: the push, the deliveries it owes (relays, follow-ups), and the
/// subscription state it moves to.
#[derive(Debug, Clone)]
pub struct PushRecord {
    pub push: NewPush,
    pub deliveries: Vec<NewDelivery>,
    pub subscription: Option<Subscription>,
}

impl Store {
    /// Stores one push with its deliveries and subscription change (one commit). `Ok(None)`
    /// means the message key was seen before: nothing is written, and the caller acknowledges
    /// without re-applying.
    pub async fn record_push(&self, record: &PushRecord) -> Result<Option<i64>, StoreError> {
        let mut ids = self.record_pushes(std::slice::from_ref(record)).await?;
        Ok(ids.pop().flatten())
    }

    /// Several pushes in one transaction: one commit for all. `None` in the answer marks a
    /// duplicate, which wrote nothing.
    pub async fn record_pushes(
        &self,
        records: &[PushRecord],
    ) -> Result<Vec<Option<i64>>, StoreError> {
        let now = now_ms();
        let mut tx = self.pool().begin().await?;
        let mut ids = Vec::with_capacity(records.len());
        for PushRecord {
            push,
            deliveries,
            subscription,
        } in records
        {
            let inserted = sqlx::query(
                "INSERT INTO pushes (message_key, message_type, transaction_type, transaction_id,
                                     roku_customer_id, product_code, raw_jws, event_json, received_at,
                                     test)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
                 ON CONFLICT (message_key) DO NOTHING
                 RETURNING id",
            )
            .bind(&push.message_key)
            .bind(&push.message_type)
            .bind(&push.transaction_type)
            .bind(&push.transaction_id)
            .bind(&push.roku_customer_id)
            .bind(&push.product_code)
            .bind(&push.raw_jws)
            .bind(&push.event_json)
            .bind(now)
            .bind(push.test)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(row) = inserted else {
                ids.push(None);
                continue;
            };
            let id: i64 = row.try_get("id")?;
            for d in deliveries {
                outbox::insert(&mut *tx, d, now).await?;
            }
            if let Some(sub) = subscription {
                subscriptions::upsert(&mut *tx, sub).await?;
            }
            ids.push(Some(id));
        }
        tx.commit().await?;
        Ok(ids)
    }

    /// Whether the push with this message key was a test push; `None` when none is stored.
    pub async fn push_is_test(&self, message_key: &str) -> Result<Option<bool>, StoreError> {
        // Through the Any driver SQLite's BOOLEAN does not decode: read it as a number.
        let row = sqlx::query(
            "SELECT CAST(CASE WHEN test THEN 1 ELSE 0 END AS BIGINT) AS test
             FROM pushes WHERE message_key = $1",
        )
        .bind(message_key)
        .fetch_optional(self.pool())
        .await?;
        Ok(match row {
            Some(row) => Some(row.try_get::<i64, _>("test")? != 0),
            None => None,
        })
    }

    pub async fn push_count(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM pushes")
            .fetch_one(self.pool())
            .await?;
        Ok(row.try_get("n")?)
    }
}
