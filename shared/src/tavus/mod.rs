//! The Tavus CVI client: create, end, delete, list and read conversations through Tavus's v2
//! HTTP API.
//!
//! One `reqwest` client (rustls) per execution environment. Retries only on 429, 5xx and
//! connection errors, with backoff and jitter, inside the caller's deadline. The concurrency-limit
//! 400 is its own error. A 401 fetches the key again from Secrets Manager once and retries once.

use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;

use crate::domain::{SessionType, minutes::TAVUS_MAX_CALL_MINUTES};
use crate::metrics::emit::{self, TavusOperation, TavusOutcome};
use crate::secrets::{FetchSecret, SecretCache, SecretValues, SecretsManagerSource};

mod config;
mod context;
mod error;
pub mod model;
mod retry;
mod tls;

pub use config::{Companion, DEFAULT_BASE_URL, TavusConfig, TavusConfigError};
pub use context::conversational_context;
pub use error::TavusError;
pub use model::{
    Conversation, ConversationDetails, ConversationEvent, ConversationPage, CreateConversationBody,
};
pub use retry::{RetryPolicy, is_retryable_status};

/// What a session asks of Tavus. The prompt and context are borrowed for the one call and never
/// stored or logged.
#[derive(Clone)]
pub struct NewConversation<'a> {
    pub session_type: SessionType,
    pub conversation_name: String,
    pub prompt: &'a str,
    pub participant_context: Option<&'a str>,
    /// The invited participants (the owner and the replica are not counted).
    pub participant_count: usize,
    pub callback_url: String,
    pub reserved_minutes: u32,
    /// Where to record the call, when the session asked for a recording.
    pub recording: Option<&'a crate::recording_bucket::RecordingTarget>,
}

impl std::fmt::Debug for NewConversation<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewConversation")
            .field("session_type", &self.session_type)
            .field("conversation_name", &self.conversation_name)
            .field("participant_count", &self.participant_count)
            .field("reserved_minutes", &self.reserved_minutes)
            .field("recording", &self.recording.is_some())
            .finish_non_exhaustive()
    }
}

/// Conversations per page when this backend lists them.
pub const LIST_PAGE_SIZE: u32 = 100;
/// How many pages of active conversations a lost create looks through for its conversation.
const LOST_CREATE_PAGES: u32 = 3;

/// The Tavus message when the account's concurrent-conversation limit is reached.
fn is_capacity_message(message: &str) -> bool {
    let lower = message.to_ascii_lowercase();
    lower.contains("concurrent") && (lower.contains("maximum") || lower.contains("limit"))
}

/// The client as the functions use it: its key read from Secrets Manager.
pub type Tavus = TavusClient<SecretsManagerSource>;

pub struct TavusClient<F> {
    /// Built at the first request, not at start: functions that rarely call Tavus should not
    /// pay for it at init. Its trust roots are compiled in (`tls.rs`), so building it is cheap.
    http: OnceLock<reqwest::Client>,
    config: TavusConfig,
    keys: Arc<SecretCache<F>>,
}

impl<F: FetchSecret> TavusClient<F> {
    pub fn new(config: TavusConfig, keys: Arc<SecretCache<F>>) -> Self {
        TavusClient {
            http: OnceLock::new(),
            config,
            keys,
        }
    }

