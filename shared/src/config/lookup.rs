//! Reading variables: where they come from ([`Lookup`]), their trimmed values, and the one
//! error of a configuration that cannot be used.

use crate::api::identity::AuthConfigError;
use crate::tavus::TavusConfigError;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {0} is not set")]
    Missing(&'static str),
    #[error("environment variable {var}: {source}")]
    Plans {
        var: &'static str,
        #[source]
        source: crate::domain::plan::PlanOverrideError,
    },
    #[error("environment variable {var}: {reason}")]
    Invalid {
        var: &'static str,
        reason: &'static str,
    },
    #[error(transparent)]
    Tavus(#[from] TavusConfigError),
    #[error(transparent)]
    Auth(#[from] AuthConfigError),
}

/// Where variables come from: the process environment ([`env()`]), or a list in tests.
pub type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The process environment.
pub fn env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// A variable's trimmed value; `None` when unset or blank.
pub(crate) fn value(lookup: Lookup<'_>, name: &str) -> Option<String> {
    lookup(name)
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// A whole number, or `default` when unset.
pub(crate) fn whole<T: std::str::FromStr>(
    lookup: Lookup<'_>,
    var: &'static str,
    default: T,
    reason: &'static str,
) -> Result<T, ConfigError> {
    match value(lookup, var) {
        None => Ok(default),
        Some(v) => v.parse().map_err(|_| ConfigError::Invalid { var, reason }),
    }
}
