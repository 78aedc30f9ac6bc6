//! Lambda `sweep-sessions`: composition root. The work arrives with a later issue; until then every
//! invocation fails with a clear error.

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use serde_json::Value;

async fn not_implemented(_event: LambdaEvent<Value>) -> Result<Value, Error> {
    Err("sweep-sessions is not implemented yet".into())
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    awaknow_core::telemetry::init_json_logs();
    run(service_fn(not_implemented)).await
}
