//! `roku-bridge sessions revoke --customer ID`: sign a customer out on every device.

use std::path::Path;

use super::{CliError, SessionsAction, open_store};

pub async fn run(config: &Path, action: SessionsAction) -> Result<(), CliError> {
    let SessionsAction::Revoke { customer } = action;
    let store = open_store(config).await?;
    let result = store.revoke_refresh(&customer).await;
    if result.is_ok() {
        // The running replicas drop the customer's cached answers, as the endpoint does.
        crate::services::replicas::forget_customer_everywhere(&store, None, &customer).await;
    }
    store.close().await;
    let n = result.map_err(CliError::failed)?;
    println!("{n} refresh tokens revoked for customer {customer}");
    Ok(())
}
