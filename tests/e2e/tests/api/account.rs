//! A person takes their data and leaves, end to end: `GET /me/export` holds exactly what was
//! stored for them in their own view (a partner's notes never), a large export is handed over
//! through the bucket, and after `DELETE /me` no item of the table carries their id, no object
//! of their sessions is left in the bucket and no conversation of theirs at the simulator,
//! while their partner keeps their own sessions and notes. A deletion cut short is finished by
//! the sweep-sessions function, and while it is marked nothing new starts or leaves.

use std::time::{Duration, Instant};

use awaknow_core::domain::UserId;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::Utc;
use e2e_tests::{Answer, Api, assert_problem, env};
use serde_json::{Value, json};

use crate::scheduled::Stack;

fn together(partner: &str, record: bool) -> Value {
    json!({ "session_type": "resolve_together", "prompt": "our week", "participants": [partner],
            "max_minutes": 5, "record": record })
}

fn alone() -> Value {
    json!({ "session_type": "reflect_alone", "prompt": "my week", "max_minutes": 5 })
}

fn text<'a>(value: &'a Value, field: &str) -> &'a str {
    value[field]
        .as_str()
        .unwrap_or_else(|| panic!("no {field} in {value}"))
}

async fn created(api: &Api, owner: &str, body: &Value) -> (String, String) {
    let answer = api.post(owner, "/sessions", body).await;
    assert_eq!(answer.status, 201, "{:?}", answer.body);
    (
        text(&answer.body, "session_id").to_owned(),
        text(&answer.body, "conversation_id").to_owned(),
    )
}

/// Tavus's transcript of the call, through the session's callback URL.
async fn transcript(api: &Api, conversation: &str, words: &str) {
    let url = api.callback_url(conversation).await;
    let body = json!({
        "properties": { "replica_id": "r1", "transcript": [
            { "role": "user", "content": words }, { "role": "assistant", "content": "I hear you" } ] },
        "conversation_id": conversation, "webhook_url": url,
        "event_type": "application.transcription_ready", "message_type": "application",
        "timestamp": Utc::now().format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
    });
    assert_eq!(api.callback(&url, &body).await.status, 204);
}

async fn write_notes(api: &Api, user: &str, id: &str, words: &str) {
    let answer = api
        .put(
            user,
            &format!("/sessions/{id}/notes"),
            &json!({ "text": words }),
        )
        .await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
}

/// `DELETE /me` until it answers 204 (a 202 says it is still at work), 30 s at most.
async fn delete_me(api: &Api, user: &str) -> Vec<u16> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut statuses = Vec::new();
    loop {
        let answer = api.delete(user, "/me").await;
        statuses.push(answer.status);
        match answer.status {
            204 => return statuses,
            202 => {
                assert_eq!(answer.body["status"], "in_progress", "{:?}", answer.body);
                assert!(answer.retry_after.is_some());
                assert!(Instant::now() < deadline, "never finished: {statuses:?}");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            _ => panic!("DELETE /me: {} {:?}", answer.status, answer.body),
        }
    }
}

/// Every item of the stack's table in which `needle` appears, in any attribute, at any depth.
async fn items_naming(stack: &Stack, needle: &str) -> Vec<String> {
    fn names(value: &AttributeValue, needle: &str) -> bool {
        match value {
            AttributeValue::S(s) => s.contains(needle),
            AttributeValue::Ss(list) => list.iter().any(|s| s.contains(needle)),
            AttributeValue::L(list) => list.iter().any(|v| names(v, needle)),
            AttributeValue::M(map) => map
                .iter()
                .any(|(k, v)| k.contains(needle) || names(v, needle)),
            _ => false,
        }
    }
    test_support::scan_table(&stack.ledger)
        .await
        .unwrap()
        .iter()
        .filter(|item| item.values().any(|v| names(v, needle)))
        .map(|item| format!("{:?} {:?}", item.get("pk"), item.get("sk")))
        .collect()
}

/// The simulator no longer has `conversation` (deleted for good).
async fn assert_gone_at_tavus(api: &Api, conversation: &str) {
    let path = format!("/_sim/conversations/{conversation}");
    let (status, body) = api.sim(reqwest::Method::GET, &path, None).await;
    assert_eq!(
        status, 404,
        "conversation {conversation} is still at Tavus: {body}"
    );
}

/// Ends the call at the simulator (`end` as its control route takes it).
async fn end_at_tavus(api: &Api, conversation: &str, end: Value) {
    let (status, body) = api
        .sim(
            reqwest::Method::POST,
            &format!("/_sim/conversations/{conversation}/end"),
            Some(&end),
        )
        .await;
    assert_eq!(status, 204, "{body}");
}

fn session<'a>(export: &'a Value, id: &str) -> &'a Value {
    export["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["session_id"] == id)
        .unwrap_or_else(|| panic!("no session {id} in the export"))
}

