//! Receipt claims and their state. The state column only moves along the state machine of
//! `domain::receipt`: every write names its step and applies only from a state that allows it.

use sqlx::{Row, any::AnyRow};

use super::{Store, StoreError, now_ms};
use crate::domain::{
    ids::{ReceiptKey, canonical_id},
    receipt::{Outcome, ReceiptState, Step},
    time::EpochMs,
};

/// A receipt as stored: the claim and what became of it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredReceipt {
    pub key: ReceiptKey,
    pub customer_id: String,
    /// The provider's receipt body, as it is (or will be) forwarded.
    pub forward_json: String,
    pub roku_customer_id: Option<String>,
    pub state: ReceiptState,
    pub outcome: Option<Outcome>,
}

const COLUMNS: &str =
    "purchase_id, customer_id, forward_json, roku_customer_id, state, outcome_json";

impl Store {
    /// Inserts the claim unless the key is claimed already; returns the claim that holds.
    pub async fn claim_receipt(
        &self,
        key: &ReceiptKey,
        customer_id: &str,
        forward_json: &str,
    ) -> Result<StoredReceipt, StoreError> {
        let now = now_ms();
        sqlx::query(
            "INSERT INTO receipts (purchase_id, purchase_key, customer_id, forward_json, state, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT (purchase_id) DO NOTHING",
        )
        .bind(key.stored())
        .bind(key.purchase.canonical())
        .bind(customer_id)
        .bind(forward_json)
        .bind(ReceiptState::Claimed.as_str())
        .bind(now)
        .execute(self.pool())
        .await?;
        self.receipt(key)
            .await?
            .ok_or_else(|| StoreError::Unavailable("claimed receipt vanished".into()))
    }

    pub async fn receipt(&self, key: &ReceiptKey) -> Result<Option<StoredReceipt>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM receipts WHERE purchase_id = $1"
        ))
        .bind(key.stored())
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| receipt_from(&r)).transpose()
    }

    /// Every claim of a purchase (the one receipt, or a bundle's parts), matched in canonical
    /// form: a push or a device may spell a UUID with or without dashes.
    pub async fn receipts_of_purchase(
        &self,
        transaction_id: &str,
    ) -> Result<Vec<StoredReceipt>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM receipts WHERE purchase_key = $1 ORDER BY purchase_id"
        ))
        .bind(canonical_id(transaction_id))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(receipt_from).collect()
    }

    /// Applies `step` if the stored state allows it (see `domain::receipt`); returns the state
    /// the row is in afterwards, or `None` for an unknown key. A refused step changes nothing:
    /// a receipt another writer already settled stays settled.
    pub async fn advance_receipt(
        &self,
        key: &ReceiptKey,
        step: Step,
        outcome: Option<&Outcome>,
    ) -> Result<Option<ReceiptState>, StoreError> {
        let sources = ReceiptState::sources_of(step);
        let placeholders: Vec<String> = (0..sources.len()).map(|i| format!("${}", i + 5)).collect();
        let sql = format!(
            "UPDATE receipts SET state = $1, outcome_json = $2, updated_at = $3
             WHERE purchase_id = $4 AND state IN ({})",
            placeholders.join(", ")
        );
        let outcome = outcome.map(|o| serde_json::to_string(o).expect("outcome serializes"));
        let mut query = sqlx::query(&sql)
            .bind(step.target().as_str())
            .bind(outcome)
            .bind(now_ms())
            .bind(key.stored());
        for source in &sources {
            query = query.bind(source.as_str());
        }
        query.execute(self.pool()).await?;
        Ok(self.receipt(key).await?.map(|r| r.state))
    }

    /// Takes (or renews) the lease on an unsettled receipt for `owner` until `until`: granted
    /// when nobody holds it, `owner` already does, or the holder let it run out. One
    /// conditional UPDATE, so of replicas racing for a receipt exactly one wins, on either
    /// backend. Queued receipts belong to the relay and settled ones need nobody.
    pub async fn lease_receipt(
        &self,
        key: &ReceiptKey,
        owner: &str,
        until: EpochMs,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE receipts SET lease_owner = $1, lease_until = $2
             WHERE purchase_id = $3 AND state IN ($4, $5)
               AND (lease_owner IS NULL OR lease_owner = $1 OR lease_until < $6)",
        )
        .bind(owner)
        .bind(until.0)
        .bind(key.stored())
        .bind(ReceiptState::Claimed.as_str())
        .bind(ReceiptState::Forwarded.as_str())
        .bind(now_ms())
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Extends a lease `owner` holds, whatever the receipt's state meanwhile; `false` when
    /// another replica took it over (the owner went silent past its expiry).
    pub async fn renew_receipt_lease(
        &self,
        key: &ReceiptKey,
        owner: &str,
        until: EpochMs,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE receipts SET lease_until = $1 WHERE purchase_id = $2 AND lease_owner = $3",
        )
        .bind(until.0)
        .bind(key.stored())
        .bind(owner)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Hands the lease back, if `owner` still holds it, so the next round may start anywhere
    /// at once instead of after the expiry.
    pub async fn release_receipt(&self, key: &ReceiptKey, owner: &str) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE receipts SET lease_owner = NULL, lease_until = NULL
             WHERE purchase_id = $1 AND lease_owner = $2",
        )
        .bind(key.stored())
        .bind(owner)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Every receipt claimed for a provider customer, oldest first, with when it was claimed.
    pub async fn receipts_of_customer(
        &self,
        customer_id: &str,
    ) -> Result<Vec<(StoredReceipt, EpochMs)>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS}, created_at FROM receipts WHERE customer_id = $1
             ORDER BY created_at, purchase_id"
        ))
        .bind(customer_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| Ok((receipt_from(r)?, EpochMs(r.try_get("created_at")?))))
            .collect()
    }

    pub async fn set_receipt_roku_customer(
        &self,
        key: &ReceiptKey,
        rcid: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE receipts SET roku_customer_id = $1, updated_at = $2 WHERE purchase_id = $3",
        )
        .bind(rcid)
        .bind(now_ms())
        .bind(key.stored())
        .execute(self.pool())
        .await?;
        Ok(())
    }
}

fn receipt_from(r: &AnyRow) -> Result<StoredReceipt, StoreError> {
    let unreadable =
        |what: &str| StoreError::Unavailable(format!("stored receipt unreadable: {what}"));
    let stored: String = r.try_get("purchase_id")?;
    let state: String = r.try_get("state")?;
    let outcome: Option<String> = r.try_get("outcome_json")?;
    Ok(StoredReceipt {
        key: ReceiptKey::from_stored(&stored).map_err(|e| unreadable(&e.to_string()))?,
        customer_id: r.try_get("customer_id")?,
        forward_json: r.try_get("forward_json")?,
        roku_customer_id: r.try_get("roku_customer_id")?,
        state: state
            .parse()
            .map_err(|e: crate::domain::receipt::UnknownState| unreadable(&e.to_string()))?,
        outcome: outcome.and_then(|o| serde_json::from_str(&o).ok()),
    })
}
