//! The minute ledger on one DynamoDB table ([`DynamoLedger`]): every change is a conditional
//! write or a transaction, so no interleaving of requests, callbacks and jobs can break what it
//! keeps true. Its operations, grouped by what each keeps true:
//!
//! **Minutes are never overspent** (account item: `used + reserved <= limit`, open sessions
//! under the cap):
//! - [`DynamoLedger::reserve`]: reserve minutes and record a pending session (an Idempotency-Key
//!   replays its first session); [`DynamoLedger::ensure_account`] creates the free account.
//! - [`DynamoLedger::activate`]: record Tavus's conversation on the pending session.
//! - [`DynamoLedger::change_plan`]: move an account to a plan.
//!
//! **A session closes exactly once, charged what it used** (conditioned on its period,
//! reservation and, for callbacks, conversation):
//! - [`DynamoLedger::close`]: settle (reserved to used) or release (reserved given back), into
//!   the account or, after a rollover, into the old period's history; a conversation Tavus ran
//!   is added to its period's minutes tally in the same transaction, so it counts once.
//! - [`DynamoLedger::open_sessions_due`] and [`DynamoLedger::tavus_copy_done`]: the sweeper's
//!   index of open sessions and settled ones whose Tavus copy is still to delete.
//!
//! **What Tavus ran is accounted for** (the tally per period, by [`crate::domain::Cause`]):
//! - [`DynamoLedger::record_orphan_end`]: an orphan the sweeper ended, charged to nobody.
//! - [`DynamoLedger::tally`]: a period's minutes ran and charged, by cause.
//!
//! **Each month starts fresh, and the old one is kept** (one transaction per account):
//! - [`DynamoLedger::roll_over`], [`DynamoLedger::roll_over_from`]: close the old period into a
//!   history item and reset the account; [`DynamoLedger::stale_accounts`] finds those left.
//!
//! **What a person wrote reaches only them and the session's members**:
//! - [`DynamoLedger::read_notes`], [`DynamoLedger::write_notes`]: each person's own notes,
//!   guarded by their entity tag.
//! - [`DynamoLedger::store_transcript`], [`DynamoLedger::read_transcript`]: stored once, whole.
//! - [`DynamoLedger::store_recording`], [`DynamoLedger::recording_failed`]: a recording bound to
//!   the session that holds its conversation, once; each object's reference names the session
//!   ([`DynamoLedger::recording_references`]), since Tavus names the objects.
//!
//! **Erased means gone** (nothing can be added once an erasure began):
//! - [`DynamoLedger::mark_recording_erasure`], [`DynamoLedger::erasures_due`]: an
//!   erasure waiting for its recordings, or cut short, stays where the sweeper finds it.
//! - [`DynamoLedger::erase_session`]: the session, its transcript, everyone's notes, the
//!   participation items and its recordings' references; what it was charged stays on the
//!   account, and an [`ErasedSession`] record of its figures alone keeps that explainable.
//! - [`DynamoLedger::remember_erased_conversation`], [`DynamoLedger::conversation_was_erased`]:
//!   an erased recorded conversation is remembered (its id alone, for 30 days), so a recording
//!   Tavus announces after the erasure is deleted on arrival.
//!
//! **Reads** (consistent where a write depends on them): [`DynamoLedger::usage`],
//! [`DynamoLedger::read_account`], [`DynamoLedger::read_history`],
//! [`DynamoLedger::usage_history`], [`DynamoLedger::get_session`] (with the caller's role),
//! [`DynamoLedger::list_sessions`]; for the audit, [`DynamoLedger::books`] (a user's account,
//! history, own sessions and erased records) and [`DynamoLedger::accounts_in_shard`].

use chrono::{DateTime, Utc};

use crate::domain::{
    EndReason, MeetingToken, Period, Role, Session, SessionId, SessionStatus, SessionType, UserId,
};

pub mod dynamo;
pub mod items;
pub mod keys;

pub use dynamo::{ACCOUNT_PAGE, MAX_PAGE};
pub use dynamo::{DueBatch, DynamoLedger};
pub use items::{ErasedSession, PeriodHistory};

