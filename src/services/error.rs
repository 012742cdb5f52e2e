//! What a use case can come to besides success: one enum for the service boundary, turned into
//! statuses and bodies in one place on the HTTP side.

use std::time::Duration;

use crate::{provider::ProviderError, roku::client::RokuError, store::StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Provider(#[from] ProviderError),
    #[error(transparent)]
    Roku(#[from] RokuError),
    /// Neither the mapping nor the catalog names an offer for the product code.
    #[error("unknown product: {0}")]
    UnknownProduct(String),
    /// Roku says the purchase is not one the customer may be granted.
    #[error("invalid receipt: {0}")]
    InvalidReceipt(String),
    #[error("this purchase was already claimed by another customer")]
    PurchaseClaimedElsewhere,
    #[error("this purchase was already posted with another product")]
    PurchaseConflict,
    #[error("the provider refused the receipt: {code} ({message})")]
    ReceiptRejected { code: String, message: String },
    #[error("the provider cannot take the receipt now")]
    ReceiptUnavailable { retry_after: Duration },
    #[error("this customer posted no receipt with this purchaseId")]
    UnknownPurchase,
    #[error("the refresh token has expired")]
    RefreshExpired,
    #[error("the refresh token is not valid")]
    RefreshInvalid,
    #[error("the refresh token was already used or revoked")]
    RefreshUsed,
    #[error("a customer with this email already exists")]
    CustomerExists,
    /// An account exists for the email given with a purchase: signing in links it instead.
    #[error("an account with this email exists")]
    CustomerExistsForPurchase,
    #[error("the email or password is wrong")]
    InvalidCredentials,
    #[error("this Roku customer is linked to another account")]
    PurchaseLinkedElsewhere,
    #[error("sessions from a purchase need Roku Pay web services")]
    RokuNotConfigured,
    #[error("Roku did not say which customer made this purchase")]
    NoRokuCustomer,
    #[error("the account from this signup is still being created")]
    AccountPending,
    #[error("no account is linked to this Roku customer yet")]
    AccountNotFound,
    /// The body is not a push Roku signed.
    #[error("push refused: {0}")]
    PushRefused(&'static str),
    /// Roku's key set could not be fetched: Roku will resend.
    #[error("Roku's signing keys are unavailable")]
    KeysUnavailable,
}

pub type ServiceResult<T> = Result<T, ServiceError>;