    /// The HTTP client, built on first use. Two first requests at once may both build one; the
    /// first stored is kept.
    fn http(&self) -> Result<&reqwest::Client, TavusError> {
        if let Some(client) = self.http.get() {
            return Ok(client);
        }
        let tls = tls::client_config().map_err(|e| TavusError::Client(e.to_string()))?;
        let built = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .connect_timeout(self.config.connect_timeout)
            // Lambda freezes idle environments; a pooled connection idle longer than this is
            // likely dead on the other side, so do not reuse it.
            .pool_idle_timeout(Duration::from_secs(50))
            .user_agent(concat!("awaknow-backend/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| TavusError::Client(e.to_string()))?;
        Ok(self.http.get_or_init(|| built))
    }

    /// The cache of the secret that holds the Tavus key and the callback signing key.
    pub fn secrets(&self) -> &SecretCache<F> {
        &self.keys
    }

    /// Whether Tavus's copy of a conversation is deleted after the call (`TAVUS_DELETE_AFTER_CALL`).
    pub fn delete_after_call(&self) -> bool {
        self.config.delete_after_call
    }

    /// The body of a create call, as Tavus documents it.
    pub fn create_body(&self, request: &NewConversation<'_>) -> CreateConversationBody {
        let companion = self.config.companion(request.session_type);
        let minutes = request.reserved_minutes.clamp(1, TAVUS_MAX_CALL_MINUTES);
        CreateConversationBody {
            persona_id: companion.persona_id.clone(),
            replica_id: companion.replica_id.clone(),
            conversation_name: request.conversation_name.clone(),
            conversational_context: conversational_context(
                request.session_type,
                request.prompt,
                request.participant_context,
                request.participant_count,
            ),
            callback_url: request.callback_url.clone(),
            require_auth: true,
            max_participants: max_participants(request),
            test_mode: self.config.test_mode,
            properties: model::ConversationProperties {
                max_call_duration: minutes * 60,
                participant_left_timeout: self.config.participant_left_timeout,
                participant_absent_timeout: self.config.participant_absent_timeout,
                enable_recording: request.recording.is_some(),
                recording_s3_bucket_name: request.recording.map(|r| r.bucket.clone()),
                recording_s3_bucket_region: request.recording.map(|r| r.region.clone()),
                aws_assume_role_arn: request.recording.map(|r| r.role_arn.clone()),
            },
        }
    }

    /// Sends one logical request: retries and the key refresh happen here. With `lost_create`
    /// (the conversation's name), an attempt whose answer was lost after Tavus may have acted
    /// on it (a timeout or a 5xx) first looks for the conversation it may have created, so that
    /// trying again never leaves a second one running (see [`TavusClient::recover_lost_create`]).
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
        deadline: Instant,
        lost_create: Option<&str>,
    ) -> Result<Reply, TavusError> {
        let request = Outgoing::new(&self.config.base_url, method, path, body);
        let mut values = self.keys.get().await?;
        let mut refreshed = false;
        let mut attempts = 0;
        let mut last = String::from("no attempt");
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(TavusError::DeadlineExceeded { attempts, last });
            }
            attempts += 1;
            let outcome = self
                .measured_attempt(&request, &values, remaining, attempts)
                .await;
            let (retry_after, maybe_acted) = match outcome {
                Attempt::Done(bytes) => return Ok(Reply::Body(bytes)),
                Attempt::Failed(e) => return Err(e),
                Attempt::KeyRefused if refreshed => return Err(TavusError::Unauthorized),
                Attempt::KeyRefused => {
                    // The key may have been rotated: fetch it again, once, and retry at once.
                    tracing::warn!(path, "tavus refused the api key; fetching it again");
                    values = self.keys.refresh(&values).await?;
                    refreshed = true;
                    attempts -= 1;
                    continue;
                }
                Attempt::Retry {
                    why,
                    retry_after,
                    maybe_acted,
                    ..
                } => {
                    last = why;
                    (retry_after, maybe_acted)
                }
            };
            if let (true, Some(name)) = (maybe_acted, lost_create)
                && let Some(adopted) = self.recover_lost_create_boxed(name, deadline).await
            {
                return Ok(Reply::Adopted(Box::new(adopted)));
            }
            let wait = self.wait_before_retry(attempts, &last, retry_after, deadline)?;
            tokio::time::sleep(wait).await;
        }
    }

    /// How long to wait before attempt `attempts + 1`, or why there is none: the attempts are
    /// used up, or the wait would end past the deadline.
    fn wait_before_retry(
        &self,
        attempts: u32,
        last: &str,
        retry_after: Option<Duration>,
        deadline: Instant,
    ) -> Result<Duration, TavusError> {
        if attempts >= self.config.retry.max_attempts {
            return Err(TavusError::Unavailable {
                attempts,
                last: last.to_owned(),
            });
        }
        let wait = self
            .config
            .retry
            .delay(attempts)
            .max(retry_after.unwrap_or_default());
        if Instant::now() + wait >= deadline {
            return Err(TavusError::DeadlineExceeded {
                attempts,
                last: last.to_owned(),
            });
        }
        Ok(wait)
    }

    /// One attempt, timed and counted in the metrics by how it went.
    async fn measured_attempt(
        &self,
        request: &Outgoing<'_>,
        values: &SecretValues,
        remaining: Duration,
        attempt: u32,
    ) -> Attempt {
        let started = Instant::now();
        let outcome = self.attempt(request, values, remaining, attempt).await;
        emit::tavus_request(request.operation, started.elapsed(), outcome.metric());
        outcome
    }

    /// One HTTP request and what it means for the retry loop.
    async fn attempt(
        &self,
        request: &Outgoing<'_>,
        values: &SecretValues,
        remaining: Duration,
        attempt: u32,
    ) -> Attempt {
        let client = match self.http() {
            Ok(client) => client,
            Err(e) => return Attempt::Failed(e),
        };
        let mut http = client
            .request(request.method.clone(), request.url.as_str())
            .header("x-api-key", values.tavus_api_key.expose())
            .timeout(remaining.min(self.config.request_timeout));
        if let Some(body) = request.body {
            http = http.json(body);
        }
        let response = match http.send().await {
            Ok(response) => response,
            Err(err) => return not_answered(err, request, attempt),
        };
        let status = response.status();
        let retry_after = retry_after(response.headers());
        let bytes = response.bytes().await.unwrap_or_default();
        tracing::debug!(
            method = %request.method,
            path = request.path,
            status = status.as_u16(),
            attempt,
            "tavus answered"
        );
        answered(status, retry_after, bytes)
    }

    /// A create whose answer was lost may have created the conversation all the same. Find it
    /// by its name (the session's own): adopt it when the listing carries what a private room
    /// needs (its URL and meeting token), otherwise end it, so that no conversation runs that no
    /// session holds. Tavus documents no meeting token in listings, so ending is the usual path.
    async fn recover_lost_create(
        &self,
        name: &str,
        deadline: Instant,
        may_adopt: bool,
    ) -> Option<Conversation> {
        let found = match self.find_active_named(name, deadline).await {
            Ok(found) => found?,
            Err(e) => {
                tracing::warn!(error = %e, "could not look for the conversation of a lost create; the sweeper will end it if it exists");
                return None;
            }
        };
        if may_adopt && found.conversation_url.is_some() && found.meeting_token.is_some() {
            tracing::info!(conversation_id = %found.conversation_id, "adopted the conversation of a lost create");
            return Some(found);
        }
        if let Err(e) = self
            .end_conversation(&found.conversation_id, deadline)
            .await
        {
            tracing::warn!(conversation_id = %found.conversation_id, error = %e, "could not end the conversation of a lost create; the sweeper will");
            return None;
        }
        tracing::warn!(conversation_id = %found.conversation_id, "ended the conversation of a lost create");
        // It holds the user's context and no session will ever settle it: delete it too.
        if self.config.delete_after_call
            && let Err(e) = self
                .delete_conversation(&found.conversation_id, deadline)
                .await
        {
            tracing::warn!(conversation_id = %found.conversation_id, error = %e, "could not delete the conversation of a lost create");
        }
        None
    }

    /// Boxed, because the recovery itself sends requests through [`TavusClient::call`]: the
    /// future would otherwise contain itself.
    fn recover_lost_create_boxed<'a>(
        &'a self,
        name: &'a str,
        deadline: Instant,
    ) -> std::pin::Pin<Box<dyn Future<Output = Option<Conversation>> + Send + 'a>> {
        Box::pin(self.recover_lost_create(name, deadline, true))
    }

    async fn find_active_named(
        &self,
        name: &str,
        deadline: Instant,
    ) -> Result<Option<Conversation>, TavusError> {
        for page in 1..=LOST_CREATE_PAGES {
            let listing = self.list_conversations("active", page, deadline).await?;
            let count = listing.data.len();
            if let Some(found) = listing
                .data
                .into_iter()
                .find(|c| c.conversation_name.as_deref() == Some(name))
            {
                return Ok(Some(found));
            }
            if count < LIST_PAGE_SIZE as usize {
                break;
            }
        }
        Ok(None)
    }

    async fn call_json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        deadline: Instant,
    ) -> Result<T, TavusError> {
        match self.call(method, path, None, deadline, None).await? {
            Reply::Body(bytes) => parse(&bytes),
            Reply::Adopted(_) => Err(TavusError::BadResponse("unexpected adoption".into())),
        }
    }
}

