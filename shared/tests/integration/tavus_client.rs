//! The Tavus client at the HTTP level, against wiremock, with the key in moto's Secrets Manager.

use std::sync::Arc;
use std::time::{Duration, Instant};

use awaknow_core::domain::SessionType;
use awaknow_core::tavus::{
    Companion, NewConversation, RetryPolicy, TavusClient, TavusConfig, TavusError,
};
use serde_json::{Value, json};
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::{new_secret, rotate_secret, secrets_client};

pub use test_support::Keys;

/// A cache over a fresh moto secret holding `value`; also returns the secret's name.
pub async fn keys_with(value: &str) -> (Keys, String) {
    let client = secrets_client().await;
    let name = new_secret(&client, value).await;
    (test_support::keys(client, &name), name)
}

pub fn config_for(base_url: &str) -> TavusConfig {
    TavusConfig {
        base_url: base_url.to_owned(),
        reflect_alone: Companion {
            persona_id: Some("p-reflect".into()),
            replica_id: None,
        },
        resolve_together: Companion {
            persona_id: Some("p-resolve".into()),
            replica_id: Some("r-resolve".into()),
        },
        retry: RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(50),
        },
        ..TavusConfig::default()
    }
}

pub fn conversation(
    session_type: SessionType,
    participants: usize,
    minutes: u32,
    callback_url: &str,
) -> NewConversation<'static> {
    NewConversation {
        session_type,
        conversation_name: "AwakNow session 01TEST".into(),
        prompt: "I keep arguing with my sister about our parents",
        participant_context: Some("She feels I never call"),
        participant_count: participants,
        callback_url: callback_url.to_owned(),
        reserved_minutes: minutes,
        recording: None,
    }
}

fn soon() -> Instant {
    Instant::now() + Duration::from_secs(10)
}

fn created() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "conversation_id": "c0a1b2c3",
        "conversation_name": "AwakNow session 01TEST",
        "conversation_url": "https://tavus.daily.co/c0a1b2c3",
        "status": "active",
        "callback_url": "https://api.example/webhooks/tavus/tok",
        "created_at": "2026-11-24T10:00:00.123456Z"
    }))
}

async fn bodies(server: &MockServer) -> Vec<Value> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .map(|r| serde_json::from_slice(&r.body).unwrap_or(Value::Null))
        .collect()
}

#[tokio::test]
async fn create_sends_the_documented_path_header_and_body() {
    let _logs = crate::support::tavus_client_logs(false).await;
    let server = MockServer::start().await;
    let (keys, _) = keys_with("tk-live-1").await;
    Mock::given(method("POST"))
        .and(path("/v2/conversations"))
        .and(header("x-api-key", "tk-live-1"))
        .respond_with(created())
        .expect(1)
        .mount(&server)
        .await;
    let client = TavusClient::new(config_for(&server.uri()), keys);

    let request = conversation(
        SessionType::ResolveTogether,
        2,
        25,
        "https://api.example/webhooks/tavus/tok",
    );
    let conv = client.create_conversation(&request, soon()).await.unwrap();
    assert_eq!(conv.conversation_id, "c0a1b2c3");
    assert_eq!(
        conv.conversation_url.as_deref(),
        Some("https://tavus.daily.co/c0a1b2c3")
    );
    assert_eq!(
        conv.created_at.map(|t| t.timestamp_micros() % 1_000_000),
        Some(123_456)
    );

    let sent = bodies(&server).await.remove(0);
    assert_eq!(sent["persona_id"], "p-resolve");
    assert_eq!(sent["replica_id"], "r-resolve");
    assert_eq!(
        sent["callback_url"],
        "https://api.example/webhooks/tavus/tok"
    );
    assert_eq!(sent["conversation_name"], "AwakNow session 01TEST");
    assert_eq!(
        sent["max_participants"], 4,
        "two participants, the owner and the replica"
    );
    assert_eq!(
        sent["properties"],
        json!({ "max_call_duration": 1500, "participant_left_timeout": 60, "participant_absent_timeout": 120 })
    );
    assert_eq!(sent["require_auth"], true, "every room is private");
    let context = sent["conversational_context"].as_str().unwrap();
    assert!(context.contains("arguing with my sister") && context.contains("never call"));
    assert!(sent.get("test_mode").is_none());
}

