//! The HTTP API's rules, independent of Lambda: what a request must look like, who is asking,
//! what each route does with the ledger and Tavus, and how every error becomes one problem
//! response. The functions only translate a Lambda event into these calls.

pub mod erasure;
pub mod error;
pub mod history;
pub mod identity;
pub mod jwks;
pub mod notes;
pub mod recording;
pub mod request;
pub mod response;
pub mod routes;
pub mod sessions;
pub mod views;
pub mod webhook;
pub mod webhook_token;

pub use error::ApiError;
pub use routes::Route;
