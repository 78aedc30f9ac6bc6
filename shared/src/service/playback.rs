//! Playback of recorded calls, opt-in per session (`POST /sessions` with `"record": true`):
//!
//! - Tavus records into the operator's bucket and announces the file with
//!   `application.recording_ready` (older shape `bucket_name`, `s3_key`, `duration`; newer
//!   `storage_provider`, `storage_uri`). [`recording_ready`] binds it to the session through the
//!   session's recorded conversation, keeps only files in our bucket (anything else is logged
//!   and ignored) and stores the key and duration once. `application.recording_copy_failed`
//!   ([`recording_failed`]) marks the recording failed; Tavus's message is never shown to anyone.
//!   [`super::callbacks`] dispatches both.
//! - `GET /sessions/{id}/recording` ([`playback`]): for the owner and the participants,
//!   `none`, `pending`, `ready` (with a presigned GET that lives at most five minutes) or
//!   `failed`.
//! - Erasure deletes the recording objects ([`super::erase`]).
//!
//! No log line carries a playback link.

use std::time::Duration;

use chrono::{DateTime, Utc};

use serde_json::Value;

use super::ServiceError;
use super::callback_token::CallbackClaims;
use crate::LedgerError;
use crate::domain::playback::recording_ready as parse_recording_ready;
use crate::domain::{RecordingFile, RecordingStatus, SessionId, UserId};
use crate::recording_bucket::{MAX_PLAYBACK_LINK, PlaybackLink, Recordings};
use crate::store::DynamoLedger;
use crate::store::dynamo::playback::RecordingWrite;

/// How long a playback link lives: long enough to start playing (a player that needs a new
/// one asks again), short enough that a copied link soon stops working.
pub const PLAYBACK_LINK_TTL: Duration = MAX_PLAYBACK_LINK;

/// A session's recording as its members may see it: a link and its expiry only when `Ready`;
/// the duration when ready and Tavus said how long it is.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordingAccess {
    pub status: RecordingStatus,
    pub link: Option<(PlaybackLink, DateTime<Utc>)>,
    pub duration_seconds: Option<u32>,
}

/// `GET /sessions/{id}/recording`: for the owner and the participants (not found for anyone
/// else, as for the session). A ready recording comes with a presigned GET valid for
/// [`PLAYBACK_LINK_TTL`] from `now`.
pub async fn playback(
    ledger: &DynamoLedger,
    recordings: Option<&Recordings>,
    user: &UserId,
    session_id: SessionId,
    now: DateTime<Utc>,
) -> Result<RecordingAccess, ServiceError> {
    let (session, role) = ledger.get_session(user, session_id).await?;
    let access = recording_access(recordings, &session, now).await?;
    if access.link.is_some() {
        tracing::info!(session_id = %session.session_id, role = ?role, "playback link issued");
    }
    Ok(access)
}

/// What a member of `session` may see of its recording at `now`: for a ready one, a link
/// valid for [`PLAYBACK_LINK_TTL`] (for playback and for the account's export alike).
pub async fn recording_access(
    recordings: Option<&Recordings>,
    session: &crate::domain::Session,
    now: DateTime<Utc>,
) -> Result<RecordingAccess, ServiceError> {
    let status = session.playback.status();
    let Some(file) = session
        .playback
        .recording
        .as_ref()
        .filter(|_| status == RecordingStatus::Ready)
    else {
        return Ok(RecordingAccess {
            status,
            link: None,
            duration_seconds: None,
        });
    };
    let recordings = recordings.ok_or_else(|| {
        ServiceError::DependencyUnavailable(
            "a recording is kept but no bucket is configured".into(),
        )
    })?;
    let link = recordings
        .playback_link(&file.key, PLAYBACK_LINK_TTL)
        .await?;
    let ttl = chrono::Duration::from_std(PLAYBACK_LINK_TTL).unwrap_or(chrono::Duration::zero());
    Ok(RecordingAccess {
        status,
        link: Some((link, now + ttl)),
        duration_seconds: file.duration_seconds,
    })
}

/// What a recording callback says, as the dispatcher ([`super::callbacks`]) read it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RecordingEvent<'a> {
    pub conversation_id: Option<&'a str>,
    pub properties: &'a Value,
    /// When Tavus sent it.
    pub at: DateTime<Utc>,
}

/// Whether a recording callback changed the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Recorded {
    Stored,
    /// It arrived after its session was erased, and was deleted.
    DeletedLate,
    /// Nothing changed: a duplicate, a file elsewhere, a session gone or being erased.
    Ignored,
}

/// `application.recording_ready`: stores the file with the session that holds the conversation,
/// if the file is in this deployment's bucket (`target`; `None`: it records nothing).
pub(crate) async fn recording_ready(
    ledger: &DynamoLedger,
    recordings: Option<&Recordings>,
    claims: &CallbackClaims,
    event: RecordingEvent<'_>,
) -> Result<Recorded, ServiceError> {
    let ready = parse_recording_ready(event.properties).map_err(ServiceError::invalid)?;
    let Some(conversation_id) = event.conversation_id else {
        tracing::warn!(session_id = %claims.session_id, "recording callback without a conversation_id; ignored");
        return Ok(Recorded::Ignored);
    };
    let Some(target) = recordings.map(Recordings::target) else {
        tracing::warn!(session_id = %claims.session_id, "recording callback, but this deployment keeps no recordings; ignored");
        return Ok(Recorded::Ignored);
    };
    let Some(location) = ready.location.filter(|l| l.bucket == target.bucket) else {
        tracing::warn!(session_id = %claims.session_id, "a recording outside our recordings bucket; ignored");
        return Ok(Recorded::Ignored);
    };
    if !names_conversation(&location.key, conversation_id) {
        // Tavus names a recording after its conversation's room; a callback naming any other
        // file of our bucket could attach another session's recording to this one.
        tracing::warn!(session_id = %claims.session_id, "a recording that does not name its conversation; ignored");
        return Ok(Recorded::Ignored);
    }
    let file = RecordingFile {
        key: location.key,
        duration_seconds: ready.duration_seconds,
        ready_at: event.at,
    };
    let written = ledger
        .store_recording(&claims.owner, claims.session_id, conversation_id, &file)
        .await;
    match (written, recordings) {
        (Ok(RecordingWrite::Erasing) | Err(LedgerError::SessionNotFound), Some(recordings)) => {
            delete_if_erased(ledger, recordings, claims, conversation_id, &file.key).await
        }
        (written, _) => ignore_gone(claims, written, "recording"),
    }
}

