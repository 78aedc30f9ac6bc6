//! The fault campaign (`make chaos`): many users drive the real code, in-process, against a
//! DynamoDB Local ([`dynamodb_local`], killed and restarted mid-run), moto and a Tavus simulator
//! of the campaign's own, while faults are injected at real seams: an SDK interceptor on
//! DynamoDB ([`dynamo`]), the simulator's fault rules (failing before and after acting,
//! hanging, 429, 402, at capacity), a callback receiver that drops, repeats, delays, reorders
//! and fails callbacks ([`callbacks`]), and handlers killed at an await point ([`users`]); then
//! a crowd of due sessions in one shard is swept under faults. Then the faults stop and the
//! phase quiets down ([`quiet`]), and [`books`] hands what it left to [`reconcile`]. A second
//! phase runs through the local gateway and `cargo lambda watch` ([`gateway`]). Every choice
//! comes from one seeded generator ([`faults`]), so a seed replays the same plan.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use awaknow_core::domain::{PlanCatalog, UserId};
use awaknow_core::recording_bucket::{RecordingTarget, Recordings};
use awaknow_core::service::audit::{AccountSample, Audit, AuditOptions, Check};
use awaknow_core::service::sweep;
use awaknow_core::store::DynamoLedger;
use awaknow_core::tavus::{Companion, RetryPolicy, Tavus, TavusClient, TavusConfig};
use futures::StreamExt;
use rand::Rng;
use serde_json::json;
use tokio::task::JoinSet;

pub mod books;
pub mod callbacks;
pub mod dynamo;
pub mod dynamodb_local;
pub mod faults;
pub mod gateway;
pub mod quiet;
pub mod reconcile;
pub mod users;

use books::{Evidence, bucket_objects, check_books, s3_client};
use faults::Faults;
use quiet::{Quiet, end_every_call, settle_down, sweep_until_clean};
use reconcile::Table;
use users::{Journal, World};

/// What a campaign is asked to do.
#[derive(Debug, Clone)]
pub struct Config {
    pub seed: u64,
    pub sessions: usize,
    /// Sessions in flight at once.
    pub concurrency: usize,
    pub moto: String,
}

/// What a campaign did and found.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub faults: BTreeMap<&'static str, u64>,
    /// Figures of the run that are no counts (Tavus's clock skew).
    pub values: BTreeMap<&'static str, i64>,
    pub created: usize,
    pub erased: usize,
    pub sweeps: usize,
    pub seconds: f64,
    pub table: Table,
    /// The phase through the local gateway (`None`: no stack running here).
    pub gateway: Option<gateway::PhaseOutcome>,
}

/// The parts every phase uses.
struct Rig {
    /// Our clock's shift: the campaign starts [`BEFORE_MONTH_END`] before a month ends.
    offset: chrono::Duration,
    ledger: DynamoLedger,
    tavus: Arc<Tavus>,
    sim: tavus_sim::RunningSim,
    api_key: String,
    faults: Arc<Faults>,
    receiver: Arc<callbacks::Receiver>,
    public_url: String,
    recordings: Recordings,
    recordings_down: Recordings,
    /// The campaign's own DynamoDB Local, killed and restarted mid-run.
    dynamodb: Arc<dynamodb_local::DynamoDbLocal>,
}

/// How long before a month's end the campaign's clock starts: the monthly reset runs while
/// sessions are open, and they settle into the old month's history.
const BEFORE_MONTH_END: chrono::Duration = chrono::Duration::seconds(20);

