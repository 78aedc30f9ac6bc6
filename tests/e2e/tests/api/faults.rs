//! Faults: Tavus slower than the deadline, the secret missing, DynamoDB stopped mid-run. The
//! flows run in-process (the create-session code the function runs) against real services.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use awaknow_core::api::ApiError;
use awaknow_core::domain::{PlanCatalog, SessionStatus, UserId};
use awaknow_core::secrets::SecretsManagerSource;
use awaknow_core::service::ServiceError;
use awaknow_core::service::create::{CreateContext, CreateSessionRequest, Created};
use awaknow_core::service::sweep::{SweepOptions, sweep};
use awaknow_core::store::DynamoLedger;
use awaknow_core::tavus::{RetryPolicy, TavusClient, TavusConfig};
use e2e_tests::{env, local_sdk};
use serde_json::json;

use test_support::Keys;

/// `POST /sessions` as the function runs it: the body parsed, then the service's create.
async fn create_session(
    ledger: &DynamoLedger,
    tavus: &TavusClient<SecretsManagerSource>,
    keys: &Keys,
    cx: CreateContext<'_>,
    body: &[u8],
) -> Result<Created, ApiError> {
    let request = CreateSessionRequest::parse(body, cx.owner)?;
    Ok(awaknow_core::service::create::create_session(ledger, tavus, keys, cx, &request).await?)
}

async fn keys(secret_id: &str) -> Keys {
    let client = aws_sdk_secretsmanager::Client::new(&local_sdk(&env("MOTO_ENDPOINT")));
    test_support::keys(client, secret_id)
}

fn tavus(base_url: String, keys: &Keys) -> TavusClient<SecretsManagerSource> {
    let config = TavusConfig {
        retry: RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(20),
            max_delay: Duration::from_millis(100),
        },
        ..e2e_tests::sim_tavus_config(&base_url)
    };
    TavusClient::new(config, Arc::clone(keys))
}

fn body(minutes: u32) -> Vec<u8> {
    json!({ "session_type": "reflect_alone", "prompt": "x", "max_minutes": minutes })
        .to_string()
        .into_bytes()
}

fn context(owner: &UserId, budget: Duration) -> CreateContext<'_> {
    CreateContext {
        owner,
        idempotency: None,
        public_url: "http://127.0.0.1:9",
        now: chrono::Utc::now(),
        deadline: Instant::now() + budget,
        recording: None,
    }
}

fn shared_ledger(config: &aws_types::SdkConfig) -> DynamoLedger {
    DynamoLedger::new(
        aws_sdk_dynamodb::Client::new(config),
        env("TABLE_NAME"),
        PlanCatalog::default(),
    )
}

#[tokio::test]
async fn tavus_slower_than_the_deadline_is_502_and_releases_the_minutes() {
    let ledger = shared_ledger(&local_sdk(&env("DYNAMODB_ENDPOINT")));
    let keys = keys(&env("TAVUS_SECRET_ID")).await;
    let sim = e2e_tests::own_sim(tavus_sim::SimConfig::default()).await;
    // Far longer than the deadline: an answer waited for would take all of it.
    test_support::inject_fault(&sim.base_url(), &json!({ "latency_ms": 20_000 })).await;
    let owner = UserId::parse(&e2e_tests::Api::user("slow")).unwrap();

    let started = Instant::now();
    let result = create_session(
        &ledger,
        &tavus(sim.base_url(), &keys),
        &keys,
        context(&owner, Duration::from_millis(800)),
        &body(10),
    )
    .await;
    let took = started.elapsed();
    assert!(
        matches!(
            result,
            Err(ApiError::Service(ServiceError::TavusUnavailable(_)))
        ),
        "{result:?}"
    );
    // Well under Tavus's 20 s answer: the attempt was cut at the deadline, not waited out. The
    // rest of the time is the reservation and its release on a DynamoDB Local that other tests
    // share, which a busy machine slows down.
    assert!(
        took < Duration::from_secs(10),
        "the deadline was not respected: {took:?}"
    );
    let usage = ledger.usage(&owner, chrono::Utc::now()).await.unwrap();
    assert_eq!((usage.reserved_minutes, usage.used_minutes), (0, 0));
    println!(
        "fault: Tavus 5 s slow, deadline 800 ms -> 502 tavus_unavailable after {took:?}, nothing reserved"
    );
}

#[tokio::test]
async fn a_missing_secret_is_503_and_nothing_stays_reserved() {
    let ledger = shared_ledger(&local_sdk(&env("DYNAMODB_ENDPOINT")));
    let keys = keys("awaknow/no-such-secret").await;
    let sim = e2e_tests::own_sim(tavus_sim::SimConfig::default()).await;
    let owner = UserId::parse(&e2e_tests::Api::user("nosecret")).unwrap();
    let result = create_session(
        &ledger,
        &tavus(sim.base_url(), &keys),
        &keys,
        context(&owner, Duration::from_secs(10)),
        &body(10),
    )
    .await;
    match &result {
        Err(e @ ApiError::Service(ServiceError::DependencyUnavailable(_))) => {
            assert_eq!(e.problem().0.code, "dependency_unavailable")
        }
        other => panic!("expected 503 dependency_unavailable, got {other:?}"),
    }
    assert_eq!(
        ledger
            .usage(&owner, chrono::Utc::now())
            .await
            .unwrap()
            .reserved_minutes,
        0
    );
    println!("fault: secret missing -> 503 dependency_unavailable, nothing reserved");
}

/// A DynamoDB Local of this test's own, on disk, so it can be stopped and started again.
struct OwnDynamo {
    port: u16,
    dir: std::path::PathBuf,
    child: Option<Child>,
}

