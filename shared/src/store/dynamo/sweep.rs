//! Finding sessions open too long, through the sparse open-sessions index.

use chrono::{DateTime, Utc};

use super::errors::unavailable;
use super::{DynamoLedger, from_item, s};
use crate::LedgerError;
use crate::domain::Session;
use crate::store::items::SessionItem;
use crate::store::keys;

impl DynamoLedger {
    /// Up to about `limit` sessions of one index shard still open past `cutoff`.
    pub async fn open_sessions_due(
        &self,
        shard: u32,
        cutoff: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Session>, LedgerError> {
        self.indexed_before(keys::open_shard_key(shard), cutoff, limit)
            .await
    }

    /// Up to about `limit` sessions under `shard_key` of the open-sessions index whose time is
    /// before `cutoff` (open sessions, and erasures waiting for their recordings, share it).
    pub(crate) async fn indexed_before(
        &self,
        shard_key: String,
        cutoff: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Session>, LedgerError> {
        let mut found = Vec::new();
        let mut start = None;
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
                _ => return Ok(found),
            }
        }
    }
}
