//! Lambda `tavus-webhook`: composition root. The DynamoDB client and the secret cache (for the
//! webhook signing key) are built once per execution environment.

use awaknow_core::build;
use lambda_http::{Error, run, service_fn};
use tavus_webhook::{App, handle};

#[tokio::main]
async fn main() -> Result<(), Error> {
    awaknow_core::telemetry::init_json_logs();
    let sdk = awaknow_core::aws::sdk_config().await;
    let app = App {
        ledger: build::ledger(&sdk)?,
        keys: build::secrets(&sdk)?,
    };
    run(service_fn(|request| handle(&app, request))).await
}
