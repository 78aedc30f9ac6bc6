//! Tavus as its documentation says it behaves, through the local stack: private rooms, the join
//! window, callbacks bound to their conversation, newer transcripts, Tavus's copy deleted after
//! the call, and no conversation left running by a create whose answer was lost.

use std::time::{Duration, Instant};

use e2e_tests::{Answer, Api};
use reqwest::Method;
use serde_json::{Value, json};

fn reflect(prompt: &str, minutes: u32) -> Value {
    json!({ "session_type": "reflect_alone", "prompt": prompt, "max_minutes": minutes })
}

fn text<'a>(answer: &'a Answer, field: &str) -> &'a str {
    answer.body[field]
        .as_str()
        .unwrap_or_else(|| panic!("{field} missing: {:?}", answer.body))
}

/// Polls `check` every 200 ms for at most 20 s; callbacks arrive on their own time.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let until = Instant::now() + Duration::from_secs(20);
    while Instant::now() < until {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("{what}: not within 20 s");
}

#[tokio::test]
async fn rooms_are_private_and_only_members_get_the_way_in() {
    let api = Api::from_env();
    let (owner, partner) = (Api::user("room-owner"), Api::user("room-partner"));
    let body = json!({ "session_type": "resolve_together", "prompt": "x", "participants": [partner], "max_minutes": 5 });
    let created = api.post(&owner, "/sessions", &body).await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let (id, cid) = (
        text(&created, "session_id"),
        text(&created, "conversation_id"),
    );
    let (room, token) = (
        text(&created, "conversation_url"),
        text(&created, "meeting_token"),
    );
    assert_eq!(text(&created, "join_url"), format!("{room}?t={token}"));

    // Tavus was asked for a private room, a join window and room for exactly these people.
    let (status, at_tavus) = api
        .sim(Method::GET, &format!("/_sim/conversations/{cid}"), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(at_tavus["require_auth"], true);
    assert_eq!(at_tavus["max_participants"], 3, "owner, partner, replica");
    assert_eq!(at_tavus["participant_absent_timeout"], 120);

    // The bare room refuses; the join link gets in.
    let join = |url: &str| {
        let body = json!({ "url": url });
        let path = format!("/_sim/conversations/{cid}/join");
        let api = &api;
        async move { api.sim(Method::POST, &path, Some(&body)).await.0 }
    };
    assert_eq!(join(room).await, 403, "no token, no entry");
    assert_eq!(join(text(&created, "join_url")).await, 204);

    // The owner and the partner read the link; nobody else reads the session; no list shows it.
    for member in [&owner, &partner] {
        let read = api.get(member, &format!("/sessions/{id}")).await;
        assert_eq!(read.status, 200);
        assert_eq!(read.body["join_url"], created.body["join_url"]);
    }
    assert_eq!(
        api.get(&Api::user("stranger"), &format!("/sessions/{id}"))
            .await
            .status,
        404
    );
    for member in [&owner, &partner] {
        let list = api.get(member, "/sessions").await;
        let listed = &list.body["sessions"][0];
        assert_eq!(listed["session_id"], id);
        assert!(
            listed.get("meeting_token").is_none() && listed.get("join_url").is_none(),
            "{listed}"
        );
    }

    // A reflection has room for the user and the replica only.
    let alone = api.post(&owner, "/sessions", &reflect("x", 2)).await;
    let (_, at_tavus) = api
        .sim(
            Method::GET,
            &format!("/_sim/conversations/{}", text(&alone, "conversation_id")),
            None,
        )
        .await;
    assert_eq!(at_tavus["max_participants"], 2);

    // Once ended, the link is gone from the session.
    let ended = api
        .post(&owner, &format!("/sessions/{id}/end"), &json!({}))
        .await;
    assert_eq!(ended.status, 200);
    let read = api.get(&owner, &format!("/sessions/{id}")).await;
    assert!(read.body.get("join_url").is_none(), "{:?}", read.body);
}

#[tokio::test]
async fn a_callback_for_another_conversation_changes_nothing() {
    let api = Api::from_env();
    let user = Api::user("crossed");
    let first = api.post(&user, "/sessions", &reflect("x", 3)).await;
    let second = api.post(&user, "/sessions", &reflect("x", 4)).await;
    assert_eq!((first.status, second.status), (201, 201));
    let url = api.callback_url(text(&first, "conversation_id")).await;
    let other = text(&second, "conversation_id");

    let shutdown = json!({
        "event_type": "system.shutdown", "message_type": "system", "conversation_id": other,
        "timestamp": chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
        "properties": { "shutdown_reason": "participant_left_timeout" },
    });
    assert_eq!(api.callback(&url, &shutdown).await.status, 204);
    let transcript = json!({
        "event_type": "application.transcription_ready", "message_type": "application",
        "conversation_id": other, "timestamp": "2026-11-25T10:00:00Z",
        "properties": { "transcript": [{ "role": "user", "content": "not yours" }] },
    });
    assert_eq!(api.callback(&url, &transcript).await.status, 204);

    let id = text(&first, "session_id");
    assert_eq!(
        api.get(&user, &format!("/sessions/{id}")).await.body["status"],
        "active",
        "a callback naming another conversation does not settle this session"
    );
    assert_eq!(
        api.get(&user, &format!("/sessions/{id}/transcript"))
            .await
            .status,
        404
    );
    let usage = api.get(&user, "/usage").await;
    assert_eq!(
        (
            usage.body["reserved_minutes"].as_i64(),
            usage.body["used_minutes"].as_i64()
        ),
        (Some(7), Some(0))
    );
}

#[tokio::test]
async fn newer_transcripts_are_kept_whole_and_tavus_forgets_the_call() {
    let api = Api::from_env();
    let user = Api::user("newer");
    let created = api.post(&user, "/sessions", &reflect("x", 10)).await;
    let (id, cid) = (
        text(&created, "session_id"),
        text(&created, "conversation_id"),
    );
    // Tavus's newer turns carry timestamps and more; two turns have nothing usable.
    let end = json!({
        "duration_seconds": 200.0, "shutdown_reason": "participant_left_timeout reached",
        "transcript_shape": "extended",
        "extra_turns": [{ "role": "assistant" }, { "role": "user", "content": null, "seconds_from_start": 9.0 }],
    });
    let (status, _) = api
        .sim(
            Method::POST,
            &format!("/_sim/conversations/{cid}/end"),
            Some(&end),
        )
        .await;
    assert_eq!(status, 204);

    let path = format!("/sessions/{id}/transcript");
    eventually("the transcript arrives", || async {
        api.get(&user, &path).await.status == 200
    })
    .await;
    let transcript = api.get(&user, &path).await;
    let turns = transcript.body["transcript"].as_array().unwrap();
    assert!(
        turns.len() >= 2
            && turns
                .iter()
                .all(|t| t["content"].as_str().is_some_and(|c| !c.is_empty())),
        "{turns:?}"
    );
    assert!(
        turns.iter().any(|t| t["role"] == "user") && turns.iter().any(|t| t["role"] == "assistant")
    );
    let session = api.get(&user, &format!("/sessions/{id}")).await;
    assert_eq!(session.body["charged_minutes"], 4, "200 s");

    // Stored and settled: Tavus's copy is deleted for good.
    let at_tavus = format!("/_sim/conversations/{cid}");
    eventually("tavus's copy is deleted", || async {
        api.sim(Method::GET, &at_tavus, None).await.0 == 404
    })
    .await;
}

#[tokio::test]
async fn a_call_nobody_joined_is_charged_its_join_window() {
    let api = Api::from_env();
    let user = Api::user("absent");
    let created = api.post(&user, "/sessions", &reflect("x", 10)).await;
    let (id, cid) = (
        text(&created, "session_id"),
        text(&created, "conversation_id"),
    );
    // What Tavus does at participant_absent_timeout (120 s here) when nobody came.
    let end = json!({ "duration_seconds": 120.0, "shutdown_reason": "participant_absent_timeout reached" });
    api.sim(
        Method::POST,
        &format!("/_sim/conversations/{cid}/end"),
        Some(&end),
    )
    .await;
    let path = format!("/sessions/{id}");
    eventually("the session settles", || async {
        api.get(&user, &path).await.body["status"] == "ended"
    })
    .await;
    let session = api.get(&user, &path).await;
    assert_eq!(session.body["charged_minutes"], 2);
    assert_eq!(session.body["end_reason"], "participant_left");
    assert_eq!(api.get(&user, "/usage").await.body["used_minutes"], 2);
}

#[tokio::test]
async fn a_create_whose_answer_was_lost_leaves_no_conversation_running() {
    let api = Api::from_env();
    let user = Api::user("lost-answer");
    let marker = format!("lost-{}", ulid::Ulid::new());
    // Tavus creates the conversation, then the answer is a 503.
    api.tavus_fault(
        json!({ "when_body_contains": marker, "create_then_fail_next": 1, "fail_status": 503 }),
    )
    .await;
    let created = api.post(&user, "/sessions", &reflect(&marker, 5)).await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let (id, kept) = (
        text(&created, "session_id"),
        text(&created, "conversation_id"),
    );

    let all: Value = reqwest::Client::new()
        .get(format!("{}/v2/conversations?limit=1000", api.tavus))
        .header("x-api-key", &api.tavus_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ours: Vec<&Value> = all["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| {
            c["conversation_name"]
                .as_str()
                .is_some_and(|n| n.contains(id))
        })
        .collect();
    // The lost one was ended and deleted before the create was tried again: only the kept one
    // is left, running for the session.
    assert_eq!(ours.len(), 1, "{ours:?}");
    assert_eq!(
        (&ours[0]["conversation_id"], &ours[0]["status"]),
        (&json!(kept), &json!("active"))
    );
    let usage = api.get(&user, "/usage").await;
    assert_eq!(
        usage.body["reserved_minutes"], 5,
        "one reservation, whatever Tavus did"
    );
}

#[test]
fn create_session_refuses_to_start_without_a_persona_or_replica() {
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| {
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target")
        });
    let binary = target.join("debug").join("create-session");
    let run = |persona: Option<&str>| {
        let mut command = std::process::Command::new(&binary);
        command
            .env_clear()
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "local")
            .env("AWS_SECRET_ACCESS_KEY", "local")
            .env("TABLE_NAME", "t")
            .env("TAVUS_SECRET_ID", "s")
            .env("AUTH_MODE", "authorizer")
            .env("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9")
            .env("AWS_LAMBDA_FUNCTION_NAME", "create-session")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "1");
        if let Some(persona) = persona {
            command.env("TAVUS_PERSONA_ID_REFLECT", persona);
        }
        command
            .output()
            .unwrap_or_else(|e| panic!("{}: {e} (make test builds it)", binary.display()))
    };
    let none = run(None);
    assert!(!none.status.success());
    let said = String::from_utf8_lossy(&none.stderr);
    assert!(
        said.contains("TAVUS_PERSONA_ID_REFLECT") && said.contains("TAVUS_REPLICA_ID_REFLECT"),
        "{said}"
    );
    // Reflections covered, resolutions not: still refused, naming the other pair.
    let half = run(Some("p1"));
    assert!(!half.status.success());
    let said = String::from_utf8_lossy(&half.stderr);
    assert!(said.contains("TAVUS_PERSONA_ID_RESOLVE"), "{said}");
}
