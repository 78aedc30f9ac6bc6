//! The HTTP API, independent of Lambda's types past the shell: what a request must look like,
//! who is asking, which route it is, and how every answer and error is encoded. What a route
//! does is the service layer's ([`crate::service`]).
//!
//! A request goes: [`shell`] (decode into an [`api_request::ApiRequest`], find the route in [`routes`], authenticate through
//! [`identity`]) → a [`handlers`] function (parse with [`request`], one call of the service or
//! the ledger) → [`views`] → [`response`]; every error through [`error`].

pub mod api_request;
pub mod app;
pub mod dev_token;
pub mod error;
mod handlers;
pub mod identity;
pub mod jwks;
pub mod request;
mod response;
pub mod routes;
pub mod shell;
pub mod views;

pub use app::App;
pub use error::ApiError;
