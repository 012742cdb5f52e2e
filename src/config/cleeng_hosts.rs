//! Cleeng's hosts per environment, as Cleeng documents them; any one can be overridden in
//! `[provider]` to point at a proxy or a test double.

use super::{Environment, ProviderConfig};

pub struct CleengUrls {
    pub receipt: String,
    pub core: String,
    pub mediastore: String,
    pub push: String,
}

impl ProviderConfig {
    pub fn cleeng_urls(&self) -> CleengUrls {
        let (receipt, core, mediastore, push) = match self.environment {
            Environment::Sandbox => (
                "https://api.sandbox.cleeng.com",
                "https://api.sandbox.cleeng.com",
                "https://mediastoreapi-sandbox.cleeng.com",
                "https://sandbox.cleeng.com",
            ),
            Environment::Production => (
                "https://api.cleeng.com",
                "https://api.cleeng.com",
                "https://mediastoreapi.cleeng.com",
                "https://cleeng.com",
            ),
        };
        let pick = |over: &Option<String>, default: &str| {
            over.as_deref()
                .unwrap_or(default)
                .trim_end_matches('/')
                .to_string()
        };
        CleengUrls {
            receipt: pick(&self.receipt_url, receipt),
            core: pick(&self.core_url, core),
            mediastore: pick(&self.mediastore_url, mediastore),
            push: pick(&self.push_url, push),
        }
    }
}
