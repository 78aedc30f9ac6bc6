//! The sweeper. Through the open-sessions index, shard by shard, never by scanning, it:
//! - settles sessions that stayed open past their reservation plus a grace period (their
//!   callback never came), from what Tavus says of the conversation;
//! - releases reservations whose conversation was never created (a crash between the
//!   reservation and Tavus);
//! - deletes Tavus's copy of settled sessions' conversations that the transcript callback did not
//!   delete (first storing the transcript from Tavus's record if it never arrived).
//!
//! Then, from Tavus's lists of active and of ended conversations, it ends and deletes every
//! conversation of ours (its callback URL is signed with our key) that no session holds: the
//! leftovers of a create whose answer was lost, of a crash, or of a released create whose copy
//! could not be deleted. Each due session is visited once per sweep (the index is read on with
//! a cursor), so sessions that keep failing never hold up the rest.

use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use futures::StreamExt;
use serde::Serialize;

use super::callback_token;
use super::settle::{self, ClosedBy};
use super::tavus_copy::delete_tavus_copy;
use crate::LedgerError;
use crate::domain::minutes::{settled_minutes, shutdown_charge};
use crate::domain::{EndReason, Session, SessionStatus, Transcript};
use crate::secrets::Secrets;
use crate::store::DynamoLedger;
use crate::store::keys::INDEX_SHARDS;
use crate::store::{Closed, Closing};
use crate::tavus::Tavus;
use crate::tavus::{Conversation, ConversationDetails, LIST_PAGE_SIZE};

/// How many sessions are handled at once.
const CONCURRENCY: usize = 8;
/// How many due sessions are taken from a shard per query.
const BATCH: usize = 200;
/// How many pages of Tavus's active conversations one sweep looks through for orphans.
const ORPHAN_PAGES: u32 = 10;

/// What the sweeper needs to know besides its clients.
#[derive(Debug, Clone, Copy)]
pub struct SweepOptions {
    /// How long past its reservation a session may stay open before it is swept.
    pub grace: Duration,
    /// Delete Tavus's copy of settled conversations (`TAVUS_DELETE_AFTER_CALL`).
    pub delete_after_call: bool,
    /// A conversation younger than this may still be on its way into a session: not an orphan.
    pub orphan_min_age: Duration,
}

impl Default for SweepOptions {
    fn default() -> Self {
        SweepOptions {
            grace: Duration::minutes(10),
            delete_after_call: true,
            orphan_min_age: Duration::seconds(60),
        }
    }
}

/// The counts a sweep reports (its Lambda result and its last log line).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SweepReport {
    pub found: u64,
    /// Pending sessions without a conversation: reservation released.
    pub released: u64,
    /// Settled with the end time Tavus reported.
    pub settled_from_tavus: u64,
    /// Tavus had no end time, or no record of the conversation: the whole reservation was
    /// charged.
    pub settled_in_full: u64,
    /// Closed meanwhile by a callback or the user.
    pub already_closed: u64,
    /// Settled sessions whose conversation Tavus no longer keeps.
    pub tavus_copies_deleted: u64,
    /// Transcripts that never came by callback, taken from Tavus's record before deleting it.
    pub transcripts_recovered: u64,
    /// Active conversations of ours that no active session held, ended.
    pub orphans_ended: u64,
    /// Conversations of ours that no session held, deleted at Tavus (with the prompt).
    pub orphans_deleted: u64,
    /// Erasures whose recordings could not be deleted at first, finished
    /// ([`super::erase::finish_erasures`], run by the sweep-sessions function).
    pub recording_erasures_finished: u64,
    /// Account deletions (`DELETE /me`) cut short, finished
    /// ([`super::account_deletion::finish_deletions`], run by the sweep-sessions function).
    pub account_deletions_finished: u64,
    pub failed: u64,
    /// False when the deadline stopped the sweep; the next run continues.
    pub complete: bool,
}

