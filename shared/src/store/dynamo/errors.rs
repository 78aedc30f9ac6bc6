//! Turning SDK failures into ledger errors: the cancellation reasons of a transaction are read
//! one by one, in request order, so the caller knows exactly which condition failed.

use aws_sdk_dynamodb::error::{BuildError, DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::CancellationReason;

use crate::LedgerError;
use crate::store::items::Item;

/// Why one item of a cancelled transaction did not commit.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ItemOutcome {
    /// Its condition held; the transaction failed because of another item.
    Fine,
    /// Its condition failed; the item as it was, if it existed.
    ConditionFailed(Option<Item>),
    /// Another writer touched it at the same time, or it was throttled: retry.
    Conflict,
    /// Something else (throttling, validation); carries DynamoDB's code and message.
    Other(String),
}

impl ItemOutcome {
    fn from_reason(reason: &CancellationReason) -> ItemOutcome {
        match reason.code() {
            None | Some("None") => ItemOutcome::Fine,
            Some("ConditionalCheckFailed") => ItemOutcome::ConditionFailed(reason.item().cloned()),
            // Both clear up on their own: back off and try again.
            Some("TransactionConflict" | "ThrottlingError" | "ProvisionedThroughputExceeded") => {
                ItemOutcome::Conflict
            }
            Some(code) => ItemOutcome::Other(format!("{code}: {}", reason.message().unwrap_or(""))),
        }
    }
}

/// The result of a transaction that did not commit.
#[derive(Debug)]
pub(crate) enum TransactFailure {
    /// Cancelled: one outcome per item, in request order.
    Cancelled(Vec<ItemOutcome>),
    /// Another transaction with the same items was in flight, or the request conflicted: retry.
    Conflict,
    /// DynamoDB failed or could not be reached after the SDK's retries.
    Failed(LedgerError),
}

impl TransactFailure {
    pub(crate) fn from_sdk(err: SdkError<TransactWriteItemsError>) -> TransactFailure {
        match err.as_service_error() {
            Some(TransactWriteItemsError::TransactionCanceledException(e)) => {
                let outcomes: Vec<ItemOutcome> = e
                    .cancellation_reasons()
                    .iter()
                    .map(ItemOutcome::from_reason)
                    .collect();
                if outcomes.is_empty() {
                    TransactFailure::Failed(unavailable(&err))
                } else {
                    TransactFailure::Cancelled(outcomes)
                }
            }
            Some(TransactWriteItemsError::TransactionInProgressException(_)) => {
                TransactFailure::Conflict
            }
            _ => TransactFailure::Failed(unavailable(&err)),
        }
    }
}

/// A failure of DynamoDB itself, with the whole error chain (the plain `Display` of an
/// `SdkError` is only "service error").
pub(crate) fn unavailable<E, R>(err: &SdkError<E, R>) -> LedgerError
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    LedgerError::Unavailable(DisplayErrorContext(err).to_string())
}

/// A request this code built wrongly: a bug, reported rather than panicking.
pub(crate) fn bad_request(err: BuildError) -> LedgerError {
    LedgerError::Unavailable(format!("could not build the DynamoDB request: {err}"))
}

/// Whether any item of a cancelled transaction collided with another writer.
pub(crate) fn any_conflict(outcomes: &[ItemOutcome]) -> bool {
    outcomes.iter().any(|o| matches!(o, ItemOutcome::Conflict))
}

/// The first unexpected reason, as an error.
pub(crate) fn unexpected(outcomes: &[ItemOutcome]) -> LedgerError {
    let detail = outcomes
        .iter()
        .find_map(|o| match o {
            ItemOutcome::Other(m) => Some(m.clone()),
            _ => None,
        })
        .unwrap_or_else(|| format!("transaction cancelled: {outcomes:?}"));
    LedgerError::Unavailable(detail)
}
