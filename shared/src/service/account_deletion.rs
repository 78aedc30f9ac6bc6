//! `DELETE /me`: a person leaves, and everything kept about them goes. In order:
//!
//! 1. The account is marked ([`DynamoLedger::mark_account_deleting`]): no new session starts
//!    in it, and the sweeper finds the deletion if this request is cut short.
//! 2. Each session they own is ended if it is still open (charged as an end from the app is:
//!    [`settle::end_session`]), then erased exactly as `DELETE /sessions/{id}` erases one
//!    ([`erase::erase`]: Tavus's copy, recordings, transcript, everybody's notes, the
//!    participants' links).
//! 3. They leave each session of another owner ([`DynamoLedger::leave_session`]): their link,
//!    their notes and their id in its participants go; the owner keeps the session.
//! 4. The exports handed over through the bucket are deleted, then every item left under them
//!    (history, what is kept of erased sessions, idempotency and export records), then the
//!    account, last.
//!
//! Any step that cannot finish now (Tavus or the bucket unavailable, the request's time up)
//! leaves the deletion marked: the next `DELETE /me` or the sweeper ([`finish_deletions`])
//! goes on from where it stands, since every step is safe to repeat. What is kept afterwards
//! has no user id in it: the minutes tally of each month (what Tavus ran against what was
//! charged, by cause) and the memory of erased conversations.

use std::time::Instant;

use chrono::{DateTime, Utc};
use futures::StreamExt;

use super::{ServiceError, erase, settle};
use crate::domain::{Session, UserId};
use crate::metrics::emit;
use crate::recording_bucket::Recordings;
use crate::store::DynamoLedger;
use crate::store::dynamo::LastStep;
use crate::store::keys::INDEX_SHARDS;
use crate::tavus::Tavus;

/// How long a marked deletion is left to the request that began it before the sweeper takes
/// it over.
pub const DELETION_SWEEP_AFTER: chrono::Duration = chrono::Duration::minutes(1);

/// How many sessions are ended or erased at once.
const CONCURRENCY: usize = 4;
/// How many due deletions are taken from a shard per query.
const BATCH: usize = 50;

/// What a deletion needs.
#[derive(Clone, Copy)]
pub struct DeletionContext<'a> {
    pub ledger: &'a DynamoLedger,
    pub tavus: &'a Tavus,
    pub recordings: Option<&'a Recordings>,
    pub now: DateTime<Utc>,
    pub deadline: Instant,
}

/// Where a deletion stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Deletion {
    /// Nothing is kept about the user any more.
    Deleted(DeletionCounts),
    /// Begun and marked; something is still to finish (`why`, for the log and the answer).
    InProgress {
        counts: DeletionCounts,
        why: &'static str,
    },
}

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeletionCounts {
    pub sessions_ended: u64,
    pub sessions_erased: u64,
    pub sessions_left: u64,
    pub items_deleted: u64,
    pub exports_deleted: u64,
}

/// `DELETE /me`: marks the account, then goes as far as the request's time allows. Once the
/// mark is down, a failure (Tavus, the bucket or the table unavailable) only leaves it
/// unfinished: the sweeper carries on.
pub async fn delete_account(
    cx: DeletionContext<'_>,
    user: &UserId,
) -> Result<Deletion, ServiceError> {
    cx.ledger.mark_account_deleting(user, cx.now).await?;
    Ok(carry_on(cx, user)
        .await
        .unwrap_or_else(|_| in_progress(DeletionCounts::default(), "a service it needs failed")))
}

/// One pass over a marked deletion, timed and counted.
async fn carry_on(cx: DeletionContext<'_>, user: &UserId) -> Result<Deletion, ServiceError> {
    let started = Instant::now();
    let result = one_pass(cx, user).await;
    let (outcome, counts) = match &result {
        Ok(Deletion::Deleted(counts)) => ("deleted", *counts),
        Ok(Deletion::InProgress { counts, why }) => {
            tracing::info!(why, "account deletion not finished yet");
            ("in_progress", *counts)
        }
        Err(e) => {
            tracing::warn!(error = %e, "account deletion stopped; it is still marked");
            ("failed", DeletionCounts::default())
        }
    };
    tracing::info!(
        outcome,
        sessions_ended = counts.sessions_ended,
        sessions_erased = counts.sessions_erased,
        sessions_left = counts.sessions_left,
        items_deleted = counts.items_deleted,
        exports_deleted = counts.exports_deleted,
        "account deletion pass"
    );
    emit::account_deletion(outcome, counts.sessions_erased, started.elapsed());
    result
}

