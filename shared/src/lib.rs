//! The core of the AwakNow session backend.
//!
//! Every rule lives here so that it is tested once: the plan catalog and the calendar-month
//! period ([`domain`]), and the minute ledger on DynamoDB ([`store`]). The Lambda binaries under
//! `functions/` only read their configuration, build their clients and serve.

// Nothing that input, the network or AWS can make fail may panic: errors are values here.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
// `pub` means another crate uses it (the functions, the tools, the tests); the rest is
// `pub(crate)` or private, so the compiler finds what nothing uses.
#![warn(unreachable_pub)]

pub mod api;
pub mod aws;
pub mod config;
mod deadline;
pub mod domain;
mod error;
mod hex;
pub mod jobs;
pub mod metrics;
pub mod problem;
pub mod recording_bucket;
pub mod runtime;
pub mod secrets;
pub mod service;
pub mod startup;
pub mod store;
pub mod tavus;
pub mod telemetry;
pub mod wiring;

pub use error::LedgerError;