impl OwnDynamo {
    fn start(port: u16, dir: std::path::PathBuf) -> OwnDynamo {
        let child = Self::spawn(port, &dir);
        OwnDynamo {
            port,
            dir,
            child: Some(child),
        }
    }

    /// Starts it again on the same port and files.
    fn restart(&mut self) {
        self.kill();
        self.child = Some(Self::spawn(self.port, &self.dir));
    }

    fn spawn(port: u16, dir: &std::path::Path) -> Child {
        Command::new("java")
            .arg(format!(
                "-Djava.library.path={}",
                env("DDB_LOCAL_LIBRARY_PATH")
            ))
            .arg("-cp")
            .arg(env("DDB_LOCAL_CLASSPATH"))
            .args([
                "LoopbackDynamoDbLocal",
                "-sharedDb",
                "-disableTelemetry",
                "-port",
                &port.to_string(),
                "-dbPath",
            ])
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start DynamoDB Local")
    }

    async fn wait_ready(&self) {
        let url = format!("http://127.0.0.1:{}", self.port);
        for _ in 0..150 {
            if reqwest::get(&url).await.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("DynamoDB Local did not start on {url}");
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for OwnDynamo {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dynamodb_stopped_mid_run_is_503_and_nothing_is_lost_or_stuck_after() {
    let port = free_port();
    let dir = std::env::temp_dir().join(format!("awaknow-ddb-{}", ulid::Ulid::new()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut dynamo = OwnDynamo::start(port, dir.clone());
    dynamo.wait_ready().await;
    let config = local_sdk(&format!("http://127.0.0.1:{port}"));
    let client = aws_sdk_dynamodb::Client::new(&config);
    local_stack::TableDefinition::from_template_file(&test_support::template_path())
        .unwrap()
        .create(&client, "faults")
        .await
        .unwrap();
    // Fourteen creates for one owner, none ended: about the outage, not the cap on open sessions.
    let ledger = Arc::new(
        DynamoLedger::new(client, "faults", PlanCatalog::default()).with_max_open_sessions(100),
    );
    let keys = keys(&env("TAVUS_SECRET_ID")).await;
    let sim = e2e_tests::own_sim(tavus_sim::SimConfig::default()).await;
    let tavus = Arc::new(tavus(sim.base_url(), &keys));
    let owner = UserId::parse(&e2e_tests::Api::user("outage")).unwrap();

    let create = |minutes| {
        let (ledger, tavus, keys, owner) = (
            Arc::clone(&ledger),
            Arc::clone(&tavus),
            Arc::clone(&keys),
            owner.clone(),
        );
        tokio::spawn(async move {
            create_session(
                &ledger,
                &tavus,
                &keys,
                context(&owner, Duration::from_secs(10)),
                &body(minutes),
            )
            .await
        })
    };
    // Before the outage: all good.
    for _ in 0..3 {
        assert!(create(1).await.unwrap().is_ok());
    }
    // Eight creates in flight, and DynamoDB dies under them.
    let in_flight: Vec<_> = (0..8).map(|_| create(1)).collect();
    dynamo.kill();
    let mut answers = Vec::new();
    for task in in_flight {
        answers.push(task.await.unwrap());
    }
    // During the outage: a clear 503, never a panic or a 500.
    for _ in 0..3 {
        answers.push(create(1).await.unwrap());
    }
    let mut ok = 3;
    for answer in &answers {
        match answer {
            Ok(_) => ok += 1,
            Err(e) => assert_eq!(e.problem().0.code, "dependency_unavailable", "{e:?}"),
        }
    }
    assert!(
        answers.iter().rev().take(3).all(Result::is_err),
        "creates while DynamoDB is down must fail"
    );

    // DynamoDB is back.
    dynamo.restart();
    dynamo.wait_ready().await;
    let now = chrono::Utc::now();
    let sessions = ledger
        .list_sessions(&owner, 100, None)
        .await
        .unwrap()
        .sessions;
    let account = ledger
        .read_account(&owner)
        .await
        .unwrap()
        .expect("the account survived");
    assert!(account.is_consistent(), "{account:?}");
    let open: i64 = sessions
        .iter()
        .filter(|(s, _)| s.status.is_open())
        .map(|(s, _)| i64::from(s.reserved_minutes))
        .sum();
    assert_eq!(
        account.reserved_minutes, open,
        "reserved = the open sessions' reservations: nothing lost"
    );
    let active = sessions
        .iter()
        .filter(|(s, _)| s.status == SessionStatus::Active)
        .count();
    assert!(
        active >= ok,
        "every create that answered 201 is recorded ({active} active, {ok} answered)"
    );

    // Anything left pending by the outage is released by the sweeper; nothing stays stuck.
    let report = sweep(
        &ledger,
        &tavus,
        &keys,
        SweepOptions {
            grace: chrono::Duration::zero(),
            ..Default::default()
        },
        now + chrono::Duration::minutes(3),
        Instant::now() + Duration::from_secs(30),
    )
    .await;
    let sessions = ledger
        .list_sessions(&owner, 100, None)
        .await
        .unwrap()
        .sessions;
    assert!(
        sessions
            .iter()
            .all(|(s, _)| s.status != SessionStatus::Pending),
        "no session stays pending"
    );
    let usage = ledger.usage(&owner, now).await.unwrap();
    let active_minutes: i64 = sessions
        .iter()
        .filter(|(s, _)| s.status == SessionStatus::Active)
        .map(|(s, _)| i64::from(s.reserved_minutes))
        .sum();
    assert_eq!(usage.reserved_minutes, active_minutes);
    println!(
        "fault: DynamoDB stopped under 8 creates in flight: {ok} of 14 answered 201, the rest 503 dependency_unavailable; \
         after restart the account is consistent and the sweeper released {} pending session(s)",
        report.released
    );
}
