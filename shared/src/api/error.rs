//! Every error the API can answer, and its one mapping to a problem response (openapi.yaml's
//! `Problem`). Core errors convert into these with `?`; nothing else picks a status code.

use chrono::{DateTime, SecondsFormat, Utc};

use crate::LedgerError;
use crate::domain::PlanId;
use crate::problem::Problem;
use crate::secrets::SecretError;
use crate::tavus::TavusError;

/// Seconds a client is asked to wait when Tavus is at capacity.
pub const AT_CAPACITY_RETRY_AFTER: u32 = 30;
/// Seconds a client is asked to wait before erasing again when Tavus kept its copy.
pub const ERASURE_RETRY_AFTER: u32 = 30;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("invalid request: {detail}")]
    InvalidRequest { detail: String },
    #[error("no or bad token")]
    Unauthenticated,
    #[error("minutes exhausted")]
    MinutesExhausted {
        remaining_minutes: i64,
        plan: PlanId,
        resets_at: DateTime<Utc>,
    },
    #[error("not found")]
    NotFound,
    #[error("idempotency key reused with a different request")]
    IdempotencyConflict,
    #[error("too many open sessions")]
    TooManyOpenSessions {
        open_sessions: i64,
        max_open_sessions: u32,
    },
    #[error("tavus unavailable: {0}")]
    TavusUnavailable(String),
    #[error("tavus at capacity")]
    TavusAtCapacity,
    #[error("dependency unavailable: {0}")]
    DependencyUnavailable(String),
    /// Erasure: the session is still pending or active.
    #[error("the session is still open")]
    SessionActive,
    /// A write's `If-Match` no longer matches.
    #[error("precondition failed")]
    PreconditionFailed,
    /// Erasure: Tavus could not delete its copy of the conversation, so nothing was erased.
    #[error("tavus did not delete its copy: {0}")]
    TavusCopyKept(String),
    /// `"record": true` where no recordings bucket is configured.
    #[error("recording is not available")]
    RecordingUnavailable,
    /// Erasure: a recording object could not be deleted yet; the sweeper finishes the erasure.
    #[error("a recording was not deleted: {0}")]
    RecordingKept(String),
    /// A bug or corrupt data: retrying cannot help, so no `Retry-After`. The cause is logged
    /// with the request id; the body says nothing of it.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    pub fn internal(cause: impl Into<String>) -> ApiError {
        ApiError::Internal(cause.into())
    }

    pub fn invalid(detail: impl Into<String>) -> ApiError {
        ApiError::InvalidRequest {
            detail: detail.into(),
        }
    }

    /// The problem body, and the `Retry-After` seconds when there is one.
    // Long on purpose: one arm per error, so the whole mapping reads as one table.
    pub fn problem(&self) -> (Problem, Option<u32>) {
        match self {
            ApiError::InvalidRequest { detail } => {
                (Problem::new(400, "invalid_request", "The request is invalid").with_detail(detail.clone()), None)
            }
            ApiError::Unauthenticated => (
                Problem::new(401, "unauthenticated", "Authentication required")
                    .with_detail("send Authorization: Bearer <token> with a valid token"),
                None,
            ),
            ApiError::MinutesExhausted { remaining_minutes, plan, resets_at } => (
                Problem::new(402, "minutes_exhausted", "No minutes left this period")
                    .with_detail(format!("fewer than one minute is left on the {plan} plan until {}", rfc3339(*resets_at)))
                    .with("remaining_minutes", *remaining_minutes)
                    .with("plan", plan.as_str())
                    .with("resets_at", rfc3339(*resets_at)),
                None,
            ),
            ApiError::NotFound => (Problem::new(404, "not_found", "Not found").with_detail("no such session for this user"), None),
            ApiError::IdempotencyConflict => (
                Problem::new(409, "idempotency_conflict", "Idempotency-Key reused")
                    .with_detail("this Idempotency-Key was already used with a different request body"),
                None,
            ),
            ApiError::TooManyOpenSessions { open_sessions, max_open_sessions } => (
                Problem::new(409, "too_many_open_sessions", "Too many open sessions")
                    .with_detail(format!(
                        "you have {open_sessions} sessions open and at most {max_open_sessions} may be open at once; \
                         end an open session first (POST /sessions/{{id}}/end), then try again"
                    ))
                    .with("open_sessions", *open_sessions)
                    .with("max_open_sessions", *max_open_sessions),
                None,
            ),
            ApiError::TavusUnavailable(_) => (
                Problem::new(502, "tavus_unavailable", "The video service failed")
                    .with_detail("Tavus did not create the conversation; nothing was charged"),
                None,
            ),
            ApiError::TavusAtCapacity => (
                Problem::new(503, "tavus_at_capacity", "The video service is at capacity")
                    .with_detail("too many conversations are running; nothing was charged, try again shortly"),
                Some(AT_CAPACITY_RETRY_AFTER),
            ),
            ApiError::DependencyUnavailable(_) => (
                Problem::new(503, "dependency_unavailable", "A service we depend on is unavailable")
                    .with_detail("try again shortly"),
                Some(5),
            ),
            ApiError::Internal(_) => (
                Problem::new(500, "internal", "Something went wrong on our side")
                    .with_detail("the error is logged with this request's id; retrying will not help until it is fixed"),
                None,
            ),
            ApiError::SessionActive => (
                Problem::new(409, "session_active", "The session is still open")
                    .with_detail("end the session first (POST /sessions/{id}/end), then erase it"),
                None,
            ),
            ApiError::PreconditionFailed => (
                Problem::new(412, "precondition_failed", "The notes changed")
                    .with_detail(
                        "the notes changed since the ETag sent in If-Match; nothing was written: \
                         read them again (GET), merge, and write with the new ETag",
                    ),
                None,
            ),
            ApiError::RecordingUnavailable => (
                Problem::new(400, "recording_unavailable", "Recording is not available")
                    .with_detail("this service does not record calls; create the session without \"record\": true"),
                None,
            ),
            ApiError::RecordingKept(_) => (
                Problem::new(503, "dependency_unavailable", "A service we depend on is unavailable")
                    .with_detail("the recording could not be deleted yet; the erasure finishes on its own shortly, or try again"),
                Some(ERASURE_RETRY_AFTER),
            ),
            ApiError::TavusCopyKept(_) => (
                Problem::new(503, "dependency_unavailable", "A service we depend on is unavailable")
                    .with_detail("the video service could not delete its copy of the call; nothing was erased, try again shortly"),
                Some(ERASURE_RETRY_AFTER),
            ),
        }
    }
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

