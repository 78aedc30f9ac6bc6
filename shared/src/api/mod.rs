//! The HTTP API, independent of Lambda's types past the shell: what a request must look like,
//! who is asking, what each route does with the ledger and Tavus, and how every error becomes
//! one problem response.
//!
//! A request goes: [`shell`] (decode, find the route in [`routes`], authenticate) → a
//! [`handlers`] function → the route's core function ([`sessions`], [`notes`], [`erasure`],
//! [`history`], [`webhook`]) → [`response`].

pub mod app;
pub mod dev_token;
pub mod erasure;
pub mod error;
pub mod handlers;
pub mod history;
pub mod identity;
pub mod jwks;
pub mod notes;
pub mod recording;
pub mod request;
pub mod response;
pub mod routes;
pub mod sessions;
pub mod shell;
pub mod views;
pub mod webhook;
pub mod webhook_token;

pub use app::App;
pub use error::ApiError;
