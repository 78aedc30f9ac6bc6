//! The sweeper: settles sessions that stayed open past their reservation plus a grace period
//! (their callback never came), and releases reservations whose conversation was never created
//! (a crash between the reservation and Tavus). Found through the open-sessions index, shard by
//! shard, never by scanning.

use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use futures::StreamExt;
use serde::Serialize;

use crate::LedgerError;
use crate::domain::minutes::settled_minutes;
use crate::domain::{EndReason, Session, SessionStatus};
use crate::store::keys::INDEX_SHARDS;
use crate::store::{CloseSession, Closed, Closing, FindOpenSessions};
use crate::tavus::{EndConversation, GetConversation};

/// How many sessions are settled at once.
const CONCURRENCY: usize = 8;
/// How many due sessions are taken from a shard per query.
const BATCH: usize = 200;

/// The counts a sweep reports (its Lambda result and its last log line).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SweepReport {
    pub found: u64,
    /// Pending sessions without a conversation: reservation released.
    pub released: u64,
    /// Settled with the end time Tavus reported.
    pub settled_from_tavus: u64,
    /// Tavus had no end time (or no answer): the whole reservation was charged.
    pub settled_in_full: u64,
    /// Closed meanwhile by a callback or the user.
    pub already_closed: u64,
    pub failed: u64,
    /// False when the deadline stopped the sweep; the next run continues.
    pub complete: bool,
}

enum Outcome {
    Released,
    FromTavus,
    InFull,
    AlreadyClosed,
    Failed,
}

/// Sweeps every shard for sessions open past `now - grace`, until done or `deadline`.
pub async fn sweep<L, T>(
    ledger: &L,
    tavus: &T,
    now: DateTime<Utc>,
    grace: Duration,
    deadline: Instant,
) -> SweepReport
where
    L: FindOpenSessions + CloseSession + Sync,
    T: GetConversation + EndConversation + Sync,
{
    let cutoff = now - grace;
    let mut report = SweepReport {
        complete: true,
        ..SweepReport::default()
    };
    for shard in 0..INDEX_SHARDS {
        loop {
            if Instant::now() >= deadline {
                report.complete = false;
                return report;
            }
            let due = match ledger.open_sessions_due(shard, cutoff, BATCH).await {
                Ok(due) => due,
                Err(e) => {
                    tracing::error!(shard, error = %e, "cannot query open sessions");
                    report.failed += 1;
                    report.complete = false;
                    break;
                }
            };
            let count = due.len();
            report.found += count as u64;
            let outcomes: Vec<Outcome> = futures::stream::iter(due)
                .map(|session| sweep_one(ledger, tavus, session, now, deadline))
                .buffer_unordered(CONCURRENCY)
                .collect()
                .await;
            let mut progressed = false;
            for outcome in outcomes {
                match outcome {
                    Outcome::Released => report.released += 1,
                    Outcome::FromTavus => report.settled_from_tavus += 1,
                    Outcome::InFull => report.settled_in_full += 1,
                    Outcome::AlreadyClosed => report.already_closed += 1,
                    Outcome::Failed => report.failed += 1,
                }
                progressed = true;
            }
            // A full batch may have more behind it (settled ones leave the index); a short one
            // means the shard is done.
            if count < BATCH || !progressed {
                break;
            }
        }
    }
    tracing::info!(?report, "sweep finished");
    report
}

async fn sweep_one<L, T>(
    ledger: &L,
    tavus: &T,
    session: Session,
    now: DateTime<Utc>,
    deadline: Instant,
) -> Outcome
where
    L: CloseSession + Sync,
    T: GetConversation + EndConversation + Sync,
{
    let (closing, outcome) = match (session.status, session.conversation_id.as_deref()) {
        (SessionStatus::Active, Some(conversation_id)) => match tavus
            .get_conversation(conversation_id, deadline)
            .await
        {
            Ok(details) => match details.ended_at() {
                Some(ended_at) => {
                    let reason = details.shutdown_reason.as_deref().or_else(|| {
                        details
                            .events
                            .iter()
                            .find(|e| e.event_type == "system.shutdown")
                            .and_then(|e| e.properties.get("shutdown_reason"))
                            .and_then(|r| r.as_str())
                    });
                    let charged =
                        settled_minutes(session.created_at, ended_at, session.reserved_minutes);
                    (
                        Closing::settle(
                            &session,
                            charged,
                            EndReason::from_shutdown_reason(reason),
                            ended_at,
                        ),
                        Outcome::FromTavus,
                    )
                }
                None => {
                    // Still running past its reservation and grace: stop it, charge the reservation.
                    if let Err(e) = tavus.end_conversation(conversation_id, deadline).await {
                        tracing::warn!(session_id = %session.session_id, error = %e, "could not end an overdue conversation");
                    }
                    (
                        Closing::settle(&session, session.reserved_minutes, EndReason::Swept, now),
                        Outcome::InFull,
                    )
                }
            },
            Err(e) => {
                tracing::warn!(session_id = %session.session_id, error = %e, "tavus has no answer; charging the reservation");
                (
                    Closing::settle(&session, session.reserved_minutes, EndReason::Swept, now),
                    Outcome::InFull,
                )
            }
        },
        // Pending (or active without a conversation, which this code never writes): the
        // conversation was never recorded, so nothing ran that we know of.
        _ => (
            Closing::release(&session, EndReason::Abandoned, now),
            Outcome::Released,
        ),
    };
    match ledger.close(closing).await {
        Ok(Closed::AlreadyClosed) => Outcome::AlreadyClosed,
        Ok(_) => {
            tracing::info!(session_id = %session.session_id, status = session.status.as_str(), "swept");
            outcome
        }
        Err(LedgerError::SessionMismatch(_) | LedgerError::SessionNotFound) => {
            Outcome::AlreadyClosed
        }
        Err(e) => {
            tracing::error!(session_id = %session.session_id, error = %e, "could not settle");
            Outcome::Failed
        }
    }
}
