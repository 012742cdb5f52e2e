//! `roku-bridge outbox list|redrive`: the deliveries owed to relay targets, and putting dead
//! ones back in the queue.

use std::path::Path;

use super::{CliError, OutboxAction, open_store};
use crate::store::{OutboxStatus, Store};

pub async fn run(config: &Path, action: OutboxAction) -> Result<(), CliError> {
    let store = open_store(config).await?;
    let result = act(&store, action).await;
    store.close().await;
    result
}

async fn act(store: &Store, action: OutboxAction) -> Result<(), CliError> {
    match action {
        OutboxAction::List { status, limit } => {
            let status = match status.as_deref() {
                None => None,
                Some("pending") => Some(OutboxStatus::Pending),
                Some("delivered") => Some(OutboxStatus::Delivered),
                Some("dead") => Some(OutboxStatus::Dead),
                Some(other) => {
                    return Err(CliError::Input(format!(
                        "unknown status {other:?} (pending, delivered, dead)"
                    )));
                }
            };
            let rows = store
                .list_outbox(status, limit)
                .await
                .map_err(CliError::failed)?;
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
                    if r.status == crate::store::OutboxStatus::Pending {
                        ms_to_rfc3339(r.next_attempt_at)
                    } else {
                        "-".into()
                    },
                    r.last_error.unwrap_or_default()
                );
            }
            Ok(())
        }
        OutboxAction::Redrive { id, all_dead } => {
            if id.is_none() && !all_dead {
                return Err(CliError::Input("name a delivery id or --all-dead".into()));
            }
            let n = store.redrive(id).await.map_err(CliError::failed)?;
            println!("{n} deliveries back in the queue");
            Ok(())
        }
    }
}

fn ms_to_rfc3339(ms: i64) -> String {
    crate::domain::time::EpochMs(ms)
        .to_rfc3339()
        .unwrap_or_else(|| "-".into())
}
