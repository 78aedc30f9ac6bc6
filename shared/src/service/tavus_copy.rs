//! Deleting Tavus's copy of a settled session's conversation (its transcript and recording
//! stay with us). The transcript callback does it once the transcript is stored; the sweeper
//! does it for every settled session still in the open-sessions index.

use std::time::Instant;

use crate::domain::Session;
use crate::store::DynamoLedger;
use crate::tavus::Tavus;

/// Deletes Tavus's copy of a settled session's conversation and records it; a failure is only
/// logged, since the session stays where the sweeper retries it.
pub(crate) async fn delete_tavus_copy(
    ledger: &DynamoLedger,
    tavus: &Tavus,
    session: &Session,
    conversation_id: &str,
    deadline: Instant,
) -> bool {
    if let Err(e) = tavus.delete_conversation(conversation_id, deadline).await {
        tracing::warn!(session_id = %session.session_id, error = %e, "could not delete tavus's copy; the sweeper will retry");
        return false;
    }
    match ledger
        .tavus_copy_done(&session.owner_id, session.session_id)
        .await
    {
        Ok(()) => {
            tracing::info!(session_id = %session.session_id, "tavus's copy deleted");
            true
        }
        Err(e) => {
            tracing::warn!(session_id = %session.session_id, error = %e, "tavus's copy deleted but not recorded; the sweeper will delete it again");
            false
        }
    }
}
