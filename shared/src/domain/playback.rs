//! Recordings of a call, opt-in per session: whether one was asked for, what Tavus announced,
//! and how the `application.recording_ready` callback names the file, in either shape Tavus has
//! documented (pure, unit-tested).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The longest object key S3 accepts (bytes).
const MAX_KEY_BYTES: usize = 1024;

/// How many recording files one session may hold (a call recorded in parts has a few): a bound,
/// so no number of callbacks can grow a session item past DynamoDB's 400 KB (20 keys of at most
/// 1 KiB each).
pub const MAX_RECORDINGS_PER_SESSION: usize = 20;

/// What is kept about a session's recording, on the session item itself.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Playback {
    /// The owner asked for the call to be recorded (`POST /sessions` with `"record": true`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub record: bool,
    /// The first recording Tavus announced in our bucket: the one played back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recording: Option<RecordingFile>,
    /// Every object key Tavus announced for this session (a call recorded in several parts
    /// has several): all of them are deleted with the session. A string set in the table.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recording_keys: Vec<String>,
    /// Tavus reported that it could not copy the recording into our bucket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recording_failed_at: Option<DateTime<Utc>>,
}

/// A recording in our bucket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordingFile {
    pub key: String,
    /// Tavus's `duration` (its unit is not documented; its example, 14, reads as seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_seconds: Option<u32>,
    pub ready_at: DateTime<Utc>,
}

/// What `GET /sessions/{id}/recording` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordingStatus {
    /// No recording was asked for.
    None,
    /// Asked for; nothing has arrived yet (the call may still run, or nobody started it).
    Pending,
    /// In our bucket, ready to play.
    Ready,
    /// Tavus could not copy it into our bucket.
    Failed,
}

impl Playback {
    /// A recording that arrived is ready whatever was asked (it is ours to play and to
    /// delete); otherwise a failure, or pending if one was asked for.
    pub fn status(&self) -> RecordingStatus {
        match (&self.recording, self.recording_failed_at, self.record) {
            (Some(_), _, _) => RecordingStatus::Ready,
            (None, Some(_), _) => RecordingStatus::Failed,
            (None, None, true) => RecordingStatus::Pending,
            (None, None, false) => RecordingStatus::None,
        }
    }

    /// Every object kept for the session: what erasing it must delete.
    pub fn object_keys(&self) -> Vec<String> {
        let mut keys = self.recording_keys.clone();
        if let Some(file) = &self.recording
            && !keys.contains(&file.key)
        {
            keys.push(file.key.clone());
        }
        keys
    }
}

/// An S3 object named by a callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ObjectLocation {
    pub bucket: String,
    pub key: String,
}

/// What an `application.recording_ready` callback announces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RecordingReady {
    /// `None` when the file is not an S3 object (another storage provider, or a URI that names
    /// no bucket and key): it is not in our bucket either way.
    pub location: Option<ObjectLocation>,
    pub duration_seconds: Option<u32>,
}

/// Reads `recording_ready`'s properties in either documented shape: the older `bucket_name`,
/// `s3_key`, `duration`, or the newer `storage_provider`, `storage_uri` (an `s3://bucket/key`
/// URI, or an https URL of the object in virtual-hosted or path style). The older fields win
/// when both are there. `Err` (a 400) when neither names a file.
pub(crate) fn recording_ready(properties: &Value) -> Result<RecordingReady, String> {
    let text = |name: &str| {
        properties
            .get(name)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
    };
    let duration_seconds = properties.get("duration").and_then(seconds);
    if let (Some(bucket), Some(key)) = (text("bucket_name"), text("s3_key")) {
        return Ok(RecordingReady {
            location: object(bucket, key),
            duration_seconds,
        });
    }
    let Some(uri) = text("storage_uri") else {
        return Err(
            "properties: a recording_ready names its file with bucket_name and s3_key, or storage_uri"
                .into(),
        );
    };
    let s3 = text("storage_provider").is_none_or(is_s3_provider);
    Ok(RecordingReady {
        location: if s3 { parse_storage_uri(uri) } else { None },
        duration_seconds,
    })
}

fn is_s3_provider(provider: &str) -> bool {
    matches!(
        provider.to_ascii_lowercase().as_str(),
        "s3" | "aws" | "aws_s3" | "aws-s3" | "amazon_s3" | "amazon-s3"
    )
}

fn object(bucket: &str, key: &str) -> Option<ObjectLocation> {
    let key = key.trim_start_matches('/');
    (!bucket.is_empty() && !key.is_empty() && key.len() <= MAX_KEY_BYTES).then(|| ObjectLocation {
        bucket: bucket.to_owned(),
        key: key.to_owned(),
    })
}

/// A duration in seconds from a number or a numeric string; anything else (negative, not a
/// number) is unknown.
fn seconds(value: &Value) -> Option<u32> {
    let s = match value {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => s.trim().parse::<f64>().ok()?,
        _ => return None,
    };
    (s.is_finite() && s >= 0.0 && s < f64::from(u32::MAX)).then(|| s.round() as u32)
}

