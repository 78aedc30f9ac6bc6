//! `POST /webhooks/tavus/{token}`: Tavus's callbacks. The token proves which session the call
//! belongs to (HMAC, checked in constant time) and carries what settling needs, so a shutdown is
//! one DynamoDB transaction. Duplicates and any order are harmless: a session closes once.

use chrono::{DateTime, TimeZone, Utc};
use serde::Deserialize;
use serde_json::Value;

use super::ApiError;
use super::sessions::WebhookKey;
use super::webhook_token::{self, CallbackClaims};
use crate::LedgerError;
use crate::domain::minutes::settled_minutes;
use crate::domain::{EndReason, Session, SessionStatus, SessionType, Transcript, Turn};
use crate::store::{CloseSession, Closing, StoreTranscript};
use crate::tavus::model::parse_tavus_time;

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
    Transcript(Vec<Turn>),
    /// Events nothing is done with (replica_joined, recording_ready, ...).
    Other,
}

/// Reads a callback body: a 400 for anything that is not a well-formed callback.
pub fn parse_callback(body: &[u8]) -> Result<(Envelope, CallbackEvent), ApiError> {
    // Through a Value first: serde would also accept a JSON array as a struct.
    let envelope: Envelope = match serde_json::from_slice::<Value>(body) {
        Ok(value @ Value::Object(_)) => serde_json::from_value(value)
            .map_err(|e| ApiError::invalid(format!("body: not a Tavus callback ({e})")))?,
        Ok(_) => return Err(ApiError::invalid("body: a Tavus callback is a JSON object")),
        Err(e) => return Err(ApiError::invalid(format!("body: not valid JSON ({e})"))),
    };
    let event = match envelope.event_type.as_str() {
        "system.shutdown" => CallbackEvent::Shutdown {
            ended_at: envelope
                .timestamp
                .as_deref()
                .and_then(parse_tavus_time)
                .ok_or_else(|| ApiError::invalid("timestamp: required, an ISO-8601 time"))?,
            reason: envelope
                .properties
                .get("shutdown_reason")
                .and_then(Value::as_str)
                .map(str::to_owned),
        },
        "application.transcription_ready" => CallbackEvent::Transcript(
            envelope
                .properties
                .get("transcript")
                .cloned()
                .ok_or_else(|| ApiError::invalid("properties.transcript: required"))
                .and_then(|t| {
                    serde_json::from_value(t)
                        .map_err(|e| ApiError::invalid(format!("properties.transcript: {e}")))
                })?,
        ),
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
    Ignored,
}

pub async fn tavus_callback<L, K>(
    ledger: &L,
    keys: &K,
    token: &str,
    body: &[u8],
) -> Result<Handled, ApiError>
where
    L: CloseSession + StoreTranscript + Sync,
    K: WebhookKey + Sync,
{
    let key = keys.webhook_key().await?;
    // A bad token learns nothing and changes nothing: 404 before the body is even read.
    let claims = webhook_token::verify(&key, token).ok_or(ApiError::NotFound)?;
    let (envelope, event) = parse_callback(body)?;
    tracing::info!(
        event_type = %envelope.event_type,
        session_id = %claims.session_id,
        conversation_id = envelope.conversation_id.as_deref().unwrap_or(""),
        "tavus callback"
    );
    match event {
        CallbackEvent::Shutdown { ended_at, reason } => {
            shutdown(
                ledger,
                &claims,
                envelope.conversation_id,
                ended_at,
                reason.as_deref(),
            )
            .await
        }
        CallbackEvent::Transcript(turns) => transcript(ledger, &claims, turns).await,
        CallbackEvent::Other => Ok(Handled::Ignored),
    }
}

fn created_at(claims: &CallbackClaims) -> Result<DateTime<Utc>, ApiError> {
    Utc.timestamp_millis_opt(claims.created_at_ms)
        .single()
        .ok_or(ApiError::NotFound)
}

async fn shutdown<L: CloseSession + Sync>(
    ledger: &L,
    claims: &CallbackClaims,
    conversation_id: Option<String>,
    ended_at: DateTime<Utc>,
    reason: Option<&str>,
) -> Result<Handled, ApiError> {
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
        conversation_id,
        conversation_url: None,
        created_at: created,
        ended_at: None,
        end_reason: None,
    };
    let charged = settled_minutes(created, ended_at, claims.reserved_minutes);
    let closing = Closing::settle(
        &session,
        charged,
        EndReason::from_shutdown_reason(reason),
        ended_at,
    );
    match ledger.close(closing).await {
        Ok(crate::store::Closed::AlreadyClosed) => Ok(Handled::AlreadySettled),
        Ok(_) => Ok(Handled::Settled),
        // A session that is gone or was recorded otherwise: acknowledge, so Tavus stops sending.
        Err(e @ (LedgerError::SessionNotFound | LedgerError::SessionMismatch(_))) => {
            tracing::warn!(session_id = %claims.session_id, error = %e, "shutdown for a session that cannot be settled");
            Ok(Handled::Ignored)
        }
        Err(e) => Err(e.into()),
    }
}

async fn transcript<L: StoreTranscript + Sync>(
    ledger: &L,
    claims: &CallbackClaims,
    turns: Vec<Turn>,
) -> Result<Handled, ApiError> {
    ledger
        .store_transcript(
            &claims.owner,
            claims.session_id,
            &Transcript::from_tavus(turns),
        )
        .await
        .map_err(|e| match e {
            LedgerError::SessionMismatch(why) => {
                ApiError::invalid(format!("properties.transcript: {why}"))
            }
            other => other.into(),
        })?;
    Ok(Handled::TranscriptStored)
}
