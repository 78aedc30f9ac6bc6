//! The monthly reset: rolls every account still in an old period into the current one (history
//! item plus reset, one transaction conditioned on the old totals), found through the
//! accounts-by-period index, shards in parallel, within the invocation's time.
//!
//! It keeps no checkpoint of its own: an account that rolled over leaves the index range
//! `period < current`, so the index is the checkpoint. Stopped by its deadline, a crash or a
//! timeout, the next run (the schedule repeats during the first hours of the month) continues
//! with what is left; a run with nothing left does 16 queries. Rerunning changes nothing.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde::Serialize;

use crate::LedgerError;
use crate::domain::{Period, UserId};
use crate::metrics::emit::ResetFigures;
use crate::store::DynamoLedger;
use crate::store::dynamo::{MAX_ATTEMPTS, RollAttempt};
use crate::store::keys::INDEX_SHARDS;

#[derive(Debug, Clone)]
pub struct ResetOptions {
    /// The index shards this run works on (all by default); several invocations can split them.
    pub shards: Vec<u32>,
    /// Shards worked on at once.
    pub shard_concurrency: usize,
    /// Accounts rolled at once within a shard.
    pub account_concurrency: usize,
    /// Index page size.
    pub page: i32,
}

impl Default for ResetOptions {
    fn default() -> Self {
        ResetOptions {
            shards: (0..INDEX_SHARDS).collect(),
            shard_concurrency: 16,
            account_concurrency: 16,
            page: 200,
        }
    }
}

/// The result of one run (its Lambda result and its last log line).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ResetReport {
    pub period: String,
    /// Accounts this run moved into the current period.
    pub rolled: u64,
    /// Found in the index but already current when read (rolled by a request meanwhile).
    pub already_current: u64,
    /// Rollovers that lost a race to another writer and were retried.
    pub conflicts_retried: u64,
    pub failed: u64,
    /// False when the deadline (or a failure) stopped the run before every shard was done.
    pub complete: bool,
    pub seconds: f64,
}

impl ResetReport {
    /// The figures the reset's metrics publish (the period is no metric).
    pub fn figures(&self) -> ResetFigures {
        ResetFigures {
            rolled: self.rolled,
            already_current: self.already_current,
            conflicts_retried: self.conflicts_retried,
            failed: self.failed,
            complete: self.complete,
            seconds: self.seconds,
        }
    }
}

#[derive(Default)]
struct Counters {
    rolled: AtomicU64,
    already_current: AtomicU64,
    conflicts: AtomicU64,
    failed: AtomicU64,
}

impl Counters {
    fn done(&self) -> u64 {
        self.rolled.load(Ordering::Relaxed)
            + self.already_current.load(Ordering::Relaxed)
            + self.failed.load(Ordering::Relaxed)
    }
}

/// Runs the reset for the period containing `now`, until done or `deadline`.
pub async fn reset(
    ledger: &DynamoLedger,
    now: DateTime<Utc>,
    deadline: Instant,
    options: &ResetOptions,
) -> ResetReport {
    let started = Instant::now();
    let current = Period::containing(now);
    let counters = Counters::default();
    let finished: Vec<bool> =
        futures::stream::iter(options.shards.iter().copied().filter(|s| *s < INDEX_SHARDS))
            .map(|shard| reset_shard(ledger, shard, current, now, deadline, options, &counters))
            .buffer_unordered(options.shard_concurrency.max(1))
            .collect()
            .await;
    let report = ResetReport {
        period: current.to_string(),
        rolled: counters.rolled.load(Ordering::Relaxed),
        already_current: counters.already_current.load(Ordering::Relaxed),
        conflicts_retried: counters.conflicts.load(Ordering::Relaxed),
        failed: counters.failed.load(Ordering::Relaxed),
        complete: finished.iter().all(|done| *done),
        seconds: started.elapsed().as_secs_f64(),
    };
    tracing::info!(?report, "reset finished");
    crate::metrics::emit::reset_finished(report.figures());
    report
}

/// One shard, page by page. Returns whether the shard is done.
async fn reset_shard(
    ledger: &DynamoLedger,
    shard: u32,
    current: Period,
    now: DateTime<Utc>,
    deadline: Instant,
    options: &ResetOptions,
    counters: &Counters,
) -> bool {
    let mut start = None;
    let mut clean = true;
    loop {
        if Instant::now() >= deadline {
            tracing::info!(
                shard,
                done = counters.done(),
                "deadline reached; the next run continues"
            );
            return false;
        }
        let page = match ledger
            .stale_accounts(shard, current, start.take(), options.page)
            .await
        {
            Ok(page) => page,
            Err(e) => {
                tracing::error!(shard, error = %e, "cannot query stale accounts");
                counters.failed.fetch_add(1, Ordering::Relaxed);
                return false;
            }
        };
        let results: Vec<Result<(), LedgerError>> = futures::stream::iter(page.users)
            .map(|user| roll_one(ledger, user, now, counters))
            .buffer_unordered(options.account_concurrency.max(1))
            .collect()
            .await;
        for result in results {
            if let Err(e) = result {
                tracing::error!(shard, error = %e, "rollover failed");
                counters.failed.fetch_add(1, Ordering::Relaxed);
                clean = false;
            }
        }
        let done = counters.done();
        if done > 0 && done % 5000 < options.page as u64 {
            tracing::info!(
                done,
                rolled = counters.rolled.load(Ordering::Relaxed),
                "reset progress"
            );
        }
        match page.next {
            Some(next) => start = Some(next),
            None => return clean,
        }
    }
}

async fn roll_one(
    ledger: &DynamoLedger,
    user: UserId,
    now: DateTime<Utc>,
    counters: &Counters,
) -> Result<(), LedgerError> {
    for attempt in 0..MAX_ATTEMPTS {
        // The index holds keys only: read the account for the exact totals to archive.
        let Some(account) = ledger.read_account(&user).await? else {
            return Ok(());
        };
        match ledger.roll_over_from(&account, now).await? {
            RollAttempt::Rolled => {
                counters.rolled.fetch_add(1, Ordering::Relaxed);
                return Ok(());
            }
            RollAttempt::AlreadyCurrent => {
                counters.already_current.fetch_add(1, Ordering::Relaxed);
                return Ok(());
            }
            RollAttempt::Raced => {
                counters.conflicts.fetch_add(1, Ordering::Relaxed);
                crate::store::dynamo::backoff_for(attempt).await;
            }
        }
    }
    Err(LedgerError::Contention {
        attempts: MAX_ATTEMPTS,
    })
}
