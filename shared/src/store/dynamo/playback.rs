//! Recordings on the session item: what Tavus announced (one conditional update each, bound to
//! the session's recorded conversation), and erasures not finished (waiting for their recording
//! objects to be deleted, or cut short), found by the sweeper through the open-sessions index
//! under shard keys of their own (`ERASE#nn`), so the sweeper's other work never meets them.

use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};
use chrono::{DateTime, Utc};

use super::errors::unavailable;
use super::sweep::DueBatch;
use super::{DynamoLedger, Item, from_item, key, s, to_item};
use crate::LedgerError;
use crate::domain::playback::MAX_RECORDINGS_PER_SESSION;
use crate::domain::{RecordingFile, Session, SessionId, SessionStatus, UserId};
use crate::store::items::{ErasedConversationItem, SessionItem};
use crate::store::keys;

/// The attributes of [`crate::domain::Playback`] as stored.
const RECORDING: &str = "recording";
const RECORDING_KEYS: &str = "recording_keys";
const RECORDING_FAILED_AT: &str = "recording_failed_at";

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
    /// remembered for erasure. A duplicate changes nothing.
    pub async fn store_recording(
        &self,
        owner: &UserId,
        session_id: SessionId,
        conversation_id: &str,
        file: &RecordingFile,
    ) -> Result<RecordingWrite, LedgerError> {
        let old = self
            .update_recording(
                owner,
                session_id,
                conversation_id,
                "SET #rec = if_not_exists(#rec, :rec) ADD #keys :keys",
                &[(":rec", serde_dynamo::to_attribute_value(file)?)],
                &[("#rec", RECORDING)],
                Some(AttributeValue::Ss(vec![file.key.clone()])),
            )
            .await?;
        let old = match old {
            Ok(old) => old,
            Err(refused) => return Ok(refused),
        };
        let known = match old.get(RECORDING_KEYS) {
            Some(AttributeValue::Ss(keys)) => keys.contains(&file.key),
            _ => false,
        };
        Ok(if known {
            RecordingWrite::Duplicate
        } else {
            RecordingWrite::Stored
        })
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
                None,
            )
            .await?;
        Ok(match old {
            Err(refused) => refused,
            Ok(old) if old.contains_key(RECORDING_FAILED_AT) => RecordingWrite::Duplicate,
            Ok(_) => RecordingWrite::Stored,
        })
    }

    /// One conditional update of the session that holds `conversation_id`, is not being erased
    /// and holds fewer than [`MAX_RECORDINGS_PER_SESSION`] recordings. `Ok(Ok(old item))`, or
    /// `Ok(Err(why nothing was written))`: [`RecordingWrite::Erasing`] or
    /// [`RecordingWrite::Full`].
    #[allow(clippy::too_many_arguments)]
    async fn update_recording(
        &self,
        owner: &UserId,
        session_id: SessionId,
        conversation_id: &str,
        update: &str,
        values: &[(&str, AttributeValue)],
        names: &[(&str, &str)],
        keys_set: Option<AttributeValue>,
    ) -> Result<Result<Item, RecordingWrite>, LedgerError> {
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(keys::user_pk(owner), keys::session_sk(session_id))))
            .update_expression(update)
            .condition_expression(
                "attribute_exists(pk) AND conversation_id = :conversation AND attribute_not_exists(#erasing) \
                 AND (attribute_not_exists(#keys) OR size(#keys) < :max_keys)",
            )
            .expression_attribute_names("#erasing", keys::ERASING)
            .expression_attribute_names("#keys", RECORDING_KEYS)
            .expression_attribute_values(":conversation", s(conversation_id))
            .expression_attribute_values(
                ":max_keys",
                AttributeValue::N(MAX_RECORDINGS_PER_SESSION.to_string()),
            )
            .return_values(ReturnValue::AllOld)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        for (name, value) in values {
            request = request.expression_attribute_values(*name, value.clone());
        }
        for (placeholder, name) in names {
            request = request.expression_attribute_names(*placeholder, *name);
        }
        if let Some(set) = keys_set {
            request = request.expression_attribute_values(":keys", set);
        }
        match request.send().await {
            Ok(output) => Ok(Ok(output.attributes.unwrap_or_default())),
            Err(err) => match err.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(e)) => match e.item() {
                    None => Err(LedgerError::SessionNotFound),
                    Some(item) if item.contains_key(keys::ERASING) => {
                        Ok(Err(RecordingWrite::Erasing))
                    }
                    Some(item) if holds(item, conversation_id) => Ok(Err(RecordingWrite::Full)),
                    Some(_) => Err(LedgerError::SessionMismatch(
                        "the session holds another conversation",
                    )),
                },
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

/// Whether a session item holds the conversation `conversation_id`.
fn holds(item: &Item, conversation_id: &str) -> bool {
    matches!(item.get("conversation_id"), Some(AttributeValue::S(c)) if c == conversation_id)
}
