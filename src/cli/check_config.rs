//! `roku-bridge check-config [FILE]`: load and validate exactly as `serve` does, then say so.

use std::path::Path;

use super::CliError;
use crate::config::Config;

pub fn run(path: &Path) -> Result<(), CliError> {
    let (config, map) = Config::load_validated(path).map_err(CliError::Rejected)?;
    println!(
        "{}: ok (provider {:?}, {} mapped products, rule {}, confirm_timeout {})",
        path.display(),
        config.provider.kind,
        map.len(),
        map.rule(),
        humantime::format_duration(config.payment.confirm_timeout),
    );
    println!("mapping rule {}", map.rule().explain());
    Ok(())
}
