//! What an HTTP function holds across invocations: the ledger and, for the functions whose
//! routes need them, the authenticator and the Tavus client. Built once per execution
//! environment by [`crate::wiring`].

use super::ApiError;
use super::identity::Authenticator;
use crate::recording_bucket::Recordings;
use crate::store::DynamoLedger;
use crate::tavus::Tavus;

pub struct App {
    pub ledger: DynamoLedger,
    /// Verifies users; `None` in the callback function, whose proof is the signed URL.
    pub auth: Option<Authenticator>,
    /// Tavus, and through its secret cache the key that signs callback URLs; `None` where no
    /// route calls Tavus.
    pub tavus: Option<Tavus>,
    /// The API's base URL for Tavus callbacks when it is not the one the request came through
    /// (local development: `PUBLIC_API_URL`).
    pub public_url: Option<String>,
    /// The recordings bucket (`None`: this deployment records nothing).
    pub recordings: Option<Recordings>,
    /// The largest account export answered in the response (as it travels to Lambda); a
    /// larger one is handed over through the bucket.
    pub export_inline_limit: usize,
}

impl App {
    /// An app with only the ledger; add the rest with struct update syntax.
    #[cfg(test)]
    pub(crate) fn with_ledger(ledger: DynamoLedger) -> App {
        App {
            ledger,
            auth: None,
            tavus: None,
            public_url: None,
            recordings: None,
            export_inline_limit: crate::config::EXPORT_INLINE_LIMIT,
        }
    }

    pub fn authenticator(&self) -> Result<&Authenticator, ApiError> {
        self.auth.as_ref().ok_or_else(|| {
            ApiError::internal("a user route in a function without an authenticator")
        })
    }

    pub fn tavus(&self) -> Result<&Tavus, ApiError> {
        self.tavus
            .as_ref()
            .ok_or_else(|| ApiError::internal("a Tavus route in a function without a Tavus client"))
    }
}
