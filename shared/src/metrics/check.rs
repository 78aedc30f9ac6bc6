//! The rules an EMF line must follow (CloudWatch's embedded metric format specification), and
//! whether it only uses the metrics and dimensions declared in [`super::METRICS`] and
//! [`super::DIMENSIONS`]. The unit tests check the builder's lines with these; the end-to-end
//! tests check the lines the functions wrote to the local stack's log.

use serde_json::{Map, Value};

use super::{MAX_DIMENSIONS_PER_SET, MAX_METRICS_PER_LINE, MAX_VALUES_PER_METRIC, NAMESPACE};

/// The units CloudWatch accepts.
const UNITS: &[&str] = &[
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
    "None",
];

/// An EMF document in a line of text, if the line is one: the JSON object from the line's first
/// `{` (a log relay may put a prefix before it) that has an `_aws` member.
pub fn emf_in(line: &str) -> Option<Value> {
    let start = line.find('{')?;
    let value: Value = serde_json::from_str(line[start..].trim_end()).ok()?;
    value.get("_aws").is_some().then_some(value)
}

/// The format's rules: `_aws.Timestamp` an integer in milliseconds; `CloudWatchMetrics` a
/// non-empty array of directives, each with a `Namespace`, at least one dimension set of at most
/// 30 dimensions, each named dimension a string member of the root, and metrics whose values
/// are root members holding a number or an array of 1 to 100 numbers; units CloudWatch knows;
/// at most 100 metrics in the line.
pub fn format(document: &Value) -> Result<(), String> {
    let root = document.as_object().ok_or("not a JSON object")?;
    let aws = root
        .get("_aws")
        .and_then(Value::as_object)
        .ok_or("no _aws object")?;
    let timestamp = aws
        .get("Timestamp")
        .and_then(Value::as_i64)
        .ok_or("_aws.Timestamp is not an integer")?;
    // Milliseconds since 1970: after 2001-09-09 in milliseconds (seconds would be far smaller).
    if timestamp < 1_000_000_000_000 {
        return Err(format!("_aws.Timestamp {timestamp} is not in milliseconds"));
    }
    let directives = aws
        .get("CloudWatchMetrics")
        .and_then(Value::as_array)
        .filter(|d| !d.is_empty())
        .ok_or("_aws.CloudWatchMetrics is not a non-empty array")?;
    let mut metrics_in_line = 0;
    for directive in directives {
        metrics_in_line += directive_format(root, directive)?;
    }
    if metrics_in_line > MAX_METRICS_PER_LINE {
        return Err(format!("{metrics_in_line} metrics in one line"));
    }
    Ok(())
}

/// One `CloudWatchMetrics` directive's rules; returns how many metrics it declares.
fn directive_format(root: &Map<String, Value>, directive: &Value) -> Result<usize, String> {
    let namespace = directive
        .get("Namespace")
        .and_then(Value::as_str)
        .ok_or("a directive without a Namespace string")?;
    if namespace.is_empty() || namespace.len() > 1024 {
        return Err(format!("namespace {namespace:?} is empty or too long"));
    }
    let sets = directive
        .get("Dimensions")
        .and_then(Value::as_array)
        .filter(|s| !s.is_empty())
        .ok_or("a directive without a non-empty Dimensions array")?;
    for set in sets {
        dimension_set_format(root, set)?;
    }
    let metrics = directive
        .get("Metrics")
        .and_then(Value::as_array)
        .ok_or("a directive without a Metrics array")?;
    for metric in metrics {
        metric_format(root, metric)?;
    }
    Ok(metrics.len())
}

fn dimension_set_format(root: &Map<String, Value>, set: &Value) -> Result<(), String> {
    let set = set.as_array().ok_or("a dimension set is not an array")?;
    if set.len() > MAX_DIMENSIONS_PER_SET {
        return Err(format!("a dimension set names {} dimensions", set.len()));
    }
    for name in set {
        let name = name.as_str().ok_or("a dimension name is not a string")?;
        match root.get(name) {
            Some(Value::String(value)) if value.len() <= 1024 => {}
            Some(Value::String(_)) => return Err(format!("dimension {name}: too long")),
            _ => return Err(format!("dimension {name}: no string member")),
        }
    }
    Ok(())
}

fn metric_format(root: &Map<String, Value>, metric: &Value) -> Result<(), String> {
    let name = metric
        .get("Name")
        .and_then(Value::as_str)
        .ok_or("a metric without a Name string")?;
    if let Some(unit) = metric.get("Unit") {
        let unit = unit.as_str().ok_or("a Unit that is not a string")?;
        if !UNITS.contains(&unit) {
            return Err(format!("metric {name}: unknown unit {unit}"));
        }
    }
    match root.get(name) {
        Some(Value::Number(_)) => Ok(()),
        Some(Value::Array(values))
            if !values.is_empty()
                && values.len() <= MAX_VALUES_PER_METRIC
                && values.iter().all(Value::is_number) =>
        {
            Ok(())
        }
        _ => Err(format!(
            "metric {name}: no member with a number or 1 to {MAX_VALUES_PER_METRIC} numbers"
        )),
    }
}

/// Whether a line only uses what the code declares: the `AwakNow` namespace, declared metrics
/// with their declared units and dimension sets, and declared dimension values.
pub fn declared(document: &Value) -> Result<(), String> {
    let directives = document["_aws"]["CloudWatchMetrics"]
        .as_array()
        .ok_or("no directives")?;
    for directive in directives {
        if directive["Namespace"] != NAMESPACE {
            return Err(format!(
                "namespace {} is not {NAMESPACE}",
                directive["Namespace"]
            ));
        }
        for metric in directive["Metrics"].as_array().into_iter().flatten() {
            let name = metric["Name"].as_str().unwrap_or_default();
            let declared = super::metric(name).ok_or(format!("metric {name} is not declared"))?;
            if metric["Unit"] != declared.unit.as_str() {
                return Err(format!("metric {name}: unit {}", metric["Unit"]));
            }
            for set in directive["Dimensions"].as_array().into_iter().flatten() {
                let names: Vec<&str> = set
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect();
                is_declared_set(declared, &names)?;
                for name in names {
                    let value = document[name].as_str().unwrap_or_default();
                    is_declared_value(name, value)?;
                }
            }
        }
    }
    Ok(())
}

/// Whether `names` (in any order) is one of the metric's dimension sets.
pub fn is_declared_set(metric: &super::Metric, names: &[&str]) -> Result<(), String> {
    let mut given: Vec<&str> = names.to_vec();
    given.sort_unstable();
    let found = metric.dimension_sets.iter().any(|set| {
        let mut set = set.to_vec();
        set.sort_unstable();
        set == given
    });
    if found {
        Ok(())
    } else {
        Err(format!(
            "metric {} is not published with the dimensions {names:?} (only {:?})",
            metric.name, metric.dimension_sets
        ))
    }
}

/// Whether `value` is one the code gives the dimension `name`.
pub fn is_declared_value(name: &str, value: &str) -> Result<(), String> {
    let dimension = super::dimension(name).ok_or(format!("dimension {name} is not declared"))?;
    if dimension.values.contains(&value) {
        Ok(())
    } else {
        Err(format!(
            "dimension {name}: {value:?} is not one of {:?}",
            dimension.values
        ))
    }
}
