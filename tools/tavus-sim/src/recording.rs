//! Recordings: a call created with `properties.enable_recording` and the flat S3 settings
//! (`recording_s3_bucket_name`, `recording_s3_bucket_region`, `aws_assume_role_arn`) is
//! recorded; when it ends, the simulator writes a small file into that bucket on the S3 endpoint
//! it was given (`--s3-endpoint`, e.g. the local moto server) and then sends
//! `application.recording_ready`, or `application.recording_copy_failed` when the write fails or
//! no endpoint is set.
//!
//! The file is not a playable video: an MP4 `ftyp` box, then a `free` box naming the
//! conversation and padded to [`RECORDING_BYTES`], so a test can tell one call's file from
//! another's ([`recording_bytes`]).

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The size of a simulated recording.
pub const RECORDING_BYTES: usize = 4096;

/// Which properties `application.recording_ready` carries: Tavus's older documentation shows
/// `bucket_name`, `s3_key` and `duration` (`legacy`); its newer shows `storage_provider` and
/// `storage_uri` (`storage`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RecordingShape {
    #[default]
    Legacy,
    Storage,
}

impl FromStr for RecordingShape {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "legacy" => Ok(RecordingShape::Legacy),
            "storage" => Ok(RecordingShape::Storage),
            other => Err(format!(
                "recording shape must be legacy or storage, not {other}"
            )),
        }
    }
}

impl fmt::Display for RecordingShape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RecordingShape::Legacy => "legacy",
            RecordingShape::Storage => "storage",
        })
    }
}

/// Where a call is recorded, from its create body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordingTarget {
    pub bucket: String,
    pub region: String,
    pub role_arn: String,
}

/// The object key of a call's recording.
pub fn recording_key(conversation_id: &str) -> String {
    format!("recordings/{conversation_id}.mp4")
}

/// The bytes the simulator writes for `conversation_id`'s recording.
pub fn recording_bytes(conversation_id: &str) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(RECORDING_BYTES);
    // ftyp: size 28, major brand isom, minor version 0x200, compatible isom, iso2, mp41.
    bytes.extend_from_slice(&28u32.to_be_bytes());
    bytes.extend_from_slice(b"ftypisom");
    bytes.extend_from_slice(&0x200u32.to_be_bytes());
    bytes.extend_from_slice(b"isomiso2mp41");
    let free = RECORDING_BYTES - bytes.len();
    bytes.extend_from_slice(&(free as u32).to_be_bytes());
    bytes.extend_from_slice(b"free");
    bytes.extend_from_slice(format!("tavus-sim recording of {conversation_id}").as_bytes());
    bytes.resize(RECORDING_BYTES, 0);
    bytes
}

/// A file to write before a callback is sent.
#[derive(Debug, Clone)]
pub struct Upload {
    /// The S3 endpoint (path style: `endpoint/bucket/key`); `None`: none was configured.
    pub endpoint: Option<String>,
    pub bucket: String,
    pub key: String,
    pub bytes: Vec<u8>,
}

impl Upload {
    /// Writes the file with a plain PUT (the local S3 stand-in takes it unsigned); the error
    /// is what `recording_copy_failed` reports.
    pub async fn put(&self, http: &reqwest::Client) -> Result<(), String> {
        let endpoint = self
            .endpoint
            .as_deref()
            .ok_or("the simulator has no S3 endpoint (--s3-endpoint)")?;
        let url = format!(
            "{}/{}/{}",
            endpoint.trim_end_matches('/'),
            self.bucket,
            self.key
        );
        let answer = http
            .put(&url)
            .header("content-type", "video/mp4")
            .body(self.bytes.clone())
            .timeout(std::time::Duration::from_secs(10))
            .send()
            .await
            .map_err(|e| format!("could not write to the bucket: {}", e.without_url()))?;
        if answer.status().is_success() {
            Ok(())
        } else {
            Err(format!(
                "the bucket refused the write: HTTP {}",
                answer.status().as_u16()
            ))
        }
    }
}

/// The properties of `application.recording_ready` for a recording of `seconds`.
pub fn ready_properties(
    shape: RecordingShape,
    target: &RecordingTarget,
    key: &str,
    seconds: i64,
) -> Value {
    match shape {
        RecordingShape::Legacy => json!({
            "bucket_name": target.bucket,
            "s3_key": key,
            "duration": seconds.max(0),
        }),
        RecordingShape::Storage => json!({
            "storage_provider": "s3",
            "storage_uri": format!("s3://{}/{key}", target.bucket),
        }),
    }
}

/// The seconds a call lasted, for `duration`.
pub fn lasted(created_at: DateTime<Utc>, ended_at: DateTime<Utc>) -> i64 {
    (ended_at - created_at)
        .num_milliseconds()
        .max(0)
        .div_euclid(1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_starts_like_an_mp4_and_names_its_call() {
        let bytes = recording_bytes("c1");
        assert_eq!(bytes.len(), RECORDING_BYTES);
        assert_eq!(&bytes[4..8], b"ftyp");
        assert_eq!(&bytes[32..36], b"free");
        assert_ne!(bytes, recording_bytes("c2"));
    }

    #[test]
    fn both_shapes_name_the_file() {
        let target = RecordingTarget {
            bucket: "rec".into(),
            region: "us-east-1".into(),
            role_arn: "arn:aws:iam::1:role/r".into(),
        };
        let legacy = ready_properties(RecordingShape::Legacy, &target, "k", 14);
        assert_eq!(
            legacy,
            json!({"bucket_name": "rec", "s3_key": "k", "duration": 14})
        );
        let storage = ready_properties(RecordingShape::Storage, &target, "k", 14);
        assert_eq!(
            storage,
            json!({"storage_provider": "s3", "storage_uri": "s3://rec/k"})
        );
        assert_eq!("storage".parse(), Ok(RecordingShape::Storage));
        assert!("new".parse::<RecordingShape>().is_err());
    }
}
