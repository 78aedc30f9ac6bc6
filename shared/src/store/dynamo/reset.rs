//! Finding accounts through the sparse accounts-by-period index: those still in an old period
//! (the monthly reset), or every account of a shard (the audit).

use aws_sdk_dynamodb::types::AttributeValue;

use super::errors::unavailable;
use super::{DynamoLedger, Item, s};
use crate::LedgerError;
use crate::domain::Period;
use crate::store::{AccountPage, keys};

/// How many accounts one page of [`DynamoLedger::accounts_in_shard`] holds at most (index
/// items are keys only: a page is a few tens of KB).
pub const ACCOUNT_PAGE: i32 = 500;

impl DynamoLedger {
    /// Accounts of one index shard whose period is before `current`.
    pub async fn stale_accounts(
        &self,
        shard: u32,
        current: Period,
        start: Option<Item>,
        limit: i32,
    ) -> Result<AccountPage, LedgerError> {
        self.accounts_page(shard, Some(current), start, limit).await
    }

    /// One page (at most [`ACCOUNT_PAGE`]) of the accounts of one index shard, whatever their
    /// period; pass the page's `next` back for the one after (eventually consistent, as every
    /// index read).
    pub async fn accounts_in_shard(
        &self,
        shard: u32,
        start: Option<Item>,
    ) -> Result<AccountPage, LedgerError> {
        self.accounts_page(shard, None, start, ACCOUNT_PAGE).await
    }

    /// One page of the accounts of `shard`, only those in a period before `before` when given.
    async fn accounts_page(
        &self,
        shard: u32,
        before: Option<Period>,
        start: Option<Item>,
        limit: i32,
    ) -> Result<AccountPage, LedgerError> {
        let mut query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(keys::ACCOUNTS_BY_PERIOD_INDEX)
            .expression_attribute_names("#shard", keys::ACCOUNT_SHARD)
            .expression_attribute_values(":shard", s(keys::account_shard_key(shard)))
            .set_exclusive_start_key(start)
            .limit(limit);
        query = match before {
            Some(current) => query
                .key_condition_expression("#shard = :shard AND #period < :current")
                .expression_attribute_names("#period", "period")
                .expression_attribute_values(":current", s(current.to_string())),
            None => query.key_condition_expression("#shard = :shard"),
        };
        let output = query.send().await.map_err(|e| unavailable(&e))?;
        let users = output
            .items
            .unwrap_or_default()
            .iter()
            .map(user_of)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(AccountPage {
            users,
            next: output.last_evaluated_key,
        })
    }
}

/// The user whose account an index item is.
fn user_of(item: &Item) -> Result<crate::domain::UserId, LedgerError> {
    let user = match item.get(keys::PK) {
        Some(AttributeValue::S(pk)) => keys::user_of_pk(pk),
        _ => None,
    };
    user.ok_or_else(|| {
        LedgerError::CorruptItem("an indexed account without a user's partition key".into())
    })
}
