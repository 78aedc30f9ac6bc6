//! `sweep-sessions`: every 15 minutes, settles what stayed open too long, deletes Tavus's copies
//! of settled conversations, and ends conversations no session holds (see
//! `awaknow_core::sweep`). The event is the schedule's; its content does not matter.

use std::time::{Duration, Instant};

use awaknow_core::api::sessions::WebhookKey;
use awaknow_core::store::{
    CloseSession, FindOpenSessions, ForgetTavusCopy, GetSession, ReadTranscript, StoreTranscript,
};
use awaknow_core::sweep::{SweepOptions, SweepReport, sweep};
use awaknow_core::tavus::{
    DeleteConversation, EndConversation, GetConversation, ListConversations,
};
use lambda_runtime::LambdaEvent;
use serde_json::Value;

pub struct App<L, T, K> {
    pub ledger: L,
    pub tavus: T,
    /// The webhook signing key: it tells our conversations from other deployments'.
    pub keys: K,
    pub options: SweepOptions,
}

/// Time kept back from the invocation deadline to report.
const MARGIN: Duration = Duration::from_secs(10);

fn deadline(context_deadline_ms: u64) -> Instant {
    // No real deadline (a local invocation): five minutes, the function's timeout.
    awaknow_core::lambda::deadline(context_deadline_ms, MARGIN, Duration::from_secs(290))
}

pub async fn handle<L, T, K>(
    app: &App<L, T, K>,
    event: LambdaEvent<Value>,
) -> Result<SweepReport, std::convert::Infallible>
where
    L: FindOpenSessions
        + CloseSession
        + GetSession
        + ReadTranscript
        + StoreTranscript
        + ForgetTavusCopy
        + Sync,
    T: GetConversation + EndConversation + DeleteConversation + ListConversations + Sync,
    K: WebhookKey + Sync,
{
    let deadline = deadline(event.context.deadline);
    Ok(sweep(
        &app.ledger,
        &app.tavus,
        &app.keys,
        app.options,
        chrono::Utc::now(),
        deadline,
    )
    .await)
}
