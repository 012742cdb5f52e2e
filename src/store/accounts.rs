//! Account links: which provider customer a Roku customer is.

use sqlx::{Row, any::AnyRow};

use super::{Store, StoreError, now_ms};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub roku_customer_id: String,
    pub customer_id: String,
    pub email: Option<String>,
}

const COLUMNS: &str = "roku_customer_id, customer_id, email";

impl Store {
    /// Links a Roku customer to a provider customer; a later link for the same Roku customer
    /// replaces the earlier one (the customer signed in to another account on the device).
    /// Links a Roku customer to `customer_id` unless it is already linked to another account:
    /// the first link stands (a later poster cannot take the Roku customer over). `true` when
    /// the Roku customer is now linked to `customer_id`, `false` when another account holds it.
    pub async fn link_account(
        &self,
        rcid: &str,
        customer_id: &str,
        email: Option<&str>,
    ) -> Result<bool, StoreError> {
        let now = now_ms();
        let done = sqlx::query(
            "INSERT INTO accounts (roku_customer_id, customer_id, email, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $4)
             ON CONFLICT (roku_customer_id) DO UPDATE
               SET email = COALESCE(excluded.email, accounts.email),
                   updated_at = excluded.updated_at
               WHERE accounts.customer_id = excluded.customer_id",
        )
        .bind(rcid)
        .bind(customer_id)
        .bind(email.map(|e| e.trim().to_lowercase()))
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Links the Roku account unless it is already linked; whether this call linked it (or
    /// found it linked to this same customer).
    pub async fn link_account_if_absent(
        &self,
        rcid: &str,
        customer_id: &str,
        email: Option<&str>,
    ) -> Result<bool, StoreError> {
        let now = now_ms();
        sqlx::query(
            "INSERT INTO accounts (roku_customer_id, customer_id, email, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $4)
             ON CONFLICT (roku_customer_id) DO NOTHING",
        )
        .bind(rcid)
        .bind(customer_id)
        .bind(email.map(|e| e.trim().to_lowercase()))
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(self
            .account(rcid)
            .await?
            .is_some_and(|a| a.customer_id == customer_id))
    }

    pub async fn account(&self, rcid: &str) -> Result<Option<Account>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM accounts WHERE roku_customer_id = $1"
        ))
        .bind(rcid)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.as_ref().map(account_from).transpose()?)
    }

    pub async fn account_by_email(&self, email: &str) -> Result<Option<Account>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM accounts WHERE email = $1 ORDER BY updated_at DESC LIMIT 1"
        ))
        .bind(email.trim().to_lowercase())
        .fetch_optional(self.pool())
        .await?;
        Ok(row.as_ref().map(account_from).transpose()?)
    }

    /// The Roku customers linked to a provider customer.
    pub async fn roku_customers_of(&self, customer_id: &str) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query("SELECT roku_customer_id FROM accounts WHERE customer_id = $1")
            .bind(customer_id)
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| r.try_get("roku_customer_id"))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(Into::into)
    }
}

fn account_from(r: &AnyRow) -> Result<Account, sqlx::Error> {
    Ok(Account {
        roku_customer_id: r.try_get("roku_customer_id")?,
        customer_id: r.try_get("customer_id")?,
        email: r.try_get("email")?,
    })
}
