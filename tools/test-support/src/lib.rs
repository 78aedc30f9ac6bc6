//! Test helpers written once, for every test crate and the benches: the functions' own SDK
//! configuration pointed at local endpoints, the Tavus simulator and its faults, a receiver of
//! the callbacks it posts, the Tavus key cache, template.yaml read into a YAML value, a ledger
//! whose transactions never run (a function stopped after a write's first step), and a table
//! read whole.
//!
//! Only test crates (and the bench tools) depend on this crate; the core's normal build and the
//! functions never do.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use awaknow_core::secrets::{SecretCache, SecretsManagerSource};
use axum::Json;
use axum::routing::post;
use serde_json::Value;
use tavus_sim::{RunningSim, SimConfig};
use tokio::sync::mpsc;

pub use local_stack::{read_template, template_path, workspace_root};

/// The functions' SDK configuration (`awaknow_core::aws::sdk_config_from`: their timeouts, retry
/// policy and HTTPS client) with every service at the local `endpoint` (`AWS_ENDPOINT_URL`),
/// region `us-east-1` and the local stack's placeholder credentials.
pub fn local_sdk(endpoint: &str) -> aws_types::SdkConfig {
    let lookup = |name: &str| match name {
        "AWS_REGION" => Some("us-east-1".to_owned()),
        "AWS_ACCESS_KEY_ID" | "AWS_SECRET_ACCESS_KEY" => Some("local".to_owned()),
        "AWS_ENDPOINT_URL" => Some(endpoint.to_owned()),
        _ => None,
    };
    match awaknow_core::aws::sdk_config_from(&lookup) {
        Ok(config) => config,
        Err(e) => panic!("the local SDK configuration: {e}"),
    }
}

/// [`local_sdk`] with patient timeouts (30 s an attempt, 90 s an operation), for the store
/// tests that load DynamoDB Local with thousands of concurrent writes on two shared cores: an
/// emulator's latency under that load is not DynamoDB's, and a timeout there would test the
/// machine, not the code. The retry policy and everything else stay the functions' own.
pub fn local_sdk_under_load(endpoint: &str) -> aws_types::SdkConfig {
    local_sdk(endpoint)
        .to_builder()
        .timeout_config(
            aws_smithy_types::timeout::TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(5))
                .operation_attempt_timeout(Duration::from_secs(30))
                .operation_timeout(Duration::from_secs(90))
                .build(),
        )
        .build()
}

/// template.yaml, at the workspace's root, as a YAML value; fails the test when it cannot be read.
pub fn template() -> serde_yaml_ng::Value {
    read_template(&template_path()).unwrap_or_else(|e| panic!("template.yaml: {e}"))
}

/// The Tavus key cache the functions build: Secrets Manager behind a five-minute cache.
pub type Keys = Arc<SecretCache<SecretsManagerSource>>;

/// A [`Keys`] reading `secret_id` through `client`.
pub fn keys(client: aws_sdk_secretsmanager::Client, secret_id: impl Into<String>) -> Keys {
    Arc::new(SecretCache::new(
        SecretsManagerSource::new(client, secret_id),
        Duration::from_secs(300),
    ))
}

/// A simulator with `config` on a free loopback port.
pub async fn start_sim(config: SimConfig) -> RunningSim {
    tavus_sim::start(config, 0)
        .await
        .unwrap_or_else(|e| panic!("start the Tavus simulator: {e}"))
}

/// Adds a fault rule to the simulator at `base_url` (`POST /_sim/faults`); returns the status it
/// answered (204 when the rule is taken).
pub async fn inject_fault(base_url: &str, rule: &Value) -> u16 {
    reqwest::Client::new()
        .post(format!("{base_url}/_sim/faults"))
        .json(rule)
        .send()
        .await
        .unwrap_or_else(|e| panic!("simulator unreachable: {e}"))
        .status()
        .as_u16()
}

/// Callbacks posted to `path` on a free loopback port, in the order they arrived.
pub struct CallbackReceiver {
    /// Where to post them.
    pub url: String,
    rx: mpsc::UnboundedReceiver<Value>,
}

