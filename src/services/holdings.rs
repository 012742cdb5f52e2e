//! What a customer holds: the subscriptions of every Roku customer linked to them, as the
//! pushes left them.

use crate::{
    domain::subscription::Subscription,
    store::{Store, StoreError},
};

pub struct Holdings {
    store: Store,
}

impl Holdings {
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    pub async fn subscriptions(&self, customer_id: &str) -> Result<Vec<Subscription>, StoreError> {
        let mut all = Vec::new();
        for rcid in self.store.roku_customers_of(customer_id).await? {
            all.extend(self.store.subscriptions_of(&rcid).await?);
        }
        Ok(all)
    }
}