impl SweepReport {
    /// The counts by outcome, as the `SweptSessions` metric publishes them.
    pub fn outcomes(&self) -> [(&'static str, u64); 9] {
        [
            ("released", self.released),
            ("settled_from_tavus", self.settled_from_tavus),
            ("settled_in_full", self.settled_in_full),
            ("already_closed", self.already_closed),
            ("tavus_copy_deleted", self.tavus_copies_deleted),
            ("transcript_recovered", self.transcripts_recovered),
            (
                "recording_erasure_finished",
                self.recording_erasures_finished,
            ),
            ("account_deletion_finished", self.account_deletions_finished),
            ("failed", self.failed),
        ]
    }
}

enum Outcome {
    Released,
    FromTavus,
    InFull,
    AlreadyClosed,
    TavusCopyDeleted { transcript_recovered: bool },
    Failed,
}

/// Sweeps every shard for sessions due before `now - grace`, then ends orphaned conversations,
/// until done or `deadline`.
pub async fn sweep(
    ledger: &DynamoLedger,
    tavus: &Tavus,
    keys: &Secrets,
    options: SweepOptions,
    now: DateTime<Utc>,
    deadline: Instant,
) -> SweepReport {
    let mut report = SweepReport {
        complete: true,
        ..SweepReport::default()
    };
    let sweeper = Sweeper {
        ledger,
        tavus,
        options,
        now,
        deadline,
    };
    for shard in 0..INDEX_SHARDS {
        if !sweeper.sweep_shard(shard, &mut report).await {
            break;
        }
    }
    if Instant::now() < deadline {
        end_orphans(ledger, tavus, keys, options, now, deadline, &mut report).await;
    } else {
        report.complete = false;
    }
    tracing::info!(?report, "sweep finished");
    report
}

struct Sweeper<'a> {
    ledger: &'a DynamoLedger,
    tavus: &'a Tavus,
    options: SweepOptions,
    now: DateTime<Utc>,
    deadline: Instant,
}

