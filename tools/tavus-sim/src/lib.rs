//! A Tavus CVI simulator for tests and local development: the v2 conversation endpoints the
//! backend uses (create, get with `verbose`, list, end), checked and answered as Tavus documents
//! them, with the callbacks Tavus sends when a call ends. Control endpoints under `/_sim` end a
//! call with a chosen duration and reason, inject failures, latency and the concurrency-limit
//! 400, and count requests. Listens on loopback only.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::extract::{Path, Query, State as AxumState};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};

pub mod model;
pub mod state;

use model::{ControlEnd, CreateConversation, Faults};
use state::{Callback, State};

#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Keys accepted in `x-api-key`.
    pub api_keys: Vec<String>,
    /// Simulated seconds per real second, for calls that run until `max_call_duration`.
    pub speedup: f64,
    /// Concurrent active conversations allowed before the concurrency-limit 400.
    pub max_concurrent: usize,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            api_keys: vec!["sim-key".into()],
            speedup: 1.0,
            max_concurrent: 100,
        }
    }
}

#[derive(Clone)]
struct Sim {
    config: Arc<Mutex<SimConfig>>,
    state: Arc<Mutex<State>>,
    http: reqwest::Client,
}

impl Sim {
    // A poisoned lock only means a handler panicked mid-update; the simulator keeps serving.
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn config(&self) -> MutexGuard<'_, SimConfig> {
        self.config.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn send(&self, callbacks: Vec<Callback>) {
        if callbacks.is_empty() {
            return;
        }
        let http = self.http.clone();
        // In order, one after another, as Tavus sends shutdown before the transcript.
        tokio::spawn(async move {
            for cb in callbacks {
                deliver(&http, &cb).await;
            }
        });
    }
}

/// Attempts per callback: a throttled or failing receiver is tried again with backoff, as a
/// careful sender would, then given up with a log line.
const CALLBACK_ATTEMPTS: u32 = 6;

/// Sends one callback; a 429 or a 5xx (or no answer) is retried with exponential backoff and
/// jitter from 250 ms, honouring `Retry-After`.
async fn deliver(http: &reqwest::Client, cb: &Callback) {
    let event = &cb.body["event_type"];
    for attempt in 1..=CALLBACK_ATTEMPTS {
        let outcome = http
            .post(&cb.url)
            .json(&cb.body)
            .timeout(Duration::from_secs(10))
            .send()
            .await;
        let (retry_after, why) = match outcome {
            Ok(r) => {
                let status = r.status().as_u16();
                if status != 429 && status < 500 {
                    tracing::info!(%event, status, attempt, "callback sent");
                    return;
                }
                let retry_after = r
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<u64>().ok())
                    .map(Duration::from_secs);
                (retry_after, format!("HTTP {status}"))
            }
            Err(e) => (None, e.without_url().to_string()),
        };
        if attempt == CALLBACK_ATTEMPTS {
            tracing::warn!(%event, attempt, error = %why, "callback failed; giving up");
            return;
        }
        let backoff = Duration::from_millis(250 * 2u64.pow(attempt - 1));
        let jitter = Duration::from_millis(rand::random::<u64>() % 250);
        let wait = retry_after.unwrap_or_default().max(backoff) + jitter;
        tracing::info!(%event, attempt, error = %why, wait_ms = wait.as_millis() as u64, "callback failed; retrying");
        tokio::time::sleep(wait).await;
    }
}

fn error(status: StatusCode, field: &str, message: &str) -> Response {
    (status, Json(json!({ field: message }))).into_response()
}

/// What the fault rules say about one request.
#[derive(Default)]
struct Verdict {
    latency_ms: u64,
    fail: Option<u16>,
    at_capacity: bool,
}

fn judge(faults: &mut [Faults], body: &[u8], is_create: bool) -> Verdict {
    let text = String::from_utf8_lossy(body);
    let mut verdict = Verdict::default();
    for rule in faults.iter_mut() {
        if rule
            .when_body_contains
            .as_deref()
            .is_some_and(|needle| !text.contains(needle))
        {
            continue;
        }
        verdict.latency_ms = verdict.latency_ms.max(rule.latency_ms);
        if verdict.fail.is_none() && rule.fail_next > 0 {
            rule.fail_next -= 1;
            verdict.fail = Some(rule.fail_status);
        }
        if is_create && !verdict.at_capacity && rule.at_capacity_next > 0 {
            rule.at_capacity_next -= 1;
            verdict.at_capacity = true;
        }
    }
    verdict
}