/// Runs the campaign; `logs` holds what the code under test logged.
pub async fn run(config: &Config, logs: test_support::CapturedLogs) -> Result<Outcome, String> {
    let started = Instant::now();
    let rig = rig(config).await?;
    let world = World {
        offset: rig.offset,
        ledger: rig.ledger.clone(),
        tavus: Arc::clone(&rig.tavus),
        sim: rig.sim.base_url(),
        public_url: rig.public_url.clone(),
        faults: Arc::clone(&rig.faults),
        journal: Mutex::new(Journal::default()),
        recordings: rig.recordings.clone(),
        recordings_down: rig.recordings_down.clone(),
    };
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let tavus_faults = tokio::spawn(tavus_faults(
        rig.sim.base_url(),
        Arc::clone(&rig.faults),
        Arc::clone(&stop),
    ));
    let reset = tokio::spawn(monthly_reset(
        rig.ledger.clone(),
        rig.offset,
        Arc::clone(&rig.faults),
    ));
    let crash = tokio::spawn(crash_dynamodb(
        Arc::clone(&rig.dynamodb),
        Arc::clone(&rig.faults),
    ));
    drive_users(&world, config).await;
    let _ = reset.await;
    crash
        .await
        .map_err(|e| format!("the DynamoDB crash task: {e}"))??;
    crowded_sweep(&world, &rig, config).await?;

    // Quiet: no more faults, every call ends, every callback is handled.
    rig.faults.stop();
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let _ = tavus_faults.await;
    clear_tavus_faults(&rig).await?;
    end_every_call(&rig.sim.base_url(), &rig.api_key).await?;
    settle_down(Some(&rig.receiver)).await;
    let quiet = Quiet {
        ledger: &rig.ledger,
        tavus: &rig.tavus,
        recordings: Some(&rig.recordings),
        offset: rig.offset,
        receiver: Some(&rig.receiver),
    };
    let sweeps = sweep_until_clean(&quiet).await?;

    let journal = std::mem::take(&mut *world.journal.lock().unwrap_or_else(|p| p.into_inner()));
    let objects = bucket_objects(&config.moto, &rig.recordings.target().bucket).await?;
    let logs = logs.text();
    let evidence = Evidence {
        journal: &journal,
        logs: &logs,
        objects,
        callback_answers: rig
            .receiver
            .answers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone(),
        callback_internal: rig
            .receiver
            .internal
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone(),
        users: None,
    };
    let mut table = check_books(&rig.ledger, &rig.tavus, &rig.sim.base_url(), evidence).await?;
    table.rows.extend(audited(&rig).await);
    let gateway = match gateway::Stack::from_env()? {
        Some(stack) => {
            let sessions = (config.sessions / 10).clamp(30, 200);
            Some(gateway::run(&stack, &rig.faults, config.seed, sessions, 8).await?)
        }
        None => {
            eprintln!(
                "chaos: no local stack (GATEWAY_URL unset): the phase through the gateway is skipped"
            );
            None
        }
    };
    Ok(Outcome {
        faults: rig.faults.counts(),
        values: rig.faults.values(),
        created: journal.created.len(),
        erased: journal.erased.len(),
        sweeps,
        seconds: started.elapsed().as_secs_f64(),
        table,
        gateway,
    })
}

/// How far past the campaign's end the audit judges: every wait its checks know (an hour for a
/// callback, two for an ended conversation) is over, so nothing left behind hides as too young.
const AUDIT_AHEAD: chrono::Duration = chrono::Duration::hours(3);

/// The operator's audit over what the campaign left, every account read: one row per check,
/// each finding a difference (the books the faults could not break, seen the audit's way).
async fn audited(rig: &Rig) -> Vec<reconcile::Row> {
    let audit = Audit {
        ledger: &rig.ledger,
        tavus: &rig.tavus,
        recordings: Some(&rig.recordings),
        options: AuditOptions {
            accounts: AccountSample::All,
            ..AuditOptions::default()
        },
    };
    let now = chrono::Utc::now() + rig.offset + AUDIT_AHEAD;
    let report = Box::pin(audit.run(now, Instant::now() + Duration::from_secs(300))).await;
    report
        .checks
        .iter()
        .map(|result| {
            let mut row = reconcile::Row::new(audit_invariant(result.check));
            row.checked = result.checked;
            row.differences = result.findings.iter().map(|f| f.subject()).collect();
            if !result.complete {
                row.differences.push("the check could not finish".into());
            }
            row
        })
        .collect()
}

fn audit_invariant(check: Check) -> &'static str {
    match check {
        Check::UnheldConversations => "audit: no conversation at Tavus that nobody holds",
        Check::EndedNotDeleted => "audit: no ended conversation left at Tavus",
        Check::EndedAtTavus => "audit: no session active that Tavus ended",
        Check::SweeperBehind => "audit: nothing overdue in the open-sessions index",
        Check::UnreferencedObjects => "audit: no object nobody references",
        Check::MissingObjects => "audit: no key whose object is missing",
        Check::ErasuresStuck => "audit: no erasure left unfinished",
        Check::AccountFigures => "audit: every account's figures add up from its sessions",
    }
}

/// The shift that puts our clock [`BEFORE_MONTH_END`] before the next month begins.
fn offset_to_month_end(now: chrono::DateTime<chrono::Utc>) -> chrono::Duration {
    let next = awaknow_core::domain::Period::containing(now)
        .next()
        .starts_at();
    next - now - BEFORE_MONTH_END
}

