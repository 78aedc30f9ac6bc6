//! `POST /sessions`: reserve the minutes, create the Tavus conversation, activate the session.
//! If Tavus fails, or its conversation cannot be recorded on the session, the reservation is
//! released and nothing is charged.

use std::time::Instant;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::ServiceError;
use super::callback_token::{self, CallbackClaims};
use super::settle::{self, ClosedBy};
use crate::LedgerError;
use crate::domain::{EndReason, Session, SessionStatus, SessionType, Usage, UserId};
use crate::metrics::emit::{self, CreateFailure, Refusal};
use crate::recording_bucket::RecordingTarget;
use crate::secrets::Secrets;
use crate::store::{
    Activation, Closing, DynamoLedger, IdempotencyKey, ReservationRequest, Reserved,
};
use crate::tavus::{Conversation, NewConversation, Tavus, TavusError};

/// A checked `POST /sessions` body (the API parses it: `crate::api::request`). The prompt and
/// context are only passed on to Tavus.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct CreateSessionRequest {
    pub session_type: SessionType,
    pub prompt: String,
    pub participant_context: Option<String>,
    pub participants: Vec<UserId>,
    pub max_minutes: Option<u32>,
    /// Record the call into the operator's bucket (default false). Left out of the fingerprint
    /// when false, so keys remembered before it existed still match their requests.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub record: bool,
}

impl std::fmt::Debug for CreateSessionRequest {
    // Never print what the user wrote.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreateSessionRequest")
            .field("session_type", &self.session_type)
            .field("participants", &self.participants.len())
            .field("max_minutes", &self.max_minutes)
            .field("record", &self.record)
            .finish_non_exhaustive()
    }
}

impl CreateSessionRequest {
    /// A digest of the checked request, so a retry with the same Idempotency-Key can be told
    /// from a different request under the same key. Only the digest is stored, never the text.
    pub fn fingerprint(&self) -> String {
        let canonical = serde_json::to_vec(self).unwrap_or_default();
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &canonical);
        crate::hex::encode(digest.as_ref())
    }
}

/// The session a create made (or found, for a retry), and the usage after its reservation.
#[derive(Debug, Clone)]
pub struct Created {
    pub session: Session,
    pub usage: Usage,
}

/// What `POST /sessions` needs to know about the request besides its body.
pub struct CreateContext<'a> {
    pub owner: &'a UserId,
    /// The client's `Idempotency-Key` with the request's fingerprint.
    pub idempotency: Option<IdempotencyKey>,
    /// Base URL of this API as Tavus reaches it, e.g. `https://api.example.com`.
    pub public_url: &'a str,
    pub now: DateTime<Utc>,
    /// When the answer must be on its way (the Lambda's deadline less a margin).
    pub deadline: Instant,
    /// Where calls are recorded; `None`: this deployment records nothing, and a session that
    /// asks for a recording is refused (400 `recording_unavailable`).
    pub recording: Option<&'a RecordingTarget>,
}

/// `POST /sessions`: reserve, create the Tavus conversation, record it. If Tavus fails, the
/// reservation is released and nothing is charged.
pub async fn create_session(
    ledger: &DynamoLedger,
    tavus: &Tavus,
    keys: &Secrets,
    cx: CreateContext<'_>,
    request: &CreateSessionRequest,
) -> Result<Created, ServiceError> {
    if request.record && cx.recording.is_none() {
        return Err(ServiceError::RecordingUnavailable);
    }
    let session = match reserve(ledger, request, &cx).await? {
        Reserved::New(session) => session,
        Reserved::Replayed(session) => return replay(ledger, session, &cx).await,
    };
    tracing::info!(session_id = %session.session_id, reserved_minutes = session.reserved_minutes, "minutes reserved");
    emit::minutes_reserved(session.session_type.as_str(), session.reserved_minutes);

    let conversation = match new_conversation(keys, &session, request, &cx).await {
        Ok(conversation) => conversation,
        Err(e) => {
            settle::release(ledger, &session, EndReason::TavusFailed, cx.now).await;
            return Err(e);
        }
    };
    // The usage read rides along with the Tavus call: it costs no time on the happy path.
    let (created, usage) = tokio::join!(
        tavus.create_conversation(&conversation, cx.deadline),
        ledger.usage(cx.owner, cx.now)
    );
    let created = match created {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(session_id = %session.session_id, error = %e, "tavus did not create the conversation");
            emit::create_failed(create_failure(&e));
            settle::release(ledger, &session, EndReason::TavusFailed, cx.now).await;
            return Err(e.into());
        }
    };
    let active = activate(ledger, tavus, &session, &created, &cx).await?;
    if !active.status.is_open() {
        let usage = ledger.usage(cx.owner, cx.now).await?;
        return Ok(Created {
            session: active,
            usage,
        });
    }
    if created.is_ended() {
        return created_ended(ledger, active, &cx).await;
    }
    let usage = match usage {
        Ok(u) => u,
        Err(_) => ledger.usage(cx.owner, cx.now).await?,
    };
    tracing::info!(session_id = %active.session_id, "session active");
    emit::session_created(active.session_type.as_str(), usage.plan.as_str());
    Ok(Created {
        session: active,
        usage,
    })
}

