//! One function per route: it parses what its route needs from the request, makes one call of
//! the service layer (or, for a plain read, of the ledger) and says how the answer is encoded.
//! No rule lives here; the route table ([`super::routes`]) says who may call each one.

use http::Response;

use super::api_request::ApiRequest;
use super::request;
use super::response::{json, json_retry_after, json_tagged, json_text, no_content, size_in_answer};
use super::views::{
    AccountDeletionView, AccountExportView, CreatedView, ExportDownloadView, NotesView,
    RecordingView, SessionListView, SessionView, TranscriptView, UsageHistoryView, UsageView,
};
use super::{ApiError, App};
use crate::domain::{Role, UserId};
use crate::recording_bucket::Recordings;
use crate::service::account_deletion::{self, Deletion, DeletionContext};
use crate::service::callbacks::{self, CallbackContext};
use crate::service::create::{self, CreateContext, CreateSessionRequest};
use crate::service::export::{self, Delivery};
use crate::service::{ServiceError, erase, playback, settle};
use crate::store::NotesKey;

/// A handler's answer: a response, or the error the shell maps to a problem.
pub(super) type Answer = Result<Response<String>, ApiError>;

pub(super) async fn create_session(app: &App, user: &UserId, request: &ApiRequest) -> Answer {
    let tavus = app.tavus()?;
    let public_url = app
        .public_url
        .as_deref()
        .or(request.public_url.as_deref())
        .ok_or_else(|| ApiError::internal("no public URL for Tavus callbacks"))?;
    let body = CreateSessionRequest::parse(&request.body, user)?;
    let cx = CreateContext {
        owner: user,
        idempotency: request::idempotency_key(request.header("idempotency-key"), &body)?,
        public_url,
        now: request.now,
        deadline: request.deadline,
        recording: app.recordings.as_ref().map(Recordings::target),
    };
    let created = create::create_session(&app.ledger, tavus, tavus.secrets(), cx, &body).await?;
    Ok(json(201, &CreatedView::new(created)))
}

pub(super) async fn end_session(app: &App, user: &UserId, request: &ApiRequest) -> Answer {
    let id = request::session_id(request.path("id"))?;
    let tavus = app.tavus()?;
    let ended =
        settle::end_session(&app.ledger, tavus, user, id, request.now, request.deadline).await?;
    Ok(json(200, &SessionView::new(ended, Role::Owner)))
}

pub(super) async fn delete_session(app: &App, user: &UserId, request: &ApiRequest) -> Answer {
    let id = request::session_id(request.path("id"))?;
    let (tavus, recordings) = (app.tavus()?, app.recordings.as_ref());
    erase::delete_session(&app.ledger, tavus, recordings, user, id, request.deadline).await?;
    Ok(no_content())
}

/// `PUT /sessions/{id}/notes` with `{"text"}`: replaces the caller's own notes, if `If-Match`
/// (when sent) still names their tag; otherwise 412 and nothing changes. The text is never
/// logged.
pub(super) async fn put_notes(app: &App, user: &UserId, request: &ApiRequest) -> Answer {
    let session_id = request::session_id(request.path("id"))?;
    let text = request::notes_text(&request.body)?;
    let precondition = request::precondition(request.header("if-match"))?;
    let (session, role) = app.ledger.get_session(user, session_id).await?;
    let key = NotesKey {
        owner: &session.owner_id,
        session_id,
        author: user,
    };
    let notes = (app.ledger)
        .write_notes(key, &text, &precondition, request.now)
        .await?;
    let chars = text.chars().count();
    tracing::info!(session_id = %session_id, role = ?role, chars, "notes saved");
    let etag = notes.etag();
    Ok(json_tagged(200, &NotesView::new(session_id, notes), &etag))
}

/// `GET /sessions/{id}/notes`: the caller's own notes (each person has their own; nobody reads
/// another's); unwritten ones (`""`, `updated_at: null`) before the first write.
pub(super) async fn get_notes(app: &App, user: &UserId, request: &ApiRequest) -> Answer {
    let session_id = request::session_id(request.path("id"))?;
    let (session, _) = app.ledger.get_session(user, session_id).await?;
    let key = NotesKey {
        owner: &session.owner_id,
        session_id,
        author: user,
    };
    let notes = app.ledger.read_notes(key).await?;
    let etag = notes.etag();
    Ok(json_tagged(200, &NotesView::new(session_id, notes), &etag))
}

pub(super) async fn usage(app: &App, user: &UserId, request: &ApiRequest) -> Answer {
    let usage = app.ledger.usage(user, request.now).await?;
    Ok(json(200, &UsageView::from(usage)))
}

