//! Lambda `audit`: once a day, reads the ledger against Tavus and the recordings bucket and
//! counts what disagrees (`awaknow_core::service::audit`), read-only. A composition root:
//! configuration, clients, serve.

#![deny(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use awaknow_core::config::AuditConfig;
use awaknow_core::startup::{self, Startup};
use lambda_runtime::{Error, run_concurrent, service_fn};

fn main() -> Result<(), Error> {
    awaknow_core::runtime::for_invocations()?.block_on(serve())
}

async fn serve() -> Result<(), Error> {
    awaknow_core::telemetry::init_json_logs();
    // With AWAKNOW_CHECK_CONFIG=1 the function exits here, before the Lambda runtime starts.
    let Startup { config, sdk } = startup::load(env!("CARGO_BIN_NAME"), AuditConfig::from_env)?;
    let job = Arc::new(awaknow_core::wiring::audit_job(&sdk, &config));
    run_concurrent(service_fn(move |event| {
        let job = Arc::clone(&job);
        async move { job.run(event).await }
    }))
    .await
}
