//! The sessions' routes: create, end, read, list, and the transcript and usage reads. Each takes
//! the ledger and Tavus it needs, so the same code runs in the Lambda functions and in tests
//! against DynamoDB Local and the simulator.

use std::time::Instant;

use chrono::{DateTime, Utc};

use super::ApiError;
use super::request::{self, CreateSessionRequest};
use super::views::{CreatedView, SessionListView, SessionView, TranscriptView, UsageView};
use super::webhook_token::{self, CallbackClaims};
use crate::domain::minutes::charged_minutes;
use crate::domain::{EndReason, Role, Session, SessionStatus, UserId};
use crate::metrics::record::{self, ClosedBy};
use crate::recordings::RecordingTarget;

use crate::secrets::Secrets;
use crate::store::DynamoLedger;
use crate::store::{Activation, Closing, ReservationRequest, Reserved};
use crate::tavus::Tavus;
use crate::tavus::{Conversation, NewConversation, TavusError};

/// What `POST /sessions` needs to know about the request besides its body.
pub struct CreateContext<'a> {
    pub owner: &'a UserId,
    pub idempotency_key: Option<&'a str>,
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
    body: &[u8],
) -> Result<CreatedView, ApiError> {
    let request = CreateSessionRequest::parse(body, cx.owner)?;
    if request.record && cx.recording.is_none() {
        return Err(ApiError::RecordingUnavailable);
    }
    let session = match reserve(ledger, &request, &cx).await? {
        Reserved::New(session) => session,
        Reserved::Replayed(session) => return replay(ledger, session, &cx).await,
    };
    tracing::info!(session_id = %session.session_id, reserved_minutes = session.reserved_minutes, "minutes reserved");
    record::minutes_reserved(&session);

    let conversation = match new_conversation(keys, &session, &request, &cx).await {
        Ok(conversation) => conversation,
        Err(e) => {
            release(ledger, &session, EndReason::TavusFailed, cx.now).await;
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
            record::create_failed(&e);
            release(ledger, &session, EndReason::TavusFailed, cx.now).await;
            return Err(e.into());
        }
    };
    let active = record_conversation(ledger, tavus, &session, &created, &cx).await?;
    if created.is_ended() {
        return created_ended(ledger, active, &cx).await;
    }
    let usage = match usage {
        Ok(u) => u,
        Err(_) => ledger.usage(cx.owner, cx.now).await?,
    };
    tracing::info!(session_id = %active.session_id, "session active");
    record::session_created(&active, usage.plan);
    Ok(CreatedView {
        // The countdown from the time of the answer: the Tavus call took a moment since `now`.
        session: SessionView::with_join(active.clone(), Role::Owner)
            .with_progress(&active, Utc::now()),
        usage: usage.into(),
    })
}

/// Reserves the minutes and records the session as pending (or finds the session an earlier
/// request with the same Idempotency-Key created).
async fn reserve(
    ledger: &DynamoLedger,
    request: &CreateSessionRequest,
    cx: &CreateContext<'_>,
) -> Result<Reserved, ApiError> {
    let idempotency = request::idempotency_key(cx.idempotency_key, request)?;
    let reservation = ReservationRequest {
        owner: cx.owner.clone(),
        session_type: request.session_type,
        participants: request.participants.clone(),
        requested_minutes: request.max_minutes,
        now: cx.now,
        idempotency,
        record: request.record,
    };
    Ok(ledger
        .reserve(reservation)
        .await
        .inspect_err(record::create_refused)?)
}

/// The answer to a retry: the session the first request created, as it is now.
async fn replay(
    ledger: &DynamoLedger,
    session: Session,
    cx: &CreateContext<'_>,
) -> Result<CreatedView, ApiError> {
    tracing::info!(session_id = %session.session_id, "idempotent replay");
    let usage = ledger.usage(cx.owner, cx.now).await?;
    Ok(CreatedView {
        session: SessionView::with_join(session.clone(), Role::Owner)
            .with_progress(&session, Utc::now()),
        usage: usage.into(),
    })
}

/// What Tavus is asked to create, with the callback URL that proves its session.
async fn new_conversation<'a>(
    keys: &Secrets,
    session: &Session,
    request: &'a CreateSessionRequest,
    cx: &CreateContext<'a>,
) -> Result<NewConversation<'a>, ApiError> {
    let signing_key = keys.webhook_key().await?;
    let token = webhook_token::sign(&signing_key, &CallbackClaims::of(session));
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
/// conversation that cannot run recorded is ended at Tavus.
async fn record_conversation(
    ledger: &DynamoLedger,
    tavus: &Tavus,
    session: &Session,
    created: &Conversation,
    cx: &CreateContext<'_>,
) -> Result<Session, ApiError> {
    if created.conversation_url.is_none() && !created.is_ended() {
        // Nothing to join: as useless as a failed create.
        end_unrecorded(tavus, session, created, cx.deadline).await;
        release(ledger, session, EndReason::TavusFailed, cx.now).await;
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
        Err(e) => {
            // The call must not run unrecorded: end it. The pending reservation is released by
            // the sweeper if this write could not reach DynamoDB.
            end_unrecorded(tavus, session, created, cx.deadline).await;
            Err(e.into())
        }
    }
}

/// Tavus's test mode creates a conversation already ended: nothing ran, nothing is charged, and
/// the usage is read again without the reservation.
async fn created_ended(
    ledger: &DynamoLedger,
    active: Session,
    cx: &CreateContext<'_>,
) -> Result<CreatedView, ApiError> {
    let ended = settle_unused(ledger, active, cx.now).await?;
    let usage = ledger.usage(cx.owner, cx.now).await?;
    record::session_created(&ended, usage.plan);
    Ok(CreatedView {
        session: SessionView::new(ended, Role::Owner),
        usage: usage.into(),
    })
}

