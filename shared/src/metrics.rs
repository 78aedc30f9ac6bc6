//! Metrics for the operator, in CloudWatch's embedded metric format (EMF): each is one JSON object
//! on one line of stdout. Lambda sends stdout to CloudWatch Logs, which extracts the metrics from
//! such lines, so recording a metric costs no AWS call on any request path (and no permission
//! beyond writing logs). Locally, `make dev` keeps them in its functions' log like any other line.
//!
//! This module has one job: build EMF lines ([`Line`]) and write them. It also declares every
//! metric and dimension the code emits ([`METRICS`], [`DIMENSIONS`]): the dashboard and the alarm
//! in `template.yaml` draw only these, and a test reads the template to check it. What is recorded
//! where is in [`emit`]; [`check`] holds the format's rules, which the tests apply to the lines.
//!
//! Dimension values are `&'static str` only, so nothing unbounded (a user id, a session id) can
//! become a dimension, and nothing private can reach a line.

use std::io::Write;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::{Map, Number, Value};

pub mod check;
pub(crate) mod emit;

#[cfg(test)]
mod tests;

/// The CloudWatch namespace of every metric here.
pub const NAMESPACE: &str = "AwakNow";
/// EMF: a dimension set names at most 30 dimensions.
pub const MAX_DIMENSIONS_PER_SET: usize = 30;
/// EMF: a directive declares at most 100 metrics; a line here carries at most 100 in all.
pub const MAX_METRICS_PER_LINE: usize = 100;
/// EMF: a metric's value is a number or an array of at most 100 numbers.
pub const MAX_VALUES_PER_METRIC: usize = 100;
/// The plain member (not a dimension) naming the Lambda function that wrote a line.
pub const FUNCTION_MEMBER: &str = "function";

/// CloudWatch units used here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Milliseconds,
    Seconds,
    Bytes,
    /// A flag (1 or 0).
    None,
}

impl Unit {
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Milliseconds => "Milliseconds",
            Unit::Seconds => "Seconds",
            Unit::Bytes => "Bytes",
            Unit::None => "None",
        }
    }
}

/// A metric the code emits: its name, its unit, and the dimension sets it is published under
/// (each set is a metric of its own in CloudWatch; `[]` is the total over every dimension).
#[derive(Debug)]
pub struct Metric {
    pub name: &'static str,
    pub unit: Unit,
    pub dimension_sets: &'static [&'static [&'static str]],
}

/// A dimension and every value the code gives it: the cardinality is bounded by construction.
#[derive(Debug)]
pub struct Dimension {
    pub name: &'static str,
    pub values: &'static [&'static str],
}

// Dimensions.
pub const SESSION_TYPE: &str = "SessionType";
pub const PLAN: &str = "Plan";
pub const REASON: &str = "Reason";
pub const CLOSED_BY: &str = "ClosedBy";
pub const OPERATION: &str = "Operation";
pub const KIND: &str = "Kind";
pub const OUTCOME: &str = "Outcome";
pub const CHECK: &str = "Check";
pub const CAUSE: &str = "Cause";
pub const DELIVERY: &str = "Delivery";

