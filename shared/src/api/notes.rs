//! `GET|PUT /sessions/{id}/notes`: each person's private notes on a session. The owner and each
//! participant have their own; nobody reads another's, and anyone else gets 404 as for the
//! session itself. Notes can be written at any time the session exists, during the call and
//! after it. Writes are guarded by the notes' entity tag (`If-Match`), so two tabs never
//! silently overwrite each other. The text is never logged.

use chrono::{DateTime, Utc};

use super::ApiError;
use super::request;
use super::views::NotesView;
use crate::domain::UserId;
use crate::store::DynamoLedger;
use crate::store::NotesKey;

/// Notes and their entity tag (for the `ETag` header).
#[derive(Debug)]
pub struct TaggedNotes {
    pub notes: NotesView,
    pub etag: String,
}

/// `GET /sessions/{id}/notes`: the caller's own notes; unwritten ones (`""`, `updated_at:
/// null`) before the first write.
pub async fn get_notes(
    ledger: &DynamoLedger,
    user: &UserId,
    raw_id: &str,
) -> Result<TaggedNotes, ApiError> {
    let (session, _) = ledger
        .get_session(user, request::session_id(raw_id)?)
        .await?;
    let notes = ledger
        .read_notes(NotesKey {
            owner: &session.owner_id,
            session_id: session.session_id,
            author: user,
        })
        .await?;
    Ok(TaggedNotes {
        etag: notes.etag(),
        notes: NotesView::new(session.session_id, notes),
    })
}

/// `PUT /sessions/{id}/notes` with `{"text"}`: replaces the caller's own notes, if `If-Match`
/// (when sent) still names their tag; otherwise 412 and nothing changes.
pub async fn put_notes(
    ledger: &DynamoLedger,
    user: &UserId,
    raw_id: &str,
    if_match: Option<&str>,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<TaggedNotes, ApiError> {
    let session_id = request::session_id(raw_id)?;
    let text = request::notes_text(body)?;
    let precondition = request::precondition(if_match)?;
    let (session, role) = ledger.get_session(user, session_id).await?;
    let notes = ledger
        .write_notes(
            NotesKey {
                owner: &session.owner_id,
                session_id,
                author: user,
            },
            &text,
            &precondition,
            now,
        )
        .await?;
    tracing::info!(
        session_id = %session_id,
        role = ?role,
        chars = text.chars().count(),
        "notes saved"
    );
    Ok(TaggedNotes {
        etag: notes.etag(),
        notes: NotesView::new(session_id, notes),
    })
}
