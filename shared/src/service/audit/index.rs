//! The checks on the open-sessions index: its shards of open sessions (the sweeper's work) and
//! of erasures not finished (`ERASE#nn`).

use chrono::{DateTime, Utc};

use super::{Check, CheckResult, Finding, stuck_before};
use crate::LedgerError;
use crate::domain::Session;
use crate::store::DynamoLedger;
use crate::store::keys::INDEX_SHARDS;

/// Every session of the open-sessions index more than an hour past its time.
pub async fn sweeper_behind(
    ledger: &DynamoLedger,
    now: DateTime<Utc>,
) -> Result<CheckResult, LedgerError> {
    let (checked, stuck) = across_shards(
        |shard, cutoff| async move {
            Ok(ledger
                .open_sessions_due(shard, cutoff, usize::MAX, None)
                .await?
                .sessions)
        },
        now,
    )
    .await?;
    Ok(CheckResult {
        check: Check::SweeperBehind,
        checked,
        complete: true,
        findings: stuck
            .into_iter()
            .map(|s| Finding::Overdue {
                user: s.owner_id,
                session: s.session_id,
                status: s.status,
            })
            .collect(),
    })
}

/// Every erasure marked more than an hour ago and not finished.
pub async fn stuck_erasures(
    ledger: &DynamoLedger,
    now: DateTime<Utc>,
) -> Result<CheckResult, LedgerError> {
    let (checked, stuck) = across_shards(
        |shard, cutoff| async move {
            Ok(ledger
                .erasures_due(shard, cutoff, usize::MAX, None)
                .await?
                .sessions)
        },
        now,
    )
    .await?;
    Ok(CheckResult {
        check: Check::ErasuresStuck,
        checked,
        complete: true,
        findings: stuck
            .into_iter()
            .map(|s| Finding::ErasureStuck {
                user: s.owner_id,
                session: s.session_id,
            })
            .collect(),
    })
}

/// Reads every shard twice through `due(shard, cutoff)`: everything in it (what was checked),
/// and what is due before an hour ago (what is stuck).
async fn across_shards<F, Fut>(
    due: F,
    now: DateTime<Utc>,
) -> Result<(u64, Vec<Session>), LedgerError>
where
    F: Fn(u32, DateTime<Utc>) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<Session>, LedgerError>>,
{
    let mut checked = 0;
    let mut stuck = Vec::new();
    for shard in 0..INDEX_SHARDS {
        checked += due(shard, everything(now)).await?.len() as u64;
        stuck.extend(due(shard, stuck_before(now)).await?);
    }
    Ok((checked, stuck))
}

/// Every session of the open-sessions index (open ones, and settled ones whose Tavus copy is
/// still to delete), whenever due.
pub(super) async fn open_sessions(
    ledger: &DynamoLedger,
    now: DateTime<Utc>,
) -> Result<Vec<Session>, LedgerError> {
    let mut sessions = Vec::new();
    for shard in 0..INDEX_SHARDS {
        let due = ledger.open_sessions_due(shard, everything(now), usize::MAX, None);
        sessions.extend(due.await?.sessions);
    }
    Ok(sessions)
}

/// A cutoff after everything the index holds: far enough to hold everything, near enough to
/// keep the index's four-digit years (the times are compared as text).
fn everything(now: DateTime<Utc>) -> DateTime<Utc> {
    now + chrono::Duration::days(365 * 100)
}
