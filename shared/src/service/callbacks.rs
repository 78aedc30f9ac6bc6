//! Every Tavus callback (`POST /webhooks/tavus/{token}`), dispatched here by its event type:
//! `system.shutdown` settles the session, `application.transcription_ready` stores the
//! transcript, and the recording events go to [`super::playback`]. The token proves which
//! session the call belongs to (HMAC, checked in constant time) and carries what settling
//! needs, so a shutdown is one DynamoDB transaction. Duplicates and any order are harmless: a
//! session closes once. A callback acts only on the session whose recorded conversation is the
//! one it names; once the transcript is stored and the session settled, Tavus's copy of the
//! conversation is deleted.

use chrono::{DateTime, TimeZone, Utc};
use serde::Deserialize;
use serde_json::Value;

use super::ServiceError;
use super::callback_token::{self, CallbackClaims};
use super::playback::{self, Recorded, RecordingEvent};
use super::settle::{self, ClosedBy};
use super::tavus_copy::delete_tavus_copy;
use crate::LedgerError;
use crate::domain::minutes::shutdown_charge;
use crate::domain::{EndReason, Session, SessionStatus, SessionType, Transcript};
use crate::metrics::emit;
use crate::recording_bucket::Recordings;
use crate::secrets::Secrets;
use crate::store::{Closed, Closing, DynamoLedger};
use crate::tavus::Tavus;
use crate::tavus::model::parse_tavus_time;

/// The recording events of Tavus's callbacks.
pub const RECORDING_READY: &str = "application.recording_ready";
pub const RECORDING_COPY_FAILED: &str = "application.recording_copy_failed";

/// The envelope Tavus documents for every conversation callback.
#[derive(Debug, Deserialize)]
pub struct Envelope {
    pub event_type: String,
    #[serde(default)]
    pub conversation_id: Option<String>,
    #[serde(default)]
    pub timestamp: Option<String>,
    #[serde(default)]
    pub properties: Value,
}

/// What a callback asks of the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallbackEvent {
    Shutdown {
        ended_at: DateTime<Utc>,
        reason: Option<String>,
    },
    /// The usable turns, and how many were dropped as unusable.
    Transcript(Transcript, usize),
    /// Events nothing is done with (replica_joined, recording_ready, ...).
    Other,
}

/// Reads a callback body: a 400 for anything that is not a well-formed callback.
pub fn parse_callback(body: &[u8]) -> Result<(Envelope, CallbackEvent), ServiceError> {
    // Through a Value first: serde would also accept a JSON array as a struct.
    let envelope: Envelope = match serde_json::from_slice::<Value>(body) {
        Ok(value @ Value::Object(_)) => serde_json::from_value(value)
            .map_err(|e| ServiceError::invalid(format!("body: not a Tavus callback ({e})")))?,
        Ok(_) => {
            return Err(ServiceError::invalid(
                "body: a Tavus callback is a JSON object",
            ));
        }
        Err(e) => return Err(ServiceError::invalid(format!("body: not valid JSON ({e})"))),
    };
    let event = match envelope.event_type.as_str() {
        "system.shutdown" => CallbackEvent::Shutdown {
            ended_at: envelope
                .timestamp
                .as_deref()
                .and_then(parse_tavus_time)
                .ok_or_else(|| ServiceError::invalid("timestamp: required, an ISO-8601 time"))?,
            reason: envelope
                .properties
                .get("shutdown_reason")
                .and_then(Value::as_str)
                .map(str::to_owned),
        },
        "application.transcription_ready" => {
            let items = envelope
                .properties
                .get("transcript")
                .and_then(Value::as_array)
                .ok_or_else(|| {
                    ServiceError::invalid("properties.transcript: required, an array")
                })?;
            let (transcript, dropped) = Transcript::from_tavus_json(items);
            CallbackEvent::Transcript(transcript, dropped)
        }
        _ => CallbackEvent::Other,
    };
    Ok((envelope, event))
}

/// What happened with a callback, for the logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handled {
    Settled,
    AlreadySettled,
    TranscriptStored,
    /// A recording in our bucket was recorded with its session (or its copy's failure).
    RecordingStored,
    /// A recording that arrived after its session was erased was deleted.
    LateRecordingDeleted,
    Ignored,
}

