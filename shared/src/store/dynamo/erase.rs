//! Erasing a closed session from the table. Three steps, each safe to repeat:
//!
//! 1. Mark the session `erasing` (conditioned on it being closed) and move it, in the
//!    open-sessions index, under the erasures' shard key (`ERASE#nn`, due from `now`): out of
//!    the settling sweep's way, and where the sweeper finds an erasure cut short and finishes
//!    it, whether or not its owner asks again. From then on no note or transcript of it can be
//!    written: those writes check the session in the same transaction.
//! 2. Find what is kept with it: its transcript items and every person's notes (one Query each
//!    on the owner's partition), and the participants' participation items (named on the
//!    session).
//! 3. Delete them in transactions of at most 100, the session item last, so an erasure cut
//!    short (a timeout, a crash) leaves the marked session to find, and a retry finishes it.
//!
//! Accounts and history items are not touched: what was charged stays charged.

use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
};
use chrono::{DateTime, Utc};

use super::errors::{ItemOutcome, TransactFailure, any_conflict, bad_request, unavailable};
use super::playback::erasure_shard_key;
use super::{DynamoLedger, Item, MAX_ATTEMPTS, backoff, from_item, key, s};
use crate::LedgerError;
use crate::domain::{Session, SessionStatus};
use crate::store::Erased;
use crate::store::items::SessionItem;
use crate::store::keys;

/// DynamoDB's limit of items in one transaction.
const MAX_TRANSACTION_ITEMS: usize = 100;

impl DynamoLedger {
    /// Removes a closed session and everything kept with it in the table: its transcript, every
    /// person's notes, the participants' participation items; the session item last, so an
    /// erasure cut short is finished by the next. Nothing else (minutes, usage, history)
    /// changes. An open session is [`LedgerError::SessionOpen`]; one already gone,
    /// [`LedgerError::SessionNotFound`]. Tavus's copy must be gone before this is called: the
    /// session leaves the settling sweep's index for the erasures' (due from `now`).
    pub async fn erase_session(
        &self,
        session: &Session,
        now: DateTime<Utc>,
    ) -> Result<Erased, LedgerError> {
        self.mark_erasing(session, now).await?;
        let owner = keys::user_pk(&session.owner_id);
        let transcript = self
            .keys_with_prefix(&owner, &keys::transcript_sk(session.session_id))
            .await?;
        let notes = self
            .keys_with_prefix(&owner, &keys::notes_prefix(session.session_id))
            .await?;
        let participations: Vec<Item> = session
            .participants
            .iter()
            .map(|p| key(keys::user_pk(p), keys::session_sk(session.session_id)))
            .collect();
        let erased = Erased {
            transcript_items: transcript.len(),
            notes: notes.len(),
            participations: participations.len(),
        };
        let mut deletes =
            Vec::with_capacity(transcript.len() + notes.len() + participations.len() + 1);
        for item_key in transcript.into_iter().chain(notes).chain(participations) {
            deletes.push(self.delete(item_key, false)?);
        }
        deletes.push(self.delete(key(owner, keys::session_sk(session.session_id)), true)?);
        for group in deletes.chunks(MAX_TRANSACTION_ITEMS) {
            self.delete_group(group).await?;
        }
        Ok(erased)
    }
}

impl DynamoLedger {
    /// Step 1: closed sessions only; the mark blocks every later write kept with the session,
    /// and the erasures' shard key hands an erasure cut short to the sweeper.
    async fn mark_erasing(&self, session: &Session, now: DateTime<Utc>) -> Result<(), LedgerError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(
                keys::user_pk(&session.owner_id),
                keys::session_sk(session.session_id),
            )))
            .update_expression("SET #erasing = :yes, #shard = :shard, #until = :now")
            .condition_expression("#status IN (:ended, :failed)")
            .expression_attribute_names("#erasing", keys::ERASING)
            .expression_attribute_names("#shard", keys::OPEN_SHARD)
            .expression_attribute_names("#until", keys::OPEN_UNTIL)
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":yes", AttributeValue::Bool(true))
            .expression_attribute_values(
                ":shard",
                s(erasure_shard_key(keys::shard_of(&session.owner_id))),
            )
            .expression_attribute_values(":now", s(keys::sortable_time(now)))
            .expression_attribute_values(":ended", s(SessionStatus::Ended.as_str()))
            .expression_attribute_values(":failed", s(SessionStatus::Failed.as_str()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) => match err.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(e)) => match e.item() {
                    None => Err(LedgerError::SessionNotFound),
                    Some(item) => {
                        let stored = from_item::<SessionItem>(item.clone())?;
                        if stored.session.status.is_open() {
                            Err(LedgerError::SessionOpen)
                        } else {
                            Err(LedgerError::CorruptItem(
                                "a closed session failed the erasure's condition".into(),
                            ))
                        }
                    }
                },
                _ => Err(unavailable(&err)),
            },
        }
    }

    /// The keys of every item of `pk` whose sort key starts with `prefix`, read consistently.
    async fn keys_with_prefix(&self, pk: &str, prefix: &str) -> Result<Vec<Item>, LedgerError> {
        self.items_with_prefix(pk, prefix, Some("pk, sk")).await
    }

    /// A delete; the session's own is conditioned on its erasure having begun (it is the last
    /// step, and a session that lost the mark was not checked as closed).
    fn delete(&self, item_key: Item, is_session: bool) -> Result<TransactWriteItem, LedgerError> {
        let mut delete = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(item_key));
        if is_session {
            delete = delete
                .condition_expression("attribute_exists(#erasing)")
                .expression_attribute_names("#erasing", keys::ERASING);
        }
        Ok(TransactWriteItem::builder()
            .delete(delete.build().map_err(bad_request)?)
            .build())
    }

    async fn delete_group(&self, group: &[TransactWriteItem]) -> Result<(), LedgerError> {
        for attempt in 0..MAX_ATTEMPTS {
            let result = self
                .client
                .transact_write_items()
                .set_transact_items(Some(group.to_vec()))
                .send()
                .await;
            let outcomes = match result {
                Ok(_) => return Ok(()),
                Err(err) => match TransactFailure::from_sdk(err) {
                    TransactFailure::Cancelled(outcomes) => outcomes,
                    TransactFailure::Conflict => {
                        backoff(attempt).await;
                        continue;
                    }
                    TransactFailure::Failed(e) => return Err(e),
                },
            };
            if outcomes
                .iter()
                .any(|o| matches!(o, ItemOutcome::ConditionFailed(_)))
            {
                // Only the session's delete has a condition: a concurrent erasure of the same
                // session got there first, and every other delete of the group is its too.
                return Ok(());
            }
            if any_conflict(&outcomes) {
                backoff(attempt).await;
                continue;
            }
            return Err(super::errors::unexpected(&outcomes));
        }
        Err(LedgerError::Contention {
            attempts: MAX_ATTEMPTS,
        })
    }
}
