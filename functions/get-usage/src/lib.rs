//! `get-usage`: `GET /usage`, `GET /usage/history`, `GET /sessions`, `GET /sessions/{id}`,
//! `GET /sessions/{id}/transcript`, `GET /sessions/{id}/notes` and `GET /sessions/{id}/recording`.
//! Reads only (a playback link is signed here, without a call to S3).

use awaknow_core::api::identity::Authenticator;
use awaknow_core::api::response::{json, json_tagged, problem};
use awaknow_core::api::{ApiError, Route, routes};
use awaknow_core::api::{history, notes, recording, sessions};
use awaknow_core::lambda::{ApiRequest, to_lambda};
use awaknow_core::recordings::Recordings;
use awaknow_core::store::DynamoLedger;
use lambda_http::{Body, Request, Response};

pub struct App {
    pub ledger: DynamoLedger,
    pub auth: Authenticator,
    /// The recordings bucket, for playback links (`None`: this deployment records nothing).
    pub recordings: Option<Recordings>,
}

pub async fn handle(
    app: &App,
    request: Request,
) -> Result<Response<Body>, std::convert::Infallible> {
    let request = ApiRequest::from_lambda(&request);
    let response = respond(app, &request).await.unwrap_or_else(|e| problem(&e));
    Ok(to_lambda(response))
}

async fn respond(app: &App, request: &ApiRequest) -> Result<http::Response<String>, ApiError> {
    let route = routes::route(&request.method, &request.path)?.ok_or(ApiError::NotFound)?;
    let user = app
        .auth
        .user(request.claims.as_ref(), request.header("authorization"))
        .await?;
    match route {
        Route::Usage => Ok(json(
            200,
            &sessions::usage(&app.ledger, &user, chrono::Utc::now()).await?,
        )),
        Route::ListSessions => {
            let page = sessions::list_sessions(
                &app.ledger,
                &user,
                request.query.get("limit").map(String::as_str),
                request.query.get("cursor").map(String::as_str),
            )
            .await?;
            Ok(json(200, &page))
        }
        Route::GetSession(id) => Ok(json(
            200,
            &sessions::get_session(&app.ledger, &user, &id, chrono::Utc::now()).await?,
        )),
        Route::GetNotes(id) => {
            let found = notes::get_notes(&app.ledger, &user, &id).await?;
            Ok(json_tagged(200, &found.notes, &found.etag))
        }
        Route::UsageHistory => Ok(json(
            200,
            &history::usage_history(
                &app.ledger,
                &user,
                request.query.get("limit").map(String::as_str),
                chrono::Utc::now(),
            )
            .await?,
        )),
        Route::GetTranscript(id) => Ok(json(
            200,
            &sessions::get_transcript(&app.ledger, &user, &id).await?,
        )),
        Route::GetRecording(id) => Ok(json(
            200,
            &recording::get_recording(
                &app.ledger,
                app.recordings.as_ref(),
                &user,
                &id,
                chrono::Utc::now(),
            )
            .await?,
        )),
        _ => Err(ApiError::NotFound),
    }
}
