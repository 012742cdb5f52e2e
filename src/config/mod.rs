//! Configuration: the shipped `config/bridge.toml` layered under the operator's TOML file and
//! `ROKU_BRIDGE__SECTION__KEY` environment variables.
//!
//! The shipped file is the reference for every key and the only place a default value is
//! written: it is embedded in the binary as the lowest layer, and the section structs state
//! none. Loading is two steps: figment turns the layers into [`Config`] (unknown keys and wrong
//! types fail here, naming the key and the file), then [`Config::validate`] checks the rules
//! that span keys and builds the pure domain objects the server runs on.
//! `roku-bridge check-config` runs exactly these two steps.

mod cleeng_hosts;
mod load;
mod sections;
mod validate;

use serde::Deserialize;

pub use cleeng_hosts::{CleengUrls, Environment};
pub use load::{ConfigError, ENV_PREFIX};
pub use sections::*;
pub use validate::{MIN_SIGNING_KEY_BYTES, Problems};

/// The outbox target name of the provider's own push URL.
pub const PROVIDER_TARGET: &str = "provider";
/// Read beside the main file when present.
pub const CATALOG_FILE: &str = "catalog.toml";
/// Outbox target of Instant Signup account creation at the provider.
pub const ACCOUNTS_TARGET: &str = "provider-accounts";
/// Outbox target of the bridge's events to `relay.events_url`.
pub const EVENTS_TARGET: &str = "publisher-events";
/// Outbox target of what an acknowledged push still has to write (add-on revocations, links).
pub const FOLLOW_UPS_TARGET: &str = "push-follow-ups";

/// Every section is present in the embedded defaults layer, so none needs a serde default.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub admin: AdminConfig,
    pub provider: ProviderConfig,
    pub session: SessionConfig,
    pub payment: PaymentConfig,
    pub entitlements: EntitlementsConfig,
    pub mapping: MappingConfig,
    pub store: StoreConfig,
    pub roku: RokuConfig,
    pub relay: RelayConfig,
    pub isu: IsuConfig,
    pub limits: LimitsConfig,
    /// Catalog 2.0 (`config/catalog.example.toml`); empty for channels with plain products.
    #[serde(default)]
    pub catalog: crate::domain::catalog::CatalogConfig,
    /// The file this came from, watched for hot reload; `None` for inline configurations.
    #[serde(skip)]
    pub source: Option<std::path::PathBuf>,
}

/// `Default` for each section is its value in the shipped file, so code and tests that start
/// from `XxxConfig::default()` get the documented values rather than a second copy of them.
macro_rules! default_from_the_shipped_file {
    ($($section:ty => $($field:ident).+;)*) => {$(
        impl Default for $section {
            fn default() -> Self {
                Config::defaults().$($field).+.clone()
            }
        }
    )*};
}

default_from_the_shipped_file! {
    ServerConfig => server;
    AdminConfig => admin;
    ProviderConfig => provider;
    SimulatorConfig => provider.simulator;
    SessionConfig => session;
    PaymentConfig => payment;
    EntitlementsConfig => entitlements;
    MappingConfig => mapping;
    StoreConfig => store;
    RokuConfig => roku;
    RelayConfig => relay;
    IsuConfig => isu;
    LimitsConfig => limits;
}

impl Default for Config {
    fn default() -> Self {
        Self::defaults().clone()
    }
}

#[cfg(test)]
mod tests {
    use std::{path::Path, time::Duration};

    use secrecy::ExposeSecret;

    use super::*;

    fn shipped_file() -> Config {
        Config::load_file_only(&Path::new(env!("CARGO_MANIFEST_DIR")).join("config/bridge.toml"))
            .unwrap()
    }

    #[test]
    fn the_defaults_are_exactly_what_the_shipped_file_says() {
        // Loading the shipped file over the defaults changes nothing but its samples: no
        // struct holds a value of its own, and no key of the file is read differently.
        let mut shipped = shipped_file();
        let defaults = Config::defaults();
        assert!(!shipped.mapping.products.is_empty() && defaults.mapping.products.is_empty());
        assert!(
            !shipped.provider.simulator.reject_offers.is_empty()
                && defaults.provider.simulator.reject_offers.is_empty()
        );
        assert_eq!(load::SAMPLES.len(), 2, "every sample is checked above");
        shipped.mapping.products.clear();
        shipped.provider.simulator.reject_offers.clear();
        assert_eq!(format!("{shipped:?}"), format!("{defaults:?}"));
        assert_eq!(
            shipped.store.url.expose_secret(),
            defaults.store.url.expose_secret()
        );
        assert_eq!(format!("{:?}", Config::default()), format!("{defaults:?}"));
    }