impl Handled {
    /// Its name in the logs and the `Outcome` dimension.
    pub fn as_str(self) -> &'static str {
        match self {
            Handled::Settled => "settled",
            Handled::AlreadySettled => "already_settled",
            Handled::TranscriptStored => "transcript_stored",
            Handled::RecordingStored => "recording_stored",
            Handled::LateRecordingDeleted => "late_recording_deleted",
            Handled::Ignored => "ignored",
        }
    }
}

/// What a callback needs besides the ledger.
pub struct CallbackContext<'a> {
    pub tavus: &'a Tavus,
    pub keys: &'a Secrets,
    /// Delete Tavus's copy once the transcript is stored and the session settled.
    pub delete_after_call: bool,
    pub deadline: std::time::Instant,
    /// This deployment's recordings bucket (`None`: it records nothing, and recording events
    /// are ignored). A recording that arrives after its session's erasure is deleted there.
    pub recordings: Option<&'a Recordings>,
}

/// One callback: verified, read, and dispatched by its event type.
pub async fn tavus_callback(
    ledger: &DynamoLedger,
    cx: CallbackContext<'_>,
    token: &str,
    body: &[u8],
) -> Result<Handled, ServiceError> {
    let (claims, envelope, event) = open_callback(cx.keys, token, body).await?;
    let recording = RecordingEvent {
        conversation_id: envelope.conversation_id.as_deref(),
        properties: &envelope.properties,
        at: event_time(&envelope),
    };
    let handled = match envelope.event_type.as_str() {
        RECORDING_READY => playback::recording_ready(ledger, cx.recordings, &claims, recording)
            .await?
            .into(),
        RECORDING_COPY_FAILED => playback::recording_failed(ledger, &claims, recording)
            .await?
            .into(),
        _ => handle_callback(ledger, &cx, &claims, envelope, event).await?,
    };
    tracing::info!(session_id = %claims.session_id, outcome = handled.as_str(), "callback handled");
    emit::callback_handled(handled.as_str());
    Ok(handled)
}

impl From<Recorded> for Handled {
    fn from(recorded: Recorded) -> Handled {
        match recorded {
            Recorded::Stored => Handled::RecordingStored,
            Recorded::DeletedLate => Handled::LateRecordingDeleted,
            Recorded::Ignored => Handled::Ignored,
        }
    }
}

/// When Tavus sent a callback (now, if it did not say).
fn event_time(envelope: &Envelope) -> DateTime<Utc> {
    envelope
        .timestamp
        .as_deref()
        .and_then(parse_tavus_time)
        .unwrap_or_else(Utc::now)
}

/// Verifies the token, then reads the body: a bad token is not found before the body is read.
async fn open_callback(
    keys: &Secrets,
    token: &str,
    body: &[u8],
) -> Result<(CallbackClaims, Envelope, CallbackEvent), ServiceError> {
    emit::callback_received();
    let key = keys.webhook_key().await?;
    // A bad token learns nothing and changes nothing: 404 before the body is even read.
    let claims = callback_token::verify(&key, token).ok_or(ServiceError::NotFound)?;
    let (envelope, event) = parse_callback(body)?;
    tracing::info!(
        event_type = %envelope.event_type,
        session_id = %claims.session_id,
        conversation_id = envelope.conversation_id.as_deref().unwrap_or(""),
        "tavus callback"
    );
    Ok((claims, envelope, event))
}

/// Acts on a verified callback of the conversation's own events.
async fn handle_callback(
    ledger: &DynamoLedger,
    cx: &CallbackContext<'_>,
    claims: &CallbackClaims,
    envelope: Envelope,
    event: CallbackEvent,
) -> Result<Handled, ServiceError> {
    let Some(conversation_id) = envelope.conversation_id.clone() else {
        tracing::warn!(session_id = %claims.session_id, "callback without a conversation_id; ignored");
        return Ok(Handled::Ignored);
    };
    let handled = match event {
        CallbackEvent::Shutdown { ended_at, reason } => {
            shutdown(ledger, claims, conversation_id, ended_at, reason.as_deref()).await
        }
        CallbackEvent::Transcript(transcript, dropped) => {
            if dropped > 0 {
                tracing::warn!(session_id = %claims.session_id, dropped_turns = dropped, "transcript turns without usable content were dropped");
            }
            store_transcript(ledger, cx, claims, &conversation_id, transcript).await
        }
        CallbackEvent::Other => Ok(Handled::Ignored),
    }?;
    Ok(handled)
}

