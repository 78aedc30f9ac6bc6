//! Recordings against real parts: the ledger on DynamoDB Local, the recordings bucket on moto's
//! S3, Tavus as the simulator (creates) or wiremock (deletes). Callbacks in both shapes bound to
//! their session once; files elsewhere ignored; the playback link fetched; erasure deleting the
//! objects, and the sweeper finishing an erasure whose delete failed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use awaknow_core::LedgerError;
use awaknow_core::api::ApiError;
use awaknow_core::api::views::RecordingView;
use awaknow_core::domain::{EndReason, RecordingStatus, Session, SessionType, UserId};
use awaknow_core::recording_bucket::{RecordingTarget, Recordings};
use awaknow_core::secrets::SecretsManagerSource;
use awaknow_core::service::callbacks::{self, CallbackContext, Handled};
use awaknow_core::service::create::{CreateContext, CreateSessionRequest, create_session};
use awaknow_core::service::{ServiceError, callback_token, erase, playback};
use awaknow_core::store::keys;
use awaknow_core::store::{Closing, DynamoLedger, ReservationRequest, Reserved};
use awaknow_core::tavus::TavusClient;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::support::{MOTO_VAR, activated, at, fresh_ledger, reread, user};

const NOW: &str = "2026-11-24T10:00:00Z";
const ROLE: &str = "arn:aws:iam::123456789012:role/tavus-recordings";

use test_support::Keys;

fn moto() -> String {
    std::env::var(MOTO_VAR).unwrap_or_else(|_| {
        panic!("{MOTO_VAR} is not set: run the tests with `make test`, which starts moto")
    })
}

/// An S3 client on `endpoint` (moto's, or a dead one), addressing buckets in the path.
pub(crate) async fn s3_at(endpoint: &str) -> aws_sdk_s3::Client {
    // One attempt: a dead endpoint fails at once rather than after the functions' retries.
    let config = test_support::local_sdk(endpoint)
        .to_builder()
        .retry_config(aws_sdk_s3::config::retry::RetryConfig::standard().with_max_attempts(1))
        .build();
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .build(),
    )
}

/// The recordings bucket: a new one on moto per test.
pub(crate) async fn bucket() -> Recordings {
    let client = s3_at(&moto()).await;
    let name = format!("rec-{}", ulid::Ulid::new().to_string().to_lowercase());
    client.create_bucket().bucket(&name).send().await.unwrap();
    Recordings::with_client(
        client,
        RecordingTarget {
            bucket: name,
            region: "us-east-1".into(),
            role_arn: ROLE.into(),
        },
    )
}

/// The same bucket through an S3 endpoint nobody answers.
async fn unreachable(recordings: &Recordings) -> Recordings {
    Recordings::with_client(
        s3_at("http://127.0.0.1:9").await,
        recordings.target().clone(),
    )
}

pub(crate) async fn put(recordings: &Recordings, key: &str, bytes: &[u8]) {
    s3_at(&moto())
        .await
        .put_object()
        .bucket(&recordings.target().bucket)
        .key(key)
        .body(bytes.to_vec().into())
        .send()
        .await
        .unwrap();
}

pub(crate) async fn exists(recordings: &Recordings, key: &str) -> bool {
    let head = s3_at(&moto())
        .await
        .head_object()
        .bucket(&recordings.target().bucket)
        .key(key)
        .send()
        .await;
    match head {
        Ok(_) => true,
        Err(e) if e.as_service_error().is_some_and(|e| e.is_not_found()) => false,
        Err(e) => panic!("HeadObject failed: {e:?}"),
    }
}

/// A session of `owner` with `partner`, active on conversation `c-<session>`, recorded or not.
async fn session(ledger: &DynamoLedger, owner: &UserId, partner: &UserId, record: bool) -> Session {
    let request = ReservationRequest {
        owner: owner.clone(),
        session_type: SessionType::ResolveTogether,
        participants: vec![partner.clone()],
        requested_minutes: Some(10),
        now: at(NOW),
        idempotency: None,
        record,
    };
    let Reserved::New(pending) = ledger.reserve(request).await.unwrap() else {
        panic!("a new session")
    };
    assert_eq!(pending.playback.record, record);
    activated(ledger, &pending).await
}

