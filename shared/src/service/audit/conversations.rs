//! Tavus's conversations against the ledger, both ways:
//! - Tavus's active conversations of ours (their callback URL is signed with our key) that no
//!   active session holds: they run, and Tavus bills them, for nobody;
//! - Tavus's ended conversations of ours still kept more than an hour after they ended: every
//!   path deletes Tavus's copy after the call;
//! - the ledger's active sessions whose conversation Tavus ended more than 30 minutes ago (or
//!   no longer knows): their minutes stay reserved, their place taken.
//!
//! Conversations of other deployments on the same Tavus account are never counted or touched.

use std::time::Instant;

use chrono::{DateTime, Duration, Utc};

use super::finding::{Check, CheckResult, ENDED_AT_TAVUS_AFTER, Finding, STUCK_AFTER};
use super::options::AuditOptions;
use crate::domain::{Session, SessionStatus, minutes::TAVUS_MAX_CALL_MINUTES};
use crate::secrets::Secret;
use crate::service::callback_token::CallbackClaims;
use crate::service::sweep::{Holder, holder, ours};
use crate::store::DynamoLedger;
use crate::tavus::{Conversation, LIST_PAGE_SIZE, Tavus};

/// Pages of one status the audit reads at most (100 conversations each).
const MAX_PAGES: u32 = 1_000;

/// The three checks' results, in the order the report shows them.
pub(super) struct ConversationChecks {
    pub unheld: CheckResult,
    pub ended: CheckResult,
    pub at_tavus: CheckResult,
}

impl ConversationChecks {
    pub(super) fn into_results(self) -> Vec<CheckResult> {
        vec![self.unheld, self.ended, self.at_tavus]
    }
}

/// What the three checks read.
#[derive(Clone, Copy)]
struct Parts<'a> {
    ledger: &'a DynamoLedger,
    tavus: &'a Tavus,
    options: &'a AuditOptions,
}

pub(super) async fn check(
    ledger: &DynamoLedger,
    tavus: &Tavus,
    options: &AuditOptions,
    now: DateTime<Utc>,
    deadline: Instant,
) -> ConversationChecks {
    let audit = &Parts {
        ledger,
        tavus,
        options,
    };
    let mut checks = ConversationChecks {
        unheld: CheckResult::new(Check::UnheldConversations),
        ended: CheckResult::new(Check::EndedNotDeleted),
        at_tavus: CheckResult::new(Check::EndedAtTavus),
    };
    match audit.tavus.secrets().webhook_key().await {
        Ok(key) => {
            active_conversations(audit, &key, now, deadline, &mut checks.unheld).await;
            ended_conversations(audit, &key, now, deadline, &mut checks.ended).await;
        }
        Err(e) => {
            checks.unheld.incomplete(&e);
            checks.ended.incomplete(&e);
        }
    }
    active_sessions(audit, now, deadline, &mut checks.at_tavus).await;
    checks
}

/// Every conversation of ours with `status` at Tavus, old enough to judge: those whose callback
/// URL carries our signature, with the session it names. A listing cut short marks `result`
/// incomplete.
async fn ours_with_status(
    audit: &Parts<'_>,
    key: &Secret,
    status: &str,
    deadline: Instant,
    result: &mut CheckResult,
) -> Vec<(Conversation, CallbackClaims)> {
    let mut found = Vec::new();
    for page in 1..=MAX_PAGES {
        if Instant::now() >= deadline {
            result.incomplete(&"the deadline came before Tavus's list was read");
            break;
        }
        let listing = match audit.tavus.list_conversations(status, page, deadline).await {
            Ok(listing) => listing,
            Err(e) => {
                result.incomplete(&e);
                break;
            }
        };
        let last = listing.data.len() < LIST_PAGE_SIZE as usize;
        for conversation in listing.data {
            if let Some(claims) = ours(&conversation, key) {
                found.push((conversation, claims));
            }
        }
        if last {
            break;
        }
    }
    found
}

/// Conversations too young to judge: a create may still be on its way into its session, and a
/// call just ended may still be settling.
fn settled_down(conversation: &Conversation, audit: &Parts<'_>, now: DateTime<Utc>) -> bool {
    conversation
        .created_at
        .is_some_and(|t| now - t >= audit.options.settling_time)
}

