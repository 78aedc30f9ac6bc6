//! Playback of recorded calls, opt-in per session (`POST /sessions` with `"record": true`):
//!
//! - Tavus records into the operator's bucket and announces the file with
//!   `application.recording_ready` (older shape `bucket_name`, `s3_key`, `duration`; newer
//!   `storage_provider`, `storage_uri`). [`tavus_callback`] binds it to the session through the
//!   session's recorded conversation, keeps only files in our bucket (anything else is logged
//!   and ignored) and stores the key and duration once. `application.recording_copy_failed`
//!   marks the recording failed; Tavus's message is never shown to anyone.
//! - `GET /sessions/{id}/recording` ([`get_recording`]): for the owner and the participants,
//!   `none`, `pending`, `ready` (with a presigned GET that lives at most five minutes) or
//!   `failed`.
//! - Erasure deletes the recording objects ([`erase_recordings`], called by
//!   [`super::erasure::erase`]); an erasure whose delete failed is finished by the sweeper
//!   ([`finish_erasures`]), never forgotten.
//!
//! No log line carries a playback link.

use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Utc};
use futures::StreamExt;
use serde::{Serialize, Serializer};

use super::ApiError;
use super::request;

use super::webhook::{self, CallbackContext, Envelope, Handled, handled_callback};
use super::webhook_token::CallbackClaims;
use crate::LedgerError;
use crate::domain::recording::recording_ready;
use crate::domain::{RecordingFile, RecordingStatus, Session, UserId};
use crate::recordings::{MAX_PLAYBACK_LINK, RecordingTarget, Recordings};
use crate::store::DynamoLedger;
use crate::store::dynamo::recording::RecordingWrite;
use crate::store::keys::INDEX_SHARDS;

use crate::tavus::model::parse_tavus_time;

/// How long a playback link lives: long enough to start playing (a player that needs a new
/// one asks again), short enough that a copied link soon stops working.
pub const PLAYBACK_LINK_TTL: Duration = MAX_PLAYBACK_LINK;

/// How long an erasure may wait for its recording objects before the sweeper takes it over
/// (the request that began it is usually still at work until then).
pub const ERASURE_SWEEP_AFTER: chrono::Duration = chrono::Duration::minutes(1);

/// The recording events of Tavus's callbacks.
pub const RECORDING_READY: &str = "application.recording_ready";
pub const RECORDING_COPY_FAILED: &str = "application.recording_copy_failed";

/// How many erasures the sweeper finishes at once.
const CONCURRENCY: usize = 8;
/// How many due erasures are taken from a shard per query.
const BATCH: usize = 200;

fn rfc3339_opt<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::Millis, true)),
        None => s.serialize_none(),
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

/// `GET /sessions/{id}/recording`: for the owner and the participants (404 for anyone else, as
/// for the session). A ready recording comes with a presigned GET valid for
/// [`PLAYBACK_LINK_TTL`] from `now`.
pub async fn get_recording(
    ledger: &DynamoLedger,
    recordings: Option<&Recordings>,
    user: &UserId,
    raw_id: &str,
    now: DateTime<Utc>,
) -> Result<RecordingView, ApiError> {
    let (session, role) = ledger
        .get_session(user, request::session_id(raw_id)?)
        .await?;
    let status = session.playback.status();
    let Some(file) = session
        .playback
        .recording
        .filter(|_| status == RecordingStatus::Ready)
    else {
        return Ok(RecordingView {
            status,
            url: None,
            expires_at: None,
            duration_seconds: None,
        });
    };
    let recordings = recordings.ok_or_else(|| {
        ApiError::DependencyUnavailable("a recording is kept but no bucket is configured".into())
    })?;
    let link = recordings
        .playback_link(&file.key, PLAYBACK_LINK_TTL)
        .await?;
    let ttl = chrono::Duration::from_std(PLAYBACK_LINK_TTL).unwrap_or(chrono::Duration::zero());
    tracing::info!(session_id = %session.session_id, role = ?role, "playback link issued");
    Ok(RecordingView {
        status,
        url: Some(link.expose().to_owned()),
        expires_at: Some(now + ttl),
        duration_seconds: file.duration_seconds,
    })
}