/// Counts the request, applies injected latency and failures, checks the key.
async fn gate(
    sim: &Sim,
    route: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Verdict, Response> {
    let verdict = {
        let mut state = sim.state();
        *state.requests.entry(route.to_owned()).or_default() += 1;
        judge(&mut state.faults, body, route == "POST /v2/conversations")
    };
    let (latency, fail) = (verdict.latency_ms, verdict.fail);
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
    let key = headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !sim.config().api_keys.iter().any(|k| k == key) {
        return Err(error(
            StatusCode::UNAUTHORIZED,
            "message",
            "Invalid access token",
        ));
    }
    if let Some(status) = fail {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
        return Err(error(status, "error", "simulated failure"));
    }
    Ok(verdict)
}

async fn create(
    AxumState(sim): AxumState<Sim>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let verdict = match gate(&sim, "POST /v2/conversations", &headers, &body).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let request: CreateConversation = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                "error",
                &format!("Invalid request body: {e}"),
            );
        }
    };
    if let Err(message) = request.validate() {
        return error(StatusCode::BAD_REQUEST, "error", &message);
    }
    let max_concurrent = sim.config().max_concurrent;
    let (conversation, joined) = {
        let mut state = sim.state();
        if verdict.at_capacity || state.active_count() >= max_concurrent {
            return error(
                StatusCode::BAD_REQUEST,
                "message",
                "User has reached maximum concurrent conversations",
            );
        }
        let now = Utc::now();
        let conversation = state.create(&request, now);
        let joined = if conversation.test_mode {
            None
        } else {
            state.replica_joined(&conversation.id, now + chrono::Duration::seconds(3))
        };
        (conversation, joined)
    };
    sim.send(joined.into_iter().collect());
    if !conversation.test_mode {
        // Tavus ends the call itself at max_call_duration (sped up by the configured factor).
        let speedup = sim.config().speedup.max(0.001);
        let real = Duration::from_secs_f64(f64::from(conversation.max_call_duration) / speedup);
        let sim2 = sim.clone();
        let id = conversation.id.clone();
        let simulated_end = conversation.created_at
            + chrono::Duration::seconds(i64::from(conversation.max_call_duration));
        tokio::spawn(async move {
            tokio::time::sleep(real).await;
            let callbacks = sim2
                .state()
                .end(&id, simulated_end, "max_call_duration reached");
            sim2.send(callbacks.unwrap_or_default());
        });
    }
    let mut body = State::view(&conversation, false);
    body["status"] = json!(if conversation.test_mode {
        "ended"
    } else {
        "active"
    });
    (StatusCode::OK, Json(body)).into_response()
}

#[derive(Deserialize)]
struct GetQuery {
    #[serde(default)]
    verbose: Option<bool>,
}

async fn get_one(
    AxumState(sim): AxumState<Sim>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<GetQuery>,
) -> Response {
    if let Err(r) = gate(&sim, "GET /v2/conversations/{id}", &headers, b"").await {
        return r;
    }
    match sim.state().conversations.get(&id) {
        Some(c) => Json(State::view(c, q.verbose.unwrap_or(false))).into_response(),
        None => error(StatusCode::BAD_REQUEST, "error", "Invalid conversation_id"),
    }
}

#[derive(Deserialize)]
struct ListQuery {
    limit: Option<usize>,
    page: Option<usize>,
    status: Option<String>,
}

