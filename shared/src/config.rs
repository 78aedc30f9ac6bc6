//! Configuration read once per execution environment, from the environment.

use crate::domain::PlanCatalog;
use crate::domain::plan::PlanOverrideError;

/// Environment variable naming the table.
pub const TABLE_NAME_VAR: &str = "TABLE_NAME";
/// Optional plan limit overrides, e.g. `free=30,reflect_plus=120`.
pub const PLAN_MINUTES_VAR: &str = "PLAN_MINUTES";

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
}

/// The settings every function needs for the ledger.
#[derive(Debug, Clone)]
pub struct LedgerConfig {
    pub table_name: String,
    pub plans: PlanCatalog,
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
        Ok(LedgerConfig { table_name, plans })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::PlanId;

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
