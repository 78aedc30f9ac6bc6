//! Every error the API can answer, and its one mapping to a problem response (openapi.yaml's
//! `Problem`): who is asking failed ([`ApiError::Unauthenticated`]), or what they asked for did
//! ([`ServiceError`]). Nothing else picks a status code.

use chrono::{DateTime, SecondsFormat, Utc};

use crate::LedgerError;
use crate::problem::Problem;
use crate::secrets::SecretError;
use crate::service::ServiceError;
use crate::tavus::TavusError;

/// Seconds a client is asked to wait when Tavus is at capacity.
pub const AT_CAPACITY_RETRY_AFTER: u32 = 30;
/// Seconds a client is asked to wait when the Tavus account is out of credits: someone has to
/// buy more, which takes longer than a capacity peak.
pub const OUT_OF_CREDITS_RETRY_AFTER: u32 = 300;
/// Seconds a client is asked to wait before erasing again when Tavus kept its copy.
pub const ERASURE_RETRY_AFTER: u32 = 30;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("no or bad token")]
    Unauthenticated,
    #[error(transparent)]
    Service(#[from] ServiceError),
}

impl ApiError {
    pub fn internal(cause: impl Into<String>) -> ApiError {
        ServiceError::internal(cause).into()
    }

    pub fn invalid(detail: impl Into<String>) -> ApiError {
        ServiceError::invalid(detail).into()
    }

    pub fn not_found() -> ApiError {
        ApiError::Service(ServiceError::NotFound)
    }

    /// The problem body, and the `Retry-After` seconds when there is one.
    pub fn problem(&self) -> (Problem, Option<u32>) {
        match self {
            ApiError::Unauthenticated => (
                Problem::new(401, "unauthenticated", "Authentication required")
                    .with_detail("send Authorization: Bearer <token> with a valid token"),
                None,
            ),
            ApiError::Service(e) => problem_of(e),
        }
    }
}

