//! A conversation session and its life cycle: pending, active, then ended or failed.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Period, Playback, SessionId, UserId};

/// A create takes seconds; a session still pending after this long was abandoned (a crash
/// between the reservation and Tavus) and the sweeper releases it.
pub(crate) const PENDING_WINDOW_MINUTES: i64 = 2;

/// Each open session holds one of the Tavus account's concurrent conversations: two lets a user
/// rejoin after a dropped call while the old one times out, and no handful of users can take
/// every slot.
pub const DEFAULT_MAX_OPEN_SESSIONS: u32 = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionType {
    ReflectAlone,
    ResolveTogether,
}

impl SessionType {
    /// The API's spelling (as serialized).
    pub fn as_str(self) -> &'static str {
        match self {
            SessionType::ReflectAlone => "reflect_alone",
            SessionType::ResolveTogether => "resolve_together",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionStatus {
    /// Minutes reserved; the Tavus conversation is being created.
    Pending,
    /// The Tavus conversation exists; the call may be running.
    Active,
    /// Settled: its minutes moved from reserved to used.
    Ended,
    /// Tavus could not create the conversation; the reservation was released.
    Failed,
}

impl SessionStatus {
    pub fn is_open(self) -> bool {
        matches!(self, SessionStatus::Pending | SessionStatus::Active)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SessionStatus::Pending => "pending",
            SessionStatus::Active => "active",
            SessionStatus::Ended => "ended",
            SessionStatus::Failed => "failed",
        }
    }
}

/// Why a session was settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// The user ended it (`POST /sessions/{id}/end`).
    UserEnded,
    /// Tavus stopped it at `max_call_duration`: the reservation ran out.
    MaxDuration,
    /// Tavus shut it down after the participants left or never came.
    ParticipantLeft,
    /// Tavus shut it down for another reason.
    TavusShutdown,
    /// The sweeper found it open past its reservation.
    Swept,
    /// Tavus could not create the conversation.
    TavusFailed,
    /// The conversation never got created (a crash between reservation and Tavus).
    Abandoned,
    /// Tavus created the conversation already ended (its `test_mode`): nothing ran.
    TestMode,
}

/// How the caller relates to a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Created it and is charged for it.
    Owner,
    /// Named in a `resolve_together` session: may read it and join the call.
    Participant,
}

/// The token that lets a person into a private Tavus room (`require_auth`). It is a credential:
/// it shows only in the session's own responses, never in a list, a log line or an error, so
/// its `Debug` is redacted.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MeetingToken(String);

impl MeetingToken {
    pub fn new(token: impl Into<String>) -> MeetingToken {
        MeetingToken(token.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for MeetingToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MeetingToken(..)")
    }
}

/// The link that joins a private room: the room's URL with the meeting token as `t`.
pub(crate) fn join_url(conversation_url: &str, token: &MeetingToken) -> String {
    let separator = if conversation_url.contains('?') {
        '&'
    } else {
        '?'
    };
    format!("{conversation_url}{separator}t={}", token.expose())
}

/// A session as the ledger keeps it. The user's prompt and context are never part of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub session_id: SessionId,
    pub owner_id: UserId,
    pub session_type: SessionType,
    #[serde(default)]
    pub participants: Vec<UserId>,
    pub status: SessionStatus,
    /// The period the session is charged to: the one it was created in.
    pub period: Period,
    pub reserved_minutes: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub charged_minutes: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_url: Option<String>,
    /// Tavus's token for the private room; only while the call can be joined matters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meeting_token: Option<MeetingToken>,
    pub created_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_reason: Option<EndReason>,
    /// Whether the call is recorded, and what Tavus announced (`record`, `recording`, ...).
    #[serde(flatten)]
    pub playback: Playback,
}

/// How far an active call is: see [`Session::progress`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub ends_at: DateTime<Utc>,
    pub remaining_seconds: i64,
}

impl EndReason {
    /// The reason Tavus gave for a shutdown, matched by prefix: its docs spell the reasons both
    /// with and without a trailing " reached".
    pub fn from_shutdown_reason(reason: Option<&str>) -> EndReason {
        match reason.unwrap_or("") {
            r if r.starts_with("max_call_duration") => EndReason::MaxDuration,
            r if r.starts_with("participant_left_timeout")
                || r.starts_with("participant_absent_timeout") =>
            {
                EndReason::ParticipantLeft
            }
            r if r.starts_with("end_conversation_endpoint_hit") => EndReason::UserEnded,
            _ => EndReason::TavusShutdown,
        }
    }

    /// Whether the reason Tavus gave for a shutdown says nobody joined the call (its
    /// `participant_absent_timeout`, matched by prefix as [`EndReason::from_shutdown_reason`]
    /// does): such a call ran, and cost, its join window.
    pub fn nobody_joined(reason: Option<&str>) -> bool {
        reason.is_some_and(|r| r.starts_with("participant_absent_timeout"))
    }
}