/// `POST /webhooks/tavus/{token}`: the recording events here, every other event as
/// [`webhook::tavus_callback`] handles it. `target`: this deployment's recordings bucket
/// (`None`: it records nothing, and recording events are ignored).
pub async fn tavus_callback(
    ledger: &DynamoLedger,
    target: Option<&RecordingTarget>,
    cx: CallbackContext<'_>,
    token: &str,
    body: &[u8],
) -> Result<Handled, ApiError> {
    let (claims, envelope, event) = webhook::open_callback(cx.keys, token, body).await?;
    let handled = match envelope.event_type.as_str() {
        RECORDING_READY => stored_recording(ledger, target, &claims, &envelope).await?,
        RECORDING_COPY_FAILED => failed_recording(ledger, &claims, &envelope).await?,
        _ => return webhook::handle_callback(ledger, &cx, &claims, envelope, event).await,
    };
    handled_callback(&claims, handled);
    Ok(handled)
}

fn event_time(envelope: &Envelope) -> DateTime<Utc> {
    envelope
        .timestamp
        .as_deref()
        .and_then(parse_tavus_time)
        .unwrap_or_else(Utc::now)
}

async fn stored_recording(
    ledger: &DynamoLedger,
    target: Option<&RecordingTarget>,
    claims: &CallbackClaims,
    envelope: &Envelope,
) -> Result<Handled, ApiError> {
    let ready = recording_ready(&envelope.properties).map_err(ApiError::invalid)?;
    let Some(conversation_id) = envelope.conversation_id.as_deref() else {
        tracing::warn!(session_id = %claims.session_id, "recording callback without a conversation_id; ignored");
        return Ok(Handled::Ignored);
    };
    let Some(target) = target else {
        tracing::warn!(session_id = %claims.session_id, "recording callback, but this deployment keeps no recordings; ignored");
        return Ok(Handled::Ignored);
    };
    let Some(location) = ready.location.filter(|l| l.bucket == target.bucket) else {
        tracing::warn!(session_id = %claims.session_id, "a recording outside our recordings bucket; ignored");
        return Ok(Handled::Ignored);
    };
    let file = RecordingFile {
        key: location.key,
        duration_seconds: ready.duration_seconds,
        ready_at: event_time(envelope),
    };
    let written = ledger
        .store_recording(&claims.owner, claims.session_id, conversation_id, &file)
        .await;
    ignore_gone(claims, written, "recording")
}

async fn failed_recording(
    ledger: &DynamoLedger,
    claims: &CallbackClaims,
    envelope: &Envelope,
) -> Result<Handled, ApiError> {
    let Some(conversation_id) = envelope.conversation_id.as_deref() else {
        tracing::warn!(session_id = %claims.session_id, "recording callback without a conversation_id; ignored");
        return Ok(Handled::Ignored);
    };
    // Tavus's message may name its storage internals: operators see its size, nobody its text.
    let message_chars = envelope
        .properties
        .get("error_message")
        .and_then(serde_json::Value::as_str)
        .map_or(0, |m| m.chars().count());
    tracing::warn!(session_id = %claims.session_id, message_chars, "tavus could not copy the recording into our bucket");
    let written = ledger
        .recording_failed(
            &claims.owner,
            claims.session_id,
            conversation_id,
            event_time(envelope),
        )
        .await;
    ignore_gone(claims, written, "recording failure")
}

/// A session that is gone, being erased, or holding another conversation: acknowledged and
/// nothing changed, so Tavus stops sending.
fn ignore_gone(
    claims: &CallbackClaims,
    written: Result<RecordingWrite, LedgerError>,
    what: &str,
) -> Result<Handled, ApiError> {
    match written {
        Ok(RecordingWrite::Stored) => {
            tracing::info!(session_id = %claims.session_id, "{what} stored");
            Ok(Handled::RecordingStored)
        }
        Ok(RecordingWrite::Duplicate) => {
            tracing::info!(session_id = %claims.session_id, "{what} already stored; nothing changed");
            Ok(Handled::Ignored)
        }
        Ok(RecordingWrite::Erasing) => {
            // The object expires with the bucket's lifecycle rule.
            tracing::warn!(session_id = %claims.session_id, "{what} for a session being erased; ignored");
            Ok(Handled::Ignored)
        }
        Err(e @ (LedgerError::SessionNotFound | LedgerError::SessionMismatch(_))) => {
            tracing::warn!(session_id = %claims.session_id, error = %e, "{what} for a session that is gone or holds another conversation; ignored");
            Ok(Handled::Ignored)
        }
        Err(e) => Err(e.into()),
    }
}

