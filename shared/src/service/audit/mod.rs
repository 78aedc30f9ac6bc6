//! The audit (issue 29, in progress): what the ledger, Tavus and the recordings bucket hold,
//! compared, read-only. Each check reports how many things it looked at and what disagrees,
//! by ids only (user, session, conversation, object key): never a prompt, transcript or note.
//!
//! Checks so far: the open-sessions index (the sweeper keeps it near empty: anything overdue by
//! more than an hour means it is stuck or failing), and erasures still marked after an hour.
//! To come: Tavus's conversations against the sessions holding them, the bucket against the
//! sessions' keys, accounts' figures against their sessions (a sample per run), the minutes
//! Tavus ran against the minutes charged; the scheduled function, `make audit` and `--fix`.

mod index;

use chrono::{DateTime, Duration, Utc};

use crate::domain::{SessionId, SessionStatus, UserId};

pub use index::{stuck_erasures, sweeper_behind};

/// How long past its due time something may wait before the audit reports it: the sweeper runs
/// every 15 minutes and gives a session 10 more, so an hour is several sweeps missed.
pub const STUCK_AFTER: Duration = Duration::hours(1);

/// What one check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckResult {
    pub check: Check,
    /// How many things the check looked at.
    pub checked: u64,
    pub findings: Vec<Finding>,
}

/// The audit's checks, as they are named in metrics, logs and `make audit`'s table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// The open-sessions index: nothing overdue by more than [`STUCK_AFTER`].
    SweeperBehind,
    /// Erasures marked and not finished after [`STUCK_AFTER`].
    ErasuresStuck,
}

impl Check {
    pub fn as_str(self) -> &'static str {
        match self {
            Check::SweeperBehind => "sweeper_behind",
            Check::ErasuresStuck => "erasures_stuck",
        }
    }
}

/// One disagreement, by ids only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// A session the sweeper should have handled more than an hour ago (open past its time, or
    /// ended with Tavus's copy not deleted).
    Overdue {
        user: UserId,
        session: SessionId,
        status: SessionStatus,
    },
    /// A session whose erasure began more than an hour ago and is not finished.
    ErasureStuck { user: UserId, session: SessionId },
}

/// The time before which something due is reported.
pub(crate) fn stuck_before(now: DateTime<Utc>) -> DateTime<Utc> {
    now - STUCK_AFTER
}
