//! `roku-bridge isu import-hashes FILE`: mark a publisher's current subscribers, by email or
//! SHA-512 hash, so Instant Signup offers them nothing. The whole list is checked before
//! anything is written, and a bad line is named by number only: the lines are customers'.

use std::path::Path;

use super::{CliError, IsuAction, open_store};
use crate::roku::isu::{ImportLine, parse_import_line};

/// Hashes written per statement.
const CHUNK: usize = 10_000;
/// Bad line numbers listed at most.
const SHOWN: usize = 20;

pub async fn run(config: &Path, action: IsuAction) -> Result<(), CliError> {
    let IsuAction::ImportHashes { file } = action;
    let text = if file.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin())
    } else {
        std::fs::read_to_string(&file)
    }
    .map_err(|e| CliError::Input(format!("cannot read {}: {e}", file.display())))?;
    let (mut hashes, mut invalid) = (Vec::new(), Vec::new());
    for (n, line) in text.lines().enumerate() {
        match parse_import_line(line) {
            ImportLine::Blank => {}
            ImportLine::Hash(h) => hashes.push(h),
            ImportLine::Invalid => invalid.push(n + 1),
        }
    }
    if !invalid.is_empty() {
        return Err(CliError::Input(format!(
            "{} lines are neither an email nor a SHA-512 hex hash (lines {:?}{}); nothing imported",
            invalid.len(),
            &invalid[..invalid.len().min(SHOWN)],
            if invalid.len() > SHOWN { ", …" } else { "" }
        )));
    }
    let store = open_store(config).await?;
    let mut result = Ok(());
    for chunk in hashes.chunks(CHUNK) {
        result = store.import_subscriber_hashes(chunk).await;
        if result.is_err() {
            break;
        }
    }
    store.close().await;
    result.map_err(CliError::failed)?;
    println!("{} subscribers imported", hashes.len());
    Ok(())
}