pub static DIMENSIONS: &[Dimension] = &[
    Dimension {
        name: SESSION_TYPE,
        values: &["reflect_alone", "resolve_together"],
    },
    Dimension {
        name: PLAN,
        values: &["free", "reflect_plus", "resolve_together"],
    },
    Dimension {
        name: REASON,
        values: &[
            "minutes_exhausted",
            "too_many_open_sessions",
            "rate_limited",
            "tavus_at_capacity",
            "tavus_out_of_credits",
            "tavus_unavailable",
            "dependency_unavailable",
        ],
    },
    Dimension {
        name: CLOSED_BY,
        values: &["owner", "callback", "sweeper", "create"],
    },
    Dimension {
        name: OPERATION,
        values: &["create", "end", "get", "list", "delete"],
    },
    Dimension {
        name: KIND,
        values: &[
            "timeout",
            "connect",
            "network",
            "5xx",
            "429",
            "capacity",
            "out_of_credits",
            "unauthorized",
            "rejected",
        ],
    },
    Dimension {
        name: OUTCOME,
        values: &[
            // Callbacks.
            "settled",
            "already_settled",
            "transcript_stored",
            "recording_stored",
            "late_recording_deleted",
            "ignored",
            // The sweeper.
            "released",
            "settled_from_tavus",
            "settled_in_full",
            "already_closed",
            "tavus_copy_deleted",
            "transcript_recovered",
            "recording_erasure_finished",
            "account_deletion_finished",
            "failed",
            // Account deletions (a pass of `DELETE /me` or of the sweeper).
            "deleted",
            "in_progress",
        ],
    },
    // How an account export reached its user.
    Dimension {
        name: DELIVERY,
        values: &["inline", "download"],
    },
    // The audit's checks (`service::audit::Check::as_str`).
    Dimension {
        name: CHECK,
        values: &[
            "unheld_conversations",
            "ended_not_deleted",
            "ended_at_tavus",
            "sweeper_behind",
            "unreferenced_objects",
            "missing_objects",
            "erasures_stuck",
            "account_figures",
        ],
    },
    // Why Tavus ran a conversation's minutes (`domain::cost::Cause::as_str`).
    Dimension {
        name: CAUSE,
        values: &[
            "charged",
            "nobody_joined",
            "test_mode",
            "ended_by_sweeper",
            "released",
            "orphan",
        ],
    },
];

