//! What the code records, one call at each place where it happens. Every dimension value comes
//! from a closed set (an enum's name), never from a request.

use std::time::Duration;

use super::{
    CALLBACKS_HANDLED, CALLBACKS_RECEIVED, CLOSED_BY, CREATES_FAILED, CREATES_REFUSED, KIND, Line,
    MINUTES_CHARGED, MINUTES_RELEASED, MINUTES_RESERVED, OPERATION, ORPHANS_ENDED, OUTCOME, PLAN,
    REASON, RESET_ACCOUNTS_ROLLED, RESET_ALREADY_CURRENT, RESET_COMPLETE, RESET_CONFLICTS_RETRIED,
    RESET_FAILED, RESET_SECONDS, SESSION_TYPE, SESSIONS_CREATED, SWEEP_COMPLETE, SWEPT_SESSIONS,
    TAVUS_ERRORS, TAVUS_LATENCY, TAVUS_REQUESTS,
};
use crate::LedgerError;
use crate::api::webhook::Handled;
use crate::domain::{PlanId, Session, SessionStatus, SessionType};
use crate::reset::ResetReport;
use crate::store::DynamoLedger;
use crate::store::{Closed, Closing};
use crate::sweep::SweepReport;
use crate::tavus::TavusError;

pub fn session_type(session_type: SessionType) -> &'static str {
    match session_type {
        SessionType::ReflectAlone => "reflect_alone",
        SessionType::ResolveTogether => "resolve_together",
    }
}

/// Minutes were reserved for a new session (before Tavus is asked; a failed create releases
/// them, counted in `MinutesReleased`).
pub fn minutes_reserved(session: &Session) {
    Line::new()
        .dimension(SESSION_TYPE, session_type(session.session_type))
        .value(&MINUTES_RESERVED, f64::from(session.reserved_minutes))
        .emit();
}

/// A session's Tavus conversation was created and recorded.
pub fn session_created(session: &Session, plan: PlanId) {
    Line::new()
        .dimension(SESSION_TYPE, session_type(session.session_type))
        .dimension(PLAN, plan.as_str())
        .value(&SESSIONS_CREATED, 1.0)
        .emit();
}

/// The reservation refused a create (402 `minutes_exhausted`, 409 `too_many_open_sessions`).
/// Other errors are not refusals and record nothing.
pub fn create_refused(error: &LedgerError) {
    let line = match error {
        LedgerError::MinutesExhausted { plan, .. } => Line::new()
            .dimension(REASON, "minutes_exhausted")
            .dimension(PLAN, plan.as_str()),
        LedgerError::TooManyOpenSessions { .. } => {
            Line::new().dimension(REASON, "too_many_open_sessions")
        }
        _ => return,
    };
    line.value(&CREATES_REFUSED, 1.0).emit();
}

/// Tavus did not create a session's conversation (502, 503): its reservation is released.
pub fn create_failed(error: &TavusError) {
    let reason = match error {
        TavusError::AtCapacity => "tavus_at_capacity",
        TavusError::Secret(_) => "dependency_unavailable",
        _ => "tavus_unavailable",
    };
    Line::new()
        .dimension(REASON, reason)
        .value(&CREATES_FAILED, 1.0)
        .emit();
}

/// Who closed a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClosedBy {
    /// `POST /sessions/{id}/end`.
    Owner,
    /// Tavus's shutdown callback.
    Callback,
    Sweeper,
    /// The create itself: Tavus failed (released), or created it already ended (test mode).
    Create,
}

impl ClosedBy {
    pub const ALL: [ClosedBy; 4] = [
        ClosedBy::Owner,
        ClosedBy::Callback,
        ClosedBy::Sweeper,
        ClosedBy::Create,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ClosedBy::Owner => "owner",
            ClosedBy::Callback => "callback",
            ClosedBy::Sweeper => "sweeper",
            ClosedBy::Create => "create",
        }
    }
}

/// Closes a session through `ledger` and records what the close did ([`session_closed`]).
pub async fn close(
    ledger: &DynamoLedger,
    closing: Closing,
    by: ClosedBy,
) -> Result<Closed, LedgerError> {
    let recorded = closing.clone();
    let closed = ledger.close(closing).await?;
    session_closed(&recorded, closed, by);
    Ok(closed)
}

/// Records a close: a settlement's minutes charged (one value per session: its length in
/// charged minutes), or a release's minutes given back. A duplicate close changed nothing and
/// records nothing.
pub fn session_closed(closing: &Closing, closed: Closed, by: ClosedBy) {
    if closed != Closed::AlreadyClosed {
        closed_session(
            by,
            closing.status,
            closing.charged_minutes,
            closing.reserved_minutes,
        );
    }
}

fn closed_session(by: ClosedBy, status: SessionStatus, charged: u32, reserved: u32) {
    let line = Line::new().dimension(CLOSED_BY, by.as_str());
    let line = match status {
        SessionStatus::Ended => line.value(&MINUTES_CHARGED, f64::from(charged)),
        _ => line.value(&MINUTES_RELEASED, f64::from(reserved)),
    };
    line.emit();
}

