use std::{path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand};
use roku_bridge::{config::Config, demo, telemetry};

const DEFAULT_CONFIG: &str = "config/bridge.toml";

#[derive(Parser)]
#[command(
    name = "roku-bridge",
    version,
    about = "Roku Pay ↔ subscription provider bridge"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (the default command).
    Serve {
        #[arg(long, short, default_value = DEFAULT_CONFIG, env = "ROKU_BRIDGE_CONFIG")]
        config: PathBuf,
    },
    /// Validate a configuration file (and the ROKU_BRIDGE__* environment) without serving.
    CheckConfig {
        #[arg(default_value = DEFAULT_CONFIG)]
        path: PathBuf,
    },
    /// Walk a customer through register → payment → entitlement against a running bridge.
    Demo {
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        url: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::Serve {
        config: std::env::var_os("ROKU_BRIDGE_CONFIG")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG)),
    });
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("roku-bridge: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match command {
        Command::Serve { config } => runtime.block_on(serve(config)),
        Command::CheckConfig { path } => check_config(&path),
        Command::Demo { url } => runtime.block_on(demo::run(&url)),
    }
}

async fn serve(path: PathBuf) -> ExitCode {
    telemetry::init();
    let config = match Config::load_validated(&path) {
        Ok((config, _)) => config,
        Err(e) => {
            eprintln!("roku-bridge: {e}");
            return ExitCode::from(2);
        }
    };
    let listener = match tokio::net::TcpListener::bind(config.server.listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!(
                "roku-bridge: cannot listen on {}: {e}",
                config.server.listen
            );
            return ExitCode::FAILURE;
        }
    };
    match roku_bridge::run_until(config, listener, shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "roku-bridge stopped");
            ExitCode::FAILURE
        }
    }
}

fn check_config(path: &std::path::Path) -> ExitCode {
    match Config::load_validated(path) {
        Ok((config, map)) => {
            println!(
                "{}: ok (provider {:?}, {} mapped products, rule {:?}, confirm_timeout {})",
                path.display(),
                config.provider.kind,
                map.len(),
                map.rule(),
                humantime::format_duration(config.payment.confirm_timeout),
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(2)
        }
    }
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
