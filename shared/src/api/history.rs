//! `GET /usage/history?limit=`: usage by period, newest first, the current period included.

use chrono::{DateTime, Utc};

use super::ApiError;
use super::request;
use super::views::UsageHistoryView;
use crate::domain::UserId;
use crate::store::DynamoLedger;

pub async fn usage_history(
    ledger: &DynamoLedger,
    user: &UserId,
    limit: Option<&str>,
    now: DateTime<Utc>,
) -> Result<UsageHistoryView, ApiError> {
    let limit = request::history_limit(limit)?;
    let periods = ledger.usage_history(user, now, limit).await?;
    Ok(UsageHistoryView {
        periods: periods.into_iter().map(Into::into).collect(),
    })
}
