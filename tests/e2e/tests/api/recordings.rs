//! Playback end to end: a session created with `"record": true`, the simulator writing the file
//! into the recordings bucket on moto and announcing it (in either shape), the presigned link
//! fetched byte for byte, a callback naming another bucket ignored, erasure deleting the file,
//! and a file announced after the erasure deleted on arrival.

use std::time::{Duration, Instant};

use e2e_tests::{Api, env};
use serde_json::{Value, json};

fn recorded(partner: &str) -> Value {
    json!({ "session_type": "resolve_together", "prompt": "a recorded talk",
            "participants": [partner], "max_minutes": 5, "record": true })
}

fn text<'a>(value: &'a Value, field: &str) -> &'a str {
    value[field]
        .as_str()
        .unwrap_or_else(|| panic!("no {field} in {value}"))
}

/// `GET /sessions/{id}/recording` as `user`, until it is not `pending` (30 s at most).
async fn settled_recording(api: &Api, user: &str, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let answer = api.get(user, &format!("/sessions/{id}/recording")).await;
        assert_eq!(answer.status, 200, "{:?}", answer.body);
        if answer.body["status"] != "pending" {
            return answer.body;
        }
        assert!(Instant::now() < deadline, "the recording never arrived");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Ends the call at the simulator as lasting 42 s; it then writes the recording and sends
/// `recording_ready` in `shape`.
async fn end_call(api: &Api, conversation: &str, shape: &str) {
    let (status, body) = api
        .sim(
            reqwest::Method::POST,
            &format!("/_sim/conversations/{conversation}/end"),
            Some(&json!({ "duration_seconds": 42.0, "recording_shape": shape })),
        )
        .await;
    assert_eq!(status, 204, "{body}");
}

#[tokio::test]
async fn a_recorded_session_plays_back_for_its_members_in_either_callback_shape() {
    let api = Api::from_env();
    for shape in ["legacy", "storage"] {
        let (owner, partner, stranger) = (
            Api::user("rec-owner"),
            Api::user("rec-partner"),
            Api::user("rec-stranger"),
        );
        let created = api.post(&owner, "/sessions", &recorded(&partner)).await;
        assert_eq!(created.status, 201, "{:?}", created.body);
        let session = &created.body;
        assert_eq!(session["record"], true);
        let id = text(session, "session_id");
        let conversation = text(session, "conversation_id");
        let pending = api.get(&owner, &format!("/sessions/{id}/recording")).await;
        assert_eq!(pending.body, json!({ "status": "pending" }));

        end_call(&api, conversation, shape).await;
        let ready = settled_recording(&api, &partner, id).await;
        assert_eq!(ready["status"], "ready", "{shape}: {ready}");
        if shape == "legacy" {
            assert_eq!(ready["duration_seconds"], 42);
        } else {
            assert!(ready.get("duration_seconds").is_none(), "{ready}");
        }
        let url = text(&ready, "url");
        assert!(url.starts_with(&env("MOTO_ENDPOINT")), "{url}");
        let expires_at = chrono::DateTime::parse_from_rfc3339(text(&ready, "expires_at")).unwrap();
        let left = expires_at.with_timezone(&chrono::Utc) - chrono::Utc::now();
        assert!(
            left <= chrono::Duration::seconds(300) && left > chrono::Duration::seconds(240),
            "{left}"
        );
        let fetched = reqwest::get(url).await.unwrap();
        assert_eq!(fetched.status(), 200);
        assert_eq!(
            fetched.bytes().await.unwrap().as_ref(),
            tavus_sim::recording_bytes(conversation).as_slice(),
            "the file the simulator wrote"
        );
        let owners = api.get(&owner, &format!("/sessions/{id}/recording")).await;
        assert_eq!(owners.body["status"], "ready");
        let refused = api
            .get(&stranger, &format!("/sessions/{id}/recording"))
            .await;
        assert_eq!(refused.status, 404, "{:?}", refused.body);

        // Erasure takes the file with it: the link that worked a moment ago finds nothing.
        let erased = api.delete(&owner, &format!("/sessions/{id}")).await;
        assert_eq!(erased.status, 204, "{:?}", erased.body);
        assert_eq!(reqwest::get(url).await.unwrap().status(), 404);
        let gone = api.get(&owner, &format!("/sessions/{id}/recording")).await;
        assert_eq!(gone.status, 404);
    }
}

#[tokio::test]
async fn a_recording_callback_naming_another_bucket_stores_nothing() {
    let api = Api::from_env();
    let (owner, partner) = (Api::user("rec-else"), Api::user("rec-else-partner"));
    let created = api.post(&owner, "/sessions", &recorded(&partner)).await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let session = &created.body;
    let id = text(session, "session_id");
    let conversation = text(session, "conversation_id");
    let callback_url = api.callback_url(conversation).await;
    for properties in [
        json!({ "bucket_name": "someone-elses-bucket", "s3_key": "x.mp4", "duration": 9 }),
        json!({ "storage_provider": "s3", "storage_uri": "s3://someone-elses-bucket/x.mp4" }),
    ] {
        let body = json!({
            "properties": properties, "conversation_id": conversation,
            "webhook_url": callback_url, "event_type": "application.recording_ready",
            "message_type": "application", "timestamp": "2026-11-25T10:00:00.000000Z",
        });
        let answer = api.callback(&callback_url, &body).await;
        assert_eq!(answer.status, 204, "{:?}", answer.body);
    }
    let still = api.get(&owner, &format!("/sessions/{id}/recording")).await;
    assert_eq!(still.body, json!({ "status": "pending" }));
    // The same callback naming our bucket (and a file of this conversation, as Tavus names
    // them) is taken: the check above is the bucket's.
    let ours = json!({
        "properties": { "bucket_name": env("RECORDINGS_BUCKET"), "s3_key": format!("recordings/{conversation}.mp4") },
        "conversation_id": conversation, "webhook_url": callback_url,
        "event_type": "application.recording_ready", "message_type": "application",
        "timestamp": "2026-11-25T10:00:00.000000Z",
    });
    assert_eq!(api.callback(&callback_url, &ours).await.status, 204);
    let taken = api.get(&owner, &format!("/sessions/{id}/recording")).await;
    assert_eq!(taken.body["status"], "ready", "{:?}", taken.body);
    // Nobody recorded the call itself.
    let (status, body) = api
        .sim(
            reqwest::Method::POST,
            &format!("/_sim/conversations/{conversation}/end"),
            Some(&json!({ "duration_seconds": 10.0, "recorded": false })),
        )
        .await;
    assert_eq!(status, 204, "{body}");
}

#[tokio::test]
async fn sessions_without_record_have_no_recording() {
    let api = Api::from_env();
    let owner = Api::user("rec-none");
    let body = json!({ "session_type": "reflect_alone", "prompt": "unrecorded", "max_minutes": 1 });
    let created = api.post(&owner, "/sessions", &body).await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    assert_eq!(created.body["record"], false);
    let id = text(&created.body, "session_id");
    let answer = api.get(&owner, &format!("/sessions/{id}/recording")).await;
    assert_eq!(answer.body, json!({ "status": "none" }));
    let bad = api
        .post(
            &owner,
            "/sessions",
            &json!({ "session_type": "reflect_alone", "prompt": "x", "record": "yes" }),
        )
        .await;
    assert_eq!(
        (bad.status, &bad.body["code"]),
        (400, &json!("invalid_request"))
    );
    let conversation = text(&created.body, "conversation_id");
    api.sim(
        reqwest::Method::POST,
        &format!("/_sim/conversations/{conversation}/end"),
        Some(&json!({ "duration_seconds": 5.0 })),
    )
    .await;
}

/// Tavus uploads a recording after the call, so one part may be announced after its session
/// was erased: tavus-webhook deletes it on arrival (every version), and binds it to nobody.
#[tokio::test]
async fn a_recording_announced_after_its_session_was_erased_is_deleted_on_arrival() {
    let api = Api::from_env();
    let (owner, partner) = (Api::user("rec-late"), Api::user("rec-late-partner"));
    let created = api.post(&owner, "/sessions", &recorded(&partner)).await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let id = text(&created.body, "session_id");
    let conversation = text(&created.body, "conversation_id");
    // Read while Tavus still keeps the conversation (its copy is deleted once settled).
    let callback_url = api.callback_url(conversation).await;
    end_call(&api, conversation, "legacy").await;
    assert_eq!(settled_recording(&api, &owner, id).await["status"], "ready");
    let erased = api.delete(&owner, &format!("/sessions/{id}")).await;
    assert_eq!(erased.status, 204, "{:?}", erased.body);

    // The call's second part, written by Tavus after the erasure, then announced.
    let bucket = super::scheduled::Stack::new();
    let late = format!("recordings/{conversation}-2.mp4");
    bucket.put_object(&late, b"the second part").await;
    assert_eq!(bucket.versions(&late).await, 1);
    let announced = json!({
        "properties": { "bucket_name": env("RECORDINGS_BUCKET"), "s3_key": late, "duration": 20 },
        "conversation_id": conversation, "webhook_url": callback_url,
        "event_type": "application.recording_ready", "message_type": "application",
        "timestamp": "2026-11-25T10:00:00.000000Z",
    });
    let answer = api.callback(&callback_url, &announced).await;
    assert!(answer.status < 300, "{answer:?}");
    assert_eq!(
        bucket.versions(&late).await,
        0,
        "deleted on arrival, every version"
    );
    let gone = api.get(&owner, &format!("/sessions/{id}/recording")).await;
    assert_eq!(gone.status, 404);
}