impl From<LedgerError> for ApiError {
    fn from(e: LedgerError) -> ApiError {
        match e {
            LedgerError::MinutesExhausted {
                remaining_minutes,
                plan,
                resets_at,
            } => ApiError::MinutesExhausted {
                remaining_minutes,
                plan,
                resets_at,
            },
            LedgerError::SessionNotFound => ApiError::NotFound,
            LedgerError::SessionOpen => ApiError::SessionActive,
            LedgerError::PreconditionFailed => ApiError::PreconditionFailed,
            LedgerError::IdempotencyConflict => ApiError::IdempotencyConflict,
            LedgerError::TooManyOpenSessions {
                open_sessions,
                max_open_sessions,
            } => ApiError::TooManyOpenSessions {
                open_sessions,
                max_open_sessions,
            },
            other @ (LedgerError::Contention { .. } | LedgerError::Unavailable(_)) => {
                ApiError::DependencyUnavailable(other.to_string())
            }
            other @ (LedgerError::SessionMismatch(_) | LedgerError::CorruptItem(_)) => {
                ApiError::Internal(other.to_string())
            }
        }
    }
}

impl From<TavusError> for ApiError {
    fn from(e: TavusError) -> ApiError {
        match e {
            TavusError::AtCapacity => ApiError::TavusAtCapacity,
            TavusError::Secret(s) => ApiError::from(s),
            other => ApiError::TavusUnavailable(other.to_string()),
        }
    }
}

impl From<crate::recordings::RecordingError> for ApiError {
    fn from(e: crate::recordings::RecordingError) -> ApiError {
        ApiError::DependencyUnavailable(e.to_string())
    }
}

