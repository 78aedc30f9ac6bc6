//! A create that is released after Tavus made its conversation leaves nothing at Tavus: not
//! the running call, and not its copy with the user's prompt. Whether the owner ended the
//! session while the create ran, the Lambda was killed between Tavus's answer and the
//! activation, or Tavus answered a conversation without a room.

use std::sync::Arc;
use std::time::{Duration, Instant};

use awaknow_core::domain::{SessionStatus, UserId};
use awaknow_core::service::create::{CreateContext, CreateSessionRequest, create_session};
use awaknow_core::service::settle;
use awaknow_core::service::sweep::{SweepOptions, sweep};
use awaknow_core::store::DynamoLedger;
use awaknow_core::tavus::TavusClient;
use chrono::Utc;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::{fresh_ledger, user};
use crate::tavus_client::{config_for, keys_with};

const BODY: &[u8] =
    br#"{"session_type": "reflect_alone", "prompt": "my private week", "max_minutes": 5}"#;

async fn create(
    ledger: &DynamoLedger,
    tavus: &TavusClient<awaknow_core::secrets::SecretsManagerSource>,
    keys: &test_support::Keys,
    owner: &UserId,
) -> Result<awaknow_core::service::create::Created, awaknow_core::service::ServiceError> {
    let request = CreateSessionRequest::parse(BODY, owner).unwrap();
    let cx = CreateContext {
        owner,
        idempotency: None,
        public_url: "http://127.0.0.1:9",
        now: Utc::now(),
        deadline: Instant::now() + Duration::from_secs(20),
        recording: None,
    };
    create_session(ledger, tavus, keys, cx, &request).await
}

/// How many conversations the simulator still keeps (soft-deleted ones included).
async fn kept(sim: &tavus_sim::RunningSim) -> u64 {
    let stats: Value = reqwest::get(format!("{}/_sim/stats", sim.base_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    stats["conversations"].as_u64().unwrap()
}

async fn only_session(ledger: &DynamoLedger, owner: &UserId) -> awaknow_core::domain::Session {
    let page = ledger.list_sessions(owner, 10, None).await.unwrap();
    assert_eq!(page.sessions.len(), 1);
    page.sessions[0].0.clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_whose_session_was_ended_meanwhile_leaves_no_conversation() {
    let ledger = fresh_ledger().await;
    let sim = test_support::start_sim(tavus_sim::SimConfig::default()).await;
    let (keys, _) = keys_with("sim-key").await;
    let tavus = TavusClient::new(config_for(&sim.base_url()), Arc::clone(&keys));
    let owner = user("ended-meanwhile");
    let rule = json!({"create_then_hang_next": 1, "hang_ms": 1500});
    assert_eq!(
        test_support::inject_fault(&sim.base_url(), &rule).await,
        204
    );

    let creating = create(&ledger, &tavus, &keys, &owner);
    let ending = async {
        // The owner ends the session while Tavus is still answering.
        let pending = loop {
            let page = ledger.list_sessions(&owner, 1, None).await.unwrap();
            if let Some((session, _)) = page.sessions.into_iter().next() {
                break session;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        settle::end_session(
            &ledger,
            &tavus,
            &owner,
            pending.session_id,
            Utc::now(),
            deadline,
        )
        .await
        .unwrap()
    };
    let (created, ended) = tokio::join!(creating, ending);
    // Not an error of ours: the create answers the session as its owner left it.
    let created = created.expect("the create answers the session, closed");
    assert_eq!(created.session.status, SessionStatus::Failed);
    assert!(created.session.conversation_url.is_none());
    assert_eq!(ended.status, SessionStatus::Failed);
    assert_eq!(kept(&sim).await, 0, "the conversation is still at Tavus");
    let usage = ledger.usage(&owner, Utc::now()).await.unwrap();
    assert_eq!((usage.reserved_minutes, usage.used_minutes), (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_cut_short_after_tavus_answered_is_cleaned_up_by_the_sweeper() {
    let ledger = fresh_ledger().await;
    let sim = test_support::start_sim(tavus_sim::SimConfig::default()).await;
    let (keys, _) = keys_with("sim-key").await;
    let tavus = TavusClient::new(config_for(&sim.base_url()), Arc::clone(&keys));
    let owner = user("killed");
    let rule = json!({"create_then_hang_next": 1, "hang_ms": 3000});
    assert_eq!(
        test_support::inject_fault(&sim.base_url(), &rule).await,
        204
    );

    // The Lambda is killed while Tavus answers: the create stops at that await.
    let cut = tokio::time::timeout(
        Duration::from_millis(700),
        create(&ledger, &tavus, &keys, &owner),
    )
    .await;
    assert!(cut.is_err(), "the create was not cut short");
    assert_eq!(
        only_session(&ledger, &owner).await.status,
        SessionStatus::Pending
    );
    assert_eq!(kept(&sim).await, 1);

    let options = SweepOptions {
        grace: chrono::Duration::zero(),
        orphan_min_age: chrono::Duration::zero(),
        ..SweepOptions::default()
    };
    let later = Utc::now() + chrono::Duration::minutes(5);
    let deadline = Instant::now() + Duration::from_secs(30);
    let report = sweep(&ledger, &tavus, &keys, options, later, deadline).await;
    assert_eq!(
        (report.released, report.orphans_deleted),
        (1, 1),
        "{report:?}"
    );
    assert_eq!(kept(&sim).await, 0, "the conversation is still at Tavus");
    assert_eq!(
        only_session(&ledger, &owner).await.status,
        SessionStatus::Failed
    );
}

#[tokio::test]
async fn a_create_without_a_room_records_and_deletes_its_conversation() {
    let ledger = fresh_ledger().await;
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v2/conversations"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"conversation_id": "cnoroom", "status": "active", "callback_url": ""}),
        ))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v2/conversations/cnoroom/end"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    // Tavus cannot delete it now.
    Mock::given(method("DELETE"))
        .and(path("/v2/conversations/cnoroom"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&server)
        .await;
    let (keys, _) = keys_with("tk-noroom").await;
    let tavus = TavusClient::new(config_for(&server.uri()), Arc::clone(&keys));
    let owner = user("no-room");

    assert!(create(&ledger, &tavus, &keys, &owner).await.is_err());
    let released = only_session(&ledger, &owner).await;
    assert_eq!(released.status, SessionStatus::Failed);
    assert_eq!(released.conversation_id.as_deref(), Some("cnoroom"));

    // The sweeper deletes the copy once Tavus can.
    server.reset().await;
    Mock::given(method("DELETE"))
        .and(path("/v2/conversations/cnoroom"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    crate::sweeper::list_nothing(&server).await;
    let options = SweepOptions {
        grace: chrono::Duration::zero(),
        ..SweepOptions::default()
    };
    let later = Utc::now() + chrono::Duration::minutes(1);
    let deadline = Instant::now() + Duration::from_secs(30);
    let report = sweep(&ledger, &tavus, &keys, options, later, deadline).await;
    assert_eq!(report.tavus_copies_deleted, 1, "{report:?}");
    let again = sweep(&ledger, &tavus, &keys, options, later, deadline).await;
    assert_eq!(again.found, 0, "{again:?}");
}
