//! The JSON bodies of successful responses, as openapi.yaml describes them.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Serialize, Serializer};

use crate::domain::session::join_url;
use crate::domain::{
    EndReason, Notes, PeriodUsage, RecordingStatus, Role, Session, SessionId, SessionStatus,
    SessionType, Transcript, Usage, UserId,
};
use crate::service::create::Created;
use crate::service::export::{AccountData, Download, ExportedSession};
use crate::service::playback::RecordingAccess;
use crate::store::SessionPage;

fn rfc3339<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::Millis, true))
}

fn rfc3339_opt<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => rfc3339(t, s),
        None => s.serialize_none(),
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UsageView {
    pub user_id: UserId,
    pub plan: crate::domain::PlanId,
    pub period: String,
    pub limit_minutes: i64,
    pub used_minutes: i64,
    pub reserved_minutes: i64,
    pub remaining_minutes: i64,
    #[serde(serialize_with = "rfc3339")]
    pub resets_at: DateTime<Utc>,
    /// Sessions the user owns that are pending or active, and how many may be at once.
    pub open_sessions: i64,
    pub max_open_sessions: u32,
}

impl From<Usage> for UsageView {
    fn from(u: Usage) -> UsageView {
        UsageView {
            user_id: u.user_id,
            plan: u.plan,
            period: u.period.to_string(),
            limit_minutes: u.limit_minutes,
            used_minutes: u.used_minutes,
            reserved_minutes: u.reserved_minutes,
            remaining_minutes: u.remaining_minutes,
            resets_at: u.resets_at,
            open_sessions: u.open_sessions,
            max_open_sessions: u.max_open_sessions,
        }
    }
}

/// One session as its owner or a participant sees it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionView {
    pub session_id: String,
    pub session_type: SessionType,
    pub status: SessionStatus,
    pub role: Role,
    pub owner_id: UserId,
    pub participants: Vec<UserId>,
    pub conversation_id: Option<String>,
    pub conversation_url: Option<String>,
    /// The private room's token and the ready link with it: only in the session's own
    /// responses (create, get) to its owner and participants, while it can be joined; never in
    /// a list.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meeting_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub join_url: Option<String>,
    pub reserved_minutes: u32,
    pub charged_minutes: Option<u32>,
    #[serde(serialize_with = "rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "rfc3339_opt")]
    pub ended_at: Option<DateTime<Utc>>,
    pub end_reason: Option<EndReason>,
    /// While the call runs (in the session's own responses): when Tavus ends it at the latest,
    /// and the seconds left by the server's clock, for a countdown that trusts no phone clock.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "rfc3339_opt"
    )]
    pub ends_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remaining_seconds: Option<i64>,
    /// The owner asked for the call to be recorded (`GET /sessions/{id}/recording` plays it).
    pub record: bool,
}

impl SessionView {
    /// The session as a list shows it: without the means to join.
    pub fn new(session: Session, role: Role) -> SessionView {
        SessionView {
            session_id: session.session_id.to_string(),
            session_type: session.session_type,
            status: session.status,
            role,
            owner_id: session.owner_id,
            participants: session.participants,
            conversation_id: session.conversation_id,
            conversation_url: session.conversation_url,
            meeting_token: None,
            join_url: None,
            reserved_minutes: session.reserved_minutes,
            charged_minutes: session.charged_minutes,
            created_at: session.created_at,
            ended_at: session.ended_at,
            end_reason: session.end_reason,
            ends_at: None,
            remaining_seconds: None,
            record: session.playback.record,
        }
    }
}

impl SessionView {
    /// The session as its own response shows it to a member: with the meeting token and the
    /// join link while the call is active.
    pub fn with_join(session: Session, role: Role) -> SessionView {
        let join = match (
            &session.status,
            &session.conversation_url,
            &session.meeting_token,
        ) {
            (SessionStatus::Active, Some(url), Some(token)) => {
                Some((token.expose().to_owned(), join_url(url, token)))
            }
            _ => None,
        };
        let mut view = SessionView::new(session, role);
        if let Some((token, url)) = join {
            view.meeting_token = Some(token);
            view.join_url = Some(url);
        }
        view
    }
}