/// What one logical request came back with.
enum Reply {
    Body(bytes::Bytes),
    /// The conversation a lost create had made, found and taken over.
    Adopted(Box<Conversation>),
}

enum Attempt {
    Done(bytes::Bytes),
    /// A 401: the key may have been rotated.
    KeyRefused,
    Retry {
        why: String,
        retry_after: Option<Duration>,
        /// Tavus may have acted on the request although its answer was lost.
        maybe_acted: bool,
        metric: TavusOutcome,
    },
    Failed(TavusError),
}

impl Attempt {
    /// How the request went, for the metrics.
    fn metric(&self) -> TavusOutcome {
        match self {
            Attempt::Done(_) => TavusOutcome::Answered,
            Attempt::KeyRefused => TavusOutcome::Unauthorized,
            Attempt::Retry { metric, .. } => *metric,
            Attempt::Failed(TavusError::AtCapacity) => TavusOutcome::AtCapacity,
            Attempt::Failed(TavusError::OutOfCredits) => TavusOutcome::OutOfCredits,
            Attempt::Failed(_) => TavusOutcome::Rejected,
        }
    }
}

/// One logical request, the same for each of its attempts.
struct Outgoing<'a> {
    method: Method,
    /// The base URL and the path.
    url: String,
    path: &'a str,
    body: Option<&'a serde_json::Value>,
    operation: TavusOperation,
}