impl Sweeper<'_> {
    /// Sweeps one shard, each due session once (a session that could not be handled now waits
    /// for the next sweep); false when the deadline stopped it.
    async fn sweep_shard(&self, shard: u32, report: &mut SweepReport) -> bool {
        let cutoff = self.now - self.options.grace;
        let mut start = None;
        loop {
            if Instant::now() >= self.deadline {
                report.complete = false;
                return false;
            }
            let batch = match (self.ledger)
                .open_sessions_due(shard, cutoff, BATCH, start)
                .await
            {
                Ok(batch) => batch,
                Err(e) => {
                    tracing::error!(shard, error = %e, "cannot query open sessions");
                    report.failed += 1;
                    report.complete = false;
                    return true;
                }
            };
            report.found += batch.sessions.len() as u64;
            let outcomes: Vec<Outcome> = futures::stream::iter(batch.sessions)
                .map(|session| self.sweep_one(session))
                .buffer_unordered(CONCURRENCY)
                .collect()
                .await;
            for outcome in outcomes {
                count_outcome(report, outcome);
            }
            match batch.next {
                Some(next) => start = Some(next),
                None => return true,
            }
        }
    }

    async fn sweep_one(&self, session: Session) -> Outcome {
        match (session.status, session.conversation_id.clone()) {
            (SessionStatus::Active, Some(conversation_id)) => {
                self.settle_active(session, &conversation_id).await
            }
            (SessionStatus::Ended | SessionStatus::Failed, Some(conversation_id)) => {
                self.delete_copy(&session, &conversation_id).await
            }
            (SessionStatus::Ended | SessionStatus::Failed, None) => {
                match self
                    .ledger
                    .tavus_copy_done(&session.owner_id, session.session_id)
                    .await
                {
                    Ok(()) => Outcome::AlreadyClosed,
                    Err(_) => Outcome::Failed,
                }
            }
            // Pending (or active without a conversation, which this code never writes): the
            // conversation was never recorded, so nothing ran that we know of.
            _ => {
                let closing = Closing::release(&session, EndReason::Abandoned, self.now);
                self.close(&session, closing, Outcome::Released).await
            }
        }
    }

    /// An active session past its reservation and grace: settle it from Tavus's record.
    async fn settle_active(&self, session: Session, conversation_id: &str) -> Outcome {
        let details = match self
            .tavus
            .get_conversation(conversation_id, self.deadline)
            .await
        {
            Ok(details) => details,
            // Tavus has no record of the conversation at all: nothing tells what ran, so the
            // reservation is charged (Tavus stops a call there).
            Err(e) if e.is_unknown_conversation() => {
                tracing::warn!(session_id = %session.session_id, "tavus has no record of the conversation; charging the reservation");
                let closing = Closing::settle(
                    &session,
                    session.reserved_minutes,
                    EndReason::Swept,
                    self.now,
                )
                .delete_tavus_copy(&session, self.now);
                return self.close(&session, closing, Outcome::InFull).await;
            }
            // No answer now (a 5xx, a timeout, a refusal): charging anything would be a guess.
            // The session stays open for the next sweep, or its shutdown callback.
            Err(e) => {
                tracing::warn!(session_id = %session.session_id, error = %e, "tavus has no answer; the next sweep asks again");
                return Outcome::Failed;
            }
        };
        let closing = match settlement_from(&session, &details) {
            Some(closing) => closing,
            None => match self.end_overdue(&session, conversation_id).await {
                Ok(closing) => closing,
                Err(outcome) => return outcome,
            },
        };
        let closing = closing.delete_tavus_copy(&session, self.now);
        self.close(&session, closing, Outcome::FromTavus).await
    }

    /// A call still running past its reservation and grace: stopped, then charged what Tavus
    /// says ran (its end time, capped at the reservation). When Tavus cannot say yet, the next
    /// sweep asks again; the reservation is charged only if Tavus has no record at all.
    async fn end_overdue(
        &self,
        session: &Session,
        conversation_id: &str,
    ) -> Result<Closing, Outcome> {
        match self
            .tavus
            .end_conversation(conversation_id, self.deadline)
            .await
        {
            Ok(()) => {}
            Err(e) if e.is_unknown_conversation() => {}
            Err(e) => {
                tracing::warn!(session_id = %session.session_id, error = %e, "could not end an overdue conversation; the next sweep tries again");
                return Err(Outcome::Failed);
            }
        }
        let after = self
            .tavus
            .get_conversation(conversation_id, self.deadline)
            .await;
        match after
            .as_ref()
            .map(|details| settlement_from(session, details))
        {
            // Ended by this sweep: charged by the rule of a call we ended (at most the
            // reservation), whatever reason Tavus gives.
            Ok(Some(closing)) => Ok(Closing {
                reason: EndReason::Swept,
                charged_minutes: shutdown_charge(
                    session.created_at,
                    closing.ended_at,
                    session.reserved_minutes,
                    EndReason::Swept,
                ),
                ..closing
            }),
            Ok(None) => {
                tracing::warn!(session_id = %session.session_id, "an ended conversation still shows running; the next sweep asks again");
                Err(Outcome::Failed)
            }
            Err(e) if e.is_unknown_conversation() => {
                let closing = Closing::settle(
                    session,
                    session.reserved_minutes,
                    EndReason::Swept,
                    self.now,
                )
                .delete_tavus_copy(session, self.now);
                Err(self.close(session, closing, Outcome::InFull).await)
            }
            Err(e) => {
                tracing::warn!(session_id = %session.session_id, error = %e, "tavus has no answer after ending a call; the next sweep asks again");
                Err(Outcome::Failed)
            }
        }
    }

    async fn close(&self, session: &Session, closing: Closing, outcome: Outcome) -> Outcome {
        match settle::close(self.ledger, closing, ClosedBy::Sweeper).await {
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

    /// A settled session whose conversation Tavus still keeps: store the transcript from
    /// Tavus's record if it never came, then delete the copy (or, when deleting is off, only
    /// take the session out of the index).
    async fn delete_copy(&self, session: &Session, conversation_id: &str) -> Outcome {
        // A released session's conversation never ran for anyone: nothing of it is kept, and
        // its copy goes even where copies are kept.
        let released = session.status == SessionStatus::Failed;
        if !self.options.delete_after_call && !released {
            return match self
                .ledger
                .tavus_copy_done(&session.owner_id, session.session_id)
                .await
            {
                Ok(()) => Outcome::AlreadyClosed,
                Err(_) => Outcome::Failed,
            };
        }
        let transcript_recovered = if released {
            false
        } else {
            match self.recover_transcript(session, conversation_id).await {
                Ok(recovered) => recovered,
                // Deleting now could lose the transcript for good: try again next sweep.
                Err(()) => return Outcome::Failed,
            }
        };
        if delete_tavus_copy(
            self.ledger,
            self.tavus,
            session,
            conversation_id,
            self.deadline,
        )
        .await
        {
            Outcome::TavusCopyDeleted {
                transcript_recovered,
            }
        } else {
            Outcome::Failed
        }
    }

    /// Ok(true) when the transcript was taken from Tavus's record now; Ok(false) when it was
    /// already stored or Tavus has none; Err when it cannot be told.
    async fn recover_transcript(
        &self,
        session: &Session,
        conversation_id: &str,
    ) -> Result<bool, ()> {
        match self
            .ledger
            .read_transcript(&session.owner_id, session.session_id)
            .await
        {
            Ok(Some(_)) => return Ok(false),
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(session_id = %session.session_id, error = %e, "cannot read the transcript");
                return Err(());
            }
        }
        let details = match self
            .tavus
            .get_conversation(conversation_id, self.deadline)
            .await
        {
            Ok(details) => details,
            // Tavus no longer knows it: there is nothing left to keep.
            Err(e) if e.is_unknown_conversation() => return Ok(false),
            Err(e) => {
                tracing::warn!(session_id = %session.session_id, error = %e, "cannot read tavus's record");
                return Err(());
            }
        };
        let Some(items) = details.transcript() else {
            return Ok(false);
        };
        let (transcript, dropped) = Transcript::from_tavus_json(items);
        if dropped > 0 {
            tracing::warn!(session_id = %session.session_id, dropped_turns = dropped, "transcript turns without usable content were dropped");
        }
        match self
            .ledger
            .store_transcript(&session.owner_id, session.session_id, &transcript)
            .await
        {
            Ok(()) => Ok(true),
            Err(e) => {
                tracing::warn!(session_id = %session.session_id, error = %e, "cannot store the recovered transcript");
                Err(())
            }
        }
    }
}

