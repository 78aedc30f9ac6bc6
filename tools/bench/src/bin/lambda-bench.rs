//! `make bench`: Lambda init and latency of the functions' release bootstraps, each beside what
//! this machine allows.
//!
//! - init: time from process start to the first request for work at our runtime API (SDK
//!   clients built, no network in init), median of `STARTS` (20) starts, and peak RSS, beside a
//!   hello-world Rust Lambda built in the same run (the ratio);
//! - cold start as users feel it: process start to the answer of the first request (init plus
//!   the first request, the event already waiting as in Lambda), for create-session and
//!   get-usage against the hello world's, since work moved from init into the first request is
//!   no gain;
//! - latency: `POST /sessions` and `GET /usage`, p50/p99 at 1, 8 and 32 concurrent clients, each
//!   with as many function processes, through the runtime API, against DynamoDB Local, moto and
//!   the Tavus simulator; and the same through the local gateway when `GATEWAY_URL` is set;
//! - the floor of that latency: the ledger calls the handler makes (for `POST /sessions` the
//!   reservation transaction, the usage read and the activation update, the Tavus call left
//!   out; for `GET /usage` the usage read), made directly from this process with a
//!   `DynamoLedger` on the functions' own SDK configuration (`awaknow_core::aws::sdk_config`),
//!   at the same client counts, against the same DynamoDB Local, in the order floor, function,
//!   function, floor, after a warm-up that lasts until DynamoDB Local's JIT compilers are quiet;
//!   the ratios to it are printed beside the figures;
//! - sizes of the bootstraps.
//!
//! Needs `BOOTSTRAP_DIR` (cargo lambda build's `target/lambda`), `DYNAMODB_ENDPOINT`,
//! `MOTO_ENDPOINT`, and for the floor the functions' SDK environment (`AWS_REGION`,
//! `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_ENDPOINT_URL_DYNAMODB` =
//! `DYNAMODB_ENDPOINT`); scripts/bench.sh provides them. Prints a table; writes `BENCH_JSON`.
//!
//! `PHASES` (`init,cold,latency,gateway`) picks the phases. `BOOTSTRAP_DIR_VS`, another build's
//! `target/lambda` (another profile, say): the init phase then starts both builds in turn,
//! A B A B, and prints the ratio of each pair's init (B / A), so a comparison holds while the
//! machine's speed drifts.

use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use awaknow_core::domain::{MeetingToken, PlanCatalog, PlanId, UserId};
use awaknow_core::service::create::CreateSessionRequest;
use awaknow_core::store::{Activation, DynamoLedger, ReservationRequest, Reserved};
use axum::body::Bytes;
use bench::runtime_api::RuntimeApi;
use bench::{env_number, median, percentile};
use serde_json::{Value, json};

const FUNCTIONS: [&str; 6] = [
    "create-session",
    "get-usage",
    "tavus-webhook",
    "monthly-reset",
    "sweep-sessions",
    "set-plan",
];

/// The routes timed: (route, function, sample event).
const ROUTES: [(&str, &str, &str); 2] = [
    ("POST /sessions", "create-session", "create-session.json"),
    ("GET /usage", "get-usage", "get-usage.json"),
];

const CLIENTS: [usize; 3] = [1, 8, 32];

fn fail(message: String) -> ! {
    eprintln!("lambda-bench: {message}");
    std::process::exit(1)
}

