//! Lambda `sweep-sessions`: every 15 minutes, settles what stayed open too long, deletes Tavus's
//! copies of settled conversations and ends conversations no session holds
//! (`awaknow_core::sweep`). A composition root: configuration, clients, serve.

#![deny(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use awaknow_core::config::SweepConfig;
use awaknow_core::startup::{self, Startup};
use lambda_runtime::{Error, run_concurrent, service_fn};

fn main() -> Result<(), Error> {
    awaknow_core::runtime::for_invocations()?.block_on(serve())
}

async fn serve() -> Result<(), Error> {
    awaknow_core::telemetry::init_json_logs();
    // With AWAKNOW_CHECK_CONFIG=1 the function exits here, before the Lambda runtime starts.
    let Startup { config, sdk } = startup::load(env!("CARGO_BIN_NAME"), SweepConfig::from_env)?;
    let job = Arc::new(awaknow_core::wiring::sweep_job(&sdk, &config));
    run_concurrent(service_fn(move |event| {
        let job = Arc::clone(&job);
        async move { job.run(event).await }
    }))
    .await
}
