//! `GET /me/export`: a copy of everything kept about the caller ([`gather`]), in their own view
//! of each session: what they could already read through the API, and nothing more. Their own
//! notes only (never a partner's), the transcript, the recording as a short-lived link, the
//! account and every period of its history, what is kept of the sessions they erased and their
//! recent Idempotency-Keys.
//!
//! The HTTP layer writes the document. When it is larger than a Lambda response can carry, it
//! is handed over through the bucket ([`hand_over`]): recorded under the user first (so that
//! deleting the account deletes it), put under [`EXPORTS_PREFIX`] (the bucket's lifecycle
//! deletes it after a day), and answered as a link that lives at most five minutes.

use std::time::Instant;

use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};

use super::ServiceError;
use super::playback::{PLAYBACK_LINK_TTL, RecordingAccess, recording_access};
use crate::domain::history::usage_history;
use crate::domain::{Notes, PeriodUsage, Role, Session, SessionId, Transcript, Usage, UserId};
use crate::metrics::emit;
use crate::recording_bucket::{EXPORTS_PREFIX, PlaybackLink, Recordings};
use crate::store::{DynamoLedger, ErasedSession, IdempotencyRecord, NotesKey};

/// How many sessions' notes, transcripts and links are read at once.
const CONCURRENCY: usize = 8;

/// Everything kept about a user, as they may see it. No `Debug`: it holds what people said
/// and wrote.
#[derive(Clone)]
pub struct AccountData {
    pub user: UserId,
    pub exported_at: DateTime<Utc>,
    pub usage: Usage,
    /// Every period kept, newest first, the current one included.
    pub history: Vec<PeriodUsage>,
    /// Every session they own or take part in, newest first.
    pub sessions: Vec<ExportedSession>,
    pub erased: Vec<ErasedSession>,
    pub idempotency: Vec<IdempotencyRecord>,
}

/// One session in its member's view (no `Debug`, as [`AccountData`]).
#[derive(Clone)]
pub struct ExportedSession {
    pub session: Session,
    pub role: Role,
    /// The member's own notes; `None` when they never wrote any.
    pub notes: Option<Notes>,
    pub transcript: Option<Transcript>,
    pub recording: RecordingAccess,
}

/// Reads everything kept about `user`.
pub async fn gather(
    ledger: &DynamoLedger,
    recordings: Option<&Recordings>,
    user: &UserId,
    now: DateTime<Utc>,
) -> Result<AccountData, ServiceError> {
    let holdings = ledger.holdings(user).await?;
    if holdings.deleting {
        // Nothing is handed out of an account on its way out.
        return Err(ServiceError::AccountBeingDeleted);
    }
    let mut joined = ledger.joined_sessions(&holdings.joined).await?;
    // Newest first, owned and joined together, as the session list orders them.
    let mut members: Vec<(Session, Role)> = holdings
        .owned
        .into_iter()
        .map(|s| (s, Role::Owner))
        .chain(
            holdings
                .joined
                .iter()
                .filter_map(|j| joined.remove(&j.session_id))
                .map(|s| (s, Role::Participant)),
        )
        .collect();
    members.sort_by_key(|(session, _)| std::cmp::Reverse(session.session_id));
    let sessions = futures::stream::iter(members)
        .map(|(session, role)| member_view(ledger, recordings, user, session, role, now))
        .buffered(CONCURRENCY)
        .try_collect()
        .await?;
    let mut archived: Vec<PeriodUsage> = holdings.history.iter().map(|h| h.usage()).collect();
    archived.sort_by_key(|p| std::cmp::Reverse(p.period));
    // Every period: the current one and the account's own (when not rolled over yet) besides.
    let periods = archived.len() + 2;
    let history = usage_history(
        holdings.account.as_ref(),
        archived,
        ledger.plans(),
        now,
        periods,
    );
    Ok(AccountData {
        user: user.clone(),
        exported_at: now,
        // From the account the holdings read: no second read.
        usage: ledger.usage_of(user, holdings.account, now),
        history,
        sessions,
        erased: holdings.erased,
        idempotency: holdings.idempotency,
    })
}

async fn member_view(
    ledger: &DynamoLedger,
    recordings: Option<&Recordings>,
    user: &UserId,
    session: Session,
    role: Role,
    now: DateTime<Utc>,
) -> Result<ExportedSession, ServiceError> {
    let notes_key = NotesKey {
        owner: &session.owner_id,
        session_id: session.session_id,
        author: user,
    };
    let (notes, transcript, recording) = futures::try_join!(
        async { Ok::<_, ServiceError>(ledger.read_notes(notes_key).await?) },
        async {
            Ok::<_, ServiceError>(
                ledger
                    .read_transcript(&session.owner_id, session.session_id)
                    .await?,
            )
        },
        recording_access(recordings, &session, now),
    )?;
    Ok(ExportedSession {
        notes: notes.updated_at.is_some().then_some(notes),
        transcript,
        recording,
        session,
        role,
    })
}

/// An export handed over through the bucket.
#[derive(Debug, Clone)]
pub struct Download {
    pub link: PlaybackLink,
    pub expires_at: DateTime<Utc>,
    pub bytes: usize,
}

/// Hands `document` over through the bucket (see the module's doc); without a bucket, it is
/// [`ServiceError::ExportTooLarge`].
pub async fn hand_over(
    ledger: &DynamoLedger,
    recordings: Option<&Recordings>,
    user: &UserId,
    document: Vec<u8>,
    now: DateTime<Utc>,
) -> Result<Download, ServiceError> {
    let bytes = document.len();
    let recordings = recordings.ok_or(ServiceError::ExportTooLarge { bytes })?;
    // A fresh name that says nothing of the user; the record under the user leads to it.
    let key = format!("{EXPORTS_PREFIX}{}.json", SessionId::new_at(now));
    ledger.record_export(user, &key, now).await?;
    recordings.put_export(&key, document).await?;
    let link = recordings.playback_link(&key, PLAYBACK_LINK_TTL).await?;
    let ttl = chrono::Duration::from_std(PLAYBACK_LINK_TTL).unwrap_or(chrono::Duration::zero());
    Ok(Download {
        link,
        expires_at: now + ttl,
        bytes,
    })
}

/// Counts an export: how it was delivered, its size and how long it took.
pub fn count(delivery: Delivery, bytes: usize, started: Instant) {
    emit::account_export(delivery.as_str(), bytes, started.elapsed());
}

/// How an export reached its user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// In the response.
    Inline,
    /// Through the bucket, as a link.
    Download,
}

impl Delivery {
    pub fn as_str(self) -> &'static str {
        match self {
            Delivery::Inline => "inline",
            Delivery::Download => "download",
        }
    }
}
