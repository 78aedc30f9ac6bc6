//! `sweep-sessions`: every 15 minutes, settles what stayed open too long, deletes Tavus's copies
//! of settled conversations, ends conversations no session holds (see `awaknow_core::sweep`),
//! and finishes erasures whose recordings could not be deleted at first
//! (`awaknow_core::api::recording::finish_erasures`). The event is the schedule's; its content
//! does not matter.

use std::time::{Duration, Instant};

use awaknow_core::api::recording::finish_erasures;
use awaknow_core::api::sessions::WebhookKey;
use awaknow_core::recordings::Recordings;
use awaknow_core::store::DynamoLedger;
use awaknow_core::sweep::{SweepOptions, SweepReport, sweep};
use awaknow_core::tavus::{
    DeleteConversation, EndConversation, GetConversation, ListConversations,
};
use lambda_runtime::LambdaEvent;
use serde_json::Value;

pub struct App<T, K> {
    pub ledger: DynamoLedger,
    pub tavus: T,
    /// The webhook signing key: it tells our conversations from other deployments'.
    pub keys: K,
    pub options: SweepOptions,
    /// The recordings bucket: erasures whose recordings were not deleted at first are finished.
    pub recordings: Option<Recordings>,
}

/// Time kept back from the invocation deadline to report.
const MARGIN: Duration = Duration::from_secs(10);

fn deadline(context_deadline_ms: u64) -> Instant {
    // No real deadline (a local invocation): five minutes, the function's timeout.
    awaknow_core::lambda::deadline(context_deadline_ms, MARGIN, Duration::from_secs(290))
}

pub async fn handle<T, K>(
    app: &App<T, K>,
    event: LambdaEvent<Value>,
) -> Result<SweepReport, std::convert::Infallible>
where
    T: GetConversation + EndConversation + DeleteConversation + ListConversations + Sync,
    K: WebhookKey + Sync,
{
    let deadline = deadline(event.context.deadline);
    let now = chrono::Utc::now();
    let mut report = sweep(
        &app.ledger,
        &app.tavus,
        &app.keys,
        app.options,
        now,
        deadline,
    )
    .await;
    let erasures = finish_erasures(&app.ledger, app.recordings.as_ref(), now, deadline).await;
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
    Ok(report)
}
