//! The one error of what the system does: every way creating, settling, erasing, a callback or
//! a playback link can fail, as the API reports it. The HTTP layer maps each variant to its
//! problem response once (`crate::api::ApiError`); the ledger's, Tavus's, the secret's and the
//! bucket's errors convert into these with `?`.

use chrono::{DateTime, Utc};

use crate::LedgerError;
use crate::domain::PlanId;
use crate::secrets::SecretError;
use crate::tavus::TavusError;

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("invalid request: {detail}")]
    InvalidRequest { detail: String },
    #[error("minutes exhausted")]
    MinutesExhausted {
        remaining_minutes: i64,
        plan: PlanId,
        resets_at: DateTime<Utc>,
    },
    #[error("not found")]
    NotFound,
    #[error("idempotency key reused with a different request")]
    IdempotencyConflict,
    #[error("too many open sessions")]
    TooManyOpenSessions {
        open_sessions: i64,
        max_open_sessions: u32,
    },
    /// Creates faster than the user's pace allows; nothing was reserved.
    #[error("rate limited")]
    RateLimited {
        retry_after_seconds: u32,
        creates_per_minute: u32,
    },
    #[error("tavus unavailable: {0}")]
    TavusUnavailable(String),
    #[error("tavus at capacity")]
    TavusAtCapacity,
    /// The Tavus account is out of conversational credits: nothing can be created until the
    /// operator buys more.
    #[error("tavus out of conversational credits")]
    TavusOutOfCredits,
    #[error("dependency unavailable: {0}")]
    DependencyUnavailable(String),
    /// Erasure: the session is still pending or active.
    #[error("the session is still open")]
    SessionActive,
    /// A write's `If-Match` no longer matches.
    #[error("precondition failed")]
    PreconditionFailed,
    /// Erasure: Tavus could not delete its copy of the conversation, so nothing was erased.
    #[error("tavus did not delete its copy: {0}")]
    TavusCopyKept(String),
    /// `"record": true` where no recordings bucket is configured.
    #[error("recording is not available")]
    RecordingUnavailable,
    /// Erasure: a recording object could not be deleted yet; the sweeper finishes the erasure.
    #[error("a recording was not deleted: {0}")]
    RecordingKept(String),
    /// `POST /sessions` while the account is being deleted.
    #[error("the account is being deleted")]
    AccountBeingDeleted,
    /// `GET /me/export`: larger than a response can carry, and no bucket to hand it over from.
    #[error("the export is too large for a response ({bytes} bytes)")]
    ExportTooLarge { bytes: usize },
    /// A bug or corrupt data: retrying cannot help, so no `Retry-After`. The cause is logged
    /// with the request id; the body says nothing of it.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ServiceError {
    pub fn internal(cause: impl Into<String>) -> ServiceError {
        ServiceError::Internal(cause.into())
    }

    pub fn invalid(detail: impl Into<String>) -> ServiceError {
        ServiceError::InvalidRequest {
            detail: detail.into(),
        }
    }
}

impl From<LedgerError> for ServiceError {
    fn from(e: LedgerError) -> ServiceError {
        match e {
            LedgerError::MinutesExhausted {
                remaining_minutes,
                plan,
                resets_at,
            } => ServiceError::MinutesExhausted {
                remaining_minutes,
                plan,
                resets_at,
            },
            LedgerError::SessionNotFound => ServiceError::NotFound,
            LedgerError::AccountBeingDeleted => ServiceError::AccountBeingDeleted,
            LedgerError::SessionOpen => ServiceError::SessionActive,
            LedgerError::PreconditionFailed => ServiceError::PreconditionFailed,
            LedgerError::IdempotencyConflict => ServiceError::IdempotencyConflict,
            LedgerError::TooManyOpenSessions {
                open_sessions,
                max_open_sessions,
            } => ServiceError::TooManyOpenSessions {
                open_sessions,
                max_open_sessions,
            },
            LedgerError::RateLimited {
                retry_after_seconds,
                creates_per_minute,
            } => ServiceError::RateLimited {
                retry_after_seconds,
                creates_per_minute,
            },
            other @ (LedgerError::Contention { .. } | LedgerError::Unavailable(_)) => {
                ServiceError::DependencyUnavailable(other.to_string())
            }
            other @ (LedgerError::SessionMismatch(_)
            | LedgerError::CorruptItem(_)
            | LedgerError::NoLongerPending(_)) => ServiceError::Internal(other.to_string()),
        }
    }
}

impl From<TavusError> for ServiceError {
    fn from(e: TavusError) -> ServiceError {
        match e {
            TavusError::AtCapacity => ServiceError::TavusAtCapacity,
            TavusError::OutOfCredits => ServiceError::TavusOutOfCredits,
            TavusError::Secret(s) => ServiceError::from(s),
            other => ServiceError::TavusUnavailable(other.to_string()),
        }
    }
}

impl From<crate::recording_bucket::RecordingError> for ServiceError {
    fn from(e: crate::recording_bucket::RecordingError) -> ServiceError {
        ServiceError::DependencyUnavailable(e.to_string())
    }
}

impl From<SecretError> for ServiceError {
    fn from(e: SecretError) -> ServiceError {
        ServiceError::DependencyUnavailable(e.to_string())
    }
}