// Sessions and minutes.
pub static SESSIONS_CREATED: Metric = Metric {
    name: "SessionsCreated",
    unit: Unit::Count,
    dimension_sets: &[&[], &[SESSION_TYPE], &[SESSION_TYPE, PLAN]],
};
pub static MINUTES_RESERVED: Metric = Metric {
    name: "MinutesReserved",
    unit: Unit::Count,
    dimension_sets: &[&[], &[SESSION_TYPE]],
};
pub static CREATES_REFUSED: Metric = Metric {
    name: "CreatesRefused",
    unit: Unit::Count,
    dimension_sets: &[&[REASON], &[REASON, PLAN]],
};
pub static CREATES_FAILED: Metric = Metric {
    name: "CreatesFailed",
    unit: Unit::Count,
    dimension_sets: &[&[REASON]],
};
pub static MINUTES_CHARGED: Metric = Metric {
    name: "MinutesCharged",
    unit: Unit::Count,
    dimension_sets: &[&[], &[CLOSED_BY]],
};
pub static MINUTES_RELEASED: Metric = Metric {
    name: "MinutesReleased",
    unit: Unit::Count,
    dimension_sets: &[&[], &[CLOSED_BY]],
};
// Tavus.
pub static TAVUS_REQUESTS: Metric = Metric {
    name: "TavusRequests",
    unit: Unit::Count,
    dimension_sets: &[&[], &[OPERATION]],
};
pub static TAVUS_LATENCY: Metric = Metric {
    name: "TavusLatency",
    unit: Unit::Milliseconds,
    dimension_sets: &[&[], &[OPERATION]],
};
pub static TAVUS_ERRORS: Metric = Metric {
    name: "TavusErrors",
    unit: Unit::Count,
    // Not the pair of both (up to 40 more metrics): each line carries both, for Logs Insights.
    dimension_sets: &[&[], &[OPERATION], &[KIND]],
};
// Callbacks.
pub static CALLBACKS_RECEIVED: Metric = Metric {
    name: "CallbacksReceived",
    unit: Unit::Count,
    dimension_sets: &[&[]],
};
pub static CALLBACKS_HANDLED: Metric = Metric {
    name: "CallbacksHandled",
    unit: Unit::Count,
    dimension_sets: &[&[OUTCOME]],
};
// The sweeper.
pub static SWEPT_SESSIONS: Metric = Metric {
    name: "SweptSessions",
    unit: Unit::Count,
    dimension_sets: &[&[OUTCOME]],
};
pub static ORPHANS_ENDED: Metric = Metric {
    name: "OrphansEnded",
    unit: Unit::Count,
    dimension_sets: &[&[]],
};
pub static SWEEP_COMPLETE: Metric = Metric {
    name: "SweepComplete",
    unit: Unit::None,
    dimension_sets: &[&[]],
};
// The monthly reset.
pub static RESET_ACCOUNTS_ROLLED: Metric = Metric {
    name: "ResetAccountsRolled",
    unit: Unit::Count,
    dimension_sets: &[&[]],
};
pub static RESET_ALREADY_CURRENT: Metric = Metric {
    name: "ResetAlreadyCurrent",
    unit: Unit::Count,
    dimension_sets: &[&[]],
};
pub static RESET_CONFLICTS_RETRIED: Metric = Metric {
    name: "ResetConflictsRetried",
    unit: Unit::Count,
    dimension_sets: &[&[]],
};
pub static RESET_FAILED: Metric = Metric {
    name: "ResetFailed",
    unit: Unit::Count,
    dimension_sets: &[&[]],
};
pub static RESET_COMPLETE: Metric = Metric {
    name: "ResetComplete",
    unit: Unit::None,
    dimension_sets: &[&[]],
};
pub static RESET_SECONDS: Metric = Metric {
    name: "ResetSeconds",
    unit: Unit::Seconds,
    dimension_sets: &[&[]],
};
// The audit.
pub static AUDIT_FINDINGS: Metric = Metric {
    name: "AuditFindings",
    unit: Unit::Count,
    // The total as well: one alarm on any finding, whichever check (CloudWatch alarms cannot
    // search the metrics of each check, so the total is published rather than summed there).
    dimension_sets: &[&[], &[CHECK]],
};
pub static AUDIT_CHECKED: Metric = Metric {
    name: "AuditChecked",
    unit: Unit::Count,
    dimension_sets: &[&[CHECK]],
};
pub static AUDIT_INCOMPLETE: Metric = Metric {
    name: "AuditIncomplete",
    unit: Unit::Count,
    dimension_sets: &[&[]],
};
pub static TAVUS_RAN_MINUTES: Metric = Metric {
    name: "TavusRanMinutes",
    unit: Unit::Count,
    dimension_sets: &[&[CAUSE]],
};
pub static UNCHARGED_MINUTES: Metric = Metric {
    name: "UnchargedMinutes",
    unit: Unit::Count,
    dimension_sets: &[&[CAUSE]],
};

// Account exports and deletions.
pub static ACCOUNT_EXPORTS: Metric = Metric {
    name: "AccountExports",
    unit: Unit::Count,
    dimension_sets: &[&[], &[DELIVERY]],
};
pub static ACCOUNT_EXPORT_DURATION: Metric = Metric {
    name: "AccountExportDuration",
    unit: Unit::Milliseconds,
    dimension_sets: &[&[]],
};
pub static ACCOUNT_EXPORT_SIZE: Metric = Metric {
    name: "AccountExportSize",
    unit: Unit::Bytes,
    dimension_sets: &[&[]],
};
pub static ACCOUNT_DELETIONS: Metric = Metric {
    name: "AccountDeletions",
    unit: Unit::Count,
    dimension_sets: &[&[OUTCOME]],
};
pub static ACCOUNT_DELETION_DURATION: Metric = Metric {
    name: "AccountDeletionDuration",
    unit: Unit::Milliseconds,
    dimension_sets: &[&[]],
};
pub static ACCOUNT_DELETION_SESSIONS_ERASED: Metric = Metric {
    name: "AccountDeletionSessionsErased",
    unit: Unit::Count,
    dimension_sets: &[&[]],
};

