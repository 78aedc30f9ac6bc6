//! Create, list, get, end and delete as Tavus documents them, test mode, and the settings.

use chrono::Duration;
use serde_json::{Value, json};
use tavus_sim::{SimConfig, TestModeUrl};

use crate::support::{KEY, Receiver, Sim, id, time};

fn invalid_id() -> Value {
    json!({ "error": "Invalid conversation_id" })
}

fn names(list: &Value) -> Vec<&str> {
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["conversation_name"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn the_list_pages_and_filters_newest_first() {
    let sim = Sim::fast().await;
    for n in 0..12 {
        // Every third one is created ended (test mode); some rooms are private.
        sim.create_ok(json!({
            "conversation_name": format!("n{n:02}"),
            "test_mode": n % 3 == 0,
            "require_auth": n % 2 == 0,
        }))
        .await;
    }
    let (status, first) = sim.get("/v2/conversations").await;
    assert_eq!(status, 200);
    assert_eq!(first["total_count"], 12);
    assert_eq!(
        names(&first),
        [
            "n11", "n10", "n09", "n08", "n07", "n06", "n05", "n04", "n03", "n02"
        ]
    );
    let (_, second) = sim.get("/v2/conversations?page=2").await;
    assert_eq!(
        (names(&second), &second["total_count"]),
        (vec!["n01", "n00"], &json!(12))
    );
    let (_, third_of_five) = sim.get("/v2/conversations?limit=5&page=3").await;
    assert_eq!(names(&third_of_five), ["n01", "n00"]);
    let (_, beyond) = sim.get("/v2/conversations?page=9").await;
    assert_eq!(
        (
            beyond["data"].as_array().unwrap().len(),
            &beyond["total_count"]
        ),
        (0, &json!(12))
    );

    let (_, ended) = sim.get("/v2/conversations?status=ended&limit=50").await;
    assert_eq!(names(&ended), ["n09", "n06", "n03", "n00"]);
    assert_eq!(ended["total_count"], 4);
    let (_, active) = sim.get("/v2/conversations?status=active&limit=3").await;
    assert_eq!(
        (names(&active), &active["total_count"]),
        (vec!["n11", "n10", "n08"], &json!(8))
    );

    for item in first["data"].as_array().unwrap() {
        let mut keys: Vec<&str> = item
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "callback_url",
                "conversation_id",
                "conversation_name",
                "conversation_url",
                "created_at",
                "persona_id",
                "replica_id",
                "status",
                "updated_at"
            ],
            "no meeting_token in a list item"
        );
    }
    let (status, bad) = sim.get("/v2/conversations?limit=ten").await;
    assert_eq!(status, 400);
    assert!(bad["error"].is_string(), "{bad}");
}

#[tokio::test]
async fn a_hard_delete_ends_an_active_call_and_forgets_it() {
    let sim = Sim::fast().await;
    let mut callbacks = Receiver::start().await;
    let call = sim
        .create_ok(json!({ "callback_url": callbacks.url }))
        .await;
    let c = id(&call);
    let kept = id(&sim.create_ok(json!({})).await);

    assert_eq!(
        sim.delete(&format!("/v2/conversations/{c}?hard=true"))
            .await,
        (204, Value::Null)
    );
    let shutdown = callbacks.next_end_event(&c).await;
    assert_eq!(shutdown["event_type"], "system.shutdown");
    assert_eq!(
        shutdown["properties"]["shutdown_reason"],
        "daily_room_has_been_deleted"
    );
    let transcript = callbacks.next_end_event(&c).await;
    assert_eq!(transcript["event_type"], "application.transcription_ready");

    assert_eq!(
        sim.get(&format!("/v2/conversations/{c}")).await,
        (400, invalid_id())
    );
    let (_, list) = sim.get("/v2/conversations").await;
    assert_eq!(list["total_count"], 1);
    assert_eq!(list["data"][0]["conversation_id"], kept.as_str());
    assert_eq!(sim.end(&c).await, (400, invalid_id()));
    let (status, _) = sim
        .send(sim.http.get(sim.url(&format!("/_sim/conversations/{c}"))))
        .await;
    assert_eq!(status, 404, "a hard delete leaves nothing behind");
    assert_eq!(
        sim.delete(&format!("/v2/conversations/{c}?hard=true"))
            .await,
        (400, invalid_id())
    );
    assert_eq!(
        sim.delete("/v2/conversations/c000000000000").await,
        (400, invalid_id())
    );

    let stats = sim.stats().await;
    assert_eq!(stats["requests"]["DELETE /v2/conversations/{id}"], 3);
    assert_eq!(
        (stats["conversations"].as_u64(), stats["active"].as_u64()),
        (Some(1), Some(1))
    );
}

