//! `get-usage`: `GET /usage`, `GET /sessions`, `GET /sessions/{id}` and
//! `GET /sessions/{id}/transcript`. Reads only.

use awaknow_core::api::identity::Authenticator;
use awaknow_core::api::response::{json, problem};
use awaknow_core::api::sessions;
use awaknow_core::api::{ApiError, Route, routes};
use awaknow_core::lambda::{ApiRequest, to_lambda};
use awaknow_core::store::{GetSession, ListSessions, ReadTranscript, ReadUsage};
use lambda_http::{Body, Request, Response};

pub struct App<L> {
    pub ledger: L,
    pub auth: Authenticator,
}

pub async fn handle<L>(
    app: &App<L>,
    request: Request,
) -> Result<Response<Body>, std::convert::Infallible>
where
    L: ReadUsage + GetSession + ListSessions + ReadTranscript + Sync,
{
    let request = ApiRequest::from_lambda(&request);
    let response = respond(app, &request).await.unwrap_or_else(|e| problem(&e));
    Ok(to_lambda(response))
}

async fn respond<L>(app: &App<L>, request: &ApiRequest) -> Result<http::Response<String>, ApiError>
where
    L: ReadUsage + GetSession + ListSessions + ReadTranscript + Sync,
{
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
            &sessions::get_session(&app.ledger, &user, &id).await?,
        )),
        Route::GetTranscript(id) => Ok(json(
            200,
            &sessions::get_transcript(&app.ledger, &user, &id).await?,
        )),
        _ => Err(ApiError::NotFound),
    }
}
