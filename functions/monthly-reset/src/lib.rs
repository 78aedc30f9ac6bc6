//! `monthly-reset`: on the 1st of each month (and repeated during its first hours, to continue a
//! run that ran out of time) rolls every account still in an old period; see
//! `awaknow_core::reset`.

use std::time::{Duration, Instant};

use awaknow_core::reset::{ResetOptions, ResetReport, reset};
use awaknow_core::store::DynamoLedger;
use lambda_runtime::LambdaEvent;
use serde_json::Value;

pub struct App {
    pub ledger: DynamoLedger,
    pub options: ResetOptions,
}

/// Time kept back from the invocation deadline to finish the requests in flight and report.
const MARGIN: Duration = Duration::from_secs(20);

fn deadline(context_deadline_ms: u64) -> Instant {
    // No real deadline (a local invocation): Lambda's longest, 15 minutes.
    awaknow_core::lambda::deadline(context_deadline_ms, MARGIN, Duration::from_secs(880))
}

/// The event is the schedule's input: `{}` for every shard, or `{"shards": [0, 1, ...]}` for a
/// share of them when several invocations split the work.
pub async fn handle(
    app: &App,
    event: LambdaEvent<Value>,
) -> Result<ResetReport, lambda_runtime::Diagnostic> {
    let mut options = app.options.clone();
    if let Some(shards) = event.payload.get("shards") {
        options.shards =
            serde_json::from_value(shards.clone()).map_err(|e| lambda_runtime::Diagnostic {
                error_type: "InvalidRequest".into(),
                error_message: format!("shards: a list of shard numbers ({e})"),
            })?;
    }
    Ok(reset(
        &app.ledger,
        chrono::Utc::now(),
        deadline(event.context.deadline),
        &options,
    )
    .await)
}
