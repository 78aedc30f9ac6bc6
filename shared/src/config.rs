//! Configuration read once per execution environment, from the environment.

use crate::domain::PlanCatalog;
use crate::domain::plan::PlanOverrideError;

/// Environment variable naming the table.
pub const TABLE_NAME_VAR: &str = "TABLE_NAME";
/// Optional plan limit overrides, e.g. `free=30,reflect_plus=120`.
pub const PLAN_MINUTES_VAR: &str = "PLAN_MINUTES";
/// How many sessions one user may have pending or active at once.
pub const MAX_OPEN_SESSIONS_VAR: &str = "MAX_OPEN_SESSIONS_PER_USER";
/// Each open session holds one of the Tavus account's concurrent conversations: two lets a user
/// rejoin after a dropped call while the old one times out, and no handful of users can take
/// every slot.
pub const DEFAULT_MAX_OPEN_SESSIONS: u32 = 2;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {0} is not set")]
    Missing(&'static str),
    #[error("environment variable {var}: {source}")]
    Plans {
        var: &'static str,
        #[source]
        source: PlanOverrideError,
    },
    #[error("environment variable {var}: {reason}")]
    Invalid {
        var: &'static str,
        reason: &'static str,
    },
}

/// The settings every function needs for the ledger.
#[derive(Debug, Clone)]
pub struct LedgerConfig {
    pub table_name: String,
    pub plans: PlanCatalog,
    pub max_open_sessions: u32,
}

impl LedgerConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// The same as [`LedgerConfig::from_env`] over any source of variables, for tests.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let table_name = lookup(TABLE_NAME_VAR)
            .filter(|t| !t.trim().is_empty())
            .ok_or(ConfigError::Missing(TABLE_NAME_VAR))?;
        let plans = PlanCatalog::from_overrides(&lookup(PLAN_MINUTES_VAR).unwrap_or_default())
            .map_err(|source| ConfigError::Plans {
                var: PLAN_MINUTES_VAR,
                source,
            })?;
        let max_open_sessions = match lookup(MAX_OPEN_SESSIONS_VAR)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
        {
            None => DEFAULT_MAX_OPEN_SESSIONS,
            Some(v) => v
                .parse::<u32>()
                .ok()
                .filter(|n| *n >= 1)
                .ok_or(ConfigError::Invalid {
                    var: MAX_OPEN_SESSIONS_VAR,
                    reason: "must be a whole number, at least 1",
                })?,
        };
        Ok(LedgerConfig {
            table_name,
            plans,
            max_open_sessions,
        })
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
pub fn recording_target_from_lookup(
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Option<crate::recordings::RecordingTarget>, ConfigError> {
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
    Ok(Some(crate::recordings::RecordingTarget {
        bucket,
        region,
        role_arn,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::PlanId;

    #[test]
    fn recordings_are_configured_by_a_bucket_and_need_a_role() {
        let with = |vars: &'static [(&'static str, &'static str)]| {
            recording_target_from_lookup(move |name| {
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

    #[test]
    fn reads_the_table_and_plan_overrides() {
        let config = LedgerConfig::from_lookup(|name| match name {
            "TABLE_NAME" => Some("awaknow".into()),
            "PLAN_MINUTES" => Some("free=10".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(config.table_name, "awaknow");
        assert_eq!(config.plans.monthly_minutes(PlanId::Free), 10);
        assert_eq!(config.max_open_sessions, 2, "the default cap");
    }

    #[test]
    fn the_open_sessions_cap_is_configurable_and_at_least_one() {
        let with = |cap: &'static str| {
            LedgerConfig::from_lookup(move |name| match name {
                "TABLE_NAME" => Some("awaknow".into()),
                "MAX_OPEN_SESSIONS_PER_USER" => Some(cap.into()),
                _ => None,
            })
        };
        assert_eq!(with("5").unwrap().max_open_sessions, 5);
        assert_eq!(with(" ").unwrap().max_open_sessions, 2);
        for bad in ["0", "-1", "two"] {
            let err = with(bad).unwrap_err().to_string();
            assert!(err.contains("MAX_OPEN_SESSIONS_PER_USER"), "{bad}: {err}");
        }
    }

    #[test]
    fn a_missing_table_name_is_a_clear_error() {
        let err = LedgerConfig::from_lookup(|_| None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "environment variable TABLE_NAME is not set"
        );
    }
}