#[tokio::test]
async fn two_503s_then_a_200_succeed_in_three_calls() {
    let _logs = crate::support::tavus_client_logs(false).await;
    let server = MockServer::start().await;
    let (keys, _) = keys_with("tk-1").await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(created())
        .with_priority(2)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/conversations"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({ "data": [], "total_count": 0 })),
        )
        .mount(&server)
        .await;
    let client = TavusClient::new(config_for(&server.uri()), keys);

    let conv = client
        .create_conversation(
            &conversation(SessionType::ReflectAlone, 0, 30, "https://cb"),
            soon(),
        )
        .await
        .unwrap();
    assert_eq!(conv.conversation_id, "c0a1b2c3");
    let requests = server.received_requests().await.unwrap();
    let count = |m: &str| requests.iter().filter(|r| r.method.as_str() == m).count();
    assert_eq!(count("POST"), 3);
    assert_eq!(
        count("GET"),
        2,
        "before each new try, a look for what the lost answer may have created"
    );
}

fn listed(id: &str, name: &str, meeting_token: Option<&str>) -> Value {
    let mut c = json!({
        "conversation_id": id, "conversation_name": name, "status": "active",
        "conversation_url": format!("https://tavus.daily.co/{id}"),
        "callback_url": "https://api.example/webhooks/tavus/tok",
        "created_at": "2026-11-24T10:00:00Z"
    });
    if let Some(token) = meeting_token {
        c["meeting_token"] = json!(token);
    }
    c
}

#[tokio::test]
async fn a_create_whose_answer_was_lost_ends_what_it_made_before_creating_again() {
    let _logs = crate::support::tavus_client_logs(false).await;
    let server = MockServer::start().await;
    let (keys, _) = keys_with("tk-1").await;
    // Tavus made the conversation but the answer was a 502.
    Mock::given(method("POST"))
        .and(path("/v2/conversations"))
        .respond_with(ResponseTemplate::new(502))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v2/conversations"))
        .respond_with(created())
        .with_priority(2)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/conversations"))
        .and(query_param("status", "active"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "data": [listed("cother", "Someone else's", None), listed("clost", "AwakNow session 01TEST", None)],
            "total_count": 2
        })))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v2/conversations/clost/end"))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&server)
        .await;
    let client = TavusClient::new(config_for(&server.uri()), keys);

    let conv = client
        .create_conversation(
            &conversation(SessionType::ReflectAlone, 0, 30, "https://cb"),
            soon(),
        )
        .await
        .unwrap();
    assert_eq!(
        conv.conversation_id, "c0a1b2c3",
        "a new one, with its token"
    );
    let ends: Vec<String> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path().ends_with("/end"))
        .map(|r| r.url.path().to_owned())
        .collect();
    assert_eq!(
        ends,
        ["/v2/conversations/clost/end"],
        "only our lost one is ended"
    );
}

#[tokio::test]
async fn a_lost_create_listed_with_its_token_is_adopted() {
    let _logs = crate::support::tavus_client_logs(false).await;
    let server = MockServer::start().await;
    let (keys, _) = keys_with("tk-1").await;
    Mock::given(method("POST"))
        .and(path("/v2/conversations"))
        .respond_with(ResponseTemplate::new(503))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/conversations"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "data": [listed("cmine", "AwakNow session 01TEST", Some("eyJ.tok.en"))], "total_count": 1
        })))
        .mount(&server)
        .await;
    let client = TavusClient::new(config_for(&server.uri()), keys);

    let conv = client
        .create_conversation(
            &conversation(SessionType::ReflectAlone, 0, 30, "https://cb"),
            soon(),
        )
        .await
        .unwrap();
    assert_eq!(conv.conversation_id, "cmine");
    assert_eq!(
        conv.meeting_token.as_ref().map(|t| t.expose()),
        Some("eyJ.tok.en")
    );
}

