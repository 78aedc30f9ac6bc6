//! Usage by period: the account (the current period) and the newest history items, read at
//! once (a GetItem and a Query, side by side).

use chrono::{DateTime, Utc};

use super::errors::unavailable;
use super::{DynamoLedger, from_item, s};
use crate::LedgerError;
use crate::domain::history::{MAX_HISTORY_PERIODS, usage_history};
use crate::domain::{PeriodUsage, UserId};

use crate::store::items::PeriodHistoryItem;
use crate::store::keys;

impl DynamoLedger {
    /// The newest `limit` periods, the current one first (see
    /// [`crate::domain::history::usage_history`]).
    pub async fn usage_history(
        &self,
        user: &UserId,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<PeriodUsage>, LedgerError> {
        let limit = limit.clamp(1, MAX_HISTORY_PERIODS);
        let (account, archived) = tokio::join!(self.read_account(user), self.archived(user, limit));
        let archived = archived?;
        Ok(usage_history(
            account?.as_ref(),
            archived,
            &self.plans,
            now,
            usize::try_from(limit).unwrap_or(usize::MAX),
        ))
    }
}

impl DynamoLedger {
    /// The newest `limit` history items of a user, newest first.
    async fn archived(&self, user: &UserId, limit: u32) -> Result<Vec<PeriodUsage>, LedgerError> {
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", s(keys::user_pk(user)))
            .expression_attribute_values(":prefix", s(keys::PERIOD_SK_PREFIX))
            .scan_index_forward(false)
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(|e| unavailable(&e))?;
        output
            .items
            .unwrap_or_default()
            .into_iter()
            .map(|item| Ok(from_item::<PeriodHistoryItem>(item)?.history.usage()))
            .collect()
    }
}
