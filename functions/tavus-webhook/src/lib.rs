//! `tavus-webhook`: `POST /webhooks/tavus/{token}`. No JWT: the signed token is the proof.

use awaknow_core::api::response::{no_content, problem};
use awaknow_core::api::sessions::WebhookKey;
use awaknow_core::api::webhook::tavus_callback;
use awaknow_core::api::{ApiError, Route, routes};
use awaknow_core::lambda::{ApiRequest, to_lambda};
use awaknow_core::store::{CloseSession, StoreTranscript};
use lambda_http::{Body, Request, Response};

pub struct App<L, K> {
    pub ledger: L,
    pub keys: K,
}

pub async fn handle<L, K>(
    app: &App<L, K>,
    request: Request,
) -> Result<Response<Body>, std::convert::Infallible>
where
    L: CloseSession + StoreTranscript + Sync,
    K: WebhookKey + Sync,
{
    let request = ApiRequest::from_lambda(&request);
    let response = respond(app, &request).await.unwrap_or_else(|e| problem(&e));
    Ok(to_lambda(response))
}

async fn respond<L, K>(
    app: &App<L, K>,
    request: &ApiRequest,
) -> Result<http::Response<String>, ApiError>
where
    L: CloseSession + StoreTranscript + Sync,
    K: WebhookKey + Sync,
{
    match routes::route(&request.method, &request.path)? {
        Some(Route::TavusWebhook(token)) => {
            tavus_callback(&app.ledger, &app.keys, &token, &request.body).await?;
            Ok(no_content())
        }
        _ => Err(ApiError::NotFound),
    }
}
