//! Lambda `sweep-sessions`: composition root. `SWEEP_GRACE_MINUTES` (default 10) is how long
//! past its reservation a session may stay open before it is swept.

use std::sync::Arc;

use awaknow_core::build;
use lambda_runtime::{Error, run_concurrent, service_fn};
use sweep_sessions::{App, handle};

#[tokio::main]
async fn main() -> Result<(), Error> {
    awaknow_core::telemetry::init_json_logs();
    let sdk = awaknow_core::aws::sdk_config().await;
    let secrets = build::secrets(&sdk)?;
    let grace = match std::env::var("SWEEP_GRACE_MINUTES") {
        Ok(m) => m
            .trim()
            .parse::<i64>()
            .map_err(|_| "SWEEP_GRACE_MINUTES must be whole minutes")?,
        Err(_) => 10,
    };
    let app = App {
        ledger: build::ledger(&sdk)?,
        tavus: build::tavus(&secrets)?,
        grace: chrono::Duration::minutes(grace),
    };
    let app = Arc::new(app);
    run_concurrent(service_fn(move |event| {
        let app = Arc::clone(&app);
        async move { handle(&app, event).await }
    }))
    .await
}
