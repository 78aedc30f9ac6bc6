//! What the code records, one call at each place where it happens. Every argument is a plain
//! value: a number, one of this module's enums, or a `&'static str` that [`super::DIMENSIONS`]
//! lists. Nothing here reads a request, a session or an error: the callers above say what
//! happened, so this module imports nothing of the crate but its parent.

use std::time::Duration;

use super::{
    ACCOUNT_DELETION_DURATION, ACCOUNT_DELETION_SESSIONS_ERASED, ACCOUNT_DELETIONS,
    ACCOUNT_EXPORT_DURATION, ACCOUNT_EXPORT_SIZE, ACCOUNT_EXPORTS, AUDIT_CHECKED, AUDIT_FINDINGS,
    AUDIT_INCOMPLETE, CALLBACKS_HANDLED, CALLBACKS_RECEIVED, CAUSE, CHECK, CLOSED_BY,
    CREATES_FAILED, CREATES_REFUSED, DELIVERY, KIND, Line, MINUTES_CHARGED, MINUTES_RELEASED,
    MINUTES_RESERVED, OPERATION, ORPHANS_ENDED, OUTCOME, PLAN, REASON, RESET_ACCOUNTS_ROLLED,
    RESET_ALREADY_CURRENT, RESET_COMPLETE, RESET_CONFLICTS_RETRIED, RESET_FAILED, RESET_SECONDS,
    SESSION_TYPE, SESSIONS_CREATED, SWEEP_COMPLETE, SWEPT_SESSIONS, TAVUS_ERRORS, TAVUS_LATENCY,
    TAVUS_RAN_MINUTES, TAVUS_REQUESTS, UNCHARGED_MINUTES,
};

/// Minutes were reserved for a new session of `session_type` (before Tavus is asked; a failed
/// create releases them, counted in `MinutesReleased`).
pub(crate) fn minutes_reserved(session_type: &'static str, minutes: u32) {
    Line::new()
        .dimension(SESSION_TYPE, session_type)
        .value(&MINUTES_RESERVED, f64::from(minutes))
        .emit();
}

/// A session's Tavus conversation was created and recorded.
pub(crate) fn session_created(session_type: &'static str, plan: &'static str) {
    Line::new()
        .dimension(SESSION_TYPE, session_type)
        .dimension(PLAN, plan)
        .value(&SESSIONS_CREATED, 1.0)
        .emit();
}

/// Why the reservation refused a create.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// 402 `minutes_exhausted`, on this plan.
    MinutesExhausted { plan: &'static str },
    /// 409 `too_many_open_sessions`.
    TooManyOpenSessions,
    /// 429 `rate_limited`.
    RateLimited,
}

/// The reservation refused a create.
pub(crate) fn create_refused(refusal: Refusal) {
    let line = match refusal {
        Refusal::MinutesExhausted { plan } => Line::new()
            .dimension(REASON, "minutes_exhausted")
            .dimension(PLAN, plan),
        Refusal::TooManyOpenSessions => Line::new().dimension(REASON, "too_many_open_sessions"),
        Refusal::RateLimited => Line::new().dimension(REASON, "rate_limited"),
    };
    line.value(&CREATES_REFUSED, 1.0).emit();
}

/// Why Tavus did not create a session's conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CreateFailure {
    TavusAtCapacity,
    TavusOutOfCredits,
    /// The Tavus key could not be read.
    DependencyUnavailable,
    TavusUnavailable,
}

impl CreateFailure {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            CreateFailure::TavusAtCapacity => "tavus_at_capacity",
            CreateFailure::TavusOutOfCredits => "tavus_out_of_credits",
            CreateFailure::DependencyUnavailable => "dependency_unavailable",
            CreateFailure::TavusUnavailable => "tavus_unavailable",
        }
    }
}

/// Tavus did not create a session's conversation (502, 503): its reservation is released.
pub(crate) fn create_failed(failure: CreateFailure) {
    Line::new()
        .dimension(REASON, failure.as_str())
        .value(&CREATES_FAILED, 1.0)
        .emit();
}

/// Who closed a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClosedBy {
    /// `POST /sessions/{id}/end`.
    Owner,
    /// Tavus's shutdown callback.
    Callback,
    Sweeper,
    /// The create itself: Tavus failed (released), or created it already ended (test mode).
    Create,
}

