//! Round trips of the hot paths, counted on the DynamoDB client (an SDK interceptor) and on
//! Tavus (the simulator's request counts), with the create-session and get-usage handlers run
//! in-process on real API Gateway v2 events against DynamoDB Local, moto and a simulator.

use std::sync::{Arc, Mutex};

use awaknow_core::api::identity::{AuthMode, Authenticator};
use awaknow_core::domain::{CreatePace, PlanCatalog, UserId};
use awaknow_core::store::DynamoLedger;
use awaknow_core::tavus::TavusClient;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use e2e_tests::{env, event, local_sdk};
use serde_json::{Value, json};

/// Records every DynamoDB request that leaves the client, by operation, in order.
#[derive(Debug, Clone, Default)]
struct Calls(Arc<Mutex<Vec<String>>>);

impl Calls {
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

impl Calls {
    /// A client of the stack's DynamoDB Local whose every request is recorded here.
    fn client(&self) -> aws_sdk_dynamodb::Client {
        let config = local_sdk(&env("DYNAMODB_ENDPOINT"));
        aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(&config)
                .interceptor(self.clone())
                .build(),
        )
    }
}

impl Intercept for Calls {
    fn name(&self) -> &'static str {
        "CountDynamoDbCalls"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let target = context
            .request()
            .headers()
            .get("x-amz-target")
            .and_then(|t| t.split('.').next_back())
            .unwrap_or("?")
            .to_owned();
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(target);
        Ok(())
    }
}

