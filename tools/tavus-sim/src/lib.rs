//! A Tavus CVI simulator for tests and local development: the v2 conversation endpoints the
//! backend uses, checked and answered as Tavus's documentation
//! says Tavus does, with the callbacks Tavus sends, a stand-in for people joining the Daily
//! room, and fault injection. Listens on loopback only.
//!
//! Simulated time: every timer below runs `--speedup` simulated seconds per real second, and
//! the timestamps it writes are simulated (creation + the simulated seconds). A clock offset
//! (`SimConfig::clock_offset_ms`, default 0) shifts every time it writes: Tavus's clock skewed
//! against ours, or a test run shifted to a month's end.
//!
//! # Tavus API (`x-api-key` checked on each: 401 `{"message": "Invalid access token"}`)
//!
//! - `POST /v2/conversations`: 200 with `conversation_id`, `conversation_name`,
//!   `conversation_url` (`https://tavus.daily.co/<id>`), `callback_url` (`""` when none),
//!   `status` (`active`; `ended` in test mode), `replica_id`, `persona_id`, `created_at`,
//!   `updated_at`, and `meeting_token` only when `require_auth: true`.
//!   - Body errors are 400 `{"error": ...}`: unknown fields, `max_call_duration` outside
//!     1..=3600, `max_participants` < 2, both `replica_id` and `face_id` (or `persona_id` and
//!     `pal_id`), a `callback_url` that is not http(s), and, when `require_replica` is on
//!     (`--require-replica true`), neither a persona (`persona_id`/`pal_id`, assumed to have a
//!     default replica) nor a replica (`replica_id`/`face_id`).
//!   - At `--max-concurrent` active calls: 400 `{"message": "User has reached maximum
//!     concurrent conversations"}`.
//!   - After create, `system.replica_joined` is sent (timestamp creation + 3 s).
//!   - The call ends by itself at `properties.max_call_duration` (default 3600 s; reason
//!     `max_call_duration reached`) and, if no person joined by then, at
//!     `properties.participant_absent_timeout` (default 300 s, counted from creation; reason
//!     `participant_absent_timeout reached`; its transcript holds only the system turn).
//!   - `require_auth: true`: `meeting_token` is a JWT-looking opaque string (three base64url
//!     parts, unique per call). It expires `participant_absent_timeout` after creation.
//!   - `test_mode: true`: created already `ended` (`updated_at` = `created_at`), no replica
//!     joins, no callbacks, no timers, no events, no `shutdown_reason`, not counted as active.
//!     `conversation_url` is a room URL as usual, or left out of every answer with
//!     `--test-mode-url none`.
//! - `GET /v2/conversations/{id}[?verbose=true]`: the fields above without `meeting_token`;
//!   verbose adds `events` (the callback envelopes recorded, in order) and `shutdown_reason`
//!   (only when a `system.shutdown` was recorded). `updated_at` is the end time once ended.
//!   Unknown or deleted id: 400 `{"error": "Invalid conversation_id"}`.
//! - `GET /v2/conversations?limit=&page=&status=`: `{"data": [...], "total_count": n}`, newest
//!   first (a conversation appears only `SimConfig::list_lag_ms` after its creation: a lagging
//!   list); `limit` default 10 (0 counts as 1), `page` default 1 (0 counts as 1), `status`
//!   `active` or `ended` (anything else: all); `total_count` counts every match, not the page.
//!   Items as GET without verbose. Deleted calls are never listed. A malformed query: 400.
//! - `POST /v2/conversations/{id}/end`: 200, no body; ends the call now (simulated) with
//!   `end_conversation_endpoint_hit`; ending an ended call is a harmless 200. Unknown or deleted
//!   id: 400 `{"error": "Invalid conversation_id"}`.
//! - `DELETE /v2/conversations/{id}[?hard=true]`: 204, no body. An active call is ended first,
//!   now, with `shutdown_reason` `daily_room_has_been_deleted`, and its `system.shutdown` and
//!   transcript callbacks are sent (the docs list that reason among the shutdown webhooks'; use
//!   the control end with `"shutdown_event": false` to model a deleted room that sends none).
//!   `hard=true` forgets the call; otherwise (soft) it is kept but hidden: GET, list, end and
//!   DELETE treat it as unknown, only `GET /_sim/conversations/{id}` still shows it
//!   (`"deleted": true`). Unknown or already deleted id: 400 `{"error": "Invalid
//!   conversation_id"}`. A malformed `hard` (not `true`/`false`): 400.
//!
//! Callbacks go to `callback_url` in Tavus's envelope (`properties`, `conversation_id`,
//! `webhook_url`, `event_type`, `message_type`, `timestamp`): `system.shutdown` (properties
//! `replica_id`, `shutdown_reason`) then `application.transcription_ready` (properties
//! `replica_id`, `transcript`; timestamp end + 2 s), one after the other; a 429 or 5xx or no
//! answer is retried with backoff. Transcripts start with `{"role": "system", "content":
//! <conversational_context>}`, then a user and an assistant turn. With the `extended` shape
//! (the default; `--transcript-shape classic` for `{role, content}` only) the spoken turns also
//! carry `timestamp` (ISO-8601 string, creation + `seconds_from_start`), `seconds_from_start`
//! and `duration` (numbers, seconds) and `inference_id` (a UUID string); the system turn never
//! does.
//!
//! Recordings (`src/recording.rs`): a call created with `properties.enable_recording: true` and
//! `recording_s3_bucket_name` (which then needs `recording_s3_bucket_region` and
//! `aws_assume_role_arn`, or the create is a 400) is recorded as if the front end had started
//! the recording in the call, once a person joined (`POST /_sim/conversations/{id}/join`; Tavus's
//! docs: `enable_recording` only allows it, the client starts it). When it ends (any way but
//! test mode; a call nobody joined only through `/_sim/.../end`), after the transcript, the
//! simulator PUTs a 4 KiB file (an MP4 `ftyp` box and padding naming the conversation: not a
//! playable video) to `<--s3-endpoint>/<bucket>/recordings/<conversation_id>.mp4` and then
//! sends `application.recording_ready` (timestamp end + 5 s) with `bucket_name`, `s3_key`,
//! `duration` (whole seconds; `--recording-shape legacy`, the default) or `storage_provider:
//! "s3"`, `storage_uri: "s3://<bucket>/<key>"` (`--recording-shape storage`). If the PUT fails,
//! or no `--s3-endpoint` is set, it sends `application.recording_copy_failed` with
//! `error_message` instead.
//!
//! # Control (no key needed)
//!
//! - `POST /_sim/conversations/{id}/end` `{"duration_seconds": f64 (required, >= 0),
//!   "shutdown_reason": "participant_left_timeout reached", "shutdown_event": true,
//!   "transcript": true, "transcript_shape": null, "turns": null, "extra_turns": [],
//!   "recorded": true, "recording_shape": null}` (the defaults shown): ends the call as if it
//!   had lasted `duration_seconds` (end time and `updated_at` = creation + that). `shutdown_event: false` records and sends no
//!   `system.shutdown` (and verbose GET has no `shutdown_reason`); `transcript: false` no
//!   `application.transcription_ready`. `transcript_shape` (`classic`|`extended`) overrides the
//!   simulator's for this call; `turns` replaces the spoken turns (the system turn stays
//!   first) and `extra_turns` is appended after them, both sent verbatim (e.g. `{"role":
//!   "user"}` or `{"role": "user", "content": null}`). `recorded: false`: nobody started the
//!   recording of a call created with recording (nothing written or sent); `recording_shape`
//!   overrides the simulator's for this call. 204; an already ended call: 204 and
//!   nothing happens; unknown or deleted: 404 `{"error": "no such conversation"}`; a bad body:
//!   400 `{"error": ...}`.
//! - `POST /_sim/conversations/{id}/join` `{"url": "<the URL the person opens>"}`: a person
//!   joins the Daily room. 204 when accepted (counted in `joins`; a first join cancels the
//!   `participant_absent_timeout` end). Refused with `{"error": ...}`: 404 unknown or deleted
//!   call; 410 the call has ended (test-mode calls included); 403 when the URL (without query
//!   and fragment) is not the call's `conversation_url`, when a `require_auth` room is opened
//!   without `?t=`, with a `t` that is not its `meeting_token`, or after the token expired, and
//!   when `max_participants - 1` people have joined already (the replica is one; there is no
//!   leaving). A public room ignores `t`. Checked in that order.
//! - `GET /_sim/conversations/{id}`: `conversation_id`, `status`, `deleted`, `test_mode`,
//!   `conversation_url` (null if left out), `callback_url`, `require_auth`, `meeting_token`,
//!   `meeting_token_expired`, `max_participants`, `max_call_duration`,
//!   `participant_absent_timeout`, `absent_timer_done` (the absent timer has run, whatever it
//!   decided), `joins`, `joins_refused`, `created_at`, `ended_at`, `shutdown_reason`, `events`
//!   (as verbose GET), `callbacks` (event types queued for `callback_url`, in order),
//!   `recording` (`{bucket, region, role_arn}` or null). Soft-deleted
//!   calls included; 404 otherwise.
//! - `POST /_sim/faults` `{"when_body_contains": null, "fail_next": 0, "fail_status": 503,
//!   "latency_ms": 0, "at_capacity_next": 0, "create_then_fail_next": 0,
//!   "create_then_hang_next": 0, "hang_ms": 30000}`: rules add up, each only for requests whose
//!   body contains `when_body_contains` and whose route (as the stats name it, e.g. `"GET
//!   /v2/conversations/{id}"`) is `when_route`, when set. `fail_next`: the next requests answer
//!   `fail_status` `{"error": "simulated failure"}` before anything happens; `latency_ms`: every
//!   request waits first; `at_capacity_next`: the next creates get the concurrency 400;
//!   `create_then_fail_next`: the next creates create the call (active, with its callbacks and
//!   timers) and then answer `fail_status` `{"error": "simulated failure after the conversation
//!   was created"}`; `create_then_hang_next`: the next creates create the call and answer
//!   normally only after `hang_ms`. The create_then counters are used only by creates that
//!   created a call. 204. `DELETE /_sim/faults` forgets every rule (204).
//! - `GET /_sim/config`, `POST /_sim/config` `{"transcript_shape", "test_mode_url",
//!   "require_replica", "recording_shape"}` (any subset; GET also shows `s3_endpoint`): reads
//!   or changes those settings of a running simulator; both answer the settings after the
//!   change.
//! - `POST /_sim/keys {"api_keys": [...]}`: replaces the accepted keys (a rotation). 204.
//! - `GET /_sim/stats`: `{"requests": {"POST /v2/conversations": n, "GET
//!   /v2/conversations/{id}": n, "GET /v2/conversations": n, "POST
//!   /v2/conversations/{id}/end": n, "DELETE /v2/conversations/{id}": n}` (only those seen),
//!   `"active": n, "conversations": n` (kept, soft-deleted included), `"joins": n}`.
//! - `GET /_sim/history`: `{"conversations": [{conversation_id, callback_url, test_mode, status,
//!   created_at, ended_at, shutdown_reason, deleted}]}` for every conversation ever created,
//!   hard-deleted ones included (`deleted`: `"hard"`, `"soft"` or null): what ran, for a
//!   reconciliation of the books.
//! - `POST /_sim/reset`: forgets calls, rules and counts (not the settings or keys). 204.
//! - `GET /_sim/health`: `ok`.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State as AxumState};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};

