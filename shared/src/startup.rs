//! What every function reads before it serves: its own configuration ([`crate::config`]) and the
//! SDK's ([`crate::aws::sdk_config`]), both from the environment alone.
//!
//! The same reading doubles as a configuration check: with `AWAKNOW_CHECK_CONFIG=1` a function
//! reads exactly what it would read to serve, prints why it would refuse to start (or nothing),
//! and exits 1 (or 0) before the Lambda runtime starts. The local stack runs every function so
//! before it reports itself up (`make dev`): under `cargo lambda watch` a function that refuses
//! to start shows only as the gateway's 502 or 503 on each request, its reason in a log nobody
//! reads. Going through this one entry, the check cannot drift from what serving reads.

use aws_types::SdkConfig;

use crate::config::{ConfigError, Lookup, env, value};

/// Set to `1`, a function checks its configuration and exits instead of serving.
pub const CHECK_CONFIG_VAR: &str = "AWAKNOW_CHECK_CONFIG";

/// A function's configuration `C` and the SDK's, read and validated.
#[derive(Debug, Clone)]
pub struct Startup<C> {
    pub config: C,
    pub sdk: SdkConfig,
}

/// Reads the function's configuration with `config`, then the SDK's. When
/// [`CHECK_CONFIG_VAR`] is `1` it does not return: it exits the process, 0 when both were read,
/// 1 with `function`'s reason on stderr when one was refused.
pub fn load<C>(
    function: &str,
    config: impl FnOnce() -> Result<C, ConfigError>,
) -> Result<Startup<C>, ConfigError> {
    let loaded = read(config);
    if checking(&env) {
        std::process::exit(match verdict(function, loaded.as_ref().map(drop)) {
            Ok(()) => 0,
            Err(line) => {
                eprintln!("{line}");
                1
            }
        });
    }
    loaded
}

fn read<C>(config: impl FnOnce() -> Result<C, ConfigError>) -> Result<Startup<C>, ConfigError> {
    let config = config()?;
    Ok(Startup {
        config,
        sdk: crate::aws::sdk_config()?,
    })
}

/// Only `1` asks for the check: a stray value must not stop a function serving.
fn checking(lookup: Lookup<'_>) -> bool {
    value(lookup, CHECK_CONFIG_VAR).as_deref() == Some("1")
}

/// The line a refused configuration prints: the function, then its own error, which names the
/// variable (and never carries a value that could be a secret).
fn verdict(function: &str, loaded: Result<(), &ConfigError>) -> Result<(), String> {
    loaded.map_err(|error| format!("{function} refuses to start: {error}"))
}

#[cfg(test)]
mod tests {
    use super::{CHECK_CONFIG_VAR, checking, verdict};
    use crate::config::ConfigError;

    fn lookup_with(check: Option<&'static str>) -> impl Fn(&str) -> Option<String> {
        move |name| {
            if name == CHECK_CONFIG_VAR {
                check.map(str::to_owned)
            } else {
                None
            }
        }
    }

    #[test]
    fn only_one_asks_for_the_check() {
        assert!(checking(&lookup_with(Some("1"))));
        assert!(checking(&lookup_with(Some(" 1 "))));
        for other in [None, Some(""), Some("0"), Some("true")] {
            assert!(!checking(&lookup_with(other)), "{other:?}");
        }
    }

    #[test]
    fn a_refusal_names_the_function_and_the_variable() {
        let error = ConfigError::Missing("TABLE_NAME");
        assert_eq!(
            verdict("set-plan", Err(&error)),
            Err("set-plan refuses to start: environment variable TABLE_NAME is not set".into())
        );
        assert_eq!(verdict("set-plan", Ok(())), Ok(()));
    }
}
