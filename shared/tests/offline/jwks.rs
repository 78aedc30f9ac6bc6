//! The JWKS mode against a key server of our own on 127.0.0.1 that counts its fetches: garbage
//! key ids cannot make the function fetch more than once per interval, known keys are verified
//! while a fetch hangs, and a failed fetch keeps the last good keys.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use awaknow_core::api::ApiError;
use awaknow_core::api::identity::{AuthMode, Authenticator};
use awaknow_core::api::jwks::JwksSettings;
use awaknow_core::service::ServiceError;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::future::join_all;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use tokio::sync::oneshot;

const ISSUER: &str = "https://issuer.test";
const AUDIENCE: &str = "awaknow";

/// An ES256 signing key and its public JWK.
struct SigningKey {
    kid: String,
    encoding: EncodingKey,
    jwk: Value,
}

impl SigningKey {
    fn new(kid: &str) -> SigningKey {
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                .expect("generate a P-256 key");
        let encoding = EncodingKey::from_ec_der(pkcs8.as_ref());
        let mut jwk = Jwk::from_encoding_key(&encoding, Algorithm::ES256).expect("public JWK");
        jwk.common.key_id = Some(kid.to_owned());
        SigningKey {
            kid: kid.to_owned(),
            encoding,
            jwk: serde_json::to_value(jwk).expect("JWK as JSON"),
        }
    }

    /// A valid token for `user`, signed with this key but naming `kid` in its header.
    fn token_with_kid(&self, user: &str, kid: &str) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(kid.to_owned());
        let claims = json!({
            "sub": user, "iss": ISSUER, "aud": AUDIENCE,
            "exp": chrono::Utc::now().timestamp() + 300,
        });
        jsonwebtoken::encode(&header, &claims, &self.encoding).expect("sign a token")
    }

    fn token(&self, user: &str) -> String {
        self.token_with_kid(user, &self.kid)
    }
}

