//! roku-bridge: the server between Roku channels, Roku Pay and a subscription provider.
//!
//! [`run`] serves the API on a listener the caller bound, so `main` and the integration tests
//! (which bind port 0) start the very same server.

use std::{future::Future, sync::Arc};

use anyhow::Context;
use secrecy::ExposeSecret;
use tokio::net::TcpListener;

pub mod admin;
pub mod catalog;
pub mod cli;
pub mod config;
pub mod confirm;
pub mod demo;
pub mod effects;
pub mod entitlements;
pub mod http;
pub mod limits;
pub mod mapping;
pub mod provider;
pub mod relay;
pub mod reload;
pub mod replicas;
pub mod roku;
pub mod session;
pub mod store;
pub mod telemetry;
pub mod wire;

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
    if store.dialect() == store::Dialect::Postgres {
        replicas::spawn_listener(
            config.store.url.expose_secret().to_string(),
            entitlements.clone(),
        );
    }
    let receipts = Arc::new(confirm::Receipts::new(
        store.clone(),
        provider.clone(),
        entitlements.clone(),
        relay.clone(),
        confirm::PollPolicy::from_config(&config.payment),
    ));
    let live: reload::LiveConfig = Arc::new(arc_swap::ArcSwap::from_pointee(reload::Live::new(
        &config, mapping,
    )?));
    reload::spawn_limits_housekeeping(&live, config.limits.retain_interval);
    let effects = Arc::new(effects::Effects::new(
        store.clone(),
        entitlements.clone(),
        receipts.clone(),
        live.clone(),
        relay.clone(),
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
    let writers = match store.dialect() {
        store::Dialect::Sqlite => 1,
        store::Dialect::Postgres => 4,
    };
    let pushes = store::batch::PushWriter::spawn(store.clone(), writers);
    Ok(http::AppState::new(http::Shared {
        pushes,
        config: Arc::new(config),
        live,
        provider,
        sessions: Arc::new(sessions),
        entitlements,
        receipts,
        store,
        relay,
        effects,
        push_verifier,
        roku,
    }))
}

/// Serves until the process ends. Tests spawn this on a `127.0.0.1:0` listener.
pub async fn run(config: Config, listener: TcpListener) -> anyhow::Result<()> {
    run_until(config, listener, None, std::future::pending()).await
}

/// Serves the API (and the admin endpoints, given their listener) until `shutdown` completes,
/// then drains: readiness turns false, `server.drain_delay` later the listener stops accepting,
/// and requests in flight get `server.shutdown_grace` to finish while the relay hands back its
/// leases.
pub async fn run_until(
    config: Config,
    listener: TcpListener,
    admin: Option<TcpListener>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    admin::prometheus();
    let drain_delay = config.server.drain_delay;
    let grace = config.server.shutdown_grace;
    let state = build_state(config).await?;
    let policy = state.receipts.policy();
    let admin_addr = admin.as_ref().and_then(|l| l.local_addr().ok());
    tracing::info!(
        addr = %listener.local_addr()?,
        admin_addr = admin_addr.map(|a| a.to_string()),
        provider = state.provider.name(),
        products = state.live.load().mapping.len(),
        confirm_timeout = ?policy.timeout,
        max_polls_per_confirmation = policy.max_polls(),
        "roku-bridge listening"
    );
    if let Some(path) = state.config.source.clone() {
        reload::spawn_watcher(
            path,
            state.live.clone(),
            state.config.clone(),
            std::time::Duration::from_secs(2),
        );
    }
    let draining = Arc::new(std::sync::atomic::AtomicBool::new(false));
    // One signal stops both the server and the relay; the relay hands its leases back.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let relay = tokio::spawn(state.relay.clone().run(stopped(stop_rx.clone())));
    if let Some(admin) = admin {
        let health = admin::Health {
            store: state.store.clone(),
            provider: state.provider.clone(),
            entitlements: state.entitlements.clone(),
            draining: draining.clone(),
        };
        // The admin listener outlives the drain: probes keep getting answers until exit.
        tokio::spawn(async move {
            if let Err(e) = axum::serve(admin, admin::router(health)).await {
                tracing::error!(error = %e, "admin listener stopped");
            }
        });
    }

    let app = http::router(state);
    {
        let draining = draining.clone();
        tokio::spawn(async move {
            shutdown.await;
            draining.store(true, std::sync::atomic::Ordering::Relaxed);
            tokio::time::sleep(drain_delay).await;
            let _ = stop_tx.send(true);
        });
    }
    let serve = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(stopped(stop_rx.clone()));
    let served = async { serve.await.context("serving HTTP") };
    tokio::pin!(served);
    // Past the grace period after the stop, whatever is still in flight is cut off.
    let deadline = async {
        stopped(stop_rx).await;
        tokio::time::sleep(grace).await;
    };
    let result = tokio::select! {
        r = &mut served => r,
        _ = deadline => {
            tracing::warn!(grace = ?grace, "shutdown grace period over: dropping requests in flight");
            Ok(())
        }
    };
    let _ = tokio::time::timeout(grace, relay).await;
    result
}