#[tokio::test]
async fn a_soft_delete_hides_the_call_but_keeps_it() {
    let sim = Sim::fast().await;
    let c = id(&sim.create_ok(json!({})).await);
    assert_eq!(
        sim.delete(&format!("/v2/conversations/{c}?hard=false"))
            .await
            .0,
        204
    );
    assert_eq!(
        sim.get(&format!("/v2/conversations/{c}?verbose=true"))
            .await,
        (400, invalid_id())
    );
    assert_eq!(sim.get("/v2/conversations").await.1["total_count"], 0);
    assert_eq!(
        sim.get("/v2/conversations?status=ended").await.1["total_count"],
        0
    );
    assert_eq!(sim.end(&c).await, (400, invalid_id()));
    assert_eq!(
        sim.delete(&format!("/v2/conversations/{c}")).await,
        (400, invalid_id())
    );

    let view = sim.view(&c).await;
    assert_eq!(view["deleted"], true);
    assert_eq!(view["status"], "ended");
    assert_eq!(view["shutdown_reason"], "daily_room_has_been_deleted");
    assert_eq!(
        view["callbacks"],
        json!([]),
        "no callback_url, nothing queued"
    );
    let stats = sim.stats().await;
    assert_eq!(
        (stats["conversations"].as_u64(), stats["active"].as_u64()),
        (Some(1), Some(0))
    );
    assert_eq!(
        sim.join(&c, view["conversation_url"].as_str().unwrap())
            .await
            .0,
        404
    );
}

