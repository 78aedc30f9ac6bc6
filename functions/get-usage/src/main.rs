//! Lambda `get-usage`: composition root. Only the DynamoDB client and the authenticator.

use get_usage::{App, handle};
use lambda_http::{Error, run, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    awaknow_core::telemetry::init_json_logs();
    let sdk = awaknow_core::aws::sdk_config().await;
    let app = App {
        ledger: awaknow_core::build::ledger(&sdk)?,
        auth: awaknow_core::build::authenticator()?,
    };
    run(service_fn(|request| handle(&app, request))).await
}
