//! audit: once a day, the books read against Tavus and the recordings bucket
//! ([`crate::service::audit`]), read-only. The event names the accounts' shards to read, or
//! nothing for the shard of the day; the answer counts what each check looked at and found (the
//! findings themselves, by ids, are in the log lines the audit writes), and the counts become
//! metrics.

use std::time::{Duration, Instant};

use lambda_http::lambda_runtime::{Diagnostic, LambdaEvent};
use serde::Serialize;
use serde_json::Value;

use crate::deadline::deadline;
use crate::domain::Period;
use crate::domain::cost::Cause;
use crate::metrics::emit;
use crate::recording_bucket::Recordings;
use crate::service::audit::{AccountSample, Audit, AuditOptions, AuditReport};
use crate::store::DynamoLedger;
use crate::store::keys::INDEX_SHARDS;
use crate::tavus::Tavus;

/// The audit function, and `make audit` (which builds its own [`Audit`] from these parts, to
/// fix and to read every shard).
pub struct AuditJob {
    pub ledger: DynamoLedger,
    pub tavus: Tavus,
    /// `None`: this deployment records nothing, and its sessions reference no object.
    pub recordings: Option<Recordings>,
    /// What the checks allow for (the configuration's); each run names its accounts and
    /// whether it fixes.
    pub options: AuditOptions,
}

impl AuditJob {
    /// Time kept back from the invocation deadline to write the metrics and answer.
    const MARGIN: Duration = Duration::from_secs(20);
    /// Without a real deadline (a local invocation): Lambda's longest, 15 minutes.
    const FALLBACK: Duration = Duration::from_secs(880);

    /// The audit with these options, over this job's clients.
    pub fn audit(&self, accounts: AccountSample, fix: bool) -> Audit<'_> {
        Audit {
            ledger: &self.ledger,
            tavus: &self.tavus,
            recordings: self.recordings.as_ref(),
            options: AuditOptions {
                accounts,
                fix,
                ..self.options.clone()
            },
        }
    }

    /// `{}` (the schedule's event): the shard of the day; `{"shards": [3, 4]}`: those. Never
    /// fixes anything: the function's role could not, and a person decides what to mend.
    pub async fn run(&self, event: LambdaEvent<Value>) -> Result<AuditSummary, Diagnostic> {
        let accounts = match event.payload.get("shards") {
            None => AccountSample::ShardOfTheDay,
            Some(shards) => serde_json::from_value::<Vec<u32>>(shards.clone())
                .map_err(|e| e.to_string())
                .and_then(shard_sample)
                .map_err(|e| Diagnostic {
                    error_type: "InvalidRequest".into(),
                    error_message: format!("shards: a list of shard numbers 0 to 31 ({e})"),
                })?,
        };
        let deadline: Instant = deadline(event.context.deadline, Self::MARGIN, Self::FALLBACK);
        // Boxed: the audit's future nests deep enough to overflow the compiler's query depth
        // where a function's `serve` holds it, and one allocation a day costs nothing.
        let report = Box::pin(
            self.audit(accounts, false)
                .run(chrono::Utc::now(), deadline),
        )
        .await;
        record_metrics(&report);
        let summary = AuditSummary::of(&report);
        tracing::info!(
            findings = summary.findings,
            complete = summary.complete,
            incomplete_checks = summary.checks.iter().filter(|c| !c.complete).count(),
            "audit finished"
        );
        Ok(summary)
    }
}

/// The accounts of these shards: at least one, each one of the index's.
pub fn shard_sample(shards: Vec<u32>) -> Result<AccountSample, String> {
    if shards.is_empty() {
        return Err("no shard named".into());
    }
    match shards.iter().find(|s| **s >= INDEX_SHARDS) {
        Some(out) => Err(format!("there is no shard {out}")),
        None => Ok(AccountSample::Shards(shards)),
    }
}

/// What the function answers: counts only (the ids are in the log).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditSummary {
    pub checks: Vec<CheckSummary>,
    /// Every check's findings, added up.
    pub findings: u64,
    /// Every check looked at everything it meant to.
    pub complete: bool,
}

/// One check's counts, named as in the metrics and `make audit`'s table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckSummary {
    pub check: &'static str,
    pub checked: u64,
    pub findings: u64,
    pub complete: bool,
}

impl AuditSummary {
    pub fn of(report: &AuditReport) -> AuditSummary {
        AuditSummary {
            checks: report
                .checks
                .iter()
                .map(|c| CheckSummary {
                    check: c.check.as_str(),
                    checked: c.checked,
                    findings: c.findings.len() as u64,
                    complete: c.complete,
                })
                .collect(),
            findings: report.findings() as u64,
            complete: report.complete(),
        }
    }
}

/// The run's counts as metrics: per check, what it looked at and found; how many checks could
/// not finish; and the current period's minutes per cause, as tallied so far this month (a
/// tally the ledger could not read is left out: the audit has logged why).
pub(crate) fn record_metrics(report: &AuditReport) {
    let checks: Vec<(&'static str, u64, u64)> = report
        .checks
        .iter()
        .map(|c| (c.check.as_str(), c.checked, c.findings.len() as u64))
        .collect();
    let incomplete = report.checks.iter().filter(|c| !c.complete).count() as u64;
    let current = Period::containing(report.at);
    let minutes: Vec<(&'static str, i64, i64)> = report
        .tallies
        .iter()
        .find(|t| t.period == current)
        .map(|tally| {
            Cause::ALL
                .iter()
                .map(|cause| {
                    let figures = tally.figures(*cause);
                    (
                        cause.as_str(),
                        figures.ran_minutes,
                        figures.uncharged_minutes(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    emit::audit_finished(&checks, incomplete, &minutes);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::audit::{Check, CheckResult, Finding};

    #[test]
    fn shards_are_named_within_the_index() {
        assert_eq!(
            shard_sample(vec![0, 31]),
            Ok(AccountSample::Shards(vec![0, 31]))
        );
        assert!(shard_sample(vec![]).is_err());
        let err = shard_sample(vec![3, 32]).unwrap_err();
        assert!(err.contains("32"), "{err}");
    }

    #[test]
    fn the_summary_counts_each_check_and_names_no_one() {
        let user = crate::domain::UserId::parse("audit-owner-1").unwrap();
        let report = AuditReport {
            checks: Check::ALL
                .iter()
                .map(|&check| CheckResult {
                    check,
                    checked: 3,
                    findings: if check == Check::ErasuresStuck {
                        vec![Finding::ErasureStuck {
                            user: user.clone(),
                            session: crate::domain::SessionId::new_at(chrono::Utc::now()),
                        }]
                    } else {
                        Vec::new()
                    },
                    complete: check != Check::AccountFigures,
                })
                .collect(),
            tallies: Vec::new(),
            fixed: Vec::new(),
            at: chrono::Utc::now(),
        };
        let summary = AuditSummary::of(&report);
        let value = serde_json::to_value(&summary).unwrap();
        assert_eq!(
            (value["findings"].as_u64(), &value["complete"]),
            (Some(1), &Value::Bool(false))
        );
        let names: Vec<&str> = summary.checks.iter().map(|c| c.check).collect();
        let all: Vec<&str> = Check::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(names, all);
        assert_eq!(
            value["checks"][6],
            serde_json::json!({"check": "erasures_stuck", "checked": 3, "findings": 1, "complete": true})
        );
        assert!(!value.to_string().contains("audit-owner-1"), "{value}");
    }
}
