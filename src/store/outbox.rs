//! The outbox: deliveries owed to relay targets, claimed under a lease so that a crashed
//! worker's items come back, and in order per (target, ordering key) so that one customer's
//! events reach a target in the order Roku sent them.

use sqlx::{Any, Executor, Row};

use super::{Dialect, Store, StoreError, now_ms};

/// Declares a persisted enum with its one spelling in the store.
macro_rules! stored_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$(Self::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }
        }

        impl std::str::FromStr for $name {
            type Err = StoreError;

            fn from_str(s: &str) -> Result<Self, StoreError> {
                Self::ALL.iter().copied().find(|v| v.as_str() == s).ok_or_else(|| {
                    StoreError::Unavailable(format!(concat!("unknown ", stringify!($name), " {:?}"), s))
                })
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.pad(self.as_str())
            }
        }
    };
}

stored_enum!(
    OutboxStatus {
        Pending => "pending",
        Delivered => "delivered",
        Dead => "dead",
    }
);

stored_enum!(
    /// What an outbox row carries; the payload is the JSON of the matching `outbox::Delivery`
    /// variant, whose `type` tag is this same word.
    DeliveryKind {
        Push => "push",
        Receipt => "receipt",
        SignupAccount => "signup_account",
        Event => "event",
        PushFollowUp => "push_follow_up",
    }
);

/// A delivery to enqueue with a push or on its own.
#[derive(Debug, Clone)]
pub struct NewDelivery {
    pub target: String,
    pub kind: DeliveryKind,
    /// JSON of the delivery, tagged with its kind.
    pub payload: String,
    pub dedupe_key: String,
    pub ordering_key: Option<String>,
}

/// A claimed delivery, leased to one worker.
#[derive(Debug, Clone)]
pub struct OutboxItem {
    pub id: i64,
    pub target: String,
    pub kind: DeliveryKind,
    pub payload: String,
    pub dedupe_key: String,
    pub attempts: i64,
    pub window_started_at: i64,
}

/// A row as `roku-bridge outbox list` shows it (no payload: it may be large).
#[derive(Debug, Clone)]
pub struct OutboxRow {
    pub id: i64,
    pub target: String,
    pub kind: DeliveryKind,
    pub dedupe_key: String,
    pub status: OutboxStatus,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub created_at: i64,
    pub delivered_at: Option<i64>,
    pub last_error: Option<String>,
}

pub(super) const ROW_COLUMNS: &str =
    "id, target, kind, dedupe_key, status, attempts, next_attempt_at,
                                      created_at, delivered_at, last_error";

pub(super) fn row_from(r: &sqlx::any::AnyRow) -> Result<OutboxRow, StoreError> {
    Ok(OutboxRow {
        id: r.try_get("id")?,
        target: r.try_get("target")?,
        kind: r.try_get::<String, _>("kind")?.parse()?,
        dedupe_key: r.try_get("dedupe_key")?,
        status: r.try_get::<String, _>("status")?.parse()?,
        attempts: r.try_get("attempts")?,
        next_attempt_at: r.try_get("next_attempt_at")?,
        created_at: r.try_get("created_at")?,
        delivered_at: r.try_get("delivered_at")?,
        last_error: r.try_get("last_error")?,
    })
}

fn item_from(r: &sqlx::any::AnyRow) -> Result<OutboxItem, StoreError> {
    Ok(OutboxItem {
        id: r.try_get("id")?,
        target: r.try_get("target")?,
        kind: r.try_get::<String, _>("kind")?.parse()?,
        payload: r.try_get("payload")?,
        dedupe_key: r.try_get("dedupe_key")?,
        attempts: r.try_get("attempts")?,
        window_started_at: r.try_get("window_started_at")?,
    })
}

