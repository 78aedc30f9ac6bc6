//! The AWS SDK configuration, built once per execution environment (in `main`, before `run`).

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};

/// SDK settings for a Lambda that answers people: a few quick retries with the SDK's own
/// backoff, and timeouts well inside API Gateway's 30 seconds, so a slow dependency becomes a
/// clear 503 rather than a gateway timeout. Endpoints, region and credentials come from the
/// environment as usual (`AWS_ENDPOINT_URL_DYNAMODB` points the local stack at DynamoDB Local).
/// Loading reads only the environment: no network call happens until the first request.
pub async fn sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .retry_config(RetryConfig::standard().with_max_attempts(3))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(2))
                .operation_attempt_timeout(Duration::from_secs(3))
                .operation_timeout(Duration::from_secs(8))
                .build(),
        )
        .load()
        .await
}
