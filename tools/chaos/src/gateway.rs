//! The phase through the shape that deploys: users call the API over HTTP through the local
//! gateway, which invokes the function binaries under `cargo lambda watch` (the `make dev`
//! stack); that stack's Tavus simulator posts its callbacks through the gateway to
//! tavus-webhook. A little into the phase every create-session process is killed with SIGKILL,
//! as a crash would end them: their requests in flight get the gateway's 502 or 503, and the
//! function must answer again. Then the
//! calls end, the sweeper runs until it finds nothing, and the same reconciliation checks this
//! phase's users on that stack's table, simulator and bucket.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use awaknow_core::api::dev_token::sign_dev_token;
use awaknow_core::domain::{Period, PlanCatalog, SessionId, UserId};
use awaknow_core::recording_bucket::{RecordingTarget, Recordings};
use awaknow_core::secrets::Secret;
use awaknow_core::store::DynamoLedger;
use awaknow_core::tavus::{Companion, Tavus, TavusClient, TavusConfig};
use futures::StreamExt;
use rand::Rng;
use reqwest::Method;
use serde_json::{Value, json};

use crate::faults::Faults;
use crate::reconcile::Table;
use crate::users::{Erased, Journal};

/// The running `make dev` stack, from its `endpoints.env`.
pub struct Stack {
    gateway: String,
    tavus: String,
    tavus_key: String,
    jwt: Secret,
    dynamodb: String,
    table: String,
    moto: String,
    secret_id: String,
    /// Where its services log, and keep their pid files.
    log_dir: String,
    recordings_bucket: Option<String>,
}

impl Stack {
    /// `None` when no stack is running here (`GATEWAY_URL` unset): the phase is skipped.
    pub fn from_env() -> Result<Option<Stack>, String> {
        let Ok(gateway) = std::env::var("GATEWAY_URL") else {
            return Ok(None);
        };
        let var = |name: &str| {
            std::env::var(name).map_err(|_| format!("{name} is not set beside GATEWAY_URL"))
        };
        Ok(Some(Stack {
            gateway,
            tavus: var("TAVUS_URL")?,
            tavus_key: var("TAVUS_SIM_API_KEY")?,
            jwt: Secret::new(var("DEV_JWT_SECRET")?),
            dynamodb: var("DYNAMODB_ENDPOINT")?,
            table: var("TABLE_NAME")?,
            moto: var("MOTO_ENDPOINT")?,
            secret_id: var("TAVUS_SECRET_ID")?,
            log_dir: var("LOG_DIR")?,
            recordings_bucket: std::env::var("RECORDINGS_BUCKET").ok(),
        }))
    }
}

/// What the phase did and found.
#[derive(Debug, Clone)]
pub struct PhaseOutcome {
    pub sessions: usize,
    pub created: usize,
    /// The function whose process was killed, and how long until the stack answered again.
    pub killed: Option<(String, Duration)>,
    pub table: Table,
}

/// What every story of the phase shares.
struct Phase<'a> {
    stack: &'a Stack,
    http: reqwest::Client,
    faults: &'a Faults,
    journal: Mutex<Journal>,
}

/// An answer of the API: its status (0: no answer) and body.
type Answer = (u16, Value);

impl Phase<'_> {
    fn token(&self, user: &str) -> String {
        sign_dev_token(
            &self.stack.jwt,
            user,
            "awaknow-local",
            "awaknow",
            chrono::Duration::minutes(30),
        )
        .unwrap_or_default()
    }

    /// One call as the app makes it; every status is kept for the reconciliation.
    async fn call(
        &self,
        method: Method,
        path: &str,
        user: &str,
        body: Option<&Value>,
        idempotency_key: Option<&str>,
    ) -> Answer {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.stack.gateway))
            .bearer_auth(self.token(user))
            .timeout(Duration::from_secs(40));
        if let Some(body) = body {
            request = request.json(body);
        }
        if let Some(key) = idempotency_key {
            request = request.header("Idempotency-Key", key);
        }
        let Ok(response) = request.send().await else {
            return (0, Value::Null);
        };
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        self.note(|j| {
            j.answers.push(status);
            if status == 500 {
                j.internal.push(format!("{path}: {body}"));
            }
        });
        (status, body)
    }

    fn note<T>(&self, f: impl FnOnce(&mut Journal) -> T) -> T {
        f(&mut self.journal.lock().unwrap_or_else(|p| p.into_inner()))
    }

    fn pick<T>(&self, f: impl FnOnce(&mut rand::rngs::StdRng) -> T) -> T {
        self.faults.with_rng(f)
    }

    async fn sim(&self, path: &str, body: &Value) {
        let _ = self
            .http
            .post(format!("{}{path}", self.stack.tavus))
            .json(body)
            .send()
            .await;
    }
}

