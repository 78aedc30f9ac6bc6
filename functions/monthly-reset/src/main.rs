//! Lambda `monthly-reset`: composition root. `RESET_SHARD_CONCURRENCY` (16) and
//! `RESET_ACCOUNT_CONCURRENCY` (8 per shard) bound the requests in flight.

use std::sync::Arc;

use awaknow_core::reset::ResetOptions;
use lambda_runtime::{Error, run_concurrent, service_fn};
use monthly_reset::{App, handle};

fn number(var: &str, default: usize) -> Result<usize, Error> {
    match std::env::var(var) {
        Ok(v) => v
            .trim()
            .parse()
            .map_err(|_| format!("{var} must be a whole number").into()),
        Err(_) => Ok(default),
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    awaknow_core::telemetry::init_json_logs();
    let sdk = awaknow_core::aws::sdk_config().await;
    let defaults = ResetOptions::default();
    let app = App {
        ledger: awaknow_core::build::ledger(&sdk)?,
        options: ResetOptions {
            shard_concurrency: number("RESET_SHARD_CONCURRENCY", defaults.shard_concurrency)?,
            account_concurrency: number("RESET_ACCOUNT_CONCURRENCY", defaults.account_concurrency)?,
            ..defaults
        },
    };
    let app = Arc::new(app);
    run_concurrent(service_fn(move |event| {
        let app = Arc::clone(&app);
        async move { handle(&app, event).await }
    }))
    .await
}
