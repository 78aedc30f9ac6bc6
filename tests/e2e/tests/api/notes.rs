//! Private notes, erasure, the countdown of a running call and usage history, as a client meets
//! them through the gateway, with the Tavus simulator behind the functions.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use e2e_tests::{Answer, Api, assert_problem};
use serde_json::{Value, json};

fn reflect(minutes: u32) -> Value {
    json!({ "session_type": "reflect_alone", "prompt": "notes and history", "max_minutes": minutes })
}

fn time(value: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(
        value
            .as_str()
            .unwrap_or_else(|| panic!("not a time: {value}")),
    )
    .unwrap_or_else(|e| panic!("{value}: {e}"))
    .with_timezone(&Utc)
}

/// Polls until `done` holds, for at most 30 s: for work the stack does after answering (the
/// simulator's callbacks), never a fixed sleep.
async fn eventually<F, Fut>(what: &str, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn put_notes(api: &Api, user: &str, id: &str, text: &str, if_match: Option<&str>) -> Answer {
    let headers: Vec<(&str, &str)> = if_match.map(|tag| ("if-match", tag)).into_iter().collect();
    api.send_as(
        reqwest::Method::PUT,
        user,
        &format!("/sessions/{id}/notes"),
        Some(&json!({ "text": text })),
        &headers,
    )
    .await
}

/// A `resolve_together` session of `owner` with `partner`.
async fn together(api: &Api, owner: &str, partner: &str) -> Value {
    let body = json!({ "session_type": "resolve_together", "prompt": "chores",
                       "participants": [partner], "max_minutes": 5 });
    let created = api.post(owner, "/sessions", &body).await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    created.body
}

/// Ends the call on Tavus's side with a shutdown callback only: the session settles, and no
/// transcript comes, so Tavus's copy stays until the sweeper (or an erasure) deletes it.
async fn end_without_transcript(api: &Api, user: &str, session: &Value) {
    let (id, conversation) = (
        session["session_id"].as_str().unwrap(),
        session["conversation_id"].as_str().unwrap(),
    );
    let (status, body) = api
        .sim(
            reqwest::Method::POST,
            &format!("/_sim/conversations/{conversation}/end"),
            Some(&json!({ "duration_seconds": 70.0, "transcript": false })),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    eventually("the shutdown callback", || async {
        api.get(user, &format!("/sessions/{id}")).await.body["status"] == "ended"
    })
    .await;
}

#[tokio::test]
async fn each_person_has_private_notes_and_strangers_get_404() {
    let api = Api::from_env();
    let (owner, partner, stranger) = (
        Api::user("notes-owner"),
        Api::user("notes-partner"),
        Api::user("notes-stranger"),
    );
    let session = together(&api, &owner, &partner).await;
    let id = session["session_id"].as_str().unwrap();
    let path = format!("/sessions/{id}/notes");

    let empty = api.get(&owner, &path).await;
    assert_eq!(empty.status, 200, "{:?}", empty.body);
    assert_eq!(
        empty.body,
        json!({ "session_id": id, "text": "", "updated_at": null })
    );
    let empty_tag = empty.etag.clone().expect("an ETag before the first write");

    let mine = put_notes(
        &api,
        &owner,
        id,
        "the owner's private thoughts",
        Some(&empty_tag),
    )
    .await;
    assert_eq!(mine.status, 200, "{:?}", mine.body);
    assert_eq!(mine.body["text"], "the owner's private thoughts");
    assert!(mine.body["updated_at"].is_string());
    let theirs = put_notes(&api, &partner, id, "the partner's own", None).await;
    assert_eq!(theirs.status, 200, "{:?}", theirs.body);

    // Nobody sees another's.
    assert_eq!(
        api.get(&owner, &path).await.body["text"],
        "the owner's private thoughts"
    );
    assert_eq!(
        api.get(&partner, &path).await.body["text"],
        "the partner's own"
    );
    // Anyone else: 404, as for the session itself, reading or writing.
    assert_problem(&api.get(&stranger, &path).await, 404, "not_found");
    assert_problem(
        &put_notes(&api, &stranger, id, "sneaky", None).await,
        404,
        "not_found",
    );
    assert_eq!(
        api.get(&owner, &path).await.body["text"],
        "the owner's private thoughts",
        "the stranger's write changed nothing"
    );
}

#[tokio::test]
async fn a_stale_if_match_is_412_and_changes_nothing() {
    let api = Api::from_env();
    let user = Api::user("notes-tabs");
    let created = api.post(&user, "/sessions", &reflect(3)).await;
    let id = created.body["session_id"].as_str().unwrap();
    let path = format!("/sessions/{id}/notes");
    let tag = api.get(&user, &path).await.etag.unwrap();

    // Two tabs read the same notes; the first writes, the second's write is refused.
    let first = put_notes(&api, &user, id, "tab one", Some(&tag)).await;
    assert_eq!(first.status, 200, "{:?}", first.body);
    let new_tag = first.etag.clone().expect("a new ETag");
    assert_ne!(new_tag, tag);
    let second = put_notes(&api, &user, id, "tab two", Some(&tag)).await;
    assert_problem(&second, 412, "precondition_failed");
    let read = api.get(&user, &path).await;
    assert_eq!(read.body["text"], "tab one");
    assert_eq!(read.etag.as_deref(), Some(new_tag.as_str()));
    assert_eq!(read.body["updated_at"], first.body["updated_at"]);

    // With the current tag it goes through; a junk or weak tag never matches.
    assert_eq!(
        put_notes(&api, &user, id, "merged", Some(&new_tag))
            .await
            .status,
        200
    );
    for junk in ["nonsense", "W/\"x\"", "\"01ANOTHERTAG\""] {
        assert_problem(
            &put_notes(&api, &user, id, "junk", Some(junk)).await,
            412,
            "precondition_failed",
        );
    }
    assert_eq!(api.get(&user, &path).await.body["text"], "merged");
}

#[tokio::test]
async fn notes_over_20000_characters_are_400_and_nothing_is_stored() {
    let api = Api::from_env();
    let user = Api::user("notes-long");
    let created = api.post(&user, "/sessions", &reflect(3)).await;
    let id = created.body["session_id"].as_str().unwrap();
    let path = format!("/sessions/{id}/notes");

    let too_long = put_notes(&api, &user, id, &"é".repeat(20_001), None).await;
    assert_problem(&too_long, 400, "invalid_request");
    assert!(
        too_long.body["detail"]
            .as_str()
            .is_some_and(|d| d.starts_with("text")),
        "{:?}",
        too_long.body
    );
    let read = api.get(&user, &path).await;
    assert_eq!(
        (
            read.body["text"].as_str(),
            read.body["updated_at"].is_null()
        ),
        (Some(""), true)
    );
    assert_eq!(read.etag.as_deref(), Some("\"empty\""));

    let longest = put_notes(&api, &user, id, &"é".repeat(20_000), None).await;
    assert_eq!(longest.status, 200, "20,000 characters are allowed");
    let extra_field = api
        .put(&user, &path, &json!({ "text": "x", "owner_id": "someone" }))
        .await;
    assert_problem(&extra_field, 400, "invalid_request");
}

#[tokio::test]
async fn notes_can_be_written_after_the_call() {
    let api = Api::from_env();
    let user = Api::user("notes-after");
    let created = api.post(&user, "/sessions", &reflect(3)).await;
    let id = created.body["session_id"].as_str().unwrap();
    let during = put_notes(&api, &user, id, "during the call", None).await;
    assert_eq!(during.status, 200);
    let ended = api
        .post(&user, &format!("/sessions/{id}/end"), &json!({}))
        .await;
    assert_eq!(ended.body["status"], "ended");
    let after = put_notes(&api, &user, id, "after the call", during.etag.as_deref()).await;
    assert_eq!(after.status, 200, "{:?}", after.body);
    assert_eq!(
        api.get(&user, &format!("/sessions/{id}/notes")).await.body["text"],
        "after the call"
    );
}

#[tokio::test]
async fn erasing_removes_the_session_transcript_notes_and_tavus_copy_but_no_charge() {
    let api = Api::from_env();
    let (owner, partner) = (Api::user("erase-owner"), Api::user("erase-partner"));
    let session = together(&api, &owner, &partner).await;
    let id = session["session_id"].as_str().unwrap().to_owned();
    let conversation = session["conversation_id"].as_str().unwrap().to_owned();
    let session_path = format!("/sessions/{id}");

    // While the call runs: 409, end it first.
    assert_problem(
        &api.delete(&owner, &session_path).await,
        409,
        "session_active",
    );
    assert_eq!(put_notes(&api, &owner, &id, "mine", None).await.status, 200);
    assert_eq!(
        put_notes(&api, &partner, &id, "theirs", None).await.status,
        200
    );
    // A transcript through the session's callback URL while the call is still open (so the
    // webhook keeps Tavus's copy), then the shutdown alone: settled, Tavus's copy still there.
    let url = api.callback_url(&conversation).await;
    let transcript = json!({
        "properties": { "replica_id": "r1", "transcript": [
            { "role": "user", "content": "hello" }, { "role": "assistant", "content": "hi" } ] },
        "conversation_id": conversation, "webhook_url": url,
        "event_type": "application.transcription_ready", "message_type": "application",
        "timestamp": Utc::now().format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
    });
    assert_eq!(api.callback(&url, &transcript).await.status, 204);
    assert_eq!(
        api.get(&owner, &format!("{session_path}/transcript"))
            .await
            .status,
        200
    );
    end_without_transcript(&api, &owner, &session).await;
    let sim_path = format!("/_sim/conversations/{conversation}");
    assert_eq!(api.sim(reqwest::Method::GET, &sim_path, None).await.0, 200);
    let usage_before = api.get(&owner, "/usage").await.body;
    let history_before = api.get(&owner, "/usage/history").await.body;

    // A participant cannot erase it.
    assert_problem(&api.delete(&partner, &session_path).await, 404, "not_found");
    let erased = api.delete(&owner, &session_path).await;
    assert_eq!(erased.status, 204, "{:?}", erased.body);

    for reader in [&owner, &partner] {
        for path in [
            session_path.clone(),
            format!("{session_path}/transcript"),
            format!("{session_path}/notes"),
        ] {
            assert_problem(&api.get(reader, &path).await, 404, "not_found");
        }
        let listed = api.get(reader, "/sessions").await;
        assert!(
            listed.body["sessions"]
                .as_array()
                .unwrap()
                .iter()
                .all(|s| s["session_id"] != id.as_str()),
            "{:?}",
            listed.body
        );
    }
    assert_problem(
        &put_notes(&api, &partner, &id, "again", None).await,
        404,
        "not_found",
    );
    assert_problem(&api.delete(&owner, &session_path).await, 404, "not_found");
    // Tavus's copy is gone for good.
    let (status, body) = api.sim(reqwest::Method::GET, &sim_path, None).await;
    assert_eq!(status, 404, "Tavus still keeps {body}");
    // What was charged stays charged.
    assert_eq!(api.get(&owner, "/usage").await.body, usage_before);
    assert_eq!(api.get(&owner, "/usage/history").await.body, history_before);
    assert_eq!(
        usage_before["used_minutes"], 2,
        "a 70 s call is two minutes"
    );
}

#[tokio::test]
async fn erasing_a_settled_session_deletes_the_tavus_copy_the_sweeper_was_due_to() {
    let api = Api::from_env();
    let owner = Api::user("erase-pending-copy");
    let created = api.post(&owner, "/sessions", &reflect(3)).await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let conversation = created.body["conversation_id"].as_str().unwrap().to_owned();
    end_without_transcript(&api, &owner, &created.body).await;
    let sim_path = format!("/_sim/conversations/{conversation}");
    let (kept, _) = api.sim(reqwest::Method::GET, &sim_path, None).await;
    assert_eq!(
        kept, 200,
        "Tavus keeps its copy until the sweeper deletes it"
    );

    let id = created.body["session_id"].as_str().unwrap();
    assert_eq!(
        api.delete(&owner, &format!("/sessions/{id}")).await.status,
        204
    );
    let (gone, body) = api.sim(reqwest::Method::GET, &sim_path, None).await;
    assert_eq!(gone, 404, "Tavus still keeps {body}");
}

#[tokio::test]
async fn an_active_session_counts_down_by_the_server_clock() {
    let api = Api::from_env();
    let user = Api::user("countdown");
    let created = api.post(&user, "/sessions", &reflect(7)).await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let id = created.body["session_id"].as_str().unwrap();
    let before = Utc::now();
    let read = api.get(&user, &format!("/sessions/{id}")).await;
    let after = Utc::now();
    let created_at = time(&read.body["created_at"]);
    let ends_at = time(&read.body["ends_at"]);
    assert_eq!(ends_at, created_at + chrono::Duration::minutes(7));
    let remaining = read.body["remaining_seconds"]
        .as_i64()
        .expect("remaining_seconds");
    // Within what the server's clock could have said between sending and receiving.
    let most = (ends_at - before).num_seconds();
    let least = (ends_at - after).num_seconds() - 1;
    assert!(
        (least..=most).contains(&remaining) && remaining <= 7 * 60 && remaining > 0,
        "{remaining} not in {least}..={most}"
    );
    assert!(
        created.body["remaining_seconds"]
            .as_i64()
            .is_some_and(|r| r <= 7 * 60)
    );

    let ended = api
        .post(&user, &format!("/sessions/{id}/end"), &json!({}))
        .await;
    assert_eq!(ended.body["status"], "ended");
    let read = api.get(&user, &format!("/sessions/{id}")).await;
    for field in ["ends_at", "remaining_seconds"] {
        assert!(
            read.body.get(field).is_none(),
            "{field} on an ended session"
        );
    }
}

#[tokio::test]
async fn usage_history_starts_with_the_current_period_and_counts_its_sessions() {
    let api = Api::from_env();
    let user = Api::user("history");
    let fresh = api.get(&user, "/usage/history").await;
    assert_eq!(fresh.status, 200, "{:?}", fresh.body);
    let period = api.get(&user, "/usage").await.body["period"].clone();
    assert_eq!(
        fresh.body["periods"],
        json!([{ "period": period, "plan": "free", "limit_minutes": 25, "used_minutes": 0, "sessions": 0 }])
    );

    // Two sessions (one retried with its Idempotency-Key: counted once), one that Tavus failed
    // to start (counted: created, charged nothing).
    assert_eq!(
        api.post_keyed(&user, "/sessions", &reflect(2), "history-1")
            .await
            .status,
        201
    );
    assert_eq!(
        api.post_keyed(&user, "/sessions", &reflect(2), "history-1")
            .await
            .status,
        201
    );
    let marker = format!("marker-{user}");
    api.tavus_fault(json!({ "when_body_contains": marker, "fail_next": 10, "fail_status": 500 }))
        .await;
    let failed = api
        .post(
            &user,
            "/sessions",
            &json!({ "session_type": "reflect_alone", "prompt": format!("fail {marker}") }),
        )
        .await;
    assert_eq!(failed.status, 502, "{:?}", failed.body);
    assert_eq!(api.post(&user, "/sessions", &reflect(2)).await.status, 201);

    let history = api.get(&user, "/usage/history").await;
    let current = &history.body["periods"][0];
    assert_eq!(current["period"], period);
    assert_eq!(current["sessions"], 3);
    assert_eq!(current["used_minutes"], 0);
    assert_eq!(history.body["periods"].as_array().unwrap().len(), 1);

    for bad in ["0", "25", "-1", "x", "1.5"] {
        assert_problem(
            &api.get(&user, &format!("/usage/history?limit={bad}")).await,
            400,
            "invalid_request",
        );
    }
    for good in ["1", "24"] {
        assert_eq!(
            api.get(&user, &format!("/usage/history?limit={good}"))
                .await
                .status,
            200
        );
    }
}
