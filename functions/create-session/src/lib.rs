//! `create-session`: `POST /sessions`, `POST /sessions/{id}/end`, `DELETE /sessions/{id}` and
//! `PUT /sessions/{id}/notes` (the writes; erasure needs the Tavus client this function holds).
//! Translates the request into one call of the core and its result into a response; no rule
//! lives here.

use awaknow_core::api::identity::Authenticator;
use awaknow_core::api::response::{json, json_tagged, no_content, problem};
use awaknow_core::api::sessions::{self, CreateContext, WebhookKey};
use awaknow_core::api::{ApiError, Route, routes};
use awaknow_core::api::{erasure, notes};
use awaknow_core::lambda::{ApiRequest, to_lambda};
use awaknow_core::recordings::Recordings;
use awaknow_core::store::DynamoLedger;
use awaknow_core::tavus::{CreateConversation, DeleteConversation, EndConversation};
use lambda_http::{Body, Request, Response};

/// What the function holds across invocations.
pub struct App<T, K> {
    pub ledger: DynamoLedger,
    pub tavus: T,
    pub keys: K,
    pub auth: Authenticator,
    /// Overrides the callback base URL taken from the request (local development).
    pub public_url: Option<String>,
    /// The recordings bucket (`None`: this deployment records nothing).
    pub recordings: Option<Recordings>,
}

pub async fn handle<T, K>(
    app: &App<T, K>,
    request: Request,
) -> Result<Response<Body>, std::convert::Infallible>
where
    T: CreateConversation + EndConversation + DeleteConversation + Sync,
    K: WebhookKey + Sync,
{
    let request = ApiRequest::from_lambda(&request);
    let response = respond(app, &request).await.unwrap_or_else(|e| problem(&e));
    Ok(to_lambda(response))
}

async fn respond<T, K>(
    app: &App<T, K>,
    request: &ApiRequest,
) -> Result<http::Response<String>, ApiError>
where
    T: CreateConversation + EndConversation + DeleteConversation + Sync,
    K: WebhookKey + Sync,
{
    let route = routes::route(&request.method, &request.path)?.ok_or(ApiError::NotFound)?;
    let user = app
        .auth
        .user(request.claims.as_ref(), request.header("authorization"))
        .await?;
    let now = chrono::Utc::now();
    match route {
        Route::CreateSession => {
            let public_url = app
                .public_url
                .as_deref()
                .or(request.public_url.as_deref())
                .ok_or_else(|| {
                    ApiError::DependencyUnavailable("no public URL for Tavus callbacks".into())
                })?;
            let cx = CreateContext {
                owner: &user,
                idempotency_key: request.header("idempotency-key"),
                public_url,
                now,
                deadline: request.deadline,
                recording: app.recordings.as_ref().map(Recordings::target),
            };
            let created =
                sessions::create_session(&app.ledger, &app.tavus, &app.keys, cx, &request.body)
                    .await?;
            Ok(json(201, &created))
        }
        Route::EndSession(id) => {
            let ended =
                sessions::end_session(&app.ledger, &app.tavus, &user, &id, now, request.deadline)
                    .await?;
            Ok(json(200, &ended))
        }
        Route::DeleteSession(id) => {
            erasure::delete_session(
                &app.ledger,
                &app.tavus,
                app.recordings.as_ref(),
                &user,
                &id,
                request.deadline,
            )
            .await?;
            Ok(no_content())
        }
        Route::PutNotes(id) => {
            let saved = notes::put_notes(
                &app.ledger,
                &user,
                &id,
                request.header("if-match"),
                &request.body,
                now,
            )
            .await?;
            Ok(json_tagged(200, &saved.notes, &saved.etag))
        }
        // Routed to another function.
        _ => Err(ApiError::NotFound),
    }
}
