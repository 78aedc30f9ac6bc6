//! Building the long-lived parts of a function from its environment, once per execution
//! environment, in `main` before `run`. No network call happens here.

use std::sync::Arc;
use std::time::Duration;

use aws_config::SdkConfig;

use crate::api::identity::{AuthConfigError, AuthMode, Authenticator};
use crate::config::{ConfigError, LedgerConfig};
use crate::secrets::{SecretCache, SecretsManagerSource};
use crate::store::DynamoLedger;
use crate::tavus::{TavusClient, TavusConfig, TavusConfigError, TavusError};

pub type Secrets = Arc<SecretCache<SecretsManagerSource>>;
pub type Tavus = TavusClient<SecretsManagerSource>;

#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error(transparent)]
    Ledger(#[from] ConfigError),
    #[error(transparent)]
    Tavus(#[from] TavusConfigError),
    #[error(transparent)]
    Auth(#[from] AuthConfigError),
    #[error(transparent)]
    Client(#[from] TavusError),
    #[error("environment variable {0}: {1}")]
    Var(&'static str, &'static str),
}

fn var(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

pub fn ledger(sdk: &SdkConfig) -> Result<DynamoLedger, InitError> {
    let config = LedgerConfig::from_env()?;
    Ok(DynamoLedger::new(
        aws_sdk_dynamodb::Client::new(sdk),
        config.table_name,
        config.plans,
    )
    .with_max_open_sessions(config.max_open_sessions))
}

/// The secret cache: `TAVUS_SECRET_ID` (name or ARN), `SECRET_CACHE_TTL_SECONDS` (default 300).
pub fn secrets(sdk: &SdkConfig) -> Result<Secrets, InitError> {
    let id = var("TAVUS_SECRET_ID").ok_or(InitError::Var("TAVUS_SECRET_ID", "is not set"))?;
    let ttl = match var("SECRET_CACHE_TTL_SECONDS") {
        None => 300,
        Some(s) => s
            .parse::<u64>()
            .map_err(|_| InitError::Var("SECRET_CACHE_TTL_SECONDS", "must be whole seconds"))?,
    };
    let source = SecretsManagerSource::new(aws_sdk_secretsmanager::Client::new(sdk), id);
    Ok(Arc::new(SecretCache::new(source, Duration::from_secs(ttl))))
}

pub fn tavus(secrets: &Secrets) -> Result<Tavus, InitError> {
    Ok(TavusClient::new(
        TavusConfig::from_env()?,
        Arc::clone(secrets),
    )?)
}

/// The Tavus client for creating conversations: refuses to start, naming the variables, unless
/// every session type has a persona or a replica, so a misconfigured stack fails at its first
/// start instead of at every `POST /sessions`.
pub fn tavus_for_create(secrets: &Secrets) -> Result<Tavus, InitError> {
    let config = TavusConfig::from_env()?;
    config.require_companions()?;
    Ok(TavusClient::new(config, Arc::clone(secrets))?)
}

pub fn authenticator() -> Result<Authenticator, InitError> {
    Ok(Authenticator::new(AuthMode::from_lookup(|v| {
        std::env::var(v).ok()
    })?))
}

/// The recordings bucket, or `None` when this deployment records nothing (see
/// [`crate::config::recording_target_from_lookup`]). Against a local S3 stand-in (an
/// `AWS_ENDPOINT_URL_S3` or `AWS_ENDPOINT_URL` is set) the bucket is addressed in the path.
pub fn recordings(sdk: &SdkConfig) -> Result<Option<crate::recordings::Recordings>, InitError> {
    let Some(target) = recording_target()? else {
        return Ok(None);
    };
    let path_style = var("AWS_ENDPOINT_URL_S3").is_some() || var("AWS_ENDPOINT_URL").is_some();
    Ok(Some(crate::recordings::Recordings::new(
        sdk, target, path_style,
    )))
}

/// Only where the recordings go (for the webhook, which checks callbacks against the bucket
/// and needs no S3 client).
pub fn recording_target() -> Result<Option<crate::recordings::RecordingTarget>, InitError> {
    Ok(crate::config::recording_target_from_lookup(|name| {
        std::env::var(name).ok()
    })?)
}

/// `PUBLIC_API_URL`: the API's base URL as Tavus reaches it. Optional in AWS (taken from the
/// request's domain), set locally where the gateway is plain HTTP.
pub fn public_url() -> Option<String> {
    var("PUBLIC_API_URL").map(|u| u.trim_end_matches('/').to_owned())
}
