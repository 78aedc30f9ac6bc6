//! Closing a session: settle it (minutes move from reserved to used) or release it (nothing
//! charged). One transaction closes the session, conditioned on it still being open, and books
//! the minutes on the account, or, when the account has rolled over since the session was
//! created, on that period's history item. The same transaction gives back the session's place
//! among its owner's open sessions (on the account), so the place is freed exactly when the
//! session closes, once. A duplicate or late close changes nothing. A close of a conversation
//! Tavus ran then adds it to its period's minutes tally ([`super::tally`]): only the close whose
//! transaction committed does, so it is never counted twice. It is a separate write, because in
//! the transaction it would make the closes of every user sharing a tally item conflict; a
//! crash between the two leaves that one conversation out of the tally (the tally is the
//! operator's report, the account is the user's, and only the account must be exact).

use aws_sdk_dynamodb::types::{
    AttributeValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};

use super::errors::{ItemOutcome, TransactFailure, any_conflict, bad_request, unexpected};
use super::{DynamoLedger, Item, MAX_ATTEMPTS, backoff, from_item, key, n, s};
use crate::LedgerError;
use crate::domain::SessionStatus;
use crate::domain::cost::closing_cause;
use crate::domain::minutes::charged_minutes;
use crate::domain::{Cause, CauseFigures, SessionId, UserId};
use crate::store::items::{AccountItem, SessionItem};
use crate::store::keys;
use crate::store::{Closed, Closing};

/// Where the minutes of a closing are booked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Book {
    Account,
    History,
}

/// Whether the closing gives back the session's place among its owner's open sessions: always,
/// unless the session never took one (written before the cap existed) or the counter is already
/// at zero (it never goes below).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Release,
    NotHeld,
}

/// Positions of the items in the close transaction.
const SESSION_ITEM: usize = 0;
const BOOKED_ITEM: usize = 1;
/// Only when booking into the history: the account, whose counter is released there.
const PLACE_ITEM: usize = 2;

/// Why a close transaction was cancelled, when the reason is no error: the session is closed
/// already, or the next attempt must book or release differently, or simply try again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cancelled {
    AlreadyClosed,
    /// The account rolled over since the session was created: the session belongs to the old
    /// period.
    AccountRolledOver,
    /// The session took no place among the open ones, or the counter is already at zero.
    NoPlaceHeld,
    /// Another writer changed an item between the write and its check.
    Raced,
}

fn update(update: Update) -> TransactWriteItem {
    TransactWriteItem::builder().update(update).build()
}

impl DynamoLedger {
    /// Settles or releases an open session; a second close of the same session changes nothing.
    pub async fn close(&self, closing: Closing) -> Result<Closed, LedgerError> {
        if closing.status.is_open() {
            return Err(LedgerError::SessionMismatch(
                "a session can only close as ended or failed",
            ));
        }
        let mut book = Book::Account;
        let mut place = Place::Release;
        for attempt in 0..MAX_ATTEMPTS {
            let items = self.close_items(&closing, book, place)?;
            let outcomes = match self.transact(items).await {
                Ok(()) => {
                    self.count_in_tally(&closing).await;
                    return Ok(closed(&closing, book, place));
                }
                Err(TransactFailure::Cancelled(outcomes)) => outcomes,
                Err(TransactFailure::Conflict) => {
                    backoff(attempt).await;
                    continue;
                }
                Err(TransactFailure::Failed(e)) => return Err(e),
            };
            match why_cancelled(&closing, &outcomes, book, place)? {
                Cancelled::AlreadyClosed => return Ok(Closed::AlreadyClosed),
                Cancelled::AccountRolledOver => book = Book::History,
                Cancelled::NoPlaceHeld => place = Place::NotHeld,
                Cancelled::Raced => backoff(attempt).await,
            }
        }
        Err(LedgerError::Contention {
            attempts: MAX_ATTEMPTS,
        })
    }

    /// The items of the close transaction, at [`SESSION_ITEM`], [`BOOKED_ITEM`] and (only when
    /// booking into the history) [`PLACE_ITEM`].
    fn close_items(
        &self,
        closing: &Closing,
        book: Book,
        place: Place,
    ) -> Result<Vec<TransactWriteItem>, LedgerError> {
        let mut items = vec![
            update(self.close_session(closing, place)?),
            update(self.book_minutes(closing, book, place)?),
        ];
        if releases_on_account(book, place) {
            items.push(update(self.release_place(closing)?));
        }
        Ok(items)
    }

    /// Adds a committed close to its period's tally; a failure is logged, never the close's.
    async fn count_in_tally(&self, closing: &Closing) {
        let Some((cause, figures)) = tallied(closing) else {
            return;
        };
        if let Err(e) = self
            .add_to_tally(closing.period, &closing.owner, cause, figures)
            .await
        {
            tracing::warn!(session_id = %closing.session_id, cause = cause.as_str(), error = %e, "the closed session was not added to the minutes tally");
        }
    }
}