pub mod faults;
pub mod model;
pub mod recording;
pub mod room;
pub mod state;
pub mod transcript;

pub use model::{TestModeUrl, TranscriptShape};
pub use recording::{RecordingShape, recording_bytes, recording_key};

use faults::{AfterCreate, Verdict};
use model::{ControlConfig, ControlEnd, ControlJoin, CreateConversation, Faults};
use state::{Callback, Conversation, Ending, RecordingPlan, State};
use transcript::TranscriptSpec;

#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Keys accepted in `x-api-key`.
    pub api_keys: Vec<String>,
    /// Simulated seconds per real second, for every simulated timer and timestamp.
    pub speedup: f64,
    /// Concurrent active conversations allowed before the concurrency-limit 400.
    pub max_concurrent: usize,
    /// The keys of transcript turns (default `extended`).
    pub transcript_shape: TranscriptShape,
    /// Whether a test-mode create carries a `conversation_url` (default `room`: yes).
    pub test_mode_url: TestModeUrl,
    /// A create naming neither a persona nor a replica gets 400 (default off: the local stack
    /// and older tests create without either).
    pub require_replica: bool,
    /// The properties `application.recording_ready` carries (default `legacy`).
    pub recording_shape: RecordingShape,
    /// Where recordings are written (path style, unsigned PUT: the local moto server); `None`:
    /// a recorded call's copy fails (`application.recording_copy_failed`).
    pub s3_endpoint: Option<String>,
    /// The list shows a conversation only this many milliseconds after its creation (Tavus's
    /// list lagging new conversations); default 0.
    pub list_lag_ms: u64,
    /// Milliseconds added to the real clock for every time the simulator writes: Tavus's
    /// clock ahead of (or, negative, behind) the backend's, or a whole test shifted in time.
    pub clock_offset_ms: i64,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            api_keys: vec!["sim-key".into()],
            speedup: 1.0,
            max_concurrent: 100,
            transcript_shape: TranscriptShape::default(),
            test_mode_url: TestModeUrl::default(),
            require_replica: false,
            recording_shape: RecordingShape::default(),
            s3_endpoint: None,
            clock_offset_ms: 0,
            list_lag_ms: 0,
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
    // Never hold `config` while taking `state`'s lock the other way round: read the settings
    // into locals first.
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn config(&self) -> MutexGuard<'_, SimConfig> {
        self.config.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Kept above zero so that real durations stay finite.
    fn speedup(&self) -> f64 {
        self.config().speedup.max(0.001)
    }

    fn shape(&self) -> TranscriptShape {
        self.config().transcript_shape
    }

    /// How a recorded call that ends now delivers its recording.
    fn recording_plan(&self) -> RecordingPlan {
        let config = self.config();
        RecordingPlan {
            recorded: true,
            shape: config.recording_shape,
            endpoint: config.s3_endpoint.clone(),
        }
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
    let mut body = cb.body.clone();
    if let Some((upload, mut failed)) = cb.upload.clone() {
        match upload.put(http).await {
            Ok(()) => tracing::info!(key = %upload.key, "recording written"),
            Err(why) => {
                tracing::warn!(error = %why, "recording not written");
                failed["properties"]["error_message"] = json!(why);
                body = failed;
            }
        }
    }
    let event = &body["event_type"];
    for attempt in 1..=CALLBACK_ATTEMPTS {
        let outcome = http
            .post(&cb.url)
            .json(&body)
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

fn invalid_id() -> Response {
    error(StatusCode::BAD_REQUEST, "error", "Invalid conversation_id")
}

fn bad_request(what: impl std::fmt::Display) -> Response {
    error(
        StatusCode::BAD_REQUEST,
        "error",
        &format!("Invalid request: {what}"),
    )
}

fn status_or_503(status: u16) -> StatusCode {
    StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE)
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
        faults::judge(&mut state.faults, route, body)
    };
    if verdict.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(verdict.latency_ms)).await;
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
    if let Some(status) = verdict.fail {
        return Err(error(status_or_503(status), "error", "simulated failure"));
    }
    Ok(verdict)
}