fn key_set(keys: &[&SigningKey]) -> String {
    json!({ "keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>() }).to_string()
}

/// What the key server answers.
#[derive(Clone)]
struct Answer {
    status: StatusCode,
    body: String,
    cache_control: Option<&'static str>,
}

/// A fetch the server holds until the test releases it.
struct Hold {
    arrived: oneshot::Sender<()>,
    release: oneshot::Receiver<()>,
}

#[derive(Default)]
struct ServerState {
    fetches: AtomicUsize,
    answer: Mutex<Option<Answer>>,
    hold: Mutex<Option<Hold>>,
}

struct KeyServer {
    url: String,
    state: Arc<ServerState>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for KeyServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn jwks(State(state): State<Arc<ServerState>>) -> Response {
    state.fetches.fetch_add(1, Ordering::SeqCst);
    let hold = state.hold.lock().unwrap().take();
    if let Some(hold) = hold {
        let _ = hold.arrived.send(());
        let _ = hold.release.await;
    }
    let answer = state.answer.lock().unwrap().clone();
    let Some(answer) = answer else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let mut response = (answer.status, answer.body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    if let Some(cc) = answer.cache_control {
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, header::HeaderValue::from_static(cc));
    }
    response
}

impl KeyServer {
    async fn start(body: String) -> KeyServer {
        let state = Arc::new(ServerState::default());
        *state.answer.lock().unwrap() = Some(Answer {
            status: StatusCode::OK,
            body,
            cache_control: None,
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "http://{}/.well-known/jwks.json",
            listener.local_addr().unwrap()
        );
        let app = axum::Router::new()
            .route("/.well-known/jwks.json", axum::routing::get(jwks))
            .with_state(Arc::clone(&state));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        KeyServer { url, state, task }
    }

    fn answer(&self, status: StatusCode, body: String, cache_control: Option<&'static str>) {
        *self.state.answer.lock().unwrap() = Some(Answer {
            status,
            body,
            cache_control,
        });
    }

    fn fetches(&self) -> usize {
        self.state.fetches.load(Ordering::SeqCst)
    }

    /// Holds the next fetch: resolves the first receiver when it arrives, answers once the
    /// sender is used (or dropped).
    fn hold_next(&self) -> (oneshot::Receiver<()>, oneshot::Sender<()>) {
        let (arrived_tx, arrived_rx) = oneshot::channel();
        let (release_tx, release_rx) = oneshot::channel();
        *self.state.hold.lock().unwrap() = Some(Hold {
            arrived: arrived_tx,
            release: release_rx,
        });
        (arrived_rx, release_tx)
    }
}

fn authenticator(server: &KeyServer, settings: JwksSettings) -> Arc<Authenticator> {
    Arc::new(Authenticator::new(AuthMode::Jwks {
        url: server.url.clone(),
        issuer: ISSUER.into(),
        audience: AUDIENCE.into(),
        settings,
    }))
}

async fn verify(auth: &Authenticator, token: &str) -> Result<String, ApiError> {
    auth.user(None, Some(&format!("Bearer {token}")))
        .await
        .map(|u| u.as_str().to_owned())
}

fn random_kid() -> String {
    format!("kid-{}", ulid::Ulid::new())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn five_hundred_tokens_with_unknown_kids_make_one_fetch() {
    let key = SigningKey::new("k1");
    let server = KeyServer::start(key_set(&[&key])).await;
    let auth = authenticator(&server, JwksSettings::default());

    // A cold process meets 500 tokens naming keys that do not exist, all at once.
    let garbage = |n: usize| {
        let auth = Arc::clone(&auth);
        let tokens: Vec<String> = (0..n)
            .map(|_| key.token_with_kid("mallory", &random_kid()))
            .collect();
        async move {
            let tasks = tokens.into_iter().map(|token| {
                let auth = Arc::clone(&auth);
                tokio::spawn(async move { verify(&auth, &token).await })
            });
            join_all(tasks).await
        }
    };
    for answer in garbage(500).await {
        assert!(
            matches!(answer.expect("task"), Err(ApiError::Unauthenticated)),
            "a token with an unknown kid is 401"
        );
    }
    assert_eq!(server.fetches(), 1, "one fetch for the whole process");

    // The keys that fetch brought verify real tokens without another fetch.
    for i in 0..50 {
        assert_eq!(
            verify(&auth, &key.token(&format!("user-{i}")))
                .await
                .unwrap(),
            format!("user-{i}")
        );
    }
    // A second wave within the interval fetches nothing.
    for answer in garbage(500).await {
        assert!(matches!(
            answer.expect("task"),
            Err(ApiError::Unauthenticated)
        ));
    }
    assert_eq!(
        server.fetches(),
        1,
        "still one fetch after 1,000 garbage tokens"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn known_keys_are_verified_while_a_slow_fetch_is_in_flight() {
    let key = SigningKey::new("k1");
    let server = KeyServer::start(key_set(&[&key])).await;
    let auth = authenticator(
        &server,
        JwksSettings {
            refetch_interval: Duration::ZERO,
            timeout: Duration::from_secs(30),
            ..JwksSettings::default()
        },
    );
    assert_eq!(verify(&auth, &key.token("alice")).await.unwrap(), "alice");
    assert_eq!(server.fetches(), 1);

    // An unknown kid starts a fetch that the server holds.
    let (arrived, release) = server.hold_next();
    let stranger = {
        let auth = Arc::clone(&auth);
        let token = key.token_with_kid("mallory", &random_kid());
        tokio::spawn(async move { verify(&auth, &token).await })
    };
    arrived.await.expect("the fetch reached the server");

    // Meanwhile tokens with the known key are verified at once.
    let verified = tokio::time::timeout(
        Duration::from_secs(5),
        join_all((0..20).map(|i| {
            let auth = Arc::clone(&auth);
            let token = key.token(&format!("user-{i}"));
            async move { verify(&auth, &token).await }
        })),
    )
    .await
    .expect("known keys must not wait for the fetch in flight");
    assert!(verified.iter().all(Result::is_ok), "{verified:?}");
    assert!(!stranger.is_finished(), "the fetch was still in flight");
    assert_eq!(server.fetches(), 2);

    release.send(()).expect("release the fetch");
    assert!(matches!(
        stranger.await.expect("task"),
        Err(ApiError::Unauthenticated)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_fetch_keeps_the_last_good_keys() {
    let old = SigningKey::new("old");
    let server = KeyServer::start(key_set(&[&old])).await;
    let auth = authenticator(
        &server,
        JwksSettings {
            refetch_interval: Duration::ZERO,
            max_body_bytes: 4096,
            ..JwksSettings::default()
        },
    );
    assert!(verify(&auth, &old.token("alice")).await.is_ok());
    let mut fetches = 1;

    let big = json!({ "keys": [old.jwk], "padding": "x".repeat(5000) }).to_string();
    for (status, body) in [
        (StatusCode::INTERNAL_SERVER_ERROR, "down".to_owned()),
        (StatusCode::OK, "<html>maintenance</html>".to_owned()),
        (StatusCode::OK, r#"{"keys": []}"#.to_owned()),
        (StatusCode::OK, big),
    ] {
        server.answer(status, body, None);
        // An unknown kid fetches (the interval is zero here) and the fetch fails...
        assert!(matches!(
            verify(&auth, &old.token_with_kid("mallory", &random_kid())).await,
            Err(ApiError::Unauthenticated)
        ));
        fetches += 1;
        assert_eq!(server.fetches(), fetches);
        // ...and the last good keys still verify.
        assert_eq!(verify(&auth, &old.token("alice")).await.unwrap(), "alice");
        assert_eq!(
            server.fetches(),
            fetches,
            "a fresh known key needs no fetch"
        );
    }

    // The issuer rotates: the new key is fetched on first sight and the withdrawn one refused.
    let new = SigningKey::new("new");
    server.answer(StatusCode::OK, key_set(&[&new]), None);
    assert_eq!(verify(&auth, &new.token("bob")).await.unwrap(), "bob");
    assert_eq!(server.fetches(), fetches + 1);
    assert!(matches!(
        verify(&auth, &old.token("alice")).await,
        Err(ApiError::Unauthenticated)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_keys_are_refreshed_and_kept_when_the_refresh_fails() {
    let key = SigningKey::new("k1");
    let server = KeyServer::start(key_set(&[&key])).await;
    // Fresh for no time unless the server says otherwise.
    let auth = authenticator(
        &server,
        JwksSettings {
            default_ttl: Duration::ZERO,
            refetch_interval: Duration::ZERO,
            ..JwksSettings::default()
        },
    );
    assert!(verify(&auth, &key.token("alice")).await.is_ok());
    assert!(verify(&auth, &key.token("alice")).await.is_ok());
    assert_eq!(server.fetches(), 2, "expired keys are fetched again");

    server.answer(StatusCode::SERVICE_UNAVAILABLE, "busy".into(), None);
    assert!(verify(&auth, &key.token("alice")).await.is_ok());
    assert_eq!(
        server.fetches(),
        3,
        "the refresh failed; the expired key still verifies"
    );

    // Cache-Control: max-age overrides the default.
    server.answer(
        StatusCode::OK,
        key_set(&[&key]),
        Some("public, max-age=3600"),
    );
    assert!(verify(&auth, &key.token("alice")).await.is_ok());
    assert_eq!(server.fetches(), 4);
    for _ in 0..20 {
        assert!(verify(&auth, &key.token("alice")).await.is_ok());
    }
    assert_eq!(server.fetches(), 4, "fresh for an hour");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_server_that_is_down_or_hangs_is_asked_once_per_interval() {
    let key = SigningKey::new("k1");
    let server = KeyServer::start(key_set(&[&key])).await;
    let auth = authenticator(
        &server,
        JwksSettings {
            timeout: Duration::from_millis(300),
            ..JwksSettings::default()
        },
    );
    // The first fetch hangs (never released): it gives up at the timeout, and with no key at
    // all the answer is 503, not 401.
    let (_arrived, _release) = server.hold_next();
    let started = Instant::now();
    let answer = verify(&auth, &key.token("alice")).await;
    assert!(
        matches!(
            answer,
            Err(ApiError::Service(ServiceError::DependencyUnavailable(_)))
        ),
        "{answer:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "bounded by the timeout: {:?}",
        started.elapsed()
    );
    // Within the interval nobody fetches again, even with the server back.
    for _ in 0..100 {
        assert!(matches!(
            verify(&auth, &key.token_with_kid("alice", &random_kid())).await,
            Err(ApiError::Service(ServiceError::DependencyUnavailable(_)))
        ));
    }
    assert_eq!(server.fetches(), 1);
}
