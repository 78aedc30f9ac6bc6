//! Test support: a fresh table on DynamoDB Local, created from template.yaml, per test.

use awaknow_core::domain::{PlanCatalog, Session, SessionType, UserId};
use awaknow_core::store::{DynamoLedger, ReservationRequest};
use chrono::{DateTime, Utc};
use local_stack::TableDefinition;
pub use test_support::template_path;

/// Where `make test` started DynamoDB Local.
pub const ENDPOINT_VAR: &str = "DYNAMODB_ENDPOINT";

/// Where a service the tests need listens, from `var`. Without it (a plain `cargo test`) there is
/// nothing these tests can run against: say so once and end the binary without failing.
pub fn service_endpoint(var: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| local_stack::skip_service_tests(var))
}

/// A ledger on a new, empty table, so tests never see each other's data.
pub async fn fresh_ledger() -> DynamoLedger {
    let endpoint = service_endpoint(ENDPOINT_VAR);
    let client = aws_sdk_dynamodb::Client::new(&test_support::local_sdk_under_load(&endpoint));
    let table = format!("ledger-{}", ulid::Ulid::new().to_string().to_lowercase());
    let definition = TableDefinition::from_template_file(&template_path())
        .expect("template.yaml defines the table");
    let created = definition
        .create(&client, &table)
        .await
        .expect("create the test table");
    assert!(created, "table {table} should be new");
    DynamoLedger::new(client, table, PlanCatalog::default())
}

/// A ledger on a new table that lets each user hold `cap` open sessions at once: for tests about
/// minutes, which open more sessions than the default cap of two.
pub async fn fresh_ledger_with_cap(cap: u32) -> DynamoLedger {
    fresh_ledger().await.with_max_open_sessions(cap)
}

pub fn user(name: &str) -> UserId {
    UserId::parse(&format!("{name}-{}", ulid::Ulid::new())).expect("valid user id")
}

pub fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("test timestamp")
        .with_timezone(&Utc)
}

pub fn alone(owner: &UserId, minutes: u32, now: DateTime<Utc>) -> ReservationRequest {
    ReservationRequest {
        owner: owner.clone(),
        session_type: SessionType::ReflectAlone,
        participants: Vec::new(),
        requested_minutes: Some(minutes),
        now,
        idempotency: None,
        record: false,
    }
}

/// Where `make test` started moto's server.
pub const MOTO_VAR: &str = "MOTO_ENDPOINT";

/// A Secrets Manager client on moto's server.
pub async fn secrets_client() -> aws_sdk_secretsmanager::Client {
    let endpoint = service_endpoint(MOTO_VAR);
    aws_sdk_secretsmanager::Client::new(&test_support::local_sdk(&endpoint))
}

/// Creates a secret with a fresh name on moto and returns the name.
pub async fn new_secret(client: &aws_sdk_secretsmanager::Client, value: &str) -> String {
    let name = format!("awaknow/test/{}", ulid::Ulid::new());
    client
        .create_secret()
        .name(&name)
        .secret_string(value)
        .send()
        .await
        .expect("create secret on moto");
    name
}

/// Replaces the secret's value (moves AWSCURRENT), as a rotation does.
pub async fn rotate_secret(client: &aws_sdk_secretsmanager::Client, name: &str, value: &str) {
    client
        .put_secret_value()
        .secret_id(name)
        .secret_string(value)
        .send()
        .await
        .expect("put secret value on moto");
}

/// Held for reading by every test that drives the Tavus client, and for writing by the test
/// that captures the client's logs: tracing's per-callsite interest is global, and a log site
/// first met on another thread while the capture was being set up could go uncaptured.
pub async fn tavus_client_logs(exclusive: bool) -> TavusLogGuard {
    static LOCK: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());
    if exclusive {
        TavusLogGuard::Exclusive(LOCK.write().await)
    } else {
        TavusLogGuard::Shared(LOCK.read().await)
    }
}

pub enum TavusLogGuard {
    Shared(#[allow(dead_code)] tokio::sync::RwLockReadGuard<'static, ()>),
    Exclusive(#[allow(dead_code)] tokio::sync::RwLockWriteGuard<'static, ()>),
}

/// `session` as the ledger holds it now.
pub async fn reread(ledger: &DynamoLedger, session: &Session) -> Session {
    ledger
        .get_session(&session.owner_id, session.session_id)
        .await
        .expect("read the session back")
        .0
}

/// `pending` made active on the conversation `c-<session id>`, as a create does with Tavus's
/// answer.
pub async fn activated(ledger: &DynamoLedger, pending: &Session) -> Session {
    let conversation_id = format!("c-{}", pending.session_id);
    let url = format!("https://tavus.daily.co/{conversation_id}");
    ledger
        .activate(
            pending,
            awaknow_core::store::Activation {
                conversation_id: &conversation_id,
                conversation_url: Some(&url),
                meeting_token: None,
            },
        )
        .await
        .expect("activate the session")
}

/// A reflect_alone session of `owner` created as `POST /sessions` does: reserved, created at
/// Tavus (the simulator behind `tavus`), active.
pub async fn create_alone(
    ledger: &DynamoLedger,
    tavus: &awaknow_core::tavus::Tavus,
    keys: &test_support::Keys,
    owner: &UserId,
) -> Session {
    use awaknow_core::service::create::{CreateContext, CreateSessionRequest, create_session};
    let body = br#"{"session_type": "reflect_alone", "prompt": "my week", "max_minutes": 5}"#;
    let request = CreateSessionRequest::parse(body, owner).expect("a valid body");
    let cx = CreateContext {
        owner,
        idempotency: None,
        public_url: "http://127.0.0.1:9",
        now: chrono::Utc::now(),
        deadline: std::time::Instant::now() + std::time::Duration::from_secs(30),
        recording: None,
    };
    let created = create_session(ledger, tavus, keys, cx, &request)
        .await
        .expect("create the session");
    assert_eq!(
        created.session.status,
        awaknow_core::domain::SessionStatus::Active
    );
    created.session
}