/// What a client asked for when it opened a session.
#[derive(Debug, Clone)]
pub struct ReservationRequest {
    pub owner: UserId,
    pub session_type: SessionType,
    pub participants: Vec<UserId>,
    /// Minutes asked for; the default and the caps of [`crate::domain::minutes`] apply.
    pub requested_minutes: Option<u32>,
    pub now: DateTime<Utc>,
    pub idempotency: Option<IdempotencyKey>,
    /// Record the call (the session's `record`).
    pub record: bool,
}

/// A client's Idempotency-Key and a fingerprint of the request it came with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey {
    pub key: String,
    pub fingerprint: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reserved {
    /// Minutes reserved and the session recorded as pending.
    New(Session),
    /// A retry: the key already created this session; nothing new was reserved.
    Replayed(Session),
}

/// Closing an open session: settle it (`Ended`, minutes moved from reserved to used) or release
/// it (`Failed`, nothing charged). The period and reservation are those recorded on the session;
/// they are conditions of the write, so a caller that describes another session changes nothing.
#[derive(Debug, Clone)]
pub struct Closing {
    pub owner: UserId,
    pub session_id: SessionId,
    pub period: Period,
    pub reserved_minutes: u32,
    pub charged_minutes: u32,
    pub status: SessionStatus,
    pub reason: EndReason,
    pub ended_at: DateTime<Utc>,
    /// Close only if the session's recorded conversation is this one (a callback names its
    /// conversation; one for another conversation must change nothing).
    pub expect_conversation: Option<String>,
    /// When Tavus's copy of the conversation is to be deleted: the session then stays in the
    /// open-sessions index, due at this time, until the sweeper (or the transcript callback)
    /// has deleted it. `None` when there is nothing at Tavus to delete.
    pub delete_tavus_copy_at: Option<DateTime<Utc>>,
    /// A conversation Tavus created for the session that the session never recorded (a create
    /// released after Tavus answered): recorded on the closed session, so that the sweeper
    /// deletes Tavus's copy and an erasure reaches it.
    pub record_conversation: Option<String>,
    /// When the session was created (our clock): Tavus bills from creation, so what ran is
    /// counted from here in the period's tally.
    pub created_at: DateTime<Utc>,
    /// The session had a conversation at Tavus when it was described: a release of it is
    /// counted in the tally (Tavus ran it), one before any conversation is not.
    pub had_conversation: bool,
    /// Tavus's shutdown reason says nobody joined: counted under
    /// [`crate::domain::Cause::NobodyJoined`].
    pub nobody_joined: bool,
}

impl Closing {
    /// Settles `session` with the minutes it really used.
    pub fn settle(
        session: &Session,
        charged_minutes: u32,
        reason: EndReason,
        ended_at: DateTime<Utc>,
    ) -> Closing {
        Closing {
            owner: session.owner_id.clone(),
            session_id: session.session_id,
            period: session.period,
            reserved_minutes: session.reserved_minutes,
            charged_minutes,
            status: SessionStatus::Ended,
            reason,
            ended_at,
            expect_conversation: None,
            delete_tavus_copy_at: None,
            record_conversation: None,
            created_at: session.created_at,
            had_conversation: session.conversation_id.is_some(),
            nobody_joined: false,
        }
    }

    /// Says whether Tavus ended the call because nobody joined (from its shutdown reason:
    /// [`EndReason::nobody_joined`]).
    pub fn nobody_joined(mut self, nobody_joined: bool) -> Closing {
        self.nobody_joined = nobody_joined;
        self
    }

    /// Only for the session whose recorded conversation is `conversation_id`.
    pub fn for_conversation(mut self, conversation_id: impl Into<String>) -> Closing {
        self.expect_conversation = Some(conversation_id.into());
        self
    }

    /// Keeps the session where the sweeper finds it, so Tavus's copy of its conversation is
    /// deleted from `at` on (when the session had a conversation).
    pub fn delete_tavus_copy(mut self, session: &Session, at: DateTime<Utc>) -> Closing {
        if session.conversation_id.is_some() {
            self.delete_tavus_copy_at = Some(at);
        }
        self
    }

    /// Records on the released session the conversation Tavus created for it, and keeps the
    /// session where the sweeper finds it, so Tavus's copy is deleted from `delete_at` on (`None`:
    /// it is deleted already, and only recorded).
    pub fn with_unheld_conversation(
        mut self,
        conversation_id: impl Into<String>,
        delete_at: Option<DateTime<Utc>>,
    ) -> Closing {
        self.record_conversation = Some(conversation_id.into());
        self.delete_tavus_copy_at = delete_at;
        self
    }

