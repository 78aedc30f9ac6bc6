//! What a run looks at, and whether it mends.

use chrono::{DateTime, Duration, Utc};

use super::finding::SETTLING_TIME;
use crate::store::keys::INDEX_SHARDS;

/// What a run looks at, and whether it mends.
#[derive(Debug, Clone)]
pub struct AuditOptions {
    /// Which accounts the figures check reads this run.
    pub accounts: AccountSample,
    /// Mend what is safe to mend (`make audit --fix`; the scheduled function never does).
    pub fix: bool,
    /// Conversations and objects younger than this are left out (see [`SETTLING_TIME`]).
    pub settling_time: Duration,
    /// Accounts read at once.
    pub concurrency: usize,
    /// Whether every path deletes Tavus's copy after a call (`TAVUS_DELETE_AFTER_CALL`): when
    /// not, an ended conversation Tavus keeps is as configured, not a finding.
    pub tavus_copies_deleted: bool,
    /// How long the bucket keeps a recording (its lifecycle's expiration,
    /// `RECORDING_RETENTION_DAYS`): a key of a session older than this is expected gone.
    pub recording_retention: Option<Duration>,
}

impl Default for AuditOptions {
    fn default() -> Self {
        AuditOptions {
            accounts: AccountSample::ShardOfTheDay,
            fix: false,
            settling_time: SETTLING_TIME,
            concurrency: 16,
            tavus_copies_deleted: true,
            recording_retention: None,
        }
    }
}

/// Which accounts a run reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountSample {
    /// The shard numbered by the day since the epoch, modulo 32: each account once in 32 days.
    ShardOfTheDay,
    /// These shards.
    Shards(Vec<u32>),
    /// Every shard.
    All,
}

impl AccountSample {
    pub fn shards(&self, now: DateTime<Utc>) -> Vec<u32> {
        match self {
            AccountSample::ShardOfTheDay => {
                let day = now.timestamp().div_euclid(86_400);
                vec![u32::try_from(day.rem_euclid(i64::from(INDEX_SHARDS))).unwrap_or(0)]
            }
            AccountSample::Shards(shards) => shards.clone(),
            AccountSample::All => (0..INDEX_SHARDS).collect(),
        }
    }
}