/// A recording announced for a session that is gone or being erased: deleted if its
/// conversation was erased (erased stays erased, however late Tavus uploads), else ignored. A
/// failed delete is a 503, so Tavus sends the callback again.
async fn delete_if_erased(
    ledger: &DynamoLedger,
    recordings: &Recordings,
    claims: &CallbackClaims,
    conversation_id: &str,
    key: &str,
) -> Result<Recorded, ServiceError> {
    if !ledger.conversation_was_erased(conversation_id).await? {
        tracing::warn!(session_id = %claims.session_id, "a recording for a session that is gone or being erased, whose conversation was not erased; ignored");
        return Ok(Recorded::Ignored);
    }
    recordings.delete(key).await.map_err(|e| {
        tracing::warn!(session_id = %claims.session_id, error = %e, "a recording that arrived after its erasure was not deleted; Tavus will send it again");
        ServiceError::RecordingKept(e.to_string())
    })?;
    tracing::info!(session_id = %claims.session_id, "a recording that arrived after its erasure was deleted");
    Ok(Recorded::DeletedLate)
}

/// `application.recording_copy_failed`: marks the session's recording failed.
pub(crate) async fn recording_failed(
    ledger: &DynamoLedger,
    claims: &CallbackClaims,
    event: RecordingEvent<'_>,
) -> Result<Recorded, ServiceError> {
    let Some(conversation_id) = event.conversation_id else {
        tracing::warn!(session_id = %claims.session_id, "recording callback without a conversation_id; ignored");
        return Ok(Recorded::Ignored);
    };
    // Tavus's message may name its storage internals: operators see its size, nobody its text.
    let message_chars = event
        .properties
        .get("error_message")
        .and_then(serde_json::Value::as_str)
        .map_or(0, |m| m.chars().count());
    tracing::warn!(session_id = %claims.session_id, message_chars, "tavus could not copy the recording into our bucket");
    let written = ledger
        .recording_failed(&claims.owner, claims.session_id, conversation_id, event.at)
        .await;
    ignore_gone(claims, written, "recording failure")
}

/// A session that is gone, being erased, or holding another conversation: acknowledged and
/// nothing changed, so Tavus stops sending.
fn ignore_gone(
    claims: &CallbackClaims,
    written: Result<RecordingWrite, LedgerError>,
    what: &str,
) -> Result<Recorded, ServiceError> {
    match written {
        Ok(RecordingWrite::Stored) => {
            tracing::info!(session_id = %claims.session_id, "{what} stored");
            Ok(Recorded::Stored)
        }
        Ok(RecordingWrite::Duplicate) => {
            tracing::info!(session_id = %claims.session_id, "{what} already stored; nothing changed");
            Ok(Recorded::Ignored)
        }
        Ok(RecordingWrite::Full) => {
            tracing::warn!(session_id = %claims.session_id, "{what} beyond the recordings a session may hold; ignored");
            Ok(Recorded::Ignored)
        }
        Ok(RecordingWrite::Erasing) => {
            tracing::warn!(session_id = %claims.session_id, "{what} for a session being erased; ignored");
            Ok(Recorded::Ignored)
        }
        Err(e @ (LedgerError::SessionNotFound | LedgerError::SessionMismatch(_))) => {
            tracing::warn!(session_id = %claims.session_id, error = %e, "{what} for a session that is gone or holds another conversation; ignored");
            Ok(Recorded::Ignored)
        }
        Err(e) => Err(e.into()),
    }
}

/// Whether an object key names the conversation: one of its path segments starts with the
/// conversation id, followed by nothing or by a character that cannot continue an id
/// (`recordings/<id>.mp4`, `<domain>/<id>/<time>.mp4`, `<id>-2.mp4` for a recording in parts).
fn names_conversation(key: &str, conversation_id: &str) -> bool {
    !conversation_id.is_empty()
        && key.split('/').any(|segment| {
            segment.strip_prefix(conversation_id).is_some_and(|rest| {
                rest.chars()
                    .next()
                    .is_none_or(|c| !c.is_ascii_alphanumeric() && c != '_')
            })
        })
}

#[cfg(test)]
mod tests {
    use super::names_conversation;

    #[test]
    fn a_recording_key_must_name_its_conversation() {
        assert!(names_conversation("recordings/c123.mp4", "c123"));
        assert!(names_conversation("tavus/c123/1733480000.mp4", "c123"));
        assert!(names_conversation("calls/c123-2.mp4", "c123"));
        assert!(!names_conversation("recordings/c1234.mp4", "c123"));
        assert!(!names_conversation("recordings/other.mp4", "c123"));
        assert!(!names_conversation("recordings/xc123.mp4", "c123"));
        assert!(!names_conversation("c123", ""));
    }
}
