//! Translates a set-plan invocation into one ledger call.

use awaknow_core::LedgerError;
use awaknow_core::domain::{Account, PlanId, UserId};
use awaknow_core::store::ChangePlan;
use lambda_runtime::{Diagnostic, LambdaEvent};
use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetPlan {
    pub user_id: String,
    pub plan: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SetPlanError {
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

impl From<SetPlanError> for Diagnostic {
    fn from(e: SetPlanError) -> Diagnostic {
        let error_type = match &e {
            SetPlanError::InvalidRequest(_) => "InvalidRequest",
            SetPlanError::Ledger(LedgerError::Unavailable(_) | LedgerError::Contention { .. }) => {
                "Retryable"
            }
            SetPlanError::Ledger(_) => "LedgerError",
        };
        Diagnostic {
            error_type: error_type.into(),
            error_message: e.to_string(),
        }
    }
}

pub async fn set_plan(
    ledger: &impl ChangePlan,
    event: LambdaEvent<Value>,
) -> Result<Account, SetPlanError> {
    let request: SetPlan = serde_json::from_value(event.payload)
        .map_err(|e| SetPlanError::InvalidRequest(e.to_string()))?;
    let user = UserId::parse(&request.user_id)
        .map_err(|e| SetPlanError::InvalidRequest(format!("user_id: {e}")))?;
    let plan: PlanId = request
        .plan
        .parse()
        .map_err(|e| SetPlanError::InvalidRequest(format!("plan: {e}")))?;
    let account = ledger.change_plan(&user, plan, chrono::Utc::now()).await?;
    tracing::info!(plan = %account.plan, "plan set");
    Ok(account)
}
