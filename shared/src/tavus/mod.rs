//! The Tavus CVI client: create, end and read conversations (reference/tavus-api.md).
//!
//! One `reqwest` client (rustls) per execution environment. Retries only on 429, 5xx and
//! connection errors, with backoff and jitter, inside the caller's deadline. The concurrency-limit
//! 400 is its own error. A 401 fetches the key again from Secrets Manager once and retries once.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;

use crate::domain::{SessionType, minutes::TAVUS_MAX_CALL_MINUTES};
use crate::secrets::{FetchSecret, SecretCache};

mod config;
mod context;
mod error;
pub mod model;
mod retry;

pub use config::{Companion, DEFAULT_BASE_URL, TavusConfig, TavusConfigError};
pub use context::conversational_context;
pub use error::TavusError;
pub use model::{Conversation, ConversationDetails, ConversationEvent, CreateConversationBody};
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
}

impl std::fmt::Debug for NewConversation<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewConversation")
            .field("session_type", &self.session_type)
            .field("conversation_name", &self.conversation_name)
            .field("participant_count", &self.participant_count)
            .field("reserved_minutes", &self.reserved_minutes)
            .finish_non_exhaustive()
    }
}

pub trait CreateConversation {
    fn create_conversation(
        &self,
        request: &NewConversation<'_>,
        deadline: Instant,
    ) -> impl Future<Output = Result<Conversation, TavusError>> + Send;
}

pub trait EndConversation {
    fn end_conversation(
        &self,
        conversation_id: &str,
        deadline: Instant,
    ) -> impl Future<Output = Result<(), TavusError>> + Send;
}

pub trait GetConversation {
    fn get_conversation(
        &self,
        conversation_id: &str,
        deadline: Instant,
    ) -> impl Future<Output = Result<ConversationDetails, TavusError>> + Send;
}

/// The Tavus message when the account's concurrent-conversation limit is reached.
fn is_capacity_message(message: &str) -> bool {
    let lower = message.to_ascii_lowercase();
    lower.contains("concurrent") && (lower.contains("maximum") || lower.contains("limit"))
}

pub struct TavusClient<F> {
    http: reqwest::Client,
    config: TavusConfig,
    keys: Arc<SecretCache<F>>,
}

