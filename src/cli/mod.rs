//! The `roku-bridge` command line: the clap types, one module per command, and the one place
//! that turns a command's failure into a message and an exit code (2 for a configuration or
//! input the operator must fix, 1 for work that failed). `src/main.rs` only calls [`main`].

use std::{fmt, path::PathBuf, process::ExitCode};

use clap::{Args, FromArgMatches, Parser, Subcommand};

use crate::{config::ConfigError, store::Store};

mod check_config;
mod isu;
mod outbox;
mod serve;
mod sessions;

const DEFAULT_CONFIG: &str = "config/bridge.toml";

#[derive(Parser)]
#[command(
    name = "roku-bridge",
    version,
    about = "Roku Pay ↔ subscription provider bridge"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The configuration file of every command that runs on one (`--config`, `-c`, or
/// `ROKU_BRIDGE_CONFIG`). Global, so it may also follow an action: `outbox list --config …`.
#[derive(Args, Clone, Debug)]
pub struct ConfigFile {
    #[arg(long, short, global = true, default_value = DEFAULT_CONFIG, env = "ROKU_BRIDGE_CONFIG")]
    pub config: PathBuf,
}

impl ConfigFile {
    /// What the arguments would say if none were given: the environment, else the default.
    fn unspecified() -> Self {
        let command = Self::augment_args(clap::Command::new("roku-bridge"));
        let matches = command
            .try_get_matches_from(["roku-bridge"])
            .expect("--config has a default");
        Self::from_arg_matches(&matches).expect("--config has a default")
    }
}

#[derive(Subcommand)]
pub enum Command {
    /// Serve the API (the default command).
    Serve {
        #[command(flatten)]
        config: ConfigFile,
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
        #[command(flatten)]
        config: ConfigFile,
    },
    /// Instant Signup data.
    Isu {
        #[command(subcommand)]
        action: IsuAction,
        #[command(flatten)]
        config: ConfigFile,
    },
    /// Device sessions.
    Sessions {
        #[command(subcommand)]
        action: SessionsAction,
        #[command(flatten)]
        config: ConfigFile,
    },
}

#[derive(Subcommand)]
pub enum IsuAction {
    /// Mark a publisher's current subscribers so Instant Signup offers them nothing: FILE holds
    /// one email or SHA-512 hex hash per line (`-` reads standard input).
    ImportHashes { file: PathBuf },
}

#[derive(Subcommand)]
pub enum SessionsAction {
    /// Sign a customer out on every device: their refresh tokens stop working at once (access
    /// tokens run out within session.access_ttl).
    Revoke {
        #[arg(long)]
        customer: String,
    },
}

#[derive(Subcommand)]
pub enum OutboxAction {
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

/// Why a command failed; [`CliError::exit_code`] is the whole exit-code policy.
#[derive(Debug)]
pub enum CliError {
    /// The configuration does not load or validate.
    Config(ConfigError),
    /// Something else the operator gave is unusable: an argument, an input file.
    Input(String),
    /// The work itself failed: the store, a listener, the runtime.
    Failed(String),
    /// `check-config`'s verdict on a bad file: that report is the command's output.
    Rejected(ConfigError),
    /// The server stopped on an error once running, when logging is set up.
    Stopped(anyhow::Error),
    /// The command has told the operator already (the demo narrates its own failure).
    Reported,
}

impl CliError {
    pub fn failed(e: impl fmt::Display) -> Self {
        Self::Failed(e.to_string())
    }

    pub fn exit_code(&self) -> ExitCode {
        match self {
            Self::Config(_) | Self::Input(_) | Self::Rejected(_) => ExitCode::from(2),
            Self::Failed(_) | Self::Stopped(_) | Self::Reported => ExitCode::FAILURE,
        }
    }

    /// Tells the operator: on standard error, or in the log once the server has one.
    pub fn report(&self) {
        match self {
            Self::Config(e) => eprintln!("roku-bridge: {e}"),
            Self::Input(message) | Self::Failed(message) => eprintln!("roku-bridge: {message}"),
            Self::Rejected(e) => eprintln!("{e}"),
            Self::Stopped(e) => {
                tracing::error!(error = %format!("{e:#}"), "roku-bridge stopped");
            }
            Self::Reported => {}
        }
    }
}

/// Parses the command line, runs the command, and exits with its code.
pub fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            e.report();
            e.exit_code()
        }
    }
}

pub fn run(cli: Cli) -> Result<(), CliError> {
    let command = cli.command.unwrap_or_else(|| Command::Serve {
        config: ConfigFile::unspecified(),
    });
    let runtime = tokio::runtime::Runtime::new()
        .map_err(|e| CliError::Failed(format!("cannot start the async runtime: {e}")))?;
    match command {
        Command::Serve { config } => runtime.block_on(serve::run(&config.config)),
        Command::CheckConfig { path } => check_config::run(&path),
        Command::Demo { url } => runtime.block_on(demo(&url)),
        Command::Outbox { action, config } => runtime.block_on(outbox::run(&config.config, action)),
        Command::Isu { action, config } => runtime.block_on(isu::run(&config.config, action)),
        Command::Sessions { action, config } => {
            runtime.block_on(sessions::run(&config.config, action))
        }
    }
}

async fn demo(url: &str) -> Result<(), CliError> {
    if crate::demo::run(url).await == ExitCode::SUCCESS {
        Ok(())
    } else {
        Err(CliError::Reported)
    }
}

/// The store the configuration names, for the operator commands.
async fn open_store(path: &std::path::Path) -> Result<Store, CliError> {
    let (config, _) = crate::config::Config::load_validated(path).map_err(CliError::Config)?;
    use secrecy::ExposeSecret;
    Store::connect(config.store.url.expose_secret())
        .await
        .map_err(CliError::failed)
}