/// An object key Tavus could name for a file of `session`'s conversation.
fn key(session: &Session, file: &str) -> String {
    format!(
        "recordings/{}/{file}",
        session.conversation_id.as_deref().unwrap()
    )
}

async fn settle(ledger: &DynamoLedger, session: &Session) -> Session {
    let ended_at = at("2026-11-24T10:03:00Z");
    ledger
        .close(
            Closing::settle(session, 3, EndReason::ParticipantLeft, ended_at)
                .delete_tavus_copy(session, ended_at),
        )
        .await
        .unwrap();
    reread(ledger, session).await
}

/// Signs callbacks with the key the test's secret derives (as the functions do).
struct Hooks {
    keys: Keys,
    tavus: TavusClient<SecretsManagerSource>,
}

impl Hooks {
    async fn new() -> Hooks {
        let (keys, _) = crate::tavus_client::keys_with("tk-recordings").await;
        // Recording callbacks never call Tavus; nothing answers here.
        let tavus = TavusClient::new(
            crate::tavus_client::config_for("http://127.0.0.1:9"),
            Arc::clone(&keys),
        );
        Hooks { keys, tavus }
    }

    async fn token(&self, session: &Session) -> String {
        let key = self.keys.webhook_key().await.unwrap();
        callback_token::sign(&key, &callback_token::CallbackClaims::of(session))
    }

    async fn post(
        &self,
        ledger: &DynamoLedger,
        recordings: Option<&Recordings>,
        session: &Session,
        body: Value,
    ) -> Result<Handled, ApiError> {
        let cx = CallbackContext {
            tavus: &self.tavus,
            keys: &self.keys,
            delete_after_call: false,
            deadline: Instant::now() + Duration::from_secs(10),
            recordings,
        };
        let token = self.token(session).await;
        callbacks::tavus_callback(ledger, cx, &token, body.to_string().as_bytes())
            .await
            .map_err(ApiError::from)
    }
}

fn event(event_type: &str, session: &Session, properties: Value) -> Value {
    json!({
        "properties": properties,
        "conversation_id": session.conversation_id,
        "webhook_url": "https://api.example/webhooks/tavus/t",
        "event_type": event_type,
        "message_type": "application",
        "timestamp": "2026-11-24T10:03:05.123456Z",
    })
}

fn ready(session: &Session, properties: Value) -> Value {
    event(callbacks::RECORDING_READY, session, properties)
}

#[tokio::test]
async fn recording_ready_in_either_shape_is_bound_to_its_session_once() {
    let ledger = fresh_ledger().await;
    let recordings = bucket().await;
    let target = recordings.target();
    let hooks = Hooks::new().await;
    let (owner, partner) = (user("rec-owner"), user("rec-partner"));

    // The older shape: bucket_name, s3_key, duration.
    let legacy = session(&ledger, &owner, &partner, true).await;
    let body = ready(
        &legacy,
        json!({"bucket_name": target.bucket, "s3_key": key(&legacy, "one.mp4"), "duration": 14}),
    );
    let first = hooks
        .post(&ledger, Some(&recordings), &legacy, body.clone())
        .await;
    assert_eq!(first.unwrap(), Handled::RecordingStored);
    let stored = reread(&ledger, &legacy).await;
    let file = stored.playback.recording.clone().unwrap();
    assert_eq!(
        (file.key.as_str(), file.duration_seconds),
        (key(&legacy, "one.mp4").as_str(), Some(14))
    );
    assert_eq!(file.ready_at, at("2026-11-24T10:03:05.123456Z"));
    assert_eq!(stored.playback.status(), RecordingStatus::Ready);
    // A duplicate changes nothing.
    let again = hooks.post(&ledger, Some(&recordings), &legacy, body).await;
    assert_eq!(again.unwrap(), Handled::Ignored);
    assert_eq!(reread(&ledger, &legacy).await, stored);
    // A second part of the same call: kept for erasure, the first one still plays.
    let part = ready(
        &legacy,
        json!({"bucket_name": target.bucket, "s3_key": key(&legacy, "two.mp4"), "duration": 3}),
    );
    hooks
        .post(&ledger, Some(&recordings), &legacy, part)
        .await
        .unwrap();
    let both = reread(&ledger, &legacy).await;
    assert_eq!(
        both.playback.recording.unwrap().key,
        key(&legacy, "one.mp4")
    );
    let mut keys = both.playback.recording_keys.clone();
    keys.sort();
    assert_eq!(keys, [key(&legacy, "one.mp4"), key(&legacy, "two.mp4")]);

    // The newer shape: storage_provider and storage_uri, no duration.
    let newer = session(&ledger, &owner, &partner, true).await;
    let body = ready(
        &newer,
        json!({"storage_provider": "s3", "storage_uri": format!("s3://{}/{}", target.bucket, key(&newer, "rec.mp4"))}),
    );
    let stored = hooks.post(&ledger, Some(&recordings), &newer, body).await;
    assert_eq!(stored.unwrap(), Handled::RecordingStored);
    let file = reread(&ledger, &newer).await.playback.recording.unwrap();
    assert_eq!(
        (file.key.as_str(), file.duration_seconds),
        (key(&newer, "rec.mp4").as_str(), None)
    );

    // Neither shape: a 400, nothing stored (another owner: two sessions each may be open).
    let third = session(&ledger, &user("rec-third"), &partner, true).await;
    let malformed = hooks
        .post(
            &ledger,
            Some(&recordings),
            &third,
            ready(&third, json!({"bucket_name": target.bucket})),
        )
        .await;
    assert!(
        matches!(
            malformed,
            Err(ApiError::Service(ServiceError::InvalidRequest { .. }))
        ),
        "{malformed:?}"
    );
    assert_eq!(reread(&ledger, &third).await, third);
}

