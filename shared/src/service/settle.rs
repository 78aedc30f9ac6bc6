//! Every close of a session goes through [`close`]: the one write that moves a user's minutes
//! (from reserved to used, or back to what is left), recorded as a metric once it changed the
//! ledger. Who closes (the owner, a callback, the sweeper, the create itself) says so with
//! [`ClosedBy`]. [`end_session`] is the owner's end from the app.

use std::time::Instant;

use chrono::{DateTime, Utc};

use super::ServiceError;
use crate::LedgerError;
use crate::domain::minutes::charged_minutes;
use crate::domain::{EndReason, Role, Session, SessionId, SessionStatus, UserId};
use crate::metrics::emit::{self, Closure};
use crate::store::{Closed, Closing, DynamoLedger};
use crate::tavus::Tavus;

pub(crate) use crate::metrics::emit::ClosedBy;

/// Closes a session through `ledger` and records what the close did: a settlement's minutes
/// charged, or a release's minutes given back. A duplicate close changed nothing and records
/// nothing.
pub(crate) async fn close(
    ledger: &DynamoLedger,
    closing: Closing,
    by: ClosedBy,
) -> Result<Closed, LedgerError> {
    let recorded = closing.clone();
    let closed = ledger.close(closing).await?;
    session_closed(&recorded, closed, by);
    Ok(closed)
}

/// The metric of a close: a settlement's minutes charged (one value per session: its length in
/// charged minutes), or a release's minutes given back. A duplicate close changed nothing and
/// records nothing.
pub(crate) fn session_closed(closing: &Closing, closed: Closed, by: ClosedBy) {
    if closed == Closed::AlreadyClosed {
        return;
    }
    let closure = match closing.status {
        SessionStatus::Ended => Closure::Charged(closing.charged_minutes),
        _ => Closure::Released(closing.reserved_minutes),
    };
    emit::session_closed(by, closure);
}

/// Gives back a reservation that will not be used. A failure here is logged, not returned: the
/// caller's error is the one that caused it, and the sweeper releases what is left pending.
pub(crate) async fn release(
    ledger: &DynamoLedger,
    session: &Session,
    reason: EndReason,
    now: DateTime<Utc>,
) {
    let closing = Closing::release(session, reason, now);
    if let Err(e) = close(ledger, closing, ClosedBy::Create).await {
        tracing::error!(session_id = %session.session_id, error = %e, "could not release the reservation; the sweeper will");
    }
}

/// `POST /sessions/{id}/end`: the owner ends the call; it is settled with the minutes used and
/// returned as it is now.
pub async fn end_session(
    ledger: &DynamoLedger,
    tavus: &Tavus,
    owner: &UserId,
    session_id: SessionId,
    now: DateTime<Utc>,
    deadline: Instant,
) -> Result<Session, ServiceError> {
    let (session, role) = ledger.get_session(owner, session_id).await?;
    if role != Role::Owner {
        // Participants may read a session but only its owner ends it.
        return Err(ServiceError::NotFound);
    }
    let closing = match (session.status, &session.conversation_id) {
        (SessionStatus::Ended | SessionStatus::Failed, _) => return Ok(session),
        (SessionStatus::Active, Some(conversation_id)) => {
            match tavus.end_conversation(conversation_id, deadline).await {
                // Ended now (or already), or unknown to Tavus: nothing runs any more; settle.
                Ok(()) => {}
                Err(e) if e.is_unknown_conversation() => {}
                // Any other refusal leaves the call running: nothing is settled.
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
    close(ledger, closing, ClosedBy::Owner).await?;
    let (settled, _) = ledger.get_session(owner, session_id).await?;
    Ok(settled)
}
