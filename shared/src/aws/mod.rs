//! The AWS SDK configuration, built once per execution environment (in `main`, before `run`).
//!
//! Built from the environment Lambda sets, without `aws-config`'s loaders: a Lambda function's
//! region and credentials are always in its environment (`AWS_REGION`, `AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, fixed for the life of the execution
//! environment), so the profile files, the instance metadata service and the STS, SSO and
//! container providers would only add start-up work and about half a megabyte to every bootstrap
//! (docs/performance.md).

pub mod call_log;
mod endpoints;
mod https;

use std::time::Duration;

use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_smithy_async::rt::sleep::TokioSleep;
use aws_smithy_async::time::SystemTimeSource;
use aws_smithy_runtime_api::client::behavior_version::BehaviorVersion;
use aws_smithy_types::retry::RetryConfig;
use aws_smithy_types::timeout::TimeoutConfig;
use aws_types::SdkConfig;
use aws_types::region::Region;

use crate::config::{ConfigError, Lookup};

pub use endpoints::EnvEndpoints;

/// SDK settings for a Lambda that answers people: a few quick retries with the SDK's own
/// backoff, and timeouts well inside API Gateway's 30 seconds, so a slow dependency becomes a
/// clear 503 rather than a gateway timeout. Region, credentials and endpoints
/// (`AWS_ENDPOINT_URL_DYNAMODB` points the local stack at DynamoDB Local) come from the
/// environment; HTTPS trusts the roots AWS endpoints chain to ([`https`]), not the system's
/// store. Reads only the environment: no file and no network until the first request.
pub fn sdk_config() -> Result<SdkConfig, ConfigError> {
    sdk_config_from(&crate::config::env)
}

/// [`sdk_config`] with the variables from `lookup`.
pub fn sdk_config_from(lookup: Lookup<'_>) -> Result<SdkConfig, ConfigError> {
    Ok(SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region(lookup)?))
        .credentials_provider(SharedCredentialsProvider::new(credentials(lookup)?))
        .service_config(EnvEndpoints::from_lookup(lookup))
        .http_client(https::client())
        .sleep_impl(TokioSleep::new())
        .time_source(SystemTimeSource::new())
        .retry_config(RetryConfig::standard().with_max_attempts(3))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(2))
                .operation_attempt_timeout(Duration::from_secs(3))
                .operation_timeout(Duration::from_secs(8))
                .build(),
        )
        .build())
}

/// `AWS_REGION` (what Lambda sets), else `AWS_DEFAULT_REGION`.
fn region(lookup: Lookup<'_>) -> Result<String, ConfigError> {
    crate::config::value(lookup, "AWS_REGION")
        .or_else(|| crate::config::value(lookup, "AWS_DEFAULT_REGION"))
        .ok_or(ConfigError::Missing("AWS_REGION"))
}

/// The execution role's credentials as Lambda hands them over; the session token is absent only
/// for long-term keys (a developer's, or the local stack's placeholders).
fn credentials(lookup: Lookup<'_>) -> Result<Credentials, ConfigError> {
    let required =
        |var: &'static str| crate::config::value(lookup, var).ok_or(ConfigError::Missing(var));
    Ok(Credentials::new(
        required("AWS_ACCESS_KEY_ID")?,
        required("AWS_SECRET_ACCESS_KEY")?,
        crate::config::value(lookup, "AWS_SESSION_TOKEN"),
        None,
        "Environment",
    ))
}

#[cfg(test)]
mod tests;