/// How a session Tavus reports ended is settled: from its shutdown event's time, or, when it
/// ended without one (test mode, a replica that never joined, a deleted room), from creation to
/// Tavus's `updated_at`, capped by the reservation. `None` while it still runs.
fn settlement_from(session: &Session, details: &ConversationDetails) -> Option<Closing> {
    let nobody_joined = EndReason::nobody_joined(details.shutdown_reason());
    let reason = EndReason::from_shutdown_reason(details.shutdown_reason());
    if let Some(ended_at) = details.ended_at() {
        let charged = shutdown_charge(
            session.created_at,
            ended_at,
            session.reserved_minutes,
            reason,
        );
        return Some(
            Closing::settle(session, charged, reason, ended_at).nobody_joined(nobody_joined),
        );
    }
    let ended_at = details.ended_without_event_at()?.max(session.created_at);
    let charged = settled_minutes(session.created_at, ended_at, session.reserved_minutes)
        .min(session.reserved_minutes);
    Some(Closing::settle(session, charged, reason, ended_at).nobody_joined(nobody_joined))
}

fn count_outcome(report: &mut SweepReport, outcome: Outcome) {
    match outcome {
        Outcome::Released => report.released += 1,
        Outcome::FromTavus => report.settled_from_tavus += 1,
        Outcome::InFull => report.settled_in_full += 1,
        Outcome::AlreadyClosed => report.already_closed += 1,
        Outcome::TavusCopyDeleted {
            transcript_recovered,
        } => {
            report.tavus_copies_deleted += 1;
            report.transcripts_recovered += u64::from(transcript_recovered);
        }
        Outcome::Failed => report.failed += 1,
    }
}

/// Who holds a conversation of ours, by the session its callback token names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Holder {
    /// An active session runs on it.
    Active,
    /// A closed session recorded it: its own path deletes Tavus's copy (after the transcript).
    Closed,
    /// No session holds it: the session is gone, or never recorded this conversation.
    Nobody,
    /// The ledger could not say: left for the next sweep rather than a live call cut.
    Unknown,
}

