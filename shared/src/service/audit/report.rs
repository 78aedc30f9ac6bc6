//! The audit's report as `make audit` prints it: a table of checks (check, checked, findings),
//! each finding by its ids, the minutes Tavus ran against those charged per cause, and what
//! `--fix` mended.

use std::fmt::Write;

use super::run::AuditReport;
use crate::domain::cost::{Cause, Tally};

impl AuditReport {
    /// The report as plain text, one table after another.
    pub fn table(&self) -> String {
        let mut out = String::new();
        self.checks_table(&mut out);
        for tally in &self.tallies {
            minutes_table(tally, &mut out);
        }
        if !self.fixed.is_empty() {
            let _ = writeln!(out, "\nfixed:");
            for fixed in &self.fixed {
                let _ = writeln!(out, "  {}", fixed.describe());
            }
        }
        out
    }

    fn checks_table(&self, out: &mut String) {
        let _ = writeln!(out, "{:<22} {:>8} {:>9}", "check", "checked", "findings");
        for result in &self.checks {
            let incomplete = if result.complete {
                ""
            } else {
                "  (incomplete)"
            };
            let _ = writeln!(
                out,
                "{:<22} {:>8} {:>9}{incomplete}",
                result.check.as_str(),
                result.checked,
                result.findings.len()
            );
        }
        if self.findings() > 0 {
            let _ = writeln!(out, "\nfindings:");
            for result in &self.checks {
                for finding in &result.findings {
                    let _ = writeln!(out, "  {:<22} {}", result.check.as_str(), finding.subject());
                }
            }
        }
    }
}

/// What Tavus ran for our conversations in a period against what users were charged, per cause:
/// the uncharged column is what the operator pays Tavus that no user pays for.
fn minutes_table(tally: &Tally, out: &mut String) {
    let _ = writeln!(
        out,
        "\nminutes in {}: {:<16} {:>13} {:>10} {:>8} {:>10}",
        tally.period, "cause", "conversations", "tavus ran", "charged", "uncharged"
    );
    let mut total = [0i64; 4];
    for cause in Cause::ALL {
        let figures = tally.figures(cause);
        let row = [
            figures.conversations,
            figures.ran_minutes,
            figures.charged_minutes,
            figures.uncharged_minutes(),
        ];
        for (sum, value) in total.iter_mut().zip(row) {
            *sum += value;
        }
        write_row(out, cause.as_str(), row);
    }
    write_row(out, "total", total);
}

fn write_row(out: &mut String, label: &str, [conversations, ran, charged, uncharged]: [i64; 4]) {
    let _ = writeln!(
        out,
        "{:<19} {label:<16} {conversations:>13} {ran:>10} {charged:>8} {uncharged:>10}",
        ""
    );
}
