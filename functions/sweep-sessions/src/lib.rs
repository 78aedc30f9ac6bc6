//! `sweep-sessions`: every 15 minutes, settles what stayed open too long (see
//! `awaknow_core::sweep`). The event is the schedule's; its content does not matter.

use std::time::{Duration, Instant};

use awaknow_core::store::{CloseSession, FindOpenSessions};
use awaknow_core::sweep::{SweepReport, sweep};
use awaknow_core::tavus::{EndConversation, GetConversation};
use lambda_runtime::LambdaEvent;
use serde_json::Value;

pub struct App<L, T> {
    pub ledger: L,
    pub tavus: T,
    /// How long past its reservation a session may stay open before it is swept.
    pub grace: chrono::Duration,
}

/// Time kept back from the invocation deadline to report.
const MARGIN: Duration = Duration::from_secs(10);

fn deadline(context_deadline_ms: u64) -> Instant {
    // No real deadline (a local invocation): five minutes, the function's timeout.
    awaknow_core::lambda::deadline(context_deadline_ms, MARGIN, Duration::from_secs(290))
}

pub async fn handle<L, T>(
    app: &App<L, T>,
    event: LambdaEvent<Value>,
) -> Result<SweepReport, std::convert::Infallible>
where
    L: FindOpenSessions + CloseSession + Sync,
    T: GetConversation + EndConversation + Sync,
{
    let deadline = deadline(event.context.deadline);
    Ok(sweep(
        &app.ledger,
        &app.tavus,
        chrono::Utc::now(),
        app.grace,
        deadline,
    )
    .await)
}
