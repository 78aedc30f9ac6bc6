//! Tavus callbacks through the gateway to the real webhook function.

use e2e_tests::Api;
use futures::future::join_all;
use serde_json::{Value, json};

fn shutdown(
    conversation_id: &str,
    url: &str,
    at: chrono::DateTime<chrono::Utc>,
    reason: &str,
) -> Value {
    json!({
        "properties": { "replica_id": "r-sim-default", "shutdown_reason": reason },
        "conversation_id": conversation_id,
        "webhook_url": url,
        "event_type": "system.shutdown",
        "message_type": "system",
        "timestamp": at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
    })
}

fn created_at(session: &Value) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(session["created_at"].as_str().unwrap())
        .unwrap()
        .with_timezone(&chrono::Utc)
}

#[tokio::test]
async fn fifty_duplicated_shuffled_callbacks_charge_each_session_once() {
    let api = Api::from_env();
    let user = Api::user("callbacks");
    let mut expected_total = 0;
    let mut sessions = Vec::new();
    let mut callbacks = Vec::new();
    for i in 0..10i64 {
        let created = api
            .post(
                &user,
                "/sessions",
                &json!({ "session_type": "reflect_alone", "prompt": "x", "max_minutes": 2 }),
            )
            .await;
        assert_eq!(created.status, 201, "{:?}", created.body);
        let conversation_id = created.body["conversation_id"].as_str().unwrap().to_owned();
        let url = api.callback_url(&conversation_id).await;
        // Durations of 10 s to 118 s: charged 1 or 2 minutes.
        let seconds = 10 + i * 12;
        let expected = (seconds + 59) / 60;
        expected_total += expected;
        let event = shutdown(
            &conversation_id,
            &url,
            created_at(&created.body) + chrono::Duration::seconds(seconds),
            "participant_left_timeout",
        );
        for copy in 0..5 {
            // Later copies carry other reasons and times, as a confused sender might: still one charge.
            let mut event = event.clone();
            if copy > 2 {
                event["timestamp"] = json!(
                    (created_at(&created.body) + chrono::Duration::seconds(seconds + 30))
                        .format("%Y-%m-%dT%H:%M:%S%.6fZ")
                        .to_string()
                );
            }
            callbacks.push((url.clone(), event));
        }
        sessions.push((
            created.body["session_id"].as_str().unwrap().to_owned(),
            expected,
        ));
    }
    // Shuffle deterministically (a permutation by a step coprime with 50), then send all at once.
    let shuffled: Vec<_> = (0..callbacks.len())
        .map(|i| callbacks[(i * 17) % callbacks.len()].clone())
        .collect();
    let answers = join_all(shuffled.iter().map(|(url, event)| api.callback(url, event))).await;
    assert!(
        answers.iter().all(|a| a.status == 204),
        "{:?}",
        answers.iter().map(|a| a.status).collect::<Vec<_>>()
    );

    for (id, expected) in &sessions {
        let session = api.get(&user, &format!("/sessions/{id}")).await;
        assert_eq!(session.body["status"], "ended");
        assert_eq!(session.body["end_reason"], "participant_left");
        let charged = session.body["charged_minutes"].as_i64().unwrap();
        // The first copy to land wins; all five copies of one call agree within a minute.
        assert!(
            charged == *expected || charged == *expected + 1,
            "{id}: {charged} vs {expected}"
        );
    }
    let paths: Vec<String> = sessions
        .iter()
        .map(|(id, _)| format!("/sessions/{id}"))
        .collect();
    let charges: i64 = join_all(paths.iter().map(|p| api.get(&user, p)))
        .await
        .iter()
        .map(|s| s.body["charged_minutes"].as_i64().unwrap())
        .sum();
    let usage = api.get(&user, "/usage").await;
    assert_eq!(
        usage.body["used_minutes"].as_i64(),
        Some(charges),
        "account total = sum of charges"
    );
    assert_eq!(usage.body["reserved_minutes"], 0);
    assert_eq!(
        usage.body["open_sessions"], 0,
        "each callback-settled session gave its place back once"
    );
    assert!(charges >= expected_total && charges <= expected_total + 10);
}

#[tokio::test]
async fn forged_or_altered_tokens_get_404_and_change_nothing() {
    let api = Api::from_env();
    let user = Api::user("forger");
    let created = api
        .post(
            &user,
            "/sessions",
            &json!({ "session_type": "reflect_alone", "prompt": "x", "max_minutes": 5 }),
        )
        .await;
    let conversation_id = created.body["conversation_id"].as_str().unwrap();
    let url = api.callback_url(conversation_id).await;
    let event = shutdown(
        conversation_id,
        &url,
        created_at(&created.body) + chrono::Duration::seconds(200),
        "max_call_duration reached",
    );

    let (base, token) = url.rsplit_once('/').unwrap();
    let mut altered = token.to_owned().into_bytes();
    let i = 10; // inside the claims
    altered[i] = if altered[i] == b'A' { b'B' } else { b'A' };
    let altered = String::from_utf8(altered).unwrap();
    for bad in [
        format!("{base}/v1.e30.c2lnbmF0dXJl"),
        format!("{base}/{altered}"),
        format!("{base}/not-a-token"),
    ] {
        let answer = api.callback(&bad, &event).await;
        assert_eq!(answer.status, 404, "{bad}");
        assert_eq!(answer.body["code"], "not_found");
    }
    let usage = api.get(&user, "/usage").await;
    assert_eq!(
        (
            usage.body["used_minutes"].as_i64(),
            usage.body["reserved_minutes"].as_i64()
        ),
        (Some(0), Some(5))
    );
    assert_eq!(
        api.get(
            &user,
            &format!("/sessions/{}", created.body["session_id"].as_str().unwrap())
        )
        .await
        .body["status"],
        "active"
    );
    // The real token settles it.
    assert_eq!(api.callback(&url, &event).await.status, 204);
    assert_eq!(api.get(&user, "/usage").await.body["used_minutes"], 4);
}