/// The timers Tavus runs from a call's creation.
#[derive(Debug, Clone, Copy)]
enum Timer {
    MaxCallDuration,
    ParticipantAbsent,
}

impl Timer {
    fn seconds(self, c: &Conversation) -> u32 {
        match self {
            Timer::MaxCallDuration => c.max_call_duration,
            Timer::ParticipantAbsent => c.absent_timeout,
        }
    }
}

/// Runs `timer` for `c` in simulated time; when it is due, the call ends unless it has already
/// (or, for the absent timer, someone joined).
fn schedule(sim: &Sim, c: &Conversation, timer: Timer) {
    let seconds = timer.seconds(c);
    let real = Duration::from_secs_f64(f64::from(seconds) / sim.speedup());
    let at = c.created_at + chrono::Duration::seconds(i64::from(seconds));
    let (sim, id) = (sim.clone(), c.id.clone());
    tokio::spawn(async move {
        tokio::time::sleep(real).await;
        let callbacks = fire(&sim, &id, timer, at);
        sim.send(callbacks);
    });
}

fn fire(sim: &Sim, id: &str, timer: Timer, at: chrono::DateTime<Utc>) -> Vec<Callback> {
    let (shape, plan) = (sim.shape(), sim.recording_plan());
    let mut state = sim.state();
    let plan = plan.if_joined(state.conversations.get(id));
    let ending = match timer {
        Timer::MaxCallDuration => {
            Ending::with("max_call_duration reached", TranscriptSpec::shaped(shape))
        }
        Timer::ParticipantAbsent => {
            let Some(c) = state.conversations.get_mut(id) else {
                return Vec::new();
            };
            c.absent_timer_done = true;
            if c.joins > 0 {
                return Vec::new();
            }
            // Nobody joined, so nobody spoke.
            Ending::with(
                "participant_absent_timeout reached",
                TranscriptSpec::silent(shape),
            )
        }
    };
    state.end(id, at, ending.recorded(plan)).unwrap_or_default()
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
    let (max_concurrent, require_replica, test_mode_url, clock_offset_ms) = {
        let config = sim.config();
        (
            config.max_concurrent,
            config.require_replica,
            config.test_mode_url,
            config.clock_offset_ms,
        )
    };
    if let Err(message) = request.validate(require_replica) {
        return error(StatusCode::BAD_REQUEST, "error", &message);
    }
    let (conversation, after, joined) = {
        let mut state = sim.state();
        if verdict.at_capacity || state.active_count() >= max_concurrent {
            return error(
                StatusCode::BAD_REQUEST,
                "message",
                "User has reached maximum concurrent conversations",
            );
        }
        let now = Utc::now() + chrono::Duration::milliseconds(clock_offset_ms);
        let conversation = state.create(&request, now, test_mode_url);
        let after = faults::after_create(&mut state.faults, &body);
        let joined = if conversation.test_mode {
            None
        } else {
            state.replica_joined(&conversation.id, now + chrono::Duration::seconds(3))
        };
        (conversation, after, joined)
    };
    // Everything the call does happens before the answer, which a fault may withhold.
    sim.send(joined.into_iter().collect());
    if !conversation.test_mode {
        schedule(&sim, &conversation, Timer::MaxCallDuration);
        schedule(&sim, &conversation, Timer::ParticipantAbsent);
    }
    answer_create(&conversation, after).await
}