async fn one_pass(cx: DeletionContext<'_>, user: &UserId) -> Result<Deletion, ServiceError> {
    let mut counts = DeletionCounts::default();
    let holdings = cx.ledger.holdings(user).await?;
    let owned = holdings.owned.len() as u64;
    let (ended, erased) = end_and_erase(cx, user, holdings.owned).await;
    counts.sessions_ended = ended;
    counts.sessions_erased = erased;
    if erased < owned {
        return Ok(in_progress(counts, "a session of theirs is not erased yet"));
    }
    for joined in &holdings.joined {
        if Instant::now() >= cx.deadline {
            return Ok(in_progress(counts, "out of time"));
        }
        cx.ledger.leave_session(user, joined).await?;
        counts.sessions_left += 1;
    }
    counts.exports_deleted = delete_exports(cx.recordings, &holdings.exports).await?;
    // Read again: a session created or joined meanwhile (before the mark, still in flight) is
    // handled by the next pass, never left behind.
    let rest = cx.ledger.holdings(user).await?;
    if !rest.owned.is_empty() || !rest.joined.is_empty() {
        return Ok(in_progress(counts, "a session was added meanwhile"));
    }
    counts.exports_deleted += delete_exports(cx.recordings, &rest.exports).await?;
    counts.items_deleted = cx.ledger.delete_items(rest.other_keys).await? as u64;
    let period = rest.account.map(|account| account.period);
    match cx.ledger.delete_marked_account(user, period).await? {
        LastStep::Deleted => Ok(Deletion::Deleted(counts)),
        LastStep::Changed => Ok(in_progress(counts, "the account changed meanwhile")),
    }
}

fn in_progress(counts: DeletionCounts, why: &'static str) -> Deletion {
    Deletion::InProgress { counts, why }
}

/// Ends each open session (as the owner's end from the app), then erases each; returns how
/// many were ended and erased. A session that fails is left for the next pass (logged).
async fn end_and_erase(cx: DeletionContext<'_>, user: &UserId, owned: Vec<Session>) -> (u64, u64) {
    let results: Vec<(bool, bool)> = futures::stream::iter(owned)
        .map(|session| end_and_erase_one(cx, user, session))
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    let ended = results.iter().filter(|(ended, _)| *ended).count() as u64;
    let erased = results.iter().filter(|(_, erased)| *erased).count() as u64;
    (ended, erased)
}

async fn end_and_erase_one(
    cx: DeletionContext<'_>,
    user: &UserId,
    session: Session,
) -> (bool, bool) {
    if Instant::now() >= cx.deadline {
        return (false, false);
    }
    let session_id = session.session_id;
    let (closed, ended) = if session.status.is_open() {
        match settle::end_session(cx.ledger, cx.tavus, user, session_id, cx.now, cx.deadline).await
        {
            Ok(closed) => (closed, true),
            Err(e) => {
                tracing::warn!(%session_id, error = %e, "could not end a session of an account being deleted");
                return (false, false);
            }
        }
    } else {
        (session, false)
    };
    match erase::erase(cx.ledger, cx.tavus, cx.recordings, &closed, cx.deadline).await {
        Ok(()) => (ended, true),
        // Erased meanwhile (a pass of the sweeper, a repeated request): gone is what was asked.
        Err(ServiceError::NotFound) => (ended, true),
        Err(e) => {
            tracing::warn!(%session_id, error = %e, "could not erase a session of an account being deleted");
            (ended, false)
        }
    }
}

/// Deletes the exports handed over through the bucket.
async fn delete_exports(
    recordings: Option<&Recordings>,
    keys: &[String],
) -> Result<u64, ServiceError> {
    let Some(recordings) = recordings else {
        return Ok(0);
    };
    for key in keys {
        recordings.delete(key).await?;
    }
    Ok(keys.len() as u64)
}

/// What [`finish_deletions`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeletionSweep {
    pub finished: u64,
    /// Passes that left the deletion marked (it is tried again by the next sweep).
    pub unfinished: u64,
    /// False when the deadline stopped it; the next sweep continues.
    pub complete: bool,
}

/// The sweeper's part: carries on every account deletion begun [`DELETION_SWEEP_AFTER`] ago
/// or more and not finished (a request cut short, a session that could not be erased then),
/// until done or the deadline.
pub async fn finish_deletions(cx: DeletionContext<'_>) -> DeletionSweep {
    let mut report = DeletionSweep {
        complete: true,
        ..DeletionSweep::default()
    };
    let cutoff = cx.now - DELETION_SWEEP_AFTER;
    for shard in 0..INDEX_SHARDS {
        let mut start = None;
        loop {
            if Instant::now() >= cx.deadline {
                report.complete = false;
                return report;
            }
            let page = match cx.ledger.deletions_due(shard, cutoff, BATCH, start).await {
                Ok(page) => page,
                Err(e) => {
                    tracing::error!(shard, error = %e, "cannot query account deletions");
                    report.complete = false;
                    break;
                }
            };
            // One at a time: each deletion erases its sessions a few at once already.
            for user in &page.users {
                match carry_on(cx, user).await {
                    Ok(Deletion::Deleted(_)) => report.finished += 1,
                    Ok(Deletion::InProgress { .. }) | Err(_) => report.unfinished += 1,
                }
            }
            match page.next {
                Some(next) => start = Some(next),
                None => break,
            }
        }
    }
    report
}
