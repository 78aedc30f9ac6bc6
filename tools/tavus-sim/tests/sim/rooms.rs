//! Joining the Daily room: meeting tokens, max_participants, and the absent timeout.

use chrono::Duration;
use serde_json::{Value, json};

use crate::support::{Receiver, Sim, id, time};

fn error(answer: &Value) -> &str {
    answer["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error in {answer}"))
}

#[tokio::test]
async fn a_private_room_needs_its_own_meeting_token() {
    let sim = Sim::fast().await;
    let private = sim.create_ok(json!({ "require_auth": true })).await;
    let other = sim.create_ok(json!({ "require_auth": true })).await;
    let (c, url) = (id(&private), private["conversation_url"].as_str().unwrap());
    let token = private["meeting_token"].as_str().unwrap();
    assert_eq!(token.split('.').count(), 3, "{token}");
    assert!(token.starts_with("eyJ"), "{token}");
    assert_ne!(token, other["meeting_token"].as_str().unwrap());
    assert!(!url.contains('?'), "the room URL carries no token: {url}");

    let (status, refused) = sim.join(&c, url).await;
    assert_eq!(status, 403);
    assert!(error(&refused).contains("meeting token"), "{refused}");
    let foreign = other["meeting_token"].as_str().unwrap();
    let (status, refused) = sim.join(&c, &format!("{url}?t={foreign}")).await;
    assert_eq!(
        (status, error(&refused)),
        (403, "the meeting token is not valid for this room")
    );
    let other_room = format!("{}?t={token}", other["conversation_url"].as_str().unwrap());
    assert_eq!(sim.join(&c, &other_room).await.0, 403);
    assert_eq!(
        sim.join(&c, &format!("{url}?t={token}")).await,
        (204, Value::Null)
    );

    let view = sim.view(&c).await;
    assert_eq!(
        (view["joins"].as_u64(), view["joins_refused"].as_u64()),
        (Some(1), Some(3))
    );
    assert_eq!(view["meeting_token"], token);
    assert_eq!(view["require_auth"], true);
    assert_eq!(sim.stats().await["joins"], 1);
}

