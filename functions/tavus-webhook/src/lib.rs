//! `tavus-webhook`: `POST /webhooks/tavus/{token}`. No JWT: the signed token is the proof.

use awaknow_core::api::recording::tavus_callback;
use awaknow_core::api::response::{no_content, problem};
use awaknow_core::api::sessions::WebhookKey;
use awaknow_core::api::webhook::CallbackContext;
use awaknow_core::api::{ApiError, Route, routes};
use awaknow_core::lambda::{ApiRequest, to_lambda};
use awaknow_core::recordings::RecordingTarget;
use awaknow_core::store::DynamoLedger;
use awaknow_core::tavus::DeleteConversation;
use lambda_http::{Body, Request, Response};

pub struct App<T, K> {
    pub ledger: DynamoLedger,
    /// Deletes Tavus's copy of a conversation once its transcript is stored.
    pub tavus: T,
    pub keys: K,
    /// `TAVUS_DELETE_AFTER_CALL` (default true).
    pub delete_after_call: bool,
    /// The recordings bucket: only recordings in it are kept (`None`: none are).
    pub recordings: Option<RecordingTarget>,
}

pub async fn handle<T, K>(
    app: &App<T, K>,
    request: Request,
) -> Result<Response<Body>, std::convert::Infallible>
where
    T: DeleteConversation + Sync,
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
    T: DeleteConversation + Sync,
    K: WebhookKey + Sync,
{
    match routes::route(&request.method, &request.path)? {
        Some(Route::TavusWebhook(token)) => {
            let cx = CallbackContext {
                tavus: &app.tavus,
                keys: &app.keys,
                delete_after_call: app.delete_after_call,
                deadline: request.deadline,
            };
            tavus_callback(
                &app.ledger,
                app.recordings.as_ref(),
                cx,
                &token,
                &request.body,
            )
            .await?;
            Ok(no_content())
        }
        _ => Err(ApiError::NotFound),
    }
}
