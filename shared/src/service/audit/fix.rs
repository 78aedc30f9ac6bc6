//! `--fix`: the mends that are safe to make, each logged, none by the scheduled function.
//!
//! - A conversation nobody holds is ended, and deleted unless a closed session recorded it (that
//!   session's own path deletes it after recovering its transcript); the minutes it ran are
//!   booked as an orphan's in the tally.
//! - An ended conversation nobody holds is deleted.
//! - Stuck erasures are finished, as the sweeper would.
//! - An object nobody references is deleted once it is a day old.
//!
//! Nothing else is mended: a figure that disagrees, a missing object or a session Tavus ended
//! need a person to look (docs/operations.md, the audit's runbook).

use std::time::Instant;

use chrono::{DateTime, Utc};

use super::finding::{CheckResult, DELETE_UNREFERENCED_AFTER, Finding};
use crate::recording_bucket::Recordings;
use crate::service::erase::finish_erasures;
use crate::store::DynamoLedger;
use crate::tavus::Tavus;

/// One mend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fixed {
    ConversationEnded { conversation: String, deleted: bool },
    ConversationDeleted { conversation: String },
    ErasuresFinished { count: u64 },
    ObjectDeleted { key: String },
}

impl Fixed {
    pub fn describe(&self) -> String {
        match self {
            Fixed::ConversationEnded {
                conversation,
                deleted: true,
            } => format!("ended and deleted conversation={conversation}"),
            Fixed::ConversationEnded { conversation, .. } => {
                format!("ended conversation={conversation}")
            }
            Fixed::ConversationDeleted { conversation } => {
                format!("deleted conversation={conversation}")
            }
            Fixed::ErasuresFinished { count } => format!("finished erasures={count}"),
            Fixed::ObjectDeleted { key } => format!("deleted object key={key}"),
        }
    }
}

/// What the mends write with: the operator's clients, never the function's read-only role.
pub(super) struct Parts<'a> {
    pub ledger: &'a DynamoLedger,
    pub tavus: &'a Tavus,
    pub recordings: Option<&'a Recordings>,
}

/// Mends what `checks` found that is safe to mend, in order; returns each mend made.
pub(super) async fn mend(
    audit: &Parts<'_>,
    checks: &[CheckResult],
    now: DateTime<Utc>,
    deadline: Instant,
) -> Vec<Fixed> {
    let mut fixed = Vec::new();
    let mut erasures_stuck = false;
    for finding in checks.iter().flat_map(|c| &c.findings) {
        let mended = match finding {
            Finding::UnheldConversation {
                conversation,
                user,
                closed,
                created_at,
                ..
            } => end_unheld(audit, conversation, user, *closed, *created_at, deadline).await,
            Finding::EndedNotDeleted {
                conversation,
                held: false,
                ..
            } => delete_conversation(audit, conversation, deadline)
                .await
                .then(|| Fixed::ConversationDeleted {
                    conversation: conversation.clone(),
                }),
            Finding::UnreferencedObject { key, written_at }
                if now - *written_at >= DELETE_UNREFERENCED_AFTER =>
            {
                delete_object(audit, key).await
            }
            Finding::ErasureStuck { .. } => {
                erasures_stuck = true;
                None
            }
            _ => None,
        };
        if let Some(mended) = mended {
            tracing::warn!(fix = %mended.describe(), "audit fixed");
            fixed.push(mended);
        }
    }
    if erasures_stuck {
        let finished = finish_erasures(audit.ledger, audit.recordings, now, deadline).await;
        let mended = Fixed::ErasuresFinished {
            count: finished.finished,
        };
        tracing::warn!(fix = %mended.describe(), failed = finished.failed, "audit fixed");
        fixed.push(mended);
    }
    fixed
}

async fn end_unheld(
    audit: &Parts<'_>,
    conversation: &str,
    user: &crate::domain::UserId,
    closed: bool,
    created_at: Option<DateTime<Utc>>,
    deadline: Instant,
) -> Option<Fixed> {
    match audit.tavus.end_conversation(conversation, deadline).await {
        Ok(()) => {}
        Err(e) if e.is_unknown_conversation() => {}
        Err(e) => {
            tracing::error!(conversation_id = conversation, error = %e, "audit: could not end a conversation");
            return None;
        }
    }
    // Ended now, whatever time the run judges as (`--ahead`): the tally books what Tavus ran.
    let ended_at = Utc::now();
    if let Some(created_at) = created_at
        && let Err(e) = audit
            .ledger
            .record_orphan_end(user, created_at, ended_at)
            .await
    {
        tracing::warn!(conversation_id = conversation, error = %e, "audit: the ended orphan's minutes were not tallied");
    }
    let deleted = !closed && delete_conversation(audit, conversation, deadline).await;
    Some(Fixed::ConversationEnded {
        conversation: conversation.to_owned(),
        deleted,
    })
}

async fn delete_conversation(audit: &Parts<'_>, conversation: &str, deadline: Instant) -> bool {
    match audit
        .tavus
        .delete_conversation(conversation, deadline)
        .await
    {
        Ok(()) => true,
        Err(e) => {
            tracing::error!(conversation_id = conversation, error = %e, "audit: could not delete a conversation");
            false
        }
    }
}

async fn delete_object(audit: &Parts<'_>, key: &str) -> Option<Fixed> {
    let recordings = audit.recordings?;
    match recordings.delete(key).await {
        Ok(()) => Some(Fixed::ObjectDeleted {
            key: key.to_owned(),
        }),
        Err(e) => {
            tracing::error!(key, error = %e, "audit: could not delete an object");
            None
        }
    }
}