#[tokio::test]
async fn the_meeting_token_is_never_shown_again() {
    let sim = Sim::fast().await;
    let private = sim.create_ok(json!({ "require_auth": true })).await;
    let public = sim.create_ok(json!({})).await;
    assert!(public.get("meeting_token").is_none(), "{public}");
    let c = id(&private);
    for path in [
        format!("/v2/conversations/{c}"),
        format!("/v2/conversations/{c}?verbose=true"),
    ] {
        let (status, body) = sim.get(&path).await;
        assert_eq!(status, 200);
        assert!(body.get("meeting_token").is_none(), "{path}: {body}");
    }
    let (_, list) = sim.get("/v2/conversations").await;
    let items = list["data"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert!(
        items.iter().all(|item| item.get("meeting_token").is_none()),
        "{list}"
    );
}

#[tokio::test]
async fn the_meeting_token_expires_after_the_absent_timeout_and_a_join_keeps_the_call() {
    let sim = Sim::fast().await;
    // 200 simulated seconds: 2 real seconds to join in.
    let private = sim
        .create_ok(
            json!({ "require_auth": true, "properties": { "participant_absent_timeout": 200 } }),
        )
        .await;
    let c = id(&private);
    let with_token = format!(
        "{}?t={}",
        private["conversation_url"].as_str().unwrap(),
        private["meeting_token"].as_str().unwrap()
    );
    assert_eq!(sim.join(&c, &with_token).await.0, 204);
    assert_eq!(sim.view(&c).await["meeting_token_expired"], false);

    sim.wait_for(&c, "expired", |v| v["meeting_token_expired"] == true)
        .await;
    let (status, refused) = sim.join(&c, &with_token).await;
    assert_eq!(
        (status, error(&refused)),
        (403, "the meeting token has expired")
    );

    let view = sim
        .wait_for(&c, "past its absent timer", |v| {
            v["absent_timer_done"] == true
        })
        .await;
    assert_eq!(view["status"], "active", "someone joined: {view}");
    assert_eq!(view["shutdown_reason"], Value::Null);
    assert_eq!(view["joins"], 1);
    assert_eq!(sim.stats().await["active"], 1);
}

#[tokio::test]
async fn a_public_room_admits_anyone_with_its_url() {
    let sim = Sim::fast().await;
    let public = sim.create_ok(json!({})).await;
    let (c, url) = (id(&public), public["conversation_url"].as_str().unwrap());
    assert_eq!(sim.join(&c, url).await.0, 204);
    assert_eq!(sim.join(&c, &format!("{url}?t=anything#x")).await.0, 204);
    let (status, refused) = sim.join(&c, "https://tavus.daily.co/elsewhere").await;
    assert_eq!(
        (status, error(&refused)),
        (403, "the url is not this conversation's room")
    );
    assert_eq!(sim.view(&c).await["joins"], 2);
}

#[tokio::test]
async fn max_participants_keeps_one_place_for_the_replica() {
    let sim = Sim::fast().await;
    let three = sim.create_ok(json!({ "max_participants": 3 })).await;
    let (c, url) = (id(&three), three["conversation_url"].as_str().unwrap());
    assert_eq!(sim.join(&c, url).await.0, 204);
    assert_eq!(sim.join(&c, url).await.0, 204);
    let (status, refused) = sim.join(&c, url).await;
    assert_eq!(
        (status, error(&refused)),
        (403, "the room is full (max_participants)")
    );

    let two = sim.create_ok(json!({ "max_participants": 2 })).await;
    let (c, url) = (id(&two), two["conversation_url"].as_str().unwrap());
    assert_eq!(sim.join(&c, url).await.0, 204);
    assert_eq!(sim.join(&c, url).await.0, 403);
    assert_eq!(sim.view(&c).await["joins"], 1);
}

#[tokio::test]
async fn ended_unknown_and_test_mode_calls_refuse_joins() {
    let sim = Sim::fast().await;
    let call = sim.create_ok(json!({})).await;
    let (c, url) = (id(&call), call["conversation_url"].as_str().unwrap());
    assert_eq!(sim.end(&c).await.0, 200);
    let (status, refused) = sim.join(&c, url).await;
    assert_eq!(
        (status, error(&refused)),
        (410, "the conversation has ended")
    );
    let (status, refused) = sim.join("c000000000000", url).await;
    assert_eq!((status, error(&refused)), (404, "no such conversation"));
    let test = sim.create_ok(json!({ "test_mode": true })).await;
    let url = test["conversation_url"].as_str().unwrap();
    assert_eq!(sim.join(&id(&test), url).await.0, 410);
    let (status, _) = sim
        .control(&format!("/_sim/conversations/{c}/join"), json!({}))
        .await;
    assert_eq!(status, 400, "a join needs a url");
}

#[tokio::test]
async fn nobody_joining_ends_the_call_at_the_absent_timeout() {
    let sim = Sim::fast().await;
    let mut callbacks = Receiver::start().await;
    let call = sim
        .create_ok(json!({
            "callback_url": callbacks.url,
            "conversational_context": "ctx",
            "properties": { "participant_absent_timeout": 30 }
        }))
        .await;
    let c = id(&call);
    let created = time(&call["created_at"]);

    let shutdown = callbacks.next_end_event(&c).await;
    assert_eq!(shutdown["event_type"], "system.shutdown");
    assert_eq!(
        shutdown["properties"]["shutdown_reason"],
        "participant_absent_timeout reached"
    );
    assert_eq!(
        time(&shutdown["timestamp"]) - created,
        Duration::seconds(30)
    );
    let transcript = callbacks.next_end_event(&c).await;
    assert_eq!(transcript["event_type"], "application.transcription_ready");
    assert_eq!(
        transcript["properties"]["transcript"],
        json!([{ "role": "system", "content": "ctx" }]),
        "nobody joined, so nobody spoke"
    );

    let (_, details) = sim
        .get(&format!("/v2/conversations/{c}?verbose=true"))
        .await;
    assert_eq!(details["status"], "ended");
    assert_eq!(
        time(&details["updated_at"]) - created,
        Duration::seconds(30)
    );
    assert_eq!(
        details["shutdown_reason"],
        "participant_absent_timeout reached"
    );
    let view = sim.view(&c).await;
    assert_eq!(view["absent_timer_done"], true);
    assert_eq!(
        view["callbacks"],
        json!([
            "system.replica_joined",
            "system.shutdown",
            "application.transcription_ready"
        ])
    );
    assert_eq!(
        sim.join(&c, call["conversation_url"].as_str().unwrap())
            .await
            .0,
        410
    );
}

#[tokio::test]
async fn the_absent_timeout_defaults_to_300_seconds() {
    let sim = Sim::fast().await;
    let call = sim.create_ok(json!({})).await;
    let view = sim.view(&id(&call)).await;
    assert_eq!(view["participant_absent_timeout"], 300);
    assert_eq!(view["max_call_duration"], 3600);
    assert_eq!(view["max_participants"], Value::Null);
}