fn created_at(claims: &CallbackClaims) -> Result<DateTime<Utc>, ServiceError> {
    Utc.timestamp_millis_opt(claims.created_at_ms)
        .single()
        .ok_or(ServiceError::NotFound)
}

async fn shutdown(
    ledger: &DynamoLedger,
    claims: &CallbackClaims,
    conversation_id: String,
    ended_at: DateTime<Utc>,
    reason: Option<&str>,
) -> Result<Handled, ServiceError> {
    let created = created_at(claims)?;
    // The close is conditioned on the session's recorded period and reservation; the session
    // itself is only described here, from the signed claims.
    let session = Session {
        session_id: claims.session_id,
        owner_id: claims.owner.clone(),
        session_type: SessionType::ReflectAlone,
        participants: Vec::new(),
        status: SessionStatus::Active,
        period: claims.period,
        reserved_minutes: claims.reserved_minutes,
        charged_minutes: None,
        conversation_id: Some(conversation_id.clone()),
        conversation_url: None,
        meeting_token: None,
        created_at: created,
        ended_at: None,
        end_reason: None,
        playback: Default::default(),
    };
    let nobody_joined = EndReason::nobody_joined(reason);
    let reason = EndReason::from_shutdown_reason(reason);
    let charged = shutdown_charge(created, ended_at, claims.reserved_minutes, reason);
    // Only the session that holds this conversation settles; Tavus's copy is deleted once the
    // transcript is in (by the transcript callback, or by the sweeper from `ended_at` on).
    let closing = Closing::settle(&session, charged, reason, ended_at)
        .nobody_joined(nobody_joined)
        .for_conversation(conversation_id)
        .delete_tavus_copy(&session, ended_at);
    match settle::close(ledger, closing, ClosedBy::Callback).await {
        Ok(Closed::AlreadyClosed) => Ok(Handled::AlreadySettled),
        Ok(_) => Ok(Handled::Settled),
        // A session that is gone or was recorded otherwise: acknowledge, so Tavus stops sending.
        Err(e @ (LedgerError::SessionNotFound | LedgerError::SessionMismatch(_))) => {
            tracing::warn!(session_id = %claims.session_id, error = %e, "shutdown for a session that cannot be settled (another conversation, or gone); nothing changed");
            Ok(Handled::Ignored)
        }
        Err(e) => Err(e.into()),
    }
}

/// Stores the transcript of the session that holds `conversation_id`, then, if the session is
/// settled, deletes Tavus's copy. A failed delete is left to the sweeper, which finds the
/// settled session in the open-sessions index until the copy is gone.
async fn store_transcript(
    ledger: &DynamoLedger,
    cx: &CallbackContext<'_>,
    claims: &CallbackClaims,
    conversation_id: &str,
    transcript: Transcript,
) -> Result<Handled, ServiceError> {
    let session = match ledger.get_session(&claims.owner, claims.session_id).await {
        Ok((session, _)) => session,
        Err(LedgerError::SessionNotFound) => {
            tracing::warn!(session_id = %claims.session_id, "transcript for a session that is gone; ignored");
            return Ok(Handled::Ignored);
        }
        Err(e) => return Err(e.into()),
    };
    if session.conversation_id.as_deref() != Some(conversation_id) {
        tracing::warn!(session_id = %claims.session_id, "transcript for another conversation than the session's; ignored");
        return Ok(Handled::Ignored);
    }
    match ledger
        .store_transcript(&claims.owner, claims.session_id, &transcript)
        .await
    {
        Ok(()) => {}
        // Erased (or being erased) since it was read: nothing of it may be stored again.
        Err(LedgerError::SessionNotFound) => {
            tracing::warn!(session_id = %claims.session_id, "transcript for a session erased meanwhile; ignored");
            return Ok(Handled::Ignored);
        }
        Err(LedgerError::SessionMismatch(why)) => {
            return Err(ServiceError::invalid(format!(
                "properties.transcript: {why}"
            )));
        }
        Err(other) => return Err(other.into()),
    }
    if cx.delete_after_call && !session.status.is_open() {
        delete_tavus_copy(ledger, cx.tavus, &session, conversation_id, cx.deadline).await;
    }
    Ok(Handled::TranscriptStored)
}
