//! Moving an account to another plan: the limit changes and the available minutes shift by the
//! difference, conditioned on the plan that was read. The shift is applied by the update itself
//! (`available + :delta`), so reservations racing the change keep `available = limit - used -
//! reserved` exact. A downgrade can leave the account overdrawn until the reset.

use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::ReturnValue;
use chrono::{DateTime, Utc};

use super::errors::unavailable;
use super::{DynamoLedger, MAX_ATTEMPTS, backoff, from_item, key, n, s};
use crate::LedgerError;
use crate::domain::{Account, Period, PlanId, UserId};
use crate::store::items::AccountItem;
use crate::store::keys;

use super::rollover::RollAttempt;

impl DynamoLedger {
    /// Moves the account to `plan`, shifting its available minutes by the change of limit.
    pub async fn change_plan(
        &self,
        user: &UserId,
        plan: PlanId,
        now: DateTime<Utc>,
    ) -> Result<Account, LedgerError> {
        for attempt in 0..MAX_ATTEMPTS {
            let account = match self.read_account(user).await? {
                Some(account) => account,
                None => self.ensure_account(user, now).await?,
            };
            if account.period < Period::containing(now) {
                if self.roll_over_from(&account, now).await? == RollAttempt::Raced {
                    backoff(attempt).await;
                }
                continue;
            }
            let new_limit = i64::from(self.plans.monthly_minutes(plan));
            if account.plan == plan && account.limit_minutes == new_limit {
                return Ok(account);
            }
            match self
                .write_plan(user, &account, plan, new_limit, now)
                .await?
            {
                Some(updated) => return Ok(updated),
                // Another plan change or a rollover got there first: read again.
                None => backoff(attempt).await,
            }
        }
        Err(LedgerError::Contention {
            attempts: MAX_ATTEMPTS,
        })
    }

    /// Moves `account` (as just read) to `plan` with `new_limit`: the account as updated, or
    /// `None` when its plan, limit or period changed since the read.
    async fn write_plan(
        &self,
        user: &UserId,
        account: &Account,
        plan: PlanId,
        new_limit: i64,
        now: DateTime<Utc>,
    ) -> Result<Option<Account>, LedgerError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(keys::user_pk(user), keys::ACCOUNT_SK)))
            .update_expression(
                "SET #plan = :plan, limit_minutes = :limit, available_minutes = available_minutes + :delta, updated_at = :now",
            )
            .condition_expression("#plan = :old_plan AND limit_minutes = :old_limit AND period = :period")
            .expression_attribute_names("#plan", "plan")
            .expression_attribute_values(":plan", s(plan.as_str()))
            .expression_attribute_values(":limit", n(new_limit))
            .expression_attribute_values(":delta", n(new_limit - account.limit_minutes))
            .expression_attribute_values(":now", s(now.to_rfc3339()))
            .expression_attribute_values(":old_plan", s(account.plan.as_str()))
            .expression_attribute_values(":old_limit", n(account.limit_minutes))
            .expression_attribute_values(":period", s(account.period.to_string()))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(output) => {
                let item = output.attributes.ok_or_else(|| {
                    LedgerError::CorruptItem("updated account was not returned".into())
                })?;
                let updated = from_item::<AccountItem>(item)?.account;
                tracing::info!(from = %account.plan, to = %plan, "plan changed");
                Ok(Some(updated))
            }
            Err(err) => match err.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(_)) => Ok(None),
                _ => Err(unavailable(&err)),
            },
        }
    }
}
