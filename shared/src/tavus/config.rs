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
    /// Seconds from creation within which someone must join before Tavus ends the call, and
    /// the meeting token's lifetime (a private room's join window).
    pub participant_absent_timeout: u32,
    /// Delete Tavus's copy of a conversation (`DELETE ?hard=true`) once its transcript is
    /// stored and it is settled.
    pub delete_after_call: bool,
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
            participant_absent_timeout: 120,
            delete_after_call: true,
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
    /// Every session type needs a persona or a replica to talk to, or each create would fail at
    /// Tavus: refuse to start instead, naming the variables.
    pub fn require_companions(&self) -> Result<(), TavusConfigError> {
        let missing = |c: &Companion| c.persona_id.is_none() && c.replica_id.is_none();
        if missing(&self.reflect_alone) {
            return Err(TavusConfigError {
                var: "TAVUS_PERSONA_ID_REFLECT",
                reason: "set it or TAVUS_REPLICA_ID_REFLECT: reflect_alone sessions need a persona or a replica".into(),
            });
        }
        if missing(&self.resolve_together) {
            return Err(TavusConfigError {
                var: "TAVUS_PERSONA_ID_RESOLVE",
                reason: "set it or TAVUS_REPLICA_ID_RESOLVE: resolve_together sessions need a persona or a replica".into(),
            });
        }
        Ok(())
    }

    pub fn companion(&self, session_type: SessionType) -> &Companion {
        match session_type {
            SessionType::ReflectAlone => &self.reflect_alone,
            SessionType::ResolveTogether => &self.resolve_together,
        }
    }

    /// Reads `TAVUS_BASE_URL`, `TAVUS_PERSONA_ID_REFLECT`, `TAVUS_REPLICA_ID_REFLECT`,
    /// `TAVUS_PERSONA_ID_RESOLVE`, `TAVUS_REPLICA_ID_RESOLVE`, `TAVUS_PARTICIPANT_LEFT_TIMEOUT`,
    /// `TAVUS_PARTICIPANT_ABSENT_TIMEOUT`, `TAVUS_DELETE_AFTER_CALL` and `TAVUS_TEST_MODE`; all
    /// optional here ([`TavusConfig::require_companions`] is the create path's check).
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
                seconds_in("TAVUS_PARTICIPANT_LEFT_TIMEOUT", &seconds, 0..=3600)?;
        }
        if let Some(seconds) = get("TAVUS_PARTICIPANT_ABSENT_TIMEOUT") {
            config.participant_absent_timeout =
                seconds_in("TAVUS_PARTICIPANT_ABSENT_TIMEOUT", &seconds, 10..=3600)?;
        }
        if let Some(flag) = get("TAVUS_DELETE_AFTER_CALL") {
            config.delete_after_call = flag_of("TAVUS_DELETE_AFTER_CALL", &flag)?;
        }
        if let Some(flag) = get("TAVUS_TEST_MODE") {
            config.test_mode = flag_of("TAVUS_TEST_MODE", &flag)?;
        }
        Ok(config)
    }

    pub fn from_env() -> Result<TavusConfig, TavusConfigError> {
        Self::from_lookup(|var| std::env::var(var).ok())
    }
}

fn seconds_in(
    var: &'static str,
    text: &str,
    range: std::ops::RangeInclusive<u32>,
) -> Result<u32, TavusConfigError> {
    text.parse()
        .ok()
        .filter(|s| range.contains(s))
        .ok_or_else(|| TavusConfigError {
            var,
            reason: format!(
                "must be whole seconds from {} to {}",
                range.start(),
                range.end()
            ),
        })
}

fn flag_of(var: &'static str, text: &str) -> Result<bool, TavusConfigError> {
    match text {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(TavusConfigError {
            var,
            reason: "must be true or false".into(),
        }),
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
        assert_eq!(config.participant_absent_timeout, 120);
        assert!(config.delete_after_call);
        assert!(config.require_companions().is_ok());
    }

    #[test]
    fn a_session_type_without_persona_or_replica_is_refused_by_name() {
        let only_reflect = TavusConfig::from_lookup(|var| {
            (var == "TAVUS_PERSONA_ID_REFLECT").then(|| "p1".into())
        })
        .unwrap();
        let err = only_reflect.require_companions().unwrap_err();
        assert_eq!(err.var, "TAVUS_PERSONA_ID_RESOLVE");
        assert!(err.to_string().contains("TAVUS_REPLICA_ID_RESOLVE"));
        let none = TavusConfig::from_lookup(|_| None).unwrap();
        assert_eq!(
            none.require_companions().unwrap_err().var,
            "TAVUS_PERSONA_ID_REFLECT"
        );
        let both = TavusConfig::from_lookup(|var| match var {
            "TAVUS_REPLICA_ID_REFLECT" | "TAVUS_PERSONA_ID_RESOLVE" => Some("x".into()),
            _ => None,
        })
        .unwrap();
        assert!(both.require_companions().is_ok());
    }

    #[test]
    fn the_join_window_and_deletion_are_configurable() {
        let config = TavusConfig::from_lookup(|var| match var {
            "TAVUS_PARTICIPANT_ABSENT_TIMEOUT" => Some("90".into()),
            "TAVUS_DELETE_AFTER_CALL" => Some("false".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(config.participant_absent_timeout, 90);
        assert!(!config.delete_after_call);
        let err = TavusConfig::from_lookup(|var| {
            (var == "TAVUS_PARTICIPANT_ABSENT_TIMEOUT").then(|| "5".into())
        })
        .unwrap_err();
        assert_eq!(err.var, "TAVUS_PARTICIPANT_ABSENT_TIMEOUT");
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
