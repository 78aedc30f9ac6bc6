//! Configuration: one typed config per function, read from the environment once at init and
//! validated there, so a misconfigured function refuses to start with an error that names the
//! variable instead of failing request after request.
//!
//! | function | reads |
//! |---|---|
//! | create-session | ledger, secret, Tavus (with a companion per session type), auth, recordings, `PUBLIC_API_URL` |
//! | get-usage | ledger, auth, recordings |
//! | tavus-webhook | ledger, secret, Tavus, recordings |
//! | sweep-sessions | ledger, secret, Tavus, recordings, `SWEEP_GRACE_MINUTES`, `SWEEP_ORPHAN_MIN_AGE_SECONDS` |
//! | monthly-reset | ledger, `RESET_SHARD_CONCURRENCY`, `RESET_ACCOUNT_CONCURRENCY` |
//! | set-plan | ledger |
//! | audit | ledger, secret, Tavus, recordings, `AUDIT_SETTLING_SECONDS` |
//!
//! The ledger's variables are in [`ledger`]; the recordings bucket's in [`recording_bucket`]; the Tavus client's in
//! [`crate::tavus::TavusConfig::from_lookup`]; the authenticator's in
//! [`crate::api::identity::AuthMode::from_lookup`].

use std::time::Duration;

use crate::api::identity::AuthMode;
use crate::api::routes::Function;
use crate::service::audit::{AuditOptions, SETTLING_TIME};
use crate::service::reset::ResetOptions;
use crate::service::sweep::SweepOptions;
use crate::tavus::TavusConfig;

mod ledger;
mod lookup;
mod recording_bucket;

pub use ledger::{
    CREATES_PER_MINUTE_VAR, DEFAULT_MAX_OPEN_SESSIONS, LedgerConfig, MAX_OPEN_SESSIONS_VAR,
    PLAN_MINUTES_VAR, TABLE_NAME_VAR,
};
pub use lookup::{ConfigError, Lookup, env};
pub(crate) use lookup::{value, whole};
pub use recording_bucket::{
    RECORDINGS_BUCKET_REGION_VAR, RECORDINGS_BUCKET_VAR, RecordingsConfig,
    TAVUS_RECORDING_ROLE_ARN_VAR, recording_target,
};

/// The Secrets Manager secret holding the Tavus key (and the callback signing key).
#[derive(Debug, Clone)]
pub struct SecretConfig {
    /// `TAVUS_SECRET_ID`: the secret's name or ARN.
    pub secret_id: String,
    /// `SECRET_CACHE_TTL_SECONDS` (default 300): how long a read value is trusted.
    pub ttl: Duration,
}

impl SecretConfig {
    pub fn from_lookup(lookup: Lookup<'_>) -> Result<SecretConfig, ConfigError> {
        Ok(SecretConfig {
            secret_id: value(lookup, "TAVUS_SECRET_ID")
                .ok_or(ConfigError::Missing("TAVUS_SECRET_ID"))?,
            ttl: Duration::from_secs(whole(
                lookup,
                "SECRET_CACHE_TTL_SECONDS",
                300,
                "must be whole seconds",
            )?),
        })
    }
}

/// Tavus as a function uses it: the secret and the client's settings.
#[derive(Debug, Clone)]
pub struct TavusSettings {
    pub secret: SecretConfig,
    pub client: TavusConfig,
}

impl TavusSettings {
    pub fn from_lookup(lookup: Lookup<'_>) -> Result<TavusSettings, ConfigError> {
        Ok(TavusSettings {
            secret: SecretConfig::from_lookup(lookup)?,
            client: TavusConfig::from_lookup(lookup)?,
        })
    }
}

/// An HTTP function's configuration: what its routes need, and nothing else.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    pub function: Function,
    pub ledger: LedgerConfig,
    /// Users are authenticated (every function but the callback one).
    pub auth: Option<AuthMode>,
    /// Tavus is called (every function but get-usage).
    pub tavus: Option<TavusSettings>,
    /// The recordings bucket (`None`: this deployment records nothing).
    pub recordings: Option<RecordingsConfig>,
    /// `PUBLIC_API_URL`: the API's base URL as Tavus reaches it. Optional in AWS (taken from the
    /// request's domain), set locally where the gateway is plain HTTP.
    pub public_url: Option<String>,
    /// `EXPORT_INLINE_LIMIT_BYTES` (default and most [`EXPORT_INLINE_LIMIT`]): the largest
    /// account export answered in the response; tests lower it to reach the bucket's way.
    pub export_inline_limit: usize,
}

/// The largest account export a response carries: Lambda's answer holds at most 6 MB
/// (6,291,456 bytes), the headers and the envelope included.
pub const EXPORT_INLINE_LIMIT: usize = 6_000_000;

impl HttpConfig {
    pub fn from_env(function: Function) -> Result<HttpConfig, ConfigError> {
        HttpConfig::from_lookup(function, &env)
    }

    pub fn from_lookup(function: Function, lookup: Lookup<'_>) -> Result<HttpConfig, ConfigError> {
        let ledger = LedgerConfig::from_lookup(lookup)?;
        let auth = match function {
            Function::TavusWebhook => None,
            Function::CreateSession | Function::GetUsage => Some(AuthMode::from_lookup(lookup)?),
        };
        let tavus = match function {
            Function::GetUsage => None,
            Function::CreateSession | Function::TavusWebhook => {
                Some(TavusSettings::from_lookup(lookup)?)
            }
        };
        if function == Function::CreateSession
            && let Some(tavus) = &tavus
        {
            // Refuse to start, naming the variables, unless every session type has a persona or
            // a replica: else every POST /sessions would fail.
            tavus.client.require_companions()?;
        }
        Ok(HttpConfig {
            function,
            ledger,
            auth,
            tavus,
            recordings: RecordingsConfig::from_lookup(lookup)?,
            public_url: value(lookup, "PUBLIC_API_URL").map(|u| u.trim_end_matches('/').to_owned()),
            export_inline_limit: export_inline_limit(lookup)?,
        })
    }
}

