//! Closing a session: settle it (minutes move from reserved to used) or release it (nothing
//! charged). One transaction closes the session, conditioned on it still being open, and books
//! the minutes on the account, or, when the account has rolled over since the session was
//! created, on that period's history item. A duplicate or late close changes nothing.

use aws_sdk_dynamodb::types::{ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update};

use super::errors::{ItemOutcome, TransactFailure, any_conflict, bad_request, unexpected};
use super::{DynamoLedger, MAX_ATTEMPTS, backoff, from_item, key, n, s};
use crate::LedgerError;
use crate::domain::SessionStatus;
use crate::domain::{SessionId, UserId};
use crate::store::items::{AccountItem, SessionItem};
use crate::store::keys;
use crate::store::{CloseSession, Closed, Closing, ForgetTavusCopy};

/// Where the minutes of a closing are booked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Book {
    Account,
    History,
}

impl CloseSession for DynamoLedger {
    async fn close(&self, closing: Closing) -> Result<Closed, LedgerError> {
        if closing.status.is_open() {
            return Err(LedgerError::SessionMismatch(
                "a session can only close as ended or failed",
            ));
        }
        let mut book = Book::Account;
        for attempt in 0..MAX_ATTEMPTS {
            let result = self
                .client
                .transact_write_items()
                .transact_items(
                    TransactWriteItem::builder()
                        .update(self.close_session(&closing)?)
                        .build(),
                )
                .transact_items(
                    TransactWriteItem::builder()
                        .update(self.book_minutes(&closing, book)?)
                        .build(),
                )
                .send()
                .await;
            let outcomes = match result {
                Ok(_) => {
                    tracing::info!(
                        session_id = %closing.session_id,
                        status = closing.status.as_str(),
                        charged_minutes = closing.charged_minutes,
                        into_history = book == Book::History,
                        "session closed"
                    );
                    return Ok(match book {
                        Book::Account => Closed::IntoAccount,
                        Book::History => Closed::IntoHistory,
                    });
                }
                Err(err) => match TransactFailure::from_sdk(err) {
                    TransactFailure::Cancelled(outcomes) => outcomes,
                    TransactFailure::Conflict => {
                        backoff(attempt).await;
                        continue;
                    }
                    TransactFailure::Failed(e) => return Err(e),
                },
            };
            match outcomes.as_slice() {
                [ItemOutcome::ConditionFailed(None), _] => {
                    return Err(LedgerError::SessionNotFound);
                }
                [ItemOutcome::ConditionFailed(Some(item)), _] => {
                    let session = from_item::<SessionItem>(item.clone())?.session;
                    return if session.status.is_open() {
                        Err(LedgerError::SessionMismatch(
                            "the conversation, period or reservation differs from the session's",
                        ))
                    } else {
                        Ok(Closed::AlreadyClosed)
                    };
                }
                [_, ItemOutcome::ConditionFailed(account)] if book == Book::Account => {
                    let account = match account {
                        Some(item) => from_item::<AccountItem>(item.clone())?.account,
                        None => {
                            return Err(LedgerError::CorruptItem(
                                "a session's owner has no account".into(),
                            ));
                        }
                    };
                    if account.period > closing.period {
                        // The account rolled over since: the session belongs to the old period.
                        book = Book::History;
                        continue;
                    }
                    return Err(LedgerError::SessionMismatch(
                        "the session's period is later than its account's",
                    ));
                }
                [_, ItemOutcome::ConditionFailed(_)] => {
                    return Err(LedgerError::CorruptItem(format!(
                        "no history item for period {} although the account rolled over",
                        closing.period
                    )));
                }
                outcomes if any_conflict(outcomes) => backoff(attempt).await,
                outcomes => return Err(unexpected(outcomes)),
            }
        }
        Err(LedgerError::Contention {
            attempts: MAX_ATTEMPTS,
        })
    }
}