/// What a request to Tavus was for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TavusOperation {
    Create,
    End,
    Get,
    List,
    Delete,
}

impl TavusOperation {
    pub const ALL: [TavusOperation; 5] = [
        TavusOperation::Create,
        TavusOperation::End,
        TavusOperation::Get,
        TavusOperation::List,
        TavusOperation::Delete,
    ];

    pub fn as_str(self) -> &'static str {
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
pub enum TavusOutcome {
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
    /// A 401.
    Unauthorized,
    /// Any other 4xx.
    Rejected,
}

impl TavusOutcome {
    pub const ALL: [TavusOutcome; 9] = [
        TavusOutcome::Answered,
        TavusOutcome::Timeout,
        TavusOutcome::Connect,
        TavusOutcome::Network,
        TavusOutcome::ServerError,
        TavusOutcome::Throttled,
        TavusOutcome::AtCapacity,
        TavusOutcome::Unauthorized,
        TavusOutcome::Rejected,
    ];

    /// The error's kind; `None` for an answer.
    pub fn kind(self) -> Option<&'static str> {
        match self {
            TavusOutcome::Answered => None,
            TavusOutcome::Timeout => Some("timeout"),
            TavusOutcome::Connect => Some("connect"),
            TavusOutcome::Network => Some("network"),
            TavusOutcome::ServerError => Some("5xx"),
            TavusOutcome::Throttled => Some("429"),
            TavusOutcome::AtCapacity => Some("capacity"),
            TavusOutcome::Unauthorized => Some("unauthorized"),
            TavusOutcome::Rejected => Some("rejected"),
        }
    }
}

/// One HTTP request to Tavus (each attempt of a retried call counts): its latency, and its
/// error's kind if it failed.
pub fn tavus_request(operation: TavusOperation, elapsed: Duration, outcome: TavusOutcome) {
    // Milliseconds to the microsecond.
    let millis = (elapsed.as_secs_f64() * 1_000_000.0).round() / 1000.0;
    let line = Line::new()
        .dimension(OPERATION, operation.as_str())
        .value(&TAVUS_REQUESTS, 1.0)
        .value(&TAVUS_LATENCY, millis);
    match outcome.kind() {
        Some(kind) => line.dimension(KIND, kind).value(&TAVUS_ERRORS, 1.0),
        None => line,
    }
    .emit();
}

/// A request reached the webhook (whether or not its token and body were good).
pub fn callback_received() {
    Line::new().value(&CALLBACKS_RECEIVED, 1.0).emit();
}

/// What a callback did: settled a session, found it settled already (a duplicate), stored a
/// transcript, or nothing.
pub fn callback_handled(handled: Handled) {
    let outcome = match handled {
        Handled::Settled => "settled",
        Handled::AlreadySettled => "already_settled",
        Handled::TranscriptStored => "transcript_stored",
        Handled::RecordingStored => "recording_stored",
        Handled::Ignored => "ignored",
    };
    Line::new()
        .dimension(OUTCOME, outcome)
        .value(&CALLBACKS_HANDLED, 1.0)
        .emit();
}

/// A sweep's counts: one line per outcome, then the orphans ended and whether it completed.
pub fn sweep_finished(report: &SweepReport) {
    let outcomes = [
        ("released", report.released),
        ("settled_from_tavus", report.settled_from_tavus),
        ("settled_in_full", report.settled_in_full),
        ("already_closed", report.already_closed),
        ("tavus_copy_deleted", report.tavus_copies_deleted),
        ("transcript_recovered", report.transcripts_recovered),
        (
            "recording_erasure_finished",
            report.recording_erasures_finished,
        ),
        ("failed", report.failed),
    ];
    for (outcome, count) in outcomes {
        Line::new()
            .dimension(OUTCOME, outcome)
            .value(&SWEPT_SESSIONS, count as f64)
            .emit();
    }
    Line::new()
        .value(&ORPHANS_ENDED, report.orphans_ended as f64)
        .value(&SWEEP_COMPLETE, flag(report.complete))
        .emit();
}

/// A reset run's progress: the accounts it rolled, and whether every shard is done.
pub fn reset_finished(report: &ResetReport) {
    Line::new()
        .value(&RESET_ACCOUNTS_ROLLED, report.rolled as f64)
        .value(&RESET_ALREADY_CURRENT, report.already_current as f64)
        .value(&RESET_CONFLICTS_RETRIED, report.conflicts_retried as f64)
        .value(&RESET_FAILED, report.failed as f64)
        .value(&RESET_COMPLETE, flag(report.complete))
        .value(&RESET_SECONDS, report.seconds)
        .emit();
}

fn flag(on: bool) -> f64 {
    if on { 1.0 } else { 0.0 }
}