fn export_inline_limit(lookup: Lookup<'_>) -> Result<usize, ConfigError> {
    let var = "EXPORT_INLINE_LIMIT_BYTES";
    let reason = "must be whole bytes, at most 6000000 (a Lambda response's room)";
    let limit = whole(lookup, var, EXPORT_INLINE_LIMIT, reason)?;
    if limit > EXPORT_INLINE_LIMIT {
        return Err(ConfigError::Invalid { var, reason });
    }
    Ok(limit)
}

/// sweep-sessions.
#[derive(Debug, Clone)]
pub struct SweepConfig {
    pub ledger: LedgerConfig,
    pub tavus: TavusSettings,
    /// Erasures waiting for their recordings' deletion are finished by the sweeper.
    pub recordings: Option<RecordingsConfig>,
    pub options: SweepOptions,
}

impl SweepConfig {
    pub fn from_env() -> Result<SweepConfig, ConfigError> {
        SweepConfig::from_lookup(&env)
    }

    pub fn from_lookup(lookup: Lookup<'_>) -> Result<SweepConfig, ConfigError> {
        let tavus = TavusSettings::from_lookup(lookup)?;
        let reason = "must be a whole, non-negative number";
        let options = SweepOptions {
            grace: chrono::Duration::minutes(
                whole(lookup, "SWEEP_GRACE_MINUTES", 10u32, reason)?.into(),
            ),
            delete_after_call: tavus.client.delete_after_call,
            orphan_min_age: chrono::Duration::seconds(
                whole(lookup, "SWEEP_ORPHAN_MIN_AGE_SECONDS", 60u32, reason)?.into(),
            ),
        };
        Ok(SweepConfig {
            ledger: LedgerConfig::from_lookup(lookup)?,
            tavus,
            recordings: RecordingsConfig::from_lookup(lookup)?,
            options,
        })
    }
}

/// monthly-reset.
#[derive(Debug, Clone)]
pub struct ResetConfig {
    pub ledger: LedgerConfig,
    pub options: ResetOptions,
}

impl ResetConfig {
    pub fn from_env() -> Result<ResetConfig, ConfigError> {
        ResetConfig::from_lookup(&env)
    }

    pub fn from_lookup(lookup: Lookup<'_>) -> Result<ResetConfig, ConfigError> {
        let defaults = ResetOptions::default();
        let reason = "must be a whole number, at least 1";
        let at_least_one = |var: &'static str, default: usize| {
            whole(lookup, var, default, reason).and_then(|n| {
                if n >= 1 {
                    Ok(n)
                } else {
                    Err(ConfigError::Invalid { var, reason })
                }
            })
        };
        Ok(ResetConfig {
            ledger: LedgerConfig::from_lookup(lookup)?,
            options: ResetOptions {
                shard_concurrency: at_least_one(
                    "RESET_SHARD_CONCURRENCY",
                    defaults.shard_concurrency,
                )?,
                account_concurrency: at_least_one(
                    "RESET_ACCOUNT_CONCURRENCY",
                    defaults.account_concurrency,
                )?,
                ..defaults
            },
        })
    }
}

/// audit: what sweep-sessions reads, less the sweep's tuning. Read-only: the role it is given
/// in the template can read the table, the secret and the bucket, and nothing else.
#[derive(Debug, Clone)]
pub struct AuditConfig {
    pub ledger: LedgerConfig,
    pub tavus: TavusSettings,
    /// The objects of the recordings bucket are audited when there is one.
    pub recordings: Option<RecordingsConfig>,
    /// What the checks allow for:
    /// - `AUDIT_SETTLING_SECONDS` (default [`SETTLING_TIME`], an hour): conversations and
    ///   objects younger than this are not judged yet. The local test stack sets none, so that
    ///   a test need not wait an hour for an object to be judged.
    /// - `TAVUS_DELETE_AFTER_CALL` (default true): whether Tavus's copies are deleted, so an
    ///   ended one Tavus keeps is a finding.
    /// - `RECORDING_RETENTION_DAYS` (default none): the bucket's lifecycle expiry, after which
    ///   a recording a session names is gone as meant.
    pub options: AuditOptions,
}

impl AuditConfig {
    pub fn from_env() -> Result<AuditConfig, ConfigError> {
        AuditConfig::from_lookup(&env)
    }

    pub fn from_lookup(lookup: Lookup<'_>) -> Result<AuditConfig, ConfigError> {
        let ledger = LedgerConfig::from_lookup(lookup)?;
        let tavus = TavusSettings::from_lookup(lookup)?;
        let recordings = RecordingsConfig::from_lookup(lookup)?;
        let default = u32::try_from(SETTLING_TIME.num_seconds()).unwrap_or(u32::MAX);
        let settling = whole(
            lookup,
            "AUDIT_SETTLING_SECONDS",
            default,
            "must be whole, non-negative seconds",
        )?;
        let retention_days: u32 = whole(
            lookup,
            "RECORDING_RETENTION_DAYS",
            0,
            "must be a whole number of days",
        )?;
        let options = AuditOptions {
            settling_time: chrono::Duration::seconds(settling.into()),
            tavus_copies_deleted: tavus.client.delete_after_call,
            recording_retention: (retention_days > 0)
                .then(|| chrono::Duration::days(retention_days.into())),
            ..AuditOptions::default()
        };
        Ok(AuditConfig {
            ledger,
            tavus,
            recordings,
            options,
        })
    }
}

#[cfg(test)]
mod tests;