impl<'a> Outgoing<'a> {
    fn new(
        base_url: &str,
        method: Method,
        path: &'a str,
        body: Option<&'a serde_json::Value>,
    ) -> Self {
        Outgoing {
            url: format!("{base_url}{path}"),
            operation: operation(&method, path),
            method,
            path,
            body,
        }
    }
}

/// A request that got no answer: always worth another attempt.
fn not_answered(err: reqwest::Error, request: &Outgoing<'_>, attempt: u32) -> Attempt {
    // A refused connection never reached Tavus; a timeout or a reset may have.
    let maybe_acted = !err.is_connect();
    let (why, metric) = if err.is_timeout() {
        ("timed out".to_owned(), TavusOutcome::Timeout)
    } else if err.is_connect() {
        ("could not connect".to_owned(), TavusOutcome::Connect)
    } else {
        let why = format!("request failed: {}", err.without_url());
        (why, TavusOutcome::Network)
    };
    tracing::debug!(
        method = %request.method,
        path = request.path,
        attempt,
        error = %why,
        "tavus request failed"
    );
    Attempt::Retry {
        why,
        retry_after: None,
        maybe_acted,
        metric,
    }
}

/// The wait Tavus asks for in `Retry-After`; only whole seconds are understood.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .map(Duration::from_secs)
}

/// What Tavus's answer means for the retry loop.
fn answered(status: StatusCode, retry_after: Option<Duration>, bytes: bytes::Bytes) -> Attempt {
    if status.is_success() {
        return Attempt::Done(bytes);
    }
    if status == StatusCode::UNAUTHORIZED {
        return Attempt::KeyRefused;
    }
    let message = error_message(&bytes);
    if status == StatusCode::BAD_REQUEST && is_capacity_message(&message) {
        return Attempt::Failed(TavusError::AtCapacity);
    }
    if status == StatusCode::PAYMENT_REQUIRED {
        return Attempt::Failed(TavusError::OutOfCredits);
    }
    if !is_retryable_status(status.as_u16()) {
        return Attempt::Failed(TavusError::Rejected {
            status: status.as_u16(),
            message,
        });
    }
    let throttled = status == StatusCode::TOO_MANY_REQUESTS;
    Attempt::Retry {
        why: format!("HTTP {}", status.as_u16()),
        retry_after,
        // A 429 was refused before anything happened; a 5xx may come after the work.
        maybe_acted: !throttled,
        metric: if throttled {
            TavusOutcome::Throttled
        } else {
            TavusOutcome::ServerError
        },
    }
}

