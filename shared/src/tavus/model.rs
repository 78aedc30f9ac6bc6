//! The Tavus v2 conversation bodies this backend sends and reads, as Tavus documents them.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};

use crate::domain::MeetingToken;

/// `POST /v2/conversations`.
#[derive(Debug, Clone, Serialize)]
pub struct CreateConversationBody {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub persona_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replica_id: Option<String>,
    pub conversation_name: String,
    pub conversational_context: String,
    pub callback_url: String,
    /// Always true: the room is private, and only a `meeting_token` gets a person in.
    pub require_auth: bool,
    /// The people allowed in, the replica counted as one.
    pub max_participants: u32,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub test_mode: bool,
    pub properties: ConversationProperties,
}

#[derive(Debug, Clone, Serialize)]
pub struct ConversationProperties {
    /// Seconds; Tavus ends the call when it is reached. At most 3600.
    pub max_call_duration: u32,
    /// Seconds after the last participant leaves before Tavus ends the call.
    pub participant_left_timeout: u32,
    /// Seconds from creation within which someone must join, or Tavus ends the call; with
    /// `require_auth` also the meeting token's lifetime.
    pub participant_absent_timeout: u32,
    /// Lets the call be recorded (the front end starts the recording in the call) into the
    /// operator's bucket, which Tavus writes through the role it assumes: the flat S3 fields,
    /// which Tavus documents as still working beside its newer `recording_storage` object.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub enable_recording: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recording_s3_bucket_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recording_s3_bucket_region: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aws_assume_role_arn: Option<String>,
}

/// The answer to create, and the plain fields of get and list. A `test_mode` create may come
/// back already `ended`, perhaps without a URL; only create answers carry `meeting_token`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Conversation {
    pub conversation_id: String,
    #[serde(default)]
    pub conversation_name: Option<String>,
    #[serde(default, deserialize_with = "optional_text")]
    pub conversation_url: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default, deserialize_with = "optional_text")]
    pub callback_url: Option<String>,
    #[serde(default)]
    pub meeting_token: Option<MeetingToken>,
    #[serde(default, deserialize_with = "optional_time")]
    pub created_at: Option<DateTime<Utc>>,
}

impl Conversation {
    pub fn is_ended(&self) -> bool {
        self.status.as_deref() == Some("ended")
    }
}

/// `GET /v2/conversations`: one page.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ConversationPage {
    #[serde(default)]
    pub data: Vec<Conversation>,
    #[serde(default)]
    pub total_count: Option<u64>,
}

/// `GET /v2/conversations/{id}?verbose=true`. Tavus publishes no schema for the verbose body;
/// this reads the fields its docs describe and ignores the rest.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ConversationDetails {
    pub conversation_id: String,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default, deserialize_with = "optional_time")]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "optional_time")]
    pub updated_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub shutdown_reason: Option<String>,
    #[serde(default)]
    pub events: Vec<ConversationEvent>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ConversationEvent {
    pub event_type: String,
    #[serde(default, deserialize_with = "optional_time")]
    pub timestamp: Option<DateTime<Utc>>,
    #[serde(default)]
    pub properties: serde_json::Value,
}

impl ConversationDetails {
    /// When the call ended, if Tavus says so: the `system.shutdown` event's time.
    pub fn ended_at(&self) -> Option<DateTime<Utc>> {
        self.events
            .iter()
            .find(|e| e.event_type == "system.shutdown")
            .and_then(|e| e.timestamp)
    }

    /// When a conversation Tavus reports `ended` without a shutdown event stopped (test mode, a
    /// replica that never joined, a deleted room): its last change, `updated_at`.
    pub fn ended_without_event_at(&self) -> Option<DateTime<Utc>> {
        (self.status.as_deref() == Some("ended") && self.ended_at().is_none())
            .then_some(self.updated_at.or(self.created_at))
            .flatten()
    }

    /// Why it ended: the top-level field, or the shutdown event's.
    pub fn shutdown_reason(&self) -> Option<&str> {
        self.shutdown_reason.as_deref().or_else(|| {
            self.events
                .iter()
                .find(|e| e.event_type == "system.shutdown")
                .and_then(|e| e.properties.get("shutdown_reason"))
                .and_then(|r| r.as_str())
        })
    }

    /// The transcript Tavus kept, as the `application.transcription_ready` event carried it.
    pub fn transcript(&self) -> Option<&Vec<serde_json::Value>> {
        self.events
            .iter()
            .find(|e| e.event_type == "application.transcription_ready")
            .and_then(|e| e.properties.get("transcript"))
            .and_then(|t| t.as_array())
    }
}

/// Tavus writes times as ISO-8601 with microseconds and `Z`; be lenient about a missing offset
/// (then UTC) so one odd field does not make a whole answer unreadable.
pub fn parse_tavus_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
                .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f"))
                .ok()
                .map(|t| t.and_utc())
        })
}