pub(super) async fn insert<'e, E: Executor<'e, Database = Any>>(
    executor: E,
    d: &NewDelivery,
    now: i64,
) -> Result<bool, StoreError> {
    let result = sqlx::query(
        "INSERT INTO outbox (target, kind, payload, dedupe_key, ordering_key, next_attempt_at,
                             window_started_at, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $6, $6)
         ON CONFLICT (target, dedupe_key) DO NOTHING",
    )
    .bind(&d.target)
    .bind(d.kind.as_str())
    .bind(&d.payload)
    .bind(&d.dedupe_key)
    .bind(&d.ordering_key)
    .bind(now)
    .execute(executor)
    .await?;
    Ok(result.rows_affected() > 0)
}

impl Store {
    /// Enqueues one delivery; `false` when the same (target, dedupe key) is already queued.
    pub async fn enqueue(&self, d: &NewDelivery) -> Result<bool, StoreError> {
        insert(self.pool(), d, now_ms()).await
    }

    /// Leases up to `limit` due items to `worker` until `now + lease_ms`. An item is due when
    /// pending, past its next attempt, not leased (or its lease ran out), and the oldest pending
    /// item of its (target, ordering key): later ones wait for it.
    pub async fn claim_due(
        &self,
        worker: &str,
        lease_ms: i64,
        limit: i64,
    ) -> Result<Vec<OutboxItem>, StoreError> {
        let now = now_ms();
        // PostgreSQL: replicas claiming at once skip each other's rows instead of waiting.
        // SQLite has one writer, so the UPDATE itself is the lock.
        let lock = match self.dialect() {
            Dialect::Postgres => "FOR UPDATE SKIP LOCKED",
            Dialect::Sqlite => "",
        };
        let sql = format!(
            "UPDATE outbox SET locked_by = $1, locked_until = $2
             WHERE id IN (
               SELECT o.id FROM outbox o
               WHERE o.status = 'pending' AND o.next_attempt_at <= $3
                 AND (o.locked_until IS NULL OR o.locked_until < $3)
                 AND NOT EXISTS (
                   SELECT 1 FROM outbox p
                   WHERE p.target = o.target AND p.ordering_key = o.ordering_key
                     AND p.status = 'pending' AND p.id < o.id)
               ORDER BY o.id LIMIT $4 {lock})
             RETURNING id, target, kind, payload, dedupe_key, attempts, window_started_at"
        );
        let rows = sqlx::query(&sql)
            .bind(worker)
            .bind(now + lease_ms)
            .bind(now)
            .bind(limit)
            .fetch_all(self.pool())
            .await?;
        let mut items = rows.iter().map(item_from).collect::<Result<Vec<_>, _>>()?;
        items.sort_by_key(|i| i.id);
        Ok(items)
    }

    /// Leases one pending item by its (target, dedupe key), due or not: a request that needs
    /// it done now (a customer opening the app) does not wait for its backoff.
    pub async fn claim_by_key(
        &self,
        target: &str,
        dedupe_key: &str,
        worker: &str,
        lease_ms: i64,
    ) -> Result<Option<OutboxItem>, StoreError> {
        let now = now_ms();
        let row = sqlx::query(
            "UPDATE outbox SET locked_by = $1, locked_until = $2
             WHERE target = $3 AND dedupe_key = $4 AND status = 'pending'
               AND (locked_until IS NULL OR locked_until < $5)
             RETURNING id, target, kind, payload, dedupe_key, attempts, window_started_at",
        )
        .bind(worker)
        .bind(now + lease_ms)
        .bind(target)
        .bind(dedupe_key)
        .bind(now)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(item_from).transpose()
    }