async fn sim_creates(base: &str) -> u64 {
    let stats: Value = reqwest::get(format!("{base}/_sim/stats"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    stats["requests"]["POST /v2/conversations"]
        .as_u64()
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_happy_create_and_usage_paths_make_the_fewest_round_trips() {
    let calls = Calls::default();
    let dynamodb = calls.client();
    // Paced as the functions are (10 a minute by default): the pace rides in the reservation.
    let pace = CreatePace::per_minute(10).expect("a pace");
    let ledger = DynamoLedger::new(dynamodb, env("TABLE_NAME"), PlanCatalog::default())
        .with_create_pace(pace);
    let secrets = aws_sdk_secretsmanager::Client::new(&local_sdk(&env("MOTO_ENDPOINT")));
    let keys = test_support::keys(secrets, env("TAVUS_SECRET_ID"));
    // A simulator of this test's own, so its counts are this test's alone; 200 ms per answer
    // shows whether the usage read overlaps the Tavus call.
    let sim = e2e_tests::own_sim(tavus_sim::SimConfig::default()).await;
    test_support::inject_fault(&sim.base_url(), &json!({ "latency_ms": 200 })).await;
    let tavus = TavusClient::new(
        e2e_tests::sim_tavus_config(&sim.base_url()),
        Arc::clone(&keys),
    );
    let app = awaknow_core::api::App {
        ledger: ledger.clone(),
        tavus: Some(tavus),
        auth: Some(Authenticator::new(AuthMode::Authorizer)),
        public_url: Some("http://127.0.0.1:9".into()),
        recordings: None,
        export_inline_limit: awaknow_core::config::EXPORT_INLINE_LIMIT,
    };
    let user = e2e_tests::Api::user("trips");

    // The first session of a new user also creates the account; the happy path is a user who
    // has an account and created nothing in the last interval of their pace.
    let user_id = UserId::parse(&user).expect("a user id");
    ledger
        .ensure_account(&user_id, chrono::Utc::now())
        .await
        .expect("account");
    calls.take();
    let creates_before = sim_creates(&sim.base_url()).await;

    let create = || async {
        awaknow_core::api::shell::handle(
            &app,
            awaknow_core::api::routes::Function::CreateSession,
            lambda_http::request::from_str(&event("create-session.json", &user, None)).unwrap(),
        )
        .await
        .unwrap()
    };
    assert_eq!(create().await.status(), 201);
    let dynamodb_calls = calls.take();
    assert_eq!(
        sim_creates(&sim.base_url()).await - creates_before,
        1,
        "one Tavus call"
    );
    // Two sequential DynamoDB round trips (reserve, with the pace in the same write, then
    // activate); the usage read for the response is sent while the Tavus call is in flight, so
    // it adds no waiting.
    assert_eq!(
        dynamodb_calls,
        ["TransactWriteItems", "GetItem", "UpdateItem"]
    );
    // A second create within one interval of the pace (6 s) is a burst: the first attempt of
    // the reservation assumed an idle user, the account's answer tells the second. This is
    // the one case the pace costs a round trip, and only for a user creating in a burst.
    assert_eq!(create().await.status(), 201);
    assert_eq!(
        calls.take(),
        [
            "TransactWriteItems",
            "TransactWriteItems",
            "GetItem",
            "UpdateItem"
        ]
    );

    let usage_app = awaknow_core::api::App {
        ledger,
        auth: Some(Authenticator::new(AuthMode::Authorizer)),
        public_url: None,
        tavus: None,
        recordings: None,
        export_inline_limit: awaknow_core::config::EXPORT_INLINE_LIMIT,
    };
    let usage = awaknow_core::api::shell::handle(
        &usage_app,
        awaknow_core::api::routes::Function::GetUsage,
        lambda_http::request::from_str(&event("get-usage.json", &user, None)).unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(usage.status(), 200);
    assert_eq!(calls.take(), ["GetItem"], "GET /usage is one read");
}

#[tokio::test]
async fn an_event_without_verified_claims_is_401_from_the_function_itself() {
    let ddb_config = local_sdk(&env("DYNAMODB_ENDPOINT"));
    let ledger = DynamoLedger::new(
        aws_sdk_dynamodb::Client::new(&ddb_config),
        env("TABLE_NAME"),
        PlanCatalog::default(),
    );
    let app = awaknow_core::api::App {
        ledger,
        auth: Some(Authenticator::new(AuthMode::Authorizer)),
        public_url: None,
        tavus: None,
        recordings: None,
        export_inline_limit: awaknow_core::config::EXPORT_INLINE_LIMIT,
    };
    let mut value: Value = serde_json::from_str(&event("get-usage.json", "someone", None)).unwrap();
    value["requestContext"]
        .as_object_mut()
        .unwrap()
        .remove("authorizer");
    let response = awaknow_core::api::shell::handle(
        &app,
        awaknow_core::api::routes::Function::GetUsage,
        lambda_http::request::from_str(&value.to_string()).unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), 401);
    let body = match response.body() {
        lambda_http::Body::Text(t) => t.clone(),
        other => panic!("unexpected body {other:?}"),
    };
    assert!(body.contains("\"code\":\"unauthenticated\""), "{body}");
}

/// A callback with a token this deployment did not sign is refused before anything is read or
/// written: the signature is checked with the key from the secret, so a flood of forged
/// callbacks costs no DynamoDB capacity.
#[tokio::test]
async fn a_forged_callback_token_is_refused_without_a_dynamodb_call() {
    let calls = Calls::default();
    let dynamodb = calls.client();
    let ledger = DynamoLedger::new(dynamodb, env("TABLE_NAME"), PlanCatalog::default());
    let secrets = aws_sdk_secretsmanager::Client::new(&local_sdk(&env("MOTO_ENDPOINT")));
    let keys = test_support::keys(secrets, env("TAVUS_SECRET_ID"));
    let sim = e2e_tests::own_sim(tavus_sim::SimConfig::default()).await;
    let app = awaknow_core::api::App {
        ledger,
        tavus: Some(TavusClient::new(
            e2e_tests::sim_tavus_config(&sim.base_url()),
            keys,
        )),
        auth: None,
        public_url: None,
        recordings: None,
        export_inline_limit: awaknow_core::config::EXPORT_INLINE_LIMIT,
    };
    // The sample event's token (`v1.TOKEN.MAC`) was signed by nobody.
    let path = test_support::workspace_root().join("events/tavus-webhook.json");
    let text = std::fs::read_to_string(&path).expect("the sample webhook event");
    assert!(
        text.contains("v1.TOKEN.MAC"),
        "the sample event's token changed"
    );
    let response = awaknow_core::api::shell::handle(
        &app,
        awaknow_core::api::routes::Function::TavusWebhook,
        lambda_http::request::from_str(&text).unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(calls.take(), Vec::<String>::new(), "no DynamoDB call");
}