impl<F: FetchSecret> TavusClient<F> {
    pub fn new(config: TavusConfig, keys: Arc<SecretCache<F>>) -> Result<Self, TavusError> {
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            // Lambda freezes idle environments; a pooled connection idle longer than this is
            // likely dead on the other side, so do not reuse it.
            .pool_idle_timeout(Duration::from_secs(50))
            .user_agent(concat!("awaknow-backend/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| TavusError::Client(e.to_string()))?;
        Ok(TavusClient { http, config, keys })
    }

    pub fn config(&self) -> &TavusConfig {
        &self.config
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
            max_participants: match request.session_type {
                // The owner, the invited participants and the replica.
                SessionType::ResolveTogether => u32::try_from(request.participant_count + 2).ok(),
                SessionType::ReflectAlone => None,
            },
            test_mode: self.config.test_mode,
            properties: model::ConversationProperties {
                max_call_duration: minutes * 60,
                participant_left_timeout: self.config.participant_left_timeout,
            },
        }
    }

    /// Sends one logical request: retries and the key refresh happen here.
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
        deadline: Instant,
    ) -> Result<(StatusCode, bytes::Bytes), TavusError> {
        let url = format!("{}{}", self.config.base_url, path);
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
            let mut request = self
                .http
                .request(method.clone(), &url)
                .header("x-api-key", values.tavus_api_key.expose())
                .timeout(remaining.min(self.config.request_timeout));
            if let Some(body) = body {
                request = request.json(body);
            }
            let outcome = request.send().await;
            let retry_after = match outcome {
                Ok(response) => {
                    let status = response.status();
                    let retry_after = response
                        .headers()
                        .get(reqwest::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse::<u64>().ok())
                        .map(Duration::from_secs);
                    let bytes = response.bytes().await.unwrap_or_default();
                    tracing::debug!(%method, path, status = status.as_u16(), attempt = attempts, "tavus answered");
                    if status.is_success() {
                        return Ok((status, bytes));
                    }
                    let message = error_message(&bytes);
                    if status == StatusCode::UNAUTHORIZED {
                        if refreshed {
                            return Err(TavusError::Unauthorized);
                        }
                        // The key may have been rotated: fetch it again, once, and retry at once.
                        tracing::warn!(path, "tavus refused the api key; fetching it again");
                        values = self.keys.refresh(&values).await?;
                        refreshed = true;
                        attempts -= 1;
                        continue;
                    }
                    if status == StatusCode::BAD_REQUEST && is_capacity_message(&message) {
                        return Err(TavusError::AtCapacity);
                    }
                    if !is_retryable_status(status.as_u16()) {
                        return Err(TavusError::Rejected {
                            status: status.as_u16(),
                            message,
                        });
                    }
                    last = format!("HTTP {}", status.as_u16());
                    retry_after
                }
                Err(err) => {
                    // Connection refused or reset, or this attempt's timeout: worth another try.
                    last = if err.is_timeout() {
                        "timed out".to_owned()
                    } else if err.is_connect() {
                        "could not connect".to_owned()
                    } else {
                        format!("request failed: {}", err.without_url())
                    };
                    tracing::debug!(%method, path, attempt = attempts, error = %last, "tavus request failed");
                    None
                }
            };
            if attempts >= self.config.retry.max_attempts {
                return Err(TavusError::Unavailable { attempts, last });
            }
            let wait = self
                .config
                .retry
                .delay(attempts)
                .max(retry_after.unwrap_or_default());
            if Instant::now() + wait >= deadline {
                return Err(TavusError::DeadlineExceeded { attempts, last });
            }
            tokio::time::sleep(wait).await;
        }
    }

    async fn call_json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
        deadline: Instant,
    ) -> Result<T, TavusError> {
        let (_, bytes) = self.call(method, path, body, deadline).await?;
        serde_json::from_slice(&bytes).map_err(|e| TavusError::BadResponse(e.to_string()))
    }
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
        return Err(TavusError::Rejected {
            status: 400,
            message: "invalid conversation_id".into(),
        });
    }
    Ok(format!("/v2/conversations/{conversation_id}"))
}

impl<F: FetchSecret> CreateConversation for TavusClient<F> {
    async fn create_conversation(
        &self,
        request: &NewConversation<'_>,
        deadline: Instant,
    ) -> Result<Conversation, TavusError> {
        let body = serde_json::to_value(self.create_body(request))
            .map_err(|e| TavusError::Client(e.to_string()))?;
        self.call_json(Method::POST, "/v2/conversations", Some(&body), deadline)
            .await
    }
}

impl<F: FetchSecret> EndConversation for TavusClient<F> {
    async fn end_conversation(
        &self,
        conversation_id: &str,
        deadline: Instant,
    ) -> Result<(), TavusError> {
        let path = format!("{}/end", conversation_path(conversation_id)?);
        self.call(Method::POST, &path, None, deadline)
            .await
            .map(|_| ())
    }
}

impl<F: FetchSecret> GetConversation for TavusClient<F> {
    async fn get_conversation(
        &self,
        conversation_id: &str,
        deadline: Instant,
    ) -> Result<ConversationDetails, TavusError> {
        let path = format!("{}?verbose=true", conversation_path(conversation_id)?);
        self.call_json(Method::GET, &path, None, deadline).await
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
    fn conversation_ids_cannot_change_the_path() {
        assert!(conversation_path("c123abc").is_ok());
        for bad in ["", "../x", "c1/end", "c1?x=1"] {
            assert!(conversation_path(bad).is_err(), "{bad}");
        }
    }
}
