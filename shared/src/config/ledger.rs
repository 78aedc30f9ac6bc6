//! The ledger's settings: the table, plan overrides and the open-sessions cap.

use super::ConfigError;
use crate::domain::PlanCatalog;
pub use crate::domain::session::DEFAULT_MAX_OPEN_SESSIONS;

/// Environment variable naming the table.
pub const TABLE_NAME_VAR: &str = "TABLE_NAME";
/// Optional plan limit overrides, e.g. `free=30,reflect_plus=120`.
pub const PLAN_MINUTES_VAR: &str = "PLAN_MINUTES";
/// How many sessions one user may have pending or active at once.
pub const MAX_OPEN_SESSIONS_VAR: &str = "MAX_OPEN_SESSIONS_PER_USER";

/// The settings every function needs for the ledger.
#[derive(Debug, Clone)]
pub struct LedgerConfig {
    pub table_name: String,
    pub plans: PlanCatalog,
    pub max_open_sessions: u32,
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
    fn a_missing_table_name_is_a_clear_error() {
        let err = LedgerConfig::from_lookup(&|_: &str| None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "environment variable TABLE_NAME is not set"
        );
    }
}
