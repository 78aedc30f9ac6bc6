//! DynamoDB faults at the SDK's own seam: an interceptor on the client the code under test uses.
//! A fault before acting neutralises the request (DynamoDB Local answers an unknown operation,
//! changing nothing) and puts DynamoDB's error in its place: throttling, a cancelled transaction
//! (conflict or throttling, one reason per item as DynamoDB gives them), a 500. A lost answer
//! lets the write commit and replaces its answer with a 500, so the SDK's retry meets its own
//! committed write. A slow answer sends the request to a listener that never answers, past the
//! SDK's attempt timeout. The SDK's retries and timeouts then run as they do in Lambda.

use std::sync::Arc;

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeDeserializationInterceptorContextMut, BeforeTransmitInterceptorContextMut,
};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::{Response, StatusCode};
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};

use crate::faults::Faults;

/// How likely each fault is, per request.
const THROTTLE: f64 = 0.02;
const CANCELLED: f64 = 0.02;
const SERVER_ERROR: f64 = 0.01;
const LOST_ANSWER: f64 = 0.02;
const SLOW: f64 = 0.002;

/// What this attempt is given instead of DynamoDB's answer.
#[derive(Debug, Clone)]
enum Fault {
    Throttled,
    Cancelled { items: usize, reason: &'static str },
    ServerError,
    LostAnswer,
}

#[derive(Debug, Clone)]
struct Planned(Option<Fault>);

impl Storable for Planned {
    type Storer = StoreReplace<Self>;
}

/// The interceptor; `blackhole` is a loopback address that accepts and never answers.
#[derive(Clone)]
pub struct DynamoChaos {
    pub faults: Arc<Faults>,
    pub blackhole: String,
}

impl std::fmt::Debug for DynamoChaos {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DynamoChaos")
    }
}

/// The operation's name from `x-amz-target` (`DynamoDB_20120810.PutItem` -> `PutItem`).
fn operation(request: &aws_smithy_runtime_api::http::Request) -> String {
    request
        .headers()
        .get("x-amz-target")
        .and_then(|t| t.split('.').next_back())
        .unwrap_or("")
        .to_owned()
}

/// How many items a TransactWriteItems carries (DynamoDB gives one cancellation reason each).
fn transact_items(request: &aws_smithy_runtime_api::http::Request) -> usize {
    request
        .body()
        .bytes()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(b).ok())
        .and_then(|v| v["TransactItems"].as_array().map(Vec::len))
        .unwrap_or(1)
}

impl DynamoChaos {
    fn plan(&self, op: &str, items: usize) -> Option<Fault> {
        let faults = &self.faults;
        let writes = matches!(
            op,
            "PutItem" | "UpdateItem" | "DeleteItem" | "TransactWriteItems" | "BatchWriteItem"
        );
        if faults.roll("dynamodb throttled", THROTTLE) {
            return Some(Fault::Throttled);
        }
        if op == "TransactWriteItems" && faults.roll("dynamodb transaction cancelled", CANCELLED) {
            let reason = faults.with_rng(|rng| {
                if rand::Rng::random_bool(rng, 0.5) {
                    "TransactionConflict"
                } else {
                    "ThrottlingError"
                }
            });
            return Some(Fault::Cancelled { items, reason });
        }
        if faults.roll("dynamodb 500", SERVER_ERROR) {
            return Some(Fault::ServerError);
        }
        if writes && faults.roll("dynamodb write committed, answer lost", LOST_ANSWER) {
            return Some(Fault::LostAnswer);
        }
        None
    }
}

impl Intercept for DynamoChaos {
    fn name(&self) -> &'static str {
        "ChaosDynamoDb"
    }

    fn modify_before_transmit(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request();
        let op = operation(request);
        let items = transact_items(request);
        if self.faults.roll("dynamodb answer past the timeout", SLOW) {
            let uri = format!("{}/", self.blackhole);
            context.request_mut().set_uri(uri.as_str())?;
            cfg.interceptor_state().store_put(Planned(None));
            return Ok(());
        }
        let fault = self.plan(&op, items);
        if matches!(
            fault,
            Some(Fault::Throttled | Fault::Cancelled { .. } | Fault::ServerError)
        ) {
            // Nothing reaches the table: DynamoDB Local answers an operation it does not know.
            context.request_mut().headers_mut().insert(
                "x-amz-target",
                "DynamoDB_20120810.ChaosNothingHappened".to_owned(),
            );
        }
        cfg.interceptor_state().store_put(Planned(fault));
        Ok(())
    }

    fn modify_before_deserialization(
        &self,
        context: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(Planned(Some(fault))) = cfg.load::<Planned>().cloned() else {
            return Ok(());
        };
        let (status, body) = match fault {
            Fault::Throttled => (
                400,
                serde_json::json!({
                    "__type": "com.amazonaws.dynamodb.v20120810#ThrottlingException",
                    "message": "Rate of requests exceeds the allowed throughput."
                }),
            ),
            Fault::Cancelled { items, reason } => {
                // One reason per item; the first carries the fault, the rest "None".
                let reasons: Vec<serde_json::Value> = (0..items)
                    .map(|i| {
                        if i == 0 {
                            serde_json::json!({"Code": reason, "Message": "chaos"})
                        } else {
                            serde_json::json!({"Code": "None"})
                        }
                    })
                    .collect();
                (
                    400,
                    serde_json::json!({
                        "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
                        "message": format!("Transaction cancelled, please refer cancellation reasons for specific reasons [{reason}]"),
                        "CancellationReasons": reasons,
                    }),
                )
            }
            Fault::ServerError | Fault::LostAnswer => (
                500,
                serde_json::json!({
                    "__type": "com.amazonaws.dynamodb.v20120810#InternalServerError",
                    "message": "Internal server error"
                }),
            ),
        };
        let mut response = Response::new(
            StatusCode::try_from(status)?,
            SdkBody::from(body.to_string()),
        );
        response
            .headers_mut()
            .insert("content-type", "application/x-amz-json-1.0");
        *context.response_mut() = response;
        Ok(())
    }
}
