//! The Tavus simulator end to end: the real client creates and ends calls over HTTP, and the
//! callbacks arrive at a test server in the documented envelope.

use std::time::{Duration, Instant};

use awaknow_core::domain::SessionType;
use awaknow_core::tavus::TavusClient;
use awaknow_core::tavus::model::parse_tavus_time;
use serde_json::{Value, json};
use tavus_sim::SimConfig;
use test_support::{CallbackReceiver, inject_fault};

use crate::tavus_client::{config_for, conversation, keys_with};

/// A callback receiver on a free loopback port, at a webhook path as the backend's; also returns
/// its URL.
async fn receiver() -> (String, CallbackReceiver) {
    let receiver = CallbackReceiver::start("/webhooks/tavus/tok-1").await;
    (receiver.url.clone(), receiver)
}

async fn next_event(rx: &mut CallbackReceiver, event_type: &str) -> Value {
    rx.next_where(
        Duration::from_secs(10),
        &format!("{event_type} callback"),
        |event| event["event_type"] == event_type,
    )
    .await
}

fn soon() -> Instant {
    Instant::now() + Duration::from_secs(10)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_then_end_sends_the_documented_callbacks() {
    let _logs = crate::support::tavus_client_logs(false).await;
    let sim = test_support::start_sim(SimConfig::default()).await;
    let (keys, _) = keys_with("sim-key").await;
    let client = TavusClient::new(config_for(&sim.base_url()), keys);
    let (callback_url, mut events) = receiver().await;

    let conv = client
        .create_conversation(
            &conversation(SessionType::ReflectAlone, 0, 10, &callback_url),
            soon(),
        )
        .await
        .unwrap();
    assert!(
        conv.conversation_url
            .as_deref()
            .is_some_and(|u| u.ends_with(&conv.conversation_id))
    );
    let joined = next_event(&mut events, "system.replica_joined").await;
    assert_eq!(joined["conversation_id"], conv.conversation_id.as_str());

    client
        .end_conversation(&conv.conversation_id, soon())
        .await
        .unwrap();
    let shutdown = next_event(&mut events, "system.shutdown").await;
    let keys: Vec<&str> = shutdown
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "conversation_id",
            "event_type",
            "message_type",
            "properties",
            "timestamp",
            "webhook_url"
        ]
    );
    assert_eq!(shutdown["message_type"], "system");
    assert_eq!(shutdown["webhook_url"], callback_url.as_str());
    assert_eq!(
        shutdown["properties"]["shutdown_reason"],
        "end_conversation_endpoint_hit"
    );
    let ended_at = parse_tavus_time(shutdown["timestamp"].as_str().unwrap()).unwrap();
    assert!(ended_at >= conv.created_at.unwrap());

    let transcript = next_event(&mut events, "application.transcription_ready").await;
    assert_eq!(transcript["message_type"], "application");
    assert!(
        transcript["properties"]["transcript"]
            .as_array()
            .is_some_and(|t| t.len() >= 2)
    );

    let details = client
        .get_conversation(&conv.conversation_id, soon())
        .await
        .unwrap();
    assert_eq!(details.status.as_deref(), Some("ended"));
    assert_eq!(details.ended_at(), Some(ended_at));
    // Ending again is harmless, as Tavus answers 200.
    client
        .end_conversation(&conv.conversation_id, soon())
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_ends_at_max_call_duration_or_when_the_control_endpoint_says() {
    let _logs = crate::support::tavus_client_logs(false).await;
    // 600x: the one-minute reservation runs out after 0.1 s.
    let sim = test_support::start_sim(SimConfig {
        speedup: 600.0,
        ..SimConfig::default()
    })
    .await;
    let (keys, _) = keys_with("sim-key").await;
    let client = TavusClient::new(config_for(&sim.base_url()), keys);
    let (callback_url, mut events) = receiver().await;

    let short = client
        .create_conversation(
            &conversation(SessionType::ReflectAlone, 0, 1, &callback_url),
            soon(),
        )
        .await
        .unwrap();
    let shutdown = next_event(&mut events, "system.shutdown").await;
    assert_eq!(shutdown["conversation_id"], short.conversation_id.as_str());
    assert_eq!(
        shutdown["properties"]["shutdown_reason"],
        "max_call_duration reached"
    );
    let lasted = parse_tavus_time(shutdown["timestamp"].as_str().unwrap()).unwrap()
        - short.created_at.unwrap();
    assert_eq!(lasted.num_seconds(), 60);

    let long = client
        .create_conversation(
            &conversation(SessionType::ReflectAlone, 0, 60, &callback_url),
            soon(),
        )
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let answer = http
        .post(format!(
            "{}/_sim/conversations/{}/end",
            sim.base_url(),
            long.conversation_id
        ))
        .json(&json!({ "duration_seconds": 421.5, "shutdown_reason": "participant_left_timeout" }))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 204);
    let shutdown = loop {
        let event = next_event(&mut events, "system.shutdown").await;
        if event["conversation_id"] == long.conversation_id.as_str() {
            break event;
        }
    };
    assert_eq!(
        shutdown["properties"]["shutdown_reason"],
        "participant_left_timeout"
    );
    let lasted = parse_tavus_time(shutdown["timestamp"].as_str().unwrap()).unwrap()
        - long.created_at.unwrap();
    assert_eq!(lasted.num_milliseconds(), 421_500);
}