async fn active_conversations(
    audit: &Parts<'_>,
    key: &Secret,
    now: DateTime<Utc>,
    deadline: Instant,
    result: &mut CheckResult,
) {
    for (conversation, claims) in ours_with_status(audit, key, "active", deadline, result).await {
        result.checked += 1;
        if !settled_down(&conversation, audit, now) {
            continue;
        }
        let closed = match held(audit, &claims, &conversation, result).await {
            Some(Holder::Active) | None => continue,
            Some(holder) => holder == Holder::Closed,
        };
        result.findings.push(Finding::UnheldConversation {
            created_at: conversation.created_at,
            conversation: conversation.conversation_id,
            user: claims.owner,
            session: claims.session_id,
            closed,
        });
    }
}

/// Who holds `conversation`; `None` (and the check incomplete) when the ledger cannot say.
async fn held(
    audit: &Parts<'_>,
    claims: &CallbackClaims,
    conversation: &Conversation,
    result: &mut CheckResult,
) -> Option<Holder> {
    match holder(audit.ledger, claims, &conversation.conversation_id).await {
        Holder::Unknown => {
            result.incomplete(&"the ledger could not say who holds a conversation");
            None
        }
        known => Some(known),
    }
}

/// No call runs longer than Tavus's cap, so a conversation created this long ago ended at least
/// [`STUCK_AFTER`] ago, without asking Tavus when.
fn ended_long_ago(conversation: &Conversation, now: DateTime<Utc>) -> bool {
    let longest_call = Duration::minutes(i64::from(TAVUS_MAX_CALL_MINUTES) + 5);
    conversation
        .created_at
        .is_some_and(|t| now - t >= longest_call + STUCK_AFTER)
}

async fn ended_conversations(
    audit: &Parts<'_>,
    key: &Secret,
    now: DateTime<Utc>,
    deadline: Instant,
    result: &mut CheckResult,
) {
    for (conversation, claims) in ours_with_status(audit, key, "ended", deadline, result).await {
        result.checked += 1;
        // A deployment that keeps Tavus's copies (`TAVUS_DELETE_AFTER_CALL=false`) keeps them.
        if !audit.options.tavus_copies_deleted || !ended_long_ago(&conversation, now) {
            continue;
        }
        let Some(holder) = held(audit, &claims, &conversation, result).await else {
            continue;
        };
        let held = holder != Holder::Nobody;
        result.findings.push(Finding::EndedNotDeleted {
            conversation: conversation.conversation_id,
            user: claims.owner,
            session: claims.session_id,
            held,
        });
    }
}

/// The ledger's active sessions, each asked of Tavus.
async fn active_sessions(
    audit: &Parts<'_>,
    now: DateTime<Utc>,
    deadline: Instant,
    result: &mut CheckResult,
) {
    let sessions = match super::index::open_sessions(audit.ledger, now).await {
        Ok(sessions) => sessions,
        Err(e) => {
            result.incomplete(&e);
            return;
        }
    };
    for session in sessions {
        let Some(conversation) = active_conversation(&session) else {
            continue;
        };
        result.checked += 1;
        let ended_at = match audit.tavus.get_conversation(conversation, deadline).await {
            Ok(details) if details.status.as_deref() == Some("ended") => {
                details.ended_at().or(details.ended_without_event_at())
            }
            Ok(_) => continue,
            Err(e) if e.is_unknown_conversation() => None,
            Err(e) => {
                result.incomplete(&e);
                continue;
            }
        };
        if ended_at.is_some_and(|t| now - t < ENDED_AT_TAVUS_AFTER) {
            continue;
        }
        result.findings.push(Finding::EndedAtTavus {
            user: session.owner_id.clone(),
            session: session.session_id,
            conversation: conversation.to_owned(),
            ended_at,
        });
    }
}

fn active_conversation(session: &Session) -> Option<&str> {
    (session.status == SessionStatus::Active)
        .then_some(session.conversation_id.as_deref())
        .flatten()
}