/// Whether the close transaction holds [`PLACE_ITEM`]: the place is given back on the account
/// apart from where the minutes are booked.
fn releases_on_account(book: Book, place: Place) -> bool {
    book == Book::History && place == Place::Release
}

/// What a closing adds to its period's tally: one conversation under its cause, what Tavus ran
/// (from our creation, uncapped, as Tavus bills) and what was charged; `None` when no
/// conversation ran at Tavus.
fn tallied(closing: &Closing) -> Option<(Cause, CauseFigures)> {
    let created = closing.had_conversation || closing.record_conversation.is_some();
    let cause = closing_cause(
        closing.status,
        closing.reason,
        closing.nobody_joined,
        created,
    )?;
    let (ran, charged) = match cause {
        // Created already ended: nothing ran, nothing is charged.
        Cause::TestMode => (0, 0),
        _ => (
            charged_minutes(closing.created_at, closing.ended_at),
            closing.charged_minutes,
        ),
    };
    Some((
        cause,
        CauseFigures {
            conversations: 1,
            ran_minutes: i64::from(ran),
            charged_minutes: i64::from(charged),
        },
    ))
}

/// The answer to a close transaction that committed.
fn closed(closing: &Closing, book: Book, place: Place) -> Closed {
    tracing::info!(
        session_id = %closing.session_id,
        status = closing.status.as_str(),
        charged_minutes = closing.charged_minutes,
        into_history = book == Book::History,
        released_place = place == Place::Release,
        "session closed"
    );
    match book {
        Book::Account => Closed::IntoAccount,
        Book::History => Closed::IntoHistory,
    }
}

/// Reads a cancelled close item by item, in request order: the session first, then where the
/// minutes were booked, then the released place.
fn why_cancelled(
    closing: &Closing,
    outcomes: &[ItemOutcome],
    book: Book,
    place: Place,
) -> Result<Cancelled, LedgerError> {
    if let Some(ItemOutcome::ConditionFailed(stored)) = outcomes.get(SESSION_ITEM) {
        return session_refused(closing, stored.as_ref(), place);
    }
    if let Some(ItemOutcome::ConditionFailed(stored)) = outcomes.get(BOOKED_ITEM) {
        return booking_refused(closing, stored.as_ref(), book, place);
    }
    if releases_on_account(book, place)
        && let Some(ItemOutcome::ConditionFailed(_)) = outcomes.get(PLACE_ITEM)
    {
        return Ok(Cancelled::NoPlaceHeld);
    }
    if any_conflict(outcomes) {
        Ok(Cancelled::Raced)
    } else {
        Err(unexpected(outcomes))
    }
}

/// The session's condition failed: it is gone, already closed, holds no place, or is not the
/// session the caller describes.
fn session_refused(
    closing: &Closing,
    stored: Option<&Item>,
    place: Place,
) -> Result<Cancelled, LedgerError> {
    let Some(item) = stored else {
        return Err(LedgerError::SessionNotFound);
    };
    let stored = from_item::<SessionItem>(item.clone())?;
    let session = &stored.session;
    if !session.status.is_open() {
        return Ok(Cancelled::AlreadyClosed);
    }
    let described = session.period == closing.period
        && session.reserved_minutes == closing.reserved_minutes
        && closing
            .expect_conversation
            .as_ref()
            .is_none_or(|c| session.conversation_id.as_ref() == Some(c));
    if described && place == Place::Release && !stored.holds_open_place {
        // Opened before the cap existed: it took no place, it gives none back.
        return Ok(Cancelled::NoPlaceHeld);
    }
    Err(LedgerError::SessionMismatch(
        "the conversation, period or reservation differs from the session's",
    ))
}

/// The condition on where the minutes are booked failed: on the account, the account as it was
/// tells why; a history item must exist once the account has rolled over.
fn booking_refused(
    closing: &Closing,
    stored: Option<&Item>,
    book: Book,
    place: Place,
) -> Result<Cancelled, LedgerError> {
    if book == Book::History {
        return Err(LedgerError::CorruptItem(format!(
            "no history item for period {} although the account rolled over",
            closing.period
        )));
    }
    let account = match stored {
        Some(item) => from_item::<AccountItem>(item.clone())?.account,
        None => {
            return Err(LedgerError::CorruptItem(
                "a session's owner has no account".into(),
            ));
        }
    };
    if account.period > closing.period {
        return Ok(Cancelled::AccountRolledOver);
    }
    if account.period < closing.period {
        return Err(LedgerError::SessionMismatch(
            "the session's period is later than its account's",
        ));
    }
    if place == Place::Release && account.open_sessions < 1 {
        return Ok(Cancelled::NoPlaceHeld);
    }
    // The account changed between the write and its check: try again.
    Ok(Cancelled::Raced)
}

