//! Building a function's long-lived parts from its typed configuration, once per execution
//! environment, in `main` before `run`. Nothing here can fail (the configuration was checked when
//! it was read) and no network call happens: the SDK loads only the environment, the secret is
//! read and the Tavus HTTP client built at their first use.

use std::sync::Arc;

use aws_types::SdkConfig;

use crate::api::App;
use crate::api::identity::Authenticator;
use crate::aws::call_log;
use crate::config::{HttpConfig, LedgerConfig, RecordingsConfig, SecretConfig, TavusSettings};
use crate::recording_bucket::Recordings;
use crate::secrets::{SecretCache, SecretsManagerSource};
use crate::store::DynamoLedger;
use crate::tavus::{Tavus, TavusClient};

pub fn ledger(sdk: &SdkConfig, config: &LedgerConfig) -> DynamoLedger {
    let client = call_log::attach(aws_sdk_dynamodb::config::Builder::from(sdk), |b, log| {
        b.interceptor(log)
    });
    DynamoLedger::new(
        aws_sdk_dynamodb::Client::from_conf(client.build()),
        config.table_name.clone(),
        config.plans.clone(),
    )
    .with_max_open_sessions(config.max_open_sessions)
    .with_create_pace(config.create_pace)
}

pub fn secrets(sdk: &SdkConfig, config: &SecretConfig) -> Arc<SecretCache<SecretsManagerSource>> {
    let client = call_log::attach(
        aws_sdk_secretsmanager::config::Builder::from(sdk),
        |b, log| b.interceptor(log),
    );
    let source = SecretsManagerSource::new(
        aws_sdk_secretsmanager::Client::from_conf(client.build()),
        config.secret_id.clone(),
    );
    Arc::new(SecretCache::new(source, config.ttl))
}

pub fn tavus(sdk: &SdkConfig, settings: &TavusSettings) -> Tavus {
    TavusClient::new(settings.client.clone(), secrets(sdk, &settings.secret))
}

/// The app an HTTP function serves its routes with.
pub fn http_app(sdk: &SdkConfig, config: &HttpConfig) -> App {
    let tavus = config.tavus.as_ref().map(|settings| tavus(sdk, settings));
    App {
        ledger: ledger(sdk, &config.ledger),
        auth: config.auth.clone().map(Authenticator::new),
        tavus,
        public_url: config.public_url.clone(),
        recordings: config.recordings.as_ref().map(|r| recordings(sdk, r)),
        export_inline_limit: config.export_inline_limit,
    }
}

pub fn recordings(sdk: &SdkConfig, config: &RecordingsConfig) -> Recordings {
    Recordings::new(sdk, config.target.clone(), config.path_style)
}

pub fn sweep_job(sdk: &SdkConfig, config: &crate::config::SweepConfig) -> crate::jobs::SweepJob {
    crate::jobs::SweepJob {
        ledger: ledger(sdk, &config.ledger),
        tavus: tavus(sdk, &config.tavus),
        options: config.options,
        recordings: config.recordings.as_ref().map(|r| recordings(sdk, r)),
    }
}

pub fn reset_job(sdk: &SdkConfig, config: &crate::config::ResetConfig) -> crate::jobs::ResetJob {
    crate::jobs::ResetJob {
        ledger: ledger(sdk, &config.ledger),
        options: config.options.clone(),
    }
}

pub fn set_plan_job(sdk: &SdkConfig, config: &LedgerConfig) -> crate::jobs::SetPlanJob {
    crate::jobs::SetPlanJob {
        ledger: ledger(sdk, config),
    }
}

pub fn audit_job(sdk: &SdkConfig, config: &crate::config::AuditConfig) -> crate::jobs::AuditJob {
    crate::jobs::AuditJob {
        ledger: ledger(sdk, &config.ledger),
        tavus: tavus(sdk, &config.tavus),
        recordings: config.recordings.as_ref().map(|r| recordings(sdk, r)),
        options: config.options.clone(),
    }
}
