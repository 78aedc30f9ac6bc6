//! Nothing private reaches a log. A whole session goes through the local stack with private
//! texts no other test uses (the prompt, the participant context, the transcript's turns, the
//! user's notes), a
//! token and keys that are secrets, and a recording's playback link; then every log of the stack (`LOG_DIR`: the functions under
//! `cargo lambda watch`, the gateway, the simulator, DynamoDB Local, moto) is searched for them.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use e2e_tests::{Answer, Api, env};
use serde_json::{Value, json};

/// Every `*.log` file of the stack, with its text.
fn logs(dir: &Path) -> Vec<(PathBuf, String)> {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let mut logs: Vec<(PathBuf, String)> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "log"))
        .map(|path| {
            let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            (path, String::from_utf8_lossy(&bytes).into_owned())
        })
        .collect();
    logs.sort();
    logs
}

fn functions_log(dir: &Path) -> String {
    let path = dir.join("functions.log");
    String::from_utf8_lossy(&std::fs::read(&path).unwrap_or_default()).into_owned()
}

/// Polls until `done` holds, for at most 30 s: waiting for work the stack does after answering
/// (callbacks, log lines relayed by `cargo lambda watch`), never a fixed sleep.
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

#[tokio::test]
async fn a_whole_session_leaves_nothing_private_in_any_log() {
    let api = Api::from_env();
    let log_dir = PathBuf::from(env("LOG_DIR"));
    assert_ne!(
        api.tavus_key, "sim-key",
        "make test gives the simulator a key no other text contains"
    );
    let user = Api::user("private");
    // Markers no other text contains; each private text starts with its own, so even a part of
    // one in a log is found.
    let mark = |what: &str| format!("{what}{}", ulid::Ulid::new().to_string().to_lowercase());
    let prompt = format!(
        "{} my sister and the money she still owes me",
        mark("prompt")
    );
    let context = format!("{} she is angry about the wedding", mark("context"));
    let user_turn = format!("{} I never told anyone about the debt", mark("userturn"));
    let assistant_turn = format!("{} that sounds heavy to carry alone", mark("replyturn"));
    let notes = format!("{} remember to call her on sunday", mark("notes"));
    let jwt = api.token(&user);
    let bearer = format!("Bearer {jwt}");
    let (client, bearer) = (&api, bearer.as_str());
    // Every request of the session carries this one token.
    let call = move |method: reqwest::Method, path: String, body: Option<Value>| async move {
        client
            .send(method, &path, Some(bearer), body.as_ref(), None)
            .await
    };

    // Create, with the private prompt and context.
    let created = call(
        reqwest::Method::POST,
        "/sessions".into(),
        Some(json!({ "session_type": "reflect_alone", "prompt": prompt,
                     "participant_context": context, "max_minutes": 5, "record": true })),
    )
    .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let session_id = created.body["session_id"].as_str().unwrap().to_owned();
    let conversation_id = created.body["conversation_id"].as_str().unwrap().to_owned();
    let meeting_token = created.body["meeting_token"]
        .as_str()
        .expect("a private room's token")
        .to_owned();
    let callback_url = api.callback_url(&conversation_id).await;
    let webhook_token = callback_url.rsplit('/').next().unwrap().to_owned();

    // Private notes during the call, read back.
    let notes_path = format!("/sessions/{session_id}/notes");
    let saved = call(
        reqwest::Method::PUT,
        notes_path.clone(),
        Some(json!({ "text": notes })),
    )
    .await;
    assert_eq!(saved.status, 200, "{:?}", saved.body);
    assert_eq!(
        call(reqwest::Method::GET, notes_path, None).await.body["text"],
        notes.as_str()
    );

    // The call ends on Tavus's side: the simulator sends the shutdown and its transcript (whose
    // system turn carries the context with the prompt) to the callback URL.
    let ended = reqwest::Client::new()
        .post(format!(
            "{}/_sim/conversations/{conversation_id}/end",
            api.tavus
        ))
        .json(&json!({ "duration_seconds": 75.0, "shutdown_reason": "participant_left_timeout" }))
        .send()
        .await
        .unwrap();
    assert_eq!(ended.status().as_u16(), 204);
    let session_path = format!("/sessions/{session_id}");
    let transcript_path = format!("{session_path}/transcript");
    eventually("the simulator's callbacks", || async {
        let session: Answer = call(reqwest::Method::GET, session_path.clone(), None).await;
        let transcript = call(reqwest::Method::GET, transcript_path.clone(), None).await;
        session.body["status"] == "ended" && transcript.status == 200
    })
    .await;

    // The owner ends it too, and reads usage and the list.
    let end = call(
        reqwest::Method::POST,
        format!("{session_path}/end"),
        Some(json!({})),
    )
    .await;
    assert_eq!(end.status, 200, "{:?}", end.body);
    assert_eq!(
        call(reqwest::Method::GET, "/usage".into(), None)
            .await
            .status,
        200
    );
    assert_eq!(
        call(reqwest::Method::GET, "/sessions".into(), None)
            .await
            .status,
        200
    );

    // Last, a transcript with private turns through the callback URL.
    let transcript = json!({
        "properties": { "replica_id": "r1", "transcript": [
            { "role": "system", "content": format!("{prompt} {context}") },
            { "role": "user", "content": user_turn },
            { "role": "assistant", "content": assistant_turn },
        ]},
        "conversation_id": conversation_id, "webhook_url": callback_url,
        "event_type": "application.transcription_ready", "message_type": "application",
        "timestamp": chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
    });
    assert_eq!(api.callback(&callback_url, &transcript).await.status, 204);
    let stored = call(reqwest::Method::GET, transcript_path.clone(), None).await;
    assert_eq!(stored.body["transcript"][0]["content"], user_turn.as_str());

    // The call was recorded: a playback link (a credential until it expires).
    let recording_path = format!("{session_path}/recording");
    eventually("the recording", || async {
        call(reqwest::Method::GET, recording_path.clone(), None)
            .await
            .body["status"]
            == "ready"
    })
    .await;
    let playback = call(reqwest::Method::GET, recording_path, None).await;
    let link = playback.body["url"]
        .as_str()
        .expect("a playback link")
        .to_owned();
    let link_signature = link
        .split(['?', '&'])
        .find_map(|part| part.strip_prefix("X-Amz-Signature="))
        .expect("a signed link")
        .to_owned();

    // The functions' lines come through `cargo lambda watch` a moment after the answers: wait
    // for the line of the last step (the second transcript stored for this session). The
    // gateway and the simulator write theirs before they answer.
    eventually("the functions' log lines of this session", || {
        let text = functions_log(&log_dir);
        let stored_lines = text
            .lines()
            .filter(|l| l.contains(&session_id) && l.contains("transcript stored"))
            .count();
        let notes_lines = text
            .lines()
            .filter(|l| l.contains(&session_id) && l.contains("notes saved"))
            .count();
        let link_lines = text
            .lines()
            .filter(|l| l.contains(&session_id) && l.contains("playback link issued"))
            .count();
        async move { stored_lines >= 2 && notes_lines >= 1 && link_lines >= 1 }
    })
    .await;

    let (signature, claims) = {
        let mut parts = jwt.rsplitn(3, '.');
        (
            parts.next().unwrap().to_owned(),
            parts.next().unwrap().to_owned(),
        )
    };
    // One line per secret: add a needle here when a response carries a new one.
    let needles: Vec<(&str, &str)> = vec![
        ("the prompt", prompt.split(' ').next().unwrap()),
        (
            "the participant context",
            context.split(' ').next().unwrap(),
        ),
        ("a user turn", user_turn.split(' ').next().unwrap()),
        (
            "an assistant turn",
            assistant_turn.split(' ').next().unwrap(),
        ),
        ("the notes", notes.split(' ').next().unwrap()),
        ("the JWT", &jwt),
        ("the JWT's claims", &claims),
        ("the JWT's signature", &signature),
        ("the Tavus API key", &api.tavus_key),
        ("the webhook token", &webhook_token),
        ("the meeting token", &meeting_token),
        ("a playback link", &link),
        ("a playback link's signature", &link_signature),
    ];

    let logs = logs(&log_dir);
    for expected in ["functions.log", "gateway.log", "tavus-sim.log"] {
        assert!(
            logs.iter().any(|(path, _)| path.ends_with(expected)),
            "no {expected} in {}",
            log_dir.display()
        );
    }
    // The search can find things: this session's id is logged (it is not private).
    assert!(logs.iter().any(|(_, text)| text.contains(&session_id)));
    let mut leaks = Vec::new();
    for (path, text) in &logs {
        for (what, needle) in &needles {
            if let Some(line) = text.lines().find(|line| line.contains(needle)) {
                let line: String = line.chars().take(300).collect();
                leaks.push(format!("{what} in {}: {line}", path.display()));
            }
        }
    }
    assert!(
        leaks.is_empty(),
        "private data in the logs:\n{}",
        leaks.join("\n")
    );
}