/// Part of [`super::erasure::erase`], before the table's items go: a session that asked for a
/// recording or has one is marked as being erased and put where the sweeper finds it, then every
/// recording object announced until the mark is deleted. If a delete fails, the erasure stops
/// (503) and the sweeper finishes it; nothing is forgotten.
pub async fn erase_recordings(
    ledger: &DynamoLedger,
    recordings: Option<&Recordings>,
    session: &Session,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    if !session.playback.record && session.playback.object_keys().is_empty() {
        return Ok(());
    }
    // From the mark on, no recording can be added; the keys are those the mark saw.
    let marked = ledger.mark_recording_erasure(session, now).await?;
    delete_objects(recordings, &marked).await.map_err(|e| {
        tracing::warn!(session_id = %session.session_id, error = %e, "a recording was not deleted; the sweeper will finish the erasure");
        ApiError::RecordingKept(e)
    })
}

async fn delete_objects(recordings: Option<&Recordings>, session: &Session) -> Result<(), String> {
    let keys = session.playback.object_keys();
    if keys.is_empty() {
        return Ok(());
    }
    let recordings =
        recordings.ok_or("recordings are kept, but no recordings bucket is configured")?;
    for key in &keys {
        recordings.delete(key).await.map_err(|e| e.to_string())?;
    }
    tracing::info!(session_id = %session.session_id, objects = keys.len(), "recordings deleted");
    Ok(())
}

/// What [`finish_erasures`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErasureSweep {
    /// Erasures finished: recordings deleted, then the session's items.
    pub finished: u64,
    pub failed: u64,
    /// False when the deadline stopped it; the next sweep continues.
    pub complete: bool,
}

/// The sweeper's part: finishes every erasure that has waited [`ERASURE_SWEEP_AFTER`] for its
/// recording objects (a failed delete, a request cut short), until done or `deadline`.
pub async fn finish_erasures(
    ledger: &DynamoLedger,
    recordings: Option<&Recordings>,
    now: DateTime<Utc>,
    deadline: Instant,
) -> ErasureSweep {
    let mut report = ErasureSweep {
        complete: true,
        ..ErasureSweep::default()
    };
    let cutoff = now - ERASURE_SWEEP_AFTER;
    for shard in 0..INDEX_SHARDS {
        loop {
            if Instant::now() >= deadline {
                report.complete = false;
                return report;
            }
            let due = match ledger.recording_erasures_due(shard, cutoff, BATCH).await {
                Ok(due) => due,
                Err(e) => {
                    tracing::error!(shard, error = %e, "cannot query erasures waiting for recordings");
                    report.failed += 1;
                    report.complete = false;
                    break;
                }
            };
            let count = due.len();
            let results: Vec<bool> = futures::stream::iter(due)
                .map(|session| finish_one(ledger, recordings, session))
                .buffer_unordered(CONCURRENCY)
                .collect()
                .await;
            let finished = results.iter().filter(|ok| **ok).count() as u64;
            report.finished += finished;
            report.failed += results.len() as u64 - finished;
            // Finished ones leave the index; a short batch, or one with nothing finished (all
            // failing until the next sweep), ends the shard.
            if count < BATCH || finished == 0 {
                break;
            }
        }
    }
    report
}

async fn finish_one(
    ledger: &DynamoLedger,
    recordings: Option<&Recordings>,
    session: Session,
) -> bool {
    if let Err(e) = delete_objects(recordings, &session).await {
        tracing::warn!(session_id = %session.session_id, error = %e, "a recording is still not deleted; the next sweep retries");
        return false;
    }
    match ledger.erase_session(&session).await {
        Ok(_) => {
            tracing::info!(session_id = %session.session_id, "erasure finished by the sweeper");
            true
        }
        Err(e) => {
            tracing::warn!(session_id = %session.session_id, error = %e, "could not finish an erasure; the next sweep retries");
            false
        }
    }
}
