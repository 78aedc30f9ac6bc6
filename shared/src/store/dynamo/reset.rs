//! Finding accounts still in an old period, through the sparse accounts-by-period index.

use aws_sdk_dynamodb::types::AttributeValue;

use super::errors::unavailable;
use super::{DynamoLedger, Item, s};
use crate::LedgerError;
use crate::domain::Period;
use crate::store::{StalePage, keys};

impl DynamoLedger {
    /// Accounts of one index shard whose period is before `current`.
    pub async fn stale_accounts(
        &self,
        shard: u32,
        current: Period,
        start: Option<Item>,
        limit: i32,
    ) -> Result<StalePage, LedgerError> {
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(keys::ACCOUNTS_BY_PERIOD_INDEX)
            .key_condition_expression("#shard = :shard AND #period < :current")
            .expression_attribute_names("#shard", keys::ACCOUNT_SHARD)
            .expression_attribute_names("#period", "period")
            .expression_attribute_values(":shard", s(keys::account_shard_key(shard)))
            .expression_attribute_values(":current", s(current.to_string()))
            .set_exclusive_start_key(start)
            .limit(limit)
            .send()
            .await
            .map_err(|e| unavailable(&e))?;
        let mut users = Vec::new();
        for item in output.items.unwrap_or_default() {
            let user = match item.get(keys::PK) {
                Some(AttributeValue::S(pk)) => keys::user_of_pk(pk),
                _ => None,
            };
            users.push(user.ok_or_else(|| {
                LedgerError::CorruptItem("an indexed account without a user's partition key".into())
            })?);
        }
        Ok(StalePage {
            users,
            next: output.last_evaluated_key,
        })
    }
}