impl ClosedBy {
    #[cfg(test)]
    pub(crate) const ALL: [ClosedBy; 4] = [
        ClosedBy::Owner,
        ClosedBy::Callback,
        ClosedBy::Sweeper,
        ClosedBy::Create,
    ];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ClosedBy::Owner => "owner",
            ClosedBy::Callback => "callback",
            ClosedBy::Sweeper => "sweeper",
            ClosedBy::Create => "create",
        }
    }
}

/// What a close that changed the ledger did with a session's minutes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Closure {
    /// Settled: these minutes were charged (one value per session: its length).
    Charged(u32),
    /// Released: these reserved minutes were given back.
    Released(u32),
}

/// A session was closed by `by` (a duplicate close changed nothing and is not recorded).
pub(crate) fn session_closed(by: ClosedBy, closure: Closure) {
    let line = Line::new().dimension(CLOSED_BY, by.as_str());
    let line = match closure {
        Closure::Charged(minutes) => line.value(&MINUTES_CHARGED, f64::from(minutes)),
        Closure::Released(minutes) => line.value(&MINUTES_RELEASED, f64::from(minutes)),
    };
    line.emit();
}

/// What a request to Tavus was for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TavusOperation {
    Create,
    End,
    Get,
    List,
    Delete,
}

impl TavusOperation {
    #[cfg(test)]
    pub(crate) const ALL: [TavusOperation; 5] = [
        TavusOperation::Create,
        TavusOperation::End,
        TavusOperation::Get,
        TavusOperation::List,
        TavusOperation::Delete,
    ];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            TavusOperation::Create => "create",
            TavusOperation::End => "end",
            TavusOperation::Get => "get",
            TavusOperation::List => "list",
            TavusOperation::Delete => "delete",
        }
    }
}

/// How one HTTP request to Tavus went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TavusOutcome {
    /// A 2xx.
    Answered,
    Timeout,
    /// The connection could not be made.
    Connect,
    /// Another transport failure (a reset connection, a broken body).
    Network,
    /// A 5xx.
    ServerError,
    /// A 429.
    Throttled,
    /// The concurrent-conversation limit (Tavus's 400).
    AtCapacity,
    /// Out of conversational credits (Tavus's 402).
    OutOfCredits,
    /// A 401.
    Unauthorized,
    /// Any other 4xx.
    Rejected,
}

impl TavusOutcome {
    #[cfg(test)]
    pub(crate) const ALL: [TavusOutcome; 10] = [
        TavusOutcome::Answered,
        TavusOutcome::Timeout,
        TavusOutcome::Connect,
        TavusOutcome::Network,
        TavusOutcome::ServerError,
        TavusOutcome::Throttled,
        TavusOutcome::AtCapacity,
        TavusOutcome::OutOfCredits,
        TavusOutcome::Unauthorized,
        TavusOutcome::Rejected,
    ];

    /// The error's kind; `None` for an answer.
    pub(crate) fn kind(self) -> Option<&'static str> {
        match self {
            TavusOutcome::Answered => None,
            TavusOutcome::Timeout => Some("timeout"),
            TavusOutcome::Connect => Some("connect"),
            TavusOutcome::Network => Some("network"),
            TavusOutcome::ServerError => Some("5xx"),
            TavusOutcome::Throttled => Some("429"),
            TavusOutcome::AtCapacity => Some("capacity"),
            TavusOutcome::OutOfCredits => Some("out_of_credits"),
            TavusOutcome::Unauthorized => Some("unauthorized"),
            TavusOutcome::Rejected => Some("rejected"),
        }
    }
}

/// One HTTP request to Tavus (each attempt of a retried call counts): its latency, and its
/// error's kind if it failed.
pub(crate) fn tavus_request(operation: TavusOperation, elapsed: Duration, outcome: TavusOutcome) {
    let line = Line::new()
        .dimension(OPERATION, operation.as_str())
        .value(&TAVUS_REQUESTS, 1.0)
        .value(&TAVUS_LATENCY, millis(elapsed));
    match outcome.kind() {
        Some(kind) => line.dimension(KIND, kind).value(&TAVUS_ERRORS, 1.0),
        None => line,
    }
    .emit();
}

/// A request reached the webhook (whether or not its token and body were good).
pub(crate) fn callback_received() {
    Line::new().value(&CALLBACKS_RECEIVED, 1.0).emit();
}

