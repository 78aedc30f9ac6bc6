//! The sweeper's promises where Tavus fails: a transient error never charges a reservation, and
//! each due session is visited once per sweep however many keep failing. Tavus over HTTP
//! (wiremock), the ledger on a table of its own.

use std::time::{Duration, Instant};

use awaknow_core::domain::{EndReason, UserId};
use awaknow_core::service::sweep::{SweepOptions, SweepReport, sweep};
use awaknow_core::store::keys;
use awaknow_core::store::{Activation, DynamoLedger, Reserved};
use awaknow_core::tavus::TavusClient;
use chrono::{DateTime, Utc};
use serde_json::json;
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::{alone, at, fresh_ledger, user};
use crate::tavus_client::{config_for, keys_with};

const CREATED: &str = "2026-11-24T10:00:00Z";

/// An active session of `owner` on `conversation_id`, reserved `minutes` at `CREATED`.
async fn active(ledger: &DynamoLedger, owner: &UserId, minutes: u32, conversation_id: &str) {
    let Reserved::New(pending) = ledger
        .reserve(alone(owner, minutes, at(CREATED)))
        .await
        .unwrap()
    else {
        panic!("a new session")
    };
    let url = format!("https://tavus.daily.co/{conversation_id}");
    ledger
        .activate(
            &pending,
            Activation {
                conversation_id,
                conversation_url: Some(&url),
                meeting_token: None,
            },
        )
        .await
        .unwrap();
}

/// Tavus whose list of conversations is empty; the rest is mounted by each test.
async fn tavus_listing_nothing() -> MockServer {
    let server = MockServer::start().await;
    list_nothing(&server).await;
    server
}

/// `GET /v2/conversations` answers an empty page (the sweeper's orphan pass finds nothing).
pub async fn list_nothing(server: &MockServer) {
    Mock::given(method("GET"))
        .and(path("/v2/conversations"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"data": [], "total_count": 0})),
        )
        .mount(server)
        .await;
}

async fn sweep_at(ledger: &DynamoLedger, server: &MockServer, now: DateTime<Utc>) -> SweepReport {
    let (keys, _) = keys_with("tk-sweeper").await;
    let tavus = TavusClient::new(config_for(&server.uri()), keys.clone());
    let options = SweepOptions {
        orphan_min_age: chrono::Duration::zero(),
        ..SweepOptions::default()
    };
    sweep(
        ledger,
        &tavus,
        &keys,
        options,
        now,
        Instant::now() + Duration::from_secs(60),
    )
    .await
}

async fn reserved_and_used(ledger: &DynamoLedger, owner: &UserId) -> (i64, i64) {
    let usage = ledger.usage(owner, at(CREATED)).await.unwrap();
    (usage.reserved_minutes, usage.used_minutes)
}

/// A 5xx or a timeout from Tavus says nothing of what ran: the session waits for the next
/// sweep (or its shutdown callback) instead of being charged its whole reservation. Only a
/// conversation Tavus has no record of at all is charged the reservation.
#[tokio::test]
async fn a_transient_tavus_error_never_charges_the_reservation() {
    let ledger = fresh_ledger().await;
    let owner = user("transient");
    active(&ledger, &owner, 20, "cflaky").await;
    let server = tavus_listing_nothing().await;
    Mock::given(method("GET"))
        .and(path("/v2/conversations/cflaky"))
        .respond_with(ResponseTemplate::new(503).set_body_json(json!({"error": "unavailable"})))
        .mount(&server)
        .await;
    let later = at(CREATED) + chrono::Duration::hours(2);

    let report = sweep_at(&ledger, &server, later).await;
    assert_eq!(report.settled_in_full, 0, "{report:?}");
    assert_eq!(report.failed, 1, "{report:?}");
    assert_eq!(reserved_and_used(&ledger, &owner).await, (20, 0));

    // Tavus answers that it has no such conversation: then, and only then, the reservation.
    server.reset().await;
    let server_uri = server.uri();
    list_nothing(&server).await;
    Mock::given(method("GET"))
        .and(path("/v2/conversations/cflaky"))
        .respond_with(
            ResponseTemplate::new(400).set_body_json(json!({"error": "Invalid conversation_id"})),
        )
        .mount(&server)
        .await;
    let report = sweep_at(&ledger, &server, later).await;
    assert_eq!(report.settled_in_full, 1, "{report:?} at {server_uri}");
    assert_eq!(reserved_and_used(&ledger, &owner).await, (0, 20));
}