impl DynamoLedger {
    /// Marks the session closed and takes it out of the open-sessions index (or leaves it there,
    /// due when Tavus's copy is to be deleted), if it is still open with the period and
    /// reservation (and conversation) the caller names.
    fn close_session(&self, closing: &Closing, place: Place) -> Result<Update, LedgerError> {
        let mut condition =
            "#status IN (:pending, :active) AND period = :period AND reserved_minutes = :reserved"
                .to_owned();
        if place == Place::Release {
            // Only a session that took a place gives one back.
            condition.push_str(" AND holds_open_place = :held");
        }
        if closing.expect_conversation.is_some() {
            condition.push_str(" AND conversation_id = :cid");
        }
        let mut set = "SET #status = :closed, charged_minutes = :charged, ended_at = :ended, end_reason = :reason".to_owned();
        if closing.record_conversation.is_some() {
            // Only where no conversation is recorded: one recorded is the session's own.
            set.push_str(", conversation_id = if_not_exists(conversation_id, :created)");
        }
        let update_expression = match closing.delete_tavus_copy_at {
            Some(_) => format!("{set}, open_until = :delete_at"),
            None => format!("{set} REMOVE open_shard, open_until"),
        };
        let mut builder = Update::builder();
        for (name, value) in optional_values(closing) {
            builder = builder.expression_attribute_values(name, value);
        }
        let builder = builder
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
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        let builder = match place {
            Place::Release => {
                builder.expression_attribute_values(":held", AttributeValue::Bool(true))
            }
            Place::NotHeld => builder,
        };
        builder.build().map_err(bad_request)
    }

    /// Moves the reservation to used (charged minutes) on the account or on the history item;
    /// on the account, also gives back the session's place among the open ones.
    fn book_minutes(
        &self,
        closing: &Closing,
        book: Book,
        place: Place,
    ) -> Result<Update, LedgerError> {
        let charged = i64::from(closing.charged_minutes);
        let reserved = i64::from(closing.reserved_minutes);
        let builder = Update::builder()
            .table_name(&self.table)
            .expression_attribute_values(":charged", n(charged))
            .expression_attribute_values(":reserved", n(reserved));
        let (release, only_if_held) = match place {
            Place::Release => (
                ", open_sessions = open_sessions - :one",
                " AND open_sessions > :zero",
            ),
            Place::NotHeld => ("", ""),
        };
        let builder = match book {
            Book::Account => builder
                .set_key(Some(key(keys::user_pk(&closing.owner), keys::ACCOUNT_SK)))
                .update_expression(format!(
                    "SET used_minutes = used_minutes + :charged, reserved_minutes = reserved_minutes - :reserved, \
                     available_minutes = available_minutes + :released, updated_at = :now{release}"
                ))
                .condition_expression(format!("period = :period{only_if_held}"))
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
        let builder = match (book, place) {
            (Book::Account, Place::Release) => builder
                .expression_attribute_values(":one", n(1))
                .expression_attribute_values(":zero", n(0)),
            _ => builder,
        };
        builder.build().map_err(bad_request)
    }

    /// Gives back the place of a session booked into its period's history: the counter lives on
    /// the account, whatever period the account is in now.
    fn release_place(&self, closing: &Closing) -> Result<Update, LedgerError> {
        Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(keys::user_pk(&closing.owner), keys::ACCOUNT_SK)))
            .update_expression("SET open_sessions = open_sessions - :one")
            .condition_expression("open_sessions > :zero")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":zero", n(0))
            .build()
            .map_err(bad_request)
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
    if let Some(created) = &closing.record_conversation {
        values.push((":created".to_owned(), s(created.as_str())));
    }
    values
}

impl DynamoLedger {
    /// Records that Tavus's copy of a closed session's conversation is deleted (or is to be
    /// kept): the session leaves the open-sessions index.
    pub async fn tavus_copy_done(
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
            // Never for an open session, nor for one being erased: either would hide it from
            // the sweeper (an erasure waits in the same index for its recordings).
            .condition_expression("#status IN (:ended, :failed) AND attribute_not_exists(#erasing)")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#erasing", keys::ERASING)
            .expression_attribute_values(":ended", s(SessionStatus::Ended.as_str()))
            .expression_attribute_values(":failed", s(SessionStatus::Failed.as_str()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) => match err.as_service_error() {
                Some(aws_sdk_dynamodb::operation::update_item::UpdateItemError::ConditionalCheckFailedException(e)) => {
                    match e.item() {
                        None => Err(LedgerError::SessionNotFound),
                        // Being erased: the erasure deleted Tavus's copy first and finishes
                        // from the index; nothing is left to record.
                        Some(item) if item.contains_key(keys::ERASING) => Ok(()),
                        Some(_) => Err(LedgerError::SessionMismatch("the session is not closed")),
                    }
                }
                _ => Err(super::errors::unavailable(&err)),
            },
        }
    }
}
