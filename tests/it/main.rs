//! One integration binary (svix's layout): every test starts the real bridge on port 0 and
//! talks HTTP to it; Cleeng is a wiremock server speaking its MediaStore, receipt,
//! entitlement and push-relay routes (see `helpers::cleeng`).

mod admin;
mod backend;
mod catalog;
mod cli;
mod console;
mod console_browser;
mod entitlements;
mod errors;
mod fake_roku;
mod faults;
mod fixtures;
mod helpers;
mod isu;
mod limits;
mod notifications;
mod openapi;
mod payment;
mod properties;
mod props;
mod reload;
mod replicas;
mod restart;
mod roku;
mod secrets;
mod security;
mod sessions;
mod store;