/// Owners whose sessions all fall in index shard `shard`.
fn owners_in_shard(shard: u32, count: usize) -> Vec<UserId> {
    std::iter::repeat_with(|| user("shard"))
        .filter(|u| keys::shard_of(u) == shard)
        .take(count)
        .collect()
}

/// More sessions due in one shard than one batch holds, all failing: each is asked of Tavus
/// once per sweep (its retries aside), and the sweep goes on to the other shards and the orphan
/// pass instead of querying the same batch until its deadline.
#[tokio::test]
async fn a_sweep_visits_each_failing_session_once() {
    let ledger = fresh_ledger().await;
    let due: usize = 205;
    let owners = owners_in_shard(3, due.div_ceil(2));
    let mut made = 0;
    for owner in &owners {
        for _ in 0..2 {
            if made < due {
                active(&ledger, owner, 5, &format!("cfail{made:04}")).await;
                made += 1;
            }
        }
    }
    let server = tavus_listing_nothing().await;
    Mock::given(method("GET"))
        .and(path_regex("^/v2/conversations/cfail[0-9]+$"))
        .respond_with(ResponseTemplate::new(503).set_body_json(json!({"error": "unavailable"})))
        .mount(&server)
        .await;

    let started = Instant::now();
    let report = sweep_at(&ledger, &server, at(CREATED) + chrono::Duration::hours(2)).await;
    assert_eq!(report.found, due as u64, "{report:?}");
    assert_eq!(report.failed, due as u64, "{report:?}");
    assert!(
        report.complete,
        "the sweep ran into its deadline: {report:?}"
    );
    let requests = server.received_requests().await.unwrap();
    let gets = requests
        .iter()
        .filter(|r| r.url.path().starts_with("/v2/conversations/cfail"))
        .count();
    let attempts = config_for("http://unused").retry.max_attempts as usize;
    assert!(
        gets <= due * attempts,
        "{gets} requests for {due} sessions of {attempts} attempts each"
    );
    let listed = requests
        .iter()
        .filter(|r| r.url.path() == "/v2/conversations")
        .count();
    assert!(listed >= 1, "the orphan pass ran");
    println!(
        "sweeper: {due} failing sessions in one shard, {gets} Tavus GETs, {:?}",
        started.elapsed()
    );
}

/// A call still running past its reservation is ended by the sweeper and charged what Tavus
/// then says ran (capped at the reservation), not the reservation on a guess.
#[tokio::test]
async fn an_overdue_call_is_ended_and_charged_what_ran() {
    // Tavus says it stopped 3 minutes in (no shutdown event: its last change).
    let ended = json!({"conversation_id": "coverdue", "status": "ended",
                       "created_at": CREATED, "updated_at": "2026-11-24T10:03:00Z"});
    assert_eq!(sweep_overdue("overdue", ended).await, (0, 3));
}

/// Ended by the sweep long past its reservation, the call's shutdown event is the sweep's own
/// moment: the user is charged the reservation, not the time nothing ended the call.
#[tokio::test]
async fn an_overdue_call_ended_by_the_sweep_is_charged_at_most_its_reservation() {
    let ended = json!({"conversation_id": "coverdue", "status": "ended", "created_at": CREATED,
        "events": [{"event_type": "system.shutdown", "timestamp": "2026-11-24T11:55:00Z",
                    "properties": {"shutdown_reason": "end_conversation_endpoint_hit"}}]});
    assert_eq!(sweep_overdue("overdue-late", ended).await, (0, 20));
}