/// Reserves the minutes and records the session as pending (or finds the session an earlier
/// request with the same Idempotency-Key created).
async fn reserve(
    ledger: &DynamoLedger,
    request: &CreateSessionRequest,
    cx: &CreateContext<'_>,
) -> Result<Reserved, ServiceError> {
    let reservation = ReservationRequest {
        owner: cx.owner.clone(),
        session_type: request.session_type,
        participants: request.participants.clone(),
        requested_minutes: request.max_minutes,
        now: cx.now,
        idempotency: cx.idempotency.clone(),
        record: request.record,
    };
    Ok(ledger.reserve(reservation).await.inspect_err(|e| {
        if let Some(refusal) = refusal(e) {
            emit::create_refused(refusal);
        }
    })?)
}

/// A reservation's error as the refusal it is counted as; `None` when it is no refusal.
pub(crate) fn refusal(error: &LedgerError) -> Option<Refusal> {
    match error {
        LedgerError::MinutesExhausted { plan, .. } => Some(Refusal::MinutesExhausted {
            plan: plan.as_str(),
        }),
        LedgerError::TooManyOpenSessions { .. } => Some(Refusal::TooManyOpenSessions),
        LedgerError::RateLimited { .. } => Some(Refusal::RateLimited),
        _ => None,
    }
}

/// Why Tavus's create failed, as it is counted.
pub(crate) fn create_failure(error: &TavusError) -> CreateFailure {
    match error {
        TavusError::AtCapacity => CreateFailure::TavusAtCapacity,
        TavusError::OutOfCredits => CreateFailure::TavusOutOfCredits,
        TavusError::Secret(_) => CreateFailure::DependencyUnavailable,
        _ => CreateFailure::TavusUnavailable,
    }
}

/// The answer to a retry: the session the first request created, as it is now.
async fn replay(
    ledger: &DynamoLedger,
    session: Session,
    cx: &CreateContext<'_>,
) -> Result<Created, ServiceError> {
    tracing::info!(session_id = %session.session_id, "idempotent replay");
    let usage = ledger.usage(cx.owner, cx.now).await?;
    Ok(Created { session, usage })
}

/// What Tavus is asked to create, with the callback URL that proves its session.
async fn new_conversation<'a>(
    keys: &Secrets,
    session: &Session,
    request: &'a CreateSessionRequest,
    cx: &CreateContext<'a>,
) -> Result<NewConversation<'a>, ServiceError> {
    let signing_key = keys.webhook_key().await?;
    let token = callback_token::sign(&signing_key, &CallbackClaims::of(session));
    Ok(NewConversation {
        session_type: session.session_type,
        conversation_name: format!(
            "AwakNow {} {}",
            session.session_type_label(),
            session.session_id
        ),
        prompt: &request.prompt,
        participant_context: request.participant_context.as_deref(),
        participant_count: request.participants.len(),
        callback_url: format!(
            "{}/webhooks/tavus/{token}",
            cx.public_url.trim_end_matches('/')
        ),
        reserved_minutes: session.reserved_minutes,
        recording: cx.recording.filter(|_| session.playback.record),
    })
}

