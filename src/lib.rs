//! roku-bridge: the server between Roku channels, Roku Pay and a subscription provider.
//!
//! [`run`] serves the API on a listener the caller bound, so `main` and the integration tests
//! (which bind port 0) start the very same server.

use std::{future::Future, sync::Arc};

use anyhow::Context;
use secrecy::ExposeSecret;
use tokio::net::TcpListener;

pub mod config;
pub mod confirm;
pub mod demo;
pub mod effects;
pub mod entitlements;
pub mod http;
pub mod mapping;
pub mod provider;
pub mod relay;
pub mod roku;
pub mod session;
pub mod store;
pub mod telemetry;

use config::Config;

/// Builds the shared state from a configuration, validating it first and opening the store.
pub async fn build_state(config: Config) -> anyhow::Result<http::AppState> {
    let mapping = config.validate().map_err(|problems| config::ConfigError {
        source_name: "configuration".into(),
        problems,
    })?;
    let provider =
        provider::from_config(&config.provider).context("building the provider client")?;
    let store = store::Store::connect(config.store.url.expose_secret())
        .await
        .context("opening the store (store.url)")?;
    let relay = Arc::new(relay::Relay::new(&config, store.clone(), provider.clone())?);
    let key = match &config.session.signing_key {
        Some(key) => key.expose_secret().as_bytes().to_vec(),
        None => {
            tracing::warn!(
                "session.signing_key is not set: using a random key, so sessions end when the process does"
            );
            session::Sessions::random_key()
        }
    };
    let sessions =
        session::Sessions::new(&key, config.session.access_ttl, config.session.refresh_ttl);
    // Slightly over the provider's own timeout, so the client's error (which says why) wins.
    let fetch_timeout = config.provider.timeout + std::time::Duration::from_secs(1);
    let entitlements = Arc::new(entitlements::Entitlements::new(
        &config.entitlements,
        provider.clone(),
        fetch_timeout,
    ));
    let receipts = Arc::new(confirm::Receipts::new(
        store.clone(),
        provider.clone(),
        entitlements.clone(),
        relay.clone(),
        confirm::PollPolicy::from_config(&config.payment),
    ));
    let mapping = Arc::new(mapping);
    let effects = Arc::new(effects::Effects::new(
        store.clone(),
        entitlements.clone(),
        receipts.clone(),
        mapping.clone(),
    ));
    let push_verifier = Arc::new(roku::jws::PushVerifier::new(
        config.roku.jwks_url.clone(),
        config.roku.jwks_refetch_interval,
        config.roku.push_leeway,
        config.roku.timeout,
    )?);
    let roku = match &config.roku.api_key {
        Some(key) => Some(Arc::new(roku::client::RokuClient::new(
            &config.roku,
            key.clone(),
        )?)),
        None => None,
    };
    Ok(http::AppState {
        config: Arc::new(config),
        mapping,
        provider,
        sessions: Arc::new(sessions),
        entitlements,
        receipts,
        store,
        relay,
        effects,
        push_verifier,
        roku,
    })
}

/// Serves until the process ends. Tests spawn this on a `127.0.0.1:0` listener.
pub async fn run(config: Config, listener: TcpListener) -> anyhow::Result<()> {
    run_until(config, listener, std::future::pending()).await
}

/// Serves until `shutdown` completes, then finishes the requests in flight.
pub async fn run_until(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let state = build_state(config).await?;
    let policy = state.receipts.policy();
    tracing::info!(
        addr = %listener.local_addr()?,
        provider = state.provider.name(),
        products = state.mapping.len(),
        confirm_timeout = ?policy.timeout,
        max_polls_per_confirmation = policy.max_polls(),
        "roku-bridge listening"
    );
    // One signal stops both the server and the relay; the relay hands its leases back.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let relay = tokio::spawn(state.relay.clone().run(stopped(stop_rx.clone())));

    let app = http::router(state);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(stopped(stop_rx))
        .await
        .context("serving HTTP");
    let _ = relay.await;
    served
}