/// `GET /usage/history?limit=`: usage by period, newest first, the current period included.
pub(super) async fn usage_history(app: &App, user: &UserId, request: &ApiRequest) -> Answer {
    let limit = request::history_limit(request.query("limit"))?;
    let periods = app.ledger.usage_history(user, request.now, limit).await?;
    Ok(json(200, &UsageHistoryView::new(periods)))
}

pub(super) async fn list_sessions(app: &App, user: &UserId, request: &ApiRequest) -> Answer {
    let (limit, cursor) = request::page(request.query("limit"), request.query("cursor"))?;
    let page = app.ledger.list_sessions(user, limit, cursor).await?;
    Ok(json(200, &SessionListView::new(page)))
}

/// `GET /sessions/{id}`: with the way into the room and the countdown (by the server's clock)
/// while the call runs.
pub(super) async fn get_session(app: &App, user: &UserId, request: &ApiRequest) -> Answer {
    let id = request::session_id(request.path("id"))?;
    let (session, role) = app.ledger.get_session(user, id).await?;
    let view = SessionView::with_join(session.clone(), role).with_progress(&session, request.now);
    Ok(json(200, &view))
}

/// `GET /sessions/{id}/transcript`: for the owner and the participants, once it arrived.
pub(super) async fn get_transcript(app: &App, user: &UserId, request: &ApiRequest) -> Answer {
    let id = request::session_id(request.path("id"))?;
    let (session, _) = app.ledger.get_session(user, id).await?;
    let transcript = (app.ledger)
        .read_transcript(&session.owner_id, session.session_id)
        .await?
        .ok_or(ServiceError::NotFound)?;
    Ok(json(
        200,
        &TranscriptView::new(session.session_id, transcript),
    ))
}

pub(super) async fn get_recording(app: &App, user: &UserId, request: &ApiRequest) -> Answer {
    let id = request::session_id(request.path("id"))?;
    let recordings = app.recordings.as_ref();
    let access = playback::playback(&app.ledger, recordings, user, id, request.now).await?;
    Ok(json(200, &RecordingView::from(access)))
}

/// Seconds a client is asked to wait before asking again about a deletion still at work (the
/// sweeper carries it on a minute after it began in any case).
const DELETION_RETRY_AFTER: u32 = 30;
/// The most a `DELETE /me` works before it answers 202 and leaves the rest to the next call or
/// the sweeper: few requests hold create-session's reserved concurrency for long.
const DELETION_REQUEST_BUDGET: std::time::Duration = std::time::Duration::from_secs(10);

/// `DELETE /me`: 204 once nothing is kept about the caller; 202 while something is still to
/// finish (it finishes on its own; asking again is safe).
pub(super) async fn delete_account(app: &App, user: &UserId, request: &ApiRequest) -> Answer {
    let cx = DeletionContext {
        ledger: &app.ledger,
        tavus: app.tavus()?,
        recordings: app.recordings.as_ref(),
        now: request.now,
        deadline: request
            .deadline
            .min(std::time::Instant::now() + DELETION_REQUEST_BUDGET),
    };
    match account_deletion::delete_account(cx, user).await? {
        Deletion::Deleted(_) => Ok(no_content()),
        Deletion::InProgress { why, .. } => Ok(json_retry_after(
            202,
            &AccountDeletionView::in_progress(why),
            DELETION_RETRY_AFTER,
        )),
    }
}

/// `GET /me/export`: the document itself when a response can carry it, else a short-lived link
/// to it in the bucket.
pub(super) async fn export_account(app: &App, user: &UserId, request: &ApiRequest) -> Answer {
    let started = std::time::Instant::now();
    let recordings = app.recordings.as_ref();
    let data = export::gather(&app.ledger, recordings, user, request.now).await?;
    let document = serde_json::to_string(&AccountExportView::new(data))
        .map_err(|e| ApiError::internal(format!("cannot encode the export: {e}")))?;
    if size_in_answer(&document) <= app.export_inline_limit {
        export::count(Delivery::Inline, document.len(), started);
        return Ok(json_text(200, document));
    }
    let download = export::hand_over(
        &app.ledger,
        recordings,
        user,
        document.into_bytes(),
        request.now,
    )
    .await?;
    export::count(Delivery::Download, download.bytes, started);
    tracing::info!(
        bytes = download.bytes,
        "export handed over through the bucket"
    );
    Ok(json(200, &ExportDownloadView::from(download)))
}

pub(super) async fn tavus_callback(app: &App, request: &ApiRequest) -> Answer {
    let tavus = app.tavus()?;
    let cx = CallbackContext {
        tavus,
        keys: tavus.secrets(),
        delete_after_call: tavus.delete_after_call(),
        deadline: request.deadline,
        recordings: app.recordings.as_ref(),
    };
    let token = request.path("token");
    callbacks::tavus_callback(&app.ledger, cx, token, &request.body).await?;
    Ok(no_content())
}
