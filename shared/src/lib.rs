//! The core of the AwakNow session backend.
//!
//! Every rule lives here so that it is tested once: the plan catalog and the calendar-month
//! period ([`domain`]), and the minute ledger on DynamoDB ([`store`]). The Lambda binaries under
//! `functions/` only parse, authenticate, call one function of this crate and map the result.

pub mod api;
pub mod aws;
pub mod build;
pub mod config;
pub mod domain;
pub mod error;
pub mod lambda;
pub mod metrics;
pub mod problem;
pub mod recordings;
pub mod reset;
pub mod secrets;
pub mod store;
pub mod sweep;
pub mod tavus;
pub mod telemetry;

pub use error::LedgerError;
