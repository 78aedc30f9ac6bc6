//! Moving an account into the current period: archive the old period's totals in a history item
//! and start the new one, in one transaction conditioned on the totals that were read, so the
//! history is exact and the rollover happens exactly once however many requests race to do it.

use aws_sdk_dynamodb::types::{
    Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};
use chrono::{DateTime, Utc};

use super::errors::{ItemOutcome, TransactFailure, any_conflict, bad_request, unexpected};
use super::{DynamoLedger, MAX_ATTEMPTS, backoff, key, n, s, to_item};
use crate::LedgerError;
use crate::domain::{Account, Period, UserId};
use crate::store::RolledOver;
use crate::store::items::{PeriodHistory, PeriodHistoryItem};
use crate::store::keys;

/// The result of one try at rolling an account that was seen in an old period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RollAttempt {
    /// This call rolled it.
    Rolled,
    /// It was already current: nothing to do.
    AlreadyCurrent,
    /// The account changed since it was read (another rollover, a settlement, a reservation):
    /// read it again.
    Raced,
}

impl DynamoLedger {
    /// Moves an account still in an old period into the current one, exactly once.
    pub async fn roll_over(
        &self,
        user: &UserId,
        now: DateTime<Utc>,
    ) -> Result<RolledOver, LedgerError> {
        for attempt in 0..MAX_ATTEMPTS {
            let Some(account) = self.read_account(user).await? else {
                return Ok(RolledOver::NoAccount);
            };
            let from = account.period;
            match self.roll_over_from(&account, now).await? {
                RollAttempt::Rolled => {
                    return Ok(RolledOver::Rolled {
                        from,
                        to: Period::containing(now),
                    });
                }
                RollAttempt::AlreadyCurrent => return Ok(RolledOver::AlreadyCurrent),
                RollAttempt::Raced => backoff(attempt).await,
            }
        }
        Err(LedgerError::Contention {
            attempts: MAX_ATTEMPTS,
        })
    }
}

impl DynamoLedger {
    /// Rolls `seen` (the account as just read) into the period containing `now`, if it is older.
    /// One transaction: the account update holds only if the account still has exactly the
    /// totals that are archived, and the history item must not exist yet.
    pub async fn roll_over_from(
        &self,
        seen: &Account,
        now: DateTime<Utc>,
    ) -> Result<RollAttempt, LedgerError> {
        let to = Period::containing(now);
        if seen.period >= to {
            return Ok(RollAttempt::AlreadyCurrent);
        }
        let items = vec![
            TransactWriteItem::builder()
                .update(self.start_period(seen, to, now)?)
                .build(),
            TransactWriteItem::builder()
                .put(self.archive_period(seen, now)?)
                .build(),
        ];
        match self.transact(items).await {
            Ok(()) => {
                tracing::info!(from = %seen.period, to = %to, "account rolled over");
                Ok(RollAttempt::Rolled)
            }
            Err(failure) => roll_failed(seen, failure),
        }
    }

    /// Moves the account into period `to` with its plan's full allowance, if it still holds
    /// exactly the totals of `seen`.
    fn start_period(
        &self,
        seen: &Account,
        to: Period,
        now: DateTime<Utc>,
    ) -> Result<Update, LedgerError> {
        let next = seen.rolled_to(&self.plans, now);
        // The count of sessions is archived too, so it is a condition as well: a reservation
        // released since the read leaves every minute total as it was but one more session.
        let sessions_as_read = if seen.sessions == 0 {
            "(attribute_not_exists(sessions) OR sessions = :sessions)"
        } else {
            "sessions = :sessions"
        };
        Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(keys::user_pk(&seen.user_id), keys::ACCOUNT_SK)))
            .update_expression(
                "SET period = :to, limit_minutes = :limit, used_minutes = :zero, reserved_minutes = :zero, \
                 available_minutes = :limit, sessions = :zero, updated_at = :now",
            )
            .condition_expression(format!(
                "period = :from AND #plan = :plan AND limit_minutes = :old_limit \
                 AND used_minutes = :used AND reserved_minutes = :reserved AND {sessions_as_read}"
            ))
            .expression_attribute_names("#plan", "plan")
            .expression_attribute_values(":to", s(to.to_string()))
            .expression_attribute_values(":from", s(seen.period.to_string()))
            .expression_attribute_values(":limit", n(next.limit_minutes))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":now", s(now.to_rfc3339()))
            .expression_attribute_values(":plan", s(seen.plan.as_str()))
            .expression_attribute_values(":old_limit", n(seen.limit_minutes))
            .expression_attribute_values(":used", n(seen.used_minutes))
            .expression_attribute_values(":reserved", n(seen.reserved_minutes))
            .expression_attribute_values(":sessions", n(seen.sessions))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::None)
            .build()
            .map_err(bad_request)
    }

    /// Writes the old period's totals (those of `seen`) to its history item, which must not
    /// exist yet.
    fn archive_period(&self, seen: &Account, now: DateTime<Utc>) -> Result<Put, LedgerError> {
        let history = PeriodHistory {
            user_id: seen.user_id.clone(),
            period: seen.period,
            plan: seen.plan,
            limit_minutes: seen.limit_minutes,
            used_minutes: seen.used_minutes,
            open_reserved_minutes: seen.reserved_minutes,
            late_settlements: 0,
            sessions: seen.sessions,
            closed_at: now,
        };
        Put::builder()
            .table_name(&self.table)
            .set_item(Some(to_item(&PeriodHistoryItem::new(history))?))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(bad_request)
    }
}

/// What a rollover transaction that did not commit means: the account moved on since it was
/// read (read it again), or the items contradict each other.
fn roll_failed(seen: &Account, failure: TransactFailure) -> Result<RollAttempt, LedgerError> {
    match failure {
        TransactFailure::Conflict => Ok(RollAttempt::Raced),
        TransactFailure::Failed(e) => Err(e),
        TransactFailure::Cancelled(outcomes) => match outcomes.as_slice() {
            [ItemOutcome::ConditionFailed(_), _] => Ok(RollAttempt::Raced),
            _ if any_conflict(&outcomes) => Ok(RollAttempt::Raced),
            [ItemOutcome::Fine, ItemOutcome::ConditionFailed(_)] => {
                Err(LedgerError::CorruptItem(format!(
                    "the history of {} already exists but the account is still in that period",
                    seen.period
                )))
            }
            _ => Err(unexpected(&outcomes)),
        },
    }
}
