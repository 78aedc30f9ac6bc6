//! Recordings on the session item: what Tavus announced (one conditional update each, bound to
//! the session's recorded conversation), and erasures not finished (waiting for their recording
//! objects to be deleted, or cut short), found by the sweeper through the open-sessions index
//! under shard keys of their own (`ERASE#nn`), so the sweeper's other work never meets them.
//!
//! Each recording object also gets a reference of its own (`RECORDING#<object key>`), written
//! in the same transaction as its key on the session: Tavus names the objects after the
//! conversation, so only the reference tells which session an object of the bucket belongs to.

use std::collections::HashMap;

use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue, Put, ReturnValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
    Update,
};
use chrono::{DateTime, Utc};

use super::errors::{
    ItemOutcome, TransactFailure, any_conflict, bad_request, unavailable, unexpected,
};
use super::sweep::DueBatch;
use super::{DynamoLedger, Item, MAX_ATTEMPTS, backoff, from_item, key, s, to_item};
use crate::LedgerError;
use crate::domain::playback::MAX_RECORDINGS_PER_SESSION;
use crate::domain::{RecordingFile, Session, SessionId, SessionStatus, UserId};
use crate::store::RecordingReference;
use crate::store::items::{ErasedConversationItem, RecordingReferenceItem, SessionItem};
use crate::store::keys;

/// The attributes of [`crate::domain::Playback`] as stored.
const RECORDING: &str = "recording";
const RECORDING_KEYS: &str = "recording_keys";
const RECORDING_FAILED_AT: &str = "recording_failed_at";

/// What every recording write asks of its session: it exists, holds the conversation, is not
/// being erased, and has room for another key.
const RECORDING_CONDITION: &str = "attribute_exists(pk) AND conversation_id = :conversation \
     AND attribute_not_exists(#erasing) AND (attribute_not_exists(#keys) OR size(#keys) < :max_keys)";

/// Position of the session's update in the store transaction (the reference's put follows).
const SESSION_UPDATE: usize = 0;

/// What a recording callback did to its session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordingWrite {
    /// Recorded now.
    Stored,
    /// Already recorded (a duplicate callback): nothing changed.
    Duplicate,
    /// The session is being erased: nothing may be added to it.
    Erasing,
    /// The session holds as many recordings as it may ([`MAX_RECORDINGS_PER_SESSION`]):
    /// nothing was added, so the item never outgrows DynamoDB's 400 KB.
    Full,
}

/// How long an erased recorded conversation is remembered: far longer than Tavus takes to
/// upload a recording and announce it (hours at most), short enough that the memory goes too.
pub const ERASED_CONVERSATION_MEMORY: chrono::Duration = chrono::Duration::days(30);

/// The index shard key of erasures waiting for their recording objects.
pub fn erasure_shard_key(shard: u32) -> String {
    format!("ERASE#{shard:02}")
}

impl DynamoLedger {
    /// Records a recording in our bucket for the session whose recorded conversation is
    /// `conversation_id`: the first one becomes the session's recording, and every key is
    /// remembered for erasure. In the same transaction, the object's reference
    /// ([`RecordingReferenceItem`], stored at this moment) names the session. A duplicate (the
    /// key is on the session already) changes nothing.
    pub async fn store_recording(
        &self,
        owner: &UserId,
        session_id: SessionId,
        conversation_id: &str,
        file: &RecordingFile,
    ) -> Result<RecordingWrite, LedgerError> {
        let reference = RecordingReferenceItem::new(&file.key, owner, session_id, Utc::now());
        let items = vec![
            TransactWriteItem::builder()
                .update(self.add_recording(owner, session_id, conversation_id, file)?)
                .build(),
            TransactWriteItem::builder()
                .put(
                    Put::builder()
                        .table_name(&self.table)
                        .set_item(Some(to_item(&reference)?))
                        .build()
                        .map_err(bad_request)?,
                )
                .build(),
        ];
        for attempt in 0..MAX_ATTEMPTS {
            let outcomes = match self.transact(items.clone()).await {
                Ok(()) => return Ok(RecordingWrite::Stored),
                Err(TransactFailure::Cancelled(outcomes)) => outcomes,
                Err(TransactFailure::Conflict) => {
                    backoff(attempt).await;
                    continue;
                }
                Err(TransactFailure::Failed(e)) => return Err(e),
            };
            if let Some(ItemOutcome::ConditionFailed(stored)) = outcomes.get(SESSION_UPDATE) {
                return recording_refused(stored.as_ref(), conversation_id, Some(&file.key));
            }
            if !any_conflict(&outcomes) {
                return Err(unexpected(&outcomes));
            }
            backoff(attempt).await;
        }
        Err(LedgerError::Contention {
            attempts: MAX_ATTEMPTS,
        })
    }