/// An absent, null or empty string reads as `None`.
fn optional_text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    let text: Option<String> = Option::deserialize(deserializer)?;
    Ok(text.filter(|t| !t.trim().is_empty()))
}

fn optional_time<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<DateTime<Utc>>, D::Error> {
    let text: Option<String> = Option::deserialize(deserializer)?;
    Ok(text.as_deref().and_then(parse_tavus_time))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_tavus_times_in_the_documented_and_lenient_forms() {
        let t = parse_tavus_time("2025-05-13T06:42:58.291561Z").unwrap();
        assert_eq!(t.timestamp_micros() % 1_000_000, 291_561);
        assert_eq!(parse_tavus_time("2025-05-13T06:42:58.291561"), Some(t));
        assert_eq!(parse_tavus_time("2025-05-13 06:42:58.291561"), Some(t));
        assert_eq!(parse_tavus_time("yesterday"), None);
    }

    #[test]
    fn verbose_details_give_the_shutdown_time() {
        let details: ConversationDetails = serde_json::from_str(
            r#"{"conversation_id": "c1", "status": "ended", "created_at": "2026-11-24T10:00:00.000000Z",
                "shutdown_reason": "participant_left_timeout",
                "events": [{"event_type": "system.replica_joined", "timestamp": "2026-11-24T10:00:03Z", "properties": {}},
                           {"event_type": "system.shutdown", "timestamp": "2026-11-24T10:04:30.5Z", "properties": {"shutdown_reason": "participant_left_timeout"}}],
                "something_new": true}"#,
        )
        .unwrap();
        assert_eq!(
            details.ended_at(),
            parse_tavus_time("2026-11-24T10:04:30.5Z")
        );
    }

    #[test]
    fn the_create_body_has_only_documented_fields() {
        let body = CreateConversationBody {
            persona_id: Some("p1".into()),
            replica_id: None,
            conversation_name: "n".into(),
            conversational_context: "c".into(),
            callback_url: "https://x/cb".into(),
            require_auth: true,
            max_participants: 2,
            test_mode: false,
            properties: ConversationProperties {
                max_call_duration: 600,
                participant_left_timeout: 60,
                participant_absent_timeout: 120,
                enable_recording: false,
                recording_s3_bucket_name: None,
                recording_s3_bucket_region: None,
                aws_assume_role_arn: None,
            },
        };
        let json = serde_json::to_value(&body).unwrap();
        let keys: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "callback_url",
                "conversation_name",
                "conversational_context",
                "max_participants",
                "persona_id",
                "properties",
                "require_auth"
            ]
        );
        assert_eq!(json["require_auth"], true);
        assert_eq!(json["properties"]["participant_absent_timeout"], 120);
        assert_eq!(
            json["properties"].as_object().unwrap().len(),
            3,
            "no recording fields unless a recording is asked for"
        );
    }

    #[test]
    fn create_answers_of_every_documented_shape_are_read() {
        let private: Conversation = serde_json::from_str(
            r#"{"conversation_id": "c1", "conversation_name": "n", "conversation_url": "https://tavus.daily.co/c1",
                "status": "active", "callback_url": "", "created_at": "2025-05-13T06:42:58.291561Z",
                "meeting_token": "eyJ.x.y"}"#,
        )
        .unwrap();
        assert_eq!(private.meeting_token, Some(MeetingToken::new("eyJ.x.y")));
        assert_eq!(private.callback_url, None, "an empty callback_url is none");
        assert!(!private.is_ended());
        // test_mode: created already ended, perhaps without a URL.
        let test_mode: Conversation = serde_json::from_str(
            r#"{"conversation_id": "c2", "status": "ended", "conversation_url": null}"#,
        )
        .unwrap();
        assert!(test_mode.is_ended());
        assert_eq!(test_mode.conversation_url, None);
    }

    #[test]
    fn an_end_without_a_shutdown_event_is_dated_by_updated_at() {
        let details: ConversationDetails = serde_json::from_str(
            r#"{"conversation_id": "c1", "status": "ended", "created_at": "2026-11-24T10:00:00Z",
                "updated_at": "2026-11-24T10:02:10Z", "events": []}"#,
        )
        .unwrap();
        assert_eq!(details.ended_at(), None);
        assert_eq!(
            details.ended_without_event_at(),
            parse_tavus_time("2026-11-24T10:02:10Z")
        );
        let running: ConversationDetails =
            serde_json::from_str(r#"{"conversation_id": "c1", "status": "active", "updated_at": "2026-11-24T10:02:10Z"}"#)
                .unwrap();
        assert_eq!(running.ended_without_event_at(), None);
    }
}
