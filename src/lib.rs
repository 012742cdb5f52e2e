//! roku-bridge: the server between Roku channels, Roku Pay and a subscription provider.
//!
//! Data flows one way: `http` → `services` → (`domain`, `store`, `provider`, `roku`,
//! `outbox`); `domain` is pure. [`run`] serves the API on a listener the caller bound, so `main`
//! and the integration tests (which bind port 0) start the very same server.

use std::future::Future;

use tokio::net::TcpListener;

pub mod admin;
pub mod bounded_cache;
pub mod cli;
pub mod config;
pub mod console;
pub mod demo;
pub mod domain;
pub mod http;
pub mod limits;
pub mod metric_families;
pub mod outbound;
pub mod outbox;
pub mod provider;
pub mod reload;
pub mod roku;
pub mod serve;
pub mod services;
pub mod session;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod wire;

use config::Config;

/// Serves until the process ends. Tests spawn this on a `127.0.0.1:0` listener.
pub async fn run(config: Config, listener: TcpListener) -> anyhow::Result<()> {
    run_until(config, listener, None, std::future::pending()).await
}

/// See [`startup::run_until`].
pub async fn run_until(
    config: Config,
    listener: TcpListener,
    admin: Option<TcpListener>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    startup::run_until(config, listener, admin, shutdown).await
}