    /// Releases the reservation of `session`, charging nothing.
    pub fn release(session: &Session, reason: EndReason, ended_at: DateTime<Utc>) -> Closing {
        Closing {
            charged_minutes: 0,
            status: SessionStatus::Failed,
            ..Closing::settle(session, 0, reason, ended_at)
        }
    }
}

/// Where a closing was booked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closed {
    /// On the account: the session's period is still the current one.
    IntoAccount,
    /// The account rolled over since: booked into the old period's history item.
    IntoHistory,
    /// It was closed before (a duplicate or late event): nothing changed.
    AlreadyClosed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RolledOver {
    /// The account moved into the current period; the old one is in its history item.
    Rolled { from: Period, to: Period },
    /// The account was already in the current period: nothing changed.
    AlreadyCurrent,
    /// No account exists for the user: nothing to roll.
    NoAccount,
}

/// One page of a user's sessions, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionPage {
    pub sessions: Vec<(Session, Role)>,
    /// Pass back to get the next page; `None` on the last page.
    pub next_cursor: Option<SessionId>,
}

/// The conversation Tavus created for a session.
#[derive(Debug, Clone, Copy)]
pub struct Activation<'a> {
    pub conversation_id: &'a str,
    /// `None` for a `test_mode` conversation, which may come without a room.
    pub conversation_url: Option<&'a str>,
    /// The private room's token (`require_auth`).
    pub meeting_token: Option<&'a MeetingToken>,
}

/// One page of the accounts of an index shard (those still in an old period, or all of them).
#[derive(Debug, Clone)]
pub struct AccountPage {
    pub users: Vec<UserId>,
    /// Where the next page starts; `None` after the last.
    pub next: Option<dynamo::Item>,
}

/// Whose notes on which session: the session's owner keeps every person's notes on it.
#[derive(Debug, Clone, Copy)]
pub struct NotesKey<'a> {
    pub owner: &'a UserId,
    pub session_id: SessionId,
    pub author: &'a UserId,
}

/// What an erasure removed besides the session item, for the log.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Erased {
    pub transcript_items: usize,
    pub notes: usize,
    pub participations: usize,
    /// The references of the session's recording objects ([`RecordingReference`]).
    pub recording_references: usize,
}

/// The session a recording object belongs to, from the reference written with it
/// ([`DynamoLedger::store_recording`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordingReference {
    pub owner: UserId,
    pub session_id: SessionId,
}

/// A user's books as the table keeps them: the account, each closed period's history, the
/// sessions the user owns (not those they take part in) and what is kept of erased ones.
/// Nothing a person wrote: no transcript, no notes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Books {
    /// `None` for a user who never had an account.
    pub account: Option<crate::domain::Account>,
    pub history: Vec<PeriodHistory>,
    pub sessions: Vec<Session>,
    pub erased: Vec<ErasedSession>,
}

/// Everything kept under a user's own partition, read consistently and sorted by kind: what an
/// export shows and what deleting the account removes. What the user wrote on others' sessions
/// lives under those owners and is reached through `joined`.
#[derive(Debug, Clone, Default)]
pub struct Holdings {
    /// `None` for a user who never had an account.
    pub account: Option<crate::domain::Account>,
    /// The account is marked as being deleted.
    pub deleting: bool,
    pub history: Vec<PeriodHistory>,
    /// The sessions the user owns, newest first.
    pub owned: Vec<Session>,
    /// The sessions of others the user takes part in, newest first.
    pub joined: Vec<Joined>,
    pub erased: Vec<ErasedSession>,
    pub idempotency: Vec<IdempotencyRecord>,
    /// The object keys of exports handed over through the bucket and not yet expired.
    pub exports: Vec<String>,
    /// The keys of every item but the account and the session and participation items
    /// (history, erased records, idempotency and export records, transcripts, notes).
    pub other_keys: Vec<dynamo::Item>,
}

/// A session of another owner that the user takes part in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Joined {
    pub owner: UserId,
    pub session_id: SessionId,
}

/// A create's Idempotency-Key as remembered (for a day).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    pub key: String,
    pub session_id: SessionId,
    pub expires_at: DateTime<Utc>,
}
