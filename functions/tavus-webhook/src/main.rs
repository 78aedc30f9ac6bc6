//! Lambda `tavus-webhook`: composition root. The DynamoDB client and the secret cache (for the
//! webhook signing key) are built once per execution environment.

use std::sync::Arc;

use awaknow_core::build;
use lambda_http::{Error, run_concurrent, service_fn};
use tavus_webhook::{App, handle};

#[tokio::main]
async fn main() -> Result<(), Error> {
    awaknow_core::telemetry::init_json_logs();
    let sdk = awaknow_core::aws::sdk_config().await;
    let secrets = build::secrets(&sdk)?;
    let tavus = build::tavus(&secrets)?;
    let app = App {
        ledger: build::ledger(&sdk)?,
        delete_after_call: tavus.delete_after_call(),
        tavus,
        keys: secrets,
        recordings: build::recording_target()?,
    };
    let app = Arc::new(app);
    run_concurrent(service_fn(move |request| {
        let app = Arc::clone(&app);
        async move { handle(&app, request).await }
    }))
    .await
}
