//! Closing a session: settle it (minutes move from reserved to used) or release it (nothing
//! charged). One transaction closes the session, conditioned on it still being open, and books
//! the minutes on the account, or, when the account has rolled over since the session was
//! created, on that period's history item. A duplicate or late close changes nothing.

use aws_sdk_dynamodb::types::{ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update};

use super::errors::{ItemOutcome, TransactFailure, any_conflict, bad_request, unexpected};
use super::{DynamoLedger, MAX_ATTEMPTS, backoff, from_item, key, n, s};
use crate::LedgerError;
use crate::domain::SessionStatus;
use crate::store::items::{AccountItem, SessionItem};
use crate::store::keys;
use crate::store::{CloseSession, Closed, Closing};

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
                            "the period or reservation differs from the session's",
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
    /// Marks the session closed and takes it out of the open-sessions index, if it is still open
    /// with the period and reservation the caller names.
    fn close_session(&self, closing: &Closing) -> Result<Update, LedgerError> {
        Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(keys::user_pk(&closing.owner), keys::session_sk(closing.session_id))))
            .update_expression(
                "SET #status = :closed, charged_minutes = :charged, ended_at = :ended, end_reason = :reason \
                 REMOVE open_shard, open_until",
            )
            .condition_expression(
                "#status IN (:pending, :active) AND period = :period AND reserved_minutes = :reserved",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":closed", s(closing.status.as_str()))
            .expression_attribute_values(":pending", s(SessionStatus::Pending.as_str()))
            .expression_attribute_values(":active", s(SessionStatus::Active.as_str()))
            .expression_attribute_values(":charged", n(i64::from(closing.charged_minutes)))
            .expression_attribute_values(":ended", s(closing.ended_at.to_rfc3339()))
            .expression_attribute_values(":reason", serde_dynamo::to_attribute_value(closing.reason)?)
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
