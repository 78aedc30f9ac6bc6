//! The secret's values (the Tavus key and the callback signing key), the type that never
//! prints one, and the errors of reading them.

use std::fmt;

use serde::Deserialize;

/// A secret string. Its `Debug` and `Display` print `[redacted]`; only [`Secret::expose`] gives
/// the value, at the one place that sends it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// What the secret holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretValues {
    pub tavus_api_key: Secret,
    /// Signs the per-session callback URLs. `None` when the secret is a plain string (the key
    /// alone); the webhook function then refuses to start.
    pub webhook_signing_key: Option<Secret>,
}

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("secret {0} does not exist")]
    Missing(String),
    #[error("secret {0} has no string value")]
    NotAString(String),
    #[error("secret {id} is not usable: {reason}")]
    Malformed { id: String, reason: &'static str },
    #[error("Secrets Manager is unavailable: {0}")]
    Unavailable(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SecretJson {
    tavus_api_key: String,
    #[serde(default)]
    webhook_signing_key: Option<String>,
}

impl SecretValues {
    /// Reads the secret string: JSON `{"tavus_api_key", "webhook_signing_key"}`, or a plain
    /// string taken as the Tavus key alone. Errors never include the value.
    pub fn parse(id: &str, text: &str) -> Result<SecretValues, SecretError> {
        let malformed = |reason| SecretError::Malformed {
            id: id.to_owned(),
            reason,
        };
        let trimmed = text.trim();
        if trimmed.starts_with('{') {
            let json: SecretJson = serde_json::from_str(trimmed).map_err(|_| {
                malformed("JSON must be {\"tavus_api_key\": ..., \"webhook_signing_key\": ...}")
            })?;
            let key = json.tavus_api_key.trim();
            if key.is_empty() {
                return Err(malformed("tavus_api_key is empty"));
            }
            let signing = json
                .webhook_signing_key
                .map(|k| k.trim().to_owned())
                .filter(|k| !k.is_empty());
            if signing.as_ref().is_some_and(|k| k.len() < 32) {
                return Err(malformed(
                    "webhook_signing_key must be at least 32 characters",
                ));
            }
            return Ok(SecretValues {
                tavus_api_key: Secret::new(key),
                webhook_signing_key: signing.map(Secret::new),
            });
        }
        if trimmed.is_empty() {
            return Err(malformed("the secret is empty"));
        }
        Ok(SecretValues {
            tavus_api_key: Secret::new(trimmed),
            webhook_signing_key: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIGNING: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn json_and_plain_secrets_are_read() {
        let json = format!(r#"{{"tavus_api_key": "tk-1", "webhook_signing_key": "{SIGNING}"}}"#);
        let values = SecretValues::parse("s", &json).unwrap();
        assert_eq!(values.tavus_api_key.expose(), "tk-1");
        assert_eq!(values.webhook_signing_key.unwrap().expose(), SIGNING);
        let plain = SecretValues::parse("s", " tk-2\n").unwrap();
        assert_eq!(plain.tavus_api_key.expose(), "tk-2");
        assert!(plain.webhook_signing_key.is_none());
    }

    #[test]
    fn malformed_secrets_are_refused_without_echoing_them() {
        for bad in [
            "",
            "{}",
            r#"{"tavus_api_key": ""}"#,
            r#"{"tavus_api_key": "tk-secret", "extra": 1}"#,
            r#"{"tavus_api_key": "tk-secret", "webhook_signing_key": "short"}"#,
        ] {
            let err = SecretValues::parse("s", bad).unwrap_err();
            assert!(!err.to_string().contains("tk-secret"), "{err}");
        }
    }

    #[test]
    fn secrets_never_print_their_value() {
        let values = SecretValues::parse("s", "tk-do-not-print").unwrap();
        let shown = format!(
            "{values:?} {} {:?}",
            values.tavus_api_key, values.tavus_api_key
        );
        assert!(!shown.contains("tk-do-not-print"), "{shown}");
        assert!(shown.contains("[redacted]"));
    }
}