/// What a request to Tavus is for, from its method and path (never its conversation id).
fn operation(method: &Method, path: &str) -> TavusOperation {
    match *method {
        Method::DELETE => TavusOperation::Delete,
        Method::POST if path.ends_with("/end") => TavusOperation::End,
        Method::POST => TavusOperation::Create,
        _ if path.starts_with("/v2/conversations?") => TavusOperation::List,
        _ => TavusOperation::Get,
    }
}

fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, TavusError> {
    serde_json::from_slice(bytes).map_err(|e| TavusError::BadResponse(e.to_string()))
}

/// The people allowed in the room, the replica counted as one (Tavus's minimum is 2).
fn max_participants(request: &NewConversation<'_>) -> u32 {
    let people = match request.session_type {
        SessionType::ReflectAlone => 1,
        // The owner and the invited participants.
        SessionType::ResolveTogether => request.participant_count + 1,
    };
    u32::try_from(people + 1).unwrap_or(u32::MAX)
}

/// Tavus's error bodies are `{"error": ...}` or `{"message": ...}`.
fn error_message(body: &[u8]) -> String {
    let json: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    json.as_ref()
        .and_then(|v| v.get("message").or_else(|| v.get("error")))
        .and_then(|v| v.as_str())
        .map(|m| m.chars().take(300).collect())
        .unwrap_or_else(|| String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned())
}

fn conversation_path(conversation_id: &str) -> Result<String, TavusError> {
    // Ids are Tavus's own (`c` + hex); refuse anything that could change the path.
    if conversation_id.is_empty()
        || !conversation_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(TavusError::MalformedId);
    }
    Ok(format!("/v2/conversations/{conversation_id}"))
}

impl<F: FetchSecret> TavusClient<F> {
    pub async fn create_conversation(
        &self,
        request: &NewConversation<'_>,
        deadline: Instant,
    ) -> Result<Conversation, TavusError> {
        let body = serde_json::to_value(self.create_body(request))
            .map_err(|e| TavusError::Client(e.to_string()))?;
        let name = request.conversation_name.as_str();
        match self
            .call(
                Method::POST,
                "/v2/conversations",
                Some(&body),
                deadline,
                Some(name),
            )
            .await
        {
            Ok(Reply::Body(bytes)) => parse(&bytes),
            Ok(Reply::Adopted(conversation)) => Ok(*conversation),
            Err(e) => {
                // The last attempt's answer may have been lost too: leave nothing running.
                if matches!(
                    e,
                    TavusError::Unavailable { .. } | TavusError::DeadlineExceeded { .. }
                ) {
                    let cleanup = Instant::now() + LOST_CREATE_CLEANUP;
                    self.recover_lost_create(name, cleanup, false).await;
                }
                Err(e)
            }
        }
    }
}

/// Time allowed, after a create has given up, to end a conversation its lost answer left.
const LOST_CREATE_CLEANUP: Duration = Duration::from_secs(3);

impl<F: FetchSecret> TavusClient<F> {
    pub async fn end_conversation(
        &self,
        conversation_id: &str,
        deadline: Instant,
    ) -> Result<(), TavusError> {
        let path = format!("{}/end", conversation_path(conversation_id)?);
        self.call(Method::POST, &path, None, deadline, None)
            .await
            .map(|_| ())
    }
}

impl<F: FetchSecret> TavusClient<F> {
    /// Deletes Tavus's copy of a conversation and its assets for good (`?hard=true`). One that
    /// Tavus no longer knows counts as deleted; any other refusal is an error.
    pub async fn delete_conversation(
        &self,
        conversation_id: &str,
        deadline: Instant,
    ) -> Result<(), TavusError> {
        let path = format!("{}?hard=true", conversation_path(conversation_id)?);
        match self.call(Method::DELETE, &path, None, deadline, None).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_unknown_conversation() => Ok(()),
            Err(e) => Err(e),
        }
    }
}

impl<F: FetchSecret> TavusClient<F> {
    /// One page (from 1) of the account's conversations with `status` (`active` or `ended`).
    pub async fn list_conversations(
        &self,
        status: &str,
        page: u32,
        deadline: Instant,
    ) -> Result<ConversationPage, TavusError> {
        if !status.chars().all(|c| c.is_ascii_lowercase()) {
            return Err(TavusError::Client(format!("bad status filter {status:?}")));
        }
        let path = format!("/v2/conversations?status={status}&limit={LIST_PAGE_SIZE}&page={page}");
        self.call_json(Method::GET, &path, deadline).await
    }
}

