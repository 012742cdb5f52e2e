//! Loading: figment layers, lowest first — the shipped `config/bridge.toml` (embedded, so its
//! values are the defaults of every configuration, wherever the binary runs), the operator's
//! file (and `catalog.toml` beside it), then `ROKU_BRIDGE__SECTION__KEY` environment variables.
//! Unknown keys and wrong types fail here, naming the key and where its value came from,
//! without ever echoing a secret.

use std::{fmt, path::Path, sync::LazyLock};

use figment::{
    Figment, Profile, Provider,
    providers::{Env, Format, Serialized, Toml},
    value::{Dict, Value},
};
use secrecy::SecretString;

use super::{CATALOG_FILE, Config};
use crate::domain::mapping::ProductMap;

/// Prefix of the environment variables that override the file (`__` separates the levels).
pub const ENV_PREFIX: &str = "ROKU_BRIDGE__";

/// The shipped configuration: the reference for every key and the source of every default.
pub(super) const SHIPPED: &str = include_str!("../../config/bridge.toml");

/// Keys the shipped file sets so that it runs a demo out of the box, which are not defaults:
/// a sample product table and an offer for the simulator to refuse. A configuration that
/// leaves them out has none (an operator's product table must not gain the demo's products).
pub(super) const SAMPLES: [&[&str]; 2] = [
    &["mapping", "products"],
    &["provider", "simulator", "reject_offers"],
];

/// The defaults layer: the shipped file without its samples, parsed once.
static DEFAULTS: LazyLock<Dict> = LazyLock::new(|| {
    let mut dict = Toml::string(SHIPPED)
        .data()
        .ok()
        .and_then(|mut profiles| profiles.remove(&Profile::Default))
        .expect("the embedded config/bridge.toml is valid TOML");
    for path in SAMPLES {
        let (last, parents) = path.split_last().expect("sample paths are not empty");
        let mut table = &mut dict;
        for key in parents {
            match table.get_mut(*key) {
                Some(Value::Dict(_, inner)) => table = inner,
                _ => panic!("config/bridge.toml has no [{}]", parents.join(".")),
            }
        }
        table.remove(*last);
    }
    dict
});

static DEFAULT_CONFIG: LazyLock<Config> = LazyLock::new(|| {
    Figment::from(defaults())
        .extract()
        .unwrap_or_else(|e| panic!("the embedded config/bridge.toml does not load: {e}"))
});

fn defaults() -> Serialized<Dict> {
    Serialized::defaults(DEFAULTS.clone())
}

/// Everything wrong with a configuration, each problem naming the key.
#[derive(Debug)]
pub struct ConfigError {
    pub source_name: String,
    pub problems: Vec<(String, String)>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid configuration in {}", self.source_name)?;
        for (key, reason) in &self.problems {
            write!(f, "\n  {key}: {reason}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// What a configuration that sets nothing holds: the shipped file's values.
    pub fn defaults() -> &'static Config {
        &DEFAULT_CONFIG
    }

    /// Reads `path` and overlays `ROKU_BRIDGE__*` from the process environment.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let mut config: Self = Self::figment(path)
            .merge(Env::prefixed(ENV_PREFIX).split("__"))
            .extract()
            .map_err(|e| from_figment(path, e))?;
        config.source = Some(path.to_path_buf());
        Ok(config)
    }

    /// Reads `path` alone, ignoring the environment: for tests and tools that must not inherit it.
    pub fn load_file_only(path: &Path) -> Result<Self, ConfigError> {
        Self::figment(path)
            .extract()
            .map_err(|e| from_figment(path, e))
    }

    /// Parses TOML text: the defaults of every omitted key apply.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        Self::from_toml_layers(&[text])
    }

    /// Several TOML texts, each overriding the keys it sets in the ones before it.
    pub fn from_toml_layers(layers: &[&str]) -> Result<Self, ConfigError> {
        layers
            .iter()
            .fold(Figment::from(defaults()), |f, text| {
                f.merge(Toml::string(text))
            })
            .extract()
            .map_err(|e| from_figment(Path::new("<inline>"), e))
    }

    /// The file, and `catalog.toml` beside it when there is one: a channel's catalog is long
    /// and changes on its own schedule, so it may live in its own file (a `[catalog]` section).
    fn figment(path: &Path) -> Figment {
        let figment = Figment::from(defaults()).merge(Toml::file_exact(path));
        let catalog = path.with_file_name(CATALOG_FILE);
        if catalog.is_file() && catalog != path {
            figment.merge(Toml::file_exact(catalog))
        } else {
            figment
        }
    }

    /// Loads and validates; the single entry point of `serve` and `check-config`.
    pub fn load_validated(path: &Path) -> Result<(Self, ProductMap), ConfigError> {
        let config = Self::load(path)?;
        let map = config.validate().map_err(|problems| ConfigError {
            source_name: path.display().to_string(),
            problems,
        })?;
        Ok((config, map))
    }
}

/// Whether a key, by its last segment, holds a secret.
pub(super) fn is_secret_key(key: &str) -> bool {
    ["token", "key", "password", "secret"]
        .iter()
        .any(|word| key.rsplit('.').next().unwrap_or(key).contains(word))
}

pub(super) fn secret_is_empty(secret: &Option<SecretString>) -> bool {
    use secrecy::ExposeSecret;
    secret
        .as_ref()
        .map(|s| s.expose_secret().is_empty())
        .unwrap_or(true)
}

/// figment names the key and the file in its errors; we keep one problem per line. Values are
/// never echoed by figment's messages for string keys, so a mistyped secret cannot leak here.
fn from_figment(path: &Path, err: figment::Error) -> ConfigError {
    let problems = err
        .into_iter()
        .map(|e| {
            let key = if e.path.is_empty() {
                "(file)".to_string()
            } else {
                e.path.join(".")
            };
            let origin = e
                .metadata
                .as_ref()
                .map(|m| m.name.to_string())
                .unwrap_or_default();
            let reason = if is_secret_key(&key) {
                // Type errors quote the value; for a secret that would print it.
                "invalid value (not shown: this key holds a secret); expected a string".to_string()
            } else {
                match &e.kind {
                    figment::error::Kind::Message(m) => m.clone(),
                    kind => kind.to_string(),
                }
            };
            let reason = if origin.is_empty() {
                reason
            } else {
                format!("{reason} (from {origin})")
            };
            (key, reason)
        })
        .collect();
    ConfigError {
        source_name: path.display().to_string(),
        problems,
    }
}