fn session_ids(export: &Value) -> Vec<&str> {
    export["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["session_id"].as_str().unwrap())
        .collect()
}

/// `GET /me/export` as `user`: the document itself (small enough here).
async fn export_of(api: &Api, user: &str) -> (Value, String) {
    let answer: Answer = api.get(user, "/me/export").await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    assert_eq!(answer.body["kind"], "document", "{:?}", answer.body);
    let raw = answer.body.to_string();
    (answer.body, raw)
}

/// The recording of `id` as `user` sees it, once it is not pending (30 s at most).
async fn ready_recording(api: &Api, user: &str, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let answer = api.get(user, &format!("/sessions/{id}/recording")).await;
        if answer.body["status"] == "ready" {
            return answer.body;
        }
        assert!(Instant::now() < deadline, "the recording never arrived");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn an_export_is_the_users_own_view_and_deleting_the_account_leaves_nothing_of_theirs() {
    let (api, stack) = (Api::from_env(), Stack::new());
    let (leaver, partner) = (Api::user("leaver"), Api::user("stayer"));

    // The leaver's recorded session with the partner: a transcript, both people's notes, the
    // call ended at the simulator, which then writes and announces the recording.
    let (mine, mine_call) = created(&api, &leaver, &together(&partner, true)).await;
    transcript(&api, &mine_call, "the leaver's own words").await;
    write_notes(&api, &leaver, &mine, "leaver on their session").await;
    write_notes(&api, &partner, &mine, "partner on the leaver's session").await;
    // No transcript of the simulator's: the one posted above is the session's.
    let end = json!({ "duration_seconds": 42.0, "recording_shape": "legacy", "transcript": false });
    end_at_tavus(&api, &mine_call, end).await;
    let recording_url = text(&ready_recording(&api, &leaver, &mine).await, "url").to_owned();

    // The partner's session with the leaver, ended at Tavus.
    let (theirs, theirs_call) = created(&api, &partner, &together(&leaver, false)).await;
    transcript(&api, &theirs_call, "the partner's words").await;
    write_notes(&api, &leaver, &theirs, "leaver on the partner's session").await;
    write_notes(&api, &partner, &theirs, "partner on their own session").await;
    let end = json!({ "duration_seconds": 70.0, "transcript": false });
    end_at_tavus(&api, &theirs_call, end).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while api.get(&partner, &format!("/sessions/{theirs}")).await.body["status"] != "ended" {
        assert!(
            Instant::now() < deadline,
            "the shutdown callback never came"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // A call of the leaver's still running, created with an Idempotency-Key.
    let key = format!("leave-{}", ulid::Ulid::new());
    let running = api.post_keyed(&leaver, "/sessions", &alone(), &key).await;
    assert_eq!(running.status, 201, "{:?}", running.body);
    let running_id = text(&running.body, "session_id").to_owned();
    let running_call = text(&running.body, "conversation_id").to_owned();

    // The leaver's export: every session in their own view, newest first.
    let (export, raw) = export_of(&api, &leaver).await;
    assert_eq!(export["format_version"], 1);
    assert_eq!(export["user_id"], leaver.as_str());
    assert_eq!(
        session_ids(&export),
        [running_id.as_str(), theirs.as_str(), mine.as_str()]
    );
    let usage = api.get(&leaver, "/usage").await.body;
    assert_eq!(export["usage"], usage);
    let history = api.get(&leaver, "/usage/history").await.body;
    assert_eq!(export["usage_history"], history["periods"]);
    let own = session(&export, &mine);
    assert_eq!(
        (own["role"].as_str(), own["status"].as_str()),
        (Some("owner"), Some("ended"))
    );
    assert_eq!(own["notes"]["text"], "leaver on their session");
    assert_eq!(own["transcript"][0]["content"], "the leaver's own words");
    assert_eq!(own["recording"]["status"], "ready");
    let video = reqwest::get(text(&own["recording"], "url")).await.unwrap();
    assert_eq!(video.status(), 200);
    assert_eq!(
        video.bytes().await.unwrap().as_ref(),
        tavus_sim::recording_bytes(&mine_call).as_slice()
    );
    let joined = session(&export, &theirs);
    assert_eq!(joined["role"], "participant");
    assert_eq!(joined["notes"]["text"], "leaver on the partner's session");
    assert_eq!(joined["transcript"][0]["content"], "the partner's words");
    assert_eq!(joined["recording"], json!({ "status": "none" }));
    let open = session(&export, &running_id);
    assert_eq!(
        (&open["status"], &open["notes"], &open["transcript"]),
        (&json!("active"), &Value::Null, &Value::Null)
    );
    assert!(
        open.get("meeting_token").is_none() && open.get("join_url").is_none(),
        "{open}"
    );
    assert_eq!(
        export["idempotency_keys"],
        json!([{ "key": key, "session_id": running_id,
                 "expires_at": export["idempotency_keys"][0]["expires_at"] }])
    );
    assert_eq!(export["erased_sessions"], json!([]));
    for others in [
        "partner on the leaver's session",
        "partner on their own session",
    ] {
        assert!(
            !raw.contains(others),
            "the partner's notes are in the leaver's export"
        );
    }

    // The partner's export: their own notes only.
    let (partners, partners_raw) = export_of(&api, &partner).await;
    assert_eq!(session_ids(&partners), [theirs.as_str(), mine.as_str()]);
    assert_eq!(
        session(&partners, &mine)["notes"]["text"],
        "partner on the leaver's session"
    );
    assert!(
        !partners_raw.contains("leaver on"),
        "the leaver's notes are in the partner's export"
    );

    // The leaver goes (the table held plenty of theirs until now).
    assert!(items_naming(&stack, &leaver).await.len() >= 10);
    let statuses = delete_me(&api, &leaver).await;
    eprintln!("DELETE /me answered {statuses:?}");
    assert_eq!(items_naming(&stack, &leaver).await, Vec::<String>::new());
    assert_eq!(reqwest::get(&recording_url).await.unwrap().status(), 404);
    for call in [&mine_call, &running_call] {
        assert_gone_at_tavus(&api, call).await;
    }

    // The partner keeps their own session, without the leaver, with their notes and its
    // transcript; the leaver's session is gone for them too.
    let listed = api.get(&partner, "/sessions").await.body;
    let ids: Vec<&str> = listed["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["session_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [theirs.as_str()]);
    assert_eq!(listed["sessions"][0]["participants"], json!([]));
    let notes = api
        .get(&partner, &format!("/sessions/{theirs}/notes"))
        .await;
    assert_eq!(notes.body["text"], "partner on their own session");
    let kept = api
        .get(&partner, &format!("/sessions/{theirs}/transcript"))
        .await;
    assert_eq!(kept.body["transcript"][0]["content"], "the partner's words");
    assert_eq!(
        api.get(&partner, &format!("/sessions/{mine}")).await.status,
        404
    );

    // Signing in again starts afresh, and deleting again is done at once.
    let fresh = api.get(&leaver, "/usage").await.body;
    assert_eq!(
        (
            &fresh["plan"],
            &fresh["used_minutes"],
            &fresh["reserved_minutes"]
        ),
        (&json!("free"), &json!(0), &json!(0))
    );
    let history = api.get(&leaver, "/usage/history").await.body;
    assert_eq!(history["periods"].as_array().unwrap().len(), 1, "{history}");
    assert_eq!(history["periods"][0]["used_minutes"], 0);
    assert_eq!(
        api.get(&leaver, "/sessions").await.body["sessions"],
        json!([])
    );
    assert_eq!(delete_me(&api, &leaver).await, [204]);
    assert_eq!(items_naming(&stack, &leaver).await, Vec::<String>::new());
}

#[tokio::test]
async fn a_large_export_is_handed_over_through_the_bucket_and_goes_with_the_account() {
    let (api, stack) = (Api::from_env(), Stack::new());
    let user = Api::user("large-export");
    let (id, call) = created(&api, &user, &alone()).await;
    // More than the test stack answers inline (EXPORT_INLINE_LIMIT_BYTES, 200,000 bytes).
    let words = "a long reflection ".repeat(15_000);
    transcript(&api, &call, &words).await;

    let answer = api.get(&user, "/me/export").await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    assert_eq!(answer.body["kind"], "download", "{:?}", answer.body);
    let url = text(&answer.body, "url").to_owned();
    assert!(url.starts_with(&env("MOTO_ENDPOINT")), "{url}");
    let fetched = reqwest::get(&url).await.unwrap();
    assert_eq!(fetched.status(), 200);
    let bytes = fetched.bytes().await.unwrap();
    assert_eq!(answer.body["size_bytes"], bytes.len());
    let document: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(document["kind"], "document");
    assert_eq!(document["user_id"], user.as_str());
    assert_eq!(
        session(&document, &id)["transcript"][0]["content"],
        words.as_str()
    );

    assert_eq!(delete_me(&api, &user).await.last(), Some(&204));
    assert_eq!(
        reqwest::get(&url).await.unwrap().status(),
        404,
        "the export outlived the account"
    );
    assert_eq!(items_naming(&stack, &user).await, Vec::<String>::new());
}

#[tokio::test]
async fn a_deletion_cut_short_refuses_new_sessions_and_the_sweeper_finishes_it() {
    let (api, stack) = (Api::from_env(), Stack::new());
    let user = Api::user("cut-short");
    let (id, call) = created(&api, &user, &alone()).await;
    write_notes(&api, &user, &id, "before leaving").await;
    // The request began an hour ago and stopped after marking the account.
    let user_id = UserId::parse(&user).unwrap();
    let began = Utc::now() - chrono::Duration::hours(1);
    stack
        .ledger
        .mark_account_deleting(&user_id, began)
        .await
        .unwrap();
    let refused = api.post(&user, "/sessions", &alone()).await;
    assert_problem(&refused, 409, "account_being_deleted");
    let no_export = api.get(&user, "/me/export").await;
    assert_problem(&no_export, 409, "account_being_deleted");

    // Another test's sweep may finish it first; either way it ends finished.
    let report = stack.invoke("sweep-sessions").await;
    eprintln!("sweep: {report}");
    assert_eq!(items_naming(&stack, &user).await, Vec::<String>::new());
    assert_gone_at_tavus(&api, &call).await;
}
