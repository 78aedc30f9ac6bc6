//! The operator's recordings bucket on S3: where Tavus writes recorded calls (through a role it
//! assumes), short-lived playback links to them, and their deletion with the session. Account
//! exports too large for a response are handed over from it as well (under [`EXPORTS_PREFIX`],
//! which its lifecycle empties after a day).
//!
//! A presigned URL is a credential for as long as it lives: its type never prints it, and no log
//! line carries one.

use std::time::Duration;

use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_types::SdkConfig;

/// The longest a playback link lives.
pub const MAX_PLAYBACK_LINK: Duration = Duration::from_secs(300);

/// Where account exports too large for a response are put, apart from Tavus's recordings.
pub const EXPORTS_PREFIX: &str = "exports/";

/// Where Tavus records to: the bucket, its region, and the role Tavus assumes to write into it
/// (`RECORDINGS_BUCKET`, `RECORDINGS_BUCKET_REGION`, `TAVUS_RECORDING_ROLE_ARN`; see
/// [`crate::config::recording_target`]). A deployment without it records nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordingTarget {
    pub bucket: String,
    pub region: String,
    pub role_arn: String,
}

#[derive(Debug, thiserror::Error)]
pub enum RecordingError {
    /// S3 failed (after the SDK's retries) or could not be reached.
    #[error("S3 is unavailable: {0}")]
    Unavailable(String),
    /// The link could not be signed (no credentials, a bad expiry).
    #[error("cannot sign a playback link: {0}")]
    Presign(String),
}

/// A presigned GET of a recording: it lets whoever holds it read the file until it expires.
#[derive(Clone, PartialEq, Eq)]
pub struct PlaybackLink(String);

impl PlaybackLink {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for PlaybackLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PlaybackLink(..)")
    }
}

/// The recordings bucket and an S3 client for it. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Recordings {
    client: aws_sdk_s3::Client,
    target: RecordingTarget,
}

impl Recordings {
    /// `path_style`: address the bucket in the path (`endpoint/bucket/key`), as an S3 stand-in
    /// on one host (moto, locally) needs; AWS itself uses virtual-hosted names.
    pub fn new(sdk: &SdkConfig, target: RecordingTarget, path_style: bool) -> Recordings {
        let config = aws_sdk_s3::config::Builder::from(sdk).force_path_style(path_style);
        let config = crate::aws::call_log::attach(config, |b, log| b.interceptor(log)).build();
        Recordings::with_client(aws_sdk_s3::Client::from_conf(config), target)
    }

    pub fn with_client(client: aws_sdk_s3::Client, target: RecordingTarget) -> Recordings {
        Recordings { client, target }
    }

    pub fn target(&self) -> &RecordingTarget {
        &self.target
    }

    /// A GET of `key` that works for `expires_in` (at most [`MAX_PLAYBACK_LINK`]). Signing
    /// happens here, without a call to S3.
    pub async fn playback_link(
        &self,
        key: &str,
        expires_in: Duration,
    ) -> Result<PlaybackLink, RecordingError> {
        let config = PresigningConfig::expires_in(expires_in.min(MAX_PLAYBACK_LINK))
            .map_err(|e| RecordingError::Presign(e.to_string()))?;
        let request = self
            .client
            .get_object()
            .bucket(&self.target.bucket)
            .key(key)
            .presigned(config)
            .await
            // The error names the operation, never the signed URL.
            .map_err(|e| RecordingError::Presign(DisplayErrorContext(&e).to_string()))?;
        Ok(PlaybackLink(request.uri().to_owned()))
    }

    /// Puts an account export (JSON) under `key`, encrypted at rest like every object of the
    /// bucket.
    pub async fn put_export(&self, key: &str, document: Vec<u8>) -> Result<(), RecordingError> {
        self.client
            .put_object()
            .bucket(&self.target.bucket)
            .key(key)
            .content_type("application/json")
            .body(document.into())
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    /// Deletes `key` for good: every version and delete marker of it, each by its version id. A
    /// plain delete would only hide the file behind a new marker in a versioned bucket; by id,
    /// each is gone for good, whatever the bucket's versioning (an object of a bucket that never
    /// had versioning is listed with the id `null`, which S3 deletes by that id too). So one
    /// permission deletes, `s3:DeleteObjectVersion`. A key that is already gone counts as
    /// deleted.
    pub async fn delete(&self, key: &str) -> Result<(), RecordingError> {
        for version in self.versions_of(key).await? {
            self.client
                .delete_object()
                .bucket(&self.target.bucket)
                .key(key)
                .version_id(version)
                .send()
                .await
                .map_err(unavailable)?;
        }
        Ok(())
    }

    /// The version ids of `key` exactly (not of other keys it is a prefix of), delete markers
    /// included; `null` for an object written while the bucket had no versioning.
    async fn versions_of(&self, key: &str) -> Result<Vec<String>, RecordingError> {
        let mut ids = Vec::new();
        let (mut key_marker, mut version_marker) = (None, None);
        loop {
            let page = self
                .client
                .list_object_versions()
                .bucket(&self.target.bucket)
                .prefix(key)
                .set_key_marker(key_marker)
                .set_version_id_marker(version_marker)
                .send()
                .await
                .map_err(unavailable)?;
            let versions = page.versions().iter().map(|v| (v.key(), v.version_id()));
            let markers = page
                .delete_markers()
                .iter()
                .map(|m| (m.key(), m.version_id()));
            ids.extend(
                versions
                    .chain(markers)
                    .filter(|(k, _)| *k == Some(key))
                    .filter_map(|(_, id)| id.map(str::to_owned)),
            );
            if page.is_truncated() != Some(true) {
                return Ok(ids);
            }
            key_marker = page.next_key_marker().map(str::to_owned);
            version_marker = page.next_version_id_marker().map(str::to_owned);
        }
    }
}

/// An object of the bucket as a listing shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredObject {
    pub key: String,
    pub last_modified: chrono::DateTime<chrono::Utc>,
}

impl Recordings {
    /// Every object in the bucket (current versions), page by page: only the audit lists the
    /// bucket. An object without a readable time is listed as written at the epoch's start, so
    /// it is never taken for a new one.
    pub async fn objects(&self) -> Result<Vec<StoredObject>, RecordingError> {
        let mut objects = Vec::new();
        let mut token = None;
        loop {
            let page = self
                .client
                .list_objects_v2()
                .bucket(&self.target.bucket)
                .set_continuation_token(token)
                .send()
                .await
                .map_err(unavailable)?;
            objects.extend(page.contents().iter().filter_map(|o| {
                let written = o
                    .last_modified()
                    .and_then(|t| chrono::DateTime::from_timestamp(t.secs(), t.subsec_nanos()));
                Some(StoredObject {
                    key: o.key()?.to_owned(),
                    last_modified: written.unwrap_or_default(),
                })
            }));
            match page.next_continuation_token() {
                Some(next) if page.is_truncated() == Some(true) => token = Some(next.to_owned()),
                _ => return Ok(objects),
            }
        }
    }

    /// Whether `key` is in the bucket (a HEAD: `s3:GetObject`).
    pub async fn exists(&self, key: &str) -> Result<bool, RecordingError> {
        match self
            .client
            .head_object()
            .bucket(&self.target.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_not_found()) => Ok(false),
            Err(e) => Err(unavailable(e)),
        }
    }
}

fn unavailable<E: std::error::Error + 'static>(e: E) -> RecordingError {
    RecordingError::Unavailable(DisplayErrorContext(&e).to_string())
}
