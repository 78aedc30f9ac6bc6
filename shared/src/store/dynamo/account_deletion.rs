//! The ledger's part of deleting an account (`DELETE /me`), each step safe to repeat:
//!
//! 1. [`DynamoLedger::mark_account_deleting`]: the account (created first if the user has none)
//!    is marked, which refuses every new reservation, and put in the open-sessions index under
//!    the deletions' shard key, where the sweeper finds a deletion cut short.
//! 2. The service ends and erases the user's own sessions; [`DynamoLedger::leave_session`] takes
//!    the user out of each session of another owner (their participation item, their notes on
//!    it, their id in its participants), leaving the session to its owner.
//! 3. [`DynamoLedger::delete_items`]: what is left under the user (history, erased records,
//!    idempotency and export records), then [`DynamoLedger::delete_marked_account`], last, so a
//!    deletion cut short before the end is still marked and found.

use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
    Update,
};
use chrono::{DateTime, Utc};

use super::erase::MAX_TRANSACTION_ITEMS;
use super::errors::{ItemOutcome, TransactFailure, any_conflict, bad_request, unavailable};
use super::{DynamoLedger, Item, MAX_ATTEMPTS, backoff, from_item, key, s, to_item};
use crate::LedgerError;
use crate::domain::{Period, UserId};
use crate::store::items::{ExportItem, SessionItem};
use crate::store::{Joined, keys};

/// How long an export handed over through the bucket is remembered: the bucket's lifecycle
/// expires the object after a day (counted to the next midnight, and in a versioned bucket its
/// old version goes a day after that), so by then it is gone.
pub const EXPORT_MEMORY: chrono::Duration = chrono::Duration::days(5);

/// What the last step of a deletion found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LastStep {
    /// The account is gone (or was gone already).
    Deleted,
    /// It changed since the pass read the partition (the monthly rollover archived a period):
    /// another pass is needed.
    Changed,
}

/// A page of accounts whose deletion is due, and where the next page starts.
#[derive(Debug, Clone)]
pub struct DeletionsDue {
    pub users: Vec<UserId>,
    pub next: Option<Item>,
}

