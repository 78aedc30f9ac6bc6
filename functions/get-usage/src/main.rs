//! Lambda `get-usage`: `GET /usage`, `GET /usage/history`, `GET /sessions`, `GET /sessions/{id}` and the session's transcript and notes: the reads.
//! A composition root: the routes, their handlers and the HTTP shell are in the core crate
//! (`awaknow_core::api`); this binary reads its configuration, builds its clients once per
//! execution environment and serves.

#![deny(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use awaknow_core::api::routes::Function;
use awaknow_core::api::shell;
use awaknow_core::config::HttpConfig;
use awaknow_core::startup::{self, Startup};
use lambda_http::{Error, run_concurrent, service_fn};

const FUNCTION: Function = Function::GetUsage;

fn main() -> Result<(), Error> {
    awaknow_core::runtime::for_invocations()?.block_on(serve())
}

async fn serve() -> Result<(), Error> {
    awaknow_core::telemetry::init_json_logs();
    // With AWAKNOW_CHECK_CONFIG=1 the function exits here, before the Lambda runtime starts.
    let Startup { config, sdk } =
        startup::load(env!("CARGO_BIN_NAME"), || HttpConfig::from_env(FUNCTION))?;
    let app = Arc::new(awaknow_core::wiring::http_app(&sdk, &config));
    run_concurrent(service_fn(move |request| {
        let app = Arc::clone(&app);
        async move { shell::handle(&app, FUNCTION, request).await }
    }))
    .await
}