impl From<SecretError> for ApiError {
    fn from(e: SecretError) -> ApiError {
        ApiError::DependencyUnavailable(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_error_has_its_contract_status_and_code() {
        let resets_at = DateTime::parse_from_rfc3339("2026-12-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let cases: Vec<(ApiError, u16, &str)> = vec![
            (
                ApiError::invalid("prompt: required"),
                400,
                "invalid_request",
            ),
            (ApiError::Unauthenticated, 401, "unauthenticated"),
            (
                ApiError::MinutesExhausted {
                    remaining_minutes: 0,
                    plan: PlanId::Free,
                    resets_at,
                },
                402,
                "minutes_exhausted",
            ),
            (ApiError::NotFound, 404, "not_found"),
            (ApiError::IdempotencyConflict, 409, "idempotency_conflict"),
            (
                ApiError::TooManyOpenSessions {
                    open_sessions: 2,
                    max_open_sessions: 2,
                },
                409,
                "too_many_open_sessions",
            ),
            (
                ApiError::TavusUnavailable("x".into()),
                502,
                "tavus_unavailable",
            ),
            (ApiError::TavusAtCapacity, 503, "tavus_at_capacity"),
            (
                ApiError::from(LedgerError::SessionOpen),
                409,
                "session_active",
            ),
            (
                ApiError::from(LedgerError::PreconditionFailed),
                412,
                "precondition_failed",
            ),
            (
                ApiError::TavusCopyKept("x".into()),
                503,
                "dependency_unavailable",
            ),
            (
                ApiError::DependencyUnavailable("x".into()),
                503,
                "dependency_unavailable",
            ),
            (
                ApiError::from(LedgerError::CorruptItem("no plan".into())),
                500,
                "internal",
            ),
            (
                ApiError::from(LedgerError::SessionMismatch("x")),
                500,
                "internal",
            ),
            (ApiError::RecordingUnavailable, 400, "recording_unavailable"),
            (
                ApiError::RecordingKept("s3 at 10.0.0.1".into()),
                503,
                "dependency_unavailable",
            ),
        ];
        for (error, status, code) in cases {
            let (problem, _) = error.problem();
            assert_eq!((problem.status, problem.code), (status, code));
        }
    }

    #[test]
    fn minutes_exhausted_carries_what_the_client_needs() {
        let resets_at = DateTime::parse_from_rfc3339("2026-12-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let (problem, _) = ApiError::MinutesExhausted {
            remaining_minutes: 0,
            plan: PlanId::Free,
            resets_at,
        }
        .problem();
        let json: serde_json::Value = serde_json::from_str(&problem.to_json()).unwrap();
        assert_eq!(json["remaining_minutes"], 0);
        assert_eq!(json["plan"], "free");
        assert_eq!(json["resets_at"], "2026-12-01T00:00:00Z");
        assert_eq!(
            json["type"],
            "https://awaknow.app/problems/minutes-exhausted"
        );
    }

    #[test]
    fn too_many_open_sessions_tells_the_user_to_end_one() {
        let (problem, retry) = ApiError::from(LedgerError::TooManyOpenSessions {
            open_sessions: 2,
            max_open_sessions: 2,
        })
        .problem();
        assert_eq!(
            (problem.status, problem.code, retry),
            (409, "too_many_open_sessions", None)
        );
        let json: serde_json::Value = serde_json::from_str(&problem.to_json()).unwrap();
        assert_eq!(
            (
                json["open_sessions"].as_i64(),
                json["max_open_sessions"].as_i64()
            ),
            (Some(2), Some(2))
        );
        let detail = json["detail"].as_str().unwrap();
        assert!(detail.contains("end an open session first"), "{detail}");
    }

    #[test]
    fn internal_details_never_reach_the_body() {
        let (problem, retry) = ApiError::from(LedgerError::Unavailable(
            "dynamodb at 10.0.0.1 said no".into(),
        ))
        .problem();
        assert!(!problem.to_json().contains("10.0.0.1"));
        assert_eq!(retry, Some(5));
        let (problem, retry) =
            ApiError::from(LedgerError::CorruptItem("plan at 10.0.0.2".into())).problem();
        assert!(!problem.to_json().contains("10.0.0.2"));
        assert_eq!(
            (problem.status, retry),
            (500, None),
            "a bug is not worth retrying"
        );
        let (problem, retry) = ApiError::from(TavusError::AtCapacity).problem();
        assert_eq!(
            (problem.code, retry),
            ("tavus_at_capacity", Some(AT_CAPACITY_RETRY_AFTER))
        );
    }
}