async fn list(
    AxumState(sim): AxumState<Sim>,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> Response {
    if let Err(r) = gate(&sim, "GET /v2/conversations", &headers, b"").await {
        return r;
    }
    let state = sim.state();
    let mut all: Vec<_> = state
        .conversations
        .values()
        .filter(|c| match q.status.as_deref() {
            Some("active") => c.ended.is_none(),
            Some("ended") => c.ended.is_some(),
            _ => true,
        })
        .collect();
    all.sort_by_key(|c| std::cmp::Reverse(c.created_at));
    let limit = q.limit.unwrap_or(10).max(1);
    let page = q.page.unwrap_or(1).max(1);
    let data: Vec<Value> = all
        .iter()
        .skip((page - 1) * limit)
        .take(limit)
        .map(|c| State::view(c, false))
        .collect();
    Json(json!({ "data": data, "total_count": all.len() })).into_response()
}

async fn end(
    AxumState(sim): AxumState<Sim>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Err(r) = gate(&sim, "POST /v2/conversations/{id}/end", &headers, b"").await {
        return r;
    }
    let speedup = sim.config().speedup;
    let callbacks = {
        let mut state = sim.state();
        let Some(c) = state.conversations.get(&id) else {
            return error(StatusCode::BAD_REQUEST, "error", "Invalid conversation_id");
        };
        let elapsed = c.created_instant.elapsed().as_secs_f64() * speedup;
        let at = c.created_at + chrono::Duration::milliseconds((elapsed * 1000.0) as i64);
        state.end(&id, at, "end_conversation_endpoint_hit")
    };
    sim.send(callbacks.unwrap_or_default());
    StatusCode::OK.into_response()
}

async fn control_end(
    AxumState(sim): AxumState<Sim>,
    Path(id): Path<String>,
    Json(body): Json<ControlEnd>,
) -> Response {
    let callbacks = {
        let mut state = sim.state();
        let Some(c) = state.conversations.get(&id) else {
            return error(StatusCode::NOT_FOUND, "error", "no such conversation");
        };
        let at =
            c.created_at + chrono::Duration::milliseconds((body.duration_seconds * 1000.0) as i64);
        state.end(&id, at, &body.shutdown_reason)
    };
    sim.send(callbacks.unwrap_or_default());
    StatusCode::NO_CONTENT.into_response()
}

async fn control_faults(AxumState(sim): AxumState<Sim>, Json(faults): Json<Faults>) -> Response {
    sim.state().faults.push(faults);
    StatusCode::NO_CONTENT.into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ControlKeys {
    api_keys: Vec<String>,
}

/// Replaces the accepted keys, to simulate a key rotation on Tavus's side.
async fn control_keys(AxumState(sim): AxumState<Sim>, Json(keys): Json<ControlKeys>) -> Response {
    sim.config().api_keys = keys.api_keys;
    StatusCode::NO_CONTENT.into_response()
}

async fn control_stats(AxumState(sim): AxumState<Sim>) -> Response {
    let state = sim.state();
    Json(json!({ "requests": state.requests, "active": state.active_count(), "conversations": state.conversations.len() }))
        .into_response()
}

async fn control_reset(AxumState(sim): AxumState<Sim>) -> Response {
    *sim.state() = State::default();
    StatusCode::NO_CONTENT.into_response()
}

pub fn router(config: SimConfig) -> Router {
    let sim = Sim {
        config: Arc::new(Mutex::new(config)),
        state: Arc::new(Mutex::new(State::default())),
        http: reqwest::Client::new(),
    };
    Router::new()
        .route("/v2/conversations", post(create).get(list))
        .route("/v2/conversations/{id}", get(get_one))
        .route("/v2/conversations/{id}/end", post(end))
        .route("/_sim/conversations/{id}/end", post(control_end))
        .route("/_sim/faults", post(control_faults))
        .route("/_sim/keys", post(control_keys))
        .route("/_sim/stats", get(control_stats))
        .route("/_sim/reset", post(control_reset))
        .route("/_sim/health", get(|| async { "ok" }))
        .with_state(sim)
}

/// A running simulator.
pub struct RunningSim {
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl RunningSim {
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for RunningSim {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts the simulator on 127.0.0.1:`port` (0 picks a free port) in the current runtime.
pub async fn start(config: SimConfig, port: u16) -> std::io::Result<RunningSim> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let addr = listener.local_addr()?;
    let app = router(config);
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "simulator stopped");
        }
    });
    Ok(RunningSim { addr, task })
}