/// `s3://bucket/key`, `https://bucket.s3[.-]region.amazonaws.com/key` (virtual-hosted) or
/// `https://s3[.-]region.amazonaws.com/bucket/key` (path style); a query is dropped and an
/// https path is percent-decoded.
pub(crate) fn parse_storage_uri(uri: &str) -> Option<ObjectLocation> {
    if let Some(rest) = uri.strip_prefix("s3://") {
        let (bucket, key) = rest.split_once('/')?;
        return object(bucket, key);
    }
    let rest = uri
        .strip_prefix("https://")
        .or_else(|| uri.strip_prefix("http://"))?;
    let rest = rest.split(['?', '#']).next().unwrap_or("");
    let (host, path) = rest.split_once('/')?;
    let host = host.to_ascii_lowercase();
    let path = percent_decode(path)?;
    if !host.ends_with(".amazonaws.com") {
        return None;
    }
    if host.starts_with("s3.") || host.starts_with("s3-") {
        let (bucket, key) = path.split_once('/')?;
        return object(bucket, key);
    }
    let (bucket, _) = host
        .split_once(".s3.")
        .or_else(|| host.split_once(".s3-"))?;
    object(bucket, &path)
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn location(bucket: &str, key: &str) -> Option<ObjectLocation> {
        Some(ObjectLocation {
            bucket: bucket.into(),
            key: key.into(),
        })
    }

    #[test]
    fn the_older_shape_is_read() {
        let ready = recording_ready(
            &json!({"bucket_name": "rec", "s3_key": "c1/recording.mp4", "duration": 14}),
        )
        .unwrap();
        assert_eq!(ready.location, location("rec", "c1/recording.mp4"));
        assert_eq!(ready.duration_seconds, Some(14));
        let fractional =
            recording_ready(&json!({"bucket_name": "rec", "s3_key": "k", "duration": "14.6"}))
                .unwrap();
        assert_eq!(fractional.duration_seconds, Some(15));
        let unknown =
            recording_ready(&json!({"bucket_name": "rec", "s3_key": "k", "duration": -3})).unwrap();
        assert_eq!(unknown.duration_seconds, None);
    }

    #[test]
    fn the_newer_shape_is_read_in_every_uri_form() {
        for uri in [
            "s3://rec/c1/recording.mp4",
            "https://rec.s3.amazonaws.com/c1/recording.mp4",
            "https://rec.s3.eu-west-1.amazonaws.com/c1/recording.mp4?x=1",
            "https://rec.s3-eu-west-1.amazonaws.com/c1/recording.mp4",
            "https://s3.eu-west-1.amazonaws.com/rec/c1/recording.mp4",
            "https://s3.amazonaws.com/rec/c1%2Frecording.mp4",
        ] {
            let ready =
                recording_ready(&json!({"storage_provider": "s3", "storage_uri": uri})).unwrap();
            assert_eq!(ready.location, location("rec", "c1/recording.mp4"), "{uri}");
            assert_eq!(ready.duration_seconds, None);
        }
        let without_provider = recording_ready(&json!({"storage_uri": "s3://rec/k"})).unwrap();
        assert_eq!(without_provider.location, location("rec", "k"));
    }

    #[test]
    fn files_elsewhere_name_no_s3_object() {
        for (provider, uri) in [
            ("gcs", "gs://rec/k"),
            ("azure", "https://acct.blob.core.windows.net/rec/k"),
            ("s3", "https://evil.example/rec/k"),
            ("s3", "s3://rec"),
            ("s3", "s3://rec/"),
            ("s3", "https://rec.s3.amazonaws.com/%zz"),
        ] {
            let ready = recording_ready(&json!({"storage_provider": provider, "storage_uri": uri}))
                .unwrap();
            assert_eq!(ready.location, None, "{provider} {uri}");
        }
    }

    #[test]
    fn a_callback_naming_no_file_is_refused() {
        for properties in [
            json!({}),
            json!({"bucket_name": "rec"}),
            json!({"s3_key": "k", "storage_provider": "s3"}),
            json!({"storage_uri": ""}),
            json!(null),
        ] {
            assert!(recording_ready(&properties).is_err(), "{properties}");
        }
    }

    #[test]
    fn the_status_follows_what_arrived() {
        let at = DateTime::parse_from_rfc3339("2026-11-24T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let mut playback = Playback::default();
        assert_eq!(playback.status(), RecordingStatus::None);
        playback.record = true;
        assert_eq!(playback.status(), RecordingStatus::Pending);
        playback.recording_failed_at = Some(at);
        assert_eq!(playback.status(), RecordingStatus::Failed);
        playback.recording = Some(RecordingFile {
            key: "a".into(),
            duration_seconds: None,
            ready_at: at,
        });
        playback.recording_keys = vec!["b".into(), "a".into()];
        assert_eq!(playback.status(), RecordingStatus::Ready);
        assert_eq!(playback.object_keys(), ["b", "a"]);
    }
}
