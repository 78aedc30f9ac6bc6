//! A local stand-in for API Gateway's HTTP API, so the front end talks to the same paths locally
//! as in production: routes from `template.yaml`, the JWT authorizer (HS256 dev tokens, checked
//! for signature, expiry, issuer and audience as API Gateway would), payload-2.0 events to the
//! functions running under `cargo lambda watch`, and CORS for a browser as the template
//! configures it ([`cors`]). Loopback only.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use awaknow_core::api::dev_token::verify_dev_token;
use awaknow_core::secrets::Secret;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::Response;

pub mod cors;
pub mod event;
pub mod limit;
pub mod routes;
pub mod watchdog;

use cors::CorsConfig;
use event::{Incoming, Outgoing};
use limit::InFlightLimit;
use routes::RouteSpec;

/// How long an invocation may wait inside the emulator at most, whoever has stopped waiting for
/// it (Lambda's own limit): only then is its place under the in-flight limit given back.
const EMULATOR_ANSWER_LIMIT: Duration = Duration::from_secs(15 * 60);

#[derive(Debug, Clone)]
pub struct GatewayConfig {
    pub routes: Vec<RouteSpec>,
    /// `cargo lambda watch`'s address, e.g. `http://127.0.0.1:9000`.
    pub functions_url: String,
    pub jwt_secret: Secret,
    pub jwt_issuer: String,
    pub jwt_audience: String,
    /// The HTTP API's `CorsConfiguration` (`None`: the API has none, so no CORS answer).
    pub cors: Option<CorsConfig>,
    /// API Gateway's integration timeout.
    pub timeout: Duration,
    /// Invocations one function may have in flight in the emulator (see [`limit`]).
    pub max_in_flight: usize,
}

struct Gateway {
    config: GatewayConfig,
    http: reqwest::Client,
    in_flight: InFlightLimit,
}

/// API Gateway's throttling answer, as problem details, with the time to wait.
fn throttled(function: &str, max: usize) -> Outgoing {
    let problem = awaknow_core::problem::Problem::new(429, "throttled", "Too Many Requests")
        .with_detail(format!(
            "{function} has {max} requests in flight on the local stack; retry after a second"
        ));
    Outgoing {
        status: 429,
        headers: vec![
            (
                "content-type".into(),
                awaknow_core::problem::CONTENT_TYPE.into(),
            ),
            ("retry-after".into(), "1".into()),
        ],
        body: problem.to_json().into_bytes(),
    }
}

fn plain(status: StatusCode, message: &str) -> Outgoing {
    Outgoing {
        status: status.as_u16(),
        headers: vec![("content-type".into(), "application/json".into())],
        body: serde_json::json!({ "message": message })
            .to_string()
            .into_bytes(),
    }
}

async fn serve(
    State(gw): State<Arc<Gateway>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let origin = headers.get("origin").and_then(|v| v.to_str().ok());
    let outgoing = match &gw.config.cors {
        Some(cors) if cors::is_preflight(&method, &headers) => Outgoing {
            status: 204,
            headers: cors.preflight_headers(origin.unwrap_or_default()),
            body: Vec::new(),
        },
        cors => {
            let mut outgoing = forward(&gw, &peer, &method, &uri, &headers, &body).await;
            if let Some(cors) = cors {
                cors.apply(&mut outgoing.headers, origin);
            }
            outgoing
        }
    };
    respond(outgoing)
}

/// Built by hand: only the function's (and CORS) headers, no content type of axum's own.
fn respond(outgoing: Outgoing) -> Response {
    let mut response = Response::new(axum::body::Body::from(outgoing.body));
    *response.status_mut() =
        StatusCode::from_u16(outgoing.status).unwrap_or(StatusCode::BAD_GATEWAY);
    let h = response.headers_mut();
    for (k, v) in outgoing.headers {
        if let (Ok(k), Ok(v)) = (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(&v),
        ) {
            h.append(k, v);
        }
    }
    response
}

async fn forward(
    gw: &Gateway,
    peer: &SocketAddr,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Outgoing {
    let path = uri.path();
    let Some((route, params)) = gw
        .config
        .routes
        .iter()
        .find_map(|r| r.matches(method.as_str(), path).map(|p| (r, p)))
    else {
        return plain(StatusCode::NOT_FOUND, "Not Found");
    };
    let claims = if route.authorized {
        let token = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            });
        match token.and_then(|t| {
            verify_dev_token(
                &gw.config.jwt_secret,
                t.trim(),
                &gw.config.jwt_issuer,
                &gw.config.jwt_audience,
            )
        }) {
            Some(claims) => Some(claims),
            None => return plain(StatusCode::UNAUTHORIZED, "Unauthorized"),
        }
    } else {
        None
    };
    let incoming = Incoming {
        method: method.as_str(),
        path,
        raw_query: uri.query().unwrap_or(""),
        headers: headers
            .iter()
            .filter_map(|(k, v)| {
                v.to_str()
                    .ok()
                    .map(|v| (k.as_str().to_owned(), v.to_owned()))
            })
            .collect(),
        body,
        source_ip: &peer.ip().to_string(),
    };
    let event = event::request_event(route, &incoming, params, claims);
    let Some(place) = gw.in_flight.try_acquire(&route.function) else {
        tracing::warn!(function = %route.function, max_in_flight = gw.in_flight.max(), "throttled");
        return throttled(&route.function, gw.in_flight.max());
    };
    let started = std::time::Instant::now();
    let invocation = tokio::spawn(invoke(
        gw.http.clone(),
        format!(
            "{}/2015-03-31/functions/{}/invocations",
            gw.config.functions_url, route.function
        ),
        event,
        place,
    ));
    let outgoing = match tokio::time::timeout(gw.config.timeout, invocation).await {
        Ok(Ok(Ok(payload))) => event::response(&payload),
        Ok(Ok(Err(e))) => {
            tracing::error!(function = %route.function, error = %e.without_url(), "function unreachable (is cargo lambda watch running?)");
            plain(StatusCode::BAD_GATEWAY, "Bad Gateway")
        }
        Ok(Err(_)) => plain(StatusCode::BAD_GATEWAY, "Bad Gateway"),
        // The invocation goes on inside the emulator, and keeps its place until it is answered.
        Err(_) => plain(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable"),
    };
    tracing::info!(route = %route.route_key(), function = %route.function, status = outgoing.status, ms = started.elapsed().as_millis() as u64, "request");
    outgoing
}

