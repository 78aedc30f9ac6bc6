//! Lambda `create-session`: composition root. The SDK clients, the secret cache, the Tavus client
//! and the authenticator are built once per execution environment.

use std::sync::Arc;

use awaknow_core::build;
use create_session::{App, handle};
use lambda_http::{Error, run_concurrent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    awaknow_core::telemetry::init_json_logs();
    let sdk = awaknow_core::aws::sdk_config().await;
    let secrets = build::secrets(&sdk)?;
    let app = App {
        ledger: build::ledger(&sdk)?,
        tavus: build::tavus_for_create(&secrets)?,
        keys: Arc::clone(&secrets),
        auth: build::authenticator()?,
        public_url: build::public_url(),
        recordings: build::recordings(&sdk)?,
    };
    let app = Arc::new(app);
    run_concurrent(service_fn(move |request| {
        let app = Arc::clone(&app);
        async move { handle(&app, request).await }
    }))
    .await
}
