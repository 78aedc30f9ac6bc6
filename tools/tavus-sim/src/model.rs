//! The request bodies Tavus documents, validated as Tavus does: unknown fields and values out of
//! range get a 400 with `{"error": ...}`.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateConversation {
    pub replica_id: Option<String>,
    pub face_id: Option<String>,
    pub persona_id: Option<String>,
    pub pal_id: Option<String>,
    pub audio_only: Option<bool>,
    pub callback_url: Option<String>,
    pub conversation_name: Option<String>,
    pub conversational_context: Option<String>,
    pub custom_greeting: Option<String>,
    pub memory_stores: Option<Vec<String>>,
    pub document_ids: Option<Vec<String>>,
    pub document_retrieval_strategy: Option<String>,
    pub document_tags: Option<Vec<String>>,
    pub test_mode: Option<bool>,
    pub require_auth: Option<bool>,
    pub max_participants: Option<u32>,
    pub properties: Option<Properties>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Properties {
    pub max_call_duration: Option<u32>,
    pub participant_left_timeout: Option<u32>,
    pub participant_absent_timeout: Option<u32>,
    pub enable_recording: Option<bool>,
    pub enable_closed_captions: Option<bool>,
    pub apply_greenscreen: Option<bool>,
    pub language: Option<String>,
    pub recording_s3_bucket_name: Option<String>,
    pub recording_s3_bucket_region: Option<String>,
    pub aws_assume_role_arn: Option<String>,
}

/// Tavus's documented default and ceiling for `max_call_duration`.
pub const MAX_CALL_DURATION: u32 = 3600;

impl CreateConversation {
    pub fn validate(&self) -> Result<(), String> {
        let props = self.properties.clone().unwrap_or_default();
        if let Some(d) = props.max_call_duration
            && !(1..=MAX_CALL_DURATION).contains(&d)
        {
            return Err(format!(
                "max_call_duration must be between 1 and {MAX_CALL_DURATION} seconds"
            ));
        }
        if self.max_participants.is_some_and(|m| m < 2) {
            return Err("max_participants must be at least 2".into());
        }
        if let Some(strategy) = &self.document_retrieval_strategy
            && !["speed", "quality", "balanced"].contains(&strategy.as_str())
        {
            return Err("document_retrieval_strategy must be speed, quality or balanced".into());
        }
        if let Some(url) = &self.callback_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err("callback_url must be a valid URL".into());
        }
        if self.replica_id.is_some() && self.face_id.is_some() {
            return Err("send replica_id or face_id, not both".into());
        }
        if self.persona_id.is_some() && self.pal_id.is_some() {
            return Err("send persona_id or pal_id, not both".into());
        }
        Ok(())
    }
}

/// `POST /_sim/conversations/{id}/end`: end a call as if it had lasted `duration_seconds`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControlEnd {
    pub duration_seconds: f64,
    #[serde(default = "default_reason")]
    pub shutdown_reason: String,
}

fn default_reason() -> String {
    "participant_left_timeout reached".into()
}

/// `POST /_sim/faults`: a rule for what the next requests to the v2 API meet. Rules add up; a
/// rule with `when_body_contains` applies only to requests whose body contains that text, so
/// tests sharing one simulator can each target their own requests.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Faults {
    #[serde(default)]
    pub when_body_contains: Option<String>,
    /// The next this-many requests fail with `fail_status`.
    #[serde(default)]
    pub fail_next: u32,
    #[serde(default = "default_fail_status")]
    pub fail_status: u16,
    /// Every request waits this long before it is answered.
    #[serde(default)]
    pub latency_ms: u64,
    /// The next this-many creates get the concurrency-limit 400.
    #[serde(default)]
    pub at_capacity_next: u32,
}

fn default_fail_status() -> u16 {
    503
}
