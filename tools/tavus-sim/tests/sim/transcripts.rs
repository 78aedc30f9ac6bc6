//! Transcript shapes, injected turns, and calls that end without a shutdown event.

use chrono::Duration;
use serde_json::{Value, json};
use tavus_sim::{SimConfig, TranscriptShape};

use crate::support::{Receiver, Sim, id, time};

fn keys(turn: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = turn
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    keys
}

const CLASSIC: [&str; 2] = ["content", "role"];
const EXTENDED: [&str; 6] = [
    "content",
    "duration",
    "inference_id",
    "role",
    "seconds_from_start",
    "timestamp",
];

/// Creates a call with a callback receiver, ends it by control with `end`, and returns the
/// transcript that arrived.
async fn transcript_after(sim: &Sim, end: Value) -> Value {
    let mut callbacks = Receiver::start().await;
    let call = sim
        .create_ok(json!({ "callback_url": callbacks.url, "conversational_context": "ctx" }))
        .await;
    let c = id(&call);
    assert_eq!(sim.control_end(&c, end).await.0, 204);
    let shutdown = callbacks.next_end_event(&c).await;
    assert_eq!(shutdown["event_type"], "system.shutdown");
    let ready = callbacks.next_end_event(&c).await;
    assert_eq!(ready["event_type"], "application.transcription_ready");
    ready["properties"]["transcript"].clone()
}

#[tokio::test]
async fn transcripts_are_extended_by_default() {
    let sim = Sim::fast().await;
    let mut callbacks = Receiver::start().await;
    let call = sim
        .create_ok(json!({ "callback_url": callbacks.url, "conversational_context": "ctx" }))
        .await;
    let c = id(&call);
    assert_eq!(sim.end(&c).await.0, 200);
    assert_eq!(
        callbacks.next_end_event(&c).await["event_type"],
        "system.shutdown"
    );
    let ready = callbacks.next_end_event(&c).await;
    let turns = ready["properties"]["transcript"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(turns.len(), 3);
    assert_eq!(turns[0], json!({ "role": "system", "content": "ctx" }));
    for turn in &turns[1..] {
        assert_eq!(keys(turn), EXTENDED, "{turn}");
        assert!(
            turn["seconds_from_start"].is_f64() && turn["duration"].is_f64(),
            "{turn}"
        );
        assert_eq!(turn["inference_id"].as_str().unwrap().len(), 36);
    }
    let offset = time(&turns[1]["timestamp"]) - time(&call["created_at"]);
    assert_eq!(offset, Duration::milliseconds(4250));
    assert_eq!(turns[1]["seconds_from_start"], 4.25);
    assert_eq!(
        (turns[1]["role"].as_str(), turns[2]["role"].as_str()),
        (Some("user"), Some("assistant"))
    );
}

#[tokio::test]
async fn the_shape_is_set_per_simulator_and_per_call() {
    let classic = Sim::start(SimConfig {
        speedup: 100.0,
        transcript_shape: TranscriptShape::Classic,
        ..SimConfig::default()
    })
    .await;
    let turns = transcript_after(&classic, json!({ "duration_seconds": 60 })).await;
    for turn in turns.as_array().unwrap() {
        assert_eq!(keys(turn), CLASSIC, "{turn}");
    }
    let per_call = json!({ "duration_seconds": 60, "transcript_shape": "extended" });
    let turns = transcript_after(&classic, per_call).await;
    assert_eq!(keys(&turns[1]), EXTENDED);

    let extended = Sim::fast().await;
    let per_call = json!({ "duration_seconds": 60, "transcript_shape": "classic" });
    let turns = transcript_after(&extended, per_call).await;
    assert_eq!(turns.as_array().unwrap().len(), 3);
    assert!(
        turns.as_array().unwrap().iter().all(|t| keys(t) == CLASSIC),
        "{turns}"
    );
}

#[tokio::test]
async fn injected_turns_are_sent_verbatim() {
    let sim = Sim::fast().await;
    let unusable = json!([{ "role": "user" }, { "role": "assistant", "content": null }]);
    let turns = transcript_after(
        &sim,
        json!({ "duration_seconds": 60, "transcript_shape": "classic", "extra_turns": unusable }),
    )
    .await;
    assert_eq!(
        turns,
        json!([
            { "role": "system", "content": "ctx" },
            { "role": "user", "content": "Hello, I'd like to talk about my week." },
            { "role": "assistant", "content": "Of course. What has been on your mind?" },
            { "role": "user" },
            { "role": "assistant", "content": null },
        ])
    );
    let replaced =
        json!([{ "role": "user", "content": "only this" }, { "role": "user", "content": null }]);
    let turns = transcript_after(&sim, json!({ "duration_seconds": 60, "turns": replaced })).await;
    assert_eq!(
        turns,
        json!([
            { "role": "system", "content": "ctx" },
            { "role": "user", "content": "only this" },
            { "role": "user", "content": null },
        ])
    );
}

#[tokio::test]
async fn a_call_can_end_without_a_shutdown_event() {
    let sim = Sim::fast().await;
    let mut callbacks = Receiver::start().await;
    let call = sim
        .create_ok(json!({ "callback_url": callbacks.url }))
        .await;
    let c = id(&call);
    let end =
        json!({ "duration_seconds": 95, "shutdown_event": false, "shutdown_reason": "ignored" });
    assert_eq!(sim.control_end(&c, end).await.0, 204);
    // The shutdown would come first, in the same ordered batch as the transcript.
    let first = callbacks.next_end_event(&c).await;
    assert_eq!(first["event_type"], "application.transcription_ready");

    let (_, details) = sim
        .get(&format!("/v2/conversations/{c}?verbose=true"))
        .await;
    assert_eq!(details["status"], "ended");
    assert_eq!(
        time(&details["updated_at"]) - time(&call["created_at"]),
        Duration::seconds(95)
    );
    assert!(details.get("shutdown_reason").is_none(), "{details}");
    let types: Vec<&str> = details["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        ["system.replica_joined", "application.transcription_ready"]
    );
    assert_eq!(
        sim.view(&c).await["callbacks"],
        json!(["system.replica_joined", "application.transcription_ready"])
    );
}

#[tokio::test]
async fn a_call_can_end_with_no_callbacks_at_all() {
    let sim = Sim::fast().await;
    let callbacks = Receiver::start().await;
    let c = id(&sim
        .create_ok(json!({ "callback_url": callbacks.url }))
        .await);
    let end = json!({ "duration_seconds": 12.5, "shutdown_event": false, "transcript": false });
    assert_eq!(sim.control_end(&c, end).await.0, 204);
    let view = sim.view(&c).await;
    assert_eq!(view["status"], "ended");
    assert_eq!(view["shutdown_reason"], Value::Null);
    assert_eq!(view["callbacks"], json!(["system.replica_joined"]));
    assert_eq!(view["events"].as_array().unwrap().len(), 1);
    assert_eq!(sim.stats().await["active"], 0);
}
