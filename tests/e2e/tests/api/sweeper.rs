//! The sweeper, in-process, on a table of its own (it sweeps every shard), with a simulator of
//! its own, the key in moto.

use std::sync::Arc;
use std::time::{Duration, Instant};

use awaknow_core::domain::{PlanCatalog, SessionType, UserId};
use awaknow_core::secrets::{SecretCache, SecretsManagerSource};
use awaknow_core::store::{
    DynamoLedger, GetSession, ReadUsage, ReservationRequest, ReserveMinutes, Reserved,
};
use awaknow_core::sweep::sweep;
use awaknow_core::tavus::{TavusClient, TavusConfig};
use e2e_tests::{env, event, local_sdk};
use serde_json::{Value, json};

async fn own_table() -> DynamoLedger {
    let client = aws_sdk_dynamodb::Client::new(&local_sdk(&env("DYNAMODB_ENDPOINT")).await);
    let table = format!("sweep-{}", ulid::Ulid::new().to_string().to_lowercase());
    let template = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../template.yaml");
    local_stack::TableDefinition::from_template_file(&template)
        .unwrap()
        .create(&client, &table)
        .await
        .unwrap();
    DynamoLedger::new(client, table, PlanCatalog::default())
}

fn request(user: &UserId, minutes: u32, now: chrono::DateTime<chrono::Utc>) -> ReservationRequest {
    ReservationRequest {
        owner: user.clone(),
        session_type: SessionType::ReflectAlone,
        participants: vec![],
        requested_minutes: Some(minutes),
        now,
        idempotency: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweeper_recovers_crashes_and_missing_callbacks_and_late_callbacks_charge_nothing() {
    let ledger = own_table().await;
    let secrets = aws_sdk_secretsmanager::Client::new(&local_sdk(&env("MOTO_ENDPOINT")).await);
    let keys = Arc::new(SecretCache::new(
        SecretsManagerSource::new(secrets, env("TAVUS_SECRET_ID")),
        Duration::from_secs(300),
    ));
    let sim = tavus_sim::start(
        tavus_sim::SimConfig {
            // The key the stack's secret holds.
            api_keys: vec![e2e_tests::stack_tavus_key()],
            ..tavus_sim::SimConfig::default()
        },
        0,
    )
    .await
    .unwrap();
    let tavus = TavusClient::new(
        TavusConfig {
            base_url: sim.base_url(),
            ..TavusConfig::default()
        },
        Arc::clone(&keys),
    )
    .unwrap();
    let soon = || Instant::now() + Duration::from_secs(30);
    let now = chrono::Utc::now();

    // 1. A crash between the reservation and Tavus: a pending session and nothing else.
    let crashed = UserId::parse(&e2e_tests::Api::user("crash")).unwrap();
    let Reserved::New(pending) = ledger.reserve(request(&crashed, 20, now)).await.unwrap() else {
        panic!()
    };

    // 2. A call whose callbacks never arrive (the callback URL leads nowhere).
    let silent = e2e_tests::Api::user("silent");
    let create = create_session::App {
        ledger: ledger.clone(),
        tavus: TavusClient::new(
            TavusConfig {
                base_url: sim.base_url(),
                ..TavusConfig::default()
            },
            Arc::clone(&keys),
        )
        .unwrap(),
        keys: Arc::clone(&keys),
        auth: awaknow_core::api::identity::Authenticator::new(
            awaknow_core::api::identity::AuthMode::Authorizer,
        ),
        public_url: Some("http://127.0.0.1:9".into()),
    };
    let body = json!({ "session_type": "reflect_alone", "prompt": "x", "max_minutes": 10 });
    let response = create_session::handle(
        &create,
        lambda_http::request::from_str(&event("create-session.json", &silent, Some(&body)))
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), 201);
    let silent = UserId::parse(&silent).unwrap();
    let page = awaknow_core::store::ListSessions::list_sessions(&ledger, &silent, 1, None)
        .await
        .unwrap();
    let active = page.sessions[0].0.clone();
    let conversation_id = active.conversation_id.clone().unwrap();
    // Tavus ends it after 95 s; the shutdown callback goes nowhere.
    let ended = reqwest::Client::new()
        .post(format!(
            "{}/_sim/conversations/{conversation_id}/end",
            sim.base_url()
        ))
        .json(&json!({ "duration_seconds": 95.0, "shutdown_reason": "participant_left_timeout" }))
        .send()
        .await
        .unwrap();
    assert_eq!(ended.status(), 204);
    let callback_url = e2e_tests::simulator_callback_url(
        &sim.base_url(),
        &e2e_tests::stack_tavus_key(),
        &conversation_id,
    )
    .await;

    // 3. An active session Tavus knows nothing about.
    let unknown = UserId::parse(&e2e_tests::Api::user("unknown")).unwrap();
    let Reserved::New(lost) = ledger.reserve(request(&unknown, 7, now)).await.unwrap() else {
        panic!()
    };
    awaknow_core::store::ActivateSession::activate(
        &ledger,
        &lost,
        "c000000000000",
        "https://tavus.daily.co/c000000000000",
    )
    .await
    .unwrap();

    // Nothing is due yet.
    let early = sweep(&ledger, &tavus, now, chrono::Duration::minutes(10), soon()).await;
    assert_eq!((early.found, early.complete), (0, true));

    let later = now + chrono::Duration::minutes(30);
    let report = sweep(
        &ledger,
        &tavus,
        later,
        chrono::Duration::minutes(10),
        soon(),
    )
    .await;
    assert_eq!(
        (
            report.found,
            report.released,
            report.settled_from_tavus,
            report.settled_in_full,
            report.failed
        ),
        (3, 1, 1, 1, 0),
        "{report:?}"
    );

    let usage = ledger.usage(&crashed, later).await.unwrap();
    assert_eq!(
        (usage.reserved_minutes, usage.used_minutes),
        (0, 0),
        "the crashed reservation is released"
    );
    let (swept, _) = ledger
        .get_session(&crashed, pending.session_id)
        .await
        .unwrap();
    assert_eq!(swept.status, awaknow_core::domain::SessionStatus::Failed);

    let (settled, _) = ledger
        .get_session(&silent, active.session_id)
        .await
        .unwrap();
    assert_eq!(
        (settled.charged_minutes, settled.end_reason),
        (
            Some(2),
            Some(awaknow_core::domain::EndReason::ParticipantLeft)
        )
    );
    assert_eq!(ledger.usage(&silent, later).await.unwrap().used_minutes, 2);
    assert_eq!(
        ledger.usage(&unknown, later).await.unwrap().used_minutes,
        7,
        "no answer: the whole reservation"
    );
    // Released or settled, each swept session gave its place back.
    for user in [&crashed, &silent, &unknown] {
        assert_eq!(
            ledger.usage(user, later).await.unwrap().open_sessions,
            0,
            "{user}"
        );
    }

    // The callback arrives after all: it charges nothing more.
    let token = callback_url.rsplit('/').next().unwrap();
    let webhook = tavus_webhook::App {
        ledger: ledger.clone(),
        keys: Arc::clone(&keys),
    };
    let late = json!({
        "properties": { "shutdown_reason": "participant_left_timeout" }, "conversation_id": conversation_id,
        "webhook_url": callback_url, "event_type": "system.shutdown", "message_type": "system",
        "timestamp": (active.created_at + chrono::Duration::seconds(95)).format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
    });
    let mut callback: Value =
        serde_json::from_str(&event("tavus-webhook.json", "-", None)).unwrap();
    callback["rawPath"] = json!(format!("/webhooks/tavus/{token}"));
    callback["requestContext"]["http"]["path"] = json!(format!("/webhooks/tavus/{token}"));
    callback["pathParameters"]["token"] = json!(token);
    callback["body"] = json!(late.to_string());
    let answer = tavus_webhook::handle(
        &webhook,
        lambda_http::request::from_str(&callback.to_string()).unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(answer.status(), 204);
    assert_eq!(
        ledger.usage(&silent, later).await.unwrap().used_minutes,
        2,
        "charged once"
    );

    // A second sweep finds nothing left.
    let again = sweep(
        &ledger,
        &tavus,
        later,
        chrono::Duration::minutes(10),
        soon(),
    )
    .await;
    assert_eq!(again.found, 0);
}
