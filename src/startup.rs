//! The composition root: builds every service from the configuration, wires them together, and
//! runs the server and the background tasks until one shutdown signal stops them all.
//!
//! Construction order follows the dependencies, which only point one way: store and adapters
//! first, then the outbox (so services can enqueue), then the services, then the outbox
//! worker's handler (the services), then HTTP on top.

use std::{future::Future, sync::Arc, time::Duration};

use anyhow::Context;
use secrecy::ExposeSecret;
use tokio::{net::TcpListener, sync::watch};

use crate::{
    admin,
    config::{Config, Environment},
    http, outbox, provider, reload,
    roku::{client::RokuClient, jws::PushVerifier},
    services::{
        Deliveries,
        entitlements::Entitlements,
        holdings::Holdings,
        payments::{Payments, PollPolicy},
        pushes::Pushes,
        replicas,
        sessions::SignIn,
        signup::Signup,
    },
    session::Sessions,
    store::{self, Store, batch::PushWriter},
};

/// Test hook (see `outbox::Worker`): milliseconds the outbox worker waits before its first look.
const START_DELAY_ENV: &str = "ROKU_BRIDGE_TEST_RELAY_START_DELAY_MS";

/// A stop signal every background task listens to.
#[derive(Clone)]
pub struct Shutdown(watch::Receiver<bool>);

impl Shutdown {
    pub fn channel() -> (watch::Sender<bool>, Self) {
        let (tx, rx) = watch::channel(false);
        (tx, Self(rx))
    }

    pub async fn wait(mut self) {
        let _ = self.0.wait_for(|stop| *stop).await;
    }
}

/// Everything the process runs: the HTTP state and what runs beside it.
pub struct App {
    pub state: http::AppState,
    pub store: Store,
    pub provider: Arc<dyn provider::Provider>,
    pub worker: Arc<outbox::Worker>,
    /// The PostgreSQL URL replicas announce cache invalidations on, when there is one.
    replica_url: Option<String>,
}

/// Builds the services from a configuration, validating it first and opening the store.
pub async fn build(config: Config) -> anyhow::Result<App> {
    let mapping = config
        .validate()
        .map_err(|problems| crate::config::ConfigError {
            source_name: "configuration".into(),
            problems,
        })?;
    let provider =
        provider::from_config(&config.provider).context("building the provider client")?;
    let store = Store::connect(config.store.url.expose_secret())
        .await
        .context("opening the store (store.url)")?;
    let key = match &config.session.signing_key {
        Some(key) => key.expose_secret().as_bytes().to_vec(),
        None => {
            tracing::warn!(
                "session.signing_key is not set: using a random key, so sessions end when the process does"
            );
            Sessions::random_key()
        }
    };
    let tokens = Arc::new(Sessions::new(
        &key,
        config.session.access_ttl,
        config.session.refresh_ttl,
    ));
    // Slightly over the provider's own timeout, so the client's error (which says why) wins.
    let fetch_timeout = config.provider.timeout + Duration::from_secs(1);
    let entitlements = Arc::new(Entitlements::new(
        &config.entitlements,
        provider.clone(),
        fetch_timeout,
    ));
    let live: reload::LiveConfig = Arc::new(arc_swap::ArcSwap::from_pointee(reload::Live::new(
        &config, mapping,
    )?));
    let roku = match &config.roku.api_key {
        Some(key) => Some(Arc::new(RokuClient::new(&config.roku, key.clone())?)),
        None => None,
    };
    let verifier = Arc::new(
        PushVerifier::new(
            config.roku.jwks_url.clone(),
            config.roku.jwks_refetch_interval,
            config.roku.push_leeway,
            config.roku.timeout,
        )?
        .with_test_keys(config.roku.test_jwks_url.clone()),
    );

    let outbox = Arc::new(outbox::Outbox::new(
        store.clone(),
        config.relay.events_url.is_some(),
    ));
    let start_delay = std::env::var(START_DELAY_ENV)
        .ok()
        .and_then(|v| v.parse().ok())
        .map(Duration::from_millis)
        .unwrap_or_default();
    let worker = Arc::new(outbox::Worker::new(
        store.clone(),
        outbox::targets::HttpTargets::new(&config)?,
        config.relay.clone(),
        outbox.wake_handle(),
        start_delay,
    ));

    let payments = Arc::new(Payments {
        live: Default::default(),
        store: store.clone(),
        provider: provider.clone(),
        entitlements: entitlements.clone(),
        outbox: outbox.clone(),
        catalog: live.clone(),
        roku: roku.clone(),
        validate_receipts: config.roku.validate_receipts,
        policy: PollPolicy::from_config(&config.payment),
        owner: format!("replica-{}", uuid::Uuid::new_v4().simple()),
    });
    let writers = match store.dialect() {
        store::Dialect::Sqlite => 1,
        store::Dialect::Postgres => 4,
    };
    // A test push reaching a production provider could grant or revoke real access.
    let relay_test_pushes = config.provider.environment == Environment::Sandbox;
    let pushes = Arc::new(Pushes {
        verifier,
        writer: PushWriter::spawn(store.clone(), writers),
        store: store.clone(),
        outbox: outbox.clone(),
        payments: payments.clone(),
        entitlements: entitlements.clone(),
        live: live.clone(),
        push_targets: worker.push_target_names(),
        relay_test_pushes,
    });
    let signup = Arc::new(Signup::new(store.clone(), provider.clone(), outbox.clone()));
    worker.set_handler(Arc::new(Deliveries {
        payments: payments.clone(),
        pushes: pushes.clone(),
        signup: signup.clone(),
    }));
    let sign_in = Arc::new(SignIn::new(
        tokens.clone(),
        store.clone(),
        provider.clone(),
        roku,
        worker.clone(),
        entitlements.clone(),
    ));
    let holdings = Arc::new(Holdings::new(store.clone(), live.clone()));
    let replica_url = (store.dialect() == store::Dialect::Postgres)
        .then(|| config.store.url.expose_secret().to_string());
    let admission = Arc::new(crate::limits::Admission::new(
        config.server.max_concurrency,
        config.server.roku_reserved_concurrency,
    ));
    let state = http::AppState::new(http::Shared {
        admission,
        config: Arc::new(config),
        live,
        sessions: tokens,
        sign_in,
        payments,
        pushes,
        signup,
        holdings,
        entitlements,
    });
    Ok(App {
        state,
        store,
        provider,
        worker,
        replica_url,
    })
}