/// The problem a service error answers, and the `Retry-After` seconds when there is one.
// Long on purpose: one arm per error, so the whole mapping reads as one table.
pub fn problem_of(error: &ServiceError) -> (Problem, Option<u32>) {
    match error {
        ServiceError::InvalidRequest { detail } => {
            (Problem::new(400, "invalid_request", "The request is invalid").with_detail(detail.clone()), None)
        }
        ServiceError::MinutesExhausted { remaining_minutes, plan, resets_at } => (
            Problem::new(402, "minutes_exhausted", "No minutes left this period")
                .with_detail(format!("fewer than one minute is left on the {plan} plan until {}", rfc3339(*resets_at)))
                .with("remaining_minutes", *remaining_minutes)
                .with("plan", plan.as_str())
                .with("resets_at", rfc3339(*resets_at)),
            None,
        ),
        ServiceError::NotFound => (Problem::new(404, "not_found", "Not found").with_detail("no such session for this user"), None),
        ServiceError::IdempotencyConflict => (
            Problem::new(409, "idempotency_conflict", "Idempotency-Key reused")
                .with_detail("this Idempotency-Key was already used with a different request body"),
            None,
        ),
        ServiceError::TooManyOpenSessions { open_sessions, max_open_sessions } => (
            Problem::new(409, "too_many_open_sessions", "Too many open sessions")
                .with_detail(format!(
                    "you have {open_sessions} sessions open and at most {max_open_sessions} may be open at once; \
                     end an open session first (POST /sessions/{{id}}/end), then try again"
                ))
                .with("open_sessions", *open_sessions)
                .with("max_open_sessions", *max_open_sessions),
            None,
        ),
        ServiceError::RateLimited { retry_after_seconds, creates_per_minute } => (
            Problem::new(429, "rate_limited", "Too many sessions created")
                .with_detail(format!(
                    "at most {creates_per_minute} sessions may be created a minute; nothing was reserved, \
                     try again in {retry_after_seconds} s"
                ))
                .with("creates_per_minute", *creates_per_minute),
            Some(*retry_after_seconds),
        ),
        ServiceError::TavusUnavailable(_) => (
            Problem::new(502, "tavus_unavailable", "The video service failed")
                .with_detail("Tavus did not create the conversation; nothing was charged"),
            None,
        ),
        ServiceError::TavusAtCapacity => (
            Problem::new(503, "tavus_at_capacity", "The video service is at capacity")
                .with_detail("too many conversations are running; nothing was charged, try again shortly"),
            Some(AT_CAPACITY_RETRY_AFTER),
        ),
        ServiceError::TavusOutOfCredits => (
            Problem::new(503, "tavus_out_of_credits", "The video service is unavailable")
                .with_detail("no conversation can be started for now; nothing was charged, try again later"),
            Some(OUT_OF_CREDITS_RETRY_AFTER),
        ),
        ServiceError::DependencyUnavailable(_) => (
            Problem::new(503, "dependency_unavailable", "A service we depend on is unavailable")
                .with_detail("try again shortly"),
            Some(5),
        ),
        ServiceError::Internal(_) => (
            Problem::new(500, "internal", "Something went wrong on our side")
                .with_detail("the error is logged with this request's id; retrying will not help until it is fixed"),
            None,
        ),
        ServiceError::SessionActive => (
            Problem::new(409, "session_active", "The session is still open")
                .with_detail("end the session first (POST /sessions/{id}/end), then erase it"),
            None,
        ),
        ServiceError::PreconditionFailed => (
            Problem::new(412, "precondition_failed", "The notes changed")
                .with_detail(
                    "the notes changed since the ETag sent in If-Match; nothing was written: \
                     read them again (GET), merge, and write with the new ETag",
                ),
            None,
        ),
        ServiceError::RecordingUnavailable => (
            Problem::new(400, "recording_unavailable", "Recording is not available")
                .with_detail("this service does not record calls; create the session without \"record\": true"),
            None,
        ),
        ServiceError::AccountBeingDeleted => (
            Problem::new(409, "account_being_deleted", "The account is being deleted")
                .with_detail("this account is being deleted (DELETE /me); nothing was reserved"),
            None,
        ),
        ServiceError::ExportTooLarge { bytes } => (
            Problem::new(413, "export_too_large", "The export is too large")
                .with_detail(format!(
                    "the export is {bytes} bytes, more than a response can carry, and this service keeps no \
                     bucket to hand it over from; read it by parts (GET /sessions, then each session's transcript)"
                )),
            None,
        ),
        ServiceError::RecordingKept(_) => (
            Problem::new(503, "dependency_unavailable", "A service we depend on is unavailable")
                .with_detail("the recording could not be deleted yet; the erasure finishes on its own shortly, or try again"),
            Some(ERASURE_RETRY_AFTER),
        ),
        ServiceError::TavusCopyKept(_) => (
            Problem::new(503, "dependency_unavailable", "A service we depend on is unavailable")
                .with_detail("the video service could not delete its copy of the call; nothing was erased, try again shortly"),
            Some(ERASURE_RETRY_AFTER),
        ),
    }
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The core's errors reach a handler through the service's one mapping.
macro_rules! through_service {
    ($($from:ty),*) => {$(
        impl From<$from> for ApiError {
            fn from(e: $from) -> ApiError {
                ApiError::Service(ServiceError::from(e))
            }
        }
    )*};
}

through_service!(
    LedgerError,
    TavusError,
    SecretError,
    crate::recording_bucket::RecordingError
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::PlanId;

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
                ApiError::from(ServiceError::MinutesExhausted {
                    remaining_minutes: 0,
                    plan: PlanId::Free,
                    resets_at,
                }),
                402,
                "minutes_exhausted",
            ),
            (ApiError::from(ServiceError::NotFound), 404, "not_found"),
            (
                ApiError::from(ServiceError::IdempotencyConflict),
                409,
                "idempotency_conflict",
            ),
            (
                ApiError::from(ServiceError::TooManyOpenSessions {
                    open_sessions: 2,
                    max_open_sessions: 2,
                }),
                409,
                "too_many_open_sessions",
            ),
            (
                ApiError::from(ServiceError::TavusUnavailable("x".into())),
                502,
                "tavus_unavailable",
            ),
            (
                ApiError::from(ServiceError::TavusAtCapacity),
                503,
                "tavus_at_capacity",
            ),
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
                ApiError::from(ServiceError::TavusCopyKept("x".into())),
                503,
                "dependency_unavailable",
            ),
            (
                ApiError::from(ServiceError::DependencyUnavailable("x".into())),
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
            (
                ApiError::from(ServiceError::RecordingUnavailable),
                400,
                "recording_unavailable",
            ),
            (
                ApiError::from(LedgerError::AccountBeingDeleted),
                409,
                "account_being_deleted",
            ),
            (
                ApiError::from(ServiceError::ExportTooLarge { bytes: 7_000_000 }),
                413,
                "export_too_large",
            ),
            (
                ApiError::from(ServiceError::RecordingKept("s3 at 10.0.0.1".into())),
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
        let (problem, _) = ApiError::from(ServiceError::MinutesExhausted {
            remaining_minutes: 0,
            plan: PlanId::Free,
            resets_at,
        })
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

    /// A create past the user's pace: 429 with when to come back, and the pace itself.
    #[test]
    fn rate_limited_says_when_to_retry_and_the_pace() {
        let (problem, retry) = ApiError::from(LedgerError::RateLimited {
            retry_after_seconds: 4,
            creates_per_minute: 10,
        })
        .problem();
        assert_eq!(
            (problem.status, problem.code, retry),
            (429, "rate_limited", Some(4))
        );
        let json = serde_json::to_value(&problem).unwrap();
        assert_eq!(json["creates_per_minute"].as_u64(), Some(10));
        assert!(
            problem
                .detail
                .as_deref()
                .unwrap_or("")
                .contains("nothing was reserved")
        );
    }

    /// Out of credits is told apart from other refusals: its own code, a longer wait, a 503
    /// (the service is unavailable to everyone, not this request at fault).
    #[test]
    fn out_of_credits_is_its_own_problem() {
        let (problem, retry) = ApiError::from(TavusError::OutOfCredits).problem();
        assert_eq!(
            (problem.status, problem.code, retry),
            (
                503,
                "tavus_out_of_credits",
                Some(OUT_OF_CREDITS_RETRY_AFTER)
            )
        );
        let (other, _) = ApiError::from(TavusError::Rejected {
            status: 403,
            message: "quoting what it was sent".into(),
        })
        .problem();
        assert_eq!(other.code, "tavus_unavailable");
    }
}
