//! The ledger's settings: the table, plan overrides, the open-sessions cap and the pace of
//! creates.

use super::ConfigError;
pub use crate::domain::session::DEFAULT_MAX_OPEN_SESSIONS;
use crate::domain::{CreatePace, DEFAULT_CREATES_PER_MINUTE, PlanCatalog};

/// Environment variable naming the table.
pub const TABLE_NAME_VAR: &str = "TABLE_NAME";
/// Optional plan limit overrides, e.g. `free=30,reflect_plus=120`.
pub const PLAN_MINUTES_VAR: &str = "PLAN_MINUTES";
/// How many sessions one user may have pending or active at once.
pub const MAX_OPEN_SESSIONS_VAR: &str = "MAX_OPEN_SESSIONS_PER_USER";
/// How many sessions one user may create in any minute.
pub const CREATES_PER_MINUTE_VAR: &str = "CREATES_PER_USER_PER_MINUTE";

/// The settings every function needs for the ledger.
#[derive(Debug, Clone)]
pub struct LedgerConfig {
    pub table_name: String,
    pub plans: PlanCatalog,
    pub max_open_sessions: u32,
    pub create_pace: CreatePace,
}

impl LedgerConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(&super::env)
    }

    /// The same as [`LedgerConfig::from_env`] over any source of variables, for tests.
    pub fn from_lookup(lookup: super::Lookup<'_>) -> Result<Self, ConfigError> {
        let table_name = lookup(TABLE_NAME_VAR)
            .filter(|t| !t.trim().is_empty())
            .ok_or(ConfigError::Missing(TABLE_NAME_VAR))?;
        let plans = PlanCatalog::from_overrides(&lookup(PLAN_MINUTES_VAR).unwrap_or_default())
            .map_err(|source| ConfigError::Plans {
                var: PLAN_MINUTES_VAR,
                source,
            })?;
        let max_open_sessions =
            at_least_one(lookup, MAX_OPEN_SESSIONS_VAR, DEFAULT_MAX_OPEN_SESSIONS)?;
        let per_minute = at_least_one(lookup, CREATES_PER_MINUTE_VAR, DEFAULT_CREATES_PER_MINUTE)?;
        let create_pace = CreatePace::per_minute(per_minute).ok_or(ConfigError::Invalid {
            var: CREATES_PER_MINUTE_VAR,
            reason: "must be a whole number from 1 to 60000",
        })?;
        Ok(LedgerConfig {
            table_name,
            plans,
            max_open_sessions,
            create_pace,
        })
    }
}

/// A whole number of at least one, or `default` when the variable is unset or blank.
fn at_least_one(
    lookup: super::Lookup<'_>,
    var: &'static str,
    default: u32,
) -> Result<u32, ConfigError> {
    match lookup(var)
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
    {
        None => Ok(default),
        Some(v) => v
            .parse::<u32>()
            .ok()
            .filter(|n| *n >= 1)
            .ok_or(ConfigError::Invalid {
                var,
                reason: "must be a whole number, at least 1",
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::PlanId;

    #[test]
    fn reads_the_table_and_plan_overrides() {
        let config = LedgerConfig::from_lookup(&|name: &str| match name {
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
            LedgerConfig::from_lookup(&move |name: &str| match name {
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
    fn creates_are_paced_at_ten_a_minute_unless_configured() {
        let with = |per_minute: &'static str| {
            LedgerConfig::from_lookup(&move |name: &str| match name {
                "TABLE_NAME" => Some("awaknow".into()),
                "CREATES_PER_USER_PER_MINUTE" => Some(per_minute.into()),
                _ => None,
            })
        };
        assert_eq!(with("").unwrap().create_pace.creates_per_minute(), 10);
        assert_eq!(with("60").unwrap().create_pace.creates_per_minute(), 60);
        for bad in ["0", "-3", "ten", "60001"] {
            let err = with(bad).unwrap_err().to_string();
            assert!(err.contains("CREATES_PER_USER_PER_MINUTE"), "{bad}: {err}");
        }
    }

    #[test]
    fn a_missing_table_name_is_a_clear_error() {
        let err = LedgerConfig::from_lookup(&|_: &str| None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "environment variable TABLE_NAME is not set"
        );
    }
}
