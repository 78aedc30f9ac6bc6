//! The baseline of the init benchmark: a hello-world Rust Lambda (lambda_runtime, echo), built
//! with the same release profile as the functions, in the same run.

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    run(service_fn(|event: LambdaEvent<Value>| async move {
        Ok::<Value, Error>(event.payload)
    }))
    .await
}
