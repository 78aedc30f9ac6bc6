//! The edge between Lambda and the API: an API Gateway v2 request becomes an [`ApiRequest`],
//! an `http::Response<String>` becomes the Lambda response. Nothing else knows about Lambda.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt};

/// Time kept back from the Lambda deadline to answer and log after a slow dependency.
pub const DEADLINE_MARGIN: Duration = Duration::from_millis(1500);
/// Deadline when the event carries none (local invocations without a context).
pub const DEFAULT_BUDGET: Duration = Duration::from_secs(25);

/// The time left for work in an invocation whose Lambda deadline is `deadline_ms` (epoch
/// milliseconds), less `margin`. A deadline already past is not a real one: `cargo lambda watch`
/// sends its timeout (600000) in that header; then `fallback` is the budget.
pub fn deadline(deadline_ms: u64, margin: Duration, fallback: Duration) -> Instant {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    match u128::from(deadline_ms).checked_sub(now_ms) {
        Some(left) if left > 0 => {
            Instant::now()
                + Duration::from_millis(u64::try_from(left).unwrap_or(u64::MAX))
                    .saturating_sub(margin)
        }
        _ => Instant::now() + fallback,
    }
}

/// What the API needs of a request, whatever carried it.
#[derive(Debug, Clone)]
pub struct ApiRequest {
    pub method: String,
    pub path: String,
    headers: HashMap<String, String>,
    pub query: HashMap<String, String>,
    /// The JWT authorizer's claims, when API Gateway verified a token.
    pub claims: Option<HashMap<String, String>>,
    pub body: Vec<u8>,
    pub deadline: Instant,
    /// `https://<domain>[/<stage>]` as the client reached this API.
    pub public_url: Option<String>,
}

impl ApiRequest {
    pub fn from_lambda(request: &Request) -> ApiRequest {
        let headers = request
            .headers()
            .iter()
            .filter_map(|(k, v)| {
                v.to_str()
                    .ok()
                    .map(|v| (k.as_str().to_ascii_lowercase(), v.to_owned()))
            })
            .collect();
        let query = request
            .query_string_parameters_ref()
            .map(|q| {
                q.iter()
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .collect()
            })
            .unwrap_or_default();
        let (claims, public_url) = match request.request_context_ref() {
            Some(RequestContext::ApiGatewayV2(cx)) => {
                let claims = cx
                    .authorizer
                    .as_ref()
                    .and_then(|a| a.jwt.as_ref())
                    .map(|jwt| jwt.claims.clone());
                let public_url = cx.domain_name.as_ref().map(|domain| {
                    let stage = cx
                        .stage
                        .as_deref()
                        .filter(|s| !s.is_empty() && *s != "$default");
                    match stage {
                        Some(stage) => format!("https://{domain}/{stage}"),
                        None => format!("https://{domain}"),
                    }
                });
                (claims, public_url)
            }
            _ => (None, None),
        };
        let deadline = deadline(
            request.lambda_context_ref().map_or(0, |cx| cx.deadline),
            DEADLINE_MARGIN,
            DEFAULT_BUDGET,
        );
        let body = match request.body() {
            Body::Empty => Vec::new(),
            Body::Text(t) => t.as_bytes().to_vec(),
            Body::Binary(b) => b.clone(),
            _ => Vec::new(),
        };
        ApiRequest {
            method: request.method().as_str().to_owned(),
            path: request.raw_http_path().to_owned(),
            headers,
            query,
            claims,
            body,
            deadline,
            public_url,
        }
    }

    /// A header's value, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }
}

pub fn to_lambda(response: http::Response<String>) -> lambda_http::Response<Body> {
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
    use super::*;

    #[test]
    fn a_real_deadline_leaves_the_time_left_less_the_margin() {
        let in_ten_s = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64
            + 10_000;
        let left = deadline(in_ten_s, Duration::from_secs(2), DEFAULT_BUDGET)
            .saturating_duration_since(Instant::now());
        assert!(
            left > Duration::from_millis(7_500) && left <= Duration::from_secs(8),
            "{left:?}"
        );
    }

    #[test]
    fn a_deadline_in_the_past_is_no_deadline() {
        // cargo lambda watch sends 600000, Lambda's test contexts 0.
        for ms in [0, 600_000] {
            let left = deadline(ms, DEADLINE_MARGIN, Duration::from_secs(25))
                .saturating_duration_since(Instant::now());
            assert!(left > Duration::from_secs(24), "{ms}: {left:?}");
        }
    }
}
