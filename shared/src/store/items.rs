//! The items as stored, converted with serde_dynamo. Each wraps its domain value with the keys
//! and index attributes that only the table needs.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::keys;
use crate::domain::{
    Account, Notes, Period, PlanId, Session, SessionId, SessionStatus, SessionType, UserId,
};

/// An item as the SDK reads and writes it: attribute names to values.
pub type Item = std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccountItem {
    pub pk: String,
    pub sk: String,
    pub account_shard: String,
    #[serde(flatten)]
    pub account: Account,
    /// The user's pace mark for creates, in milliseconds since the epoch (`domain::pace`):
    /// written by the reservation when creates are paced, absent until then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creates_paced_until: Option<i64>,
}

impl AccountItem {
    pub fn new(account: Account) -> Self {
        AccountItem {
            pk: keys::user_pk(&account.user_id),
            sk: keys::ACCOUNT_SK.to_owned(),
            account_shard: keys::account_shard_key(keys::shard_of(&account.user_id)),
            account,
            creates_paced_until: None,
        }
    }
}

/// The totals of a closed period, written when the account rolls over; sessions of that period
/// that settle later are added here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeriodHistory {
    pub user_id: UserId,
    pub period: Period,
    pub plan: PlanId,
    pub limit_minutes: i64,
    /// Used at close, plus every late settlement.
    pub used_minutes: i64,
    /// Reserved by sessions still open at close, less those settled since.
    pub open_reserved_minutes: i64,
    pub late_settlements: i64,
    /// Sessions created in the period (the account's count at rollover). Absent on history
    /// written before sessions were counted, which counts as none.
    #[serde(default)]
    pub sessions: i64,
    pub closed_at: DateTime<Utc>,
}