    /// Whether (target, dedupe key) still waits for delivery, leased or not.
    pub async fn is_pending(&self, target: &str, dedupe_key: &str) -> Result<bool, StoreError> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM outbox WHERE target = $1 AND dedupe_key = $2 AND status = 'pending'",
        )
        .bind(target)
        .bind(dedupe_key)
        .fetch_one(self.pool())
        .await?;
        Ok(row.try_get::<i64, _>("n")? > 0)
    }

    /// Only the lease holder may settle an item: a worker whose lease ran out (and whose item
    /// another worker took) must not overwrite that worker's outcome.
    pub async fn mark_delivered(&self, id: i64, worker: &str) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "UPDATE outbox SET status = 'delivered', delivered_at = $1, attempts = attempts + 1,
                               locked_by = NULL, locked_until = NULL, last_error = NULL
             WHERE id = $2 AND locked_by = $3",
        )
        .bind(now_ms())
        .bind(id)
        .bind(worker)
        .execute(self.pool())
        .await?;
        Ok(result.rows_affected() > 0)
    }

    pub async fn mark_failed(
        &self,
        id: i64,
        worker: &str,
        next_attempt_at: i64,
        error: &str,
        dead: bool,
    ) -> Result<bool, StoreError> {
        let status = if dead {
            OutboxStatus::Dead
        } else {
            OutboxStatus::Pending
        };
        let result = sqlx::query(
            "UPDATE outbox SET status = $1, next_attempt_at = $2, last_error = $3,
                               attempts = attempts + 1, locked_by = NULL, locked_until = NULL
             WHERE id = $4 AND locked_by = $5",
        )
        .bind(status.as_str())
        .bind(next_attempt_at)
        .bind(error)
        .bind(id)
        .bind(worker)
        .execute(self.pool())
        .await?;
        Ok(result.rows_affected() > 0)
    }

    /// Gives back this worker's leases at shutdown, so another worker need not wait them out.
    pub async fn release_leases(&self, worker: &str) -> Result<u64, StoreError> {
        let result = sqlx::query(
            "UPDATE outbox SET locked_by = NULL, locked_until = NULL WHERE locked_by = $1 AND status = 'pending'",
        )
        .bind(worker)
        .execute(self.pool())
        .await?;
        Ok(result.rows_affected())
    }

    pub async fn list_outbox(
        &self,
        status: Option<OutboxStatus>,
        limit: i64,
    ) -> Result<Vec<OutboxRow>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {ROW_COLUMNS} FROM outbox WHERE ($1 = '' OR status = $1) ORDER BY id DESC LIMIT $2"
        ))
        .bind(status.map(OutboxStatus::as_str).unwrap_or(""))
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(row_from).collect()
    }

    /// Puts dead items (one, or all) back in the queue with a fresh retry window.
    pub async fn redrive(&self, id: Option<i64>) -> Result<u64, StoreError> {
        let now = now_ms();
        let result = sqlx::query(
            "UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = $1,
                               window_started_at = $1, locked_by = NULL, locked_until = NULL
             WHERE status = 'dead' AND ($2 = -1 OR id = $2)",
        )
        .bind(now)
        .bind(id.unwrap_or(-1))
        .execute(self.pool())
        .await?;
        Ok(result.rows_affected())
    }

    /// (pending, dead) counts: what the readiness report and metrics show.
    pub async fn outbox_depth(&self) -> Result<(i64, i64), StoreError> {
        let row = sqlx::query(
            "SELECT
               COUNT(*) FILTER (WHERE status = 'pending') AS pending,
               COUNT(*) FILTER (WHERE status = 'dead') AS dead
             FROM outbox",
        )
        .fetch_one(self.pool())
        .await?;
        Ok((row.try_get("pending")?, row.try_get("dead")?))
    }

    /// How long the oldest pending delivery has waited: a stuck target shows here first.
    pub async fn oldest_pending_age_ms(&self) -> Result<Option<i64>, StoreError> {
        let row =
            sqlx::query("SELECT MIN(created_at) AS oldest FROM outbox WHERE status = 'pending'")
                .fetch_one(self.pool())
                .await?;
        let oldest: Option<i64> = row.try_get("oldest")?;
        Ok(oldest.map(|t| (now_ms() - t).max(0)))
    }
}
