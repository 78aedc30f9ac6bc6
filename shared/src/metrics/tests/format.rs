//! The builder's lines against the format's rules.

use super::*;

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