/// Every metric the code emits.
pub static METRICS: &[&Metric] = &[
    &SESSIONS_CREATED,
    &MINUTES_RESERVED,
    &CREATES_REFUSED,
    &CREATES_FAILED,
    &MINUTES_CHARGED,
    &MINUTES_RELEASED,
    &TAVUS_REQUESTS,
    &TAVUS_LATENCY,
    &TAVUS_ERRORS,
    &CALLBACKS_RECEIVED,
    &CALLBACKS_HANDLED,
    &SWEPT_SESSIONS,
    &ORPHANS_ENDED,
    &SWEEP_COMPLETE,
    &RESET_ACCOUNTS_ROLLED,
    &RESET_ALREADY_CURRENT,
    &RESET_CONFLICTS_RETRIED,
    &RESET_FAILED,
    &RESET_COMPLETE,
    &RESET_SECONDS,
    &AUDIT_FINDINGS,
    &AUDIT_CHECKED,
    &AUDIT_INCOMPLETE,
    &TAVUS_RAN_MINUTES,
    &UNCHARGED_MINUTES,
    &ACCOUNT_EXPORTS,
    &ACCOUNT_EXPORT_DURATION,
    &ACCOUNT_EXPORT_SIZE,
    &ACCOUNT_DELETIONS,
    &ACCOUNT_DELETION_DURATION,
    &ACCOUNT_DELETION_SESSIONS_ERASED,
];

/// The declaration of a metric by name.
pub fn metric(name: &str) -> Option<&'static Metric> {
    METRICS.iter().copied().find(|m| m.name == name)
}

/// The declaration of a dimension by name.
pub fn dimension(name: &str) -> Option<&'static Dimension> {
    DIMENSIONS.iter().find(|d| d.name == name)
}

/// What happened, as metric values and the dimensions they share; written by [`Line::emit`].
///
/// Each metric is published under its declared dimension sets; a set naming a dimension this
/// line has no value for is left out of this line (the plan of a refusal that has none). A metric
/// given several values carries them as an array.
#[derive(Debug, Clone, Default)]
pub struct Line {
    dimensions: Vec<(&'static str, &'static str)>,
    values: Vec<(&'static Metric, Vec<f64>)>,
}

impl Line {
    pub fn new() -> Line {
        Line::default()
    }

    /// Sets a dimension (again: replaces its value).
    pub fn dimension(mut self, name: &'static str, value: &'static str) -> Line {
        match self.dimensions.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => self.dimensions.push((name, value)),
        }
        self
    }

    /// Adds a value of a metric. A value that is not a finite number is dropped.
    pub fn value(mut self, metric: &'static Metric, value: f64) -> Line {
        if !value.is_finite() {
            return self;
        }
        match self
            .values
            .iter_mut()
            .find(|(m, _)| std::ptr::eq(*m, metric))
        {
            Some((_, values)) => values.push(value),
            None => self.values.push((metric, vec![value])),
        }
        self
    }

