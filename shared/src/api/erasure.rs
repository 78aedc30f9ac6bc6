//! `DELETE /sessions/{id}`: the owner erases a session. Everything kept about it goes: Tavus's
//! copy of the conversation, then the session, its transcript, every person's notes and the
//! participants' participation items. What it was charged stays charged: the account, the
//! period's history and so the usage figures do not change.
//!
//! [`erase`] is the one place a session is erased; whatever else comes to be kept with a session
//! is deleted there, before the table's items, as Tavus's copy and the recordings are.

use std::time::Instant;

use super::ApiError;
use super::recording::erase_recordings;
use super::request;
use crate::domain::{Role, Session, UserId};
use crate::recordings::Recordings;
use crate::store::{DynamoLedger, Erased};
use crate::tavus::Tavus;

/// `DELETE /sessions/{id}`: for the owner of a closed session (a participant gets 404, as
/// anyone else; a pending or active session is 409 `session_active`: end it first).
pub async fn delete_session(
    ledger: &DynamoLedger,
    tavus: &Tavus,
    recordings: Option<&Recordings>,
    owner: &UserId,
    raw_id: &str,
    deadline: Instant,
) -> Result<(), ApiError> {
    let (session, role) = ledger
        .get_session(owner, request::session_id(raw_id)?)
        .await?;
    if role != Role::Owner {
        // Participants may read a session and keep notes on it, but only its owner erases it.
        return Err(ApiError::NotFound);
    }
    if session.status.is_open() {
        return Err(ApiError::SessionActive);
    }
    erase(ledger, tavus, recordings, &session, deadline).await
}

/// Erases a closed session everywhere it is kept, outside first: Tavus's copy of the
/// conversation (whether or not the sweeper was still due to delete it, and also when
/// `TAVUS_DELETE_AFTER_CALL` keeps copies: the user asked for it to go), then the table's items.
/// If Tavus cannot delete its copy nothing is erased and the answer is a retryable 503, so the
/// copy is never left without the session that leads the sweeper to it. Then the recordings
/// ([`erase_recordings`]): a failed delete is a retryable 503 too, and the sweeper finishes it.
pub async fn erase(
    ledger: &DynamoLedger,
    tavus: &Tavus,
    recordings: Option<&Recordings>,
    session: &Session,
    deadline: Instant,
) -> Result<(), ApiError> {
    if let Some(conversation_id) = &session.conversation_id {
        // Idempotent: a copy Tavus no longer has counts as deleted.
        if let Err(e) = tavus.delete_conversation(conversation_id, deadline).await {
            tracing::warn!(session_id = %session.session_id, error = %e, "tavus did not delete its copy; nothing erased");
            return Err(ApiError::TavusCopyKept(e.to_string()));
        }
    }
    erase_recordings(ledger, recordings, session, chrono::Utc::now()).await?;
    let Erased {
        transcript_items,
        notes,
        participations,
    } = ledger.erase_session(session).await?;
    tracing::info!(
        session_id = %session.session_id,
        transcript_items,
        notes,
        participations,
        "session erased"
    );
    Ok(())
}
