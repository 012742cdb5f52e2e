//! What the operator's console reads (and its two redrive writes): filtered pages of the
//! outbox, recent pushes with their deliveries, per-minute counts for the overview charts, and
//! the rows a support lookup gathers. Reads only; nothing here moves a receipt.

use sqlx::{Row, any::AnyRow};

use crate::domain::receipt::{ReceiptState, UnknownState};

use super::{
    OutboxStatus, Store, StoreError, now_ms,
    outbox::{self, ROW_COLUMNS},
};

/// One outbox row as the console lists it: the operator command's row (no payload: it may be
/// large, and a push's payload is the customer's signed event, shown decoded on the Pushes
/// page instead).
pub use super::outbox::OutboxRow as DeliveryRow;

/// Which deliveries a page shows.
#[derive(Debug, Clone, Default)]
pub struct DeliveryFilter {
    pub target: Option<String>,
    pub status: Option<OutboxStatus>,
    /// Only rows older than this id (the next page of a newest-first list).
    pub before_id: Option<i64>,
    pub limit: i64,
}

/// A stored push, decoded event included.
#[derive(Debug, Clone)]
pub struct PushRow {
    pub id: i64,
    pub message_key: String,
    pub message_type: String,
    pub transaction_type: Option<String>,
    pub transaction_id: Option<String>,
    pub roku_customer_id: Option<String>,
    pub product_code: Option<String>,
    pub event_json: Option<String>,
    pub received_at: i64,
}

