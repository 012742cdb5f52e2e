//! Durable state: SQLite by default (a file under `data/`), PostgreSQL when replicas share it.
//!
//! One SQL text serves both dialects wherever it can: sqlx's `Any` driver passes it through, and
//! SQLite reads `$1, $2…` as parameters too, as long as each first appears in order. The few
//! places the dialects differ (`FOR UPDATE SKIP LOCKED`) are spelled out where they occur.
//! Migrations live in `migrations/sqlite` and `migrations/postgres`, one twin file per step, and
//! are applied at start. Times are epoch milliseconds.

use std::{path::Path, time::Duration};

use sqlx::{
    AnyPool, Executor, Row,
    any::{AnyPoolOptions, AnyRow},
};

pub mod batch;
pub mod identity;
pub mod outbox;
pub mod purchases;

pub use identity::EmailHash;
pub use outbox::{OutboxItem, OutboxRow, OutboxStatus};

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store unavailable: {0}")]
    Unavailable(String),
    #[error("store misconfigured: {0}")]
    Config(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        // sqlx's messages name tables and constraints, never bound values, so they are safe
        // to log; the URL (which may hold a password) is not part of them.
        StoreError::Unavailable(e.to_string())
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        StoreError::Unavailable(format!("migration failed: {e}"))
    }
}

#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    dialect: Dialect,
}

/// A receipt as stored: the claim and what became of it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredReceipt {
    pub purchase_id: String,
    pub customer_id: String,
    pub forward_json: String,
    pub roku_customer_id: Option<String>,
    pub state: String,
    pub outcome_json: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub roku_customer_id: String,
    pub customer_id: String,
    pub email: Option<String>,
}

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
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub roku_customer_id: String,
    pub product_code: String,
    pub state: String,
    pub expires_at: Option<i64>,
    pub cancelled_at: Option<i64>,
    pub last_transaction_id: Option<String>,
    pub last_event_at: i64,
}

