//! The storage matrix: every storage test runs on a fresh SQLite file and on a fresh
//! PostgreSQL database (`ROKU_BRIDGE_TEST_PG`, default the local server with trust auth).

use roku_bridge::store::Store;
use sqlx::Executor;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Keeps the SQLite folder alive for the test's duration.
pub struct StoreGuard {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
}

fn admin_url() -> String {
    std::env::var("ROKU_BRIDGE_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A store URL nobody else uses: a temp SQLite file, or a new PostgreSQL database.
pub async fn fresh_url(backend: Backend) -> StoreGuard {
    match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().unwrap();
            StoreGuard {
                url: format!("sqlite://{}/bridge.db", dir.path().display()),
                _dir: Some(dir),
            }
        }
        Backend::Postgres => {
            let admin = admin_url();
            let name = format!("rb_test_{}", uuid::Uuid::new_v4().simple());
            let pool = sqlx::PgPool::connect(&admin).await.unwrap_or_else(|e| {
                panic!("PostgreSQL for tests at {admin}: {e} (is it running?)")
            });
            pool.execute(format!("CREATE DATABASE {name}").as_str())
                .await
                .unwrap();
            pool.close().await;
            let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
            StoreGuard {
                url: format!("{base}/{name}"),
                _dir: None,
            }
        }
    }
}

pub async fn fresh_store(backend: Backend) -> (Store, StoreGuard) {
    let guard = fresh_url(backend).await;
    let store = Store::connect(&guard.url).await.unwrap();
    (store, guard)
}

/// Declares `name::sqlite` and `name::postgres` tests around `async fn body(Backend)`.
#[macro_export]
macro_rules! on_both_backends {
    ($name:ident, $body:path) => {
        mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                $body($crate::backend::Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                $body($crate::backend::Backend::Postgres).await
            }
        }
    };
}