async fn rig(config: &Config) -> Result<Rig, String> {
    let faults = Arc::new(Faults::new(config.seed));
    let offset = offset_to_month_end(chrono::Utc::now());
    // Tavus's clock is a few seconds off ours, either way.
    let skew = faults.with_rng(|rng| rng.random_range(-3000i64..=3000));
    // Tavus's list shows a new conversation only after a while.
    let list_lag = faults.with_rng(|rng| rng.random_range(0u64..3000));
    let blackhole = blackhole().await?;
    let dynamodb = Arc::new(dynamodb_local::DynamoDbLocal::start().await?);
    let endpoint = dynamodb.endpoint();
    let sdk = test_support::local_sdk_under_load(&endpoint);
    let plain = aws_sdk_dynamodb::Client::new(&sdk);
    let table = format!("chaos-{}", ulid::Ulid::new().to_string().to_lowercase());
    local_stack::TableDefinition::from_template_file(&test_support::template_path())
        .map_err(|e| e.to_string())?
        .create(&plain, &table)
        .await
        .map_err(|e| e.to_string())?;
    // The code under test gets the functions' own timeouts, with the faults in its client.
    let chaotic = aws_sdk_dynamodb::config::Builder::from(&test_support::local_sdk(&endpoint))
        .interceptor(dynamo::DynamoChaos {
            faults: Arc::clone(&faults),
            blackhole,
        })
        .build();
    let ledger = DynamoLedger::new(
        aws_sdk_dynamodb::Client::from_conf(chaotic),
        table,
        PlanCatalog::default(),
    )
    .with_max_open_sessions(3);

    let api_key = format!("chaos-key-{}", ulid::Ulid::new());
    let secrets = aws_sdk_secretsmanager::Client::new(&test_support::local_sdk(&config.moto));
    let secret_id = format!("awaknow/chaos/{}", ulid::Ulid::new());
    secrets
        .create_secret()
        .name(&secret_id)
        .secret_string(&api_key)
        .send()
        .await
        .map_err(|e| format!("create the secret on moto: {e}"))?;
    let (recordings, recordings_down) = recordings_bucket(&config.moto).await?;
    let sim = tavus_sim::start(
        tavus_sim::SimConfig {
            s3_endpoint: Some(config.moto.clone()),
            api_keys: vec![api_key.clone()],
            max_concurrent: 100_000,
            clock_offset_ms: offset.num_milliseconds() + skew,
            list_lag_ms: list_lag,
            ..tavus_sim::SimConfig::default()
        },
        0,
    )
    .await
    .map_err(|e| format!("start the simulator: {e}"))?;
    let companion = Companion {
        persona_id: Some("p-chaos".into()),
        replica_id: None,
    };
    let tavus = Arc::new(TavusClient::new(
        TavusConfig {
            base_url: sim.base_url(),
            reflect_alone: companion.clone(),
            resolve_together: companion,
            retry: RetryPolicy {
                max_attempts: 3,
                base_delay: Duration::from_millis(20),
                max_delay: Duration::from_millis(200),
            },
            ..TavusConfig::default()
        },
        test_support::keys(secrets, secret_id),
    ));
    let receiver = Arc::new(callbacks::Receiver {
        ledger: ledger.clone(),
        tavus: Arc::clone(&tavus),
        recordings: Some(recordings.clone()),
        faults: Arc::clone(&faults),
        held: Mutex::new(JoinSet::new()),
        answers: Mutex::new(Vec::new()),
        internal: Mutex::new(Vec::new()),
    });
    let public_url = receiver.serve().await.map_err(|e| e.to_string())?;
    faults.note_value("clock: Tavus's skew against ours (ms)", skew);
    faults.note_value(
        "tavus: its list lags new conversations by (ms)",
        list_lag as i64,
    );
    Ok(Rig {
        offset,
        ledger,
        tavus,
        sim,
        api_key,
        faults,
        receiver,
        public_url,
        recordings,
        recordings_down,
        dynamodb,
    })
}

