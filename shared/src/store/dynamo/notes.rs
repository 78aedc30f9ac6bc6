//! Each person's private notes on a session: one item per (session, person) under the session
//! owner's partition. A write is one transaction of two items: a check that the session still
//! exists and is not being erased (so no note outlives an erasure), and the put, conditioned on
//! the revision the writer's `If-Match` names. Every write takes a new revision (a ULID), so no
//! read is needed before it.

use aws_sdk_dynamodb::types::{ConditionCheck, Put, TransactWriteItem};
use chrono::{DateTime, Utc};

use super::errors::{ItemOutcome, TransactFailure, any_conflict, bad_request, unexpected};
use super::{DynamoLedger, MAX_ATTEMPTS, backoff, from_item, key, s, to_item};
use crate::LedgerError;
use crate::domain::{Notes, Precondition, SessionId, UserId};
use crate::store::NotesKey;
use crate::store::items::NotesItem;
use crate::store::keys;

/// Positions of the items in the write transaction.
const SESSION_CHECK: usize = 0;
const NOTES_PUT: usize = 1;

impl DynamoLedger {
    /// The author's notes on the session; unwritten ones if the author never wrote any.
    pub async fn read_notes(&self, key: NotesKey<'_>) -> Result<Notes, LedgerError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(super::key(
                keys::user_pk(key.owner),
                keys::notes_sk(key.session_id, key.author),
            )))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| super::errors::unavailable(&e))?;
        match output.item {
            Some(item) => Ok(from_item::<NotesItem>(item)?.notes()),
            None => Ok(Notes::unwritten()),
        }
    }
}

impl DynamoLedger {
    /// Replaces the author's notes if `precondition` holds for them (else
    /// [`LedgerError::PreconditionFailed`], nothing written) and the session still exists, is
    /// not being erased and still has the author among its members (else
    /// [`LedgerError::SessionNotFound`]). Returns the notes written.
    pub async fn write_notes(
        &self,
        key: NotesKey<'_>,
        text: &str,
        precondition: &Precondition,
        now: DateTime<Utc>,
    ) -> Result<Notes, LedgerError> {
        let condition = notes_condition(precondition)?;
        for attempt in 0..MAX_ATTEMPTS {
            let revision = ulid::Ulid::new().to_string();
            let item = NotesItem::new(key.owner, key.session_id, key.author, text, revision, now);
            let result = self
                .client
                .transact_write_items()
                .transact_items(self.member_check(&key)?)
                .transact_items(self.notes_put(&item, condition.as_ref())?)
                .send()
                .await;
            let outcomes = match result {
                Ok(_) => return Ok(item.notes()),
                Err(err) => match TransactFailure::from_sdk(err) {
                    TransactFailure::Cancelled(outcomes) => outcomes,
                    TransactFailure::Conflict => {
                        backoff(attempt).await;
                        continue;
                    }
                    TransactFailure::Failed(e) => return Err(e),
                },
            };
            if let Some(ItemOutcome::ConditionFailed(_)) = outcomes.get(SESSION_CHECK) {
                return Err(LedgerError::SessionNotFound);
            }
            if let Some(ItemOutcome::ConditionFailed(_)) = outcomes.get(NOTES_PUT) {
                return Err(LedgerError::PreconditionFailed);
            }
            if any_conflict(&outcomes) {
                // Another write of the same notes at the same moment: the next attempt meets
                // its result (and its condition decides, as it would have in sequence).
                backoff(attempt).await;
                continue;
            }
            return Err(unexpected(&outcomes));
        }
        Err(LedgerError::Contention {
            attempts: MAX_ATTEMPTS,
        })
    }
}

/// The put's condition and its values, for a precondition; `None` for none.
struct Condition {
    expression: String,
    values: Vec<(String, String)>,
}

