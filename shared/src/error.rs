//! The ledger's errors. Every failure of a conditional write or transaction is turned into one of
//! these precise variants where it happens; the HTTP layer maps them once to problem details.

use chrono::{DateTime, Utc};

use crate::domain::PlanId;

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// Fewer than one minute is left this period.
    #[error("fewer than one minute left this period ({remaining_minutes} remaining on {plan})")]
    MinutesExhausted {
        remaining_minutes: i64,
        plan: PlanId,
        resets_at: DateTime<Utc>,
    },

    /// The user already has as many sessions open (pending or active) as allowed at once.
    #[error("{open_sessions} sessions open, at most {max_open_sessions} allowed at once")]
    TooManyOpenSessions {
        open_sessions: i64,
        max_open_sessions: u32,
    },

    /// The user created sessions faster than the pace allows (`domain::pace`): nothing was
    /// reserved.
    #[error(
        "creating faster than {creates_per_minute} a minute; retry after {retry_after_seconds} s"
    )]
    RateLimited {
        retry_after_seconds: u32,
        creates_per_minute: u32,
    },

    /// The account is being deleted (`DELETE /me`): no new session is started in it.
    #[error("the account is being deleted")]
    AccountBeingDeleted,

    /// No such session for this user (another user's session is reported the same way).
    #[error("no such session")]
    SessionNotFound,

    /// The session is still pending or active, and this needs it closed (erasure).
    #[error("the session is still open")]
    SessionOpen,

    /// A conditional write's precondition (the notes' `If-Match`) no longer holds: nothing was
    /// written.
    #[error("the precondition does not hold any more")]
    PreconditionFailed,

    /// The same idempotency key came with a different request.
    #[error("the idempotency key was already used with a different request")]
    IdempotencyConflict,

    /// The session exists but not in the state the caller described (for example a settlement
    /// that names another period or reservation than the one recorded).
    #[error("the session does not match: {0}")]
    SessionMismatch(&'static str),

    /// The pending session was closed (ended by its owner, released by the sweeper) before its
    /// conversation could be recorded: here it is, as it is now.
    #[error("the session was closed before it became active")]
    NoLongerPending(Box<crate::domain::Session>),

    /// Writers kept colliding on the same item after every bounded retry.
    #[error("gave up after {attempts} attempts: other writers kept changing the account")]
    Contention { attempts: u32 },

    /// DynamoDB failed (after the SDK's own retries) or could not be reached.
    #[error("DynamoDB is unavailable: {0}")]
    Unavailable(String),

    /// An item read back from the table does not have the shape this code writes.
    #[error("malformed item in the table: {0}")]
    CorruptItem(String),
}

impl From<serde_dynamo::Error> for LedgerError {
    fn from(e: serde_dynamo::Error) -> Self {
        LedgerError::CorruptItem(e.to_string())
    }
}