/// A new recordings bucket on moto, and the same bucket through an endpoint nobody answers (an
/// S3 outage during an erasure).
async fn recordings_bucket(moto: &str) -> Result<(Recordings, Recordings), String> {
    let client = s3_client(moto, 3);
    let bucket = format!("chaos-{}", ulid::Ulid::new().to_string().to_lowercase());
    client
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .map_err(|e| format!("create the recordings bucket on moto: {e}"))?;
    let target = RecordingTarget {
        bucket,
        region: "us-east-1".into(),
        role_arn: "arn:aws:iam::123456789012:role/chaos-recordings".into(),
    };
    Ok((
        Recordings::with_client(client, target.clone()),
        Recordings::with_client(s3_client("http://127.0.0.1:9", 1), target),
    ))
}

/// A loopback address that accepts connections and never answers: a DynamoDB slower than the
/// SDK's attempt timeout.
async fn blackhole() -> Result<String, String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    Ok(format!("http://{address}"))
}

/// Users: a third as many as sessions, so they meet their plans' minutes and the cap on open
/// sessions; a third of the sessions are together with a partner.
async fn drive_users(world: &World, config: &Config) {
    let users: Vec<UserId> = (0..(config.sessions / 3).max(4))
        .filter_map(|n| UserId::parse(&format!("chaos-{}-{n}", config.seed)).ok())
        .collect();
    let stories = world.faults.stories(&users, config.sessions);
    let total = stories.len();
    let done = std::sync::atomic::AtomicUsize::new(0);
    futures::stream::iter(stories)
        .map(|(owner, partner)| {
            let done = &done;
            async move {
                users::story(world, owner, partner).await;
                let n = done.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                if n.is_multiple_of(500) || n == total {
                    eprintln!("chaos: {n}/{total} sessions played");
                }
            }
        })
        .buffer_unordered(config.concurrency.max(1))
        .collect::<Vec<()>>()
        .await;
}

/// DynamoDB's process dies once, a little into the run, and comes back after a few seconds
/// with what it had committed: every call meanwhile meets a refused connection.
async fn crash_dynamodb(
    dynamodb: Arc<dynamodb_local::DynamoDbLocal>,
    faults: Arc<Faults>,
) -> Result<(), String> {
    let (after, down) = faults.with_rng(|rng| {
        (
            Duration::from_millis(rng.random_range(4000..15000)),
            Duration::from_millis(rng.random_range(500..4000)),
        )
    });
    tokio::time::sleep(after).await;
    if !faults.on() {
        return Ok(());
    }
    eprintln!(
        "chaos: DynamoDB Local killed, back in {} ms",
        down.as_millis()
    );
    dynamodb.crash_and_restart(down).await?;
    faults.count("dynamodb process killed and restarted");
    faults.note_value("dynamodb: down for (ms)", down.as_millis() as i64);
    Ok(())
}

/// How many sessions of one shard fall due at once in [`crowded_sweep`]: more than a query's
/// batch of 200, so the sweep pages through one shard, under faults.
const CROWD: usize = 270;

/// Many sessions of users of one shard, left unattended, then a sweep a day later (the sweeper
/// fell behind) while the faults go on: it must page through the shard, settle what it can,
/// and return before its deadline, however many calls fail.
async fn crowded_sweep(world: &World, rig: &Rig, config: &Config) -> Result<(), String> {
    let max_open = 3;
    let candidates =
        (0..).filter_map(|n| UserId::parse(&format!("chaos-{}-crowd-{n}", config.seed)).ok());
    let mut shard = None;
    let mut crowd = Vec::new();
    for user in candidates {
        let of = awaknow_core::store::keys::shard_of(&user);
        if *shard.get_or_insert(of) == of {
            crowd.push(user);
        }
        if crowd.len() * max_open >= CROWD {
            break;
        }
    }
    let shard = shard.unwrap_or(0);
    let owners = crowd
        .iter()
        .flat_map(|u| std::iter::repeat_n(u.clone(), max_open));
    futures::stream::iter(owners)
        .map(|owner| users::unattended(world, owner))
        .buffer_unordered(config.concurrency.max(1))
        .collect::<Vec<()>>()
        .await;
    let later = chrono::Utc::now() + rig.offset + chrono::Duration::days(1);
    let mut due = 0;
    let mut start = None;
    loop {
        let batch = rig
            .ledger
            .open_sessions_due(shard, later, 200, start)
            .await
            .map_err(|e| format!("count the crowded shard: {e}"))?;
        due += batch.sessions.len();
        match batch.next {
            Some(next) => start = Some(next),
            None => break,
        }
    }
    let began = Instant::now();
    let budget = Duration::from_secs(240);
    let report = sweep::sweep(
        &rig.ledger,
        &rig.tavus,
        rig.tavus.secrets(),
        sweep::SweepOptions::default(),
        later,
        began + budget,
    )
    .await;
    let took = began.elapsed();
    eprintln!(
        "chaos: a crowded sweep: {due} sessions due in shard {shard}, in {:.1} s: {report:?}",
        took.as_secs_f64()
    );
    rig.faults
        .note_value("sweep: sessions due in one shard at once", due as i64);
    rig.faults.note_value(
        "sweep: that sweep, under faults, took (ms)",
        took.as_millis() as i64,
    );
    if due <= 200 {
        return Err(format!("the crowded shard had only {due} sessions due"));
    }
    // Incomplete within its time is a shard query that failed under the injected faults: that
    // shard waits for the next sweep (the quiet phase sweeps until nothing is left). Only a
    // sweep that used its whole time may be spinning.
    if !report.complete && took >= budget {
        return Err("the crowded sweep ran out of time (does it spin?)".into());
    }
    rig.faults.note_value(
        "sweep: that sweep left a shard to the next (a query failed under faults)",
        i64::from(!report.complete),
    );
    Ok(())
}

