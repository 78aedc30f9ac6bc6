//! A local stand-in for API Gateway's HTTP API, so the front end talks to the same paths locally
//! as in production: routes from `template.yaml`, the JWT authorizer (HS256 dev tokens, checked
//! for signature, expiry, issuer and audience as API Gateway would), payload-2.0 events to the
//! functions running under `cargo lambda watch`, and CORS for a browser. Loopback only.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use awaknow_core::api::dev_token::verify_dev_token;
use awaknow_core::secrets::Secret;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::Response;

pub mod event;
pub mod limit;
pub mod routes;
pub mod watchdog;

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
    /// `Access-Control-Allow-Origin`.
    pub cors_origin: String,
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
    let outgoing = if method == Method::OPTIONS {
        Outgoing {
            status: 204,
            headers: Vec::new(),
            body: Vec::new(),
        }
    } else {
        forward(&gw, &peer, &method, &uri, &headers, &body).await
    };
    // Built by hand: only the function's headers, no content type of axum's own.
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
    if let Ok(origin) = HeaderValue::from_str(&gw.config.cors_origin) {
        h.insert("access-control-allow-origin", origin);
    }
    h.insert(
        "access-control-allow-headers",
        HeaderValue::from_static("authorization, content-type, idempotency-key, if-match"),
    );
    h.insert(
        "access-control-allow-methods",
        HeaderValue::from_static("GET, POST, PUT, DELETE, OPTIONS"),
    );
    h.insert(
        "access-control-expose-headers",
        // ETag: the notes' entity tag, which a browser must read to send it back as If-Match.
        HeaderValue::from_static("retry-after, etag"),
    );
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