impl SessionView {
    /// Adds the countdown of an active call at `now` (see [`Session::progress`]).
    pub fn with_progress(mut self, session: &Session, now: DateTime<Utc>) -> SessionView {
        if let Some(progress) = session.progress(now) {
            self.ends_at = Some(progress.ends_at);
            self.remaining_seconds = Some(progress.remaining_seconds);
        }
        self
    }
}

/// `POST /sessions`: the session and the usage after its reservation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CreatedView {
    #[serde(flatten)]
    pub session: SessionView,
    pub usage: UsageView,
}

impl CreatedView {
    /// The countdown from the time of the answer: the Tavus call took a moment since the
    /// request arrived.
    pub fn new(created: Created) -> CreatedView {
        let Created { session, usage } = created;
        CreatedView {
            session: SessionView::with_join(session.clone(), Role::Owner)
                .with_progress(&session, Utc::now()),
            usage: usage.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionListView {
    pub sessions: Vec<SessionView>,
    pub next_cursor: Option<String>,
}

impl SessionListView {
    pub fn new(page: SessionPage) -> SessionListView {
        SessionListView {
            sessions: page
                .sessions
                .into_iter()
                .map(|(s, role)| SessionView::new(s, role))
                .collect(),
            next_cursor: page.next_cursor.map(|c| c.to_string()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TranscriptView {
    pub session_id: String,
    pub transcript: Vec<crate::domain::Turn>,
}

impl TranscriptView {
    pub fn new(session_id: SessionId, transcript: Transcript) -> TranscriptView {
        TranscriptView {
            session_id: session_id.to_string(),
            transcript: transcript.turns,
        }
    }
}

/// `GET|PUT /sessions/{id}/notes`: the caller's own notes (the `ETag` header carries their tag).
#[derive(Clone, PartialEq, Serialize)]
pub struct NotesView {
    pub session_id: String,
    pub text: String,
    /// `null` until the first write.
    #[serde(serialize_with = "rfc3339_opt")]
    pub updated_at: Option<DateTime<Utc>>,
}

impl std::fmt::Debug for NotesView {
    // Never print what the person wrote.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NotesView")
            .field("session_id", &self.session_id)
            .field("chars", &self.text.chars().count())
            .field("updated_at", &self.updated_at)
            .finish()
    }
}

impl NotesView {
    pub fn new(session_id: SessionId, notes: Notes) -> NotesView {
        NotesView {
            session_id: session_id.to_string(),
            text: notes.text,
            updated_at: notes.updated_at,
        }
    }
}

/// One period of `GET /usage/history`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PeriodView {
    pub period: String,
    pub plan: crate::domain::PlanId,
    pub limit_minutes: i64,
    pub used_minutes: i64,
    pub sessions: i64,
}

impl From<PeriodUsage> for PeriodView {
    fn from(p: PeriodUsage) -> PeriodView {
        PeriodView {
            period: p.period.to_string(),
            plan: p.plan,
            limit_minutes: p.limit_minutes,
            used_minutes: p.used_minutes,
            sessions: p.sessions,
        }
    }
}

/// `GET /usage/history`: periods newest first, the current one included.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UsageHistoryView {
    pub periods: Vec<PeriodView>,
}

impl UsageHistoryView {
    pub fn new(periods: Vec<PeriodUsage>) -> UsageHistoryView {
        UsageHistoryView {
            periods: periods.into_iter().map(Into::into).collect(),
        }
    }
}

/// `GET /sessions/{id}/recording`: `url` and `expires_at` only when `ready`; `duration_seconds`
/// when ready and Tavus said how long it is.
#[derive(Clone, PartialEq, Serialize)]
pub struct RecordingView {
    pub status: RecordingStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "rfc3339_opt"
    )]
    pub expires_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_seconds: Option<u32>,
}

impl std::fmt::Debug for RecordingView {
    // The URL is a credential until it expires.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordingView")
            .field("status", &self.status)
            .field("url", &self.url.as_ref().map(|_| ".."))
            .field("expires_at", &self.expires_at)
            .field("duration_seconds", &self.duration_seconds)
            .finish()
    }
}

impl From<RecordingAccess> for RecordingView {
    fn from(access: RecordingAccess) -> RecordingView {
        let (url, expires_at) = match access.link {
            Some((link, expires_at)) => (Some(link.expose().to_owned()), Some(expires_at)),
            None => (None, None),
        };
        RecordingView {
            status: access.status,
            url,
            expires_at,
            duration_seconds: access.duration_seconds,
        }
    }
}

/// `GET /me/export` as a document: everything kept about the caller (openapi.yaml's
/// `AccountExport`). No `Debug`: it holds what people said and wrote.
#[derive(Serialize)]
pub struct AccountExportView {
    kind: &'static str,
    format_version: u32,
    #[serde(serialize_with = "rfc3339")]
    exported_at: DateTime<Utc>,
    user_id: UserId,
    usage: UsageView,
    usage_history: Vec<PeriodView>,
    sessions: Vec<ExportedSessionView>,
    erased_sessions: Vec<ErasedSessionView>,
    idempotency_keys: Vec<IdempotencyKeyView>,
}

/// A session in its member's view, with what is kept with it for them.
#[derive(Serialize)]
struct ExportedSessionView {
    #[serde(flatten)]
    session: SessionView,
    notes: Option<ExportedNotesView>,
    transcript: Option<Vec<crate::domain::Turn>>,
    recording: RecordingView,
}

#[derive(Serialize)]
struct ExportedNotesView {
    text: String,
    #[serde(serialize_with = "rfc3339_opt")]
    updated_at: Option<DateTime<Utc>>,
}

#[derive(Serialize)]
struct ErasedSessionView {
    session_id: String,
    period: String,
    status: SessionStatus,
    reserved_minutes: u32,
    charged_minutes: u32,
    #[serde(serialize_with = "rfc3339")]
    erased_at: DateTime<Utc>,
}

#[derive(Serialize)]
struct IdempotencyKeyView {
    key: String,
    session_id: String,
    #[serde(serialize_with = "rfc3339")]
    expires_at: DateTime<Utc>,
}

impl AccountExportView {
    /// The document's format: raised when a field changes meaning or goes away.
    const FORMAT_VERSION: u32 = 1;

