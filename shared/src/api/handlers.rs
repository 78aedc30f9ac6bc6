//! One function per route: it takes what its route needs from the request, makes one call of the
//! core and says how the answer is encoded. No rule lives here; the route table
//! ([`super::routes`]) says who may call each one.

use http::Response;

use super::response::{json, json_tagged, no_content};
use super::sessions::{self, CreateContext};
use super::shell::ApiRequest;
use super::webhook::CallbackContext;
use super::{ApiError, App, erasure, history, notes, recording};
use crate::domain::UserId;
use crate::recordings::Recordings;

/// A handler's answer: a response, or the error the shell maps to a problem.
pub type Answer = Result<Response<String>, ApiError>;

pub async fn create_session(app: &App, user: &UserId, request: &ApiRequest) -> Answer {
    let tavus = app.tavus()?;
    let public_url = app
        .public_url
        .as_deref()
        .or(request.public_url.as_deref())
        .ok_or_else(|| ApiError::internal("no public URL for Tavus callbacks"))?;
    let cx = CreateContext {
        owner: user,
        idempotency_key: request.header("idempotency-key"),
        public_url,
        now: request.now,
        deadline: request.deadline,
        recording: app.recordings.as_ref().map(Recordings::target),
    };
    let created =
        sessions::create_session(&app.ledger, tavus, tavus.secrets(), cx, &request.body).await?;
    Ok(json(201, &created))
}

pub async fn end_session(app: &App, user: &UserId, request: &ApiRequest) -> Answer {
    let ended = sessions::end_session(
        &app.ledger,
        app.tavus()?,
        user,
        request.path("id"),
        request.now,
        request.deadline,
    )
    .await?;
    Ok(json(200, &ended))
}

pub async fn delete_session(app: &App, user: &UserId, request: &ApiRequest) -> Answer {
    let tavus = app.tavus()?;
    let recordings = app.recordings.as_ref();
    let id = request.path("id");
    erasure::delete_session(&app.ledger, tavus, recordings, user, id, request.deadline).await?;
    Ok(no_content())
}

pub async fn put_notes(app: &App, user: &UserId, request: &ApiRequest) -> Answer {
    let saved = notes::put_notes(
        &app.ledger,
        user,
        request.path("id"),
        request.header("if-match"),
        &request.body,
        request.now,
    )
    .await?;
    Ok(json_tagged(200, &saved.notes, &saved.etag))
}

pub async fn get_notes(app: &App, user: &UserId, request: &ApiRequest) -> Answer {
    let found = notes::get_notes(&app.ledger, user, request.path("id")).await?;
    Ok(json_tagged(200, &found.notes, &found.etag))
}

pub async fn usage(app: &App, user: &UserId, request: &ApiRequest) -> Answer {
    let usage = sessions::usage(&app.ledger, user, request.now).await?;
    Ok(json(200, &usage))
}

pub async fn usage_history(app: &App, user: &UserId, request: &ApiRequest) -> Answer {
    let limit = request.query("limit");
    let periods = history::usage_history(&app.ledger, user, limit, request.now).await?;
    Ok(json(200, &periods))
}

pub async fn list_sessions(app: &App, user: &UserId, request: &ApiRequest) -> Answer {
    let (limit, cursor) = (request.query("limit"), request.query("cursor"));
    let page = sessions::list_sessions(&app.ledger, user, limit, cursor).await?;
    Ok(json(200, &page))
}

pub async fn get_session(app: &App, user: &UserId, request: &ApiRequest) -> Answer {
    let session = sessions::get_session(&app.ledger, user, request.path("id"), request.now).await?;
    Ok(json(200, &session))
}

pub async fn get_transcript(app: &App, user: &UserId, request: &ApiRequest) -> Answer {
    let transcript = sessions::get_transcript(&app.ledger, user, request.path("id")).await?;
    Ok(json(200, &transcript))
}

pub async fn get_recording(app: &App, user: &UserId, request: &ApiRequest) -> Answer {
    let recordings = app.recordings.as_ref();
    let id = request.path("id");
    let view = recording::get_recording(&app.ledger, recordings, user, id, request.now).await?;
    Ok(json(200, &view))
}

pub async fn tavus_callback(app: &App, request: &ApiRequest) -> Answer {
    let tavus = app.tavus()?;
    let cx = CallbackContext {
        tavus,
        keys: tavus.secrets(),
        delete_after_call: tavus.delete_after_call(),
        deadline: request.deadline,
    };
    let target = app.recordings.as_ref().map(Recordings::target);
    let token = request.path("token");
    recording::tavus_callback(&app.ledger, target, cx, token, &request.body).await?;
    Ok(no_content())
}
