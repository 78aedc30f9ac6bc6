//! What a handler needs of a request, whatever carried it ([`ApiRequest`]), and its decoding
//! from API Gateway's (v2) event, which the shell ([`super::shell`]) does for every request.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt};

use crate::deadline::{DEADLINE_MARGIN, DEFAULT_BUDGET, deadline};

/// What a handler needs of a request, whatever carried it.
#[derive(Debug, Clone)]
pub struct ApiRequest {
    /// API Gateway's matched route, e.g. `GET /sessions/{id}`.
    pub route_key: String,
    headers: HashMap<String, String>,
    path_params: HashMap<String, String>,
    query: HashMap<String, String>,
    /// The JWT authorizer's claims, when API Gateway verified a token.
    pub claims: Option<HashMap<String, String>>,
    pub body: Vec<u8>,
    /// When the answer must be on its way (the Lambda deadline less a margin).
    pub deadline: std::time::Instant,
    /// `https://<domain>[/<stage>]` as the client reached this API.
    pub public_url: Option<String>,
    /// The server's clock when the request arrived.
    pub now: DateTime<Utc>,
}

impl ApiRequest {
    /// A header's value, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }

    /// A path parameter of the route (`id` in `/sessions/{id}`); empty when absent, which every
    /// parser of a parameter refuses as invalid.
    pub fn path(&self, name: &str) -> &str {
        self.path_params.get(name).map_or("", String::as_str)
    }

    pub fn query(&self, name: &str) -> Option<&str> {
        self.query.get(name).map(String::as_str)
    }
}

impl ApiRequest {
    /// Decodes API Gateway's (v2) request. Whatever the event lacks stays empty, and an empty
    /// route key matches no route.
    pub fn from_lambda(request: &Request) -> ApiRequest {
        let (route_key, claims, public_url) = match request.request_context_ref() {
            Some(RequestContext::ApiGatewayV2(cx)) => (
                cx.route_key.clone().unwrap_or_default(),
                cx.authorizer
                    .as_ref()
                    .and_then(|a| a.jwt.as_ref())
                    .map(|jwt| jwt.claims.clone()),
                cx.domain_name
                    .as_deref()
                    .map(|domain| public_url(domain, cx.stage.as_deref())),
            ),
            _ => (String::new(), None, None),
        };
        ApiRequest {
            route_key,
            headers: headers(request),
            path_params: pairs(request.path_parameters_ref()),
            query: pairs(request.query_string_parameters_ref()),
            claims,
            body: body(request.body()),
            deadline: deadline(
                request.lambda_context_ref().map_or(0, |cx| cx.deadline),
                DEADLINE_MARGIN,
                DEFAULT_BUDGET,
            ),
            public_url,
            now: Utc::now(),
        }
    }
}

fn headers(request: &Request) -> HashMap<String, String> {
    request
        .headers()
        .iter()
        .filter_map(|(k, v)| {
            v.to_str()
                .ok()
                .map(|v| (k.as_str().to_ascii_lowercase(), v.to_owned()))
        })
        .collect()
}

fn pairs(
    map: Option<&lambda_http::aws_lambda_events::query_map::QueryMap>,
) -> HashMap<String, String> {
    map.map(|m| {
        m.iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    })
    .unwrap_or_default()
}

fn body(body: &Body) -> Vec<u8> {
    match body {
        Body::Text(t) => t.as_bytes().to_vec(),
        Body::Binary(b) => b.clone(),
        _ => Vec::new(),
    }
}

/// The API's base URL as its client reached it: the custom domain or the stage's URL.
fn public_url(domain: &str, stage: Option<&str>) -> String {
    match stage.filter(|s| !s.is_empty() && *s != "$default") {
        Some(stage) => format!("https://{domain}/{stage}"),
        None => format!("https://{domain}"),
    }
}
