//! The request bodies Tavus documents, validated as Tavus does: unknown fields and values out of
//! range get a 400 with `{"error": ...}`. Also the bodies of the `/_sim` control endpoints.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

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

/// Tavus's documented default for `participant_absent_timeout`.
pub const PARTICIPANT_ABSENT_TIMEOUT: u32 = 300;

/// A timestamp as Tavus writes it in its answers and callbacks: UTC, microseconds, `Z`.
pub fn tavus_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

impl CreateConversation {
    /// Checks the body as Tavus documents it. `require_replica`: a create must name a replica
    /// (face) or a persona (PAL) that brings its default one; see [`crate::SimConfig`].
    pub fn validate(&self, require_replica: bool) -> Result<(), String> {
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
        if props.recording_s3_bucket_name.is_some()
            && (props.recording_s3_bucket_region.is_none() || props.aws_assume_role_arn.is_none())
        {
            return Err(
                "recording_s3_bucket_name needs recording_s3_bucket_region and aws_assume_role_arn"
                    .into(),
            );
        }
        if require_replica && !self.names_a_replica() {
            return Err(
                "a replica is required: send replica_id (face_id) or a persona_id (pal_id) with a default replica"
                    .into(),
            );
        }
        Ok(())
    }

    /// The simulator treats every persona as having a default replica.
    fn names_a_replica(&self) -> bool {
        [
            &self.replica_id,
            &self.face_id,
            &self.persona_id,
            &self.pal_id,
        ]
        .iter()
        .any(|id| id.is_some())
    }

    /// Where the call is recorded: only with `enable_recording` and a bucket.
    pub fn recording_target(&self) -> Option<crate::recording::RecordingTarget> {
        let p = self.properties.as_ref()?;
        if p.enable_recording != Some(true) {
            return None;
        }
        Some(crate::recording::RecordingTarget {
            bucket: p.recording_s3_bucket_name.clone()?,
            region: p.recording_s3_bucket_region.clone().unwrap_or_default(),
            role_arn: p.aws_assume_role_arn.clone().unwrap_or_default(),
        })
    }

    pub fn absent_timeout(&self) -> u32 {
        self.properties
            .as_ref()
            .and_then(|p| p.participant_absent_timeout)
            .unwrap_or(PARTICIPANT_ABSENT_TIMEOUT)
    }
}

/// Which keys the turns of a transcript carry. Tavus's example shows `classic` (`role`,
/// `content`); third parties report `extended` turns that add `timestamp`,
/// `seconds_from_start`, `duration` and `inference_id` (reference "Uncertain" item 2).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TranscriptShape {
    Classic,
    #[default]
    Extended,
}

impl FromStr for TranscriptShape {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "classic" => Ok(TranscriptShape::Classic),
            "extended" => Ok(TranscriptShape::Extended),
            other => Err(format!(
                "transcript shape must be classic or extended, not {other}"
            )),
        }
    }
}

/// What `conversation_url` a `test_mode` create carries; the docs do not say, so both cases
/// can be simulated: `room` (a room URL as for any call) or `none` (the key is left out).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TestModeUrl {
    #[default]
    Room,
    None,
}

impl FromStr for TestModeUrl {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "room" => Ok(TestModeUrl::Room),
            "none" => Ok(TestModeUrl::None),
            other => Err(format!("test mode url must be room or none, not {other}")),
        }
    }
}

impl fmt::Display for TranscriptShape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TranscriptShape::Classic => "classic",
            TranscriptShape::Extended => "extended",
        })
    }
}

/// `POST /_sim/conversations/{id}/end`: end a call as if it had lasted `duration_seconds`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControlEnd {
    pub duration_seconds: f64,
    #[serde(default = "default_reason")]
    pub shutdown_reason: String,
    /// `false`: no `system.shutdown` is recorded or sent (test mode, a replica that never
    /// joined, a deleted room).
    #[serde(default = "yes")]
    pub shutdown_event: bool,
    /// `false`: no `application.transcription_ready` is recorded or sent.
    #[serde(default = "yes")]
    pub transcript: bool,
    /// This call's transcript shape, instead of the simulator's.
    #[serde(default)]
    pub transcript_shape: Option<TranscriptShape>,
    /// Replaces the spoken turns (everything after the system turn), sent verbatim.
    #[serde(default)]
    pub turns: Option<Vec<Value>>,
    /// Appended verbatim after the spoken turns, e.g. turns without usable content.
    #[serde(default)]
    pub extra_turns: Vec<Value>,
    /// For a call created with recording: `false` when nobody started the recording in the
    /// call (nothing is written or announced).
    #[serde(default = "yes")]
    pub recorded: bool,
    /// This call's `recording_ready` shape, instead of the simulator's.
    #[serde(default)]
    pub recording_shape: Option<crate::recording::RecordingShape>,
}