/// What a callback did (`settled`, `already_settled`, `transcript_stored`, ...: an `Outcome`
/// value of [`super::DIMENSIONS`]).
pub(crate) fn callback_handled(outcome: &'static str) {
    Line::new()
        .dimension(OUTCOME, outcome)
        .value(&CALLBACKS_HANDLED, 1.0)
        .emit();
}

/// A sweep's counts: one line per outcome (`Outcome` values), then the orphans ended and
/// whether it completed.
pub(crate) fn sweep_finished(outcomes: &[(&'static str, u64)], orphans_ended: u64, complete: bool) {
    for &(outcome, count) in outcomes {
        Line::new()
            .dimension(OUTCOME, outcome)
            .value(&SWEPT_SESSIONS, count as f64)
            .emit();
    }
    Line::new()
        .value(&ORPHANS_ENDED, orphans_ended as f64)
        .value(&SWEEP_COMPLETE, flag(complete))
        .emit();
}

/// A reset run's figures.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ResetFigures {
    pub rolled: u64,
    pub already_current: u64,
    pub conflicts_retried: u64,
    pub failed: u64,
    pub complete: bool,
    pub seconds: f64,
}

/// A reset run's progress: the accounts it rolled, and whether every shard is done.
pub(crate) fn reset_finished(figures: ResetFigures) {
    Line::new()
        .value(&RESET_ACCOUNTS_ROLLED, figures.rolled as f64)
        .value(&RESET_ALREADY_CURRENT, figures.already_current as f64)
        .value(&RESET_CONFLICTS_RETRIED, figures.conflicts_retried as f64)
        .value(&RESET_FAILED, figures.failed as f64)
        .value(&RESET_COMPLETE, flag(figures.complete))
        .value(&RESET_SECONDS, figures.seconds)
        .emit();
}

/// An audit run's counts: one line per check (`Check` value, things checked, findings), one per
/// cause of the current period's minutes (`Cause` value, minutes Tavus ran, minutes of those no
/// user was charged for: ran less charged, whatever its sign), then how many checks could not
/// finish. Every check has its line, zero findings included, so a day's sum is a count and not
/// missing data.
pub(crate) fn audit_finished(
    checks: &[(&'static str, u64, u64)],
    incomplete: u64,
    minutes: &[(&'static str, i64, i64)],
) {
    for &(check, checked, findings) in checks {
        Line::new()
            .dimension(CHECK, check)
            .value(&AUDIT_CHECKED, checked as f64)
            .value(&AUDIT_FINDINGS, findings as f64)
            .emit();
    }
    for &(cause, ran, uncharged) in minutes {
        Line::new()
            .dimension(CAUSE, cause)
            .value(&TAVUS_RAN_MINUTES, ran as f64)
            .value(&UNCHARGED_MINUTES, uncharged as f64)
            .emit();
    }
    Line::new()
        .value(&AUDIT_INCOMPLETE, incomplete as f64)
        .emit();
}

/// Milliseconds to the microsecond.
fn millis(elapsed: Duration) -> f64 {
    (elapsed.as_secs_f64() * 1_000_000.0).round() / 1000.0
}

fn flag(on: bool) -> f64 {
    if on { 1.0 } else { 0.0 }
}

/// An account export was answered, `inline` or as a `download` link: its size and how long it
/// took to gather and hand over.
pub(crate) fn account_export(delivery: &'static str, bytes: usize, elapsed: Duration) {
    Line::new()
        .dimension(DELIVERY, delivery)
        .value(&ACCOUNT_EXPORTS, 1.0)
        .value(&ACCOUNT_EXPORT_SIZE, bytes as f64)
        .value(&ACCOUNT_EXPORT_DURATION, millis(elapsed))
        .emit();
}

/// A pass of an account deletion ended: `deleted`, `in_progress` (it carries on later) or
/// `failed`; the sessions it erased and how long it took.
pub(crate) fn account_deletion(outcome: &'static str, sessions_erased: u64, elapsed: Duration) {
    Line::new()
        .dimension(OUTCOME, outcome)
        .value(&ACCOUNT_DELETIONS, 1.0)
        .value(&ACCOUNT_DELETION_SESSIONS_ERASED, sessions_erased as f64)
        .value(&ACCOUNT_DELETION_DURATION, millis(elapsed))
        .emit();
}
