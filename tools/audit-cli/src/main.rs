//! `audit-cli [--fix] [--shards 3,4] [--ahead HOURS]` (`make audit`): the audit the `audit` function runs
//! daily, run once against the stack this process's environment names, with the function's own
//! configuration (`AuditConfig`: `make audit` passes the local stack's, the variables
//! `scripts/dev.sh` gives the functions). Prints the report's table: each check, every finding
//! by its ids, the minutes Tavus ran against those charged per cause.
//!
//! Every shard's accounts by default (the function reads one shard a day); `--shards` narrows.
//! `--fix` mends what is safe to mend (the audit's `fix` module says what), prints what it did,
//! then audits again and prints that table too: the exit status is the second run's.
//! `--ahead 3` judges as if the run were three hours from now: what a check waits for (an hour
//! for a callback, say) has passed, so drift made a moment ago shows as tomorrow's daily run
//! will report it (the audit's own tests, and a demonstration on a local stack, use it).
//!
//! Exit status: 0 nothing found; 1 findings; 2 a check could not finish (its reason is on
//! stderr), whatever it found; 3 the arguments or the configuration were refused.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

use std::process::ExitCode;
use std::time::{Duration, Instant};

use awaknow_core::config::AuditConfig;
use awaknow_core::jobs::shard_sample;
use awaknow_core::service::audit::{AccountSample, AuditReport};
use awaknow_core::startup::{self, Startup};

const USAGE: &str =
    "usage: audit-cli [--fix] [--shards N,N,...] [--ahead HOURS]   (make audit ARGS=... or FIX=1)";

/// Far enough for every wait the checks know (a day, for an object nobody references).
const MAX_AHEAD_HOURS: u32 = 48;

/// How long one run may take: no Lambda timeout here, but a Tavus or DynamoDB that stopped
/// answering must not hold the terminal for ever.
const RUN_BUDGET: Duration = Duration::from_secs(30 * 60);

#[derive(Debug, PartialEq, Eq)]
struct Args {
    fix: bool,
    accounts: AccountSample,
    /// Judge as if this many hours from now.
    ahead_hours: u32,
}

/// `--fix`, `--shards 3,4` (or `--shards=3,4`); `Err` with what is wrong.
fn parse(args: &[String]) -> Result<Args, String> {
    let mut parsed = Args {
        fix: false,
        accounts: AccountSample::All,
        ahead_hours: 0,
    };
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) => (flag, Some(value.to_owned())),
            None => (arg.as_str(), None),
        };
        match flag {
            "--fix" if inline.is_none() => parsed.fix = true,
            "--shards" => {
                let list = inline
                    .or_else(|| rest.next().cloned())
                    .ok_or("--shards needs a list, e.g. --shards 3,4")?;
                let shards = list
                    .split(',')
                    .map(|s| s.trim().parse::<u32>())
                    .collect::<Result<Vec<u32>, _>>()
                    .map_err(|_| format!("--shards {list}: whole numbers, comma-separated"))?;
                parsed.accounts =
                    shard_sample(shards).map_err(|e| format!("--shards {list}: {e}"))?;
            }
            "--ahead" => {
                let hours = inline
                    .or_else(|| rest.next().cloned())
                    .ok_or("--ahead needs a number of hours, e.g. --ahead 3")?;
                parsed.ahead_hours = hours
                    .trim()
                    .parse()
                    .ok()
                    .filter(|h| *h <= MAX_AHEAD_HOURS)
                    .ok_or(format!(
                        "--ahead {hours}: whole hours, 0 to {MAX_AHEAD_HOURS}"
                    ))?;
            }
            _ => return Err(format!("unknown argument {arg}")),
        }
    }
    Ok(parsed)
}

/// 2 when a check could not finish (its findings are only what it saw), else 1 for findings.
fn status(report: &AuditReport) -> u8 {
    if !report.complete() {
        2
    } else if report.findings() > 0 {
        1
    } else {
        0
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let args = match parse(&args) {
        Ok(args) => args,
        Err(e) => {
            eprintln!("audit-cli: {e}\n{USAGE}");
            return ExitCode::from(3);
        }
    };
    // Only errors: a check that could not finish says why; the findings are in the table.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(tracing_subscriber::filter::LevelFilter::ERROR)
        .with_target(false)
        .with_ansi(false)
        .without_time()
        .init();
    let Startup { config, sdk } = match startup::load("audit-cli", AuditConfig::from_env) {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("audit-cli: {e}");
            return ExitCode::from(3);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("audit-cli: no runtime: {e}");
            return ExitCode::from(3);
        }
    };
    let job = awaknow_core::wiring::audit_job(&sdk, &config);
    println!(
        "audit of table {}, accounts: {}",
        config.ledger.table_name,
        match &args.accounts {
            AccountSample::Shards(shards) => format!("shards {shards:?}"),
            _ => "every shard".to_owned(),
        }
    );
    let at = || chrono::Utc::now() + chrono::Duration::hours(args.ahead_hours.into());
    if args.ahead_hours > 0 {
        println!("judged as at {}", at().to_rfc3339());
    }
    let first = runtime.block_on(
        job.audit(args.accounts.clone(), args.fix)
            .run(at(), Instant::now() + RUN_BUDGET),
    );
    println!("\n{}", first.table());
    if !args.fix {
        return ExitCode::from(status(&first));
    }
    if first.fixed.is_empty() {
        println!("fixed: nothing");
    }
    println!("\nthe audit again, after the fixes:\n");
    let second = runtime.block_on(
        job.audit(args.accounts.clone(), false)
            .run(at(), Instant::now() + RUN_BUDGET),
    );
    println!("{}", second.table());
    ExitCode::from(status(&second))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Result<Args, String> {
        parse(&list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>())
    }

    #[test]
    fn every_shard_and_no_fix_unless_asked() {
        assert_eq!(
            args(&[]),
            Ok(Args {
                fix: false,
                accounts: AccountSample::All,
                ahead_hours: 0,
            })
        );
        assert_eq!(
            args(&["--fix", "--shards", "3,4"]),
            Ok(Args {
                fix: true,
                accounts: AccountSample::Shards(vec![3, 4]),
                ahead_hours: 0,
            })
        );
        assert_eq!(
            args(&["--shards=7"]).map(|a| a.accounts),
            Ok(AccountSample::Shards(vec![7]))
        );
        assert_eq!(args(&["--ahead", "3"]).map(|a| a.ahead_hours), Ok(3));
    }

    #[test]
    fn bad_arguments_are_refused_with_what_is_wrong() {
        for (bad, says) in [
            (&["--shards"][..], "needs a list"),
            (&["--shards", "3,x"][..], "whole numbers"),
            (&["--shards", "32"][..], "no shard 32"),
            (&["--fix=yes"][..], "unknown argument"),
            (&["--all"][..], "unknown argument"),
            (&["--ahead"][..], "needs a number"),
            (&["--ahead", "49"][..], "0 to 48"),
            (&["--ahead=-1"][..], "0 to 48"),
        ] {
            let err = args(bad).unwrap_err();
            assert!(err.contains(says), "{bad:?}: {err}");
        }
    }
}