impl PeriodHistory {
    pub fn usage(&self) -> crate::domain::PeriodUsage {
        crate::domain::PeriodUsage {
            period: self.period,
            plan: self.plan,
            limit_minutes: self.limit_minutes,
            used_minutes: self.used_minutes,
            sessions: self.sessions,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PeriodHistoryItem {
    pub pk: String,
    pub sk: String,
    #[serde(flatten)]
    pub history: PeriodHistory,
}

impl PeriodHistoryItem {
    pub fn new(history: PeriodHistory) -> Self {
        PeriodHistoryItem {
            pk: keys::user_pk(&history.user_id),
            sk: keys::period_sk(history.period),
            history,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionItem {
    pub pk: String,
    pub sk: String,
    /// Present only while the session is open: the open-sessions index key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_shard: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_until: Option<String>,
    /// The reservation counted this session in its account's `open_sessions`, so its close must
    /// give the place back. Sessions written before the cap existed lack it, and their close
    /// leaves the counter alone.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub holds_open_place: bool,
    #[serde(flatten)]
    pub session: Session,
}

impl SessionItem {
    pub fn new_open(session: Session) -> Self {
        SessionItem {
            pk: keys::user_pk(&session.owner_id),
            sk: keys::session_sk(session.session_id),
            open_shard: Some(keys::open_shard_key(keys::shard_of(&session.owner_id))),
            open_until: Some(keys::sortable_time(session.open_until())),
            holds_open_place: true,
            session,
        }
    }
}

/// Written under a participant's key in the same transaction as the session, so the participant
/// finds the session with the same Query that lists their own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParticipationItem {
    pub pk: String,
    pub sk: String,
    pub role: String,
    pub owner_id: UserId,
    pub session_id: SessionId,
    pub session_type: SessionType,
    pub created_at: DateTime<Utc>,
}

pub const PARTICIPANT_ROLE: &str = "participant";

impl ParticipationItem {
    pub fn new(participant: &UserId, session: &Session) -> Self {
        ParticipationItem {
            pk: keys::user_pk(participant),
            sk: keys::session_sk(session.session_id),
            role: PARTICIPANT_ROLE.to_owned(),
            owner_id: session.owner_id.clone(),
            session_id: session.session_id,
            session_type: session.session_type,
            created_at: session.created_at,
        }
    }
}

/// One person's notes on a session, under the owner's partition (see [`keys::notes_sk`]).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotesItem {
    pub pk: String,
    pub sk: String,
    pub session_id: SessionId,
    pub author: UserId,
    pub text: String,
    /// A new ULID on every write: what `If-Match` is checked against.
    pub revision: String,
    pub updated_at: DateTime<Utc>,
}

impl std::fmt::Debug for NotesItem {
    // Never print what the person wrote.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NotesItem")
            .field("sk", &self.sk)
            .field("revision", &self.revision)
            .finish_non_exhaustive()
    }
}

impl NotesItem {
    pub fn new(
        owner: &UserId,
        session_id: SessionId,
        author: &UserId,
        text: &str,
        revision: String,
        updated_at: DateTime<Utc>,
    ) -> Self {
        NotesItem {
            pk: keys::user_pk(owner),
            sk: keys::notes_sk(session_id, author),
            session_id,
            author: author.clone(),
            text: text.to_owned(),
            revision,
            updated_at,
        }
    }

    pub fn notes(self) -> Notes {
        Notes {
            text: self.text,
            revision: Some(self.revision),
            updated_at: Some(self.updated_at),
        }
    }
}

/// What is kept of an erased session: its accounting facts and nothing a person wrote or said,
/// so that the account's and the history's figures, which keep its minutes, stay explainable
/// by the owner's sessions after the session item is gone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErasedSession {
    pub session_id: SessionId,
    /// The period the session was charged to.
    pub period: Period,
    /// `ended` or `failed`: an erased session was closed.
    pub status: SessionStatus,
    pub reserved_minutes: u32,
    /// What it was charged (0 for a release, or a session closed before charges were kept).
    pub charged_minutes: u32,
    pub erased_at: DateTime<Utc>,
}

impl ErasedSession {
    /// The record of `session` (as stored when its erasure began), erased at `erased_at`.
    pub fn of(session: &Session, erased_at: DateTime<Utc>) -> Self {
        ErasedSession {
            session_id: session.session_id,
            period: session.period,
            status: session.status,
            reserved_minutes: session.reserved_minutes,
            charged_minutes: session.charged_minutes.unwrap_or(0),
            erased_at,
        }
    }
}

/// An [`ErasedSession`] under its owner's partition (see [`keys::erased_session_sk`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErasedSessionItem {
    pub pk: String,
    pub sk: String,
    #[serde(flatten)]
    pub erased: ErasedSession,
}

impl ErasedSessionItem {
    pub fn new(owner: &UserId, erased: ErasedSession) -> Self {
        ErasedSessionItem {
            pk: keys::user_pk(owner),
            sk: keys::erased_session_sk(erased.session_id),
            erased,
        }
    }
}

/// Which session a recording object belongs to, keyed by the object key alone (see
/// [`keys::recording_pk`]): written with the key's place on the session, deleted with the
/// session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordingReferenceItem {
    pub pk: String,
    pub sk: String,
    pub owner_id: UserId,
    pub session_id: SessionId,
    pub stored_at: DateTime<Utc>,
}

impl RecordingReferenceItem {
    pub fn new(
        object_key: &str,
        owner: &UserId,
        session_id: SessionId,
        stored_at: DateTime<Utc>,
    ) -> Self {
        RecordingReferenceItem {
            pk: keys::recording_pk(object_key),
            sk: keys::RECORDING_SK.to_owned(),
            owner_id: owner.clone(),
            session_id,
            stored_at,
        }
    }
}

/// Remembers that a recorded conversation was erased, and nothing else: no user, no session.
/// A recording Tavus announces later for it is deleted on arrival; DynamoDB's TTL removes the
/// item after [`crate::store::dynamo::playback::ERASED_CONVERSATION_MEMORY`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErasedConversationItem {
    pub pk: String,
    pub sk: String,
    /// TTL attribute (epoch seconds).
    pub expires_at: i64,
}

/// Remembers which session an Idempotency-Key created, and a fingerprint of the request, so a
/// retry finds the first attempt and a different request under the same key is refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdempotencyItem {
    pub pk: String,
    pub sk: String,
    pub session_id: SessionId,
    pub fingerprint: String,
    /// TTL attribute (epoch seconds): keys are remembered for a day.
    pub expires_at: i64,
}

/// An account export handed over through the bucket (too large for a response): the object's
/// key, under the user, so deleting the account finds and deletes the object. DynamoDB's TTL
/// removes the item when the bucket's lifecycle has removed the object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportItem {
    pub pk: String,
    pub sk: String,
    pub object_key: String,
    pub created_at: DateTime<Utc>,
    /// TTL attribute (epoch seconds).
    pub expires_at: i64,
}