#[tokio::test]
async fn delete_is_hard_and_a_conversation_already_gone_counts_as_deleted() {
    let _logs = crate::support::tavus_client_logs(false).await;
    let server = MockServer::start().await;
    let (keys, _) = keys_with("tk-1").await;
    Mock::given(method("DELETE"))
        .and(path("/v2/conversations/c1"))
        .and(query_param("hard", "true"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path("/v2/conversations/c2"))
        .respond_with(
            ResponseTemplate::new(400).set_body_json(json!({ "error": "Invalid conversation_id" })),
        )
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path("/v2/conversations/c3"))
        .respond_with(
            ResponseTemplate::new(401).set_body_json(json!({ "message": "Invalid access token" })),
        )
        .mount(&server)
        .await;
    let client = TavusClient::new(config_for(&server.uri()), keys);
    client.delete_conversation("c1", soon()).await.unwrap();
    client.delete_conversation("c2", soon()).await.unwrap();
    assert!(matches!(
        client.delete_conversation("c3", soon()).await,
        Err(TavusError::Unauthorized)
    ));
}

/// Only Tavus's answer for a conversation it does not have ("Invalid conversation_id", or a
/// 404) means gone: any other refusal of a delete or an end is an error, never taken as done.
#[tokio::test]
async fn a_refused_delete_or_end_is_not_taken_as_done() {
    let _logs = crate::support::tavus_client_logs(false).await;
    let server = MockServer::start().await;
    let (keys, _) = keys_with("tk-1").await;
    let refusals = [
        (
            "c400",
            400,
            json!({ "error": "There was an error, please reach out to support" }),
        ),
        (
            "c402",
            402,
            json!({ "message": "The user is out of conversational credits" }),
        ),
        ("c403", 403, json!({ "message": "Forbidden" })),
        ("c409", 409, json!({ "error": "Conflict" })),
    ];
    for (id, status, body) in &refusals {
        for verb in ["DELETE", "POST"] {
            Mock::given(method(verb))
                .and(wiremock::matchers::path_regex(format!(
                    "^/v2/conversations/{id}(/end)?$"
                )))
                .respond_with(ResponseTemplate::new(*status).set_body_json(body.clone()))
                .mount(&server)
                .await;
        }
    }
    for (id, status) in [("gone400", 400), ("gone404", 404)] {
        for verb in ["DELETE", "POST"] {
            Mock::given(method(verb))
                .and(wiremock::matchers::path_regex(format!(
                    "^/v2/conversations/{id}(/end)?$"
                )))
                .respond_with(
                    ResponseTemplate::new(status)
                        .set_body_json(json!({ "error": "Invalid conversation_id" })),
                )
                .mount(&server)
                .await;
        }
    }
    let client = TavusClient::new(config_for(&server.uri()), keys);
    for (id, status, _) in &refusals {
        let deleted = client.delete_conversation(id, soon()).await;
        assert!(
            matches!(&deleted, Err(e) if !e.is_unknown_conversation()),
            "a {status} to DELETE taken as deleted: {deleted:?}"
        );
        let ended = client.end_conversation(id, soon()).await;
        assert!(
            matches!(&ended, Err(e) if !e.is_unknown_conversation()),
            "a {status} to end taken as gone: {ended:?}"
        );
    }
    for id in ["gone400", "gone404"] {
        client.delete_conversation(id, soon()).await.unwrap();
        let ended = client.end_conversation(id, soon()).await;
        assert!(
            matches!(&ended, Err(e) if e.is_unknown_conversation()),
            "{ended:?}"
        );
    }
    // An id Tavus could not have issued never reaches it, and is no "unknown conversation".
    let malformed = client.delete_conversation("../c1", soon()).await;
    assert!(
        matches!(&malformed, Err(e) if !e.is_unknown_conversation()),
        "{malformed:?}"
    );
}

