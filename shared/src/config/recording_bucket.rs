//! The recordings bucket: where Tavus writes recorded calls and the functions sign playback
//! links and delete recordings.

use super::{ConfigError, Lookup};
use crate::recording_bucket::RecordingTarget;

/// The recordings bucket as a function reaches it.
#[derive(Debug, Clone)]
pub struct RecordingsConfig {
    pub target: RecordingTarget,
    /// Address the bucket in the path, as an S3 stand-in (moto locally) needs: set when
    /// `AWS_ENDPOINT_URL_S3` or `AWS_ENDPOINT_URL` points the SDK elsewhere than AWS.
    pub path_style: bool,
}

impl RecordingsConfig {
    /// `None` when this deployment records nothing.
    pub fn from_lookup(lookup: Lookup<'_>) -> Result<Option<RecordingsConfig>, ConfigError> {
        let elsewhere = |var: &str| lookup(var).is_some_and(|v| !v.trim().is_empty());
        let path_style = elsewhere("AWS_ENDPOINT_URL_S3") || elsewhere("AWS_ENDPOINT_URL");
        Ok(recording_target(lookup)?.map(|target| RecordingsConfig { target, path_style }))
    }
}

/// The recordings bucket (empty or unset: this deployment records nothing).
pub const RECORDINGS_BUCKET_VAR: &str = "RECORDINGS_BUCKET";
/// Its region, sent to Tavus (default: the function's own, `AWS_REGION`).
pub const RECORDINGS_BUCKET_REGION_VAR: &str = "RECORDINGS_BUCKET_REGION";
/// The role Tavus assumes to write into the bucket; required with a bucket.
pub const TAVUS_RECORDING_ROLE_ARN_VAR: &str = "TAVUS_RECORDING_ROLE_ARN";

/// Where Tavus records to, or `None` when no bucket is configured. A bucket without a role (or
/// a region) is refused, so the function fails at its start rather than at every recording.
pub fn recording_target(lookup: super::Lookup<'_>) -> Result<Option<RecordingTarget>, ConfigError> {
    let var = |name: &str| {
        lookup(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let Some(bucket) = var(RECORDINGS_BUCKET_VAR) else {
        return Ok(None);
    };
    let role_arn = var(TAVUS_RECORDING_ROLE_ARN_VAR)
        .ok_or(ConfigError::Missing(TAVUS_RECORDING_ROLE_ARN_VAR))?;
    let region = var(RECORDINGS_BUCKET_REGION_VAR)
        .or_else(|| var("AWS_REGION"))
        .ok_or(ConfigError::Missing(RECORDINGS_BUCKET_REGION_VAR))?;
    Ok(Some(RecordingTarget {
        bucket,
        region,
        role_arn,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recordings_are_configured_by_a_bucket_and_need_a_role() {
        let with = |vars: &'static [(&'static str, &'static str)]| {
            recording_target(&move |name: &str| {
                vars.iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| (*v).to_owned())
            })
        };
        assert_eq!(with(&[]).unwrap(), None);
        assert_eq!(with(&[("RECORDINGS_BUCKET", " ")]).unwrap(), None);
        let target = with(&[
            ("RECORDINGS_BUCKET", "rec"),
            ("TAVUS_RECORDING_ROLE_ARN", "arn:aws:iam::1:role/r"),
            ("AWS_REGION", "eu-west-1"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(
            (target.bucket.as_str(), target.region.as_str()),
            ("rec", "eu-west-1")
        );
        let err = with(&[("RECORDINGS_BUCKET", "rec")]).unwrap_err();
        assert!(
            err.to_string().contains("TAVUS_RECORDING_ROLE_ARN"),
            "{err}"
        );
    }
}