#[tokio::test]
async fn a_recording_elsewhere_or_for_another_conversation_stores_nothing() {
    let ledger = fresh_ledger().await;
    let recordings = bucket().await;
    let target = recordings.target();
    let hooks = Hooks::new().await;
    let recorded = session(&ledger, &user("else-owner"), &user("else-partner"), true).await;

    let elsewhere = [
        json!({"bucket_name": "someone-elses-bucket", "s3_key": "k.mp4", "duration": 14}),
        json!({"storage_provider": "s3", "storage_uri": "s3://someone-elses-bucket/k.mp4"}),
        json!({"storage_provider": "gcs", "storage_uri": format!("gs://{}/k.mp4", target.bucket)}),
        json!({"storage_provider": "s3", "storage_uri": format!("https://evil.example/{}/k.mp4", target.bucket)}),
    ];
    for properties in elsewhere {
        let handled = hooks
            .post(
                &ledger,
                Some(&recordings),
                &recorded,
                ready(&recorded, properties.clone()),
            )
            .await;
        assert_eq!(handled.unwrap(), Handled::Ignored, "{properties}");
    }
    // Another conversation than the session's.
    let mut other = ready(
        &recorded,
        json!({"bucket_name": target.bucket, "s3_key": "recordings/c-someone-else/k.mp4"}),
    );
    other["conversation_id"] = json!("c-someone-else");
    let handled = hooks
        .post(&ledger, Some(&recordings), &recorded, other)
        .await;
    assert_eq!(handled.unwrap(), Handled::Ignored);
    // A deployment that keeps no recordings.
    let ours = ready(
        &recorded,
        json!({"bucket_name": target.bucket, "s3_key": key(&recorded, "k.mp4")}),
    );
    let handled = hooks.post(&ledger, None, &recorded, ours).await;
    assert_eq!(handled.unwrap(), Handled::Ignored);

    let after = reread(&ledger, &recorded).await;
    assert_eq!(after, recorded, "nothing was stored");
    assert_eq!(after.playback.status(), RecordingStatus::Pending);
}

#[tokio::test]
async fn a_failed_copy_shows_failed_and_nothing_of_tavus_s_message() {
    let ledger = fresh_ledger().await;
    let recordings = bucket().await;
    let hooks = Hooks::new().await;
    let owner = user("failed-owner");
    let recorded = session(&ledger, &owner, &user("failed-partner"), true).await;
    let failed = event(
        callbacks::RECORDING_COPY_FAILED,
        &recorded,
        json!({"error_message": "AccessDenied assuming arn:aws:iam::999:role/internal-secret"}),
    );
    let handled = hooks
        .post(&ledger, Some(&recordings), &recorded, failed.clone())
        .await;
    assert_eq!(handled.unwrap(), Handled::RecordingStored);
    let view = RecordingView::from(
        playback::playback(
            &ledger,
            Some(&recordings),
            &owner,
            recorded.session_id,
            at(NOW),
        )
        .await
        .unwrap(),
    );
    let json = serde_json::to_value(&view).unwrap();
    assert_eq!(json, json!({"status": "failed"}));
    let stored = reread(&ledger, &recorded).await;
    assert!(!format!("{stored:?}").contains("internal-secret"));
    // Once: a duplicate changes nothing.
    let again = hooks
        .post(&ledger, Some(&recordings), &recorded, failed)
        .await;
    assert_eq!(again.unwrap(), Handled::Ignored);
    assert_eq!(reread(&ledger, &recorded).await, stored);
}