impl<F: FetchSecret> TavusClient<F> {
    pub async fn get_conversation(
        &self,
        conversation_id: &str,
        deadline: Instant,
    ) -> Result<ConversationDetails, TavusError> {
        let path = format!("{}?verbose=true", conversation_path(conversation_id)?);
        self.call_json(Method::GET, &path, deadline).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_capacity_message_is_recognised() {
        assert!(is_capacity_message(
            "User has reached maximum concurrent conversations"
        ));
        assert!(!is_capacity_message("Invalid conversation_id"));
    }

    #[test]
    fn error_messages_come_from_either_documented_field() {
        assert_eq!(
            error_message(br#"{"error": "Invalid conversation_id"}"#),
            "Invalid conversation_id"
        );
        assert_eq!(
            error_message(br#"{"message": "Invalid access token"}"#),
            "Invalid access token"
        );
        assert_eq!(error_message(b"oops"), "oops");
    }

    #[test]
    fn each_request_is_named_by_its_operation() {
        let cases = [
            (Method::POST, "/v2/conversations", TavusOperation::Create),
            (
                Method::POST,
                "/v2/conversations/c1/end",
                TavusOperation::End,
            ),
            (
                Method::GET,
                "/v2/conversations/c1?verbose=true",
                TavusOperation::Get,
            ),
            (
                Method::GET,
                "/v2/conversations?status=active&limit=100&page=1",
                TavusOperation::List,
            ),
            (
                Method::DELETE,
                "/v2/conversations/c1?hard=true",
                TavusOperation::Delete,
            ),
        ];
        for (method, path, expected) in cases {
            assert_eq!(operation(&method, path), expected, "{method} {path}");
        }
    }

    #[test]
    fn each_attempt_is_counted_by_how_it_went() {
        let retry = |metric| Attempt::Retry {
            why: String::new(),
            retry_after: None,
            maybe_acted: false,
            metric,
        };
        let rejected = TavusError::Rejected {
            status: 404,
            message: String::new(),
        };
        let cases = [
            (Attempt::Done(bytes::Bytes::new()), TavusOutcome::Answered),
            (Attempt::KeyRefused, TavusOutcome::Unauthorized),
            (
                Attempt::Failed(TavusError::AtCapacity),
                TavusOutcome::AtCapacity,
            ),
            (
                Attempt::Failed(TavusError::OutOfCredits),
                TavusOutcome::OutOfCredits,
            ),
            (Attempt::Failed(rejected), TavusOutcome::Rejected),
            (retry(TavusOutcome::Throttled), TavusOutcome::Throttled),
            (retry(TavusOutcome::Timeout), TavusOutcome::Timeout),
        ];
        for (attempt, expected) in cases {
            assert_eq!(attempt.metric(), expected);
        }
    }

    /// Tavus's 402 (out of credits) is its own refusal, not retried; an answer we do not know
    /// keeps the generic one, and its message never reaches the error's text.
    #[test]
    fn out_of_credits_is_told_apart_and_unknown_answers_stay_generic() {
        let body = bytes::Bytes::from_static(
            br#"{"message": "The user is out of conversational credits"}"#,
        );
        assert!(matches!(
            answered(StatusCode::PAYMENT_REQUIRED, None, body),
            Attempt::Failed(TavusError::OutOfCredits)
        ));
        let unknown = bytes::Bytes::from_static(br#"{"message": "my week was hard"}"#);
        let Attempt::Failed(error) = answered(StatusCode::FORBIDDEN, None, unknown) else {
            panic!("a refusal")
        };
        assert!(matches!(error, TavusError::Rejected { status: 403, .. }));
        let text = error.to_string();
        assert!(text.contains("403") && !text.contains("my week"), "{text}");
    }

    #[test]
    fn conversation_ids_cannot_change_the_path() {
        assert!(conversation_path("c123abc").is_ok());
        for bad in ["", "../x", "c1/end", "c1?x=1"] {
            assert!(conversation_path(bad).is_err(), "{bad}");
        }
    }
}
