//! The builder's lines against the format's rules, what each record call writes, and the
//! dashboard and alarm in template.yaml against the metrics the code declares.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::emit::{self, ClosedBy, TavusOperation, TavusOutcome};
use super::*;
use crate::LedgerError;
use crate::domain::{
    EndReason, Period, PlanId, Session, SessionId, SessionStatus, SessionType, UserId,
};
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

// The builder.

#[test]
fn a_line_is_an_emf_document_with_its_values_as_members() {
    let line = Line::new()
        .dimension(SESSION_TYPE, "reflect_alone")
        .dimension(PLAN, "free")
        .value(&SESSIONS_CREATED, 1.0)
        .value(&MINUTES_RESERVED, 30.0);
    let documents = line.documents(T);
    assert_eq!(documents.len(), 1);
    let document = &documents[0];
    check::format(document).unwrap();
    check::declared(document).unwrap();
    assert_eq!(document["_aws"]["Timestamp"], json!(T));
    assert!(document["_aws"]["Timestamp"].is_i64());
    assert_eq!(document["SessionType"], "reflect_alone");
    assert_eq!(document["Plan"], "free");
    assert_eq!(document["SessionsCreated"], json!(1));
    assert_eq!(document["MinutesReserved"], json!(30));
    // Two metrics with different dimension sets: two directives in the one line.
    assert_eq!(
        document["_aws"]["CloudWatchMetrics"],
        json!([
            {"Namespace": "AwakNow",
             "Dimensions": [[], ["SessionType"], ["SessionType", "Plan"]],
             "Metrics": [{"Name": "SessionsCreated", "Unit": "Count"}]},
            {"Namespace": "AwakNow",
             "Dimensions": [[], ["SessionType"]],
             "Metrics": [{"Name": "MinutesReserved", "Unit": "Count"}]},
        ])
    );
}

#[test]
fn metrics_with_the_same_sets_share_a_directive() {
    let document = &Line::new()
        .dimension(OPERATION, "create")
        .value(&TAVUS_REQUESTS, 1.0)
        .value(&TAVUS_LATENCY, 12.5)
        .documents(T)[0];
    check::format(document).unwrap();
    assert_eq!(
        document["_aws"]["CloudWatchMetrics"],
        json!([{"Namespace": "AwakNow", "Dimensions": [[], ["Operation"]],
                "Metrics": [{"Name": "TavusRequests", "Unit": "Count"},
                            {"Name": "TavusLatency", "Unit": "Milliseconds"}]}])
    );
    assert_eq!(document["TavusLatency"], json!(12.5));
}

