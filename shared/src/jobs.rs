//! The functions that are not HTTP: each turns its Lambda event into one call of the core, as
//! the API's handlers do for routes. sweep-sessions, monthly-reset and audit ([`audit`]) run on
//! schedules; set-plan is invoked directly by the billing system or an operator.

use std::convert::Infallible;
use std::time::{Duration, Instant};

use lambda_http::lambda_runtime::{Diagnostic, LambdaEvent};
use serde::Deserialize;
use serde_json::Value;

use crate::LedgerError;
use crate::deadline::deadline;
use crate::domain::{Account, PlanId, UserId};
use crate::metrics::emit;
use crate::recording_bucket::Recordings;
use crate::service::account_deletion::{DeletionContext, finish_deletions};
use crate::service::erase::finish_erasures;
use crate::service::reset::{ResetOptions, ResetReport, reset};
use crate::service::sweep::{SweepOptions, SweepReport, sweep};
use crate::store::DynamoLedger;
use crate::tavus::Tavus;

pub(crate) mod audit;

pub use audit::{AuditJob, AuditSummary, CheckSummary, shard_sample};

/// sweep-sessions: every 15 minutes, the sweep, then the erasures waiting for their
/// recordings, then the account deletions cut short; the schedule's event carries nothing it
/// uses.
pub struct SweepJob {
    pub ledger: DynamoLedger,
    pub tavus: Tavus,
    pub options: SweepOptions,
    /// Erasures whose recordings could not be deleted at first are finished here.
    pub recordings: Option<Recordings>,
}

impl SweepJob {
    /// Time kept back from the invocation deadline to report.
    const MARGIN: Duration = Duration::from_secs(10);
    /// Without a real deadline (a local invocation): five minutes, the function's timeout.
    const FALLBACK: Duration = Duration::from_secs(290);

    pub async fn run(&self, event: LambdaEvent<Value>) -> Result<SweepReport, Infallible> {
        let deadline = deadline(event.context.deadline, Self::MARGIN, Self::FALLBACK);
        let keys = self.tavus.secrets();
        let now = chrono::Utc::now();
        let mut report = sweep(&self.ledger, &self.tavus, keys, self.options, now, deadline).await;
        let recordings = self.recordings.as_ref();
        let erasures = finish_erasures(&self.ledger, recordings, now, deadline).await;
        report.recording_erasures_finished = erasures.finished;
        report.failed += erasures.failed;
        report.complete &= erasures.complete;
        if erasures.finished + erasures.failed > 0 {
            tracing::info!(
                finished = erasures.finished,
                failed = erasures.failed,
                "erasures waiting for recordings"
            );
        }
        let cx = DeletionContext {
            ledger: &self.ledger,
            tavus: &self.tavus,
            recordings,
            now,
            deadline,
        };
        let deletions = finish_deletions(cx).await;
        report.account_deletions_finished = deletions.finished;
        report.failed += deletions.unfinished;
        report.complete &= deletions.complete;
        if deletions.finished + deletions.unfinished > 0 {
            tracing::info!(
                finished = deletions.finished,
                unfinished = deletions.unfinished,
                "account deletions cut short"
            );
        }
        // Counted once everything is done: the erasures and deletions are in it too.
        emit::sweep_finished(&report.outcomes(), report.orphans_ended, report.complete);
        Ok(report)
    }
}

/// monthly-reset: `{}` for every shard, or `{"shards": [0, 1, ...]}` for a share of them when
/// several invocations split the work.
pub struct ResetJob {
    pub ledger: DynamoLedger,
    pub options: ResetOptions,
}

impl ResetJob {
    /// Time kept back from the invocation deadline to finish the requests in flight and report.
    const MARGIN: Duration = Duration::from_secs(20);
    /// Without a real deadline (a local invocation): Lambda's longest, 15 minutes.
    const FALLBACK: Duration = Duration::from_secs(880);

    pub async fn run(&self, event: LambdaEvent<Value>) -> Result<ResetReport, Diagnostic> {
        let mut options = self.options.clone();
        if let Some(shards) = event.payload.get("shards") {
            options.shards = serde_json::from_value(shards.clone()).map_err(|e| Diagnostic {
                error_type: "InvalidRequest".into(),
                error_message: format!("shards: a list of shard numbers ({e})"),
            })?;
        }
        let deadline: Instant = deadline(event.context.deadline, Self::MARGIN, Self::FALLBACK);
        Ok(reset(&self.ledger, chrono::Utc::now(), deadline, &options).await)
    }
}

/// set-plan's event: `{"user_id": "...", "plan": "reflect_plus"}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SetPlan {
    user_id: String,
    plan: String,
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

/// set-plan: moves one account to a plan.
pub struct SetPlanJob {
    pub ledger: DynamoLedger,
}

impl SetPlanJob {
    pub async fn run(&self, event: LambdaEvent<Value>) -> Result<Account, SetPlanError> {
        let request: SetPlan = serde_json::from_value(event.payload)
            .map_err(|e| SetPlanError::InvalidRequest(e.to_string()))?;
        let user = UserId::parse(&request.user_id)
            .map_err(|e| SetPlanError::InvalidRequest(format!("user_id: {e}")))?;
        let plan: PlanId = request
            .plan
            .parse()
            .map_err(|e| SetPlanError::InvalidRequest(format!("plan: {e}")))?;
        let account = self
            .ledger
            .change_plan(&user, plan, chrono::Utc::now())
            .await?;
        tracing::info!(plan = %account.plan, "plan set");
        Ok(account)
    }
}