#[tokio::test]
async fn a_400_is_not_retried_and_the_capacity_400_is_its_own_error() {
    let _logs = crate::support::tavus_client_logs(false).await;
    let server = MockServer::start().await;
    let (keys, _) = keys_with("tk-1").await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(400)
                .set_body_json(json!({ "error": "There was an error creating the conversation" })),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(400).set_body_json(
            json!({ "message": "User has reached maximum concurrent conversations" }),
        ))
        .with_priority(2)
        .mount(&server)
        .await;
    let client = TavusClient::new(config_for(&server.uri()), keys);
    let request = conversation(SessionType::ReflectAlone, 0, 30, "https://cb");

    match client.create_conversation(&request, soon()).await {
        Err(TavusError::Rejected {
            status: 400,
            message,
        }) => assert!(message.contains("error creating")),
        other => panic!("expected Rejected, got {other:?}"),
    }
    assert_eq!(
        server.received_requests().await.unwrap().len(),
        1,
        "a 400 is not retried"
    );
    assert!(matches!(
        client.create_conversation(&request, soon()).await,
        Err(TavusError::AtCapacity)
    ));
    assert_eq!(
        server.received_requests().await.unwrap().len(),
        2,
        "nor is the capacity 400"
    );
}

#[tokio::test]
async fn a_401_fetches_the_rotated_key_and_retries_once() {
    let _logs = crate::support::tavus_client_logs(false).await;
    let server = MockServer::start().await;
    let (keys, name) = keys_with("tk-old").await;
    Mock::given(header("x-api-key", "tk-old"))
        .respond_with(
            ResponseTemplate::new(401).set_body_json(json!({"message": "Invalid access token"})),
        )
        .mount(&server)
        .await;
    Mock::given(header("x-api-key", "tk-new"))
        .respond_with(created())
        .mount(&server)
        .await;
    let client = TavusClient::new(config_for(&server.uri()), Arc::clone(&keys));
    keys.get().await.unwrap(); // warm: the cache holds tk-old for five minutes
    rotate_secret(&secrets_client().await, &name, "tk-new").await;

    let request = conversation(SessionType::ReflectAlone, 0, 30, "https://cb");
    client.create_conversation(&request, soon()).await.unwrap();
    let sent: Vec<String> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| {
            r.headers
                .get("x-api-key")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned()
        })
        .collect();
    assert_eq!(sent, ["tk-old", "tk-new"]);

    // A key that is refused also after the refresh is reported after one retry, not a loop.
    rotate_secret(&secrets_client().await, &name, "tk-revoked").await;
    let before = server.received_requests().await.unwrap().len();
    let client = TavusClient::new(config_for(&server.uri()), keys_with("tk-old").await.0);
    assert!(matches!(
        client.create_conversation(&request, soon()).await,
        Err(TavusError::Unauthorized)
    ));
    assert_eq!(server.received_requests().await.unwrap().len() - before, 2);
}

