//! `sweep-sessions`: every 15 minutes, settles what stayed open too long (see
//! `awaknow_core::sweep`). The event is the schedule's; its content does not matter.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

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

pub fn deadline(context_deadline_ms: u64) -> Instant {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    match u128::from(context_deadline_ms).checked_sub(now_ms) {
        Some(left) if left > 0 => {
            Instant::now()
                + Duration::from_millis(u64::try_from(left).unwrap_or(u64::MAX))
                    .saturating_sub(MARGIN)
        }
        // No real deadline (a local invocation): five minutes, the function's timeout.
        _ => Instant::now() + Duration::from_secs(290),
    }
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