impl Session {
    /// Words for names shown at Tavus ("reflection", "mediation").
    pub fn session_type_label(&self) -> &'static str {
        match self.session_type {
            SessionType::ReflectAlone => "reflection",
            SessionType::ResolveTogether => "mediation",
        }
    }

    /// When a call that started on time must have ended: Tavus stops it at the reservation.
    pub fn reservation_ends_at(&self) -> DateTime<Utc> {
        self.created_at + chrono::Duration::minutes(i64::from(self.reserved_minutes))
    }

    /// While the call runs: when Tavus ends it at the latest (our creation plus the reservation,
    /// its `max_call_duration`) and the whole seconds left until then by `now` (the server's
    /// clock, so a phone with a wrong clock still counts down right), never negative. `None`
    /// unless the session is active.
    pub fn progress(&self, now: DateTime<Utc>) -> Option<Progress> {
        if self.status != SessionStatus::Active {
            return None;
        }
        let ends_at = self.reservation_ends_at();
        Some(Progress {
            ends_at,
            remaining_seconds: (ends_at - now).num_seconds().max(0),
        })
    }

    /// Until when the session may stay open before the sweeper looks at it: a pending session
    /// only for as long as creating a conversation can take, an active one for its reservation.
    pub fn open_until(&self) -> DateTime<Utc> {
        match self.status {
            SessionStatus::Pending => {
                self.created_at + chrono::Duration::minutes(PENDING_WINDOW_MINUTES)
            }
            _ => self.reservation_ends_at(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meeting_tokens_never_print_and_join_the_room() {
        let token = MeetingToken::new("eyJhbGciOi.secret.sig");
        assert_eq!(format!("{token:?}"), "MeetingToken(..)");
        assert_eq!(
            join_url("https://tavus.daily.co/c1", &token),
            "https://tavus.daily.co/c1?t=eyJhbGciOi.secret.sig"
        );
        assert_eq!(
            join_url("https://tavus.daily.co/c1?lang=en", &token),
            "https://tavus.daily.co/c1?lang=en&t=eyJhbGciOi.secret.sig"
        );
    }

    fn session(status: SessionStatus) -> Session {
        let created_at = DateTime::parse_from_rfc3339("2026-11-24T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        Session {
            session_id: SessionId::new_at(created_at),
            owner_id: UserId::parse("u1").unwrap(),
            session_type: SessionType::ReflectAlone,
            participants: Vec::new(),
            status,
            period: Period::containing(created_at),
            reserved_minutes: 10,
            charged_minutes: None,
            conversation_id: Some("c1".into()),
            conversation_url: None,
            meeting_token: None,
            created_at,
            ended_at: None,
            end_reason: None,
            playback: Playback::default(),
        }
    }

    #[test]
    fn an_active_call_counts_down_to_its_reservation_and_never_below_zero() {
        let active = session(SessionStatus::Active);
        let ends_at = active.created_at + chrono::Duration::minutes(10);
        let at = |seconds: i64| active.created_at + chrono::Duration::milliseconds(seconds);
        assert_eq!(
            active.progress(active.created_at),
            Some(Progress {
                ends_at,
                remaining_seconds: 600
            })
        );
        assert_eq!(active.progress(at(90_500)).unwrap().remaining_seconds, 509);
        assert_eq!(active.progress(at(700_000)).unwrap().remaining_seconds, 0);
        for status in [
            SessionStatus::Pending,
            SessionStatus::Ended,
            SessionStatus::Failed,
        ] {
            assert_eq!(session(status).progress(active.created_at), None);
        }
    }

    #[test]
    fn only_an_absent_participant_means_nobody_joined() {
        assert!(EndReason::nobody_joined(Some(
            "participant_absent_timeout reached"
        )));
        assert!(EndReason::nobody_joined(Some("participant_absent_timeout")));
        assert!(!EndReason::nobody_joined(Some("participant_left_timeout")));
        assert!(!EndReason::nobody_joined(Some("max_call_duration")));
        assert!(!EndReason::nobody_joined(None));
    }

    #[test]
    fn shutdown_reasons_match_by_prefix() {
        assert_eq!(
            EndReason::from_shutdown_reason(Some("max_call_duration reached")),
            EndReason::MaxDuration
        );
        assert_eq!(
            EndReason::from_shutdown_reason(Some("max_call_duration")),
            EndReason::MaxDuration
        );
        assert_eq!(
            EndReason::from_shutdown_reason(Some("participant_left_timeout")),
            EndReason::ParticipantLeft
        );
        assert_eq!(
            EndReason::from_shutdown_reason(Some("participant_absent_timeout reached")),
            EndReason::ParticipantLeft
        );
        assert_eq!(
            EndReason::from_shutdown_reason(Some("end_conversation_endpoint_hit")),
            EndReason::UserEnded
        );
        assert_eq!(
            EndReason::from_shutdown_reason(Some("internal error occurred at step 3")),
            EndReason::TavusShutdown
        );
        assert_eq!(
            EndReason::from_shutdown_reason(None),
            EndReason::TavusShutdown
        );
    }
}