async fn view(
    ledger: &DynamoLedger,
    recordings: &Recordings,
    user: &UserId,
    session: &Session,
    now: DateTime<Utc>,
) -> Result<RecordingView, ApiError> {
    playback::playback(ledger, Some(recordings), user, session.session_id, now)
        .await
        .map(RecordingView::from)
        .map_err(ApiError::from)
}

#[tokio::test]
async fn the_owner_and_the_participants_play_it_through_a_five_minute_link() {
    let ledger = fresh_ledger().await;
    let recordings = bucket().await;
    let hooks = Hooks::new().await;
    let (owner, partner, stranger) = (user("play-owner"), user("play-partner"), user("stranger"));
    let plain = session(&ledger, &owner, &partner, false).await;
    let recorded = session(&ledger, &owner, &partner, true).await;
    let now = at(NOW);

    let none = view(&ledger, &recordings, &owner, &plain, now)
        .await
        .unwrap();
    assert_eq!(
        serde_json::to_value(&none).unwrap(),
        json!({"status": "none"})
    );
    let pending = view(&ledger, &recordings, &partner, &recorded, now)
        .await
        .unwrap();
    assert_eq!(
        serde_json::to_value(&pending).unwrap(),
        json!({"status": "pending"})
    );

    let bytes: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
    let file = key(&recorded, "recorded.mp4");
    put(&recordings, &file, &bytes).await;
    let body = ready(
        &recorded,
        json!({"bucket_name": recordings.target().bucket, "s3_key": file, "duration": 14}),
    );
    hooks
        .post(&ledger, Some(&recordings), &recorded, body)
        .await
        .unwrap();

    for who in [&owner, &partner] {
        let ready = view(&ledger, &recordings, who, &recorded, now)
            .await
            .unwrap();
        assert_eq!(ready.status, RecordingStatus::Ready);
        assert_eq!(ready.duration_seconds, Some(14));
        assert_eq!(ready.expires_at, Some(now + chrono::Duration::minutes(5)));
        let url = ready.url.clone().unwrap();
        assert!(
            url.starts_with(&format!("{}/{}/", moto(), recordings.target().bucket)),
            "a link the client reaches: {url}"
        );
        assert!(url.contains("X-Amz-Expires=300"), "{url}");
        assert!(url.contains("X-Amz-Signature="), "{url}");
        assert!(
            !format!("{ready:?}").contains("X-Amz"),
            "Debug hides the link"
        );
        let fetched = reqwest::get(&url).await.unwrap();
        assert_eq!(fetched.status(), 200);
        assert_eq!(fetched.bytes().await.unwrap().as_ref(), bytes.as_slice());
        let json = serde_json::to_value(&ready).unwrap();
        let mut fields: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        fields.sort();
        assert_eq!(fields, ["duration_seconds", "expires_at", "status", "url"]);
    }
    // An unsigned GET of the same object is refused: only the link reads it.
    let unsigned = reqwest::get(format!("{}/{}/{file}", moto(), recordings.target().bucket))
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 403);

    let refused = view(&ledger, &recordings, &stranger, &recorded, now).await;
    assert!(
        matches!(refused, Err(ApiError::Service(ServiceError::NotFound))),
        "{refused:?}"
    );
}

/// Tavus over HTTP (wiremock): every delete answered 204.
async fn tavus_deleting() -> (wiremock::MockServer, TavusClient<SecretsManagerSource>) {
    let server = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::method("DELETE"))
        .respond_with(wiremock::ResponseTemplate::new(204))
        .mount(&server)
        .await;
    let (keys, _) = crate::tavus_client::keys_with("tk-erase-rec").await;
    let client = TavusClient::new(crate::tavus_client::config_for(&server.uri()), keys);
    (server, client)
}