#[tokio::test]
async fn deleting_an_ended_call_sends_nothing_more_and_needs_the_key() {
    let sim = Sim::fast().await;
    let mut callbacks = Receiver::start().await;
    let c = id(&sim
        .create_ok(json!({ "callback_url": callbacks.url }))
        .await);
    sim.control_end(&c, json!({ "duration_seconds": 5 })).await;
    assert_eq!(
        callbacks.next_end_event(&c).await["event_type"],
        "system.shutdown"
    );
    let before = sim.view(&c).await["callbacks"].clone();

    let (status, body) = sim
        .send(sim.http.delete(sim.url(&format!("/v2/conversations/{c}"))))
        .await;
    assert_eq!(
        (status, body),
        (401, json!({ "message": "Invalid access token" }))
    );
    assert_eq!(sim.delete(&format!("/v2/conversations/{c}")).await.0, 204);
    let view = sim.view(&c).await;
    assert_eq!(view["callbacks"], before);
    assert_eq!(view["shutdown_reason"], "participant_left_timeout reached");
    let (status, _) = sim.delete(&format!("/v2/conversations/{c}?hard=yes")).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn a_test_mode_call_is_created_ended_and_silent() {
    let sim = Sim::fast().await;
    let callbacks = Receiver::start().await;
    let test = sim
        .create_ok(json!({ "test_mode": true, "callback_url": callbacks.url }))
        .await;
    let c = id(&test);
    assert_eq!(test["status"], "ended");
    assert_eq!(test["created_at"], test["updated_at"]);
    assert_eq!(
        test["conversation_url"].as_str().unwrap(),
        format!("https://tavus.daily.co/{c}")
    );
    let (_, details) = sim
        .get(&format!("/v2/conversations/{c}?verbose=true"))
        .await;
    assert_eq!(details["status"], "ended");
    assert_eq!(details["events"], json!([]));
    assert!(details.get("shutdown_reason").is_none(), "{details}");
    let view = sim.view(&c).await;
    assert_eq!(
        (&view["callbacks"], &view["test_mode"]),
        (&json!([]), &json!(true))
    );
    assert_eq!(sim.stats().await["active"], 0);
}

#[tokio::test]
async fn a_test_mode_call_can_come_without_a_url() {
    let sim = Sim::start(SimConfig {
        test_mode_url: TestModeUrl::None,
        ..SimConfig::default()
    })
    .await;
    let test = sim.create_ok(json!({ "test_mode": true })).await;
    assert!(test.get("conversation_url").is_none(), "{test}");
    assert_eq!(test["status"], "ended");
    let (_, details) = sim.get(&format!("/v2/conversations/{}", id(&test))).await;
    assert!(details.get("conversation_url").is_none(), "{details}");
    let (_, list) = sim.get("/v2/conversations").await;
    assert!(list["data"][0].get("conversation_url").is_none(), "{list}");
    assert_eq!(sim.view(&id(&test)).await["conversation_url"], Value::Null);
    // Only test mode goes without; a normal call keeps its room.
    let normal = sim.create_ok(json!({})).await;
    assert!(normal["conversation_url"].is_string(), "{normal}");
}

#[tokio::test]
async fn the_settings_change_at_run_time() {
    let sim = Sim::fast().await;
    let (status, config) = sim.send(sim.http.get(sim.url("/_sim/config"))).await;
    assert_eq!(status, 200);
    assert_eq!(
        config,
        json!({ "transcript_shape": "extended", "test_mode_url": "room", "require_replica": false,
                "recording_shape": "legacy", "s3_endpoint": null })
    );
    assert_eq!(sim.create(json!({})).await.0, 200);
    let (status, config) = sim
        .control(
            "/_sim/config",
            json!({ "test_mode_url": "none", "require_replica": true, "recording_shape": "storage" }),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        config,
        json!({ "transcript_shape": "extended", "test_mode_url": "none", "require_replica": true,
                "recording_shape": "storage", "s3_endpoint": null })
    );
    let (status, refused) = sim.create(json!({})).await;
    assert_eq!(status, 400);
    assert!(
        refused["error"].as_str().unwrap().contains("replica"),
        "{refused}"
    );
    let test = sim
        .create_ok(json!({ "test_mode": true, "pal_id": "p1" }))
        .await;
    assert!(test.get("conversation_url").is_none(), "{test}");
    let (status, _) = sim.control("/_sim/config", json!({ "speedup": 2 })).await;
    assert_eq!(status, 400, "only the documented settings");
}

#[tokio::test]
async fn a_replica_is_required_when_configured() {
    let sim = Sim::start(SimConfig {
        require_replica: true,
        ..SimConfig::default()
    })
    .await;
    let (status, refused) = sim.create(json!({ "conversation_name": "x" })).await;
    assert_eq!(status, 400);
    assert!(
        refused["error"].as_str().unwrap().contains("replica"),
        "{refused}"
    );
    for body in [
        json!({ "persona_id": "p1" }),
        json!({ "pal_id": "p1" }),
        json!({ "replica_id": "r1" }),
        json!({ "face_id": "f1" }),
    ] {
        assert_eq!(sim.create(body.clone()).await.0, 200, "{body}");
    }
}

#[tokio::test]
async fn bodies_are_validated_as_documented() {
    let sim = Sim::fast().await;
    for (body, mentions) in [
        (json!({ "max_participants": 1 }), "max_participants"),
        (
            json!({ "properties": { "max_call_duration": 0 } }),
            "max_call_duration",
        ),
        (
            json!({ "properties": { "max_call_duration": 3601 } }),
            "max_call_duration",
        ),
        (json!({ "prompt": "guessed" }), "prompt"),
        (
            json!({ "properties": { "languages": ["en"] } }),
            "languages",
        ),
    ] {
        let (status, refused) = sim.create(body.clone()).await;
        assert_eq!(status, 400, "{body}");
        assert!(
            refused["error"].as_str().unwrap().contains(mentions),
            "{body}: {refused}"
        );
    }
    let ok = sim
        .create_ok(json!({ "max_participants": 2, "properties": { "max_call_duration": 3600 } }))
        .await;
    assert_eq!(ok["status"], "active");
}

#[tokio::test]
async fn the_control_end_keeps_its_old_defaults() {
    let sim = Sim::fast().await;
    let mut callbacks = Receiver::start().await;
    let call = sim
        .create_ok(json!({ "callback_url": callbacks.url }))
        .await;
    let c = id(&call);
    assert_eq!(
        sim.control_end(&c, json!({ "duration_seconds": 421.5 }))
            .await
            .0,
        204
    );
    let shutdown = callbacks.next_end_event(&c).await;
    assert_eq!(
        shutdown["properties"]["shutdown_reason"],
        "participant_left_timeout reached"
    );
    assert_eq!(
        time(&shutdown["timestamp"]) - time(&call["created_at"]),
        Duration::milliseconds(421_500)
    );
    assert_eq!(
        callbacks.next_end_event(&c).await["event_type"],
        "application.transcription_ready"
    );
    // Ending again changes nothing; an unknown call is 404.
    assert_eq!(
        sim.control_end(&c, json!({ "duration_seconds": 9 }))
            .await
            .0,
        204
    );
    assert_eq!(sim.view(&c).await["ended_at"], shutdown["timestamp"]);
    let (status, missing) = sim
        .control_end("c000000000000", json!({ "duration_seconds": 1 }))
        .await;
    assert_eq!(
        (status, missing),
        (404, json!({ "error": "no such conversation" }))
    );
    let (status, _) = sim.control_end(&c, json!({ "duration_seconds": -1 })).await;
    assert_eq!(status, 400);
    assert_eq!(
        sim.end(&c).await.0,
        200,
        "ending an ended call is a harmless 200"
    );
    let answer = sim
        .http
        .get(sim.url("/v2/conversations"))
        .header("x-api-key", KEY);
    assert_eq!(sim.send(answer).await.0, 200);
}

/// `GET /_sim/history` keeps what ran, hard-deleted calls included, for a reconciliation of
/// the books; `DELETE /_sim/faults` forgets every rule.
#[tokio::test]
async fn the_history_keeps_every_call_and_faults_can_be_cleared() {
    let sim = Sim::fast().await;
    let gone = id(&sim.create_ok(json!({})).await);
    let soft = id(&sim.create_ok(json!({})).await);
    let kept = id(&sim.create_ok(json!({})).await);
    assert_eq!(sim.end(&gone).await.0, 200);
    assert_eq!(
        sim.delete(&format!("/v2/conversations/{gone}?hard=true"))
            .await
            .0,
        204
    );
    assert_eq!(
        sim.delete(&format!("/v2/conversations/{soft}")).await.0,
        204
    );
    let (status, history) = sim.send(sim.http.get(sim.url("/_sim/history"))).await;
    assert_eq!(status, 200);
    let by_id = |c: &str| {
        history["conversations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["conversation_id"] == c)
            .cloned()
            .unwrap_or_else(|| panic!("{c} is not in the history"))
    };
    let (gone, soft, kept) = (by_id(&gone), by_id(&soft), by_id(&kept));
    assert_eq!(
        (gone["deleted"].as_str(), gone["status"].as_str()),
        (Some("hard"), Some("ended"))
    );
    assert!(gone["ended_at"].is_string() && gone["created_at"].is_string());
    assert_eq!(soft["deleted"].as_str(), Some("soft"));
    assert_eq!(
        (kept["deleted"].as_str(), kept["status"].as_str()),
        (None, Some("active"))
    );

    let rule = json!({ "fail_next": 5, "fail_status": 503 });
    let added = sim
        .send(sim.http.post(sim.url("/_sim/faults")).json(&rule))
        .await;
    assert_eq!(added.0, 204);
    assert_eq!(sim.create(json!({})).await.0, 503);
    let cleared = sim.send(sim.http.delete(sim.url("/_sim/faults"))).await;
    assert_eq!(cleared.0, 204);
    assert_eq!(sim.create(json!({})).await.0, 200, "the rule is forgotten");
}

/// A clock offset shifts every time the simulator writes (Tavus's clock skewed against ours,
/// or a run shifted to a month's end).
#[tokio::test]
async fn a_clock_offset_shifts_every_time_written() {
    let sim = Sim::start(SimConfig {
        clock_offset_ms: 3_600_000,
        ..SimConfig::default()
    })
    .await;
    let before = chrono::Utc::now();
    let call = sim.create_ok(json!({})).await;
    let shifted = time(&call["created_at"]) - before;
    assert!(
        (3599..=3601).contains(&shifted.num_seconds()),
        "created {shifted} after the real time"
    );
}
