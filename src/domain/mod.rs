//! The bridge's own rules, with no I/O: typed ids, time, the receipt state machine, the
//! subscription state a push leads to, and the product mapping. Everything here is plain data
//! and functions, unit- and property-tested without a server, a store or a clock.

pub mod catalog;
pub mod email;
pub mod ids;
pub mod mapping;
pub mod receipt;
pub mod signup;
pub mod subscription;
pub mod time;
