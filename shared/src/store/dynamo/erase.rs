//! Erasing a closed session from the table. Three steps, each safe to repeat:
//!
//! 1. Mark the session `erasing` (conditioned on it being closed) and move it, in the
//!    open-sessions index, under the erasures' shard key (`ERASE#nn`, due from `now`): out of
//!    the settling sweep's way, and where the sweeper finds an erasure cut short and finishes
//!    it, whether or not its owner asks again. From then on no note or transcript of it can be
//!    written: those writes check the session in the same transaction.
//! 2. Find what is kept with it: its transcript items and every person's notes (one Query each
//!    on the owner's partition), the participants' participation items and the references of
//!    its recording objects (named on the session as the mark left it: no key can be added
//!    after the mark).
//! 3. Delete them in transactions of at most 100, the session item last, so an erasure cut
//!    short (a timeout, a crash) leaves the marked session to find, and a retry finishes it.
//!
//! Accounts and history items are not touched: what was charged stays charged. So that their
//! figures stay explainable by the owner's sessions, the transaction that deletes the session
//! item puts in its place a record of its accounting facts alone (`ERASED#<session>`:
//! [`ErasedSession`], nothing anyone wrote or said): both or neither are written.

use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, Put, ReturnValue, ReturnValuesOnConditionCheckFailure,
    TransactWriteItem,
};
use chrono::{DateTime, Utc};

use super::errors::{ItemOutcome, TransactFailure, any_conflict, bad_request, unavailable};
use super::playback::erasure_shard_key;
use super::{DynamoLedger, Item, MAX_ATTEMPTS, backoff, from_item, key, s, to_item};
use crate::LedgerError;
use crate::domain::{Session, SessionStatus};
use crate::store::Erased;
use crate::store::items::{ErasedSession, ErasedSessionItem, SessionItem};
use crate::store::keys;

/// DynamoDB's limit of items in one transaction.
pub(super) const MAX_TRANSACTION_ITEMS: usize = 100;

impl DynamoLedger {
    /// Removes a closed session and everything kept with it in the table: its transcript, every
    /// person's notes, the participants' participation items, its recordings' references; the
    /// session item last, replaced in the same transaction by its [`ErasedSession`] record, so
    /// an erasure cut short is finished by the next. Nothing else (minutes, usage, history)
    /// changes. An open session is [`LedgerError::SessionOpen`]; one already gone,
    /// [`LedgerError::SessionNotFound`]. Tavus's copy must be gone before this is called: the
    /// session leaves the settling sweep's index for the erasures' (due from `now`).
    pub async fn erase_session(
        &self,
        session: &Session,
        now: DateTime<Utc>,
    ) -> Result<Erased, LedgerError> {
        // The session as stored once marked: nothing can be added to it any more.
        let marked = self.mark_erasing(session, now).await?;
        let (erased, kept) = self.kept_with(&marked).await?;
        let deletes = kept
            .into_iter()
            .map(|item_key| self.delete(item_key, false))
            .collect::<Result<Vec<_>, _>>()?;
        let last = vec![
            self.put_erased_record(&marked, now)?,
            self.delete(
                key(
                    keys::user_pk(&marked.owner_id),
                    keys::session_sk(marked.session_id),
                ),
                true,
            )?,
        ];
        for group in transaction_groups(deletes, last) {
            self.delete_group(&group).await?;
        }
        Ok(erased)
    }

    /// Step 2: the keys of everything kept with the session (not the session item), and how
    /// many of each kind.
    async fn kept_with(&self, session: &Session) -> Result<(Erased, Vec<Item>), LedgerError> {
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
        let references: Vec<Item> = session
            .playback
            .object_keys()
            .iter()
            .map(|k| key(keys::recording_pk(k), keys::RECORDING_SK))
            .collect();
        let erased = Erased {
            transcript_items: transcript.len(),
            notes: notes.len(),
            participations: participations.len(),
            recording_references: references.len(),
        };
        let kept = transcript
            .into_iter()
            .chain(notes)
            .chain(participations)
            .chain(references)
            .collect();
        Ok((erased, kept))
    }
}

/// `items` in transactions of at most [`MAX_TRANSACTION_ITEMS`], then `last` all in the final
/// one (with the last of `items` when there is room): what must commit together stays together.
fn transaction_groups<T: Clone>(items: Vec<T>, last: Vec<T>) -> Vec<Vec<T>> {
    let mut groups: Vec<Vec<T>> = items
        .chunks(MAX_TRANSACTION_ITEMS)
        .map(<[T]>::to_vec)
        .collect();
    match groups.last_mut() {
        Some(group) if group.len() + last.len() <= MAX_TRANSACTION_ITEMS => group.extend(last),
        _ => groups.push(last),
    }
    groups
}

impl DynamoLedger {
    /// Step 1: closed sessions only; the mark blocks every later write kept with the session,
    /// and the erasures' shard key hands an erasure cut short to the sweeper. Answers the
    /// session as marked.
    async fn mark_erasing(
        &self,
        session: &Session,
        now: DateTime<Utc>,
    ) -> Result<Session, LedgerError> {
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
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(output) => {
                Ok(from_item::<SessionItem>(output.attributes.unwrap_or_default())?.session)
            }
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
    pub(super) fn delete(
        &self,
        item_key: Item,
        is_session: bool,
    ) -> Result<TransactWriteItem, LedgerError> {
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

    /// What is kept of the erased session: written with the session item's delete, so neither
    /// lands without the other. Unconditional: a repeated erasure writes the same figures.
    fn put_erased_record(
        &self,
        session: &Session,
        now: DateTime<Utc>,
    ) -> Result<TransactWriteItem, LedgerError> {
        let record = ErasedSessionItem::new(&session.owner_id, ErasedSession::of(session, now));
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(to_item(&record)?))
            .build()
            .map_err(bad_request)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    pub(super) async fn delete_group(
        &self,
        group: &[TransactWriteItem],
    ) -> Result<(), LedgerError> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_items_always_commit_together_in_the_final_transaction() {
        let last = vec![-1, -2];
        for n in [0, 1, 97, 98, 99, 100, 101, 198, 199, 250] {
            let items: Vec<i32> = (0..n).collect();
            let groups = transaction_groups(items, last.clone());
            assert!(
                groups.iter().all(|g| g.len() <= MAX_TRANSACTION_ITEMS),
                "{n}"
            );
            let final_group = groups.last().unwrap();
            assert_eq!(final_group[final_group.len() - 2..], [-1, -2], "{n}");
            let all: Vec<i32> = groups.concat();
            assert_eq!(all.len(), n as usize + 2, "{n}: nothing lost or repeated");
        }
        assert_eq!(transaction_groups(vec![1; 98], vec![0, 0]).len(), 1);
        assert_eq!(transaction_groups(vec![1; 99], vec![0, 0]).len(), 2);
    }
}
