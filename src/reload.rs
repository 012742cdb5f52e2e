//! Hot reload: the parts of the configuration an operator tunes while traffic flows — the
//! product mapping, the catalog, the Instant Signup content and the rate limits — are swapped
//! in whole, on SIGHUP or when the configuration files change, once the new files pass the same
//! validation as at start. A bad edit is refused with a log line and a metric, and the running
//! configuration stays. A request reads the live set once, when it starts, so it finishes on
//! the configuration it started with.
//!
//! Everything else (listen addresses, store, provider, keys, the Instant Signup paths Roku was
//! given) takes effect on restart; a reload that changes it says so.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, SystemTime},
};

use arc_swap::ArcSwap;

use crate::{
    config::{CATALOG_FILE, Config, ConfigError, IsuConfig},
    domain::catalog::Catalog,
    domain::mapping::ProductMap,
    limits::Limits,
};

/// What a reload replaces.
pub struct Live {
    pub mapping: ProductMap,
    pub catalog: Catalog,
    pub isu: IsuConfig,
    pub limits: Limits,
}

pub type LiveConfig = Arc<ArcSwap<Live>>;

/// The latest reload attempt and what became of it: the console shows it, since a refused
/// edit otherwise leaves only a log line and a counter behind.
#[derive(Debug, Clone)]
pub struct ReloadReport {
    pub at: crate::domain::time::EpochMs,
    pub trigger: &'static str,
    /// `Err` holds the problems, as `check-config` would print them.
    pub result: Result<(), String>,
}

pub type ReloadLog = Arc<std::sync::Mutex<Option<ReloadReport>>>;

impl Live {
    /// From a configuration that passed `Config::validate` (which returned `mapping`).
    pub fn new(config: &Config, mapping: ProductMap) -> Result<Self, ConfigError> {
        let catalog =
            Catalog::from_config(config.catalog.clone()).map_err(|errors| ConfigError {
                source_name: "catalog".into(),
                problems: errors
                    .into_iter()
                    .map(|e| (format!("catalog ({})", e.rule()), e.to_string()))
                    .collect(),
            })?;
        Ok(Self {
            mapping,
            catalog,
            isu: config.isu.clone(),
            limits: Limits::new(&config.limits),
        })
    }
}

/// Loads and validates `path` again and swaps the live set; the running one stays on error.
pub fn reload(path: &Path, live: &LiveConfig, running: &Config) -> Result<(), ConfigError> {
    let (config, mapping) = Config::load_validated(path)?;
    let next = Live::new(&config, mapping)?;
    if config.isu.app_name.is_empty() != running.isu.app_name.is_empty()
        || config.isu.images_path != running.isu.images_path
        || config.isu.products_path != running.isu.products_path
    {
        tracing::warn!(
            "Instant Signup paths or their mounting changed: that takes a restart; content reloaded"
        );
    }
    live.store(Arc::new(next));
    Ok(())
}

/// Runs [`Limits::shrink`] on the live limits every `every` until `shutdown` resolves (or the
/// live set is dropped). It sits here, not with the limiters, because it follows whichever
/// limits the latest reload installed.
pub async fn limits_housekeeping_until(
    live: &LiveConfig,
    every: Duration,
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    let weak = Arc::downgrade(live);
    let mut tick = tokio::time::interval(every);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            _ = tick.tick() => {}
        }
        match weak.upgrade() {
            Some(live) => live.load().limits.shrink(),
            None => break,
        }
    }
}

/// Reloads on SIGHUP and whenever the configuration file (or `catalog.toml` beside it)
/// changes, until `shutdown` resolves. Files are polled, which also sees Kubernetes' ConfigMap
/// symlink swaps.
pub async fn watch_until(
    path: PathBuf,
    live: LiveConfig,
    running: Arc<Config>,
    poll: Duration,
    log: ReloadLog,
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    #[cfg(unix)]
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    let mut seen = stamp(&path);
    let mut tick = tokio::time::interval(poll);
    tick.tick().await;
    loop {
        #[cfg(unix)]
        let signalled = async {
            match hangup.as_mut() {
                Some(s) => {
                    s.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let signalled = std::future::pending::<()>();
        let trigger = tokio::select! {
            _ = &mut shutdown => return,
            _ = signalled => "SIGHUP",
            _ = tick.tick() => {
                let now = stamp(&path);
                if now == seen { continue; }
                seen = now;
                "file change"
            }
        };
        let outcome = reload(&path, &live, &running);
        if let Ok(mut last) = log.lock() {
            *last = Some(ReloadReport {
                at: crate::domain::time::EpochMs::now(),
                trigger,
                result: outcome.as_ref().map(|_| ()).map_err(|e| e.to_string()),
            });
        }
        match outcome {
            Ok(()) => {
                metrics::counter!("roku_bridge_config_reloads_total", "outcome" => "applied")
                    .increment(1);
                tracing::info!(trigger, "configuration reloaded");
            }
            Err(e) => {
                metrics::counter!("roku_bridge_config_reloads_total", "outcome" => "rejected")
                    .increment(1);
                tracing::error!(trigger, error = %e, "configuration reload refused; the running configuration stays");
            }
        }
    }
}

/// Modification times (and sizes) of the files a reload reads.
fn stamp(path: &Path) -> Vec<Option<(SystemTime, u64)>> {
    [path.to_path_buf(), path.with_file_name(CATALOG_FILE)]
        .iter()
        .map(|p| {
            std::fs::metadata(p)
                .ok()
                .and_then(|m| Some((m.modified().ok()?, m.len())))
        })
        .collect()
}