/// A receipt row as support sees it.
#[derive(Debug, Clone)]
pub struct ReceiptRow {
    pub purchase_id: String,
    pub customer_id: String,
    pub roku_customer_id: Option<String>,
    pub state: ReceiptState,
    pub outcome_json: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

fn receipt_row_from(r: &AnyRow) -> Result<ReceiptRow, StoreError> {
    Ok(ReceiptRow {
        purchase_id: r.try_get("purchase_id")?,
        customer_id: r.try_get("customer_id")?,
        roku_customer_id: r.try_get("roku_customer_id")?,
        state: r
            .try_get::<String, _>("state")?
            .parse()
            .map_err(|e: UnknownState| StoreError::Unavailable(e.to_string()))?,
        outcome_json: r.try_get("outcome_json")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

const RECEIPT_COLUMNS: &str =
    "purchase_id, customer_id, roku_customer_id, state, outcome_json, created_at, updated_at";

impl Store {
    /// Newest first, filtered by target and status, one page.
    pub async fn console_deliveries(
        &self,
        filter: &DeliveryFilter,
    ) -> Result<Vec<DeliveryRow>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {ROW_COLUMNS} FROM outbox
             WHERE ($1 = '' OR target = $1) AND ($2 = '' OR status = $2) AND ($3 < 0 OR id < $3)
             ORDER BY id DESC LIMIT $4"
        ))
        .bind(filter.target.as_deref().unwrap_or(""))
        .bind(filter.status.map(OutboxStatus::as_str).unwrap_or(""))
        .bind(filter.before_id.unwrap_or(-1))
        .bind(filter.limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(outbox::row_from).collect()
    }

    /// The deliveries a push owes (its relays and follow-up share its message key).
    pub async fn deliveries_keyed(&self, dedupe_key: &str) -> Result<Vec<DeliveryRow>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {ROW_COLUMNS} FROM outbox WHERE dedupe_key = $1 ORDER BY id"
        ))
        .bind(dedupe_key)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(outbox::row_from).collect()
    }

    /// (target, status, count) over the whole outbox, for the overview.
    pub async fn outbox_counts(&self) -> Result<Vec<(String, OutboxStatus, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT target, status, COUNT(*) AS n FROM outbox GROUP BY target, status
             ORDER BY target, status",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("target")?,
                    r.try_get::<String, _>("status")?.parse()?,
                    r.try_get("n")?,
                ))
            })
            .collect()
    }

    /// Every target that has ever had a delivery: the filter's choices.
    pub async fn outbox_targets(&self) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query("SELECT DISTINCT target FROM outbox ORDER BY target")
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| Ok(r.try_get("target")?))
            .collect::<Result<_, StoreError>>()
    }

    /// Puts every dead item of one target back in the queue with a fresh retry window.
    pub async fn redrive_target(&self, target: &str) -> Result<u64, StoreError> {
        let now = now_ms();
        let result = sqlx::query(
            "UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = $1,
                               window_started_at = $1, locked_by = NULL, locked_until = NULL
             WHERE status = 'dead' AND target = $2",
        )
        .bind(now)
        .bind(target)
        .execute(self.pool())
        .await?;
        Ok(result.rows_affected())
    }

    /// The newest pushes, optionally of one message type.
    pub async fn recent_pushes(
        &self,
        message_type: Option<&str>,
        limit: i64,
    ) -> Result<Vec<PushRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, message_key, message_type, transaction_type, transaction_id,
                    roku_customer_id, product_code, event_json, received_at
             FROM pushes WHERE ($1 = '' OR message_type = $1 OR transaction_type = $1)
             ORDER BY id DESC LIMIT $2",
        )
        .bind(message_type.unwrap_or(""))
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(PushRow {
                    id: r.try_get("id")?,
                    message_key: r.try_get("message_key")?,
                    message_type: r.try_get("message_type")?,
                    transaction_type: r.try_get("transaction_type")?,
                    transaction_id: r.try_get("transaction_id")?,
                    roku_customer_id: r.try_get("roku_customer_id")?,
                    product_code: r.try_get("product_code")?,
                    event_json: r.try_get("event_json")?,
                    received_at: r.try_get("received_at")?,
                })
            })
            .collect()
    }

    /// Pushes and receipts per minute since `since_ms`: (minute index since the epoch, count).
    pub async fn per_minute(
        &self,
        what: Counted,
        since_ms: i64,
    ) -> Result<Vec<(i64, i64)>, StoreError> {
        let (table, column) = match what {
            Counted::Pushes => ("pushes", "received_at"),
            Counted::Receipts => ("receipts", "created_at"),
        };
        let rows = sqlx::query(&format!(
            "SELECT {column} / 60000 AS minute, COUNT(*) AS n FROM {table}
             WHERE {column} >= $1 GROUP BY {column} / 60000 ORDER BY minute"
        ))
        .bind(since_ms)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("minute")?, r.try_get("n")?)))
            .collect()
    }

    /// Receipts not settled yet (claimed, queued or forwarded).
    pub async fn unsettled_receipts(&self) -> Result<i64, StoreError> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM receipts WHERE state IN ('claimed', 'queued', 'forwarded')",
        )
        .fetch_one(self.pool())
        .await?;
        Ok(row.try_get("n")?)
    }

    /// Receipts of a purchase (by the purchaseId as any spelling canonicalises to), of a Roku
    /// customer, or of a provider customer.
    pub async fn lookup_receipts(
        &self,
        purchase_key: Option<&str>,
        roku_customer_id: Option<&str>,
        customer_id: Option<&str>,
    ) -> Result<Vec<ReceiptRow>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {RECEIPT_COLUMNS} FROM receipts
             WHERE ($1 <> '' AND purchase_key = $1) OR ($2 <> '' AND roku_customer_id = $2)
                OR ($3 <> '' AND customer_id = $3)
             ORDER BY created_at DESC LIMIT 200"
        ))
        .bind(purchase_key.unwrap_or(""))
        .bind(roku_customer_id.unwrap_or(""))
        .bind(customer_id.unwrap_or(""))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(receipt_row_from).collect()
    }
}

/// What [`Store::per_minute`] counts.
#[derive(Debug, Clone, Copy)]
pub enum Counted {
    Pushes,
    Receipts,
}
