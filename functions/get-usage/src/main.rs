//! Lambda `get-usage`: composition root. The DynamoDB client, the authenticator and the
//! recordings bucket's S3 client (for signing playback links).

use std::sync::Arc;

use get_usage::{App, handle};
use lambda_http::{Error, run_concurrent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    awaknow_core::telemetry::init_json_logs();
    let sdk = awaknow_core::aws::sdk_config().await;
    let app = App {
        ledger: awaknow_core::build::ledger(&sdk)?,
        auth: awaknow_core::build::authenticator()?,
        recordings: awaknow_core::build::recordings(&sdk)?,
    };
    let app = Arc::new(app);
    run_concurrent(service_fn(move |request| {
        let app = Arc::clone(&app);
        async move { handle(&app, request).await }
    }))
    .await
}