    pub fn new(data: AccountData) -> AccountExportView {
        AccountExportView {
            kind: "document",
            format_version: Self::FORMAT_VERSION,
            exported_at: data.exported_at,
            user_id: data.user,
            usage: data.usage.into(),
            usage_history: data.history.into_iter().map(Into::into).collect(),
            sessions: data.sessions.into_iter().map(exported_session).collect(),
            erased_sessions: data
                .erased
                .into_iter()
                .map(|e| ErasedSessionView {
                    session_id: e.session_id.to_string(),
                    period: e.period.to_string(),
                    status: e.status,
                    reserved_minutes: e.reserved_minutes,
                    charged_minutes: e.charged_minutes,
                    erased_at: e.erased_at,
                })
                .collect(),
            idempotency_keys: data
                .idempotency
                .into_iter()
                .map(|r| IdempotencyKeyView {
                    key: r.key,
                    session_id: r.session_id.to_string(),
                    expires_at: r.expires_at,
                })
                .collect(),
        }
    }
}

fn exported_session(exported: ExportedSession) -> ExportedSessionView {
    ExportedSessionView {
        session: SessionView::new(exported.session, exported.role),
        notes: exported.notes.map(|n| ExportedNotesView {
            text: n.text,
            updated_at: n.updated_at,
        }),
        transcript: exported.transcript.map(|t| t.turns),
        recording: exported.recording.into(),
    }
}

/// `GET /me/export` handed over through the bucket (openapi.yaml's `ExportDownload`).
#[derive(Serialize)]
pub struct ExportDownloadView {
    kind: &'static str,
    url: String,
    #[serde(serialize_with = "rfc3339")]
    expires_at: DateTime<Utc>,
    size_bytes: usize,
}

impl From<Download> for ExportDownloadView {
    fn from(download: Download) -> ExportDownloadView {
        ExportDownloadView {
            kind: "download",
            url: download.link.expose().to_owned(),
            expires_at: download.expires_at,
            size_bytes: download.bytes,
        }
    }
}

/// `DELETE /me` while it is not finished (openapi.yaml's `AccountDeletion`).
#[derive(Debug, Serialize)]
pub struct AccountDeletionView {
    status: &'static str,
    detail: &'static str,
}

impl AccountDeletionView {
    pub fn in_progress(why: &'static str) -> AccountDeletionView {
        AccountDeletionView {
            status: "in_progress",
            detail: why,
        }
    }
}