/// A settled, recorded session whose two recording objects are in the bucket.
async fn with_recordings(
    ledger: &DynamoLedger,
    recordings: &Recordings,
    hooks: &Hooks,
    owner: &UserId,
) -> (Session, [String; 2]) {
    let recorded = session(ledger, owner, &user("erase-partner"), true).await;
    let keys = [key(&recorded, "part-1.mp4"), key(&recorded, "part-2.mp4")];
    for key in &keys {
        put(recordings, key, b"video").await;
        let body = ready(
            &recorded,
            json!({"bucket_name": recordings.target().bucket, "s3_key": key}),
        );
        hooks
            .post(ledger, Some(recordings), &recorded, body)
            .await
            .unwrap();
    }
    (settle(ledger, &recorded).await, keys)
}

async fn in_erasure_index(ledger: &DynamoLedger, session: &Session) -> bool {
    ledger
        .erasures_due(
            keys::shard_of(&session.owner_id),
            at("2030-01-01T00:00:00Z"),
            1000,
            None,
        )
        .await
        .unwrap()
        .sessions
        .iter()
        .any(|s| s.session_id == session.session_id)
}

async fn in_sweep_index(ledger: &DynamoLedger, session: &Session) -> bool {
    ledger
        .open_sessions_due(
            keys::shard_of(&session.owner_id),
            at("2030-01-01T00:00:00Z"),
            1000,
            None,
        )
        .await
        .unwrap()
        .sessions
        .iter()
        .any(|s| s.session_id == session.session_id)
}

#[tokio::test]
async fn erasure_deletes_every_recording_of_the_session() {
    let ledger = fresh_ledger().await;
    let recordings = bucket().await;
    let hooks = Hooks::new().await;
    let owner = user("erase-owner");
    let (settled, keys) = with_recordings(&ledger, &recordings, &hooks, &owner).await;
    let untouched = format!("calls/{}-other.mp4", ulid::Ulid::new());
    put(&recordings, &untouched, b"another session's").await;
    erase_settled(&ledger, &recordings, &settled).await;
    for key in &keys {
        assert!(!exists(&recordings, key).await, "{key} deleted");
    }
    assert!(exists(&recordings, &untouched).await, "nothing else");
    assert!(matches!(
        ledger.get_session(&owner, settled.session_id).await,
        Err(LedgerError::SessionNotFound)
    ));
    assert!(!in_erasure_index(&ledger, &settled).await);
}

#[tokio::test]
async fn a_failed_recording_delete_is_finished_by_the_sweeper() {
    let ledger = fresh_ledger().await;
    let recordings = bucket().await;
    let down = unreachable(&recordings).await;
    let hooks = Hooks::new().await;
    let owner = user("retry-owner");
    let (settled, keys) = with_recordings(&ledger, &recordings, &hooks, &owner).await;
    let (_server, tavus) = tavus_deleting().await;
    let id = settled.session_id;
    let deadline = || Instant::now() + Duration::from_secs(20);

    // S3 cannot be reached: a retryable 503, and the erasure left where the sweeper finds it.
    let refused = erase::delete_session(&ledger, &tavus, Some(&down), &owner, id, deadline())
        .await
        .map_err(ApiError::from);
    let Err(error) = refused else {
        panic!("erased although the recordings were kept")
    };
    let (problem, retry_after) = error.problem();
    assert_eq!(
        (problem.status, problem.code),
        (503, "dependency_unavailable")
    );
    assert!(retry_after.is_some());
    assert!(!problem.to_json().contains("127.0.0.1"), "no internals");
    for key in &keys {
        assert!(exists(&recordings, key).await);
    }
    assert!(in_erasure_index(&ledger, &settled).await);
    assert!(
        !in_sweep_index(&ledger, &settled).await,
        "the settlement sweep leaves it alone"
    );
    // Being erased: nothing more can be added to it, and a file announced now is deleted.
    let late_file = key(&settled, "late.mp4");
    put(&recordings, &late_file, b"uploaded late").await;
    let late = ready(
        &settled,
        json!({"bucket_name": recordings.target().bucket, "s3_key": late_file}),
    );
    let handled = hooks.post(&ledger, Some(&recordings), &settled, late).await;
    assert_eq!(handled.unwrap(), Handled::LateRecordingDeleted);
    assert!(!exists(&recordings, &late_file).await);
    assert_eq!(
        reread(&ledger, &settled).await.playback.object_keys().len(),
        keys.len()
    );

    // Not due before its minute is up; a sweep that still cannot reach S3 keeps it.
    let now = Utc::now();
    let early = erase::finish_erasures(
        &ledger,
        Some(&recordings),
        now - chrono::Duration::minutes(2),
        deadline(),
    )
    .await;
    assert_eq!((early.finished, early.failed), (0, 0));
    let later = now + chrono::Duration::minutes(2);
    let still_down = erase::finish_erasures(&ledger, Some(&down), later, deadline()).await;
    assert_eq!((still_down.finished, still_down.failed), (0, 1));
    assert!(in_erasure_index(&ledger, &settled).await);

    let swept = erase::finish_erasures(&ledger, Some(&recordings), later, deadline()).await;
    assert_eq!((swept.finished, swept.failed, swept.complete), (1, 0, true));
    for key in &keys {
        assert!(
            !exists(&recordings, key).await,
            "{key} deleted by the sweeper"
        );
    }
    assert!(matches!(
        ledger.get_session(&owner, settled.session_id).await,
        Err(LedgerError::SessionNotFound)
    ));
    assert!(!in_erasure_index(&ledger, &settled).await);
}

