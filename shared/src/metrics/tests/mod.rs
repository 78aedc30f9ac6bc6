//! The metrics' tests, by what they hold against what: the builder's lines against the
//! format's rules ([`format`]), the catalogue and what each call site writes ([`emitted`]), and
//! the dashboard and alarms in template.yaml against the metrics the code declares
//! ([`dashboard`]). Here: capturing the lines a thread writes.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::emit::{self, ClosedBy, TavusOperation, TavusOutcome};
use super::*;
use crate::LedgerError;
use crate::domain::cost::{Cause, CauseFigures, Tally};
use crate::domain::{
    EndReason, Period, PlanId, Session, SessionId, SessionStatus, SessionType, UserId,
};
use crate::jobs::audit::record_metrics as record_audit;
use crate::service::audit::{AuditReport, Check, CheckResult, Finding};
use crate::service::callbacks::Handled;
use crate::service::create::{create_failure, refusal};
use crate::service::reset::ResetReport;
use crate::service::settle;
use crate::service::sweep::SweepReport;
use crate::store::{Closed, Closing};
use crate::tavus::TavusError;

// The callers' values, as the service layer passes them to `emit`.
fn minutes_reserved(s: &Session) {
    emit::minutes_reserved(s.session_type.as_str(), s.reserved_minutes);
}

fn session_created(s: &Session, plan: PlanId) {
    emit::session_created(s.session_type.as_str(), plan.as_str());
}

fn create_refused(error: &LedgerError) {
    if let Some(refusal) = refusal(error) {
        emit::create_refused(refusal);
    }
}

fn create_failed(error: &TavusError) {
    emit::create_failed(create_failure(error));
}

fn sweep_finished(report: &SweepReport) {
    emit::sweep_finished(&report.outcomes(), report.orphans_ended, report.complete);
}

thread_local! {
    static CAPTURE: RefCell<Option<Vec<String>>> = const { RefCell::new(None) };
}

/// Called by `write`: keeps the line when this thread captures, instead of printing it.
pub(super) fn captured(line: &str) -> bool {
    CAPTURE.with(|c| match c.borrow_mut().as_mut() {
        Some(lines) => {
            lines.push(line.to_owned());
            true
        }
        None => false,
    })
}

/// The lines written while `f` runs on this thread (current-thread runtimes included).
fn lines_of<R>(f: impl FnOnce() -> R) -> (R, Vec<String>) {
    CAPTURE.with(|c| *c.borrow_mut() = Some(Vec::new()));
    let result = f();
    let lines = CAPTURE.with(|c| c.borrow_mut().take()).unwrap_or_default();
    (result, lines)
}

/// Each written line: one JSON object, one newline, valid and declared.
fn documents(lines: &[String]) -> Vec<Value> {
    lines
        .iter()
        .map(|line| {
            assert!(line.ends_with('\n'), "{line}");
            assert_eq!(line.matches('\n').count(), 1, "one line each: {line}");
            let document = check::emf_in(line).unwrap_or_else(|| panic!("not EMF: {line}"));
            check::format(&document).unwrap_or_else(|e| panic!("{e}: {line}"));
            check::declared(&document).unwrap_or_else(|e| panic!("{e}: {line}"));
            document
        })
        .collect()
}

fn written(f: impl FnOnce()) -> Vec<Value> {
    let ((), lines) = lines_of(f);
    documents(&lines)
}

/// (metric, sorted dimension names) of every metric a document publishes.
fn published(document: &Value) -> BTreeSet<(String, Vec<String>)> {
    let mut out = BTreeSet::new();
    for directive in document["_aws"]["CloudWatchMetrics"].as_array().unwrap() {
        for metric in directive["Metrics"].as_array().unwrap() {
            for set in directive["Dimensions"].as_array().unwrap() {
                let mut names: Vec<String> = set
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|n| n.as_str().unwrap().to_owned())
                    .collect();
                names.sort();
                out.insert((metric["Name"].as_str().unwrap().to_owned(), names));
            }
        }
    }
    out
}

fn sets(metric: &str, sets: &[&[&str]]) -> BTreeSet<(String, Vec<String>)> {
    sets.iter()
        .map(|set| {
            let mut names: Vec<String> = set.iter().map(|s| (*s).to_owned()).collect();
            names.sort();
            (metric.to_owned(), names)
        })
        .collect()
}

const T: i64 = 1_764_000_000_123;

mod dashboard;
mod emitted;
mod format;
