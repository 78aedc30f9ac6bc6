//! Where the secret comes from: Secrets Manager, or anything else in tests.

use std::future::Future;

use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::error::DisplayErrorContext;
use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueError;

use super::{SecretError, SecretValues};

/// Fetches the current value of the secret.
pub trait FetchSecret: Send + Sync {
    fn fetch(&self) -> impl Future<Output = Result<SecretValues, SecretError>> + Send;
}

/// Reads one secret from Secrets Manager.
#[derive(Debug, Clone)]
pub struct SecretsManagerSource {
    client: Client,
    secret_id: String,
}

impl SecretsManagerSource {
    pub fn new(client: Client, secret_id: impl Into<String>) -> Self {
        SecretsManagerSource {
            client,
            secret_id: secret_id.into(),
        }
    }
}

impl FetchSecret for SecretsManagerSource {
    async fn fetch(&self) -> Result<SecretValues, SecretError> {
        let output = self
            .client
            .get_secret_value()
            .secret_id(&self.secret_id)
            // Always name the stage: it is the default on AWS, and moto only honours a rotation
            // when it is named.
            .version_stage("AWSCURRENT")
            .send()
            .await
            .map_err(|err| match err.as_service_error() {
                Some(GetSecretValueError::ResourceNotFoundException(_)) => {
                    SecretError::Missing(self.secret_id.clone())
                }
                _ => SecretError::Unavailable(DisplayErrorContext(&err).to_string()),
            })?;
        let text = output
            .secret_string()
            .ok_or_else(|| SecretError::NotAString(self.secret_id.clone()))?;
        SecretValues::parse(&self.secret_id, text)
    }
}
