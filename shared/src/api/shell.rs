//! The one HTTP shell every HTTP function runs: decode API Gateway's event, find the route in
//! [`super::routes`], authenticate, call the route's handler, map any [`ApiError`] to its
//! problem response (once, in [`super::response::problem`]) and encode. Nothing else in the
//! crate knows about Lambda's HTTP types.

use std::convert::Infallible;

use lambda_http::{Body, Request};

use super::api_request::ApiRequest;
use super::response::problem;
use super::routes::{self, Access, Function};
use super::{ApiError, App};

/// Answers one API Gateway request for `function`. Never fails: every error is a problem
/// response.
pub async fn handle(
    app: &App,
    function: Function,
    request: Request,
) -> Result<lambda_http::Response<Body>, Infallible> {
    let request = ApiRequest::from_lambda(&request);
    let response = respond(app, function, &request)
        .await
        .unwrap_or_else(|e| problem(&e));
    Ok(encode(response))
}

async fn respond(
    app: &App,
    function: Function,
    request: &ApiRequest,
) -> Result<http::Response<String>, ApiError> {
    let route = routes::find(&request.route_key, function).ok_or_else(ApiError::not_found)?;
    match route.access {
        Access::User(handler) => {
            let auth = app.authenticator()?;
            let user = auth
                .user(request.claims.as_ref(), request.header("authorization"))
                .await?;
            handler(app, &user, request).await
        }
        Access::Callback(handler) => handler(app, request).await,
    }
}

fn encode(response: http::Response<String>) -> lambda_http::Response<Body> {
    let (parts, body) = response.into_parts();
    let body = if body.is_empty() {
        Body::Empty
    } else {
        Body::Text(body)
    };
    lambda_http::Response::from_parts(parts, body)
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;
    use crate::api::identity::{AuthMode, Authenticator};
    use crate::domain::PlanCatalog;
    use crate::store::DynamoLedger;

    /// A ledger that is never reached: every request here is answered before it.
    fn app() -> App {
        let config = aws_sdk_dynamodb::Config::builder()
            .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
            .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
            .build();
        let ledger = DynamoLedger::new(
            aws_sdk_dynamodb::Client::from_conf(config),
            "unreached",
            PlanCatalog::default(),
        );
        App {
            auth: Some(Authenticator::new(AuthMode::Authorizer)),
            ..App::with_ledger(ledger)
        }
    }

    /// A sample API Gateway event from `events/`, changed by `edit`.
    fn event(name: &str, edit: impl FnOnce(&mut Value)) -> Request {
        let path = format!("{}/../events/{name}", env!("CARGO_MANIFEST_DIR"));
        let mut value: Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        edit(&mut value);
        lambda_http::request::from_str(&value.to_string()).unwrap()
    }

    async fn answer(function: Function, request: Request) -> (u16, Value, Option<String>) {
        let response = handle(&app(), function, request).await.unwrap();
        let retry_after = response
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
        let body = match response.body() {
            Body::Text(text) => serde_json::from_str(text).unwrap(),
            other => panic!("{other:?}"),
        };
        (response.status().as_u16(), body, retry_after)
    }

    #[tokio::test]
    async fn a_route_of_another_function_or_none_is_404() {
        let (status, body, _) =
            answer(Function::CreateSession, event("get-session.json", |_| {})).await;
        assert_eq!((status, body["code"].as_str()), (404, Some("not_found")));
        let unknown = event("get-session.json", |e| {
            e["routeKey"] = "GET /nothing".into();
            e["requestContext"]["routeKey"] = "GET /nothing".into();
        });
        let (status, _, _) = answer(Function::GetUsage, unknown).await;
        assert_eq!(status, 404);
    }

    #[tokio::test]
    async fn a_user_route_without_verified_claims_is_401() {
        let request = event("get-usage.json", |e| {
            e["requestContext"]
                .as_object_mut()
                .unwrap()
                .remove("authorizer");
        });
        let (status, body, _) = answer(Function::GetUsage, request).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (401, Some("unauthenticated"))
        );
    }

    #[tokio::test]
    async fn bad_parameters_are_answered_before_the_ledger() {
        let request = event("list-sessions.json", |e| {
            e["rawQueryString"] = "limit=0".into();
            e["queryStringParameters"]["limit"] = "0".into();
        });
        let (status, body, _) = answer(Function::GetUsage, request).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (400, Some("invalid_request"))
        );
        // A session id that cannot be one names no session.
        let request = event("get-session.json", |e| {
            e["pathParameters"]["id"] = "nope".into()
        });
        let (status, body, _) = answer(Function::GetUsage, request).await;
        assert_eq!((status, body["code"].as_str()), (404, Some("not_found")));
    }

    #[tokio::test]
    async fn a_function_built_without_what_its_route_needs_is_500_internal_not_retryable() {
        // The webhook route, in an app without a Tavus client: a wiring bug, not an outage.
        let (status, body, retry_after) =
            answer(Function::TavusWebhook, event("tavus-webhook.json", |_| {})).await;
        assert_eq!((status, body["code"].as_str()), (500, Some("internal")));
        assert_eq!(retry_after, None, "retrying cannot help");
        assert!(
            !body.to_string().contains("Tavus client"),
            "no internals: {body}"
        );
    }
}