impl DynamoLedger {
    /// Marks the session closed and takes it out of the open-sessions index (or leaves it there,
    /// due when Tavus's copy is to be deleted), if it is still open with the period and
    /// reservation (and conversation) the caller names.
    fn close_session(&self, closing: &Closing) -> Result<Update, LedgerError> {
        let set = "SET #status = :closed, charged_minutes = :charged, ended_at = :ended, end_reason = :reason";
        let update_expression = match closing.delete_tavus_copy_at {
            Some(_) => format!("{set}, open_until = :delete_at"),
            None => format!("{set} REMOVE open_shard, open_until"),
        };
        let mut condition = String::from(
            "#status IN (:pending, :active) AND period = :period AND reserved_minutes = :reserved",
        );
        if closing.expect_conversation.is_some() {
            condition.push_str(" AND conversation_id = :cid");
        }
        let mut update = Update::builder();
        for (name, value) in optional_values(closing) {
            update = update.expression_attribute_values(name, value);
        }
        update
            .table_name(&self.table)
            .set_key(Some(key(
                keys::user_pk(&closing.owner),
                keys::session_sk(closing.session_id),
            )))
            .update_expression(update_expression)
            .condition_expression(condition)
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":closed", s(closing.status.as_str()))
            .expression_attribute_values(":pending", s(SessionStatus::Pending.as_str()))
            .expression_attribute_values(":active", s(SessionStatus::Active.as_str()))
            .expression_attribute_values(":charged", n(i64::from(closing.charged_minutes)))
            .expression_attribute_values(":ended", s(closing.ended_at.to_rfc3339()))
            .expression_attribute_values(
                ":reason",
                serde_dynamo::to_attribute_value(closing.reason)?,
            )
            .expression_attribute_values(":period", s(closing.period.to_string()))
            .expression_attribute_values(":reserved", n(i64::from(closing.reserved_minutes)))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(bad_request)
    }

    /// Moves the reservation to used (charged minutes) on the account or on the history item.
    fn book_minutes(&self, closing: &Closing, book: Book) -> Result<Update, LedgerError> {
        let charged = i64::from(closing.charged_minutes);
        let reserved = i64::from(closing.reserved_minutes);
        let builder = Update::builder()
            .table_name(&self.table)
            .expression_attribute_values(":charged", n(charged))
            .expression_attribute_values(":reserved", n(reserved));
        let builder = match book {
            Book::Account => builder
                .set_key(Some(key(keys::user_pk(&closing.owner), keys::ACCOUNT_SK)))
                .update_expression(
                    "SET used_minutes = used_minutes + :charged, reserved_minutes = reserved_minutes - :reserved, \
                     available_minutes = available_minutes + :released, updated_at = :now",
                )
                .condition_expression("period = :period")
                .expression_attribute_values(":released", n(reserved - charged))
                .expression_attribute_values(":now", s(closing.ended_at.to_rfc3339()))
                .expression_attribute_values(":period", s(closing.period.to_string()))
                .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld),
            Book::History => builder
                .set_key(Some(key(keys::user_pk(&closing.owner), keys::period_sk(closing.period))))
                .update_expression(
                    "SET used_minutes = used_minutes + :charged, open_reserved_minutes = open_reserved_minutes - :reserved, \
                     late_settlements = late_settlements + :one",
                )
                .condition_expression("attribute_exists(pk)")
                .expression_attribute_values(":one", n(1)),
        };
        builder.build().map_err(bad_request)
    }
}

/// The values only some closings use.
fn optional_values(closing: &Closing) -> Vec<(String, aws_sdk_dynamodb::types::AttributeValue)> {
    let mut values = Vec::new();
    if let Some(at) = closing.delete_tavus_copy_at {
        values.push((":delete_at".to_owned(), s(keys::sortable_time(at))));
    }
    if let Some(cid) = &closing.expect_conversation {
        values.push((":cid".to_owned(), s(cid.as_str())));
    }
    values
}

impl ForgetTavusCopy for DynamoLedger {
    async fn tavus_copy_done(
        &self,
        owner: &UserId,
        session_id: SessionId,
    ) -> Result<(), LedgerError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(
                keys::user_pk(owner),
                keys::session_sk(session_id),
            )))
            .update_expression("REMOVE open_shard, open_until")
            // Never for an open session: that would hide it from the sweeper.
            .condition_expression("#status IN (:ended, :failed)")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":ended", s(SessionStatus::Ended.as_str()))
            .expression_attribute_values(":failed", s(SessionStatus::Failed.as_str()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) => match err.as_service_error() {
                Some(aws_sdk_dynamodb::operation::update_item::UpdateItemError::ConditionalCheckFailedException(_)) => {
                    Err(LedgerError::SessionMismatch("the session is not closed"))
                }
                _ => Err(super::errors::unavailable(&err)),
            },
        }
    }
}
