//! The dashboard and the alarms in template.yaml against the metrics the code emits.

use super::*;

// The dashboard and the alarms in template.yaml.

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
    // The audit: a widget per check, its findings and what it checked, per day.
    for check in crate::service::audit::Check::ALL {
        let by_check = |d: &Drawn, name: &str| {
            d.name == name
                && d.dimensions == [(CHECK.to_owned(), check.as_str().to_owned())]
                && d.stat == "Sum"
                && d.period == 86400
        };
        assert!(
            has(&|d, _| d.iter().any(|d| by_check(d, "AuditFindings"))
                && d.iter().any(|d| by_check(d, "AuditChecked"))),
            "a widget of the audit's {} check",
            check.as_str()
        );
    }
    // The minutes by cause: what Tavus ran and what nobody was charged for, every cause.
    assert!(has(&|d, _| {
        crate::domain::cost::Cause::ALL.iter().all(|cause| {
            ["TavusRanMinutes", "UnchargedMinutes"].iter().all(|name| {
                d.iter().any(|d| {
                    d.name == *name
                        && d.dimensions == [(CAUSE.to_owned(), cause.as_str().to_owned())]
                })
            })
        })
    }));
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

/// Tavus's refusals told apart for the operator: out of credits alarms on the first one, at
/// capacity on a sustained rate; both on the emitted `TavusErrors` by its declared `Kind`, and
/// both notify the topic.
#[test]
fn out_of_credits_and_capacity_have_alarms_of_their_own() {
    let template = template();
    let resources = &template["Resources"];
    for (alarm, kind) in [
        ("TavusOutOfCreditsAlarm", "out_of_credits"),
        ("TavusAtCapacityAlarm", "capacity"),
    ] {
        let properties = &resources[alarm]["Properties"];
        assert_eq!(properties["Namespace"], NAMESPACE, "{alarm}");
        let name = properties["MetricName"].as_str().unwrap();
        let declared = metric(name).unwrap_or_else(|| panic!("{alarm}: {name} is not emitted"));
        assert_eq!(name, "TavusErrors");
        let dimensions = properties["Dimensions"].as_sequence().unwrap();
        assert_eq!(dimensions.len(), 1, "{alarm}");
        let dimension = dimensions[0]["Name"].as_str().unwrap();
        check::is_declared_set(declared, &[dimension]).unwrap();
        check::is_declared_value(dimension, kind).unwrap();
        assert_eq!(dimensions[0]["Value"].as_str(), Some(kind), "{alarm}");
        assert_eq!(properties["Statistic"].as_str(), Some("Sum"), "{alarm}");
        assert!(
            yaml_text(&properties["AlarmActions"]).contains("AlarmTopic"),
            "{alarm} notifies the topic"
        );
    }
    let credits = &resources["TavusOutOfCreditsAlarm"]["Properties"];
    assert_eq!(
        (
            credits["Threshold"].as_f64(),
            credits["EvaluationPeriods"].as_u64()
        ),
        (Some(1.0), Some(1)),
        "the first 402 alarms"
    );
    let capacity = &resources["TavusAtCapacityAlarm"]["Properties"];
    let periods = capacity["EvaluationPeriods"].as_u64().unwrap();
    assert!(periods >= 3, "sustained: {periods} periods");
    assert_eq!(capacity["DatapointsToAlarm"].as_u64(), Some(periods));
}

fn yaml_text(value: &serde_yaml_ng::Value) -> String {
    serde_yaml_ng::to_string(value).unwrap_or_default()
}

/// The audit's two alarms: any finding of a day, whichever check (the dimensionless total the
/// code publishes), and a day without a complete run (no value for 26 hours is breaching, and
/// so is a run with a check that could not finish). Both on metrics the code emits, both to
/// the topic.
#[test]
fn the_audit_alarms_on_any_finding_and_on_a_missing_or_incomplete_run() {
    let template = template();
    let resources = &template["Resources"];
    for (alarm, name) in [
        ("AuditFindingsAlarm", "AuditFindings"),
        ("AuditIncompleteAlarm", "AuditIncomplete"),
    ] {
        let properties = &resources[alarm]["Properties"];
        assert_eq!(properties["Namespace"], NAMESPACE, "{alarm}");
        assert_eq!(properties["MetricName"].as_str(), Some(name), "{alarm}");
        let declared = metric(name).unwrap_or_else(|| panic!("{alarm}: {name} is not emitted"));
        assert!(properties["Dimensions"].is_null(), "{alarm}: the total");
        check::is_declared_set(declared, &[]).unwrap();
        assert_eq!(properties["Threshold"].as_f64(), Some(1.0), "{alarm}");
        assert_eq!(
            properties["ComparisonOperator"].as_str(),
            Some("GreaterThanOrEqualToThreshold")
        );
        assert!(
            yaml_text(&properties["AlarmActions"]).contains("AlarmTopic"),
            "{alarm} notifies the topic"
        );
    }
    let findings = &resources["AuditFindingsAlarm"]["Properties"];
    assert_eq!(
        (
            findings["Statistic"].as_str(),
            findings["Period"].as_u64(),
            findings["EvaluationPeriods"].as_u64()
        ),
        (Some("Sum"), Some(86400), Some(1)),
        "any finding of a day"
    );
    let incomplete = &resources["AuditIncompleteAlarm"]["Properties"];
    let period = incomplete["Period"].as_u64().unwrap();
    let periods = incomplete["EvaluationPeriods"].as_u64().unwrap();
    assert_eq!(incomplete["TreatMissingData"].as_str(), Some("breaching"));
    assert_eq!(incomplete["DatapointsToAlarm"].as_u64(), Some(periods));
    assert!(
        period * periods > 86400 && period * periods <= 7 * 86400,
        "longer than a day between two runs, within CloudWatch's seven days: {period} x {periods}"
    );
}
