//! The checks on the open-sessions index: its shards of open sessions (the sweeper's work) and
//! of erasures not finished (`ERASE#nn`).

use chrono::{DateTime, Utc};

use super::finding::{Check, CheckResult, Finding, stuck_before};
use crate::LedgerError;
use crate::domain::Session;
use crate::store::DynamoLedger;
use crate::store::keys::INDEX_SHARDS;

/// Every session of the open-sessions index more than an hour past its time.
pub async fn sweeper_behind(
    ledger: &DynamoLedger,
    now: DateTime<Utc>,
) -> Result<CheckResult, LedgerError> {
    let due = |shard, cutoff| async move {
        let batch = ledger.open_sessions_due(shard, cutoff, usize::MAX, None);
        Ok(batch.await?.sessions)
    };
    let overdue = |s: Session| Finding::Overdue {
        user: s.owner_id,
        session: s.session_id,
        status: s.status,
    };
    across_shards(Check::SweeperBehind, due, overdue, now).await
}

/// Every erasure marked more than an hour ago and not finished.
pub async fn stuck_erasures(
    ledger: &DynamoLedger,
    now: DateTime<Utc>,
) -> Result<CheckResult, LedgerError> {
    let due = |shard, cutoff| async move {
        let batch = ledger.erasures_due(shard, cutoff, usize::MAX, None);
        Ok(batch.await?.sessions)
    };
    let stuck = |s: Session| Finding::ErasureStuck {
        user: s.owner_id,
        session: s.session_id,
    };
    across_shards(Check::ErasuresStuck, due, stuck, now).await
}

/// Reads every shard twice through `due(shard, cutoff)`: everything in it (what was checked),
/// and what is due before an hour ago (each a finding).
async fn across_shards<F, Fut>(
    check: Check,
    due: F,
    finding: impl Fn(Session) -> Finding,
    now: DateTime<Utc>,
) -> Result<CheckResult, LedgerError>
where
    F: Fn(u32, DateTime<Utc>) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<Session>, LedgerError>>,
{
    let mut result = CheckResult::new(check);
    for shard in 0..INDEX_SHARDS {
        result.checked += due(shard, everything(now)).await?.len() as u64;
        let stuck = due(shard, stuck_before(now)).await?;
        result.findings.extend(stuck.into_iter().map(&finding));
    }
    Ok(result)
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
