//! Building HTTP responses: JSON bodies for success, problem details for every error.

use http::{HeaderValue, Response, StatusCode};
use serde::Serialize;

use super::ApiError;
use crate::problem;

pub(super) fn json<T: Serialize>(status: u16, body: &T) -> Response<String> {
    match serde_json::to_string(body) {
        Ok(text) => with(status, "application/json", text),
        Err(e) => problem(&ApiError::internal(format!(
            "cannot encode the response: {e}"
        ))),
    }
}

/// A JSON body with its entity tag (`ETag`, a quoted strong tag).
pub(super) fn json_tagged<T: Serialize>(status: u16, body: &T, etag: &str) -> Response<String> {
    let mut response = json(status, body);
    if response.status().is_success()
        && let Ok(value) = HeaderValue::from_str(etag)
    {
        response.headers_mut().insert(http::header::ETAG, value);
    }
    response
}

pub(super) fn no_content() -> Response<String> {
    let mut response = Response::new(String::new());
    *response.status_mut() = StatusCode::NO_CONTENT;
    response
}

/// The one mapping from an error to a response. Server-side failures are logged here with their
/// cause; the body only says what the client can act on.
pub(super) fn problem(error: &ApiError) -> Response<String> {
    let (problem, retry_after) = error.problem();
    if problem.status >= 500 {
        tracing::error!(code = problem.code, error = %error, "request failed");
    } else {
        tracing::info!(
            code = problem.code,
            status = problem.status,
            "request refused"
        );
    }
    let mut response = with(problem.status, problem::CONTENT_TYPE, problem.to_json());
    if let Some(seconds) = retry_after {
        response
            .headers_mut()
            .insert(http::header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

fn with(status: u16, content_type: &'static str, body: String) -> Response<String> {
    let mut response = Response::new(body);
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static(content_type),
    );
    response
}
