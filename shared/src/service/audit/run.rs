//! A run: every check in turn, the minutes tally, the fixes when asked.

use std::time::Instant;

use chrono::{DateTime, Duration, Utc};

use super::finding::{Check, CheckResult};
use super::fix::{self, Fixed};
use super::index::{stuck_erasures, sweeper_behind};
use super::options::AuditOptions;
use super::{accounts, conversations, objects};
use crate::domain::Period;
use crate::domain::cost::Tally;
use crate::recording_bucket::Recordings;
use crate::store::DynamoLedger;
use crate::tavus::Tavus;

/// Everything a run found, fixed and counted.
#[derive(Debug, Clone)]
pub struct AuditReport {
    pub checks: Vec<CheckResult>,
    /// The current period's tally, and the one before (late settlements still land there).
    pub tallies: Vec<Tally>,
    /// What `--fix` mended.
    pub fixed: Vec<Fixed>,
    pub at: DateTime<Utc>,
}

impl AuditReport {
    pub fn findings(&self) -> usize {
        self.checks.iter().map(|c| c.findings.len()).sum()
    }

    /// Every check looked at everything it meant to.
    pub fn complete(&self) -> bool {
        self.checks.iter().all(|c| c.complete)
    }
}

/// What the audit reads: the ledger, Tavus (its key and the webhook key through the client's
/// secrets), and the recordings bucket when the deployment records.
pub struct Audit<'a> {
    pub ledger: &'a DynamoLedger,
    pub tavus: &'a Tavus,
    pub recordings: Option<&'a Recordings>,
    pub options: AuditOptions,
}

impl Audit<'_> {
    /// Every check, then the fixes when asked, one log line per finding (ids only). A check that
    /// fails is reported incomplete; the others still run.
    pub async fn run(&self, now: DateTime<Utc>, deadline: Instant) -> AuditReport {
        let conversations =
            conversations::check(self.ledger, self.tavus, &self.options, now, deadline).await;
        let mut checks = conversations.into_results();
        checks.push(checked_or_incomplete(
            Check::SweeperBehind,
            sweeper_behind(self.ledger, now).await,
        ));
        let (accounts, referenced) =
            accounts::check(self.ledger, &self.options, now, deadline).await;
        checks.extend(
            objects::check(
                self.ledger,
                self.recordings,
                &self.options,
                &referenced,
                now,
            )
            .await,
        );
        checks.push(checked_or_incomplete(
            Check::ErasuresStuck,
            stuck_erasures(self.ledger, now).await,
        ));
        checks.push(accounts);
        let tallies = self.tallies(now).await;
        let mut report = AuditReport {
            checks,
            tallies,
            fixed: Vec::new(),
            at: now,
        };
        log_findings(&report);
        if self.options.fix {
            let parts = fix::Parts {
                ledger: self.ledger,
                tavus: self.tavus,
                recordings: self.recordings,
            };
            report.fixed = fix::mend(&parts, &report.checks, now, deadline).await;
        }
        report
    }

    async fn tallies(&self, now: DateTime<Utc>) -> Vec<Tally> {
        let current = Period::containing(now);
        let mut tallies = Vec::new();
        let previous = Period::containing(current.starts_at() - Duration::seconds(1));
        for period in [previous, current] {
            match self.ledger.tally(period).await {
                Ok(tally) => tallies.push(tally),
                Err(e) => {
                    tracing::error!(period = %period, error = %e, "cannot read the minutes tally")
                }
            }
        }
        tallies
    }
}

fn checked_or_incomplete(
    check: Check,
    result: Result<CheckResult, crate::LedgerError>,
) -> CheckResult {
    result.unwrap_or_else(|e| {
        let mut failed = CheckResult::new(check);
        failed.incomplete(&e);
        failed
    })
}

fn log_findings(report: &AuditReport) {
    for result in &report.checks {
        for finding in &result.findings {
            tracing::warn!(
                check = result.check.as_str(),
                subject = %finding.subject(),
                "audit finding"
            );
        }
    }
}