    #[test]
    fn the_shipped_file_documents_every_key_it_leaves_out() {
        // A key with no value in the file (a secret, an optional URL, an empty-unless-filled
        // list) must still be shown there, commented out, so the file stays the reference.
        for key in [
            "publisher_id",
            "publisher_token",
            "receipt_url",
            "core_url",
            "mediastore_url",
            "push_url",
            "signing_key",
            "api_key",
            "events_url",
            "events_secret",
            "previous_api_key",
            "[[relay.targets]]",
            "[isu.images.",
        ] {
            assert!(
                load::SHIPPED
                    .lines()
                    .any(|l| l.starts_with(&format!("# {key}"))),
                "config/bridge.toml does not document {key}"
            );
        }
    }

    #[test]
    fn section_defaults_come_from_the_file() {
        let shipped = shipped_file();
        assert_eq!(
            format!("{:?}", LimitsConfig::default()),
            format!("{:?}", shipped.limits)
        );
        assert_eq!(
            PaymentConfig::default().poll_initial_interval,
            Duration::from_millis(250)
        );
        assert_eq!(ServerConfig::default().body_limit, 65536);
        assert_eq!(
            RelayConfig::default().give_up_after,
            Duration::from_secs(72 * 3600)
        );
    }

    #[test]
    fn an_operators_product_table_gains_no_sample_products() {
        let c = Config::from_toml("[mapping.products]\n\"gold-US\" = \"S1_US\"").unwrap();
        assert_eq!(c.mapping.products.len(), 1);
        assert!(c.provider.simulator.reject_offers.is_empty());
    }

    #[test]
    fn empty_file_is_the_simulator_default() {
        let c = Config::from_toml("").unwrap();
        assert_eq!(c.provider.kind, ProviderKind::Simulator);
        assert_eq!(c.payment.confirm_timeout, Duration::from_secs(30));
        assert!(c.validate().is_ok());
    }

    #[test]
    fn a_numeric_publisher_id_is_read_as_its_digits() {
        // What ROKU_BRIDGE__PROVIDER__PUBLISHER_ID=123456789 becomes: a number.
        let c = Config::from_toml("[provider]\npublisher_id = 123456789").unwrap();
        assert_eq!(c.provider.publisher_id.as_deref(), Some("123456789"));
        let c = Config::from_toml("[provider]\npublisher_id = \"0042\"").unwrap();
        assert_eq!(
            c.provider.publisher_id.as_deref(),
            Some("0042"),
            "text stays text"
        );
    }

    #[test]
    fn unknown_key_is_named() {
        let err = Config::from_toml("[provider]\npublisher_tokn = \"x\"").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("publisher_tokn"), "{text}");
    }

    #[test]
    fn cleeng_needs_its_credentials() {
        let c = Config::from_toml("[provider]\nkind = \"cleeng\"").unwrap();
        let problems = c.validate().unwrap_err();
        let keys: Vec<_> = problems.iter().map(|(k, _)| k.as_str()).collect();
        assert!(keys.contains(&"provider.publisher_id"));
        assert!(keys.contains(&"provider.publisher_token"));
        assert!(keys.contains(&"session.signing_key"));
    }

    #[test]
    fn short_signing_key_is_refused_without_echoing_it() {
        let c = Config::from_toml("[session]\nsigning_key = \"hunter2-short\"").unwrap();
        let problems = c.validate().unwrap_err();
        assert_eq!(problems[0].0, "session.signing_key");
        assert!(!format!("{problems:?}").contains("hunter2"));
    }

    #[test]
    fn bad_mapping_entry_names_the_code() {
        let c = Config::from_toml("[mapping.products]\n\"BAD CODE\" = \"X_US\"").unwrap();
        let problems = c.validate().unwrap_err();
        assert_eq!(problems[0].0, "mapping.products.\"BAD CODE\"");
    }

    #[test]
    fn a_secret_of_the_wrong_type_is_not_echoed() {
        let err =
            Config::from_toml("[provider]\npublisher_token = 918273645546372819").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("provider.publisher_token"), "{text}");
        assert!(!text.contains("918273645546372819"), "{text}");
    }

    #[test]
    fn durations_are_humantime() {
        let c = Config::from_toml("[payment]\nconfirm_timeout = \"1m 5s\"").unwrap();
        assert_eq!(c.payment.confirm_timeout, Duration::from_secs(65));
        let err = Config::from_toml("[payment]\nconfirm_timeout = \"soon\"").unwrap_err();
        assert!(err.to_string().contains("payment.confirm_timeout"), "{err}");
    }

    #[test]
    fn secrets_are_redacted_in_debug() {
        let c = Config::from_toml(
            "[provider]\npublisher_token = \"tok-abcdefghijklmnop\"\n[session]\nsigning_key = \"k-abcdefghijklmnopqrstuvwxyz0123456789\"",
        )
        .unwrap();
        let debug = format!("{c:?}");
        assert!(!debug.contains("tok-abcdefghijklmnop"));
        assert!(!debug.contains("k-abcdefghijklmnopqrstuvwxyz0123456789"));
    }
}