    /// The EMF documents of this line at `timestamp_ms`: one, unless it carries more than 100
    /// metrics or a metric with more than 100 values, which are spread over several.
    pub fn documents(&self, timestamp_ms: i64) -> Vec<Value> {
        let rounds = self
            .values
            .iter()
            .map(|(_, v)| v.len().div_ceil(MAX_VALUES_PER_METRIC))
            .max()
            .unwrap_or(0);
        let mut documents = Vec::new();
        for round in 0..rounds {
            let chunks: Vec<(&'static Metric, &[f64])> = self
                .values
                .iter()
                .filter_map(|(metric, values)| {
                    values
                        .chunks(MAX_VALUES_PER_METRIC)
                        .nth(round)
                        .map(|chunk| (*metric, chunk))
                })
                .collect();
            for group in chunks.chunks(MAX_METRICS_PER_LINE) {
                if let Some(document) = self.document(group, timestamp_ms) {
                    documents.push(document);
                }
            }
        }
        documents
    }

    fn document(&self, group: &[(&'static Metric, &[f64])], timestamp_ms: i64) -> Option<Value> {
        // One directive per distinct list of dimension sets.
        let mut directives: Vec<(Vec<&'static [&'static str]>, Vec<&'static Metric>)> = Vec::new();
        for (metric, _) in group {
            let sets: Vec<&'static [&'static str]> = metric
                .dimension_sets
                .iter()
                .copied()
                .filter(|set| {
                    set.len() <= MAX_DIMENSIONS_PER_SET
                        && set
                            .iter()
                            .all(|d| self.dimensions.iter().any(|(n, _)| n == d))
                })
                .collect();
            if sets.is_empty() {
                continue;
            }
            match directives.iter_mut().find(|(s, _)| *s == sets) {
                Some((_, metrics)) => metrics.push(metric),
                None => directives.push((sets, vec![metric])),
            }
        }
        if directives.is_empty() {
            return None;
        }
        let directives: Vec<Value> = directives
            .into_iter()
            .map(|(sets, metrics)| {
                serde_json::json!({
                    "Namespace": NAMESPACE,
                    "Dimensions": sets,
                    "Metrics": metrics
                        .iter()
                        .map(|m| serde_json::json!({"Name": m.name, "Unit": m.unit.as_str()}))
                        .collect::<Vec<_>>(),
                })
            })
            .collect();
        let mut root = Map::new();
        root.insert(
            "_aws".into(),
            serde_json::json!({"Timestamp": timestamp_ms, "CloudWatchMetrics": directives}),
        );
        for (name, value) in &self.dimensions {
            root.insert((*name).into(), Value::String((*value).into()));
        }
        for (metric, values) in group {
            let numbers: Vec<Value> = values.iter().filter_map(|v| number(*v)).collect();
            let value = match numbers.as_slice() {
                [one] => one.clone(),
                _ => Value::Array(numbers),
            };
            root.insert(metric.name.into(), value);
        }
        if let Some(function) = function_name() {
            root.insert(FUNCTION_MEMBER.into(), Value::String(function.into()));
        }
        Some(Value::Object(root))
    }

    /// Writes the line to stdout, now. Never fails: a metric that cannot be written is lost, and
    /// the request goes on.
    pub fn emit(self) {
        let now = chrono::Utc::now().timestamp_millis();
        for document in self.documents(now) {
            write(&document);
        }
    }
}

/// Whole numbers as JSON integers, others as decimals.
fn number(value: f64) -> Option<Value> {
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
    if value.fract() == 0.0 && value.abs() <= EXACT {
        #[allow(clippy::cast_possible_truncation)]
        return Some(Value::Number(Number::from(value as i64)));
    }
    Number::from_f64(value).map(Value::Number)
}

/// The Lambda function's name, when running as one (`AWS_LAMBDA_FUNCTION_NAME`).
fn function_name() -> Option<&'static str> {
    static NAME: OnceLock<Option<String>> = OnceLock::new();
    NAME.get_or_init(|| std::env::var("AWS_LAMBDA_FUNCTION_NAME").ok())
        .as_deref()
}

static TO_STDOUT: AtomicBool = AtomicBool::new(false);

/// Sends the lines to stdout from now on: the functions' composition roots do (through
/// [`crate::telemetry::init_json_logs`]). Until then they are dropped, so test binaries, which
/// exercise the same code, do not print them past the test harness's capture.
pub fn write_to_stdout() {
    TO_STDOUT.store(true, Ordering::Relaxed);
}

/// One line, with its newline, in one write under stdout's lock. `tracing`'s JSON lines are
/// written the same way (each event formatted whole, then one `write_all`), so the two never
/// interleave within a process; and each is a single `write(2)`, so the lines of several
/// processes sharing one log file (`cargo lambda watch`) do not either.
fn write(document: &Value) {
    let mut line = document.to_string();
    line.push('\n');
    #[cfg(test)]
    if tests::captured(&line) {
        return;
    }
    if !TO_STDOUT.load(Ordering::Relaxed) {
        return;
    }
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(line.as_bytes()).and_then(|()| out.flush());
}