#[tokio::test]
async fn the_simulator_checks_keys_and_bodies_as_tavus_does() {
    let _logs = crate::support::tavus_client_logs(false).await;
    let sim = test_support::start_sim(SimConfig::default()).await;
    let http = reqwest::Client::new();
    let url = format!("{}/v2/conversations", sim.base_url());
    let post = |key: &'static str, body: Value| {
        http.post(&url).header("x-api-key", key).json(&body).send()
    };

    let wrong_key = post("nope", json!({})).await.unwrap();
    assert_eq!(wrong_key.status(), 401);
    assert_eq!(
        wrong_key.json::<Value>().await.unwrap(),
        json!({ "message": "Invalid access token" })
    );
    let too_long = post(
        "sim-key",
        json!({ "properties": { "max_call_duration": 3601 } }),
    )
    .await
    .unwrap();
    assert_eq!(too_long.status(), 400);
    assert!(
        too_long.json::<Value>().await.unwrap()["error"]
            .as_str()
            .unwrap()
            .contains("max_call_duration")
    );
    let unknown = post("sim-key", json!({ "prompt": "guessed field" }))
        .await
        .unwrap();
    assert_eq!(unknown.status(), 400);
    let ok = post(
        "sim-key",
        json!({ "conversation_name": "x", "properties": { "max_call_duration": 3600 } }),
    )
    .await
    .unwrap();
    assert_eq!(ok.status(), 200);
    let created: Value = ok.json().await.unwrap();
    assert_eq!(created["status"], "active");
    assert!(
        created["conversation_url"]
            .as_str()
            .unwrap()
            .starts_with("https://tavus.daily.co/c")
    );
}

#[tokio::test]
async fn injected_faults_reach_the_client() {
    let _logs = crate::support::tavus_client_logs(false).await;
    let sim = test_support::start_sim(SimConfig::default()).await;
    let (keys, _) = keys_with("sim-key").await;
    let client = TavusClient::new(config_for(&sim.base_url()), keys);
    let http = reqwest::Client::new();
    let base_url = sim.base_url();
    let faults = |body: Value| {
        let base_url = base_url.clone();
        async move { inject_fault(&base_url, &body).await }
    };
    let request = conversation(SessionType::ReflectAlone, 0, 5, "http://127.0.0.1:9/cb");

    faults(json!({ "fail_next": 2, "fail_status": 503 })).await;
    client.create_conversation(&request, soon()).await.unwrap();
    faults(json!({ "at_capacity_next": 1 })).await;
    assert!(matches!(
        client.create_conversation(&request, soon()).await,
        Err(awaknow_core::tavus::TavusError::AtCapacity)
    ));
    let stats: Value = http
        .get(format!("{}/_sim/stats", sim.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // The first 503 hits a create; before trying again the client looks for what that create
    // may have made, and that lookup meets the second 503 (and is itself tried again); then
    // the create succeeds.
    assert_eq!(
        (
            &stats["requests"]["POST /v2/conversations"],
            &stats["requests"]["GET /v2/conversations"]
        ),
        (&json!(3), &json!(2)),
        "503, success, capacity 400; a lookup (503, then 200) between: {stats}"
    );
}
