//! Reading and checking what a client sent. Every rejection names the field at fault.

use serde_json::{Map, Value};

use super::ApiError;
use crate::domain::history::{DEFAULT_HISTORY_PERIODS, MAX_HISTORY_PERIODS};
use crate::domain::minutes::TAVUS_MAX_CALL_MINUTES;
use crate::domain::notes::MAX_NOTES_CHARS;
use crate::domain::{Precondition, SessionId, SessionType, UserId};
use crate::service::create::CreateSessionRequest;
use crate::store::IdempotencyKey;
use crate::store::MAX_PAGE;

pub const MAX_PROMPT_CHARS: usize = 4000;
pub const MAX_CONTEXT_CHARS: usize = 4000;
pub const MAX_PARTICIPANTS: usize = 7;
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 128;
pub const DEFAULT_PAGE: u32 = 20;

const FIELDS: [&str; 6] = [
    "session_type",
    "prompt",
    "participant_context",
    "participants",
    "max_minutes",
    "record",
];

fn text(
    body: &Map<String, Value>,
    field: &str,
    max: usize,
    required: bool,
) -> Result<Option<String>, ApiError> {
    match body.get(field) {
        None | Some(Value::Null) if !required => Ok(None),
        None | Some(Value::Null) => Err(ApiError::invalid(format!("{field}: required"))),
        Some(Value::String(s)) => {
            let chars = s.chars().count();
            if required && s.trim().is_empty() {
                Err(ApiError::invalid(format!("{field}: must not be blank")))
            } else if chars > max {
                Err(ApiError::invalid(format!(
                    "{field}: at most {max} characters (got {chars})"
                )))
            } else {
                Ok(Some(s.clone()))
            }
        }
        Some(_) => Err(ApiError::invalid(format!("{field}: must be a string"))),
    }
}

fn session_type(value: Option<&Value>) -> Result<SessionType, ApiError> {
    match value {
        Some(Value::String(s)) if s == "reflect_alone" => Ok(SessionType::ReflectAlone),
        Some(Value::String(s)) if s == "resolve_together" => Ok(SessionType::ResolveTogether),
        None | Some(Value::Null) => Err(ApiError::invalid("session_type: required")),
        Some(_) => Err(ApiError::invalid(
            "session_type: must be reflect_alone or resolve_together",
        )),
    }
}

fn max_minutes(value: Option<&Value>) -> Result<Option<u32>, ApiError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .filter(|m| (1..=u64::from(TAVUS_MAX_CALL_MINUTES)).contains(m))
            .and_then(|m| u32::try_from(m).ok())
            .map(Some)
            .ok_or_else(|| {
                ApiError::invalid(format!(
                    "max_minutes: a whole number from 1 to {TAVUS_MAX_CALL_MINUTES}"
                ))
            }),
    }
}

/// The invited participants: only for sessions together, 1 to [`MAX_PARTICIPANTS`] distinct
/// users other than the owner.
fn participants(
    session_type: SessionType,
    value: Option<&Value>,
    owner: &UserId,
) -> Result<Vec<UserId>, ApiError> {
    match (session_type, value) {
        (SessionType::ReflectAlone, None | Some(Value::Null)) => Ok(Vec::new()),
        (SessionType::ReflectAlone, Some(_)) => Err(ApiError::invalid(
            "participants: only allowed for resolve_together sessions",
        )),
        (SessionType::ResolveTogether, None | Some(Value::Null)) => Err(ApiError::invalid(
            "participants: required for resolve_together sessions",
        )),
        (SessionType::ResolveTogether, Some(Value::Array(list))) => participant_list(list, owner),
        (SessionType::ResolveTogether, Some(_)) => Err(ApiError::invalid(
            "participants: must be a list of user ids",
        )),
    }
}

fn participant_list(list: &[Value], owner: &UserId) -> Result<Vec<UserId>, ApiError> {
    if list.is_empty() || list.len() > MAX_PARTICIPANTS {
        return Err(ApiError::invalid(format!(
            "participants: 1 to {MAX_PARTICIPANTS} user ids"
        )));
    }
    let mut ids: Vec<UserId> = Vec::with_capacity(list.len());
    for (i, item) in list.iter().enumerate() {
        let id = item
            .as_str()
            .ok_or_else(|| ApiError::invalid(format!("participants[{i}]: must be a string")))
            .and_then(|s| {
                UserId::parse(s).map_err(|e| ApiError::invalid(format!("participants[{i}]: {e}")))
            })?;
        if &id == owner {
            return Err(ApiError::invalid(format!(
                "participants[{i}]: the owner is not a participant"
            )));
        }
        if ids.contains(&id) {
            return Err(ApiError::invalid(format!(
                "participants[{i}]: duplicate user id"
            )));
        }
        ids.push(id);
    }
    Ok(ids)
}

