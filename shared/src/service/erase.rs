//! `DELETE /sessions/{id}`: the owner erases a session. Everything kept about it goes: Tavus's
//! copy of the conversation, the recordings, then the session, its transcript, every person's
//! notes and the participants' participation items. What it was charged stays charged: the
//! account, the period's history and so the usage figures do not change, and a record of the
//! session's figures alone (period, status, reserved and charged minutes) takes its place, so
//! they stay explainable by the owner's sessions.
//!
//! [`erase`] is the one place a session is erased; whatever else comes to be kept with a session
//! is deleted there, before the table's items, as Tavus's copy and the recordings are. An
//! erasure whose recordings could not be deleted, or that was cut short once it began (a
//! timeout, a crash), is finished by the sweeper ([`finish_erasures`]), never forgotten.

use std::time::Instant;

use chrono::{DateTime, Utc};
use futures::StreamExt;

use super::ServiceError;
use crate::domain::{Role, Session, SessionId, UserId};
use crate::recording_bucket::Recordings;
use crate::store::keys::INDEX_SHARDS;
use crate::store::{DynamoLedger, Erased};
use crate::tavus::Tavus;

/// How long an erasure may wait (for its recording objects, or after it was cut short) before
/// the sweeper takes it over (the request that began it is usually still at work until then).
pub const ERASURE_SWEEP_AFTER: chrono::Duration = chrono::Duration::minutes(1);

/// How many erasures the sweeper finishes at once.
const CONCURRENCY: usize = 8;
/// How many due erasures are taken from a shard per query.
const BATCH: usize = 200;

/// `DELETE /sessions/{id}`: for the owner of a closed session (a participant gets 404, as
/// anyone else; a pending or active session is 409 `session_active`: end it first).
pub async fn delete_session(
    ledger: &DynamoLedger,
    tavus: &Tavus,
    recordings: Option<&Recordings>,
    owner: &UserId,
    session_id: SessionId,
    deadline: Instant,
) -> Result<(), ServiceError> {
    let (session, role) = ledger.get_session(owner, session_id).await?;
    if role != Role::Owner {
        // Participants may read a session and keep notes on it, but only its owner erases it.
        return Err(ServiceError::NotFound);
    }
    if session.status.is_open() {
        return Err(ServiceError::SessionActive);
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
) -> Result<(), ServiceError> {
    if let Some(conversation_id) = &session.conversation_id {
        // Idempotent: a copy Tavus no longer has counts as deleted.
        if let Err(e) = tavus.delete_conversation(conversation_id, deadline).await {
            tracing::warn!(session_id = %session.session_id, error = %e, "tavus did not delete its copy; nothing erased");
            return Err(ServiceError::TavusCopyKept(e.to_string()));
        }
    }
    erase_recordings(ledger, recordings, session, chrono::Utc::now()).await?;
    let Erased {
        transcript_items,
        notes,
        participations,
        recording_references,
    } = ledger.erase_session(session, chrono::Utc::now()).await?;
    tracing::info!(
        session_id = %session.session_id,
        transcript_items,
        notes,
        participations,
        recording_references,
        "session erased"
    );
    Ok(())
}

/// Part of [`erase`], before the table's items go: a session that asked for a
/// recording or has one is marked as being erased and put where the sweeper finds it, then every
/// recording object announced until the mark is deleted. If a delete fails, the erasure stops
/// (503) and the sweeper finishes it; nothing is forgotten.
async fn erase_recordings(
    ledger: &DynamoLedger,
    recordings: Option<&Recordings>,
    session: &Session,
    now: DateTime<Utc>,
) -> Result<(), ServiceError> {
    if !session.playback.record && session.playback.object_keys().is_empty() {
        return Ok(());
    }
    if let Some(conversation_id) = &session.conversation_id {
        // Tavus uploads a recording after the call, so one may be announced after the session
        // is gone: remembered as erased, it is deleted on arrival (see `playback`).
        ledger
            .remember_erased_conversation(conversation_id, now)
            .await?;
    }
    // From the mark on, no recording can be added; the keys are those the mark saw.
    let marked = ledger.mark_recording_erasure(session, now).await?;
    delete_objects(recordings, &marked).await.map_err(|e| {
        tracing::warn!(session_id = %session.session_id, error = %e, "a recording was not deleted; the sweeper will finish the erasure");
        ServiceError::RecordingKept(e)
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

/// The sweeper's part: finishes every erasure begun [`ERASURE_SWEEP_AFTER`] ago or more and
/// not finished (a failed recording delete, a request cut short), until done or `deadline`.
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
        let mut start = None;
        loop {
            if Instant::now() >= deadline {
                report.complete = false;
                return report;
            }
            let batch = match ledger.erasures_due(shard, cutoff, BATCH, start).await {
                Ok(batch) => batch,
                Err(e) => {
                    tracing::error!(shard, error = %e, "cannot query erasures waiting for recordings");
                    report.failed += 1;
                    report.complete = false;
                    break;
                }
            };
            let results: Vec<bool> = futures::stream::iter(batch.sessions)
                .map(|session| finish_one(ledger, recordings, session))
                .buffer_unordered(CONCURRENCY)
                .collect()
                .await;
            let finished = results.iter().filter(|ok| **ok).count() as u64;
            report.finished += finished;
            report.failed += results.len() as u64 - finished;
            // Each due erasure once: one that failed waits for the next sweep.
            match batch.next {
                Some(next) => start = Some(next),
                None => break,
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
    match ledger.erase_session(&session, chrono::Utc::now()).await {
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