#[tokio::test]
async fn the_deadline_is_respected() {
    let _logs = crate::support::tavus_client_logs(false).await;
    let server = MockServer::start().await;
    let (keys, _) = keys_with("tk-1").await;
    Mock::given(method("POST"))
        .respond_with(created().set_delay(Duration::from_secs(5)))
        .mount(&server)
        .await;
    let client = TavusClient::new(config_for(&server.uri()), keys);
    let request = conversation(SessionType::ReflectAlone, 0, 30, "https://cb");

    let started = Instant::now();
    let result = client
        .create_conversation(&request, started + Duration::from_millis(300))
        .await;
    assert!(
        matches!(result, Err(TavusError::DeadlineExceeded { .. })),
        "{result:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "gave up only after {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn retries_stop_at_the_deadline_and_after_the_last_attempt() {
    let _logs = crate::support::tavus_client_logs(false).await;
    let server = MockServer::start().await;
    let (keys, _) = keys_with("tk-1").await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(502))
        .mount(&server)
        .await;
    let client = TavusClient::new(config_for(&server.uri()), keys);
    let request = conversation(SessionType::ReflectAlone, 0, 30, "https://cb");

    match client.create_conversation(&request, soon()).await {
        Err(TavusError::Unavailable { attempts: 4, last }) => assert_eq!(last, "HTTP 502"),
        other => panic!("expected Unavailable after 4 attempts, got {other:?}"),
    }
    let posts = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.method.as_str() == "POST")
        .count();
    assert_eq!(posts, 4);
}

#[tokio::test]
async fn end_and_get_use_the_documented_paths() {
    let _logs = crate::support::tavus_client_logs(false).await;
    let server = MockServer::start().await;
    let (keys, _) = keys_with("tk-1").await;
    Mock::given(method("POST"))
        .and(path("/v2/conversations/c42/end"))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/conversations/c42"))
        .and(query_param("verbose", "true"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "conversation_id": "c42", "status": "ended", "created_at": "2026-11-24T10:00:00Z",
            "events": [{"event_type": "system.shutdown", "timestamp": "2026-11-24T10:07:30Z",
                        "properties": {"shutdown_reason": "max_call_duration reached"}}]
        })))
        .expect(1)
        .mount(&server)
        .await;
    let client = TavusClient::new(config_for(&server.uri()), keys);
    client.end_conversation("c42", soon()).await.unwrap();
    let details = client.get_conversation("c42", soon()).await.unwrap();
    assert_eq!(
        details.ended_at().map(|t| t.to_rfc3339()),
        Some("2026-11-24T10:07:30+00:00".to_owned())
    );
}

#[tokio::test]
async fn the_key_appears_in_no_log_and_no_error() {
    let _logs = crate::support::tavus_client_logs(true).await;
    const KEY: &str = "tk-very-secret-4242";
    let captured = test_support::CapturedLogs::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    // Other tests on other threads may have met the client's log sites first, with no subscriber
    // interested: ask every site again, or this capture could miss them.
    tracing::callsite::rebuild_interest_cache();

    let server = MockServer::start().await;
    let (keys, name) = keys_with(KEY).await;
    Mock::given(header("x-api-key", KEY))
        .respond_with(created())
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500))
        .with_priority(2)
        .mount(&server)
        .await;
    let client = TavusClient::new(config_for(&server.uri()), Arc::clone(&keys));
    let request = conversation(SessionType::ReflectAlone, 0, 30, "https://cb");

    let ok = client.create_conversation(&request, soon()).await.unwrap();
    let failed = client
        .create_conversation(&request, soon())
        .await
        .unwrap_err();
    // A 401 path too: the refresh logs, and the error after it.
    rotate_secret(&secrets_client().await, &name, KEY).await;
    let unauthorized = TavusClient::new(config_for(&format!("{}/nowhere", server.uri())), keys);
    let missing = unauthorized
        .end_conversation("c1", soon())
        .await
        .unwrap_err();

    let logs = captured.text();
    assert!(
        logs.contains("tavus answered"),
        "the capture must hold the client's logs: {logs}"
    );
    let shown = format!(
        "{ok:?} {failed} {failed:?} {missing} {missing:?} {client:?}",
        client = request
    );
    for (what, text) in [("logs", &logs), ("errors", &shown)] {
        assert!(
            !text.contains(KEY),
            "the key leaked into the {what}: {text}"
        );
        assert!(
            !text.contains("arguing with my sister"),
            "the prompt leaked into the {what}"
        );
    }
}
