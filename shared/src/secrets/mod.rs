//! The Tavus key and the webhook signing key: one Secrets Manager secret, read through an
//! in-memory cache with a TTL, held in a type that never prints its value.

mod cache;
mod source;
mod values;

pub use cache::{Clock, SecretCache};
pub use source::{FetchSecret, SecretsManagerSource};
pub use values::{Secret, SecretError, SecretValues};

/// The secret cache as the functions use it: over Secrets Manager.
pub type Secrets = SecretCache<SecretsManagerSource>;