/// A delivery to enqueue with a push or on its own.
#[derive(Debug, Clone)]
pub struct NewDelivery {
    pub target: String,
    pub kind: &'static str,
    pub payload: String,
    pub dedupe_key: String,
    pub ordering_key: Option<String>,
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl Store {
    /// Connects, creating the SQLite file and its folder on first run, and migrates.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let (dialect, url) = if let Some(rest) = url.strip_prefix("sqlite://") {
            (Dialect::Sqlite, sqlite_url(rest)?)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            (Dialect::Postgres, url.to_string())
        } else {
            return Err(StoreError::Config(
                "store.url must start with sqlite:// or postgres://".into(),
            ));
        };
        let options = AnyPoolOptions::new()
            .max_connections(match dialect {
                // One writer at a time is all SQLite allows; more connections only wait.
                Dialect::Sqlite => 4,
                Dialect::Postgres => 16,
            })
            .acquire_timeout(Duration::from_secs(5))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if dialect == Dialect::Sqlite {
                        // WAL lets readers run beside the writer; FULL makes every
                        // acknowledged push survive power loss, not only a crash.
                        conn.execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON;")
                            .await?;
                    }
                    Ok(())
                })
            });
        let pool = options.connect(&url).await?;
        let store = Self { pool, dialect };
        match dialect {
            // PostgreSQL migrations take an advisory lock; SQLite's take none, so two processes
            // opening a new file at once (the bridge and an operator command, two test
            // connections) can both try the first migration. Each runs in a transaction, so the
            // loser changed nothing: it looks again and finds the migration applied.
            Dialect::Sqlite => {
                let mut tries = 0;
                loop {
                    match SQLITE_MIGRATIONS.run(&store.pool).await {
                        Ok(()) => break,
                        Err(_) if tries < 20 => {
                            tries += 1;
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                        Err(e) => return Err(e.into()),
                    }
                }
            }
            Dialect::Postgres => POSTGRES_MIGRATIONS.run(&store.pool).await?,
        }
        Ok(store)
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    // === receipts ===

    /// Inserts the claim unless the purchase is claimed already; returns the claim that holds.
    pub async fn claim_receipt(
        &self,
        purchase_id: &str,
        customer_id: &str,
        forward_json: &str,
    ) -> Result<StoredReceipt, StoreError> {
        let now = now_ms();
        sqlx::query(
            "INSERT INTO receipts (purchase_id, customer_id, forward_json, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $4) ON CONFLICT (purchase_id) DO NOTHING",
        )
        .bind(purchase_id)
        .bind(customer_id)
        .bind(forward_json)
        .bind(now)
        .execute(&self.pool)
        .await?;
        self.receipt(purchase_id)
            .await?
            .ok_or_else(|| StoreError::Unavailable("claimed receipt vanished".into()))
    }

    pub async fn receipt(&self, purchase_id: &str) -> Result<Option<StoredReceipt>, StoreError> {
        let row = sqlx::query(
            "SELECT purchase_id, customer_id, forward_json, roku_customer_id, state, outcome_json
             FROM receipts WHERE purchase_id = $1",
        )
        .bind(purchase_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| receipt_from(&r)).transpose()
    }

    /// The claim keys of a bundle's parts (`purchaseId#offerId`).
    pub async fn receipt_parts(&self, purchase_id: &str) -> Result<Vec<String>, StoreError> {
        let prefix = format!("{purchase_id}#");
        let rows = sqlx::query(
            "SELECT purchase_id FROM receipts WHERE substr(purchase_id, 1, CAST($2 AS INTEGER)) = $1 ORDER BY purchase_id",
        )
        .bind(&prefix)
        .bind(prefix.chars().count() as i64)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| r.try_get("purchase_id"))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(Into::into)
    }

    pub async fn set_receipt_state(
        &self,
        purchase_id: &str,
        state: &str,
        outcome_json: Option<&str>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE receipts SET state = $1, outcome_json = $2, updated_at = $3 WHERE purchase_id = $4",
        )
        .bind(state)
        .bind(outcome_json)
        .bind(now_ms())
        .bind(purchase_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn set_receipt_roku_customer(
        &self,
        purchase_id: &str,
        rcid: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE receipts SET roku_customer_id = $1, updated_at = $2 WHERE purchase_id = $3",
        )
        .bind(rcid)
        .bind(now_ms())
        .bind(purchase_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    // === accounts ===

    /// Links a Roku customer to a provider customer; a later link for the same Roku customer
    /// replaces the earlier one (the customer signed in to another account on the device).
    pub async fn link_account(
        &self,
        rcid: &str,
        customer_id: &str,
        email: Option<&str>,
    ) -> Result<(), StoreError> {
        let now = now_ms();
        sqlx::query(
            "INSERT INTO accounts (roku_customer_id, customer_id, email, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $4)
             ON CONFLICT (roku_customer_id) DO UPDATE
               SET customer_id = excluded.customer_id,
                   email = COALESCE(excluded.email, accounts.email),
                   updated_at = excluded.updated_at",
        )
        .bind(rcid)
        .bind(customer_id)
        .bind(email.map(|e| e.trim().to_lowercase()))
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn account(&self, rcid: &str) -> Result<Option<Account>, StoreError> {
        let row = sqlx::query(
            "SELECT roku_customer_id, customer_id, email FROM accounts WHERE roku_customer_id = $1",
        )
        .bind(rcid)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(account_from).transpose()?)
    }

    // === pushes ===

    /// Stores a push, its deliveries and its subscription change in one transaction (one
    /// commit per push). `Ok(None)` means the message key was seen before: nothing is written,
    /// and the caller acknowledges without re-applying.
    pub async fn record_push(
        &self,
        push: &NewPush,
        deliveries: &[NewDelivery],
        subscription: Option<&Subscription>,
    ) -> Result<Option<i64>, StoreError> {
        let mut ids = self
            .record_pushes(&[(push, deliveries, subscription)])
            .await?;
        Ok(ids.pop().flatten())
    }

    /// Several pushes (each with its deliveries and subscription change) in one transaction:
    /// one commit for all. `None` in the answer marks a duplicate, which wrote nothing.
    pub async fn record_pushes(
        &self,
        pushes: &[(&NewPush, &[NewDelivery], Option<&Subscription>)],
    ) -> Result<Vec<Option<i64>>, StoreError> {
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        let mut ids = Vec::with_capacity(pushes.len());
        for (push, deliveries, subscription) in pushes {
            let inserted = sqlx::query(
                "INSERT INTO pushes (message_key, message_type, transaction_type, transaction_id,
                                     roku_customer_id, product_code, raw_jws, event_json, received_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
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
            .fetch_optional(&mut *tx)
            .await?;
            let Some(row) = inserted else {
                ids.push(None);
                continue;
            };
            let id: i64 = row.try_get("id")?;
            for d in deliveries.iter() {
                outbox::insert(&mut *tx, d, now).await?;
            }
            if let Some(sub) = subscription {
                upsert_subscription(&mut *tx, sub).await?;
            }
            ids.push(Some(id));
        }
        tx.commit().await?;
        Ok(ids)
    }

    pub async fn push_count(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM pushes")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("n")?)
    }

    // === subscriptions ===

    /// Applies a state change unless a later event for the same subscription is already
    /// recorded: Roku's replays arrive out of order, and an old Sale must not revive a cancel.
    pub async fn record_subscription(&self, s: &Subscription) -> Result<bool, StoreError> {
        upsert_subscription(&self.pool, s).await
    }

    pub async fn subscription(
        &self,
        rcid: &str,
        product_code: &str,
    ) -> Result<Option<Subscription>, StoreError> {
        let row = sqlx::query(
            "SELECT roku_customer_id, product_code, state, expires_at, cancelled_at,
                    last_transaction_id, last_event_at
             FROM subscriptions WHERE roku_customer_id = $1 AND product_code = $2",
        )
        .bind(rcid)
        .bind(product_code)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(subscription_from).transpose()?)
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }
}

async fn upsert_subscription<'e, E: sqlx::Executor<'e, Database = sqlx::Any>>(
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
    .bind(&s.state)
    .bind(s.expires_at)
    .bind(s.cancelled_at)
    .bind(&s.last_transaction_id)
    .bind(s.last_event_at)
    .bind(now_ms())
    .execute(executor)
    .await?;
    Ok(result.rows_affected() > 0)
}

pub(crate) fn account_from(r: &AnyRow) -> Result<Account, sqlx::Error> {
    Ok(Account {
        roku_customer_id: r.try_get("roku_customer_id")?,
        customer_id: r.try_get("customer_id")?,
        email: r.try_get("email")?,
    })
}

pub(crate) fn subscription_from(r: &AnyRow) -> Result<Subscription, sqlx::Error> {
    Ok(Subscription {
        roku_customer_id: r.try_get("roku_customer_id")?,
        product_code: r.try_get("product_code")?,
        state: r.try_get("state")?,
        expires_at: r.try_get("expires_at")?,
        cancelled_at: r.try_get("cancelled_at")?,
        last_transaction_id: r.try_get("last_transaction_id")?,
        last_event_at: r.try_get("last_event_at")?,
    })
}

fn receipt_from(r: &AnyRow) -> Result<StoredReceipt, StoreError> {
    Ok(StoredReceipt {
        purchase_id: r.try_get("purchase_id")?,
        customer_id: r.try_get("customer_id")?,
        forward_json: r.try_get("forward_json")?,
        roku_customer_id: r.try_get("roku_customer_id")?,
        state: r.try_get("state")?,
        outcome_json: r.try_get("outcome_json")?,
    })
}

/// `sqlite://data/bridge.db` → a URL sqlx opens read-write-create, with the folder made.
fn sqlite_url(rest: &str) -> Result<String, StoreError> {
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if path != ":memory:"
        && let Some(parent) = Path::new(path).parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent)
            .map_err(|e| StoreError::Config(format!("cannot create {}: {e}", parent.display())))?;
    }
    let query = if query.contains("mode=") {
        query.to_string()
    } else if query.is_empty() {
        "mode=rwc".to_string()
    } else {
        format!("{query}&mode=rwc")
    };
    Ok(format!("sqlite://{path}?{query}"))
}
