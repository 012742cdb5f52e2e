//! Durable state: SQLite by default (a file under `data/`), PostgreSQL when replicas share it.
//!
//! One SQL text serves both dialects wherever it can: sqlx's `Any` driver passes it through, and
//! SQLite reads `$1, $2…` as parameters too, as long as each first appears in order. The few
//! places the dialects differ (`FOR UPDATE SKIP LOCKED`) are spelled out where they occur.
//! Migrations live in `migrations/sqlite` and `migrations/postgres`, one twin file per step, and
//! are applied at start. Times are epoch milliseconds. One file per aggregate (receipts, accounts,
//! pushes, subscriptions, the outbox, …); persisted states are read into their enums here, and a
//! value the enum does not know is an error, never a silent default.

use std::{path::Path, time::Duration};

use sqlx::{AnyPool, Executor, any::AnyPoolOptions};

pub mod accounts;
pub mod batch;
pub mod console;
pub mod email_hashes;
pub mod notify;
pub mod outbox;
pub mod pushes;
pub mod receipts;
pub mod refresh_tokens;
pub mod subscriptions;

pub use accounts::Account;
pub use email_hashes::EmailHash;
pub use outbox::{DeliveryKind, NewDelivery, OutboxItem, OutboxRow, OutboxStatus};
pub use pushes::NewPush;
pub use receipts::StoredReceipt;

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

/// Now, as the store's BIGINT epoch milliseconds.
pub fn now_ms() -> i64 {
    crate::domain::time::EpochMs::now().0
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

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }
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