#[tokio::test]
async fn record_true_asks_tavus_to_record_into_our_bucket_and_needs_one() {
    let ledger = fresh_ledger().await;
    let recordings = bucket().await;
    let sim = test_support::start_sim(tavus_sim::SimConfig::default()).await;
    let (keys, _) = crate::tavus_client::keys_with("sim-key").await;
    let tavus = TavusClient::new(
        crate::tavus_client::config_for(&sim.base_url()),
        Arc::clone(&keys),
    );
    let owner = user("create-rec");
    let create = |body: &'static str, target: Option<&'static RecordingTarget>| {
        let (ledger, tavus, keys, owner) = (&ledger, &tavus, &keys, &owner);
        async move {
            let request = CreateSessionRequest::parse(body.as_bytes(), owner)?;
            let cx = CreateContext {
                owner,
                idempotency: None,
                public_url: "http://127.0.0.1:9",
                now: Utc::now(),
                deadline: Instant::now() + Duration::from_secs(10),
                recording: target,
            };
            create_session(ledger, tavus, keys, cx, &request)
                .await
                .map_err(ApiError::from)
        }
    };
    let target: &'static RecordingTarget = Box::leak(Box::new(recordings.target().clone()));
    let recorded = r#"{"session_type": "reflect_alone", "prompt": "my week", "max_minutes": 2, "record": true}"#;
    let plain = r#"{"session_type": "reflect_alone", "prompt": "my week", "max_minutes": 2}"#;

    // Without a bucket: 400 recording_unavailable, and nothing reserved.
    let refused = create(recorded, None).await;
    let Err(error) = refused else {
        panic!("recorded without a bucket")
    };
    assert_eq!(
        (error.problem().0.status, error.problem().0.code),
        (400, "recording_unavailable")
    );
    let page = ledger.list_sessions(&owner, 10, None).await.unwrap();
    assert!(page.sessions.is_empty());

    let created = create(recorded, Some(target)).await.unwrap();
    assert!(created.session.playback.record);
    let conversation = created.session.conversation_id.clone().unwrap();
    let simulated: Value = reqwest::get(format!(
        "{}/_sim/conversations/{conversation}",
        sim.base_url()
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(
        simulated["recording"],
        json!({"bucket": target.bucket, "region": "us-east-1", "role_arn": ROLE})
    );

    // Not asked: created without recording, even where a bucket exists.
    let unrecorded = create(plain, Some(target)).await.unwrap();
    assert!(!unrecorded.session.playback.record);
    let conversation = unrecorded.session.conversation_id.clone().unwrap();
    let simulated: Value = reqwest::get(format!(
        "{}/_sim/conversations/{conversation}",
        sim.base_url()
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(simulated["recording"], Value::Null);
}

/// An erasure waiting for its recordings stays where the sweeper finds it, whatever lands after
/// it began: a late transcript callback or a sweep working from an older read records "Tavus's
/// copy deleted", which must not take the session out of the index.
#[tokio::test]
async fn an_erasure_waiting_for_its_recordings_stays_in_the_sweepers_index() {
    let ledger = fresh_ledger().await;
    let recordings = bucket().await;
    let down = unreachable(&recordings).await;
    let hooks = Hooks::new().await;
    let owner = user("late-copy-owner");
    let (settled, keys) = with_recordings(&ledger, &recordings, &hooks, &owner).await;
    let (_server, tavus) = tavus_deleting().await;
    let deadline = || Instant::now() + Duration::from_secs(20);
    let refused = erase::delete_session(
        &ledger,
        &tavus,
        Some(&down),
        &owner,
        settled.session_id,
        deadline(),
    )
    .await;
    assert!(refused.is_err(), "S3 down: the erasure waits");
    assert!(in_erasure_index(&ledger, &settled).await);

    // What a late callback or an old sweep does once it has deleted Tavus's copy.
    ledger
        .tavus_copy_done(&owner, settled.session_id)
        .await
        .unwrap();
    assert!(
        in_erasure_index(&ledger, &settled).await,
        "the erasure fell out of the sweeper's index"
    );
    let later = Utc::now() + chrono::Duration::minutes(2);
    let swept = erase::finish_erasures(&ledger, Some(&recordings), later, deadline()).await;
    assert_eq!((swept.finished, swept.failed), (1, 0));
    for key in &keys {
        assert!(!exists(&recordings, key).await, "{key} deleted");
    }
}

/// A callback can attach to a session only a file of its own conversation: naming another
/// session's recording stores nothing, so that session's file is neither played to the wrong
/// people nor deleted by the wrong erasure.
#[tokio::test]
async fn a_recording_callback_cannot_claim_another_sessions_file() {
    let ledger = fresh_ledger().await;
    let recordings = bucket().await;
    let target = recordings.target();
    let hooks = Hooks::new().await;
    let (victim_owner, intruder) = (user("victim"), user("intruder"));
    let victim = session(&ledger, &victim_owner, &user("victim-partner"), true).await;
    let theirs = key(&victim, "call.mp4");
    put(&recordings, &theirs, b"the victim's call").await;
    let announced = ready(
        &victim,
        json!({"bucket_name": target.bucket, "s3_key": theirs}),
    );
    let stored = hooks
        .post(&ledger, Some(&recordings), &victim, announced)
        .await;
    assert_eq!(stored.unwrap(), Handled::RecordingStored);

    let other = session(&ledger, &intruder, &user("intruder-partner"), true).await;
    let claim = ready(
        &other,
        json!({"bucket_name": target.bucket, "s3_key": theirs}),
    );
    let handled = hooks.post(&ledger, Some(&recordings), &other, claim).await;
    assert_eq!(handled.unwrap(), Handled::Ignored);
    let after = reread(&ledger, &other).await;
    assert!(after.playback.object_keys().is_empty(), "{after:?}");
    let played = view(&ledger, &recordings, &intruder, &other, at(NOW))
        .await
        .unwrap();
    assert_eq!(played.status, RecordingStatus::Pending);

    // Erasing the intruder's session leaves the victim's file.
    settle_and_erase(&ledger, &recordings, &other).await;
    assert!(exists(&recordings, &theirs).await);
}

/// However many recording callbacks come, a session keeps a bounded number of files, so its
/// item never outgrows DynamoDB's 400 KB and it can always be closed and erased.
#[tokio::test]
async fn a_session_holds_a_bounded_number_of_recordings() {
    let ledger = fresh_ledger().await;
    let recordings = bucket().await;
    let target = recordings.target();
    let hooks = Hooks::new().await;
    let owner = user("many-parts");
    let recorded = session(&ledger, &owner, &user("many-partner"), true).await;
    let limit = awaknow_core::domain::MAX_RECORDINGS_PER_SESSION;
    let mut stored = 0;
    for part in 0..limit + 5 {
        let body = ready(
            &recorded,
            json!({"bucket_name": target.bucket, "s3_key": key(&recorded, &format!("part-{part}.mp4"))}),
        );
        if hooks
            .post(&ledger, Some(&recordings), &recorded, body)
            .await
            .unwrap()
            == Handled::RecordingStored
        {
            stored += 1;
        }
    }
    assert_eq!(stored, limit);
    let after = reread(&ledger, &recorded).await;
    assert_eq!(after.playback.object_keys().len(), limit);
    // Still closes and erases.
    settle_and_erase(&ledger, &recordings, &recorded).await;
}

/// Settles `session`, then its owner erases it (Tavus deleting its copy).
async fn settle_and_erase(ledger: &DynamoLedger, recordings: &Recordings, session: &Session) {
    let settled = settle(ledger, session).await;
    erase_settled(ledger, recordings, &settled).await;
}

/// Erases a settled session (Tavus deletes its copy), which must succeed.
async fn erase_settled(ledger: &DynamoLedger, recordings: &Recordings, settled: &Session) {
    let (_server, tavus) = tavus_deleting().await;
    erase::delete_session(
        ledger,
        &tavus,
        Some(recordings),
        &settled.owner_id,
        settled.session_id,
        Instant::now() + Duration::from_secs(30),
    )
    .await
    .unwrap();
}

/// Tavus writes a recording after the call ends, and its callback can come after the owner
/// erased the session (or while the erasure waits for S3): the file is deleted on arrival, so
/// erased stays erased. A callback naming a conversation that was never erased deletes nothing.
#[tokio::test]
async fn a_recording_that_arrives_after_its_erasure_is_deleted_on_arrival() {
    let ledger = fresh_ledger().await;
    let recordings = bucket().await;
    let hooks = Hooks::new().await;
    let owner = user("late-recording-owner");
    let erased = session(&ledger, &owner, &user("late-recording-partner"), true).await;
    let live = session(&ledger, &user("live-owner"), &user("live-partner"), true).await;
    let live_file = key(&live, "call.mp4");
    put(&recordings, &live_file, b"a live session's call").await;
    settle_and_erase(&ledger, &recordings, &erased).await;

    let late_file = key(&erased, "call.mp4");
    put(&recordings, &late_file, b"the erased call").await;
    let late = ready(
        &erased,
        json!({"bucket_name": recordings.target().bucket, "s3_key": late_file}),
    );
    let handled = hooks.post(&ledger, Some(&recordings), &erased, late).await;
    assert_eq!(handled.unwrap(), Handled::LateRecordingDeleted);
    assert!(!exists(&recordings, &late_file).await, "erased means gone");

    // The erased session's callback URL naming a file of a conversation nobody erased.
    let claim = ready(
        &live,
        json!({"bucket_name": recordings.target().bucket, "s3_key": live_file}),
    );
    let handled = hooks.post(&ledger, Some(&recordings), &erased, claim).await;
    assert_eq!(handled.unwrap(), Handled::Ignored);
    assert!(
        exists(&recordings, &live_file).await,
        "nothing else deleted"
    );
}

/// Every version and delete marker of `key` left in the bucket.
async fn versions_of(recordings: &Recordings, key: &str) -> usize {
    let listed = s3_at(&moto())
        .await
        .list_object_versions()
        .bucket(&recordings.target().bucket)
        .prefix(key)
        .send()
        .await
        .unwrap();
    listed
        .versions()
        .iter()
        .filter(|v| v.key() == Some(key))
        .count()
        + listed
            .delete_markers()
            .iter()
            .filter(|m| m.key() == Some(key))
            .count()
}

/// In a versioned bucket (as Tavus's older setup asks for), a plain delete only hides a file
/// behind a delete marker: erasure deletes every version and marker of the session's files.
#[tokio::test]
async fn erasure_in_a_versioned_bucket_leaves_no_version() {
    let ledger = fresh_ledger().await;
    let recordings = bucket().await;
    s3_at(&moto())
        .await
        .put_bucket_versioning()
        .bucket(&recordings.target().bucket)
        .versioning_configuration(
            aws_sdk_s3::types::VersioningConfiguration::builder()
                .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let hooks = Hooks::new().await;
    let owner = user("versioned-owner");
    let (settled, keys) = with_recordings(&ledger, &recordings, &hooks, &owner).await;
    // Tavus wrote the first file twice (a retried upload): two versions of it.
    put(&recordings, &keys[0], b"video, again").await;
    assert_eq!(versions_of(&recordings, &keys[0]).await, 2);
    let neighbour = format!("{}-other", keys[0]);
    put(&recordings, &neighbour, b"another file").await;
    erase_settled(&ledger, &recordings, &settled).await;
    for key in &keys {
        assert_eq!(versions_of(&recordings, key).await, 0, "{key}");
    }
    assert!(
        exists(&recordings, &neighbour).await,
        "only the session's files"
    );
}