// The service's input type; reading it from an HTTP body is the API's part.
impl CreateSessionRequest {
    /// Parses and checks a `POST /sessions` body for `owner`.
    pub fn parse(body: &[u8], owner: &UserId) -> Result<CreateSessionRequest, ApiError> {
        let value: Value = serde_json::from_slice(body)
            .map_err(|e| ApiError::invalid(format!("body: not valid JSON ({e})")))?;
        let Value::Object(body) = value else {
            return Err(ApiError::invalid("body: must be a JSON object"));
        };
        if let Some(unknown) = body.keys().find(|k| !FIELDS.contains(&k.as_str())) {
            return Err(ApiError::invalid(format!("{unknown}: unknown field")));
        }
        let session_type = session_type(body.get("session_type"))?;
        let prompt = text(&body, "prompt", MAX_PROMPT_CHARS, true)?.unwrap_or_default();
        let participant_context = text(&body, "participant_context", MAX_CONTEXT_CHARS, false)?;
        let max_minutes = max_minutes(body.get("max_minutes"))?;
        let participants = participants(session_type, body.get("participants"), owner)?;
        let record = match body.get("record") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(ApiError::invalid("record: must be true or false")),
        };
        Ok(CreateSessionRequest {
            session_type,
            prompt,
            participant_context,
            participants,
            max_minutes,
            record,
        })
    }
}

/// Checks an `Idempotency-Key` header value: 1 to 128 of `A-Za-z0-9_-`.
pub fn idempotency_key(
    header: Option<&str>,
    request: &CreateSessionRequest,
) -> Result<Option<IdempotencyKey>, ApiError> {
    let Some(key) = header else { return Ok(None) };
    let valid = (1..=MAX_IDEMPOTENCY_KEY_LEN).contains(&key.len())
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if !valid {
        return Err(ApiError::invalid(format!(
            "Idempotency-Key: 1 to {MAX_IDEMPOTENCY_KEY_LEN} characters of A-Z, a-z, 0-9, _ and -"
        )));
    }
    Ok(Some(IdempotencyKey {
        key: key.to_owned(),
        fingerprint: request.fingerprint(),
    }))
}

/// A session id from the path.
pub fn session_id(raw: &str) -> Result<SessionId, ApiError> {
    // An id that cannot exist is simply not found, as for another user's session.
    raw.parse().map_err(|_| ApiError::not_found())
}

/// `?limit=&cursor=` of `GET /sessions`.
pub fn page(
    limit: Option<&str>,
    cursor: Option<&str>,
) -> Result<(u32, Option<SessionId>), ApiError> {
    let limit = match limit {
        None => DEFAULT_PAGE,
        Some(l) => l
            .parse::<u32>()
            .ok()
            .filter(|l| (1..=MAX_PAGE).contains(l))
            .ok_or_else(|| {
                ApiError::invalid(format!("limit: a whole number from 1 to {MAX_PAGE}"))
            })?,
    };
    let cursor = match cursor {
        None | Some("") => None,
        Some(c) => Some(
            c.parse()
                .map_err(|_| ApiError::invalid("cursor: not a cursor from a previous page"))?,
        ),
    };
    Ok((limit, cursor))
}

/// The text of a `PUT /sessions/{id}/notes` body, `{"text": "..."}`: at most
/// [`MAX_NOTES_CHARS`] characters; empty clears the notes.
pub fn notes_text(body: &[u8]) -> Result<String, ApiError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::invalid(format!("body: not valid JSON ({e})")))?;
    let Value::Object(body) = value else {
        return Err(ApiError::invalid("body: must be a JSON object"));
    };
    if let Some(unknown) = body.keys().find(|k| k.as_str() != "text") {
        return Err(ApiError::invalid(format!("{unknown}: unknown field")));
    }
    match body.get("text") {
        None | Some(Value::Null) => Err(ApiError::invalid("text: required")),
        Some(Value::String(text)) => {
            let chars = text.chars().count();
            if chars > MAX_NOTES_CHARS {
                Err(ApiError::invalid(format!(
                    "text: at most {MAX_NOTES_CHARS} characters (got {chars})"
                )))
            } else {
                Ok(text.clone())
            }
        }
        Some(_) => Err(ApiError::invalid("text: must be a string")),
    }
}