/// One invocation, on its own task so that it keeps its place until the emulator answers, even
/// after the client has gone.
async fn invoke(
    http: reqwest::Client,
    url: String,
    event: serde_json::Value,
    _place: tokio::sync::OwnedSemaphorePermit,
) -> Result<Bytes, reqwest::Error> {
    http.post(&url)
        .json(&event)
        .timeout(EMULATOR_ANSWER_LIMIT)
        .send()
        .await?
        .bytes()
        .await
}

/// A running gateway.
pub struct RunningGateway {
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl RunningGateway {
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for RunningGateway {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serves the gateway on 127.0.0.1:`port` (0 picks a free port).
pub async fn start(config: GatewayConfig, port: u16) -> std::io::Result<RunningGateway> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let addr = listener.local_addr()?;
    let in_flight = InFlightLimit::new(
        config.routes.iter().map(|r| r.function.as_str()),
        config.max_in_flight,
    );
    let gateway = Arc::new(Gateway {
        config,
        http: reqwest::Client::new(),
        in_flight,
    });
    let app = axum::Router::new().fallback(serve).with_state(gateway);
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        {
            tracing::error!(error = %e, "gateway stopped");
        }
    });
    Ok(RunningGateway { addr, task })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Settings unlike the project's, so a gateway answering with headers of its own fails.
    const TEMPLATE: &str = r#"
Parameters:
  CorsAllowOrigin:
    Type: String
    Default: http://front.test
Resources:
  Api:
    Type: AWS::Serverless::HttpApi
    Properties:
      CorsConfiguration:
        AllowOrigins: [!Ref CorsAllowOrigin]
        AllowHeaders: [authorization, x-only-in-this-template]
        AllowMethods: [GET, PUT]
        ExposeHeaders: [x-exposed]
        MaxAge: 77
"#;

    async fn gateway() -> RunningGateway {
        let config = GatewayConfig {
            routes: Vec::new(),
            // Nothing listens there: no request of these tests reaches a function.
            functions_url: "http://127.0.0.1:9".into(),
            jwt_secret: Secret::new("a-dev-secret-of-at-least-32-characters"),
            jwt_issuer: "awaknow-local".into(),
            jwt_audience: "awaknow".into(),
            cors: cors::from_template_text(TEMPLATE).unwrap(),
            timeout: Duration::from_secs(5),
            max_in_flight: 1,
        };
        start(config, 0).await.unwrap()
    }

    fn header(response: &reqwest::Response, name: &str) -> Option<String> {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }

    #[tokio::test]
    async fn a_preflight_is_answered_by_the_gateway_with_the_template_settings() {
        let gw = gateway().await;
        let answer = reqwest::Client::new()
            .request(
                Method::OPTIONS,
                format!("{}/sessions/x/notes", gw.base_url()),
            )
            .header("origin", "http://front.test")
            .header("access-control-request-method", "PUT")
            .header("access-control-request-headers", "authorization")
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 204);
        assert_eq!(
            header(&answer, "access-control-allow-origin").as_deref(),
            Some("http://front.test")
        );
        assert_eq!(
            header(&answer, "access-control-allow-headers").as_deref(),
            Some("authorization, x-only-in-this-template")
        );
        assert_eq!(
            header(&answer, "access-control-allow-methods").as_deref(),
            Some("GET, PUT")
        );
        assert_eq!(
            header(&answer, "access-control-max-age").as_deref(),
            Some("77")
        );
    }

    #[tokio::test]
    async fn other_requests_are_routed_and_their_answers_expose_the_template_headers() {
        let gw = gateway().await;
        let http = reqwest::Client::new();
        let url = format!("{}/no-such-route", gw.base_url());
        let from_front = http
            .get(&url)
            .header("origin", "http://front.test")
            .send()
            .await
            .unwrap();
        assert_eq!(from_front.status(), 404);
        assert_eq!(
            header(&from_front, "access-control-allow-origin").as_deref(),
            Some("http://front.test")
        );
        assert_eq!(
            header(&from_front, "access-control-expose-headers").as_deref(),
            Some("x-exposed")
        );
        // No Origin, or an OPTIONS that is no preflight: no CORS answer, as on API Gateway.
        let plain = http.get(&url).send().await.unwrap();
        assert_eq!(header(&plain, "access-control-allow-origin"), None);
        let options = http
            .request(Method::OPTIONS, &url)
            .header("origin", "http://front.test")
            .send()
            .await
            .unwrap();
        assert_eq!(options.status(), 404);
        let stranger = http
            .get(&url)
            .header("origin", "http://elsewhere.test")
            .send()
            .await
            .unwrap();
        assert_eq!(header(&stranger, "access-control-allow-origin"), None);
    }
}