/// Every conversation of ours (its callback URL is signed with our key) that no session holds
/// is ended and deleted: the leftovers of a create whose answer was lost, of a crash between
/// the create and the activation, or of a released create whose copy could not be deleted.
/// Tavus's list of active conversations, then of ended ones (the ended list is short where
/// copies are deleted after each call; `ORPHAN_PAGES` bounds either).
async fn end_orphans(
    ledger: &DynamoLedger,
    tavus: &Tavus,
    keys: &Secrets,
    options: SweepOptions,
    now: DateTime<Utc>,
    deadline: Instant,
    report: &mut SweepReport,
) {
    let key = match keys.webhook_key().await {
        Ok(key) => key,
        Err(e) => {
            tracing::error!(error = %e, "no webhook key: cannot tell our conversations; orphans not swept");
            report.failed += 1;
            return;
        }
    };
    for status in ["active", "ended"] {
        for page in 1..=ORPHAN_PAGES {
            let listing = match tavus.list_conversations(status, page, deadline).await {
                Ok(listing) => listing,
                Err(e) => {
                    tracing::warn!(status, error = %e, "cannot list tavus's conversations");
                    report.failed += 1;
                    return;
                }
            };
            let count = listing.data.len();
            for conversation in listing.data {
                let Some(claims) = ours(&conversation, &key) else {
                    continue;
                };
                // A conversation without a creation time, or a young one, may still be on its
                // way into a session.
                let Some(created_at) = conversation
                    .created_at
                    .filter(|t| now - *t >= options.orphan_min_age)
                else {
                    continue;
                };
                let holder = holder(ledger, &claims, &conversation.conversation_id).await;
                let orphan = Orphan {
                    ledger,
                    tavus,
                    claims: &claims,
                    conversation_id: &conversation.conversation_id,
                    created_at,
                    now,
                    deadline,
                };
                match (status, holder) {
                    (_, Holder::Active | Holder::Unknown) | ("ended", Holder::Closed) => {}
                    ("active", Holder::Closed) => {
                        orphan.end(report).await;
                    }
                    ("active", _) => {
                        if orphan.end(report).await {
                            orphan.delete(report).await;
                        }
                    }
                    _ => {
                        orphan.delete(report).await;
                    }
                }
            }
            if count < LIST_PAGE_SIZE as usize || Instant::now() >= deadline {
                break;
            }
        }
    }
}

/// A conversation of ours that no active session holds.
struct Orphan<'a> {
    ledger: &'a DynamoLedger,
    tavus: &'a Tavus,
    claims: &'a callback_token::CallbackClaims,
    conversation_id: &'a str,
    /// Tavus's creation time of the conversation: it ran (and cost) from then.
    created_at: DateTime<Utc>,
    /// The sweep's time: when an orphan it ends stops running.
    now: DateTime<Utc>,
    deadline: Instant,
}

impl Orphan<'_> {
    async fn end(&self, report: &mut SweepReport) -> bool {
        match self
            .tavus
            .end_conversation(self.conversation_id, self.deadline)
            .await
        {
            Ok(()) => {
                tracing::warn!(session_id = %self.claims.session_id, conversation_id = %self.conversation_id, "ended a conversation that no active session held");
                report.orphans_ended += 1;
                self.count_in_tally().await;
                true
            }
            Err(e) if e.is_unknown_conversation() => true,
            Err(e) => {
                tracing::warn!(conversation_id = %self.conversation_id, error = %e, "could not end an orphaned conversation");
                report.failed += 1;
                false
            }
        }
    }

    /// Adds what the ended orphan ran, charged to nobody, to its period's tally. A failure
    /// costs only the figure: the orphan is ended either way.
    async fn count_in_tally(&self) {
        if let Err(e) = self
            .ledger
            .record_orphan_end(&self.claims.owner, self.created_at, self.now)
            .await
        {
            tracing::warn!(session_id = %self.claims.session_id, conversation_id = %self.conversation_id, error = %e, "could not count an ended orphan in the minutes tally");
        }
    }

    async fn delete(&self, report: &mut SweepReport) -> bool {
        match self
            .tavus
            .delete_conversation(self.conversation_id, self.deadline)
            .await
        {
            Ok(()) => {
                tracing::warn!(session_id = %self.claims.session_id, conversation_id = %self.conversation_id, "deleted a conversation that no session held");
                report.orphans_deleted += 1;
                true
            }
            Err(e) => {
                tracing::warn!(conversation_id = %self.conversation_id, error = %e, "could not delete an orphaned conversation");
                report.failed += 1;
                false
            }
        }
    }
}

/// The session a conversation was created for, when its callback URL is signed with our key:
/// conversations of other deployments on the same Tavus account are never touched.
pub(crate) fn ours(
    conversation: &Conversation,
    key: &crate::secrets::Secret,
) -> Option<callback_token::CallbackClaims> {
    callback_token::verify_url(key, conversation.callback_url.as_deref()?)
}

/// Who holds this conversation: the session its token names, if that session recorded it.
pub(crate) async fn holder(
    ledger: &DynamoLedger,
    claims: &callback_token::CallbackClaims,
    conversation_id: &str,
) -> Holder {
    match ledger.get_session(&claims.owner, claims.session_id).await {
        Ok((session, _)) if session.conversation_id.as_deref() == Some(conversation_id) => {
            if session.status == SessionStatus::Active {
                Holder::Active
            } else {
                Holder::Closed
            }
        }
        Ok(_) | Err(LedgerError::SessionNotFound) => Holder::Nobody,
        Err(_) => Holder::Unknown,
    }
}