    /// The session's side of [`DynamoLedger::store_recording`]: the key added, the file kept as
    /// the recording if it is the first, on [`RECORDING_CONDITION`] and the key being new (so a
    /// duplicate cancels the transaction and writes no reference either).
    fn add_recording(
        &self,
        owner: &UserId,
        session_id: SessionId,
        conversation_id: &str,
        file: &RecordingFile,
    ) -> Result<Update, LedgerError> {
        Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(
                keys::user_pk(owner),
                keys::session_sk(session_id),
            )))
            .update_expression("SET #rec = if_not_exists(#rec, :rec) ADD #keys :keys")
            .condition_expression(format!(
                "{RECORDING_CONDITION} AND NOT contains(#keys, :key)"
            ))
            .expression_attribute_names("#erasing", keys::ERASING)
            .expression_attribute_names("#keys", RECORDING_KEYS)
            .expression_attribute_names("#rec", RECORDING)
            .expression_attribute_values(":conversation", s(conversation_id))
            .expression_attribute_values(":max_keys", max_keys())
            .expression_attribute_values(":rec", serde_dynamo::to_attribute_value(file)?)
            .expression_attribute_values(":keys", AttributeValue::Ss(vec![file.key.clone()]))
            .expression_attribute_values(":key", s(file.key.as_str()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(bad_request)
    }

    /// Records that Tavus could not copy the session's recording into our bucket (once).
    pub async fn recording_failed(
        &self,
        owner: &UserId,
        session_id: SessionId,
        conversation_id: &str,
        at: DateTime<Utc>,
    ) -> Result<RecordingWrite, LedgerError> {
        let old = self
            .update_recording(
                owner,
                session_id,
                conversation_id,
                "SET #failed = if_not_exists(#failed, :at)",
                &[(":at", serde_dynamo::to_attribute_value(at)?)],
                &[("#failed", RECORDING_FAILED_AT)],
            )
            .await?;
        Ok(match old {
            Err(refused) => refused,
            Ok(old) if old.contains_key(RECORDING_FAILED_AT) => RecordingWrite::Duplicate,
            Ok(_) => RecordingWrite::Stored,
        })
    }

    /// One conditional update ([`RECORDING_CONDITION`]) of the session that holds
    /// `conversation_id`. `Ok(Ok(old item))`, or `Ok(Err(why nothing was written))`:
    /// [`RecordingWrite::Erasing`] or [`RecordingWrite::Full`].
    async fn update_recording(
        &self,
        owner: &UserId,
        session_id: SessionId,
        conversation_id: &str,
        update: &str,
        values: &[(&str, AttributeValue)],
        names: &[(&str, &str)],
    ) -> Result<Result<Item, RecordingWrite>, LedgerError> {
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(
                keys::user_pk(owner),
                keys::session_sk(session_id),
            )))
            .update_expression(update)
            .condition_expression(RECORDING_CONDITION)
            .expression_attribute_names("#erasing", keys::ERASING)
            .expression_attribute_names("#keys", RECORDING_KEYS)
            .expression_attribute_values(":conversation", s(conversation_id))
            .expression_attribute_values(":max_keys", max_keys())
            .return_values(ReturnValue::AllOld)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        for (name, value) in values {
            request = request.expression_attribute_values(*name, value.clone());
        }
        for (placeholder, name) in names {
            request = request.expression_attribute_names(*placeholder, *name);
        }
        match request.send().await {
            Ok(output) => Ok(Ok(output.attributes.unwrap_or_default())),
            Err(err) => match err.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(e)) => {
                    recording_refused(e.item(), conversation_id, None).map(Err)
                }
                _ => Err(unavailable(&err)),
            },
        }
    }

    /// Marks a closed session as being erased and puts it where the sweeper finds it (due from
    /// `now`), before its recording objects are deleted: if a delete fails, or the erasure is cut
    /// short, the sweeper finishes it. From then on nothing can be added to the session.
    /// Answers the session as marked, with every recording key announced until then.
    pub async fn mark_recording_erasure(
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
                    Some(_) => Err(LedgerError::SessionOpen),
                },
                _ => Err(unavailable(&err)),
            },
        }
    }

    /// Remembers, before a recorded session is erased, that its conversation was (see
    /// [`ErasedConversationItem`]). Idempotent: a retried erasure writes it again.
    pub async fn remember_erased_conversation(
        &self,
        conversation_id: &str,
        now: DateTime<Utc>,
    ) -> Result<(), LedgerError> {
        let item = ErasedConversationItem {
            pk: keys::erased_conversation_pk(conversation_id),
            sk: keys::ERASED_CONVERSATION_SK.to_owned(),
            expires_at: (now + ERASED_CONVERSATION_MEMORY).timestamp(),
        };
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(&item)?))
            .send()
            .await
            .map_err(|e| unavailable(&e))?;
        Ok(())
    }

    /// Whether `conversation_id` belonged to a session that was erased (within
    /// [`ERASED_CONVERSATION_MEMORY`]).
    pub async fn conversation_was_erased(
        &self,
        conversation_id: &str,
    ) -> Result<bool, LedgerError> {
        let found = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(
                keys::erased_conversation_pk(conversation_id),
                keys::ERASED_CONVERSATION_SK.to_owned(),
            )))
            .consistent_read(true)
            .projection_expression("#pk")
            .expression_attribute_names("#pk", keys::PK)
            .send()
            .await
            .map_err(|e| unavailable(&e))?;
        Ok(found.item.is_some())
    }

    /// Sessions of `shard` whose erasure began before `cutoff` and is not finished (it waits
    /// for its recording objects, or was cut short), at most about `limit`.
    pub async fn erasures_due(
        &self,
        shard: u32,
        cutoff: DateTime<Utc>,
        limit: usize,
        start: Option<Item>,
    ) -> Result<DueBatch, LedgerError> {
        self.indexed_before(erasure_shard_key(shard), cutoff, limit, start)
            .await
    }
}