/// An active session of 20 minutes on `coverdue`, which Tavus reports running until the sweep
/// ends it, then `ended`; swept two hours on. Returns the owner's reserved and used minutes.
async fn sweep_overdue(name: &str, ended: serde_json::Value) -> (i64, i64) {
    let ledger = fresh_ledger().await;
    let owner = user(name);
    active(&ledger, &owner, 20, "coverdue").await;
    let server = tavus_listing_nothing().await;
    let running = json!({"conversation_id": "coverdue", "status": "active",
                         "created_at": CREATED, "updated_at": CREATED});
    Mock::given(method("GET"))
        .and(path("/v2/conversations/coverdue"))
        .respond_with(ResponseTemplate::new(200).set_body_json(running))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/conversations/coverdue"))
        .respond_with(ResponseTemplate::new(200).set_body_json(ended))
        .with_priority(2)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v2/conversations/coverdue/end"))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path_regex("^/v2/conversations/coverdue"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&server)
        .await;

    let later = at(CREATED) + chrono::Duration::hours(2);
    let report = sweep_at(&ledger, &server, later).await;
    assert_eq!(
        (report.settled_from_tavus, report.settled_in_full),
        (1, 0),
        "{report:?}"
    );
    let page = ledger.list_sessions(&owner, 10, None).await.unwrap();
    assert_eq!(page.sessions[0].0.end_reason, Some(EndReason::Swept));
    reserved_and_used(&ledger, &owner).await
}

/// What the sweep settles and ends is counted in the minutes tally by cause: a call Tavus
/// shut down because nobody joined (charged its join window, as it ran), and a conversation
/// of ours no session holds (an orphan: what it ran until the sweep ended it, charged to
/// nobody).
#[tokio::test]
async fn the_sweep_counts_nobody_joined_and_orphans_in_the_tally() {
    use awaknow_core::domain::{Cause, CauseFigures, Period};
    use awaknow_core::service::callback_token::{self, CallbackClaims};

    let ledger = fresh_ledger().await;
    let owner = user("tally-absent");
    active(&ledger, &owner, 20, "cabsent").await;
    let server = MockServer::start().await;
    let absent = json!({"conversation_id": "cabsent", "status": "ended", "created_at": CREATED,
        "events": [{"event_type": "system.shutdown", "timestamp": "2026-11-24T10:02:01Z",
                    "properties": {"shutdown_reason": "participant_absent_timeout reached"}}]});
    Mock::given(method("GET"))
        .and(path("/v2/conversations/cabsent"))
        .respond_with(ResponseTemplate::new(200).set_body_json(absent))
        .mount(&server)
        .await;
    // A running conversation of ours (its callback URL is signed with our key) for a session
    // that is not in the ledger.
    let (keys, _) = keys_with("tk-sweeper").await;
    let stranger = user("tally-orphan");
    let claims = CallbackClaims {
        owner: stranger.clone(),
        session_id: awaknow_core::domain::SessionId::new_at(at(CREATED)),
        period: Period::containing(at(CREATED)),
        reserved_minutes: 10,
        created_at_ms: at(CREATED).timestamp_millis(),
    };
    let token = callback_token::sign(&keys.webhook_key().await.unwrap(), &claims);
    let orphan = json!({"conversation_id": "corphan", "status": "active", "created_at": CREATED,
        "callback_url": format!("https://api.example/webhooks/tavus/{token}")});
    Mock::given(method("GET"))
        .and(path("/v2/conversations"))
        .and(wiremock::matchers::query_param("status", "active"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"data": [orphan], "total_count": 1})),
        )
        .with_priority(1)
        .mount(&server)
        .await;
    list_nothing(&server).await;
    Mock::given(method("POST"))
        .and(path("/v2/conversations/corphan/end"))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path_regex("^/v2/conversations/c(absent|orphan)"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&server)
        .await;

    let report = sweep_at(&ledger, &server, at(CREATED) + chrono::Duration::hours(2)).await;
    assert_eq!(
        (report.settled_from_tavus, report.orphans_ended),
        (1, 1),
        "{report:?}"
    );
    assert_eq!(reserved_and_used(&ledger, &owner).await, (0, 2));
    let tally = ledger.tally(Period::containing(at(CREATED))).await.unwrap();
    let figures = |conversations, ran_minutes, charged_minutes| CauseFigures {
        conversations,
        ran_minutes,
        charged_minutes,
    };
    assert_eq!(
        tally.by_cause,
        std::collections::BTreeMap::from([
            (Cause::NobodyJoined, figures(1, 2, 2)),
            (Cause::Orphan, figures(1, 120, 0)),
        ])
    );
}
