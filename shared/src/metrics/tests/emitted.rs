//! The catalogue of metrics and dimensions, and what each call site writes.

use super::*;

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
    let checks: BTreeSet<String> = Check::ALL.iter().map(|c| c.as_str().to_owned()).collect();
    assert_eq!(checks, values(CHECK));
    let causes: BTreeSet<String> = Cause::ALL.iter().map(|c| c.as_str().to_owned()).collect();
    assert_eq!(causes, values(CAUSE));
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
        create_refused(&LedgerError::RateLimited {
            retry_after_seconds: 6,
            creates_per_minute: 10,
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
            ("CreatesRefused", "rate_limited"),
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
            Handled::LateRecordingDeleted,
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
            "late_recording_deleted",
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
        account_deletions_finished: 1,
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
            ("account_deletion_finished", 1),
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

/// An audit's report with every check, `findings` of them for the missing objects, the account
/// check incomplete, and the tallies of last month and this one.
fn audit_report(at: DateTime<Utc>) -> AuditReport {
    let owner = UserId::parse("audit-owner-secret").unwrap();
    let this_month = Period::containing(at);
    let last_month = Period::containing(this_month.starts_at() - chrono::Duration::days(1));
    let tally = |period, charged_ran: i64| Tally {
        period,
        by_cause: [
            (
                Cause::Charged,
                CauseFigures {
                    conversations: 4,
                    ran_minutes: charged_ran,
                    charged_minutes: 40,
                },
            ),
            (
                Cause::Orphan,
                CauseFigures {
                    conversations: 1,
                    ran_minutes: 7,
                    charged_minutes: 0,
                },
            ),
        ]
        .into_iter()
        .collect(),
    };
    AuditReport {
        checks: Check::ALL
            .iter()
            .map(|&check| CheckResult {
                check,
                checked: 10,
                findings: if check == Check::MissingObjects {
                    vec![
                        Finding::MissingObject {
                            user: owner.clone(),
                            session: SessionId::new_at(at),
                            key: "recordings/c-secret/a.mp4".into(),
                        };
                        2
                    ]
                } else {
                    Vec::new()
                },
                complete: check != Check::AccountFigures,
            })
            .collect(),
        tallies: vec![tally(last_month, 1000), tally(this_month, 38)],
        fixed: Vec::new(),
        at,
    }
}

#[test]
fn an_audit_counts_each_check_its_incomplete_checks_and_this_months_minutes_by_cause() {
    let report = audit_report(Utc::now());
    let (_, lines) = lines_of(|| record_audit(&report));
    for line in &lines {
        assert!(
            !line.contains("audit-owner-secret") && !line.contains("c-secret"),
            "ids are no metric: {line}"
        );
    }
    let documents = documents(&lines);
    let per_check: Vec<(&str, i64, i64)> = documents
        .iter()
        .filter(|d| d.get("Check").is_some())
        .map(|d| {
            (
                d["Check"].as_str().unwrap(),
                d["AuditChecked"].as_i64().unwrap(),
                d["AuditFindings"].as_i64().unwrap(),
            )
        })
        .collect();
    let expected: Vec<(&str, i64, i64)> = Check::ALL
        .iter()
        .map(|c| {
            let findings = if *c == Check::MissingObjects { 2 } else { 0 };
            (c.as_str(), 10, findings)
        })
        .collect();
    assert_eq!(per_check, expected, "every check, zero findings included");
    // This month's tally only, every cause (those with nothing as zero); uncharged is ran less
    // charged, whatever its sign.
    let per_cause: Vec<(&str, i64, i64)> = documents
        .iter()
        .filter(|d| d.get("Cause").is_some())
        .map(|d| {
            (
                d["Cause"].as_str().unwrap(),
                d["TavusRanMinutes"].as_i64().unwrap(),
                d["UnchargedMinutes"].as_i64().unwrap(),
            )
        })
        .collect();
    let expected: Vec<(&str, i64, i64)> = Cause::ALL
        .iter()
        .map(|c| match c {
            Cause::Charged => (c.as_str(), 38, -2),
            Cause::Orphan => (c.as_str(), 7, 7),
            _ => (c.as_str(), 0, 0),
        })
        .collect();
    assert_eq!(per_cause, expected);
    let last = documents.last().unwrap();
    assert_eq!(last["AuditIncomplete"], json!(1), "{last}");

    let mut published_sets = BTreeSet::new();
    for d in &documents {
        published_sets.extend(published(d));
    }
    let mut expected = sets("AuditFindings", AUDIT_FINDINGS.dimension_sets);
    expected.extend(sets("AuditChecked", AUDIT_CHECKED.dimension_sets));
    expected.extend(sets("AuditIncomplete", AUDIT_INCOMPLETE.dimension_sets));
    expected.extend(sets("TavusRanMinutes", TAVUS_RAN_MINUTES.dimension_sets));
    expected.extend(sets("UnchargedMinutes", UNCHARGED_MINUTES.dimension_sets));
    assert_eq!(published_sets, expected);

    // A tally the ledger could not read: no minutes, the checks as before.
    let mut unread = audit_report(Utc::now());
    unread.tallies.clear();
    let documents = written(|| record_audit(&unread));
    assert_eq!(documents.len(), Check::ALL.len() + 1);
    assert!(documents.iter().all(|d| d.get("Cause").is_none()));
}

#[test]
fn exports_and_deletions_are_counted_with_their_size_and_time() {
    let documents = written(|| {
        emit::account_export("download", 7_000_000, Duration::from_micros(2_345_678));
        emit::account_deletion("in_progress", 4, Duration::from_millis(29_000));
    });
    assert_eq!(documents.len(), 2);
    let export = &documents[0];
    assert_eq!(
        (
            &export["Delivery"],
            &export["AccountExports"],
            &export["AccountExportSize"],
            &export["AccountExportDuration"]
        ),
        (
            &json!("download"),
            &json!(1),
            &json!(7_000_000),
            &json!(2345.678)
        )
    );
    let deletion = &documents[1];
    assert_eq!(
        (
            &deletion["Outcome"],
            &deletion["AccountDeletions"],
            &deletion["AccountDeletionSessionsErased"],
            &deletion["AccountDeletionDuration"]
        ),
        (&json!("in_progress"), &json!(1), &json!(4), &json!(29000))
    );
    // Nothing of the person: the dimensions and values above, the function, the directive.
    for d in &documents {
        let members: BTreeSet<&str> = d.as_object().unwrap().keys().map(String::as_str).collect();
        assert!(members.len() <= 7, "{d}");
    }
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
        record_audit(&audit_report(Utc::now()));
        emit::account_export("inline", 1200, Duration::from_millis(40));
        emit::account_deletion("deleted", 3, Duration::from_millis(900));
    });
    for d in &documents {
        seen.extend(published(d).into_iter().map(|(name, _)| name));
    }
    // The closes' two, written by `settle::close` (tested above).
    seen.extend(["MinutesCharged".to_owned(), "MinutesReleased".to_owned()]);
    let declared: BTreeSet<String> = METRICS.iter().map(|m| m.name.to_owned()).collect();
    assert_eq!(seen, declared);
}