impl DynamoLedger {
    /// The session each recording object belongs to, by object key, from the references
    /// [`DynamoLedger::store_recording`] wrote (eventually consistent: a reference written a
    /// moment ago may be missing). A key absent from the answer has no reference.
    pub async fn recording_references(
        &self,
        object_keys: &[String],
    ) -> Result<HashMap<String, RecordingReference>, LedgerError> {
        let mut unique: Vec<&String> = object_keys.iter().collect();
        // BatchGetItem refuses a request that names one key twice.
        unique.sort();
        unique.dedup();
        let item_keys = unique
            .into_iter()
            .map(|k| key(keys::recording_pk(k), keys::RECORDING_SK))
            .collect();
        let mut found = HashMap::new();
        for item in self.batch_get(item_keys, false).await? {
            let reference: RecordingReferenceItem = from_item(item)?;
            let Some(object_key) = reference.pk.strip_prefix(keys::RECORDING_PK_PREFIX) else {
                continue;
            };
            found.insert(
                object_key.to_owned(),
                RecordingReference {
                    owner: reference.owner_id,
                    session_id: reference.session_id,
                },
            );
        }
        Ok(found)
    }
}

/// Why a recording write's condition failed, from the session as it was: gone, being erased,
/// holding another conversation, full, or (`key`: a store) holding this key already.
fn recording_refused(
    stored: Option<&Item>,
    conversation_id: &str,
    key: Option<&str>,
) -> Result<RecordingWrite, LedgerError> {
    let Some(item) = stored else {
        return Err(LedgerError::SessionNotFound);
    };
    if item.contains_key(keys::ERASING) {
        return Ok(RecordingWrite::Erasing);
    }
    if !holds(item, conversation_id) {
        return Err(LedgerError::SessionMismatch(
            "the session holds another conversation",
        ));
    }
    let known = match item.get(RECORDING_KEYS) {
        Some(AttributeValue::Ss(keys)) => keys.as_slice(),
        _ => &[],
    };
    // A full session refuses even a key it holds, as it always has: only room left and the key
    // already there make a duplicate.
    let duplicate = key.is_some_and(|key| known.iter().any(|k| k == key));
    if duplicate && known.len() < MAX_RECORDINGS_PER_SESSION {
        Ok(RecordingWrite::Duplicate)
    } else {
        Ok(RecordingWrite::Full)
    }
}

fn max_keys() -> AttributeValue {
    AttributeValue::N(MAX_RECORDINGS_PER_SESSION.to_string())
}

/// Whether a session item holds the conversation `conversation_id`.
fn holds(item: &Item, conversation_id: &str) -> bool {
    matches!(item.get("conversation_id"), Some(AttributeValue::S(c)) if c == conversation_id)
}