async fn answer_create(c: &Conversation, after: AfterCreate) -> Response {
    if let Some(status) = after.fail {
        return error(
            status_or_503(status),
            "error",
            "simulated failure after the conversation was created",
        );
    }
    if let Some(ms) = after.hang_ms {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    let mut body = State::view(c, false);
    if let Some(token) = &c.meeting_token {
        body["meeting_token"] = json!(token);
    }
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
    query: Result<Query<GetQuery>, QueryRejection>,
) -> Response {
    if let Err(r) = gate(&sim, "GET /v2/conversations/{id}", &headers, b"").await {
        return r;
    }
    let Query(q) = match query {
        Ok(q) => q,
        Err(e) => return bad_request(e),
    };
    match sim.state().live(&id) {
        Some(c) => Json(State::view(c, q.verbose.unwrap_or(false))).into_response(),
        None => invalid_id(),
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
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Response {
    if let Err(r) = gate(&sim, "GET /v2/conversations", &headers, b"").await {
        return r;
    }
    let Query(q) = match query {
        Ok(q) => q,
        Err(e) => return bad_request(e),
    };
    let lag = Duration::from_millis(sim.config().list_lag_ms);
    let state = sim.state();
    let mut all: Vec<_> = state
        .conversations
        .values()
        .filter(|c| !c.deleted)
        .filter(|c| c.created_instant.elapsed() >= lag)
        .filter(|c| match q.status.as_deref() {
            Some("active") => c.ended.is_none(),
            Some("ended") => c.ended.is_some(),
            _ => true,
        })
        .collect();
    all.sort_by_key(|c| std::cmp::Reverse((c.created_at, c.seq)));
    let limit = q.limit.unwrap_or(10).max(1);
    let page = q.page.unwrap_or(1).max(1);
    let data: Vec<Value> = all
        .iter()
        .skip((page - 1).saturating_mul(limit))
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
    let (speedup, shape, plan) = (sim.speedup(), sim.shape(), sim.recording_plan());
    let callbacks = {
        let mut state = sim.state();
        let Some(c) = state.live(&id) else {
            return invalid_id();
        };
        let at = c.simulated_now(speedup);
        let ending = Ending::with(
            "end_conversation_endpoint_hit",
            TranscriptSpec::shaped(shape),
        )
        .recorded(plan.if_joined(Some(c)));
        state.end(&id, at, ending)
    };
    sim.send(callbacks.unwrap_or_default());
    StatusCode::OK.into_response()
}

#[derive(Deserialize)]
struct DeleteQuery {
    #[serde(default)]
    hard: Option<bool>,
}

async fn delete(
    AxumState(sim): AxumState<Sim>,
    headers: HeaderMap,
    Path(id): Path<String>,
    query: Result<Query<DeleteQuery>, QueryRejection>,
) -> Response {
    if let Err(r) = gate(&sim, "DELETE /v2/conversations/{id}", &headers, b"").await {
        return r;
    }
    let Query(q) = match query {
        Ok(q) => q,
        Err(e) => return bad_request(e),
    };
    let (speedup, shape, plan) = (sim.speedup(), sim.shape(), sim.recording_plan());
    let mut state = sim.state();
    let plan = plan.if_joined(state.conversations.get(&id));
    let ending =
        Ending::with("daily_room_has_been_deleted", TranscriptSpec::shaped(shape)).recorded(plan);
    let deleted = state.delete(&id, q.hard.unwrap_or(false), ending, speedup);
    drop(state);
    match deleted {
        Some(callbacks) => {
            sim.send(callbacks);
            StatusCode::NO_CONTENT.into_response()
        }
        None => invalid_id(),
    }
}

fn no_such_conversation() -> Response {
    error(StatusCode::NOT_FOUND, "error", "no such conversation")
}

async fn control_end(
    AxumState(sim): AxumState<Sim>,
    Path(id): Path<String>,
    body: Result<Json<ControlEnd>, JsonRejection>,
) -> Response {
    let body = match body {
        Ok(Json(body)) => body,
        Err(e) => return bad_request(e),
    };
    if let Err(message) = body.validate() {
        return bad_request(message);
    }
    let shape = body.transcript_shape.unwrap_or_else(|| sim.shape());
    let plan = sim.recording_plan();
    let ending = Ending {
        reason: body.shutdown_reason,
        shutdown_event: body.shutdown_event,
        transcript: body.transcript.then_some(TranscriptSpec {
            shape,
            turns: body.turns,
            extra_turns: body.extra_turns,
        }),
        recording: RecordingPlan {
            recorded: body.recorded,
            shape: body.recording_shape.unwrap_or(plan.shape),
            endpoint: plan.endpoint,
        },
    };
    let callbacks = {
        let mut state = sim.state();
        let Some(c) = state.live(&id) else {
            return no_such_conversation();
        };
        let lasted = chrono::Duration::milliseconds((body.duration_seconds * 1000.0) as i64);
        let at = c.created_at + lasted;
        state.end(&id, at, ending)
    };
    sim.send(callbacks.unwrap_or_default());
    StatusCode::NO_CONTENT.into_response()
}

async fn control_join(
    AxumState(sim): AxumState<Sim>,
    Path(id): Path<String>,
    body: Result<Json<ControlJoin>, JsonRejection>,
) -> Response {
    let body = match body {
        Ok(Json(body)) => body,
        Err(e) => return bad_request(e),
    };
    let speedup = sim.speedup();
    match sim.state().join(&id, &body.url, speedup) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(refusal) => error(status_or_503(refusal.status()), "error", refusal.message()),
    }
}

async fn control_conversation(AxumState(sim): AxumState<Sim>, Path(id): Path<String>) -> Response {
    let speedup = sim.speedup();
    match sim.state().conversations.get(&id) {
        Some(c) => Json(State::control_view(c, speedup)).into_response(),
        None => no_such_conversation(),
    }
}

async fn control_faults(
    AxumState(sim): AxumState<Sim>,
    faults: Result<Json<Faults>, JsonRejection>,
) -> Response {
    match faults {
        Ok(Json(faults)) => {
            sim.state().faults.push(faults);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => bad_request(e),
    }
}

/// Forgets every fault rule (counted or not); calls, counts and settings stay.
async fn clear_faults(AxumState(sim): AxumState<Sim>) -> Response {
    sim.state().faults.clear();
    StatusCode::NO_CONTENT.into_response()
}

fn config_view(config: &SimConfig) -> Value {
    json!({
        "transcript_shape": config.transcript_shape,
        "test_mode_url": config.test_mode_url,
        "require_replica": config.require_replica,
        "recording_shape": config.recording_shape,
        "s3_endpoint": config.s3_endpoint,
    })
}

async fn control_get_config(AxumState(sim): AxumState<Sim>) -> Response {
    Json(config_view(&sim.config())).into_response()
}

/// Changes settings of a running simulator, for a stack whose command line a test cannot set.
async fn control_set_config(
    AxumState(sim): AxumState<Sim>,
    change: Result<Json<ControlConfig>, JsonRejection>,
) -> Response {
    let change = match change {
        Ok(Json(change)) => change,
        Err(e) => return bad_request(e),
    };
    let mut config = sim.config();
    if let Some(shape) = change.transcript_shape {
        config.transcript_shape = shape;
    }
    if let Some(url) = change.test_mode_url {
        config.test_mode_url = url;
    }
    if let Some(required) = change.require_replica {
        config.require_replica = required;
    }
    if let Some(shape) = change.recording_shape {
        config.recording_shape = shape;
    }
    Json(config_view(&config)).into_response()
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
    Json(json!({
        "requests": state.requests,
        "active": state.active_count(),
        "conversations": state.conversations.len(),
        "joins": state.joins(),
    }))
    .into_response()
}

/// Every conversation ever created (hard-deleted ones included), as a reconciliation needs it.
async fn control_history(AxumState(sim): AxumState<Sim>) -> Response {
    let state = sim.state();
    let record = |c: &state::Conversation, deleted: Option<&str>| {
        json!({
            "conversation_id": c.id,
            "callback_url": c.callback_url,
            "test_mode": c.test_mode,
            "status": if c.ended.is_some() { "ended" } else { "active" },
            "created_at": model::tavus_time(c.created_at),
            "ended_at": c.ended.as_ref().map(|e| model::tavus_time(e.at)),
            "shutdown_reason": c.ended.as_ref().and_then(|e| e.reason.clone()),
            "deleted": deleted,
        })
    };
    let mut all: Vec<Value> = state
        .conversations
        .values()
        .map(|c| record(c, c.deleted.then_some("soft")))
        .collect();
    all.extend(state.forgotten.iter().map(|c| record(c, Some("hard"))));
    Json(json!({ "conversations": all })).into_response()
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
        .route("/v2/conversations/{id}", get(get_one).delete(delete))
        .route("/v2/conversations/{id}/end", post(end))
        .route("/_sim/conversations/{id}", get(control_conversation))
        .route("/_sim/conversations/{id}/end", post(control_end))
        .route("/_sim/conversations/{id}/join", post(control_join))
        .route("/_sim/faults", post(control_faults).delete(clear_faults))
        .route(
            "/_sim/config",
            get(control_get_config).post(control_set_config),
        )
        .route("/_sim/keys", post(control_keys))
        .route("/_sim/stats", get(control_stats))
        .route("/_sim/history", get(control_history))
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
