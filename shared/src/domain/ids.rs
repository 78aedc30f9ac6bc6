//! Identifiers: the user id from the verified token and the time-ordered session id.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use ulid::Ulid;

/// A user id: the `sub` claim of a verified token, or a participant named by the owner.
/// Bounded and free of control characters, because it becomes part of a DynamoDB key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct UserId(String);

pub(crate) const MAX_USER_ID_LEN: usize = 128;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadUserId {
    #[error("a user id must not be empty")]
    Empty,
    #[error("a user id must be at most {MAX_USER_ID_LEN} characters")]
    TooLong,
    #[error("a user id must not contain control characters or whitespace")]
    BadCharacter,
}

impl UserId {
    pub fn parse(s: &str) -> Result<UserId, BadUserId> {
        if s.is_empty() {
            return Err(BadUserId::Empty);
        }
        if s.chars().count() > MAX_USER_ID_LEN {
            return Err(BadUserId::TooLong);
        }
        if s.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(BadUserId::BadCharacter);
        }
        Ok(UserId(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for UserId {
    type Error = BadUserId;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        UserId::parse(&s)
    }
}

impl From<UserId> for String {
    fn from(id: UserId) -> String {
        id.0
    }
}

/// A session id: a ULID, so ids sort by creation time and `GET /sessions` is one Query,
/// newest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SessionId(Ulid);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a session id")]
pub struct BadSessionId(pub String);

impl SessionId {
    /// A new id for a session created at `now`.
    pub fn new_at(now: DateTime<Utc>) -> SessionId {
        let millis = u64::try_from(now.timestamp_millis()).unwrap_or(0);
        SessionId(Ulid::from_parts(millis, rand::random()))
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl FromStr for SessionId {
    type Err = BadSessionId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // Only the canonical upper-case form, so one session has exactly one key.
        Ulid::from_string(s)
            .ok()
            .filter(|u| u.to_string() == s)
            .map(SessionId)
            .ok_or_else(|| BadSessionId(s.to_owned()))
    }
}

impl TryFrom<String> for SessionId {
    type Error = BadSessionId;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<SessionId> for String {
    fn from(id: SessionId) -> String {
        id.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn user_ids_are_bounded_and_printable() {
        assert!(UserId::parse("auth0|5f1c").is_ok());
        assert_eq!(UserId::parse(""), Err(BadUserId::Empty));
        assert_eq!(UserId::parse(&"a".repeat(129)), Err(BadUserId::TooLong));
        assert!(UserId::parse(&"é".repeat(128)).is_ok());
        assert_eq!(UserId::parse("a b"), Err(BadUserId::BadCharacter));
        assert_eq!(UserId::parse("a\u{0}"), Err(BadUserId::BadCharacter));
    }

    #[test]
    fn session_ids_sort_by_creation_time() {
        let now = Utc::now();
        let earlier = SessionId::new_at(now);
        let later = SessionId::new_at(now + Duration::milliseconds(1));
        assert!(earlier < later);
        assert!(earlier.to_string() < later.to_string());
    }

    #[test]
    fn session_ids_parse_only_in_canonical_form() {
        let id = SessionId::new_at(Utc::now());
        assert_eq!(id.to_string().parse::<SessionId>(), Ok(id));
        assert!(id.to_string().to_lowercase().parse::<SessionId>().is_err());
        assert!("not-a-ulid".parse::<SessionId>().is_err());
        assert!("".parse::<SessionId>().is_err());
    }
}