/// Runs the phase: `sessions` stories by a third as many users, `concurrency` at once.
pub async fn run(
    stack: &Stack,
    faults: &Faults,
    seed: u64,
    sessions: usize,
    concurrency: usize,
) -> Result<PhaseOutcome, String> {
    let phase = Phase {
        stack,
        http: reqwest::Client::new(),
        faults,
        journal: Mutex::new(Journal::default()),
    };
    // The dev stack's table outlives a run: every run's users are new.
    let run_id = ulid::Ulid::new().to_string().to_lowercase();
    let prefix = format!("chaos-gw-{seed}-{}-", &run_id[20..]);
    let users: Vec<String> = (0..(sessions / 3).max(2))
        .map(|n| format!("{prefix}{n}"))
        .collect();
    let stories = faults.stories(&users, sessions);
    let killer = kill_a_function(&phase, &users[0]);
    let played = futures::stream::iter(stories)
        .map(|(owner, partner)| story(&phase, owner, partner))
        .buffer_unordered(concurrency.max(1))
        .collect::<Vec<()>>();
    let (killed, ()) = futures::join!(killer, async {
        played.await;
    });
    let killed = killed?;
    eprintln!("chaos: through the gateway: {sessions} sessions played");

    let tavus = stack_tavus(stack);
    crate::quiet::end_every_call(&stack.tavus, &stack.tavus_key).await?;
    crate::quiet::settle_down(None).await;
    let ledger = DynamoLedger::new(
        aws_sdk_dynamodb::Client::new(&test_support::local_sdk(&stack.dynamodb)),
        stack.table.clone(),
        PlanCatalog::default(),
    );
    let recordings = stack.recordings_bucket.as_ref().map(|bucket| {
        Recordings::with_client(
            crate::books::s3_client(&stack.moto, 3),
            RecordingTarget {
                bucket: bucket.clone(),
                region: "us-east-1".into(),
                role_arn: String::new(),
            },
        )
    });
    let quiet = crate::quiet::Quiet {
        ledger: &ledger,
        tavus: &tavus,
        recordings: recordings.as_ref(),
        offset: chrono::Duration::zero(),
        receiver: None,
    };
    crate::quiet::sweep_until_clean(&quiet).await?;

    let journal = std::mem::take(&mut *phase.journal.lock().unwrap_or_else(|p| p.into_inner()));
    let objects = match &stack.recordings_bucket {
        Some(bucket) => crate::books::bucket_objects(&stack.moto, bucket).await?,
        None => Vec::new(),
    };
    let logs = ["functions.log", "gateway.log"]
        .iter()
        .map(|f| std::fs::read_to_string(format!("{}/{f}", stack.log_dir)).unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n");
    let evidence = crate::books::Evidence {
        journal: &journal,
        logs: &logs,
        objects,
        callback_answers: Vec::new(),
        callback_internal: Vec::new(),
        users: Some(&prefix),
    };
    let mut table = crate::books::check_books(&ledger, &tavus, &stack.tavus, evidence).await?;
    let mut row = crate::reconcile::Row::new("gateway: answering again after a function died");
    row.check(killed.is_some(), || {
        "no function process was killed, or the stack never answered again".into()
    });
    table.rows.push(row);
    Ok(PhaseOutcome {
        sessions,
        created: journal.created.len(),
        killed,
        table,
    })
}

/// The stack's Tavus client, with the stack's secret, as the sweep-sessions function has it.
fn stack_tavus(stack: &Stack) -> Tavus {
    let secrets = aws_sdk_secretsmanager::Client::new(&test_support::local_sdk(&stack.moto));
    let companion = Companion {
        persona_id: Some("p-sim-reflect".into()),
        replica_id: None,
    };
    TavusClient::new(
        TavusConfig {
            base_url: stack.tavus.clone(),
            reflect_alone: companion.clone(),
            resolve_together: companion,
            ..TavusConfig::default()
        },
        test_support::keys(secrets, stack.secret_id.clone()),
    )
}

/// One session's story, over HTTP.
async fn story(phase: &Phase<'_>, owner: String, partner: Option<String>) {
    let prompt = format!("chaos-prompt-{} about my week", ulid::Ulid::new());
    phase.note(|j| j.needles.push(prompt.clone()));
    let minutes = phase.pick(|rng| rng.random_range(1..=5u32));
    let record = phase.stack.recordings_bucket.is_some() && phase.pick(|rng| rng.random_bool(0.3));
    let mut body = json!({"session_type": "reflect_alone", "prompt": prompt,
                          "max_minutes": minutes, "record": record});
    if let Some(p) = &partner {
        body["session_type"] = json!("resolve_together");
        body["participants"] = json!([p]);
    }
    let Some(session) = create(phase, &owner, &body).await else {
        return;
    };
    let Some(id) = session["session_id"].as_str().map(str::to_owned) else {
        return;
    };
    if session["status"] != "active" {
        return;
    }
    let conversation = session["conversation_id"].as_str().unwrap_or_default();
    if let Some(url) = session["join_url"].as_str()
        && phase.pick(|rng| rng.random_bool(0.85))
    {
        let path = format!("/_sim/conversations/{conversation}/join");
        phase.sim(&path, &json!({ "url": url })).await;
    }
    if phase.pick(|rng| rng.random_bool(0.4)) {
        for author in std::iter::once(&owner).chain(partner.as_ref()) {
            let text = format!("chaos-note-{} talk on Friday", ulid::Ulid::new());
            phase.note(|j| j.needles.push(text.clone()));
            let path = format!("/sessions/{id}/notes");
            let body = json!({ "text": text });
            phase
                .call(Method::PUT, &path, author, Some(&body), None)
                .await;
        }
    }
    match phase.pick(|rng| rng.random_range(0..3)) {
        0 => {
            for _ in 0..3 {
                let path = format!("/sessions/{id}/end");
                let (status, _) = phase.call(Method::POST, &path, &owner, None, None).await;
                if (200..500).contains(&status) {
                    break;
                }
            }
        }
        1 => {
            let seconds = phase.pick(|rng| rng.random_range(5.0..f64::from(minutes * 60)));
            let path = format!("/_sim/conversations/{conversation}/end");
            phase
                .sim(&path, &json!({ "duration_seconds": seconds }))
                .await;
        }
        _ => return,
    }
    if phase.pick(|rng| rng.random_bool(0.3)) {
        erase(phase, &owner, &id).await;
    }
}

/// `POST /sessions`, retried with the same Idempotency-Key after a 5xx or no answer (half the
/// creates carry one); a key always gives the same session.
async fn create(phase: &Phase<'_>, owner: &str, body: &Value) -> Option<Value> {
    let key = phase
        .pick(|rng| rng.random_bool(0.5))
        .then(|| ulid::Ulid::new().to_string());
    let attempts = if key.is_some() { 4 } else { 1 };
    let mut first: Option<Value> = None;
    for _ in 0..attempts {
        let (status, session) = phase
            .call(Method::POST, "/sessions", owner, Some(body), key.as_deref())
            .await;
        if status == 201 {
            let id = session["session_id"].clone();
            match &first {
                Some(seen) if seen["session_id"] != id => phase.note(|j| {
                    j.idempotency_mismatches
                        .push(format!("{} then {id}", seen["session_id"]))
                }),
                Some(_) => {}
                None => {
                    if let (Ok(owner), Some(Ok(id))) = (
                        UserId::parse(owner),
                        id.as_str().map(str::parse::<SessionId>),
                    ) {
                        phase.note(|j| j.created.push((owner, id)));
                    }
                    first = Some(session);
                }
            }
            break;
        }
        if (400..500).contains(&status) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    first
}

/// Once the session closed, its owner erases it (retrying a 5xx); a 204 is followed by 404.
async fn erase(phase: &Phase<'_>, owner: &str, id: &str) {
    let path = format!("/sessions/{id}");
    let until = Instant::now() + Duration::from_secs(20);
    let session = loop {
        let (status, session) = phase.call(Method::GET, &path, owner, None, None).await;
        if status == 200 && !matches!(session["status"].as_str(), Some("active" | "pending")) {
            break session;
        }
        if Instant::now() > until {
            return;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    // An attempt answered 5xx, or not at all (its function died), may have begun the erasure:
    // then a later 404 means that attempt, or the sweeper, finished it.
    let mut begun = false;
    for _ in 0..4 {
        let (status, _) = phase.call(Method::DELETE, &path, owner, None, None).await;
        if status == 204 {
            let (after, _) = phase.call(Method::GET, &path, owner, None, None).await;
            if after != 404 {
                phase.note(|j| j.erased_but_found.push(format!("{id}: {after}")));
            }
        }
        if status == 204 || (status == 404 && begun) {
            if let Some(erased) = erased(owner, id, &session) {
                phase.note(|j| j.erased.push(erased));
            }
            return;
        }
        if (400..500).contains(&status) {
            break;
        }
        begun = true;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    if begun && let Some(cut) = erased(owner, id, &session) {
        phase.note(|j| j.erasures_cut_short.push(cut));
    }
}

/// The session as the journal keeps an erased one.
fn erased(owner: &str, id: &str, session: &Value) -> Option<Erased> {
    let created_at = session["created_at"]
        .as_str()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())?;
    Some(Erased {
        owner: UserId::parse(owner).ok()?,
        session_id: id.parse::<SessionId>().ok()?,
        conversation_id: session["conversation_id"].as_str().map(str::to_owned),
        charged: session["charged_minutes"]
            .as_u64()
            .and_then(|m| u32::try_from(m).ok())
            .unwrap_or(0),
        period: Period::containing(created_at.into()),
    })
}

/// A little into the phase, the processes of one function under watch are killed (SIGKILL);
/// then that function must answer again. `Some((function, time to answer again))`.
async fn kill_a_function(
    phase: &Phase<'_>,
    user: &str,
) -> Result<Option<(String, Duration)>, String> {
    let after = phase.pick(|rng| Duration::from_millis(rng.random_range(1500..5000)));
    tokio::time::sleep(after).await;
    let supervisor = std::fs::read_to_string(format!("{}/functions.pid", phase.stack.log_dir))
        .map_err(|e| format!("the functions' pid file: {e}"))?;
    let supervisor: u32 = supervisor
        .trim()
        .parse()
        .map_err(|_| "the functions' pid file holds no pid".to_string())?;
    let running = function_processes(supervisor);
    // create-session: a crash there strands a reservation, or a conversation, for the sweeper.
    // Every one of its processes: with none left, only a new one can answer (one killed,
    // watch's others would). Not tavus-webhook: an outage longer than Tavus's retries loses
    // callbacks, and a lost recording announcement is found only by a listing of the bucket
    // (docs/chaos.md).
    let name = "create-session";
    let pids: Vec<String> = running
        .iter()
        .filter(|(_, n)| n == name)
        .map(|(pid, _)| pid.to_string())
        .collect();
    if pids.is_empty() {
        return Ok(None);
    }
    let killed = std::process::Command::new("kill")
        .arg("-KILL")
        .args(&pids)
        .status()
        .map_err(|e| format!("kill {pids:?}: {e}"))?;
    if !killed.success() {
        return Ok(None);
    }
    phase
        .faults
        .count("function process killed under cargo lambda watch");
    eprintln!(
        "chaos: through the gateway: killed every {name} process ({})",
        pids.join(", ")
    );
    let began = Instant::now();
    while began.elapsed() < Duration::from_secs(90) {
        if function_answers(phase, name, user).await {
            let took = began.elapsed();
            phase.faults.note_value(
                "functions: answering again after a kill (ms)",
                took.as_millis() as i64,
            );
            return Ok(Some((name.to_owned(), took)));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    Ok(None)
}

/// Whether `function` itself answers a request of its own (a 2xx to 4xx: not the gateway's
/// 502 or 503 for a function that does not answer).
async fn function_answers(phase: &Phase<'_>, function: &str, user: &str) -> bool {
    let gateway = &phase.stack.gateway;
    let request = match function {
        // An empty body: the function's own 400.
        "create-session" => phase
            .http
            .post(format!("{gateway}/sessions"))
            .json(&json!({})),
        // A token that is none: the function's own 404.
        "tavus-webhook" => phase
            .http
            .post(format!("{gateway}/webhooks/tavus/not-a-token"))
            .json(&json!({})),
        _ => phase.http.get(format!("{gateway}/usage")),
    };
    request
        .bearer_auth(phase.token(user))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .is_ok_and(|r| (200..500).contains(&r.status().as_u16()))
}

/// The function binaries running under the supervisor's `cargo lambda watch` (its
/// descendants: watch runs each through `cargo run`, which becomes the binary).
fn function_processes(supervisor: u32) -> Vec<(u32, String)> {
    const FUNCTIONS: [&str; 6] = [
        "create-session",
        "get-usage",
        "set-plan",
        "tavus-webhook",
        "sweep-sessions",
        "monthly-reset",
    ];
    let all = processes();
    let mut descendants = vec![supervisor];
    let mut found = Vec::new();
    while let Some(parent) = descendants.pop() {
        for (pid, _, name) in all.iter().filter(|(_, ppid, _)| *ppid == parent) {
            descendants.push(*pid);
            if FUNCTIONS.contains(&name.as_str()) {
                found.push((*pid, name.clone()));
            }
        }
    }
    found
}

/// Every process: pid, parent pid, name (from /proc).
fn processes() -> Vec<(u32, u32, String)> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let (head, rest) = stat.rsplit_once(')')?;
            let name = head.split_once('(')?.1.to_owned();
            let ppid = rest.split_whitespace().nth(1)?.parse().ok()?;
            Some((pid, ppid, name))
        })
        .collect()
}