#[tokio::test]
async fn a_one_megabyte_transcript_is_stored_and_returned_whole() {
    let api = Api::from_env();
    let owner = Api::user("talker");
    let partner = Api::user("listener");
    let body = json!({ "session_type": "resolve_together", "prompt": "x", "participants": [partner], "max_minutes": 10 });
    let created = api.post(&owner, "/sessions", &body).await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let id = created.body["session_id"].as_str().unwrap();
    let conversation_id = created.body["conversation_id"].as_str().unwrap();
    let url = api.callback_url(conversation_id).await;
    assert_eq!(
        api.get(&owner, &format!("/sessions/{id}/transcript"))
            .await
            .status,
        404,
        "not arrived yet"
    );

    let mut turns =
        vec![json!({ "role": "system", "content": "persona instructions and the user's prompt" })];
    for i in 0..2000 {
        let role = if i % 2 == 0 { "user" } else { "assistant" };
        turns.push(json!({ "role": role, "content": format!("turn {i:04} {}", "lorem ipsum dolor sit amet ".repeat(19)) }));
    }
    let event = json!({
        "properties": { "replica_id": "r1", "transcript": turns },
        "conversation_id": conversation_id, "webhook_url": url,
        "event_type": "application.transcription_ready", "message_type": "application",
        "timestamp": "2026-11-24T10:07:32.000000Z",
    });
    let size = event.to_string().len();
    assert!(size > 1_000_000, "{size} bytes");
    assert_eq!(api.callback(&url, &event).await.status, 204);
    assert_eq!(
        api.callback(&url, &event).await.status,
        204,
        "a duplicate is harmless"
    );

    let transcript = api.get(&owner, &format!("/sessions/{id}/transcript")).await;
    assert_eq!(transcript.status, 200);
    let stored = transcript.body["transcript"].as_array().unwrap();
    assert_eq!(stored.len(), 2000, "whole, without the system turn");
    assert_eq!(stored[..], turns[1..]);
    assert_eq!(
        api.get(&partner, &format!("/sessions/{id}/transcript"))
            .await
            .status,
        200,
        "participants may read it"
    );
    assert_eq!(
        api.get(
            &Api::user("stranger"),
            &format!("/sessions/{id}/transcript")
        )
        .await
        .status,
        404
    );

    // Settlement still works after the transcript (callbacks in any order).
    let end = shutdown(
        conversation_id,
        &url,
        created_at(&created.body) + chrono::Duration::seconds(65),
        "participant_left_timeout",
    );
    assert_eq!(api.callback(&url, &end).await.status, 204);
    assert_eq!(
        api.get(&owner, &format!("/sessions/{id}")).await.body["charged_minutes"],
        2
    );
}

#[tokio::test]
async fn malformed_callbacks_are_400_and_other_events_204() {
    let api = Api::from_env();
    let user = Api::user("odd");
    let created = api
        .post(
            &user,
            "/sessions",
            &json!({ "session_type": "reflect_alone", "prompt": "x", "max_minutes": 3 }),
        )
        .await;
    let conversation_id = created.body["conversation_id"].as_str().unwrap();
    let url = api.callback_url(conversation_id).await;
    assert_eq!(
        api.callback(&url, &json!(["not", "an", "envelope"]))
            .await
            .status,
        400
    );
    let no_time = json!({ "event_type": "system.shutdown", "conversation_id": conversation_id, "properties": {} });
    assert_eq!(api.callback(&url, &no_time).await.status, 400);
    let bad_transcript = json!({ "event_type": "application.transcription_ready", "properties": { "transcript": "nope" } });
    assert_eq!(api.callback(&url, &bad_transcript).await.status, 400);
    let joined = json!({ "event_type": "system.replica_joined", "conversation_id": conversation_id, "properties": { "replica_id": "r" }, "timestamp": "2026-11-24T10:00:03Z" });
    assert_eq!(api.callback(&url, &joined).await.status, 204);
    let unknown = json!({ "event_type": "application.something_new", "properties": {} });
    assert_eq!(api.callback(&url, &unknown).await.status, 204);
    assert_eq!(
        api.get(&user, "/usage").await.body["reserved_minutes"],
        3,
        "nothing settled"
    );
}
