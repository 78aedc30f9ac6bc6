//! Finding sessions open too long, through the sparse open-sessions index.

use chrono::{DateTime, Utc};

use super::errors::unavailable;
use super::{DynamoLedger, Item, from_item, s};
use crate::LedgerError;
use crate::domain::Session;
use crate::store::items::SessionItem;
use crate::store::keys;

/// A batch of due sessions, and where the next batch starts (`None`: the shard is done).
#[derive(Debug, Clone)]
pub struct DueBatch {
    pub sessions: Vec<Session>,
    /// Pass back to read on after this batch. Handled sessions leave the index, but those that
    /// could not be handled stay: reading on from here, not from the start, visits each once.
    pub next: Option<Item>,
}

impl DynamoLedger {
    /// Up to about `limit` sessions of one index shard still open past `cutoff`, from `start`
    /// (a batch's `next`; `None` for the first).
    pub async fn open_sessions_due(
        &self,
        shard: u32,
        cutoff: DateTime<Utc>,
        limit: usize,
        start: Option<Item>,
    ) -> Result<DueBatch, LedgerError> {
        self.indexed_before(keys::open_shard_key(shard), cutoff, limit, start)
            .await
    }

    /// Up to about `limit` sessions under `shard_key` of the open-sessions index whose time is
    /// before `cutoff` (open sessions, and erasures waiting for their recordings, share it),
    /// from `start`.
    pub(crate) async fn indexed_before(
        &self,
        shard_key: String,
        cutoff: DateTime<Utc>,
        limit: usize,
        mut start: Option<Item>,
    ) -> Result<DueBatch, LedgerError> {
        let mut found = Vec::new();
        loop {
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(keys::OPEN_SESSIONS_INDEX)
                .key_condition_expression("#shard = :shard AND #until < :cutoff")
                .expression_attribute_names("#shard", keys::OPEN_SHARD)
                .expression_attribute_names("#until", keys::OPEN_UNTIL)
                .expression_attribute_values(":shard", s(shard_key.clone()))
                .expression_attribute_values(":cutoff", s(keys::sortable_time(cutoff)))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| unavailable(&e))?;
            for item in output.items.unwrap_or_default() {
                found.push(from_item::<SessionItem>(item)?.session);
            }
            match output.last_evaluated_key {
                Some(k) if found.len() < limit => start = Some(k),
                next => {
                    return Ok(DueBatch {
                        sessions: found,
                        next,
                    });
                }
            }
        }
    }
}