impl ControlEnd {
    pub fn validate(&self) -> Result<(), String> {
        if !self.duration_seconds.is_finite() || self.duration_seconds < 0.0 {
            return Err("duration_seconds must be a number >= 0".into());
        }
        Ok(())
    }
}

fn default_reason() -> String {
    "participant_left_timeout reached".into()
}

fn yes() -> bool {
    true
}

/// `POST /_sim/conversations/{id}/join`: a person opens `url` to join the call's room.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControlJoin {
    pub url: String,
}

/// `POST /_sim/config`: changes these settings of a running simulator; absent fields stay.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControlConfig {
    pub transcript_shape: Option<TranscriptShape>,
    pub test_mode_url: Option<TestModeUrl>,
    pub require_replica: Option<bool>,
    pub recording_shape: Option<crate::recording::RecordingShape>,
}

/// `POST /_sim/faults`: a rule for what the next requests to the v2 API meet. Rules add up; a
/// rule with `when_body_contains` applies only to requests whose body contains that text, so
/// tests sharing one simulator can each target their own requests.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Faults {
    #[serde(default)]
    pub when_body_contains: Option<String>,
    /// Only requests to this route (`"GET /v2/conversations/{id}"`, as `GET /_sim/stats` names
    /// them).
    #[serde(default)]
    pub when_route: Option<String>,
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
    /// The next this-many creates create the conversation (it stays active) and then answer
    /// `fail_status`: the client cannot know the call exists.
    #[serde(default)]
    pub create_then_fail_next: u32,
    /// The next this-many creates create the conversation and then wait `hang_ms` before the
    /// normal answer, so a client with a shorter timeout gives up on a call that exists.
    #[serde(default)]
    pub create_then_hang_next: u32,
    #[serde(default = "default_hang_ms")]
    pub hang_ms: u64,
}

fn default_fail_status() -> u16 {
    503
}

fn default_hang_ms() -> u64 {
    30_000
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn create(body: Value) -> CreateConversation {
        serde_json::from_value(body).unwrap()
    }

    #[test]
    fn a_replica_is_required_only_when_configured() {
        assert!(create(json!({})).validate(false).is_ok());
        let missing = create(json!({})).validate(true).unwrap_err();
        assert!(missing.contains("replica"), "{missing}");
        for key in ["replica_id", "face_id", "persona_id", "pal_id"] {
            assert_eq!(create(json!({ key: "x" })).validate(true), Ok(()), "{key}");
        }
    }

    #[test]
    fn limits_are_checked() {
        let too_few = create(json!({ "max_participants": 1 })).validate(false);
        assert_eq!(too_few, Err("max_participants must be at least 2".into()));
        assert!(
            create(json!({ "max_participants": 2 }))
                .validate(false)
                .is_ok()
        );
        let zero = create(json!({ "properties": { "max_call_duration": 0 } })).validate(false);
        assert!(zero.unwrap_err().contains("max_call_duration"));
        let half = create(json!({ "properties": {
            "enable_recording": true, "recording_s3_bucket_name": "rec" } }))
        .validate(false);
        assert!(half.unwrap_err().contains("aws_assume_role_arn"));
    }

    #[test]
    fn the_absent_timeout_defaults_to_300_seconds() {
        assert_eq!(create(json!({})).absent_timeout(), 300);
        let set = create(json!({ "properties": { "participant_absent_timeout": 12 } }));
        assert_eq!(set.absent_timeout(), 12);
    }

    #[test]
    fn a_control_end_has_documented_defaults() {
        let end: ControlEnd = serde_json::from_value(json!({ "duration_seconds": 5 })).unwrap();
        assert_eq!(end.shutdown_reason, "participant_left_timeout reached");
        assert!(end.shutdown_event && end.transcript);
        assert_eq!(end.transcript_shape, None);
        assert!(end.turns.is_none() && end.extra_turns.is_empty());
        let negative: ControlEnd =
            serde_json::from_value(json!({ "duration_seconds": -1 })).unwrap();
        assert!(negative.validate().is_err());
    }

    #[test]
    fn shapes_and_urls_parse_from_flags() {
        assert_eq!("classic".parse(), Ok(TranscriptShape::Classic));
        assert_eq!("extended".parse(), Ok(TranscriptShape::Extended));
        assert!("other".parse::<TranscriptShape>().is_err());
        assert_eq!("none".parse(), Ok(TestModeUrl::None));
        assert_eq!("room".parse(), Ok(TestModeUrl::Room));
        assert!("".parse::<TestModeUrl>().is_err());
    }
}
