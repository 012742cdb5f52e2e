//! Reads behind GetPurchases: the receipts a provider customer's channels posted.

use sqlx::Row;

use super::{Store, StoreError};

/// A stored receipt, reduced to what a purchase listing needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerReceipt {
    /// The claim key: Roku's purchase id, or `purchaseId#offerId` for a bundle's part.
    pub purchase_id: String,
    pub roku_customer_id: Option<String>,
    pub state: String,
    pub forward_json: String,
    pub created_at: i64,
}

impl Store {
    /// Every receipt claimed for a provider customer, oldest first.
    pub async fn receipts_of_customer(
        &self,
        customer_id: &str,
    ) -> Result<Vec<CustomerReceipt>, StoreError> {
        let rows = sqlx::query(
            "SELECT purchase_id, roku_customer_id, state, forward_json, created_at
             FROM receipts WHERE customer_id = $1 ORDER BY created_at, purchase_id",
        )
        .bind(customer_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(CustomerReceipt {
                    purchase_id: r.try_get("purchase_id")?,
                    roku_customer_id: r.try_get("roku_customer_id")?,
                    state: r.try_get("state")?,
                    forward_json: r.try_get("forward_json")?,
                    created_at: r.try_get("created_at")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(Into::into)
    }
}
