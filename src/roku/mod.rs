//! Roku's side: Roku Pay web services, push notification verification and events, WCF dates.

pub mod client;
pub mod doorder;
pub mod events;
pub mod isu;
pub mod jws;
pub mod price;
pub mod transaction;
pub mod wcf;
