//! Tavus settings, read once per execution environment.

use std::time::Duration;

use super::retry::RetryPolicy;
use crate::domain::SessionType;

pub const DEFAULT_BASE_URL: &str = "https://tavusapi.com";

/// Which persona (PAL) and replica (face) a session type talks to. Either may be omitted: a
/// persona with a default replica needs no replica id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Companion {
    pub persona_id: Option<String>,
    pub replica_id: Option<String>,
}

#[derive(Debug, Clone)]
pub struct TavusConfig {
    /// `https://tavusapi.com`, or the simulator in tests and local development.
    pub base_url: String,
    pub reflect_alone: Companion,
    pub resolve_together: Companion,
    /// Seconds Tavus waits after the last participant left before it ends the call.
    pub participant_left_timeout: u32,
    /// Tavus's `test_mode`: the conversation is created but no replica joins, and nothing is billed.
    pub test_mode: bool,
    pub connect_timeout: Duration,
    /// One attempt's limit; the whole call is further bounded by the caller's deadline.
    pub request_timeout: Duration,
    pub retry: RetryPolicy,
}

impl Default for TavusConfig {
    fn default() -> Self {
        TavusConfig {
            base_url: DEFAULT_BASE_URL.to_owned(),
            reflect_alone: Companion::default(),
            resolve_together: Companion::default(),
            participant_left_timeout: 60,
            test_mode: false,
            connect_timeout: Duration::from_secs(3),
            request_timeout: Duration::from_secs(10),
            retry: RetryPolicy::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("environment variable {var}: {reason}")]
pub struct TavusConfigError {
    pub var: &'static str,
    pub reason: String,
}

impl TavusConfig {
    pub fn companion(&self, session_type: SessionType) -> &Companion {
        match session_type {
            SessionType::ReflectAlone => &self.reflect_alone,
            SessionType::ResolveTogether => &self.resolve_together,
        }
    }

    /// Reads `TAVUS_BASE_URL`, `TAVUS_PERSONA_ID_REFLECT`, `TAVUS_REPLICA_ID_REFLECT`,
    /// `TAVUS_PERSONA_ID_RESOLVE`, `TAVUS_REPLICA_ID_RESOLVE`, `TAVUS_PARTICIPANT_LEFT_TIMEOUT`
    /// and `TAVUS_TEST_MODE`; all optional.
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<TavusConfig, TavusConfigError> {
        let get = |var: &str| {
            lookup(var)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let mut config = TavusConfig::default();
        if let Some(url) = get("TAVUS_BASE_URL") {
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                return Err(TavusConfigError {
                    var: "TAVUS_BASE_URL",
                    reason: "must start with https:// (or http:// for a local simulator)".into(),
                });
            }
            config.base_url = url.trim_end_matches('/').to_owned();
        }
        config.reflect_alone = Companion {
            persona_id: get("TAVUS_PERSONA_ID_REFLECT"),
            replica_id: get("TAVUS_REPLICA_ID_REFLECT"),
        };
        config.resolve_together = Companion {
            persona_id: get("TAVUS_PERSONA_ID_RESOLVE"),
            replica_id: get("TAVUS_REPLICA_ID_RESOLVE"),
        };
        if let Some(seconds) = get("TAVUS_PARTICIPANT_LEFT_TIMEOUT") {
            config.participant_left_timeout =
                seconds
                    .parse()
                    .ok()
                    .filter(|s| *s <= 3600)
                    .ok_or(TavusConfigError {
                        var: "TAVUS_PARTICIPANT_LEFT_TIMEOUT",
                        reason: "must be whole seconds from 0 to 3600".into(),
                    })?;
        }
        if let Some(flag) = get("TAVUS_TEST_MODE") {
            config.test_mode = match flag.as_str() {
                "true" | "1" => true,
                "false" | "0" => false,
                _ => {
                    return Err(TavusConfigError {
                        var: "TAVUS_TEST_MODE",
                        reason: "must be true or false".into(),
                    });
                }
            };
        }
        Ok(config)
    }

    pub fn from_env() -> Result<TavusConfig, TavusConfigError> {
        Self::from_lookup(|var| std::env::var(var).ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_companions_and_flags() {
        let config = TavusConfig::from_lookup(|var| match var {
            "TAVUS_BASE_URL" => Some("http://127.0.0.1:4010/".into()),
            "TAVUS_PERSONA_ID_REFLECT" => Some("p-reflect".into()),
            "TAVUS_REPLICA_ID_RESOLVE" => Some("r-resolve".into()),
            "TAVUS_TEST_MODE" => Some("true".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(config.base_url, "http://127.0.0.1:4010");
        assert_eq!(
            config
                .companion(SessionType::ReflectAlone)
                .persona_id
                .as_deref(),
            Some("p-reflect")
        );
        assert_eq!(
            config
                .companion(SessionType::ResolveTogether)
                .replica_id
                .as_deref(),
            Some("r-resolve")
        );
        assert!(config.test_mode);
        assert_eq!(config.participant_left_timeout, 60);
    }

    #[test]
    fn bad_values_name_their_variable() {
        let err =
            TavusConfig::from_lookup(|var| (var == "TAVUS_BASE_URL").then(|| "ftp://x".into()))
                .unwrap_err();
        assert_eq!(err.var, "TAVUS_BASE_URL");
        let err = TavusConfig::from_lookup(|var| (var == "TAVUS_TEST_MODE").then(|| "yes".into()))
            .unwrap_err();
        assert_eq!(err.var, "TAVUS_TEST_MODE");
    }
}