/// The `If-Match` header of a notes write.
pub fn precondition(if_match: Option<&str>) -> Result<Precondition, ApiError> {
    Precondition::from_if_match(if_match).map_err(|e| ApiError::invalid(e.to_string()))
}

/// `?limit=` of `GET /usage/history`.
pub fn history_limit(limit: Option<&str>) -> Result<u32, ApiError> {
    match limit {
        None => Ok(DEFAULT_HISTORY_PERIODS),
        Some(l) => l
            .parse::<u32>()
            .ok()
            .filter(|l| (1..=MAX_HISTORY_PERIODS).contains(l))
            .ok_or_else(|| {
                ApiError::invalid(format!(
                    "limit: a whole number from 1 to {MAX_HISTORY_PERIODS}"
                ))
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::ServiceError;

    fn owner() -> UserId {
        UserId::parse("owner-1").unwrap()
    }

    fn parse(json: &str) -> Result<CreateSessionRequest, String> {
        CreateSessionRequest::parse(json.as_bytes(), &owner()).map_err(|e| match e {
            ApiError::Service(ServiceError::InvalidRequest { detail }) => detail,
            other => panic!("unexpected {other:?}"),
        })
    }

    #[test]
    fn a_valid_reflection_and_a_valid_mediation_are_read() {
        let r =
            parse(r#"{"session_type": "reflect_alone", "prompt": "my week", "max_minutes": 15}"#)
                .unwrap();
        assert_eq!(
            (r.session_type, r.max_minutes, r.participants.len()),
            (SessionType::ReflectAlone, Some(15), 0)
        );
        let r = parse(r#"{"session_type": "resolve_together", "prompt": "chores", "participants": ["a", "b"], "participant_context": "flatmates"}"#).unwrap();
        assert_eq!(r.participants.len(), 2);
        assert_eq!(r.participant_context.as_deref(), Some("flatmates"));
    }

    #[test]
    fn every_rejection_names_its_field() {
        let long = "x".repeat(4001);
        let cases = [
            (r#"[1]"#.to_owned(), "body"),
            ("not json".to_owned(), "body"),
            (r#"{"prompt": "p"}"#.to_owned(), "session_type"),
            (r#"{"session_type": "group", "prompt": "p"}"#.to_owned(), "session_type"),
            (r#"{"session_type": "reflect_alone"}"#.to_owned(), "prompt"),
            (r#"{"session_type": "reflect_alone", "prompt": "   "}"#.to_owned(), "prompt"),
            (format!(r#"{{"session_type": "reflect_alone", "prompt": "{long}"}}"#), "prompt"),
            (format!(r#"{{"session_type": "reflect_alone", "prompt": "p", "participant_context": "{long}"}}"#), "participant_context"),
            (r#"{"session_type": "reflect_alone", "prompt": 5}"#.to_owned(), "prompt"),
            (r#"{"session_type": "reflect_alone", "prompt": "p", "max_minutes": 0}"#.to_owned(), "max_minutes"),
            (r#"{"session_type": "reflect_alone", "prompt": "p", "max_minutes": 61}"#.to_owned(), "max_minutes"),
            (r#"{"session_type": "reflect_alone", "prompt": "p", "max_minutes": 1.5}"#.to_owned(), "max_minutes"),
            (r#"{"session_type": "reflect_alone", "prompt": "p", "participants": ["a"]}"#.to_owned(), "participants"),
            (r#"{"session_type": "resolve_together", "prompt": "p"}"#.to_owned(), "participants"),
            (r#"{"session_type": "resolve_together", "prompt": "p", "participants": []}"#.to_owned(), "participants"),
            (r#"{"session_type": "resolve_together", "prompt": "p", "participants": ["a","b","c","d","e","f","g","h"]}"#.to_owned(), "participants"),
            (r#"{"session_type": "resolve_together", "prompt": "p", "participants": ["a", "a"]}"#.to_owned(), "participants[1]"),
            (r#"{"session_type": "resolve_together", "prompt": "p", "participants": ["owner-1"]}"#.to_owned(), "participants[0]"),
            (r#"{"session_type": "resolve_together", "prompt": "p", "participants": [""]}"#.to_owned(), "participants[0]"),
            (r#"{"session_type": "reflect_alone", "prompt": "p", "user_id": "someone-else"}"#.to_owned(), "user_id"),
        ];
        for (body, field) in cases {
            let detail = parse(&body).expect_err(&body);
            assert!(detail.starts_with(field), "{body}: {detail}");
        }
    }

    #[test]
    fn prompts_are_counted_in_characters_not_bytes() {
        let prompt = "é".repeat(4000);
        assert!(
            parse(&format!(
                r#"{{"session_type": "reflect_alone", "prompt": "{prompt}"}}"#
            ))
            .is_ok()
        );
    }

    #[test]
    fn record_is_opt_in_and_part_of_the_fingerprint() {
        let plain = parse(r#"{"session_type": "reflect_alone", "prompt": "a"}"#).unwrap();
        let off =
            parse(r#"{"session_type": "reflect_alone", "prompt": "a", "record": false}"#).unwrap();
        let on =
            parse(r#"{"session_type": "reflect_alone", "prompt": "a", "record": true}"#).unwrap();
        assert!(!plain.record && !off.record && on.record);
        assert_eq!(plain.fingerprint(), off.fingerprint());
        assert_ne!(plain.fingerprint(), on.fingerprint());
        let bad = parse(r#"{"session_type": "reflect_alone", "prompt": "a", "record": "yes"}"#);
        assert_eq!(bad.unwrap_err(), "record: must be true or false");
    }

    #[test]
    fn idempotency_keys_are_checked_and_fingerprinted() {
        let a = parse(r#"{"session_type": "reflect_alone", "prompt": "a"}"#).unwrap();
        let b = parse(r#"{"session_type": "reflect_alone", "prompt": "b"}"#).unwrap();
        let a_again = parse(r#"{"prompt": "a", "session_type": "reflect_alone"}"#).unwrap();
        assert_eq!(
            a.fingerprint(),
            a_again.fingerprint(),
            "field order does not matter"
        );
        assert_ne!(a.fingerprint(), b.fingerprint());
        assert!(idempotency_key(Some("retry_1-A"), &a).unwrap().is_some());
        assert!(idempotency_key(None, &a).unwrap().is_none());
        for bad in ["", "has space", "ünï", &"k".repeat(129)] {
            assert!(idempotency_key(Some(bad), &a).is_err(), "{bad}");
        }
    }

    #[test]
    fn notes_bodies_are_checked_and_counted_in_characters() {
        let ok =
            |text: &str| notes_text(serde_json::json!({ "text": text }).to_string().as_bytes());
        assert_eq!(ok("").unwrap(), "");
        assert_eq!(ok(&"é".repeat(20_000)).unwrap().chars().count(), 20_000);
        let too_long = ok(&"x".repeat(20_001)).unwrap_err();
        assert!(
            matches!(&too_long, ApiError::Service(ServiceError::InvalidRequest { detail }) if detail.starts_with("text: at most 20000")),
            "{too_long:?}"
        );
        for (body, field) in [
            ("{}", "text"),
            (r#"{"text": 5}"#, "text"),
            (r#"{"text": null}"#, "text"),
            (r#"{"text": "a", "owner": "b"}"#, "owner"),
            ("[]", "body"),
            ("nope", "body"),
        ] {
            match notes_text(body.as_bytes()) {
                Err(ApiError::Service(ServiceError::InvalidRequest { detail })) => {
                    assert!(detail.starts_with(field), "{body}: {detail}")
                }
                other => panic!("{body}: {other:?}"),
            }
        }
    }

    #[test]
    fn history_limits_are_bounded() {
        assert_eq!(history_limit(None).unwrap(), 12);
        assert_eq!(history_limit(Some("24")).unwrap(), 24);
        for bad in ["0", "25", "-1", "1.5", "twelve", ""] {
            assert!(history_limit(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn pages_are_bounded() {
        assert_eq!(page(None, None).unwrap(), (20, None));
        assert!(page(Some("0"), None).is_err());
        assert!(page(Some("101"), None).is_err());
        assert!(page(None, Some("nope")).is_err());
    }
}