#[test]
fn a_set_without_all_its_dimensions_is_left_out() {
    let document = &Line::new()
        .dimension(REASON, "tavus_unavailable")
        .value(&CREATES_REFUSED, 1.0)
        .documents(T)[0];
    check::format(document).unwrap();
    assert_eq!(
        document["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
        json!([["Reason"]])
    );
    // No set left at all: nothing is declared, so nothing is written.
    assert!(
        Line::new()
            .value(&CREATES_REFUSED, 1.0)
            .documents(T)
            .is_empty()
    );
    assert!(Line::new().documents(T).is_empty());
}

#[test]
fn a_dimension_given_twice_keeps_the_last_value() {
    let document = &Line::new()
        .dimension(KIND, "5xx")
        .dimension(KIND, "429")
        .value(&TAVUS_ERRORS, 1.0)
        .documents(T)[0];
    assert_eq!(document["Kind"], "429");
}

#[test]
fn repeated_values_are_an_array_and_bad_numbers_are_dropped() {
    let document = &Line::new()
        .value(&ORPHANS_ENDED, 1.0)
        .value(&ORPHANS_ENDED, f64::NAN)
        .value(&ORPHANS_ENDED, 2.25)
        .value(&ORPHANS_ENDED, f64::INFINITY)
        .documents(T)[0];
    check::format(document).unwrap();
    assert_eq!(document["OrphansEnded"], json!([1, 2.25]));
    assert!(
        Line::new()
            .value(&ORPHANS_ENDED, f64::NAN)
            .documents(T)
            .is_empty()
    );
}

#[test]
fn more_than_100_values_of_a_metric_take_more_lines() {
    let mut line = Line::new();
    for i in 0..250 {
        line = line.value(&ORPHANS_ENDED, f64::from(i));
    }
    let documents = line.documents(T);
    assert_eq!(documents.len(), 3);
    let mut all = Vec::new();
    for document in &documents {
        check::format(document).unwrap();
        all.extend(document["OrphansEnded"].as_array().unwrap().iter().cloned());
    }
    assert_eq!(all, (0..250).map(|i| json!(i)).collect::<Vec<_>>());
}

#[test]
fn more_than_100_metrics_take_more_lines() {
    let many: Vec<&'static Metric> = (0..230)
        .map(|i| {
            &*Box::leak(Box::new(Metric {
                name: Box::leak(format!("M{i}").into_boxed_str()),
                unit: Unit::Count,
                dimension_sets: &[&[]],
            }))
        })
        .collect();
    let mut line = Line::new();
    for (i, metric) in many.iter().enumerate() {
        line = line.value(metric, i as f64);
    }
    let documents = line.documents(T);
    assert_eq!(documents.len(), 3);
    let mut names = BTreeSet::new();
    for document in &documents {
        check::format(document).unwrap();
        let metrics = document["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap();
        assert!(metrics.len() <= MAX_METRICS_PER_LINE);
        names.extend(
            metrics
                .iter()
                .map(|m| m["Name"].as_str().unwrap().to_owned()),
        );
    }
    assert_eq!(names.len(), 230);
}

#[test]
fn emitted_lines_are_single_lines_with_a_timestamp_of_now() {
    let before = Utc::now().timestamp_millis();
    let documents = written(|| Line::new().value(&ORPHANS_ENDED, 3.0).emit());
    let after = Utc::now().timestamp_millis();
    assert_eq!(documents.len(), 1);
    let timestamp = documents[0]["_aws"]["Timestamp"].as_i64().unwrap();
    assert!((before..=after).contains(&timestamp));
}

// The rules.

#[test]
fn the_rules_refuse_what_cloudwatch_would_not_extract() {
    let good = json!({
        "_aws": {"Timestamp": T, "CloudWatchMetrics": [{"Namespace": "AwakNow",
            "Dimensions": [["Kind"]], "Metrics": [{"Name": "TavusErrors", "Unit": "Count"}]}]},
        "Kind": "5xx", "TavusErrors": 1
    });
    check::format(&good).unwrap();
    check::declared(&good).unwrap();
    let broken = |f: &dyn Fn(&mut Value)| {
        let mut document = good.clone();
        f(&mut document);
        document
    };
    let too_many_dimensions: Vec<String> = (0..31).map(|i| format!("D{i}")).collect();
    let mut cases = vec![
        (
            "no _aws",
            broken(&|d| drop(d.as_object_mut().unwrap().remove("_aws"))),
        ),
        (
            "timestamp in seconds",
            broken(&|d| d["_aws"]["Timestamp"] = json!(1_764_000_000)),
        ),
        (
            "timestamp as text",
            broken(&|d| d["_aws"]["Timestamp"] = json!("1764000000123")),
        ),
        (
            "fractional timestamp",
            broken(&|d| d["_aws"]["Timestamp"] = json!(1.764e12 + 0.5)),
        ),
        (
            "no directives",
            broken(&|d| d["_aws"]["CloudWatchMetrics"] = json!([])),
        ),
        (
            "no namespace",
            broken(&|d| {
                drop(
                    d["_aws"]["CloudWatchMetrics"][0]
                        .as_object_mut()
                        .unwrap()
                        .remove("Namespace"),
                )
            }),
        ),
        (
            "no dimension set",
            broken(&|d| d["_aws"]["CloudWatchMetrics"][0]["Dimensions"] = json!([])),
        ),
        (
            "dimension without member",
            broken(&|d| drop(d.as_object_mut().unwrap().remove("Kind"))),
        ),
        (
            "dimension not a string",
            broken(&|d| d["Kind"] = json!(500)),
        ),
        (
            "metric without member",
            broken(&|d| drop(d.as_object_mut().unwrap().remove("TavusErrors"))),
        ),
        ("metric as text", broken(&|d| d["TavusErrors"] = json!("1"))),
        (
            "metric as empty array",
            broken(&|d| d["TavusErrors"] = json!([])),
        ),
        (
            "metric array with text",
            broken(&|d| d["TavusErrors"] = json!([1, "2"])),
        ),
        (
            "101 values",
            broken(&|d| d["TavusErrors"] = json!(vec![1; 101])),
        ),
        (
            "unknown unit",
            broken(&|d| d["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Unit"] = json!("Minutes")),
        ),
        ("31 dimensions", {
            let mut d = good.clone();
            d["_aws"]["CloudWatchMetrics"][0]["Dimensions"] = json!([too_many_dimensions]);
            for name in &too_many_dimensions {
                d[name.as_str()] = json!("x");
            }
            d
        }),
    ];
    let mut many = good.clone();
    let metrics: Vec<Value> = (0..101)
        .map(|i| json!({"Name": format!("M{i}"), "Unit": "Count"}))
        .collect();
    for i in 0..101 {
        many[format!("M{i}")] = json!(1);
    }
    many["_aws"]["CloudWatchMetrics"][0]["Metrics"] = json!(metrics);
    cases.push(("101 metrics", many));
    for (what, document) in cases {
        assert!(
            check::format(&document).is_err(),
            "{what} passed: {document}"
        );
    }
    // Well-formed but not what the code declares.
    for (what, document) in [
        (
            "another namespace",
            broken(&|d| d["_aws"]["CloudWatchMetrics"][0]["Namespace"] = json!("Other")),
        ),
        (
            "an undeclared value",
            broken(&|d| d["Kind"] = json!("user-42")),
        ),
        (
            "an undeclared set",
            broken(&|d| {
                d["_aws"]["CloudWatchMetrics"][0]["Dimensions"] = json!([["Kind", "Plan"]])
            }),
        ),
        (
            "an undeclared unit",
            broken(&|d| d["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Unit"] = json!("Seconds")),
        ),
    ] {
        let mut document = document;
        if what == "an undeclared set" {
            document["Plan"] = json!("free");
        }
        check::format(&document).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert!(check::declared(&document).is_err(), "{what} passed");
    }
}

#[test]
fn emf_is_found_behind_a_prefix_and_nothing_else_is() {
    let line = r#"{"_aws":{"Timestamp":1,"CloudWatchMetrics":[]},"X":1}"#;
    assert!(check::emf_in(line).is_some());
    assert!(check::emf_in(&format!(" INFO function output: {line}")).is_some());
    assert!(check::emf_in(r#"{"level":"INFO","fields":{"message":"session active"}}"#).is_none());
    assert!(check::emf_in(" INFO spawning function instance").is_none());
}

// The catalogue.

#[test]
fn every_metric_and_dimension_is_declared_once_and_within_the_limits() {
    let names: BTreeSet<&str> = METRICS.iter().map(|m| m.name).collect();
    assert_eq!(names.len(), METRICS.len(), "a metric declared twice");
    let dimensions: BTreeSet<&str> = DIMENSIONS.iter().map(|d| d.name).collect();
    assert_eq!(
        dimensions.len(),
        DIMENSIONS.len(),
        "a dimension declared twice"
    );
    let mut used = BTreeSet::new();
    for metric in METRICS {
        assert!(!metric.dimension_sets.is_empty(), "{}", metric.name);
        for set in metric.dimension_sets {
            assert!(set.len() <= MAX_DIMENSIONS_PER_SET, "{}", metric.name);
            for name in *set {
                assert!(
                    dimensions.contains(name),
                    "{}: {name} is not declared",
                    metric.name
                );
                used.insert(*name);
            }
        }
    }
    assert_eq!(used, dimensions, "a dimension no metric uses");
    for dimension in DIMENSIONS {
        let values: BTreeSet<&str> = dimension.values.iter().copied().collect();
        assert_eq!(values.len(), dimension.values.len(), "{}", dimension.name);
        assert!(values.iter().all(|v| !v.is_empty() && v.len() <= 1024));
    }
}

#[test]
fn dimension_values_are_the_code_own_names() {
    let values = |name: &str| -> BTreeSet<String> {
        dimension(name)
            .unwrap()
            .values
            .iter()
            .map(|v| (*v).to_owned())
            .collect()
    };
    let types: BTreeSet<String> = [SessionType::ReflectAlone, SessionType::ResolveTogether]
        .into_iter()
        .map(|t| {
            // The API's spelling of the type.
            assert_eq!(serde_json::to_value(t).unwrap(), t.as_str());
            t.as_str().to_owned()
        })
        .collect();
    assert_eq!(types, values(SESSION_TYPE));
    let plans: BTreeSet<String> = PlanId::ALL.iter().map(|p| p.as_str().to_owned()).collect();
    assert_eq!(plans, values(PLAN));
    let closed: BTreeSet<String> = ClosedBy::ALL
        .iter()
        .map(|c| c.as_str().to_owned())
        .collect();
    assert_eq!(closed, values(CLOSED_BY));
    let operations: BTreeSet<String> = TavusOperation::ALL
        .iter()
        .map(|o| o.as_str().to_owned())
        .collect();
    assert_eq!(operations, values(OPERATION));
    let kinds: BTreeSet<String> = TavusOutcome::ALL
        .iter()
        .filter_map(|o| o.kind().map(str::to_owned))
        .collect();
    assert_eq!(kinds, values(KIND));
}

// What each record call writes.

fn session(owner: &str, session_type: SessionType, reserved: u32) -> Session {
    let now: DateTime<Utc> = Utc::now();
    Session {
        session_id: SessionId::new_at(now),
        owner_id: UserId::parse(owner).unwrap(),
        session_type,
        participants: Vec::new(),
        status: SessionStatus::Active,
        period: Period::containing(now),
        reserved_minutes: reserved,
        charged_minutes: None,
        conversation_id: Some("c0123456789".into()),
        conversation_url: None,
        meeting_token: None,
        created_at: now,
        ended_at: None,
        end_reason: None,
        playback: Default::default(),
    }
}

#[test]
fn a_created_session_is_counted_by_type_and_plan_and_names_no_one() {
    let owner = "owner-01hsecretuser";
    let mut published_sets = BTreeSet::new();
    for session_type in [SessionType::ReflectAlone, SessionType::ResolveTogether] {
        for plan in PlanId::ALL {
            let s = session(owner, session_type, 30);
            let (_, lines) = lines_of(|| {
                minutes_reserved(&s);
                session_created(&s, plan);
            });
            for line in &lines {
                assert!(!line.contains(owner) && !line.contains(&s.session_id.to_string()));
                assert!(!line.contains("c0123456789"), "{line}");
            }
            let documents = documents(&lines);
            assert_eq!(documents.len(), 2);
            assert_eq!(documents[0]["MinutesReserved"], json!(30));
            assert_eq!(documents[1]["SessionsCreated"], json!(1));
            assert_eq!(documents[1]["Plan"], plan.as_str());
            for document in &documents {
                published_sets.extend(published(document));
            }
        }
    }
    let mut expected = sets("SessionsCreated", SESSIONS_CREATED.dimension_sets);
    expected.extend(sets("MinutesReserved", MINUTES_RESERVED.dimension_sets));
    assert_eq!(published_sets, expected);
}

#[test]
fn refused_and_failed_creates_are_counted_by_reason() {
    let resets_at = Utc::now();
    let documents = written(|| {
        create_refused(&LedgerError::MinutesExhausted {
            remaining_minutes: 0,
            plan: PlanId::ReflectPlus,
            resets_at,
        });
        create_refused(&LedgerError::TooManyOpenSessions {
            open_sessions: 2,
            max_open_sessions: 2,
        });
        // Not refusals.
        create_refused(&LedgerError::SessionNotFound);
        create_refused(&LedgerError::Unavailable("x".into()));
        create_failed(&TavusError::AtCapacity);
        create_failed(&TavusError::Unauthorized);
        create_failed(&TavusError::Unavailable {
            attempts: 4,
            last: "HTTP 503".into(),
        });
    });
    let reasons: Vec<(&str, &str)> = documents
        .iter()
        .map(|d| {
            let metric = if d.get("CreatesRefused").is_some() {
                "CreatesRefused"
            } else {
                "CreatesFailed"
            };
            (metric, d["Reason"].as_str().unwrap())
        })
        .collect();
    assert_eq!(
        reasons,
        [
            ("CreatesRefused", "minutes_exhausted"),
            ("CreatesRefused", "too_many_open_sessions"),
            ("CreatesFailed", "tavus_at_capacity"),
            ("CreatesFailed", "tavus_unavailable"),
            ("CreatesFailed", "tavus_unavailable"),
        ]
    );
    assert_eq!(documents[0]["Plan"], "reflect_plus");
    assert_eq!(
        published(&documents[0]),
        sets("CreatesRefused", CREATES_REFUSED.dimension_sets)
    );
    assert_eq!(
        published(&documents[1]),
        sets("CreatesRefused", &[&[REASON]])
    );
}

#[test]
fn a_close_records_the_minutes_it_charged_or_released_once() {
    let s = session("owner-1", SessionType::ReflectAlone, 20);
    let now = Utc::now();
    let settle = || Closing::settle(&s, 7, EndReason::UserEnded, now);
    let release = || Closing::release(&s, EndReason::TavusFailed, now);
    let mut lines = Vec::new();
    for (closing, closed, by) in [
        (settle(), Closed::IntoAccount, ClosedBy::Owner),
        (settle(), Closed::IntoHistory, ClosedBy::Callback),
        (settle(), Closed::AlreadyClosed, ClosedBy::Sweeper),
        (release(), Closed::IntoAccount, ClosedBy::Create),
        (release(), Closed::AlreadyClosed, ClosedBy::Create),
    ] {
        CAPTURE.with(|c| *c.borrow_mut() = Some(Vec::new()));
        settle::session_closed(&closing, closed, by);
        lines.extend(CAPTURE.with(|c| c.borrow_mut().take()).unwrap_or_default());
    }
    let documents = documents(&lines);
    let seen: Vec<(String, Value, Value)> = documents
        .iter()
        .map(|d| {
            let name = d["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"]
                .as_str()
                .unwrap()
                .to_owned();
            (
                name.clone(),
                d[name.as_str()].clone(),
                d["ClosedBy"].clone(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("MinutesCharged".into(), json!(7), json!("owner")),
            ("MinutesCharged".into(), json!(7), json!("callback")),
            ("MinutesReleased".into(), json!(20), json!("create")),
        ]
    );
    assert_eq!(
        published(&documents[0]),
        sets("MinutesCharged", MINUTES_CHARGED.dimension_sets)
    );
}

#[test]
fn every_tavus_request_counts_with_its_latency_and_its_errors_by_kind() {
    let mut published_sets = BTreeSet::new();
    for operation in TavusOperation::ALL {
        for outcome in TavusOutcome::ALL {
            let documents = written(|| {
                emit::tavus_request(operation, Duration::from_micros(12_345_678), outcome);
            });
            assert_eq!(documents.len(), 1);
            let d = &documents[0];
            assert_eq!(d["Operation"], operation.as_str());
            assert_eq!(d["TavusRequests"], json!(1));
            assert_eq!(d["TavusLatency"], json!(12_345.678));
            match outcome.kind() {
                Some(kind) => {
                    assert_eq!(
                        (d["Kind"].as_str(), &d["TavusErrors"]),
                        (Some(kind), &json!(1))
                    );
                }
                None => assert!(d.get("TavusErrors").is_none() && d.get("Kind").is_none()),
            }
            published_sets.extend(published(d));
        }
    }
    let mut expected = sets("TavusRequests", TAVUS_REQUESTS.dimension_sets);
    expected.extend(sets("TavusLatency", TAVUS_LATENCY.dimension_sets));
    expected.extend(sets("TavusErrors", TAVUS_ERRORS.dimension_sets));
    assert_eq!(published_sets, expected);
}

#[test]
fn callbacks_are_counted_on_arrival_and_by_outcome() {
    let documents = written(|| {
        emit::callback_received();
        for handled in [
            Handled::Settled,
            Handled::AlreadySettled,
            Handled::TranscriptStored,
            Handled::RecordingStored,
            Handled::Ignored,
        ] {
            emit::callback_handled(handled.as_str());
        }
    });
    assert_eq!(documents[0]["CallbacksReceived"], json!(1));
    let outcomes: Vec<&str> = documents[1..]
        .iter()
        .map(|d| d["Outcome"].as_str().unwrap())
        .collect();
    assert_eq!(
        outcomes,
        [
            "settled",
            "already_settled",
            "transcript_stored",
            "recording_stored",
            "ignored"
        ]
    );
}

#[test]
fn a_sweep_and_a_reset_report_their_counts() {
    let report = SweepReport {
        found: 9,
        released: 1,
        settled_from_tavus: 2,
        settled_in_full: 3,
        already_closed: 0,
        tavus_copies_deleted: 4,
        transcripts_recovered: 1,
        orphans_ended: 5,
        orphans_deleted: 2,
        recording_erasures_finished: 2,
        failed: 1,
        complete: true,
    };
    let documents = written(|| sweep_finished(&report));
    let swept: Vec<(&str, i64)> = documents
        .iter()
        .filter(|d| d.get("SweptSessions").is_some())
        .map(|d| {
            (
                d["Outcome"].as_str().unwrap(),
                d["SweptSessions"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        swept,
        [
            ("released", 1),
            ("settled_from_tavus", 2),
            ("settled_in_full", 3),
            ("already_closed", 0),
            ("tavus_copy_deleted", 4),
            ("transcript_recovered", 1),
            ("recording_erasure_finished", 2),
            ("failed", 1),
        ]
    );
    let last = documents.last().unwrap();
    assert_eq!(
        (&last["OrphansEnded"], &last["SweepComplete"]),
        (&json!(5), &json!(1))
    );

    let report = ResetReport {
        period: "2026-12".into(),
        rolled: 1200,
        already_current: 3,
        conflicts_retried: 2,
        failed: 0,
        complete: false,
        seconds: 812.5,
    };
    let documents = written(|| emit::reset_finished(report.figures()));
    assert_eq!(documents.len(), 1);
    let d = &documents[0];
    assert_eq!(
        (
            &d["ResetAccountsRolled"],
            &d["ResetComplete"],
            &d["ResetSeconds"]
        ),
        (&json!(1200), &json!(0), &json!(812.5))
    );
    assert!(
        !d.to_string().contains("2026-12"),
        "the period is no metric"
    );
}

#[test]
fn every_declared_metric_is_written_by_some_record_call() {
    let mut seen = BTreeSet::new();
    let documents = written(|| {
        let s = session("u", SessionType::ReflectAlone, 5);
        minutes_reserved(&s);
        session_created(&s, PlanId::Free);
        create_refused(&LedgerError::TooManyOpenSessions {
            open_sessions: 1,
            max_open_sessions: 1,
        });
        create_failed(&TavusError::AtCapacity);
        emit::tavus_request(
            TavusOperation::End,
            Duration::from_millis(3),
            TavusOutcome::ServerError,
        );
        emit::callback_received();
        emit::callback_handled(Handled::Settled.as_str());
        sweep_finished(&SweepReport::default());
        emit::reset_finished(ResetReport::default().figures());
    });
    for d in &documents {
        seen.extend(published(d).into_iter().map(|(name, _)| name));
    }
    // The closes' two, written by `settle::close` (tested above).
    seen.extend(["MinutesCharged".to_owned(), "MinutesReleased".to_owned()]);
    let declared: BTreeSet<String> = METRICS.iter().map(|m| m.name.to_owned()).collect();
    assert_eq!(seen, declared);
}

// The dashboard and the alarm in template.yaml.

fn template() -> serde_yaml_ng::Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../template.yaml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_yaml_ng::from_str(&text).expect("template.yaml is YAML")
}

/// The text of a string, or of a `!Sub` of one.
fn text(value: &serde_yaml_ng::Value) -> &str {
    match value {
        serde_yaml_ng::Value::Tagged(tagged) => tagged.value.as_str().expect("a !Sub of a string"),
        other => other.as_str().expect("a string"),
    }
}

/// `!Sub` placeholders (`${AWS::Region}`, `${Alarm.Arn}`) replaced by a stand-in value.
fn substituted(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').expect("a closed placeholder") + start;
        out.push_str("sub");
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

/// The identifiers a metric-math expression refers to (its functions are upper case).
fn expression_ids(expression: &str) -> BTreeSet<String> {
    expression
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| w.chars().next().is_some_and(|c| c.is_ascii_lowercase()))
        .map(str::to_owned)
        .collect()
}

/// A drawn metric: name, dimensions, statistic, period.
#[derive(Debug, Clone, PartialEq)]
struct Drawn {
    name: String,
    dimensions: Vec<(String, String)>,
    stat: String,
    period: i64,
    id: Option<String>,
}

/// Checks one `[namespace, name, dim, value, ..., {options}]` row against the declarations.
fn drawn_row(row: &[Value], defaults: &Value) -> Drawn {
    let (options, fields) = match row.last() {
        Some(Value::Object(_)) => (
            row.last().cloned().unwrap_or_default(),
            &row[..row.len() - 1],
        ),
        _ => (json!({}), row),
    };
    let strings: Vec<&str> = fields
        .iter()
        .map(|f| {
            f.as_str()
                .unwrap_or_else(|| panic!("{row:?}: not a string"))
        })
        .collect();
    assert!(
        strings.len() >= 2 && strings.len().is_multiple_of(2),
        "{row:?}"
    );
    assert_eq!(strings[0], NAMESPACE, "{row:?}");
    let declared = metric(strings[1])
        .unwrap_or_else(|| panic!("{row:?}: {} is not emitted by the code", strings[1]));
    let dimensions: Vec<(String, String)> = strings[2..]
        .chunks(2)
        .map(|pair| (pair[0].to_owned(), pair[1].to_owned()))
        .collect();
    let names: Vec<&str> = dimensions.iter().map(|(n, _)| n.as_str()).collect();
    check::is_declared_set(declared, &names).unwrap_or_else(|e| panic!("{row:?}: {e}"));
    for (name, value) in &dimensions {
        check::is_declared_value(name, value).unwrap_or_else(|e| panic!("{row:?}: {e}"));
    }
    let stat = options["stat"]
        .as_str()
        .or(defaults["stat"].as_str())
        .unwrap_or("Average")
        .to_owned();
    let valid_stat = ["Sum", "Average", "Minimum", "Maximum", "SampleCount"]
        .contains(&stat.as_str())
        || stat
            .strip_prefix('p')
            .is_some_and(|p| p.parse::<f64>().is_ok());
    assert!(valid_stat, "{row:?}: statistic {stat}");
    Drawn {
        name: strings[1].to_owned(),
        dimensions,
        stat,
        period: options["period"]
            .as_i64()
            .or(defaults["period"].as_i64())
            .unwrap_or(300),
        id: options["id"].as_str().map(str::to_owned),
    }
}

#[test]
fn the_dashboard_draws_only_metrics_the_code_emits() {
    let template = template();
    let resources = template["Resources"].as_mapping().unwrap();
    let dashboards: Vec<&serde_yaml_ng::Value> = resources
        .values()
        .filter(|r| r["Type"] == "AWS::CloudWatch::Dashboard")
        .collect();
    assert_eq!(dashboards.len(), 1, "one dashboard");
    let body: Value = serde_json::from_str(&substituted(text(
        &dashboards[0]["Properties"]["DashboardBody"],
    )))
    .expect("the dashboard body is JSON");
    let mut widgets_drawn: Vec<(String, Vec<Drawn>, Vec<String>)> = Vec::new();
    for widget in body["widgets"].as_array().expect("widgets") {
        if widget["type"] != "metric" {
            continue;
        }
        let properties = &widget["properties"];
        assert!(properties["region"].is_string(), "{widget}");
        let title = properties["title"].as_str().expect("a title").to_owned();
        let mut drawn = Vec::new();
        let mut expressions = Vec::new();
        for row in properties["metrics"].as_array().expect("metrics") {
            let row = row.as_array().expect("a row");
            match row.first() {
                Some(Value::String(_)) => drawn.push(drawn_row(row, properties)),
                Some(Value::Object(o)) => {
                    let expression = o["expression"].as_str().expect("an expression");
                    expressions.push(expression.to_owned());
                }
                _ => panic!("{title}: row {row:?}"),
            }
        }
        let ids: BTreeSet<String> = drawn.iter().filter_map(|d| d.id.clone()).collect();
        for expression in &expressions {
            for id in expression_ids(expression) {
                assert!(
                    ids.contains(&id),
                    "{title}: {expression} names {id}, drawn by no row"
                );
            }
        }
        widgets_drawn.push((title, drawn, expressions));
    }
    let has =
        |f: &dyn Fn(&[Drawn], &[String]) -> bool| widgets_drawn.iter().any(|(_, d, e)| f(d, e));
    let total = |d: &Drawn, name: &str| d.name == name && d.dimensions.is_empty();
    // Minutes charged per day against minutes reserved.
    assert!(has(&|d, _| {
        d.iter()
            .any(|d| total(d, "MinutesCharged") && d.stat == "Sum" && d.period == 86400)
            && d.iter()
                .any(|d| total(d, "MinutesReserved") && d.stat == "Sum" && d.period == 86400)
    }));
    // Sessions per day by type.
    assert!(has(&|d, _| {
        ["reflect_alone", "resolve_together"].iter().all(|t| {
            d.iter().any(|d| {
                d.name == "SessionsCreated"
                    && d.dimensions == [(SESSION_TYPE.to_owned(), (*t).to_owned())]
                    && d.stat == "Sum"
                    && d.period == 86400
            })
        })
    }));
    // Tavus p99 latency.
    assert!(has(&|d, _| d
        .iter()
        .any(|d| d.name == "TavusLatency" && d.stat == "p99")));
    // Tavus error rate: errors over requests.
    assert!(has(&|d, e| {
        let id = |name: &str| d.iter().find(|d| total(d, name)).and_then(|d| d.id.clone());
        match (id("TavusErrors"), id("TavusRequests")) {
            (Some(errors), Some(requests)) => e.iter().any(|e| {
                let ids = expression_ids(e);
                ids.contains(&errors) && ids.contains(&requests)
            }),
            _ => false,
        }
    }));
}

#[test]
fn the_tavus_error_rate_alarm_divides_errors_by_requests_and_notifies_the_topic() {
    let template = template();
    let resources = template["Resources"].as_mapping().unwrap();
    let mut found = false;
    for (name, resource) in resources {
        if resource["Type"] != "AWS::CloudWatch::Alarm"
            || resource["Properties"]["Metrics"].is_null()
        {
            continue;
        }
        let properties = &resource["Properties"];
        let queries = properties["Metrics"].as_sequence().unwrap();
        let mut ids = BTreeSet::new();
        let mut metrics = Vec::new();
        let mut expressions = Vec::new();
        for query in queries {
            let id = query["Id"].as_str().unwrap().to_owned();
            if let Some(expression) = query["Expression"].as_str() {
                expressions.push((
                    expression.to_owned(),
                    query["ReturnData"].as_bool().unwrap_or(true),
                ));
            } else {
                let stat = &query["MetricStat"];
                let metric_def = &stat["Metric"];
                assert_eq!(metric_def["Namespace"], NAMESPACE, "{name:?}");
                let metric_name = metric_def["MetricName"].as_str().unwrap();
                let declared = metric(metric_name)
                    .unwrap_or_else(|| panic!("{name:?}: {metric_name} is not emitted"));
                let dimensions: Vec<(String, String)> = metric_def["Dimensions"]
                    .as_sequence()
                    .map(|ds| {
                        ds.iter()
                            .map(|d| {
                                (
                                    d["Name"].as_str().unwrap().to_owned(),
                                    d["Value"].as_str().unwrap().to_owned(),
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                let names: Vec<&str> = dimensions.iter().map(|(n, _)| n.as_str()).collect();
                check::is_declared_set(declared, &names).unwrap();
                for (dimension, value) in &dimensions {
                    check::is_declared_value(dimension, value).unwrap();
                }
                assert_eq!(
                    query["ReturnData"].as_bool(),
                    Some(false),
                    "{name:?}: only the rate is alarmed on"
                );
                metrics.push((id.clone(), metric_name.to_owned()));
            }
            ids.insert(id);
        }
        let returned: Vec<&String> = expressions
            .iter()
            .filter(|(_, r)| *r)
            .map(|(e, _)| e)
            .collect();
        assert_eq!(returned.len(), 1, "{name:?}: one expression is alarmed on");
        for (expression, _) in &expressions {
            for id in expression_ids(expression) {
                assert!(ids.contains(&id), "{name:?}: {expression} names {id}");
            }
        }
        let id_of = |metric: &str| {
            metrics
                .iter()
                .find(|(_, m)| m == metric)
                .map(|(id, _)| id.clone())
        };
        if let (Some(errors), Some(requests)) = (id_of("TavusErrors"), id_of("TavusRequests")) {
            let rate = expression_ids(returned[0]);
            assert!(
                rate.contains(&errors) && rate.contains(&requests),
                "{name:?}"
            );
            let actions = serde_yaml_ng::to_string(&properties["AlarmActions"]).unwrap();
            assert!(
                actions.contains("!Ref AlarmTopic"),
                "{name:?} notifies the alarm topic: {actions}"
            );
            found = true;
        }
    }
    assert!(
        found,
        "an alarm on the Tavus error rate (TavusErrors / TavusRequests)"
    );
}
