//! Lambda `set-plan`: invoked directly by the billing system or an operator with
//! `{"user_id": "...", "plan": "reflect_plus"}`. Composition root: configuration and the
//! DynamoDB client are built once per execution environment.

use std::sync::Arc;

use awaknow_core::config::LedgerConfig;
use awaknow_core::store::DynamoLedger;
use lambda_runtime::{Error, run_concurrent, service_fn};

mod handler;

#[tokio::main]
async fn main() -> Result<(), Error> {
    awaknow_core::telemetry::init_json_logs();
    let config = LedgerConfig::from_env()?;
    let sdk = awaknow_core::aws::sdk_config().await;
    let ledger = DynamoLedger::new(
        aws_sdk_dynamodb::Client::new(&sdk),
        config.table_name,
        config.plans,
    );
    let ledger = Arc::new(ledger);
    run_concurrent(service_fn(move |event| {
        let ledger = Arc::clone(&ledger);
        async move { handler::set_plan(ledger.as_ref(), event).await }
    }))
    .await
}
