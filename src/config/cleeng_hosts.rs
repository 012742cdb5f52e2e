//! Cleeng's hosts per environment, as Cleeng documents them. `[provider]` may override any
//! one of them (a proxy, a test double); `ProviderConfig::cleeng_urls` applies the overrides.

use serde::Deserialize;

/// Which of Cleeng's deployments the bridge talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Environment {
    Sandbox,
    Production,
}

/// The base URL of each Cleeng API the bridge calls, without a trailing `/`.
pub struct CleengUrls {
    pub receipt: String,
    pub core: String,
    pub mediastore: String,
    pub push: String,
}

impl Environment {
    /// Receipt, core, MediaStore and push hosts.
    pub(super) fn cleeng_hosts(self) -> [&'static str; 4] {
        match self {
            Environment::Sandbox => [
                "https://api.sandbox.cleeng.com",
                "https://api.sandbox.cleeng.com",
                "https://mediastoreapi-sandbox.cleeng.com",
                "https://sandbox.cleeng.com",
            ],
            Environment::Production => [
                "https://api.cleeng.com",
                "https://api.cleeng.com",
                "https://mediastoreapi.cleeng.com",
                "https://cleeng.com",
            ],
        }
    }
}