impl CallbackReceiver {
    /// Listens for JSON bodies posted to `path` (e.g. `/callbacks`), answering 204.
    pub async fn start(path: &str) -> CallbackReceiver {
        let (tx, rx) = mpsc::unbounded_channel();
        let app = axum::Router::new().route(
            path,
            post(move |Json(body): Json<Value>| {
                let tx = tx.clone();
                async move {
                    let _ = tx.send(body);
                    axum::http::StatusCode::NO_CONTENT
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        CallbackReceiver {
            url: format!("http://{addr}{path}"),
            rx,
        }
    }

    /// The next callback for which `wanted` holds, skipping the others; fails the test with
    /// "no {what} within {within:?}" when none arrives in time.
    pub async fn next_where(
        &mut self,
        within: Duration,
        what: &str,
        wanted: impl Fn(&Value) -> bool,
    ) -> Value {
        let wait = async {
            loop {
                let event = self.rx.recv().await.expect("receiver closed");
                if wanted(&event) {
                    return event;
                }
            }
        };
        tokio::time::timeout(within, wait)
            .await
            .unwrap_or_else(|_| panic!("no {what} within {within:?}"))
    }
}

/// Log lines kept in memory, for a test (or the fault campaign) that looks for what must never
/// be logged: give it to `tracing_subscriber::fmt().with_writer(..)` (clones share the lines).
#[derive(Clone, Default)]
pub struct CapturedLogs(Arc<std::sync::Mutex<Vec<u8>>>);

impl CapturedLogs {
    /// Everything written so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
    }
}

impl std::io::Write for CapturedLogs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Whether the request being sent is a TransactWriteItems.
fn is_transaction(
    context: &aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef<'_>,
) -> bool {
    let target = context.request().headers().get("x-amz-target");
    target.is_some_and(|t| t.ends_with(".TransactWriteItems"))
}

/// Refuses every DynamoDB transaction, as a function stopped right before it (a timeout, a
/// crash) leaves its work: what it wrote before, an erasure's mark say, stays.
#[derive(Debug)]
pub struct StopsBeforeTransactions;

impl aws_sdk_dynamodb::config::Intercept for StopsBeforeTransactions {
    fn name(&self) -> &'static str {
        "StopsBeforeTransactions"
    }

    fn read_before_transmit(
        &self,
        context: &aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef<'_>,
        _: &aws_sdk_dynamodb::config::RuntimeComponents,
        _: &mut aws_sdk_dynamodb::config::ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        if is_transaction(context) {
            return Err("the function stopped here".into());
        }
        Ok(())
    }
}

/// Keeps the body of every DynamoDB transaction a client sends, and lets it through.
#[derive(Debug, Clone, Default)]
pub struct RecordsTransactions(Arc<Mutex<Vec<String>>>);

impl RecordsTransactions {
    /// The bodies sent so far, in order.
    pub fn bodies(&self) -> Vec<String> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl aws_sdk_dynamodb::config::Intercept for RecordsTransactions {
    fn name(&self) -> &'static str {
        "RecordsTransactions"
    }

    fn read_before_transmit(
        &self,
        context: &aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef<'_>,
        _: &aws_sdk_dynamodb::config::RuntimeComponents,
        _: &mut aws_sdk_dynamodb::config::ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        if is_transaction(context) {
            let body = context.request().body().bytes().unwrap_or_default();
            self.0
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(String::from_utf8_lossy(body).into_owned());
        }
        Ok(())
    }
}

/// `ledger` (its table, client settings and plans) with every transaction refused.
pub fn cut_short(ledger: &awaknow_core::store::DynamoLedger) -> awaknow_core::store::DynamoLedger {
    intercepted(ledger, StopsBeforeTransactions)
}

/// `ledger` with every transaction it sends kept in the recorder returned.
pub fn watched(
    ledger: &awaknow_core::store::DynamoLedger,
) -> (awaknow_core::store::DynamoLedger, RecordsTransactions) {
    let seen = RecordsTransactions::default();
    (intercepted(ledger, seen.clone()), seen)
}

/// `ledger` (its table, client settings, plans and cap) with `interceptor` on its client.
fn intercepted(
    ledger: &awaknow_core::store::DynamoLedger,
    interceptor: impl aws_sdk_dynamodb::config::Intercept + 'static,
) -> awaknow_core::store::DynamoLedger {
    let config = ledger
        .client()
        .config()
        .to_builder()
        .interceptor(interceptor)
        .build();
    awaknow_core::store::DynamoLedger::new(
        aws_sdk_dynamodb::Client::from_conf(config),
        ledger.table().to_owned(),
        ledger.plans().clone(),
    )
    .with_max_open_sessions(ledger.max_open_sessions())
}

/// Everything the ledger's table holds, read whole and consistently, page by page.
pub async fn scan_table(
    ledger: &awaknow_core::store::DynamoLedger,
) -> Result<Vec<awaknow_core::store::items::Item>, String> {
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let page = ledger
            .client()
            .scan()
            .table_name(ledger.table())
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| format!("scan: {e}"))?;
        items.extend(page.items.unwrap_or_default());
        match page.last_evaluated_key {
            Some(next) => start = Some(next),
            None => return Ok(items),
        }
    }
}
