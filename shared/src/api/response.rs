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

/// A JSON body with `Retry-After`: when to look again (a `202 Accepted` still at work).
pub(super) fn json_retry_after<T: Serialize>(
    status: u16,
    body: &T,
    seconds: u32,
) -> Response<String> {
    let mut response = json(status, body);
    response
        .headers_mut()
        .insert(http::header::RETRY_AFTER, HeaderValue::from(seconds));
    response
}

/// A JSON body encoded already.
pub(super) fn json_text(status: u16, text: String) -> Response<String> {
    with(status, "application/json", text)
}

/// How many bytes `body` takes in the function's answer to Lambda, where it travels inside a
/// JSON document as a string: quotes, backslashes and control characters are escaped there.
pub(super) fn size_in_answer(body: &str) -> usize {
    body.bytes()
        .map(|b| match b {
            b'"' | b'\\' | b'\n' | b'\r' | b'\t' | 0x08 | 0x0c => 2,
            0..=0x1f => 6,
            _ => 1,
        })
        .sum()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_size_in_the_answer_is_what_serde_json_writes_for_the_string() {
        for body in [
            "",
            "plain",
            r#"{"a":"q\"uote","b":"back\\slash"}"#,
            "lines\nand\ttabs\r\u{8}\u{c}",
            "\u{1}\u{1f} controls",
            "ünïcödé ✓ stays as it is",
        ] {
            let escaped = serde_json::to_string(body).unwrap();
            assert_eq!(size_in_answer(body), escaped.len() - 2, "{body:?}");
        }
    }
}