/// Serves the API (and the admin endpoints, given their listener) until `shutdown` completes,
/// then drains: readiness turns false, `server.drain_delay` later the listener stops accepting,
/// and requests in flight get `server.shutdown_grace` to finish while the outbox worker hands
/// back its leases. Every background task stops on the same signal.
pub async fn run_until(
    config: Config,
    listener: TcpListener,
    admin_listener: Option<TcpListener>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    admin::prometheus();
    let drain_delay = config.server.drain_delay;
    let grace = config.server.shutdown_grace;
    let App {
        state,
        store,
        provider,
        worker,
        replica_url,
    } = build(config).await?;
    let policy = state.payments.policy();
    register_metric_families(&state, provider.name(), &worker);
    let admin_addr = admin_listener.as_ref().and_then(|l| l.local_addr().ok());
    tracing::info!(
        addr = %listener.local_addr()?,
        admin_addr = admin_addr.map(|a| a.to_string()),
        provider = provider.name(),
        products = state.live.load().mapping.len(),
        confirm_timeout = ?policy.timeout,
        max_polls_per_confirmation = policy.max_polls(),
        "roku-bridge listening"
    );
    let (stop, stopped) = Shutdown::channel();
    let mut tasks = tokio::task::JoinSet::new();
    let reloads = reload::ReloadLog::default();
    if let Some(path) = state.config.source.clone() {
        tasks.spawn(reload::watch_until(
            path,
            state.live.clone(),
            state.config.clone(),
            Duration::from_secs(2),
            reloads.clone(),
            stopped.clone().wait(),
        ));
    }
    {
        let live = state.live.clone();
        let every = state.config.limits.retain_interval;
        let stopped = stopped.clone();
        tasks.spawn(async move {
            reload::limits_housekeeping_until(&live, every, stopped.wait()).await;
        });
    }
    if let Some(url) = replica_url {
        tasks.spawn(replicas::listen_until(
            url,
            state.entitlements.clone(),
            stopped.clone().wait(),
        ));
    }
    let wake = worker.wake_handle();
    let relay = tokio::spawn(worker.run(stopped.clone().wait()));
    let draining = Arc::new(std::sync::atomic::AtomicBool::new(false));
    if let Some(admin_listener) = admin_listener {
        let console = state
            .config
            .admin
            .console_token
            .clone()
            .map(|token| crate::console::Deps {
                token,
                store: store.clone(),
                provider: provider.name(),
                config: state.config.clone(),
                live: state.live.clone(),
                reloads,
                draining: draining.clone(),
                wake,
            });
        let health = admin::Health {
            store,
            provider,
            entitlements: state.entitlements.clone(),
            draining: draining.clone(),
        };
        // The admin listener outlives the drain: probes keep getting answers until exit.
        tokio::spawn(async move {
            if let Err(e) = axum::serve(admin_listener, admin::router(health, console)).await {
                tracing::error!(error = %e, "admin listener stopped");
            }
        });
    }

    let connections = crate::serve::ConnectionLimits {
        header_read_timeout: state.config.server.header_read_timeout,
        max_per_source: state.config.server.max_connections_per_source,
        trusted: state.config.limits.trusted_proxies.clone(),
    };
    let app = http::router(state);
    {
        let draining = draining.clone();
        tokio::spawn(async move {
            shutdown.await;
            draining.store(true, std::sync::atomic::Ordering::Relaxed);
            tokio::time::sleep(drain_delay).await;
            let _ = stop.send(true);
        });
    }
    let serve = crate::serve::serve(listener, app, connections, stopped.clone().wait());
    let served = async { serve.await.context("serving HTTP") };
    tokio::pin!(served);
    // Past the grace period after the stop, whatever is still in flight is cut off.
    let deadline = async {
        stopped.wait().await;
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
    tasks.abort_all();
    result
}

/// Every metric family at zero for what is known now: the routes, the provider, the targets.
fn register_metric_families(
    state: &http::AppState,
    provider: &'static str,
    worker: &outbox::Worker,
) {
    use crate::config::{ACCOUNTS_TARGET, EVENTS_TARGET, FOLLOW_UPS_TARGET, PROVIDER_TARGET};
    let mut targets = worker.push_target_names();
    targets.extend([PROVIDER_TARGET, ACCOUNTS_TARGET, FOLLOW_UPS_TARGET].map(String::from));
    if state.config.relay.events_url.is_some() {
        targets.push(EVENTS_TARGET.to_string());
    }
    targets.sort();
    targets.dedup();
    crate::metric_families::register(&crate::metric_families::Known {
        provider,
        routes: &http::operations(&state.config),
        targets: &targets,
    });
}
