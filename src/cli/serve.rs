//! `roku-bridge serve`: bind the API and admin listeners the configuration names and run the
//! bridge until SIGTERM or Ctrl-C.

use std::path::Path;

use super::CliError;
use crate::{config::Config, telemetry};

pub async fn run(path: &Path) -> Result<(), CliError> {
    telemetry::init();
    let (config, _) = Config::load_validated(path).map_err(CliError::Config)?;
    let listener = tokio::net::TcpListener::bind(config.server.listen)
        .await
        .map_err(|e| CliError::Failed(format!("cannot listen on {}: {e}", config.server.listen)))?;
    let admin = tokio::net::TcpListener::bind(config.admin.listen)
        .await
        .map_err(|e| {
            CliError::Failed(format!(
                "cannot listen on {} (admin.listen): {e}",
                config.admin.listen
            ))
        })?;
    crate::run_until(config, listener, Some(admin), shutdown_signal())
        .await
        .map_err(CliError::Stopped)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}