/// The monthly reset, as the schedule runs it: once the month has turned (by the campaign's
/// clock), and again a little later (a rerun changes nothing).
async fn monthly_reset(ledger: DynamoLedger, offset: chrono::Duration, faults: Arc<Faults>) {
    let turn = BEFORE_MONTH_END + chrono::Duration::seconds(2);
    for wait in [turn, chrono::Duration::seconds(15)] {
        tokio::time::sleep(wait.to_std().unwrap_or_default()).await;
        let now = chrono::Utc::now() + offset;
        let deadline = Instant::now() + Duration::from_secs(120);
        let options = awaknow_core::service::reset::ResetOptions::default();
        let report = awaknow_core::service::reset::reset(&ledger, now, deadline, &options).await;
        eprintln!(
            "chaos: monthly reset into {}: {} rolled, {} already current, {} failed",
            report.period, report.rolled, report.already_current, report.failed
        );
        faults.count("monthly reset run (a month boundary crossed)");
    }
}

/// Tavus misbehaves now and then: fails before acting (5xx, 429, 402 out of credits), is at
/// capacity, creates and then fails, creates and then hangs, fails one GET or one list.
async fn tavus_faults(base: String, faults: Arc<Faults>, stop: Arc<std::sync::atomic::AtomicBool>) {
    let http = reqwest::Client::new();
    while !stop.load(std::sync::atomic::Ordering::SeqCst) {
        let (wait, rule, kind) = faults.with_rng(|rng| {
            let wait = Duration::from_millis(rng.random_range(300..1500));
            let (rule, kind) = match rng.random_range(0..8) {
                6 => (json!({"fail_next": 1, "fail_status": 503, "when_route": "GET /v2/conversations/{id}"}), "tavus GET of a conversation fails once"),
                7 => (json!({"fail_next": 1, "fail_status": 500, "when_route": "GET /v2/conversations"}), "tavus list fails once"),
                0 => (
                    json!({"fail_next": rng.random_range(1..3), "fail_status": 503}),
                    "tavus 5xx before acting",
                ),
                1 => (json!({"fail_next": 1, "fail_status": 429}), "tavus 429"),
                2 => (
                    json!({"fail_next": 1, "fail_status": 402}),
                    "tavus 402 out of credits",
                ),
                3 => (json!({"at_capacity_next": 1}), "tavus 400 at capacity"),
                4 => (
                    json!({"create_then_fail_next": 1, "fail_status": 502}),
                    "tavus create acted, then 5xx",
                ),
                _ => (
                    json!({"create_then_hang_next": 1, "hang_ms": rng.random_range(2000..6000)}),
                    "tavus create acted, then hung",
                ),
            };
            (wait, rule, kind)
        });
        tokio::time::sleep(wait).await;
        if !faults.on() {
            break;
        }
        if http
            .post(format!("{base}/_sim/faults"))
            .json(&rule)
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            faults.count(kind);
        }
    }
}

async fn clear_tavus_faults(rig: &Rig) -> Result<(), String> {
    let answer = reqwest::Client::new()
        .delete(format!("{}/_sim/faults", rig.sim.base_url()))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if answer.status().is_success() {
        Ok(())
    } else {
        Err(format!("clear the simulator's faults: {}", answer.status()))
    }
}
