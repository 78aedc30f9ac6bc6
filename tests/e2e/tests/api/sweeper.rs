//! The sweeper, in-process, on a table of its own (it sweeps every shard), with a simulator of
//! its own, the key in moto.

use std::sync::Arc;
use std::time::{Duration, Instant};

use awaknow_core::domain::{PlanCatalog, SessionType, UserId};
use awaknow_core::secrets::SecretsManagerSource;
use awaknow_core::service::sweep::{SweepOptions, sweep};
use awaknow_core::store::{Activation, DynamoLedger, ReservationRequest, Reserved};
use awaknow_core::tavus::TavusClient;
use e2e_tests::{env, event, local_sdk};
use serde_json::{Value, json};

async fn own_table() -> DynamoLedger {
    let client = aws_sdk_dynamodb::Client::new(&local_sdk(&env("DYNAMODB_ENDPOINT")));
    let table = format!("sweep-{}", ulid::Ulid::new().to_string().to_lowercase());
    local_stack::TableDefinition::from_template_file(&test_support::template_path())
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
        record: false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweeper_recovers_crashes_and_missing_callbacks_and_late_callbacks_charge_nothing() {
    let ledger = own_table().await;
    let secrets = aws_sdk_secretsmanager::Client::new(&local_sdk(&env("MOTO_ENDPOINT")));
    let keys = test_support::keys(secrets, env("TAVUS_SECRET_ID"));
    let sim = e2e_tests::own_sim(tavus_sim::SimConfig::default()).await;
    let tavus = TavusClient::new(
        e2e_tests::sim_tavus_config(&sim.base_url()),
        Arc::clone(&keys),
    );
    let soon = || Instant::now() + Duration::from_secs(30);
    let now = chrono::Utc::now();

    // 1. A crash between the reservation and Tavus: a pending session and nothing else.
    let crashed = UserId::parse(&e2e_tests::Api::user("crash")).unwrap();
    let Reserved::New(pending) = ledger.reserve(request(&crashed, 20, now)).await.unwrap() else {
        panic!()
    };

    // 2. A call whose callbacks never arrive (the callback URL leads nowhere).
    let silent = e2e_tests::Api::user("silent");
    let create = awaknow_core::api::App {
        ledger: ledger.clone(),
        tavus: Some(TavusClient::new(
            e2e_tests::sim_tavus_config(&sim.base_url()),
            Arc::clone(&keys),
        )),
        auth: Some(awaknow_core::api::identity::Authenticator::new(
            awaknow_core::api::identity::AuthMode::Authorizer,
        )),
        public_url: Some("http://127.0.0.1:9".into()),
        recordings: None,
        export_inline_limit: awaknow_core::config::EXPORT_INLINE_LIMIT,
    };
    let body = json!({ "session_type": "reflect_alone", "prompt": "x", "max_minutes": 10 });
    let response = awaknow_core::api::shell::handle(
        &create,
        awaknow_core::api::routes::Function::CreateSession,
        lambda_http::request::from_str(&event("create-session.json", &silent, Some(&body)))
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), 201);
    let silent = UserId::parse(&silent).unwrap();
    let page = ledger.list_sessions(&silent, 1, None).await.unwrap();
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
    ledger
        .activate(
            &lost,
            Activation {
                conversation_id: "c000000000000",
                conversation_url: Some("https://tavus.daily.co/c000000000000"),
                meeting_token: None,
            },
        )
        .await
        .unwrap();

    // Nothing is due yet.
    let options = SweepOptions::default();
    let early = sweep(&ledger, &tavus, &keys, options, now, soon()).await;
    assert_eq!((early.found, early.complete), (0, true));

    let later = now + chrono::Duration::minutes(30);
    let report = sweep(&ledger, &tavus, &keys, options, later, soon()).await;
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
    let webhook = awaknow_core::api::App {
        ledger: ledger.clone(),
        tavus: Some(TavusClient::new(
            e2e_tests::sim_tavus_config(&sim.base_url()),
            Arc::clone(&keys),
        )),
        auth: None,
        public_url: None,
        recordings: None,
        export_inline_limit: awaknow_core::config::EXPORT_INLINE_LIMIT,
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
    let answer = awaknow_core::api::shell::handle(
        &webhook,
        awaknow_core::api::routes::Function::TavusWebhook,
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

    // A second sweep at the same time finds nothing due.
    let again = sweep(&ledger, &tavus, &keys, options, later, soon()).await;
    assert_eq!(again.found, 0);

    // Past the grace, Tavus's copies of the settled conversations are deleted; the silent
    // call's transcript, whose callback never came, is first taken from Tavus's record.
    let after = later + chrono::Duration::minutes(20);
    let cleanup = sweep(&ledger, &tavus, &keys, options, after, soon()).await;
    assert_eq!(
        (
            cleanup.found,
            cleanup.tavus_copies_deleted,
            cleanup.transcripts_recovered,
            cleanup.failed
        ),
        (2, 2, 1, 0),
        "{cleanup:?}"
    );
    let transcript = ledger
        .read_transcript(&silent, active.session_id)
        .await
        .unwrap()
        .expect("the transcript was recovered before the copy was deleted");
    assert!(
        transcript.turns.iter().any(|t| t.role == "user"),
        "{transcript:?}"
    );
    let gone = reqwest::Client::new()
        .get(format!(
            "{}/v2/conversations/{conversation_id}",
            sim.base_url()
        ))
        .header("x-api-key", e2e_tests::stack_tavus_key())
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 400, "tavus no longer has the conversation");
    let last = sweep(&ledger, &tavus, &keys, options, after, soon()).await;
    assert_eq!(last.found, 0, "nothing is left in the index: {last:?}");
}

/// The parts of an in-process test: a table and a simulator of its own, the key in moto.
struct Rig {
    ledger: DynamoLedger,
    keys: test_support::Keys,
    sim: tavus_sim::RunningSim,
}

impl Rig {
    /// `sim` with the stack secret's key, which the Tavus client reads from moto.
    async fn new(sim: tavus_sim::SimConfig) -> Rig {
        let secrets = aws_sdk_secretsmanager::Client::new(&local_sdk(&env("MOTO_ENDPOINT")));
        Rig {
            ledger: own_table().await,
            keys: test_support::keys(secrets, env("TAVUS_SECRET_ID")),
            sim: e2e_tests::own_sim(sim).await,
        }
    }

    fn tavus(&self, config: awaknow_core::tavus::TavusConfig) -> TavusClient<SecretsManagerSource> {
        TavusClient::new(config, Arc::clone(&self.keys))
    }

    /// Creates a session through the create-session handler; its callbacks lead nowhere.
    async fn create(
        &self,
        config: awaknow_core::tavus::TavusConfig,
        user: &str,
        minutes: u32,
    ) -> Value {
        let app = awaknow_core::api::App {
            ledger: self.ledger.clone(),
            tavus: Some(self.tavus(config)),
            auth: Some(awaknow_core::api::identity::Authenticator::new(
                awaknow_core::api::identity::AuthMode::Authorizer,
            )),
            public_url: Some("http://127.0.0.1:9".into()),
            recordings: None,
            export_inline_limit: awaknow_core::config::EXPORT_INLINE_LIMIT,
        };
        let body =
            json!({ "session_type": "reflect_alone", "prompt": "x", "max_minutes": minutes });
        let response = awaknow_core::api::shell::handle(
            &app,
            awaknow_core::api::routes::Function::CreateSession,
            lambda_http::request::from_str(&event("create-session.json", user, Some(&body)))
                .unwrap(),
        )
        .await
        .unwrap();
        assert_eq!(response.status(), 201);
        match response.body() {
            lambda_http::Body::Text(text) => serde_json::from_str(text).unwrap(),
            other => panic!("unexpected body {other:?}"),
        }
    }

    async fn control(&self, path: &str, body: Value) -> u16 {
        reqwest::Client::new()
            .post(format!("{}{path}", self.sim.base_url()))
            .json(&body)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_end_without_a_shutdown_event_is_charged_to_tavus_last_update() {
    let rig = Rig::new(tavus_sim::SimConfig::default()).await;
    let config = e2e_tests::sim_tavus_config(&rig.sim.base_url());
    let user = e2e_tests::Api::user("no-event");
    let created = rig.create(config.clone(), &user, 10).await;
    let cid = created["conversation_id"].as_str().unwrap();
    // Ended after 130 s, but Tavus recorded no system.shutdown (a replica that never joined).
    let end = json!({ "duration_seconds": 130.0, "shutdown_event": false, "transcript": false });
    assert_eq!(
        rig.control(&format!("/_sim/conversations/{cid}/end"), end)
            .await,
        204
    );

    let later = chrono::Utc::now() + chrono::Duration::minutes(30);
    let report = sweep(
        &rig.ledger,
        &rig.tavus(config),
        &rig.keys,
        SweepOptions::default(),
        later,
        soon(),
    )
    .await;
    assert_eq!(
        (report.settled_from_tavus, report.settled_in_full),
        (1, 0),
        "{report:?}"
    );
    let user = UserId::parse(&user).unwrap();
    let id = created["session_id"].as_str().unwrap().parse().unwrap();
    let (session, _) = rig.ledger.get_session(&user, id).await.unwrap();
    assert_eq!(
        session.charged_minutes,
        Some(3),
        "130 s, not the 10 reserved"
    );
    assert_eq!(
        rig.ledger.usage(&user, later).await.unwrap().used_minutes,
        3
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_test_mode_create_is_recorded_ended_and_charged_nothing() {
    for url in ["room", "none"] {
        let rig = Rig::new(tavus_sim::SimConfig::default()).await;
        assert_eq!(
            rig.control("/_sim/config", json!({ "test_mode_url": url }))
                .await,
            200
        );
        let config = awaknow_core::tavus::TavusConfig {
            test_mode: true,
            ..e2e_tests::sim_tavus_config(&rig.sim.base_url())
        };
        let user = e2e_tests::Api::user("test-mode");
        let created = rig.create(config, &user, 10).await;
        assert_eq!(created["status"], "ended", "{created}");
        assert_eq!(created["charged_minutes"], 0);
        assert_eq!(created["end_reason"], "test_mode");
        assert_eq!(created["usage"]["reserved_minutes"], 0);
        assert_eq!(created["usage"]["used_minutes"], 0);
        assert!(created.get("join_url").is_none());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweeper_ends_our_conversations_that_no_active_session_holds() {
    let rig = Rig::new(tavus_sim::SimConfig::default()).await;
    let config = e2e_tests::sim_tavus_config(&rig.sim.base_url());
    let user = e2e_tests::Api::user("orphans");
    let held = rig.create(config.clone(), &user, 10).await;

    // A conversation of ours that no session holds (a crash after Tavus created it), and one of
    // another deployment on the same Tavus account (its callback URL is not signed by us).
    let key = rig.keys.webhook_key().await.unwrap();
    let claims = awaknow_core::service::callback_token::CallbackClaims {
        owner: UserId::parse(&user).unwrap(),
        session_id: awaknow_core::domain::SessionId::new_at(chrono::Utc::now()),
        period: awaknow_core::domain::Period::containing(chrono::Utc::now()),
        reserved_minutes: 5,
        created_at_ms: chrono::Utc::now().timestamp_millis(),
    };
    let token = awaknow_core::service::callback_token::sign(&key, &claims);
    let create = |callback: String| {
        let base = rig.sim.base_url();
        async move {
            let answer: Value = reqwest::Client::new()
                .post(format!("{base}/v2/conversations"))
                .header("x-api-key", e2e_tests::stack_tavus_key())
                .json(&json!({ "persona_id": "p", "conversation_name": "x", "callback_url": callback }))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            answer["conversation_id"].as_str().unwrap().to_owned()
        }
    };
    let orphan = create(format!("http://127.0.0.1:9/webhooks/tavus/{token}")).await;
    let foreign = create("https://other.example/webhooks/tavus/v1.abc.def".into()).await;

    let options = SweepOptions {
        orphan_min_age: chrono::Duration::zero(),
        ..SweepOptions::default()
    };
    let report = sweep(
        &rig.ledger,
        &rig.tavus(config),
        &rig.keys,
        options,
        chrono::Utc::now(),
        soon(),
    )
    .await;
    // Ended, and deleted with the prompt it carried: no session holds it.
    assert_eq!(
        (report.orphans_ended, report.orphans_deleted, report.failed),
        (1, 1, 0),
        "{report:?}"
    );
    let status = |id: String| {
        let base = rig.sim.base_url();
        async move {
            let c: Value = reqwest::Client::new()
                .get(format!("{base}/v2/conversations/{id}"))
                .header("x-api-key", e2e_tests::stack_tavus_key())
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            c["status"].as_str().unwrap_or("").to_owned()
        }
    };
    assert_eq!(status(orphan).await, "", "the orphan is gone from Tavus");
    assert_eq!(
        status(foreign).await,
        "active",
        "another deployment's call is not ours to end"
    );
    assert_eq!(
        status(held["conversation_id"].as_str().unwrap().to_owned()).await,
        "active",
        "a call an active session holds runs on"
    );
}

fn soon() -> Instant {
    Instant::now() + Duration::from_secs(30)
}