async fn end_unrecorded(
    tavus: &Tavus,
    session: &Session,
    created: &Conversation,
    deadline: Instant,
) {
    if let Err(end) = tavus
        .end_conversation(&created.conversation_id, deadline)
        .await
    {
        tracing::error!(session_id = %session.session_id, error = %end, "could not end an unrecorded conversation; the sweeper will");
    }
}

/// Settles a session whose conversation Tavus created already ended (test mode) with nothing
/// charged; Tavus's copy is deleted by the sweeper like any other.
async fn settle_unused(
    ledger: &DynamoLedger,
    active: Session,
    now: DateTime<Utc>,
) -> Result<Session, ApiError> {
    let closing =
        Closing::settle(&active, 0, EndReason::TestMode, now).delete_tavus_copy(&active, now);
    record::close(ledger, closing, ClosedBy::Create).await?;
    tracing::info!(session_id = %active.session_id, "tavus created the conversation ended (test mode); charged 0");
    Ok(Session {
        status: SessionStatus::Ended,
        charged_minutes: Some(0),
        ended_at: Some(now),
        end_reason: Some(EndReason::TestMode),
        ..active
    })
}

/// Gives back a reservation that will not be used. A failure here is logged, not returned: the
/// client's error is the one that caused it, and the sweeper releases what is left pending.
async fn release(ledger: &DynamoLedger, session: &Session, reason: EndReason, now: DateTime<Utc>) {
    let closing = Closing::release(session, reason, now);
    if let Err(e) = record::close(ledger, closing, ClosedBy::Create).await {
        tracing::error!(session_id = %session.session_id, error = %e, "could not release the reservation; the sweeper will");
    }
}

/// `POST /sessions/{id}/end`: the owner ends the call; it is settled with the minutes used.
pub async fn end_session(
    ledger: &DynamoLedger,
    tavus: &Tavus,
    owner: &UserId,
    raw_id: &str,
    now: DateTime<Utc>,
    deadline: Instant,
) -> Result<SessionView, ApiError> {
    let session_id = request::session_id(raw_id)?;
    let (session, role) = ledger.get_session(owner, session_id).await?;
    if role != Role::Owner {
        // Participants may read a session but only its owner ends it.
        return Err(ApiError::NotFound);
    }
    let closing = match (session.status, &session.conversation_id) {
        (SessionStatus::Ended | SessionStatus::Failed, _) => {
            return Ok(SessionView::new(session, Role::Owner));
        }
        (SessionStatus::Active, Some(conversation_id)) => {
            match tavus.end_conversation(conversation_id, deadline).await {
                // Already ended or unknown to Tavus: nothing runs any more; settle.
                Ok(()) | Err(TavusError::Rejected { .. }) => {}
                Err(e) => return Err(e.into()),
            }
            // Charged from our creation time, a moment before Tavus's: never less than Tavus
            // bills. Capped at the reservation, since Tavus stops the call there.
            let charged = charged_minutes(session.created_at, now).min(session.reserved_minutes);
            Closing::settle(&session, charged, EndReason::UserEnded, now)
                .delete_tavus_copy(&session, now)
        }
        // Still being created, or never got a conversation: cancel the reservation.
        _ => Closing::release(&session, EndReason::UserEnded, now),
    };
    record::close(ledger, closing, ClosedBy::Owner).await?;
    let (settled, _) = ledger.get_session(owner, session_id).await?;
    Ok(SessionView::new(settled, Role::Owner))
}

pub async fn usage(
    ledger: &DynamoLedger,
    user: &UserId,
    now: DateTime<Utc>,
) -> Result<UsageView, ApiError> {
    Ok(ledger.usage(user, now).await?.into())
}

/// `GET /sessions/{id}`: with the way into the room and the countdown (by `now`, the server's
/// clock) while the call runs.
pub async fn get_session(
    ledger: &DynamoLedger,
    user: &UserId,
    raw_id: &str,
    now: DateTime<Utc>,
) -> Result<SessionView, ApiError> {
    let (session, role) = ledger
        .get_session(user, request::session_id(raw_id)?)
        .await?;
    Ok(SessionView::with_join(session.clone(), role).with_progress(&session, now))
}

/// `GET /sessions/{id}/transcript`: for the owner and the participants, once it arrived.
pub async fn get_transcript(
    ledger: &DynamoLedger,
    user: &UserId,
    raw_id: &str,
) -> Result<TranscriptView, ApiError> {
    let (session, _) = ledger
        .get_session(user, request::session_id(raw_id)?)
        .await?;
    let transcript = ledger
        .read_transcript(&session.owner_id, session.session_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(TranscriptView {
        session_id: session.session_id.to_string(),
        transcript: transcript.turns,
    })
}

pub async fn list_sessions(
    ledger: &DynamoLedger,
    user: &UserId,
    limit: Option<&str>,
    cursor: Option<&str>,
) -> Result<SessionListView, ApiError> {
    let (limit, cursor) = request::page(limit, cursor)?;
    let page = ledger.list_sessions(user, limit, cursor).await?;
    Ok(SessionListView {
        sessions: page
            .sessions
            .into_iter()
            .map(|(s, role)| SessionView::new(s, role))
            .collect(),
        next_cursor: page.next_cursor.map(|c| c.to_string()),
    })
}
