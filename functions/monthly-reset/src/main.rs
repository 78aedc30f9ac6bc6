//! Lambda `monthly-reset`: on the 1st of each month (repeated during its first hours, to
//! continue a run that ran out of time) rolls every account still in an old period
//! (`awaknow_core::reset`). A composition root: configuration, clients, serve.

#![deny(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use awaknow_core::config::ResetConfig;
use awaknow_core::startup::{self, Startup};
use lambda_runtime::{Error, run_concurrent, service_fn};

// Multi-thread, unlike the other functions: one reset invocation keeps hundreds of accounts in
// flight and is CPU-bound on the SDK's work, which a larger memory size's second vCPU shares.
#[tokio::main]
async fn main() -> Result<(), Error> {
    awaknow_core::telemetry::init_json_logs();
    // With AWAKNOW_CHECK_CONFIG=1 the function exits here, before the Lambda runtime starts.
    let Startup { config, sdk } = startup::load(env!("CARGO_BIN_NAME"), ResetConfig::from_env)?;
    let job = Arc::new(awaknow_core::wiring::reset_job(&sdk, &config));
    run_concurrent(service_fn(move |event| {
        let job = Arc::clone(&job);
        async move { job.run(event).await }
    }))
    .await
}
