//! Faults that create the conversation and then fail or hang.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{KEY, Sim, id};

async fn listed(sim: &Sim, name: &str) -> Vec<Value> {
    let (_, list) = sim.get("/v2/conversations?status=active&limit=100").await;
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["conversation_name"] == name)
        .cloned()
        .collect()
}

#[tokio::test]
async fn a_create_can_succeed_and_still_answer_5xx() {
    let sim = Sim::fast().await;
    let rule =
        json!({ "create_then_fail_next": 1, "fail_status": 502, "when_body_contains": "tag-fail" });
    assert_eq!(sim.control("/_sim/faults", rule).await.0, 204);
    assert_eq!(
        sim.create(json!({ "conversation_name": "other" })).await.0,
        200
    );
    let (status, body) = sim.create(json!({ "conversation_name": "tag-fail" })).await;
    assert_eq!(
        (status, body),
        (
            502,
            json!({ "error": "simulated failure after the conversation was created" })
        )
    );
    let made = listed(&sim, "tag-fail").await;
    assert_eq!(made.len(), 1, "the call exists and is active");
    assert_eq!(made[0]["status"], "active");
    let view = sim.view(&id(&made[0])).await;
    assert_eq!(view["callbacks"], json!([]), "no callback_url given");
    assert_eq!(view["events"][0]["event_type"], "system.replica_joined");
    // The rule is used up.
    assert_eq!(
        sim.create(json!({ "conversation_name": "tag-fail" }))
            .await
            .0,
        200
    );
    assert_eq!(listed(&sim, "tag-fail").await.len(), 2);
    let stats = sim.stats().await;
    assert_eq!(
        (
            stats["requests"]["POST /v2/conversations"].as_u64(),
            stats["active"].as_u64()
        ),
        (Some(3), Some(3))
    );
}

#[tokio::test]
async fn an_invalid_create_does_not_use_up_a_create_then_rule() {
    let sim = Sim::fast().await;
    let rule = json!({ "create_then_fail_next": 1, "when_body_contains": "tag-x" });
    sim.control("/_sim/faults", rule).await;
    let (status, _) = sim
        .create(json!({ "conversation_name": "tag-x", "max_participants": 1 }))
        .await;
    assert_eq!(status, 400);
    let (status, body) = sim.create(json!({ "conversation_name": "tag-x" })).await;
    assert_eq!(
        (status, &body["error"]),
        (
            503,
            &json!("simulated failure after the conversation was created")
        )
    );
}

#[tokio::test]
async fn a_create_can_hang_after_creating_the_call() {
    let sim = Sim::fast().await;
    let rule =
        json!({ "create_then_hang_next": 1, "hang_ms": 5000, "when_body_contains": "tag-hang" });
    sim.control("/_sim/faults", rule).await;
    let impatient = sim
        .http
        .post(sim.url("/v2/conversations"))
        .header("x-api-key", KEY)
        .json(&json!({ "conversation_name": "tag-hang" }))
        .timeout(Duration::from_millis(300))
        .send()
        .await;
    assert!(
        impatient.is_err_and(|e| e.is_timeout()),
        "the client gave up"
    );
    let made = listed(&sim, "tag-hang").await;
    assert_eq!(
        made.len(),
        1,
        "the call exists although the client never heard of it"
    );

    let rule =
        json!({ "create_then_hang_next": 1, "hang_ms": 250, "when_body_contains": "tag-slow" });
    sim.control("/_sim/faults", rule).await;
    let started = Instant::now();
    let answer = sim
        .create_ok(json!({ "conversation_name": "tag-slow" }))
        .await;
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        listed(&sim, "tag-slow").await[0]["conversation_id"],
        answer["conversation_id"]
    );
    // Used up: the next one is answered at once.
    let started = Instant::now();
    sim.create_ok(json!({ "conversation_name": "tag-slow" }))
        .await;
    assert!(
        started.elapsed() < Duration::from_millis(250),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn the_old_fault_rules_still_work() {
    let sim = Sim::fast().await;
    sim.control(
        "/_sim/faults",
        json!({ "fail_next": 1, "fail_status": 500 }),
    )
    .await;
    let (status, body) = sim.create(json!({})).await;
    assert_eq!(
        (status, body),
        (500, json!({ "error": "simulated failure" }))
    );
    sim.control("/_sim/faults", json!({ "at_capacity_next": 1 }))
        .await;
    let (status, body) = sim.create(json!({})).await;
    assert_eq!(
        (status, body),
        (
            400,
            json!({ "message": "User has reached maximum concurrent conversations" })
        )
    );
    assert_eq!(sim.create(json!({})).await.0, 200);
    let (status, _) = sim.control("/_sim/faults", json!({ "fail_nxt": 1 })).await;
    assert_eq!(status, 400, "unknown rule fields are refused");
}