impl DynamoLedger {
    /// Step 1: marks the user's account as being deleted, due for the sweeper from `now` (it
    /// waits a little longer, for the request at work). Creates the account first if the user
    /// has none, so there is always a mark to find and to refuse reservations with.
    pub async fn mark_account_deleting(
        &self,
        user: &UserId,
        now: DateTime<Utc>,
    ) -> Result<(), LedgerError> {
        self.ensure_account(user, now).await?;
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(keys::user_pk(user), keys::ACCOUNT_SK)))
            .update_expression(
                "SET #deleting = if_not_exists(#deleting, :now), #shard = :shard, #until = :now",
            )
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#deleting", keys::DELETING)
            .expression_attribute_names("#shard", keys::OPEN_SHARD)
            .expression_attribute_names("#until", keys::OPEN_UNTIL)
            .expression_attribute_values(
                ":shard",
                s(keys::deletion_shard_key(keys::shard_of(user))),
            )
            .expression_attribute_values(":now", s(keys::sortable_time(now)))
            .send()
            .await
            // A condition failure: a concurrent deletion finished between the two writes, and
            // there is nothing left to mark.
            .map(|_| ())
            .or_else(|e| match e.as_service_error() {
                Some(e) if e.is_conditional_check_failed_exception() => Ok(()),
                _ => Err(unavailable(&e)),
            })
    }

    /// Step 2, for one session of another owner: deletes the user's participation item and
    /// notes on it and takes the user out of the session's participants, in one transaction.
    /// The owner's session stays; one already gone leaves only the user's own items to delete.
    pub async fn leave_session(&self, user: &UserId, joined: &Joined) -> Result<(), LedgerError> {
        for attempt in 0..MAX_ATTEMPTS {
            let mut items = vec![
                self.delete(
                    key(keys::user_pk(user), keys::session_sk(joined.session_id)),
                    false,
                )?,
                self.delete(
                    key(
                        keys::user_pk(&joined.owner),
                        keys::notes_sk(joined.session_id, user),
                    ),
                    false,
                )?,
            ];
            if let Some(place) = self.place_among_participants(user, joined).await? {
                items.push(self.remove_participant(user, joined, place)?);
            }
            match self.transact(items).await {
                Ok(()) => return Ok(()),
                Err(TransactFailure::Conflict) => backoff(attempt).await,
                Err(TransactFailure::Failed(e)) => return Err(e),
                Err(TransactFailure::Cancelled(outcomes)) => {
                    // The participants changed since the read (another member left): read again.
                    let moved = outcomes
                        .iter()
                        .any(|o| matches!(o, ItemOutcome::ConditionFailed(_)));
                    if !moved && !any_conflict(&outcomes) {
                        return Err(super::errors::unexpected(&outcomes));
                    }
                    backoff(attempt).await;
                }
            }
        }
        Err(LedgerError::Contention {
            attempts: MAX_ATTEMPTS,
        })
    }

    /// Where the user stands in the owner's session's participants; `None` when the session is
    /// gone or no longer names them.
    async fn place_among_participants(
        &self,
        user: &UserId,
        joined: &Joined,
    ) -> Result<Option<usize>, LedgerError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(
                keys::user_pk(&joined.owner),
                keys::session_sk(joined.session_id),
            )))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| unavailable(&e))?;
        let Some(item) = output.item else {
            return Ok(None);
        };
        let session = from_item::<SessionItem>(item)?.session;
        Ok(session.participants.iter().position(|p| p == user))
    }

    /// Removes the participant at `place`, if it still is the user.
    fn remove_participant(
        &self,
        user: &UserId,
        joined: &Joined,
        place: usize,
    ) -> Result<TransactWriteItem, LedgerError> {
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(
                keys::user_pk(&joined.owner),
                keys::session_sk(joined.session_id),
            )))
            .update_expression(format!("REMOVE participants[{place}]"))
            .condition_expression(format!("participants[{place}] = :user"))
            .expression_attribute_values(":user", s(user.as_str()))
            .build()
            .map_err(bad_request)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// Step 3: deletes these items (unconditionally: each is the user's own), up to 100 per
    /// transaction. Answers how many.
    pub async fn delete_items(&self, item_keys: Vec<Item>) -> Result<usize, LedgerError> {
        let count = item_keys.len();
        for chunk in item_keys.chunks(MAX_TRANSACTION_ITEMS) {
            let group = chunk
                .iter()
                .map(|k| self.delete(k.clone(), false))
                .collect::<Result<Vec<_>, _>>()?;
            // Unconditional deletes: the erasure's retrying send serves them as they are.
            self.delete_group(&group).await?;
        }
        Ok(count)
    }

    /// The last step: deletes the account if it is still marked and still in `period`, the
    /// period the pass read everything else in (`None`: the pass found no account). A repeat
    /// finds it gone, which is done too.
    pub async fn delete_marked_account(
        &self,
        user: &UserId,
        period: Option<Period>,
    ) -> Result<LastStep, LedgerError> {
        let mut delete = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(keys::user_pk(user), keys::ACCOUNT_SK)))
            .expression_attribute_names("#deleting", keys::DELETING)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        delete = match period {
            Some(period) => delete
                .condition_expression(
                    "attribute_not_exists(pk) OR (attribute_exists(#deleting) AND period = :period)",
                )
                .expression_attribute_values(":period", s(period.to_string())),
            None => delete
                .condition_expression("attribute_not_exists(pk) OR attribute_exists(#deleting)"),
        };
        match delete.send().await {
            Ok(_) => Ok(LastStep::Deleted),
            Err(e) => match e.as_service_error() {
                Some(DeleteItemError::ConditionalCheckFailedException(failed)) => {
                    Ok(match failed.item() {
                        // Rolled over meanwhile (its old month archived after the pass read
                        // the partition): the next pass deletes that too.
                        Some(item) if item.contains_key(keys::DELETING) => LastStep::Changed,
                        // Unmarked: a fresh account of a sign-in after this deletion finished.
                        _ => LastStep::Deleted,
                    })
                }
                _ => Err(unavailable(&e)),
            },
        }
    }

    /// Remembers an export handed over through the bucket under `object_key`, so deleting the
    /// account deletes the object as well. Written before the object is, and only while the
    /// account is not being deleted ([`LedgerError::AccountBeingDeleted`]): an export that
    /// raced a deletion leaves nothing behind it.
    pub async fn record_export(
        &self,
        user: &UserId,
        object_key: &str,
        now: DateTime<Utc>,
    ) -> Result<(), LedgerError> {
        let record = ExportItem {
            pk: keys::user_pk(user),
            sk: keys::export_sk(object_key),
            object_key: object_key.to_owned(),
            created_at: now,
            expires_at: (now + EXPORT_MEMORY).timestamp(),
        };
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(to_item(&record)?))
            .build()
            .map_err(bad_request)?;
        let not_deleting = ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(key(keys::user_pk(user), keys::ACCOUNT_SK)))
            .condition_expression("attribute_not_exists(#deleting)")
            .expression_attribute_names("#deleting", keys::DELETING)
            .build()
            .map_err(bad_request)?;
        let items = vec![
            TransactWriteItem::builder().put(put).build(),
            TransactWriteItem::builder()
                .condition_check(not_deleting)
                .build(),
        ];
        for attempt in 0..MAX_ATTEMPTS {
            match self.transact(items.clone()).await {
                Ok(()) => return Ok(()),
                Err(TransactFailure::Conflict) => backoff(attempt).await,
                Err(TransactFailure::Failed(e)) => return Err(e),
                Err(TransactFailure::Cancelled(outcomes)) => {
                    if matches!(outcomes.get(1), Some(ItemOutcome::ConditionFailed(_))) {
                        return Err(LedgerError::AccountBeingDeleted);
                    }
                    if !any_conflict(&outcomes) {
                        return Err(super::errors::unexpected(&outcomes));
                    }
                    backoff(attempt).await;
                }
            }
        }
        Err(LedgerError::Contention {
            attempts: MAX_ATTEMPTS,
        })
    }

    /// Up to about `limit` accounts of one index shard whose deletion began before `cutoff`
    /// and is not finished, from `start` (a page's `next`; `None` for the first).
    pub async fn deletions_due(
        &self,
        shard: u32,
        cutoff: DateTime<Utc>,
        limit: usize,
        start: Option<Item>,
    ) -> Result<DeletionsDue, LedgerError> {
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(keys::OPEN_SESSIONS_INDEX)
            .key_condition_expression("#shard = :shard AND #until < :cutoff")
            .expression_attribute_names("#shard", keys::OPEN_SHARD)
            .expression_attribute_names("#until", keys::OPEN_UNTIL)
            .expression_attribute_values(":shard", s(keys::deletion_shard_key(shard)))
            .expression_attribute_values(":cutoff", s(keys::sortable_time(cutoff)))
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| unavailable(&e))?;
        let users = output
            .items
            .unwrap_or_default()
            .iter()
            .filter_map(|item| match item.get(keys::PK) {
                Some(AttributeValue::S(pk)) => keys::user_of_pk(pk),
                _ => None,
            })
            .collect();
        Ok(DeletionsDue {
            users,
            next: output.last_evaluated_key,
        })
    }
}