fn env(name: &str) -> String {
    std::env::var(name)
        .unwrap_or_else(|_| fail(format!("{name} is not set (run scripts/bench.sh)")))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The body of every `POST /sessions` the bench sends, through the runtime API and in the floor.
fn create_body() -> String {
    json!({ "session_type": "reflect_alone", "prompt": "bench", "max_minutes": 1 }).to_string()
}

/// The HTTP status an answer of `function` must carry (the hello world echoes: none).
fn expected_status(function: &str) -> Option<u64> {
    match function {
        "create-session" => Some(201),
        "hello-lambda" => None,
        _ => Some(200),
    }
}

/// Fails the bench unless `answer` is a success with the status `function` must answer.
fn check_answer(function: &str, answer: Option<(bool, Bytes)>) {
    let answer = answer.filter(|(ok, _)| *ok);
    let status = answer
        .as_ref()
        .and_then(|(_, body)| serde_json::from_slice::<Value>(body).ok())
        .and_then(|v| v["statusCode"].as_u64());
    if answer.is_none() || status != expected_status(function) {
        fail(format!("{function}: unexpected answer (status {status:?})"));
    }
}

struct Setup {
    bootstraps: PathBuf,
    function_env: Vec<(String, String)>,
    /// Seeds the table (plans of the bench's users).
    ledger: DynamoLedger,
    /// The floor's ledger: the functions' SDK configuration, the functions' cap on open sessions.
    floor: DynamoLedger,
    /// DynamoDB Local's process, for its CPU time (`DYNAMODB_PID`).
    dynamodb_pid: Option<u32>,
    events: PathBuf,
}

impl Setup {
    fn spawn(&self, bootstraps: &Path, function: &str, runtime: &RuntimeApi) -> Child {
        let path = bootstraps.join(function).join("bootstrap");
        // Only the variables Lambda and this bench set, as in Lambda: nothing inherited from the
        // shell (the local stack's recordings bucket, for one, would need its role too).
        Command::new(&path)
            .env_clear()
            .envs(
                self.function_env
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str())),
            )
            .env("AWS_LAMBDA_RUNTIME_API", runtime.addr.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", function)
            .stdout(Stdio::null())
            // Only a failed start writes here (logs go to stdout): shown if it never polls.
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| fail(format!("cannot start {}: {e}", path.display())))
    }

    fn event(&self, file: &str, user: &str) -> Bytes {
        let text = std::fs::read_to_string(self.events.join(file))
            .unwrap_or_else(|e| fail(format!("events/{file}: {e}")));
        let mut event: Value =
            serde_json::from_str(&text).unwrap_or_else(|e| fail(format!("events/{file}: {e}")));
        event["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] = json!(user);
        if let Some(headers) = event["headers"].as_object_mut() {
            headers.remove("idempotency-key");
        }
        if file == "create-session.json" {
            event["body"] = json!(create_body());
        }
        Bytes::from(event.to_string().into_bytes())
    }

    /// `n` new users on the plan with the most minutes.
    async fn users(&self, n: usize) -> Vec<UserId> {
        let mut users = Vec::with_capacity(n);
        for i in 0..n {
            let user = UserId::parse(&format!("bench-{i}-{}", ulid::Ulid::new()))
                .unwrap_or_else(|e| fail(e.to_string()));
            self.ledger
                .change_plan(&user, PlanId::ResolveTogether, chrono::Utc::now())
                .await
                .unwrap_or_else(|e| fail(e.to_string()));
            users.push(user);
        }
        users
    }
}

fn peak_rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// What a stopped process wrote to its (piped) stderr.
fn stderr_of(mut child: Child) -> String {
    let _ = child.kill();
    match child.wait_with_output() {
        Ok(output) => String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        Err(e) => format!("unreadable: {e}"),
    }
}

