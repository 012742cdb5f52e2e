use std::{path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand};
use roku_bridge::{
    config::Config,
    demo,
    roku::isu::{self, ImportLine},
    store::{OutboxStatus, Store},
    telemetry,
};
use secrecy::ExposeSecret;

const DEFAULT_CONFIG: &str = "config/bridge.toml";

/// Every request allocates a little (headers, the body, the span); glibc's allocator spent a
/// tenth of the cached-lookup path in malloc, free and their locks. mimalloc's per-thread heaps
/// take that contention away.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    /// Inspect and redrive the deliveries owed to relay targets.
    Outbox {
        #[command(subcommand)]
        action: OutboxAction,
        #[arg(long, short, global = true, default_value = DEFAULT_CONFIG, env = "ROKU_BRIDGE_CONFIG")]
        config: PathBuf,
    },
    /// Instant Signup data.
    Isu {
        #[command(subcommand)]
        action: IsuAction,
        #[arg(long, short, global = true, default_value = DEFAULT_CONFIG, env = "ROKU_BRIDGE_CONFIG")]
        config: PathBuf,
    },
    /// Device sessions.
    Sessions {
        #[command(subcommand)]
        action: SessionsAction,
        #[arg(long, short, global = true, default_value = DEFAULT_CONFIG, env = "ROKU_BRIDGE_CONFIG")]
        config: PathBuf,
    },
}

#[derive(Subcommand)]
enum IsuAction {
    /// Mark a publisher's current subscribers so Instant Signup offers them nothing: FILE holds
    /// one email or SHA-512 hex hash per line (`-` reads standard input).
    ImportHashes { file: PathBuf },
}

#[derive(Subcommand)]
enum SessionsAction {
    /// Sign a customer out on every device: their refresh tokens stop working at once (access
    /// tokens run out within session.access_ttl).
    Revoke {
        #[arg(long)]
        customer: String,
    },
}

#[derive(Subcommand)]
enum OutboxAction {
    /// The newest deliveries, optionally of one status (pending, delivered, dead).
    List {
        #[arg(long)]
        status: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// Put a dead delivery (or all of them) back in the queue with a fresh retry window.
    Redrive {
        id: Option<i64>,
        #[arg(long, conflicts_with = "id")]
        all_dead: bool,
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
        Command::Outbox { action, config } => runtime.block_on(outbox(config, action)),
        Command::Isu { action, config } => runtime.block_on(isu(config, action)),
        Command::Sessions { action, config } => runtime.block_on(sessions(config, action)),
    }
}

/// The store the configuration names, for the operator commands.
async fn open_store(path: &std::path::Path) -> Result<Store, ExitCode> {
    let config = match Config::load_validated(path) {
        Ok((config, _)) => config,
        Err(e) => {
            eprintln!("roku-bridge: {e}");
            return Err(ExitCode::from(2));
        }
    };
    Store::connect(config.store.url.expose_secret())
        .await
        .map_err(|e| {
            eprintln!("roku-bridge: {e}");
            ExitCode::FAILURE
        })
}

async fn isu(path: PathBuf, action: IsuAction) -> ExitCode {
    let IsuAction::ImportHashes { file } = action;
    let text = if file.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin())
    } else {
        std::fs::read_to_string(&file)
    };
    let text = match text {
        Ok(t) => t,
        Err(e) => {
            eprintln!("roku-bridge: cannot read {}: {e}", file.display());
            return ExitCode::from(2);
        }
    };
    let (mut hashes, mut invalid) = (Vec::new(), Vec::new());
    for (n, line) in text.lines().enumerate() {
        match isu::parse_import_line(line) {
            ImportLine::Blank => {}
            ImportLine::Hash(h) => hashes.push(h),
            ImportLine::Invalid => invalid.push(n + 1),
        }
    }
    if !invalid.is_empty() {
        // Line numbers only: the lines are customers' emails or hashes.
        eprintln!(
            "roku-bridge: {} lines are neither an email nor a SHA-512 hex hash (lines {:?}{}); nothing imported",
            invalid.len(),
            &invalid[..invalid.len().min(20)],
            if invalid.len() > 20 { ", …" } else { "" }
        );
        return ExitCode::from(2);
    }
    let store = match open_store(&path).await {
        Ok(s) => s,
        Err(code) => return code,
    };
    let mut result = Ok(());
    for chunk in hashes.chunks(10_000) {
        result = store.import_subscriber_hashes(chunk).await;
        if result.is_err() {
            break;
        }
    }
    store.close().await;
    match result {
        Ok(()) => {
            println!("{} subscribers imported", hashes.len());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("roku-bridge: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn sessions(path: PathBuf, action: SessionsAction) -> ExitCode {
    let SessionsAction::Revoke { customer } = action;
    let store = match open_store(&path).await {
        Ok(s) => s,
        Err(code) => return code,
    };
    let result = store.revoke_refresh(&customer).await;
    store.close().await;
    match result {
        Ok(n) => {
            println!("{n} refresh tokens revoked for customer {customer}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("roku-bridge: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn outbox(path: PathBuf, action: OutboxAction) -> ExitCode {
    let store = match open_store(&path).await {
        Ok(s) => s,
        Err(code) => return code,
    };
    let result = match action {
        OutboxAction::List { status, limit } => {
            let status = match status.as_deref() {
                None => None,
                Some("pending") => Some(OutboxStatus::Pending),
                Some("delivered") => Some(OutboxStatus::Delivered),
                Some("dead") => Some(OutboxStatus::Dead),
                Some(other) => {
                    eprintln!("roku-bridge: unknown status {other:?} (pending, delivered, dead)");
                    return ExitCode::from(2);
                }
            };
            store.list_outbox(status, limit).await.map(|rows| {
                println!(
                    "{:>6}  {:<12} {:<8} {:<9} {:>8}  {:<20}  {:<20}  last error",
                    "id", "target", "kind", "status", "attempts", "created", "next attempt"
                );
                for r in rows {
                    println!(
                        "{:>6}  {:<12} {:<8} {:<9} {:>8}  {:<20}  {:<20}  {}",
                        r.id,
                        r.target,
                        r.kind,
                        r.status,
                        r.attempts,
                        ms_to_rfc3339(r.created_at),
                        if r.status == "pending" {
                            ms_to_rfc3339(r.next_attempt_at)
                        } else {
                            "-".into()
                        },
                        r.last_error.unwrap_or_default()
                    );
                }
            })
        }
        OutboxAction::Redrive { id, all_dead } => {
            if id.is_none() && !all_dead {
                eprintln!("roku-bridge: name a delivery id or --all-dead");
                return ExitCode::from(2);
            }
            store
                .redrive(id)
                .await
                .map(|n| println!("{n} deliveries back in the queue"))
        }
    };
    store.close().await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("roku-bridge: {e}");
            ExitCode::FAILURE
        }
    }
}

fn ms_to_rfc3339(ms: i64) -> String {
    roku_bridge::http::epoch_to_rfc3339(ms / 1000).unwrap_or_else(|| "-".into())
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
    let admin = match tokio::net::TcpListener::bind(config.admin.listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!(
                "roku-bridge: cannot listen on {} (admin.listen): {e}",
                config.admin.listen
            );
            return ExitCode::FAILURE;
        }
    };
    match roku_bridge::run_until(config, listener, Some(admin), shutdown_signal()).await {
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
                "{}: ok (provider {:?}, {} mapped products, rule {}, confirm_timeout {})",
                path.display(),
                config.provider.kind,
                map.len(),
                map.rule(),
                humantime::format_duration(config.payment.confirm_timeout),
            );
            println!("mapping rule {}", map.rule().explain());
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