/// Records the conversation Tavus created on the pending session, making it active. A
/// conversation the session cannot hold is discarded ([`discard`]).
async fn activate(
    ledger: &DynamoLedger,
    tavus: &Tavus,
    session: &Session,
    created: &Conversation,
    cx: &CreateContext<'_>,
) -> Result<Session, ServiceError> {
    if created.conversation_url.is_none() && !created.is_ended() {
        // Nothing to join: as useless as a failed create.
        discard(ledger, tavus, session, created, cx).await;
        return Err(
            TavusError::BadResponse("a conversation without a conversation_url".into()).into(),
        );
    }
    let activation = Activation {
        conversation_id: &created.conversation_id,
        conversation_url: created.conversation_url.as_deref(),
        meeting_token: created.meeting_token.as_ref(),
    };
    match ledger.activate(session, activation).await {
        Ok(active) => Ok(active),
        Err(LedgerError::NoLongerPending(closed)) => {
            // Its owner ended it while Tavus created the call (or it was released): the call
            // must not run, and the answer is the session as it is, closed.
            discard(ledger, tavus, session, created, cx).await;
            Ok(*closed)
        }
        Err(e) => {
            // The call must not run unrecorded (the session may have been ended meanwhile, or
            // the write failed).
            discard(ledger, tavus, session, created, cx).await;
            Err(e.into())
        }
    }
}

/// A conversation the session will not hold: ended and deleted at Tavus, the user's prompt with
/// it, and the reservation released with the conversation recorded on the session, so that
/// what Tavus could not delete now the sweeper deletes (and an erasure reaches). Failures are
/// logged: the caller's error is the one that caused this, and the sweeper finishes the rest
/// (its orphan pass finds a conversation of ours that no session holds, ended or not).
async fn discard(
    ledger: &DynamoLedger,
    tavus: &Tavus,
    session: &Session,
    created: &Conversation,
    cx: &CreateContext<'_>,
) {
    let deleted = end_and_delete(tavus, session, &created.conversation_id, cx.deadline).await;
    let closing = Closing::release(session, EndReason::TavusFailed, cx.now)
        .with_unheld_conversation(&created.conversation_id, (!deleted).then_some(cx.now));
    if let Err(e) = settle::close(ledger, closing, ClosedBy::Create).await {
        tracing::error!(session_id = %session.session_id, error = %e, "could not release the reservation; the sweeper will");
    }
}

/// Ends a conversation and deletes Tavus's copy; false when either failed.
async fn end_and_delete(
    tavus: &Tavus,
    session: &Session,
    conversation_id: &str,
    deadline: Instant,
) -> bool {
    match tavus.end_conversation(conversation_id, deadline).await {
        Ok(()) => {}
        Err(e) if e.is_unknown_conversation() => {}
        Err(e) => {
            tracing::error!(session_id = %session.session_id, error = %e, "could not end a conversation no session holds; the sweeper will");
            return false;
        }
    }
    match tavus.delete_conversation(conversation_id, deadline).await {
        Ok(()) => true,
        Err(e) => {
            tracing::error!(session_id = %session.session_id, error = %e, "could not delete a conversation no session holds; the sweeper will");
            false
        }
    }
}

/// Tavus's test mode creates a conversation already ended: nothing ran, nothing is charged, and
/// the usage is read again without the reservation.
async fn created_ended(
    ledger: &DynamoLedger,
    active: Session,
    cx: &CreateContext<'_>,
) -> Result<Created, ServiceError> {
    let ended = settle_unused(ledger, active, cx.now).await?;
    let usage = ledger.usage(cx.owner, cx.now).await?;
    emit::session_created(ended.session_type.as_str(), usage.plan.as_str());
    Ok(Created {
        session: ended,
        usage,
    })
}

/// Settles a session whose conversation Tavus created already ended (test mode) with nothing
/// charged; Tavus's copy is deleted by the sweeper like any other.
async fn settle_unused(
    ledger: &DynamoLedger,
    active: Session,
    now: DateTime<Utc>,
) -> Result<Session, ServiceError> {
    let closing =
        Closing::settle(&active, 0, EndReason::TestMode, now).delete_tavus_copy(&active, now);
    settle::close(ledger, closing, ClosedBy::Create).await?;
    tracing::info!(session_id = %active.session_id, "tavus created the conversation ended (test mode); charged 0");
    Ok(Session {
        status: SessionStatus::Ended,
        charged_minutes: Some(0),
        ended_at: Some(now),
        end_reason: Some(EndReason::TestMode),
        ..active
    })
}
