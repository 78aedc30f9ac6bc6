//! What a check reports: how many things it looked at and what disagrees, each finding by ids
//! only (user, session, conversation, object key); and how long things may wait before they
//! count as findings.

use chrono::{DateTime, Duration, Utc};

use super::figures;
use crate::domain::{Period, SessionId, SessionStatus, UserId};

/// How long past its due time something may wait before the audit reports it: the sweeper runs
/// every 15 minutes and gives a session 10 more, so an hour is several sweeps missed.
pub const STUCK_AFTER: Duration = Duration::hours(1);

/// How long after Tavus ended a call the ledger may still show it active: the shutdown callback
/// comes within seconds, and failing it the sweeper settles at the reservation's end.
pub const ENDED_AT_TAVUS_AFTER: Duration = Duration::minutes(30);

/// Younger than this, an object may be a recording whose callback has not arrived yet, and a
/// conversation may be a create still on its way into its session.
pub const SETTLING_TIME: Duration = Duration::hours(1);

/// `--fix` deletes an object nobody references only once it is this old: a recording whose
/// callback was lost for a while can still be bound to its session before then.
pub const DELETE_UNREFERENCED_AFTER: Duration = Duration::days(1);

/// What one check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckResult {
    pub check: Check,
    /// How many things the check looked at.
    pub checked: u64,
    pub findings: Vec<Finding>,
    /// False when the check could not look at everything (a failure, the deadline): its
    /// findings are what it saw.
    pub complete: bool,
}

impl CheckResult {
    pub(crate) fn new(check: Check) -> CheckResult {
        CheckResult {
            check,
            checked: 0,
            findings: Vec::new(),
            complete: true,
        }
    }

    /// The check could not finish: said once in the log, and the run is incomplete.
    pub(crate) fn incomplete(&mut self, why: &dyn std::fmt::Display) {
        tracing::error!(check = self.check.as_str(), error = %why, "audit check incomplete");
        self.complete = false;
    }
}

/// The audit's checks, as they are named in metrics, logs and `make audit`'s table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Check {
    /// Conversations of ours active at Tavus that no active session holds.
    UnheldConversations,
    /// Conversations of ours ended at Tavus more than an hour ago and not deleted.
    EndedNotDeleted,
    /// Sessions active in the ledger that Tavus reports ended more than 30 minutes ago.
    EndedAtTavus,
    /// The open-sessions index: nothing overdue by more than [`STUCK_AFTER`].
    SweeperBehind,
    /// Objects in the recordings bucket that no session references.
    UnreferencedObjects,
    /// Keys a session references that are not in the bucket.
    MissingObjects,
    /// Erasures marked and not finished after [`STUCK_AFTER`].
    ErasuresStuck,
    /// Accounts and history items whose figures disagree with their sessions.
    AccountFigures,
}

impl Check {
    pub const ALL: [Check; 8] = [
        Check::UnheldConversations,
        Check::EndedNotDeleted,
        Check::EndedAtTavus,
        Check::SweeperBehind,
        Check::UnreferencedObjects,
        Check::MissingObjects,
        Check::ErasuresStuck,
        Check::AccountFigures,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Check::UnheldConversations => "unheld_conversations",
            Check::EndedNotDeleted => "ended_not_deleted",
            Check::EndedAtTavus => "ended_at_tavus",
            Check::SweeperBehind => "sweeper_behind",
            Check::UnreferencedObjects => "unreferenced_objects",
            Check::MissingObjects => "missing_objects",
            Check::ErasuresStuck => "erasures_stuck",
            Check::AccountFigures => "account_figures",
        }
    }
}

/// One disagreement, by ids only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// A conversation of ours active at Tavus that no active session holds; `session` is the
    /// one its callback token names (`closed`: that session is closed, rather than gone).
    UnheldConversation {
        conversation: String,
        user: UserId,
        session: SessionId,
        closed: bool,
        /// Tavus's creation time: what an end books in the minutes tally.
        created_at: Option<DateTime<Utc>>,
    },
    /// A conversation of ours Tavus ended more than an hour ago and still keeps; `held`: the
    /// session its token names is closed and recorded it (its own path should have deleted it).
    EndedNotDeleted {
        conversation: String,
        user: UserId,
        session: SessionId,
        held: bool,
    },
    /// An active session whose conversation Tavus ended (`ended_at`) more than 30 minutes ago,
    /// or no longer knows (`None`).
    EndedAtTavus {
        user: UserId,
        session: SessionId,
        conversation: String,
        ended_at: Option<DateTime<Utc>>,
    },
    /// A session the sweeper should have handled more than an hour ago (open past its time, or
    /// ended with Tavus's copy not deleted).
    Overdue {
        user: UserId,
        session: SessionId,
        status: SessionStatus,
    },
    /// An object of the recordings bucket no session references, last written at `written_at`.
    UnreferencedObject {
        key: String,
        written_at: DateTime<Utc>,
    },
    /// A key a session references that is not in the bucket.
    MissingObject {
        user: UserId,
        session: SessionId,
        key: String,
    },
    /// A session whose erasure began more than an hour ago and is not finished.
    ErasureStuck { user: UserId, session: SessionId },
    /// A figure of an account (or of a period's history item) that its sessions do not add up
    /// to: `recorded` on the item, `from_sessions` counted from the sessions.
    Figure {
        user: UserId,
        period: Period,
        figure: figures::Figure,
        recorded: i64,
        from_sessions: i64,
    },
}

impl Finding {
    /// What the finding is about, as `name=value` pairs of ids (for the table and the log).
    pub fn subject(&self) -> String {
        match self {
            Finding::UnheldConversation {
                conversation,
                user,
                session,
                closed,
                ..
            } => format!(
                "conversation={conversation} user={user} session={session} session_closed={closed}"
            ),
            Finding::EndedNotDeleted {
                conversation,
                user,
                session,
                held,
            } => format!(
                "conversation={conversation} user={user} session={session} held_by_session={held}"
            ),
            Finding::EndedAtTavus {
                user,
                session,
                conversation,
                ended_at,
            } => {
                let ended = ended_at.map_or("unknown".to_owned(), |t| t.to_rfc3339());
                format!("user={user} session={session} conversation={conversation} ended={ended}")
            }
            Finding::Overdue {
                user,
                session,
                status,
            } => format!("user={user} session={session} status={}", status.as_str()),
            Finding::UnreferencedObject { key, written_at } => {
                format!("key={key} written={}", written_at.to_rfc3339())
            }
            Finding::MissingObject { user, session, key } => {
                format!("user={user} session={session} key={key}")
            }
            Finding::ErasureStuck { user, session } => format!("user={user} session={session}"),
            Finding::Figure {
                user,
                period,
                figure,
                recorded,
                from_sessions,
            } => format!(
                "user={user} period={period} figure={} recorded={recorded} from_sessions={from_sessions}",
                figure.as_str()
            ),
        }
    }
}

/// The time before which something due is reported.
pub(crate) fn stuck_before(now: DateTime<Utc>) -> DateTime<Utc> {
    now - STUCK_AFTER
}