fn stop(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// One cold start.
struct Start {
    /// Process start to its first request for work.
    init_ms: f64,
    /// Process start to the answer of the first request, when one was waiting.
    answered_ms: Option<f64>,
    /// Peak RSS when measured: after init, or after the first request when there was one.
    rss_mb: f64,
}

/// Starts `function` from `bootstraps` once; with `first`, that event is already waiting when
/// the process first asks for work (as in Lambda), and its answer is timed too.
async fn start_once(
    setup: &Setup,
    bootstraps: &Path,
    function: &str,
    first: Option<Bytes>,
) -> Start {
    let runtime = RuntimeApi::start()
        .await
        .unwrap_or_else(|e| fail(format!("runtime api: {e}")));
    let first_poll = runtime.arm_first_poll().await;
    let pending = first.map(|event| {
        let runtime = runtime.clone();
        tokio::spawn(async move {
            let answer = runtime.invoke(event).await;
            (answer, Instant::now())
        })
    });
    let started = Instant::now();
    let child = setup.spawn(bootstraps, function, &runtime);
    let init_ms = match tokio::time::timeout(Duration::from_secs(10), first_poll).await {
        Ok(Ok(at)) => ms(at - started),
        _ => fail(format!(
            "{function} never asked for work; its stderr: {}",
            stderr_of(child)
        )),
    };
    let answered_ms = match pending {
        None => None,
        Some(pending) => match tokio::time::timeout(Duration::from_secs(10), pending).await {
            Ok(Ok((answer, at))) => {
                check_answer(function, answer);
                Some(ms(at - started))
            }
            _ => fail(format!("{function} never answered its first request")),
        },
    };
    let rss_mb = peak_rss_kb(child.id()).unwrap_or(0) as f64 / 1024.0;
    stop(child);
    Start {
        init_ms,
        answered_ms,
        rss_mb,
    }
}

/// The init of every function from every build, started round-robin: each round starts each
/// function from each build in turn (hello A, hello B, create-session A, ...), so the drift of a
/// shared machine's speed falls on every function alike.
struct Inits {
    /// Per (build, function): every start's init (ms), a round each.
    times: HashMap<(usize, &'static str), Vec<f64>>,
    rss_mb: HashMap<(usize, &'static str), Vec<f64>>,
}

impl Inits {
    fn median_ms(&self, build: usize, function: &str) -> f64 {
        median(
            &mut self
                .times
                .get(&(build, function))
                .cloned()
                .unwrap_or_default(),
        )
    }

    fn rss_mb(&self, build: usize, function: &str) -> f64 {
        median(
            &mut self
                .rss_mb
                .get(&(build, function))
                .cloned()
                .unwrap_or_default(),
        )
    }

    /// The median of the ratios, round by round, of build `b`'s init of `function` to build 0's.
    fn paired_ratio(&self, b: usize, function: &str) -> f64 {
        let (Some(a), Some(b)) = (
            self.times.get(&(0, function)),
            self.times.get(&(b, function)),
        ) else {
            return f64::NAN;
        };
        median(&mut a.iter().zip(b).map(|(a, b)| b / a).collect::<Vec<_>>())
    }
}

async fn inits(
    setup: &Setup,
    builds: &[PathBuf],
    functions: &[&'static str],
    starts: usize,
) -> Inits {
    let mut inits = Inits {
        times: HashMap::new(),
        rss_mb: HashMap::new(),
    };
    for _ in 0..starts {
        for &function in functions {
            for (b, dir) in builds.iter().enumerate() {
                let start = start_once(setup, dir, function, None).await;
                inits
                    .times
                    .entry((b, function))
                    .or_default()
                    .push(start.init_ms);
                inits
                    .rss_mb
                    .entry((b, function))
                    .or_default()
                    .push(start.rss_mb);
            }
        }
    }
    inits
}

/// Median (ms) of `starts` cold starts each answering `event` (init plus the first request),
/// and the median peak RSS after that first request.
async fn cold_start(setup: &Setup, function: &str, event: &Bytes, starts: usize) -> (f64, f64) {
    let mut times = Vec::new();
    let mut rss = Vec::new();
    for _ in 0..starts {
        let start = start_once(setup, &setup.bootstraps, function, Some(event.clone())).await;
        times.push(start.answered_ms.unwrap_or(f64::NAN));
        rss.push(start.rss_mb);
    }
    (median(&mut times), median(&mut rss))
}

/// CPU time (seconds) spent during a run, by whom.
#[derive(Debug, Clone, Copy, Default)]
struct Cpu {
    dynamodb_local: f64,
    /// The function processes (their init included: a few ms each).
    functions: f64,
    /// This process: the floor's SDK client, or the runtime API and the Tavus simulator.
    bench: f64,
}

/// Reads the CPU clocks before a run; `done` takes the difference.
struct CpuClock {
    dynamodb_pid: Option<u32>,
    dynamodb_local: f64,
    /// The function processes' CPU so far: their init is not the run's.
    functions: f64,
    bench: f64,
}

impl CpuClock {
    fn start(dynamodb_pid: Option<u32>, children: &[Child]) -> CpuClock {
        CpuClock {
            dynamodb_pid,
            dynamodb_local: dynamodb_pid
                .and_then(|p| bench::cpu_seconds(Some(p)))
                .unwrap_or(f64::NAN),
            functions: functions_cpu_seconds(children),
            bench: bench::cpu_seconds(None).unwrap_or(f64::NAN),
        }
    }

    /// The CPU used since `start`; `children` are the function processes, still running.
    fn done(&self, children: &[Child]) -> Cpu {
        Cpu {
            dynamodb_local: self
                .dynamodb_pid
                .and_then(|p| bench::cpu_seconds(Some(p)))
                .unwrap_or(f64::NAN)
                - self.dynamodb_local,
            functions: functions_cpu_seconds(children) - self.functions,
            bench: bench::cpu_seconds(None).unwrap_or(f64::NAN) - self.bench,
        }
    }
}

/// The CPU time the function processes have used so far, together.
fn functions_cpu_seconds(children: &[Child]) -> f64 {
    children
        .iter()
        .filter_map(|c| bench::cpu_seconds(Some(c.id())))
        // A fold from +0.0: an empty sum of floats is -0.0, printed "-0.00".
        .fold(0.0, |a, b| a + b)
}

/// One run of clients at once: every measured latency (ms), how long it took, how many calls
/// were made in all (the unmeasured included), and the CPU it cost.
#[derive(Debug, Clone, Default)]
struct Sample {
    latencies: Vec<f64>,
    seconds: f64,
    calls: usize,
    cpu: Cpu,
}

/// Latency figures of one or more runs of the same kind, pooled.
#[derive(Debug, Clone, Copy)]
struct Figures {
    p50_ms: f64,
    p99_ms: f64,
    requests_per_second: f64,
    /// CPU ms per call.
    cpu: Cpu,
}

impl Figures {
    fn pooled(samples: &[Sample]) -> Figures {
        let mut all: Vec<f64> = samples
            .iter()
            .flat_map(|s| s.latencies.iter().copied())
            .collect();
        all.sort_by(|a, b| a.total_cmp(b));
        let seconds: f64 = samples.iter().map(|s| s.seconds).sum();
        let calls = samples.iter().map(|s| s.calls).sum::<usize>().max(1) as f64;
        let per_call =
            |f: fn(&Cpu) -> f64| samples.iter().map(|s| f(&s.cpu)).sum::<f64>() * 1000.0 / calls;
        Figures {
            p50_ms: percentile(&all, 50.0),
            p99_ms: percentile(&all, 99.0),
            requests_per_second: all.len() as f64 / seconds,
            cpu: Cpu {
                dynamodb_local: per_call(|c| c.dynamodb_local),
                functions: per_call(|c| c.functions),
                bench: per_call(|c| c.bench),
            },
        }
    }
}

/// Runs every client at once; each makes `requests` timed calls one after another, after two
/// unmeasured ones (the first one meets a cold process or connection). A call is told whether it
/// is measured, and answers whether its latency counts (an error's does not).
async fn at_once<C, Fut>(clients: Vec<C>, requests: usize) -> Sample
where
    C: FnMut(bool) -> Fut + Send + 'static,
    Fut: Future<Output = bool> + Send,
{
    let started = Instant::now();
    let calls = clients.len() * (requests + 2);
    let tasks = clients.into_iter().map(|mut call| {
        tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(requests);
            for i in 0..requests + 2 {
                let t = Instant::now();
                let counts = call(i >= 2).await;
                if i >= 2 && counts {
                    latencies.push(ms(t.elapsed()));
                }
            }
            latencies
        })
    });
    let mut latencies: Vec<f64> = Vec::new();
    for task in futures::future::join_all(tasks).await {
        latencies.extend(task.unwrap_or_default());
    }
    Sample {
        latencies,
        seconds: started.elapsed().as_secs_f64(),
        calls,
        cpu: Cpu::default(),
    }
}

/// `clients` clients through the runtime API, each with a function process of its own.
async fn latency_runtime(
    setup: &Arc<Setup>,
    function: &'static str,
    file: &'static str,
    clients: usize,
    requests: usize,
) -> Sample {
    let runtime = RuntimeApi::start()
        .await
        .unwrap_or_else(|e| fail(format!("runtime api: {e}")));
    let children: Vec<Child> = (0..clients)
        .map(|_| setup.spawn(&setup.bootstraps, function, &runtime))
        .collect();
    let calls: Vec<_> = setup
        .users(clients)
        .await
        .into_iter()
        .map(|user| {
            let runtime = runtime.clone();
            let event = setup.event(file, user.as_str());
            move |_| {
                let runtime = runtime.clone();
                let event = event.clone();
                async move {
                    check_answer(function, runtime.invoke(event).await);
                    true
                }
            }
        })
        .collect();
    let clock = CpuClock::start(setup.dynamodb_pid, &children);
    let mut sample = at_once(calls, requests).await;
    sample.cpu = clock.done(&children);
    for child in children {
        stop(child);
    }
    sample
}

/// What `POST /sessions` asks of the ledger, in the handler's order, without Tavus: the
/// reservation, the usage read (which rides along with the Tavus call there), the activation.
async fn create_floor(ledger: &DynamoLedger, owner: &UserId, body: &[u8]) {
    let now = chrono::Utc::now();
    let request =
        CreateSessionRequest::parse(body, owner).unwrap_or_else(|e| fail(format!("{e:?}")));
    let reserved = ledger
        .reserve(ReservationRequest {
            owner: owner.clone(),
            session_type: request.session_type,
            participants: request.participants.clone(),
            requested_minutes: request.max_minutes,
            now,
            idempotency: None,
            record: request.record,
        })
        .await
        .unwrap_or_else(|e| fail(format!("floor: reserve: {e}")));
    let Reserved::New(session) = reserved else {
        fail("floor: a reservation without a key was replayed".into())
    };
    ledger
        .usage(owner, now)
        .await
        .unwrap_or_else(|e| fail(format!("floor: usage: {e}")));
    // What the simulator answers: an id, a room URL, a meeting token of a JWT's length.
    let conversation_id = format!("c{}", ulid::Ulid::new().to_string().to_lowercase());
    let url = format!("https://tavus.daily.co/{conversation_id}");
    let token = MeetingToken::new(format!(
        "eyJ{}.{}.{}",
        "a".repeat(32),
        "b".repeat(96),
        "c".repeat(43)
    ));
    ledger
        .activate(
            &session,
            Activation {
                conversation_id: &conversation_id,
                conversation_url: Some(&url),
                meeting_token: Some(&token),
            },
        )
        .await
        .unwrap_or_else(|e| fail(format!("floor: activate: {e}")));
}

/// The floor of `route` at `clients` clients: its ledger calls, made directly.
async fn latency_floor(setup: &Arc<Setup>, route: &str, clients: usize, requests: usize) -> Sample {
    let create = route == "POST /sessions";
    let body = Arc::new(create_body().into_bytes());
    let calls: Vec<_> = setup
        .users(clients)
        .await
        .into_iter()
        .map(|user| {
            let setup = Arc::clone(setup);
            let body = Arc::clone(&body);
            move |_| {
                let setup = Arc::clone(&setup);
                let body = Arc::clone(&body);
                let user = user.clone();
                async move {
                    if create {
                        create_floor(&setup.floor, &user, &body).await;
                    } else {
                        setup
                            .floor
                            .usage(&user, chrono::Utc::now())
                            .await
                            .unwrap_or_else(|e| fail(format!("floor: usage: {e}")));
                    }
                    true
                }
            }
        })
        .collect();
    let clock = CpuClock::start(setup.dynamodb_pid, &[]);
    let mut sample = at_once(calls, requests).await;
    sample.cpu = clock.done(&[]);
    sample
}

/// DynamoDB Local's JVM compiles its hot paths during the first tens of seconds under load, its
/// compiler threads taking up to a third of the two cores: whichever run met that would pay for
/// it. Both routes' floors at the most clients run, unmeasured, until the compilers use less than
/// `WARM_JIT_SHARE` of a core over a round (0.1 unless set), or `WARM_MAX_SECONDS` (120) passed.
/// Without DynamoDB Local's pid, one round of each.
async fn warm_dynamodb_local(setup: &Arc<Setup>, requests: usize) {
    let clients = CLIENTS[CLIENTS.len() - 1];
    let quiet: f64 = env_number("WARM_JIT_SHARE", 0.1);
    let give_up = Duration::from_secs(env_number("WARM_MAX_SECONDS", 120));
    let started = Instant::now();
    for round in 1.. {
        let (round_started, jit_before) = (
            Instant::now(),
            setup.dynamodb_pid.and_then(bench::jit_cpu_seconds),
        );
        for (route, _, _) in ROUTES {
            latency_floor(setup, route, clients, requests).await;
        }
        let jit = setup.dynamodb_pid.and_then(bench::jit_cpu_seconds);
        let (Some(before), Some(after)) = (jit_before, jit) else {
            println!("warm-up: one round (no DynamoDB Local pid to watch its compilers)");
            return;
        };
        let share = (after - before) / round_started.elapsed().as_secs_f64();
        let elapsed = started.elapsed();
        if share < quiet || elapsed >= give_up {
            let verdict = if share < quiet {
                "quiet"
            } else {
                "still compiling; measuring anyway"
            };
            println!(
                "warm-up: {round} round(s) in {:.0} s; DynamoDB Local's JIT compilers used {:.0}% of a core in the last ({verdict})",
                elapsed.as_secs_f64(),
                share * 100.0
            );
            return;
        }
    }
}

/// The same through the local gateway (HTTP, dev tokens), when one runs.
async fn latency_gateway(
    base: &str,
    secret: &str,
    method: &str,
    path: &str,
    clients: usize,
    requests: usize,
) -> (Figures, u64) {
    let errors = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let http = reqwest::Client::new();
    let secret = awaknow_core::secrets::Secret::new(secret);
    let url = format!("{base}{path}");
    let calls: Vec<_> = (0..clients)
        .map(|i| {
            let http = http.clone();
            let user = format!("gw-bench-{i}-{}", ulid::Ulid::new());
            let token = awaknow_core::api::dev_token::sign_dev_token(
                &secret,
                &user,
                "awaknow-local",
                "awaknow",
                chrono::Duration::hours(1),
            )
            .unwrap_or_else(|e| fail(format!("{e:?}")));
            let (url, post) = (url.clone(), method == "POST");
            let errors = Arc::clone(&errors);
            move |measured| {
                let request = if post {
                    http.post(&url)
                        .body(create_body())
                        .header("content-type", "application/json")
                } else {
                    http.get(&url)
                };
                let request = request.bearer_auth(&token);
                let errors = Arc::clone(&errors);
                async move {
                    let status = request
                        .send()
                        .await
                        .map(|r| r.status().as_u16())
                        .unwrap_or(0);
                    // A free user has 25 minutes: 402 after that is an answer too, and as
                    // costly. Anything else (a 503 while `cargo lambda watch` starts instances)
                    // is counted as an error.
                    let answered = [200, 201, 402].contains(&status);
                    if measured && !answered {
                        errors.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                    answered
                }
            }
        })
        .collect();
    let sample = at_once(calls, requests).await;
    (
        Figures::pooled(&[sample]),
        errors.load(std::sync::atomic::Ordering::Relaxed),
    )
}

/// Each phase's table rows: a label, then the figures.
fn row(label: &str, clients: usize, f: &Figures, extra: &str) {
    println!(
        "{:<34} {:>8} {:>10.2} {:>10.2} {:>10.0} {extra}",
        label, clients, f.p50_ms, f.p99_ms, f.requests_per_second
    );
}

fn cpu_text(cpu: &Cpu) -> String {
    format!(
        "{:.2}, {:.2}, {:.2}",
        cpu.dynamodb_local, cpu.functions, cpu.bench
    )
}

fn latency_json(
    via: &str,
    route: &str,
    clients: usize,
    f: &Figures,
) -> serde_json::Map<String, Value> {
    let Value::Object(map) = json!({ "via": via, "route": route, "clients": clients, "p50_ms": f.p50_ms, "p99_ms": f.p99_ms, "requests_per_second": f.requests_per_second,
        "cpu_ms_per_request": { "dynamodb_local": f.cpu.dynamodb_local, "functions": f.cpu.functions, "bench_process": f.cpu.bench } })
    else {
        unreachable!()
    };
    map
}

/// Where the simulator's callbacks go (`PUBLIC_API_URL`): accepted and dropped. It sends
/// `system.replica_joined` on every create, and more when its timers end a call; on AWS these land
/// on API Gateway and the webhook function, not on the bench's cores. A closed port instead would
/// have the simulator try each one six times, with backoff, in this process's CPU.
async fn callback_sink() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| fail(format!("callback sink: {e}")));
    let addr = listener
        .local_addr()
        .unwrap_or_else(|e| fail(format!("callback sink: {e}")));
    let app = axum::Router::new().fallback(|| async { axum::http::StatusCode::NO_CONTENT });
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

#[tokio::main]
async fn main() {
    let root = test_support::workspace_root();
    let bootstraps = PathBuf::from(env("BOOTSTRAP_DIR"));
    let versus = std::env::var("BOOTSTRAP_DIR_VS").ok().map(PathBuf::from);
    let dynamodb = env("DYNAMODB_ENDPOINT");
    let moto = env("MOTO_ENDPOINT");
    let starts: usize = env_number("STARTS", 20);
    let requests: usize = env_number("REQUESTS", 40);
    let phases = std::env::var("PHASES").unwrap_or_else(|_| "init,cold,latency,gateway".into());
    let max_open =
        std::env::var("MAX_OPEN_SESSIONS_PER_USER").unwrap_or_else(|_| "1000000".to_owned());
    // The floor's client is built as the functions build theirs, from the environment.
    if std::env::var("AWS_ENDPOINT_URL_DYNAMODB").as_deref() != Ok(dynamodb.as_str())
        || std::env::var("AWS_REGION").is_err()
    {
        fail("the floor needs the functions' SDK environment: AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_ENDPOINT_URL_DYNAMODB=$DYNAMODB_ENDPOINT (run scripts/bench.sh)".into());
    }

    // The services the functions talk to: a fresh table, a secret, a simulator.
    let client = local_stack::local_client(&dynamodb).await;
    let table = format!(
        "lambda-bench-{}",
        ulid::Ulid::new().to_string().to_lowercase()
    );
    local_stack::TableDefinition::from_template_file(&root.join("template.yaml"))
        .unwrap_or_else(|e| fail(e.to_string()))
        .create(&client, &table)
        .await
        .unwrap_or_else(|e| fail(e.to_string()));
    let sm_config = test_support::local_sdk(&moto);
    let secret_id = format!("awaknow/bench/{}", ulid::Ulid::new());
    aws_sdk_secretsmanager::Client::new(&sm_config)
        .create_secret()
        .name(&secret_id)
        .secret_string(
            json!({ "tavus_api_key": "sim-key", "webhook_signing_key": "b".repeat(64) })
                .to_string(),
        )
        .send()
        .await
        .unwrap_or_else(|e| fail(format!("secret: {e}")));
    let sim = tavus_sim::start(
        tavus_sim::SimConfig {
            max_concurrent: 1_000_000,
            ..tavus_sim::SimConfig::default()
        },
        0,
    )
    .await
    .unwrap_or_else(|e| fail(format!("simulator: {e}")));
    let function_env: Vec<(String, String)> = [
        ("AWS_LAMBDA_FUNCTION_VERSION", "1".to_owned()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256".to_owned()),
        ("AWS_LAMBDA_LOG_LEVEL", "warn".to_owned()),
        ("AWS_REGION", "us-east-1".to_owned()),
        ("AWS_ACCESS_KEY_ID", "local".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "local".to_owned()),
        ("AWS_ENDPOINT_URL_DYNAMODB", dynamodb.clone()),
        ("AWS_ENDPOINT_URL_SECRETS_MANAGER", moto.clone()),
        ("TABLE_NAME", table.clone()),
        ("TAVUS_SECRET_ID", secret_id.clone()),
        ("TAVUS_BASE_URL", sim.base_url()),
        ("PUBLIC_API_URL", callback_sink().await),
        // create-session refuses to start without a persona or replica per session type.
        ("TAVUS_PERSONA_ID_REFLECT", "p-sim-reflect".to_owned()),
        ("TAVUS_PERSONA_ID_RESOLVE", "p-sim-resolve".to_owned()),
        // Each client keeps every session it opens: the cap on open sessions is out of the way.
        ("MAX_OPEN_SESSIONS_PER_USER", max_open.clone()),
        // And the pace of creates per user, for the same reason.
        ("CREATES_PER_USER_PER_MINUTE", "60000".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let sdk = match awaknow_core::aws::sdk_config() {
        Ok(sdk) => sdk,
        Err(e) => panic!("lambda-bench: the floor's SDK configuration: {e}"),
    };
    let floor = DynamoLedger::new(
        aws_sdk_dynamodb::Client::new(&sdk),
        table.clone(),
        PlanCatalog::default(),
    )
    .with_max_open_sessions(max_open.parse().unwrap_or(u32::MAX));
    let setup = Arc::new(Setup {
        bootstraps: bootstraps.clone(),
        function_env,
        ledger: DynamoLedger::new(client, table, PlanCatalog::default()),
        floor,
        dynamodb_pid: std::env::var("DYNAMODB_PID")
            .ok()
            .and_then(|p| p.trim().parse().ok()),
        events: root.join("events"),
    });

    let machine = format!(
        "{} cores, {}",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0),
        std::env::consts::ARCH
    );
    println!(
        "Lambda benchmark on {machine}: medians of {starts} starts; {requests} requests per client"
    );
    println!(
        "(a shared machine: absolute times move with its load; the ratios are taken in the same run)\n"
    );
    let mut builds = vec![bootstraps.clone()];
    builds.extend(versus.clone());
    let size = |dir: &Path, f: &str| {
        std::fs::metadata(dir.join(f).join("bootstrap"))
            .map(|m| m.len())
            .unwrap_or(0)
    };
    let mib = |bytes: u64| bytes as f64 / 1048576.0;
    let mut hello = json!({ "bootstrap_bytes": size(&bootstraps, "hello-lambda") });
    let mut functions = serde_json::Map::new();
    let mut vs_json = serde_json::Map::new();
    if phases.contains("init") {
        let all: Vec<&'static str> = std::iter::once("hello-lambda").chain(FUNCTIONS).collect();
        let inits = inits(&setup, &builds, &all, starts).await;
        let hello_ms = inits.median_ms(0, "hello-lambda");
        print!(
            "{:<16} {:>10} {:>10} {:>14} {:>13}",
            "function", "init ms", "x hello", "peak RSS MiB", "bootstrap MiB"
        );
        if versus.is_some() {
            print!(
                " {:>11} {:>14} {:>17}",
                "VS init ms", "VS / A, paired", "VS bootstrap MiB"
            );
        }
        println!();
        for function in all {
            let init_ms = inits.median_ms(0, function);
            let rss = inits.rss_mb(0, function);
            print!(
                "{:<16} {:>10.2} {:>10.2} {:>14.1} {:>13.1}",
                function,
                init_ms,
                init_ms / hello_ms,
                rss,
                mib(size(&bootstraps, function))
            );
            if let Some(vs) = &versus {
                print!(
                    " {:>11.2} {:>14.2} {:>17.1}",
                    inits.median_ms(1, function),
                    inits.paired_ratio(1, function),
                    mib(size(vs, function))
                );
                vs_json.insert(
                    function.into(),
                    json!({ "init_ms": inits.median_ms(1, function), "paired_init_ratio": inits.paired_ratio(1, function), "peak_rss_mb": inits.rss_mb(1, function), "bootstrap_bytes": size(vs, function) }),
                );
            }
            println!();
            if function == "hello-lambda" {
                hello["init_ms"] = json!(init_ms);
                hello["peak_rss_mb"] = json!(rss);
            } else {
                functions.insert(function.into(), json!({ "init_ms": init_ms, "init_ratio_to_hello": init_ms / hello_ms, "peak_rss_mb": rss, "bootstrap_bytes": size(&bootstraps, function) }));
            }
        }
    }

    if phases.contains("cold") {
        println!(
            "\n{:<34} {:>10} {:>10} {:>22}",
            "cold start (init + first request)", "ms", "x hello", "peak RSS after, MiB"
        );
        let user = setup.users(1).await.remove(0);
        let (hello_cold, hello_rss) = cold_start(
            &setup,
            "hello-lambda",
            &setup.event("get-usage.json", user.as_str()),
            starts,
        )
        .await;
        println!(
            "{:<34} {:>10.2} {:>10.2} {:>22.1}",
            "hello-lambda", hello_cold, 1.0, hello_rss
        );
        hello["init_plus_first_request_ms"] = json!(hello_cold);
        for (route, function, file) in ROUTES {
            let (cold, rss) =
                cold_start(&setup, function, &setup.event(file, user.as_str()), starts).await;
            println!(
                "{:<34} {:>10.2} {:>10.2} {:>22.1}",
                format!("{function} ({route})"),
                cold,
                cold / hello_cold,
                rss
            );
            if let Some(Value::Object(f)) = functions.get_mut(function) {
                f.insert("init_plus_first_request_ms".into(), json!(cold));
                f.insert(
                    "init_plus_first_request_ratio_to_hello".into(),
                    json!(cold / hello_cold),
                );
                f.insert("peak_rss_after_first_request_mb".into(), json!(rss));
            }
        }
    }

    let mut latency = Vec::new();
    if phases.contains("latency") {
        warm_dynamodb_local(&setup, requests).await;
        println!(
            "\n{:<34} {:>8} {:>10} {:>10} {:>10} {:>13} {:>11}   CPU ms per request: DynamoDB Local, functions, bench process",
            "latency (floor; runtime API)",
            "clients",
            "p50 ms",
            "p99 ms",
            "req/s",
            "x floor req/s",
            "x floor p99",
        );
        for (route, function, file) in ROUTES {
            for clients in CLIENTS {
                // Floor, function, function, floor: the ratio is of runs taken together, and a
                // drift of the machine's speed falls on both alike.
                let mut floor = vec![latency_floor(&setup, route, clients, requests).await];
                let mut through = Vec::new();
                for _ in 0..2 {
                    through.push(latency_runtime(&setup, function, file, clients, requests).await);
                }
                floor.push(latency_floor(&setup, route, clients, requests).await);
                let (floor, through) = (Figures::pooled(&floor), Figures::pooled(&through));
                row(
                    &format!("{route}  floor"),
                    clients,
                    &floor,
                    &format!("{:>27}", cpu_text(&floor.cpu)),
                );
                latency.push(Value::Object(latency_json("floor", route, clients, &floor)));
                let rps_ratio = through.requests_per_second / floor.requests_per_second;
                let p99_ratio = through.p99_ms / floor.p99_ms;
                row(
                    &format!("{route}  runtime API"),
                    clients,
                    &through,
                    &format!(
                        "{rps_ratio:>13.2} {p99_ratio:>11.2}   {}",
                        cpu_text(&through.cpu)
                    ),
                );
                let mut entry = latency_json("runtime_api", route, clients, &through);
                entry.insert(
                    "requests_per_second_ratio_to_floor".into(),
                    json!(rps_ratio),
                );
                entry.insert("p99_ratio_to_floor".into(), json!(p99_ratio));
                latency.push(Value::Object(entry));
            }
        }
    }
    if let (true, Ok(gateway), Ok(secret)) = (
        phases.contains("gateway"),
        std::env::var("GATEWAY_URL"),
        std::env::var("DEV_JWT_SECRET"),
    ) {
        // A stack that stops answering ends the bench within a minute, naming the part at fault.
        if let Some(watchdog) = local_gateway::watchdog::Watchdog::from_env()
            && let Err(e) = watchdog.spawn("bench")
        {
            eprintln!("bench: the stack watchdog could not start: {e}");
        }
        println!(
            "\n{:<34} {:>8} {:>10} {:>10} {:>10} {:>8}",
            "latency (through the local gateway)", "clients", "p50 ms", "p99 ms", "req/s", "errors"
        );
        for (route, method, path) in [
            ("POST /sessions", "POST", "/sessions"),
            ("GET /usage", "GET", "/usage"),
        ] {
            for clients in CLIENTS {
                let (figures, errors) =
                    latency_gateway(&gateway, &secret, method, path, clients, requests).await;
                row(route, clients, &figures, &format!("{errors:>8}"));
                let mut entry = latency_json("gateway", route, clients, &figures);
                entry.insert("errors".into(), json!(errors));
                latency.push(Value::Object(entry));
            }
        }
    }
    let mut results = json!({
        "machine": machine,
        "starts": starts,
        "hello": hello,
        "functions": functions,
        "latency": latency,
    });
    if let Some(vs) = &versus {
        results["versus"] = json!({ "bootstrap_dir": vs, "functions": vs_json });
    }
    let out = std::env::var("BENCH_JSON").unwrap_or_else(|_| "bench-results.json".into());
    match std::fs::write(
        &out,
        serde_json::to_string_pretty(&results).unwrap_or_default(),
    ) {
        Ok(()) => println!("\nwritten: {out}"),
        Err(e) => fail(format!("cannot write {out}: {e}")),
    }
}