fn notes_condition(precondition: &Precondition) -> Result<Option<Condition>, LedgerError> {
    let Precondition::OneOf {
        unwritten,
        revisions,
    } = precondition
    else {
        return Ok(None);
    };
    let mut alternatives = Vec::new();
    if *unwritten {
        alternatives.push("attribute_not_exists(pk)".to_owned());
    }
    let values: Vec<(String, String)> = revisions
        .iter()
        .enumerate()
        .map(|(i, r)| (format!(":rev{i}"), r.clone()))
        .collect();
    if !values.is_empty() {
        let names: Vec<&str> = values.iter().map(|(name, _)| name.as_str()).collect();
        alternatives.push(format!("revision IN ({})", names.join(", ")));
    }
    if alternatives.is_empty() {
        // Nothing the notes could be at matches: refused without a write.
        return Err(LedgerError::PreconditionFailed);
    }
    Ok(Some(Condition {
        expression: alternatives.join(" OR "),
        values,
    }))
}

impl DynamoLedger {
    /// Holds only while the session exists and no erasure of it has begun: every write of
    /// something kept with a session (notes, transcripts) carries it, so nothing is written
    /// after an erasure has looked for what to remove.
    pub(super) fn session_exists_check(
        &self,
        owner: &UserId,
        session_id: SessionId,
    ) -> Result<TransactWriteItem, LedgerError> {
        let check = ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(key(
                keys::user_pk(owner),
                keys::session_sk(session_id),
            )))
            .condition_expression("attribute_exists(pk) AND attribute_not_exists(#erasing)")
            .expression_attribute_names("#erasing", keys::ERASING)
            .build()
            .map_err(bad_request)?;
        Ok(TransactWriteItem::builder().condition_check(check).build())
    }

    /// [`Self::session_exists_check`], and for an author who is not the owner, that the session
    /// still names them: one who left it (deleting their account) writes nothing after.
    fn member_check(&self, key: &NotesKey<'_>) -> Result<TransactWriteItem, LedgerError> {
        if key.author == key.owner {
            return self.session_exists_check(key.owner, key.session_id);
        }
        let check = ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(super::key(
                keys::user_pk(key.owner),
                keys::session_sk(key.session_id),
            )))
            .condition_expression(
                "attribute_exists(pk) AND attribute_not_exists(#erasing) AND contains(participants, :author)",
            )
            .expression_attribute_names("#erasing", keys::ERASING)
            .expression_attribute_values(":author", super::s(key.author.as_str()))
            .build()
            .map_err(bad_request)?;
        Ok(TransactWriteItem::builder().condition_check(check).build())
    }

    fn notes_put(
        &self,
        item: &NotesItem,
        condition: Option<&Condition>,
    ) -> Result<TransactWriteItem, LedgerError> {
        let mut put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(to_item(item)?));
        if let Some(condition) = condition {
            put = put.condition_expression(condition.expression.clone());
            for (name, value) in &condition.values {
                put = put.expression_attribute_values(name, s(value.clone()));
            }
        }
        Ok(TransactWriteItem::builder()
            .put(put.build().map_err(bad_request)?)
            .build())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preconditions_become_conditions_on_the_put() {
        assert!(notes_condition(&Precondition::Any).unwrap().is_none());
        let first = notes_condition(&Precondition::OneOf {
            unwritten: true,
            revisions: vec![],
        })
        .unwrap()
        .unwrap();
        assert_eq!(first.expression, "attribute_not_exists(pk)");
        let either = notes_condition(&Precondition::OneOf {
            unwritten: true,
            revisions: vec!["a".into(), "b".into()],
        })
        .unwrap()
        .unwrap();
        assert_eq!(
            either.expression,
            "attribute_not_exists(pk) OR revision IN (:rev0, :rev1)"
        );
        assert_eq!(either.values.len(), 2);
        assert!(matches!(
            notes_condition(&Precondition::OneOf {
                unwritten: false,
                revisions: vec![],
            }),
            Err(LedgerError::PreconditionFailed)
        ));
    }
}
