//! `make bench`: Lambda init and latency of the functions' release bootstraps.
//!
//! - init: time from process start to the first request for work at our runtime API (SDK
//!   clients built, no network in init), median of `STARTS` (20) starts, and peak RSS, beside a
//!   hello-world Rust Lambda built in the same run (the ratio);
//! - latency: `POST /sessions` and `GET /usage`, p50/p99 at 1, 8 and 32 concurrent clients, each
//!   with as many function processes, through the runtime API, against DynamoDB Local, moto and
//!   the Tavus simulator; and the same through the local gateway when `GATEWAY_URL` is set;
//! - sizes of the bootstraps.
//!
//! Needs `BOOTSTRAP_DIR` (cargo lambda build's `target/lambda`), `DYNAMODB_ENDPOINT`,
//! `MOTO_ENDPOINT`; scripts/bench.sh provides them. Prints a table; writes `BENCH_JSON`.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use awaknow_core::domain::{PlanCatalog, PlanId, UserId};
use awaknow_core::store::DynamoLedger;
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

fn fail(message: String) -> ! {
    eprintln!("lambda-bench: {message}");
    std::process::exit(1)
}

fn env(name: &str) -> String {
    std::env::var(name)
        .unwrap_or_else(|_| fail(format!("{name} is not set (run scripts/bench.sh)")))
}

struct Setup {
    bootstraps: PathBuf,
    function_env: Vec<(String, String)>,
    ledger: DynamoLedger,
    events: PathBuf,
}

impl Setup {
    fn spawn(&self, function: &str, runtime: &RuntimeApi) -> Child {
        let path = self.bootstraps.join(function).join("bootstrap");
        Command::new(&path)
            .envs(
                self.function_env
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str())),
            )
            .env("AWS_LAMBDA_RUNTIME_API", runtime.addr.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", function)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| fail(format!("cannot start {}: {e}", path.display())))
    }

    fn event(&self, file: &str, user: &str) -> Vec<u8> {
        let text = std::fs::read_to_string(self.events.join(file))
            .unwrap_or_else(|e| fail(format!("events/{file}: {e}")));
        let mut event: Value =
            serde_json::from_str(&text).unwrap_or_else(|e| fail(format!("events/{file}: {e}")));
        event["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] = json!(user);
        if let Some(headers) = event["headers"].as_object_mut() {
            headers.remove("idempotency-key");
        }
        if file == "create-session.json" {
            event["body"] = json!(
                json!({ "session_type": "reflect_alone", "prompt": "bench", "max_minutes": 1 })
                    .to_string()
            );
        }
        event.to_string().into_bytes()
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

fn stop(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// Median init (ms) and peak RSS (MB) of `starts` cold starts.
async fn init(setup: &Setup, function: &str, starts: usize) -> (f64, f64) {
    let mut times = Vec::new();
    let mut rss = Vec::new();
    for _ in 0..starts {
        let runtime = RuntimeApi::start()
            .await
            .unwrap_or_else(|e| fail(format!("runtime api: {e}")));
        let first_poll = runtime.arm_first_poll().await;
        let started = Instant::now();
        let child = setup.spawn(function, &runtime);
        match tokio::time::timeout(Duration::from_secs(10), first_poll).await {
            Ok(Ok(at)) => times.push((at - started).as_secs_f64() * 1000.0),
            _ => fail(format!(
                "{function} never asked for work (did its init fail?)"
            )),
        }
        rss.push(peak_rss_kb(child.id()).unwrap_or(0) as f64 / 1024.0);
        stop(child);
    }
    (median(&mut times), median(&mut rss))
}

/// Latency (ms) of `clients` concurrent clients, each sending `requests` one after another.
async fn latency_runtime(
    setup: &Arc<Setup>,
    function: &'static str,
    file: &'static str,
    clients: usize,
    requests: usize,
) -> (f64, f64, f64) {
    let runtime = RuntimeApi::start()
        .await
        .unwrap_or_else(|e| fail(format!("runtime api: {e}")));
    let children: Vec<Child> = (0..clients)
        .map(|_| setup.spawn(function, &runtime))
        .collect();
    let users: Vec<String> = (0..clients)
        .map(|i| format!("bench-{i}-{}", ulid::Ulid::new()))
        .collect();
    for user in &users {
        let id = UserId::parse(user).unwrap_or_else(|e| fail(e.to_string()));
        setup
            .ledger
            .change_plan(&id, PlanId::ResolveTogether, chrono::Utc::now())
            .await
            .unwrap_or_else(|e| fail(e.to_string()));
    }
    let expected = if file == "create-session.json" {
        201
    } else {
        200
    };
    let started = Instant::now();
    let tasks = users.into_iter().map(|user| {
        let runtime = runtime.clone();
        let event = bytes_of(setup.event(file, &user));
        tokio::spawn(async move {
            let mut latencies = Vec::new();
            // Two unmeasured requests: the first one meets a cold process.
            for i in 0..requests + 2 {
                let t = Instant::now();
                let answer = runtime.invoke(event.clone()).await;
                let ms = t.elapsed().as_secs_f64() * 1000.0;
                let status = answer
                    .filter(|(ok, _)| *ok)
                    .and_then(|(_, body)| serde_json::from_slice::<Value>(&body).ok())
                    .and_then(|v| v["statusCode"].as_u64());
                if status != Some(expected) {
                    fail(format!("{function}: unexpected answer (status {status:?})"));
                }
                if i >= 2 {
                    latencies.push(ms);
                }
            }
            latencies
        })
    });
    let mut all: Vec<f64> = Vec::new();
    for task in futures::future::join_all(tasks).await {
        all.extend(task.unwrap_or_default());
    }
    let seconds = started.elapsed().as_secs_f64();
    for child in children {
        stop(child);
    }
    all.sort_by(|a, b| a.total_cmp(b));
    (
        percentile(&all, 50.0),
        percentile(&all, 99.0),
        all.len() as f64 / seconds,
    )
}

fn bytes_of(v: Vec<u8>) -> axum::body::Bytes {
    axum::body::Bytes::from(v)
}

/// The same through the local gateway (HTTP, dev tokens), when one runs.
async fn latency_gateway(
    base: &str,
    secret: &str,
    method: &str,
    path: &str,
    clients: usize,
    requests: usize,
) -> (f64, f64, f64, u64) {
    let errors = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let http = reqwest::Client::new();
    let secret = awaknow_core::secrets::Secret::new(secret);
    let started = Instant::now();
    let tasks = (0..clients).map(|i| {
        let http = http.clone();
        let user = format!("gw-bench-{i}-{}", ulid::Ulid::new());
        let token = awaknow_core::api::dev_token::sign_dev_token(&secret, &user, "awaknow-local", "awaknow", chrono::Duration::hours(1))
            .unwrap_or_else(|e| fail(format!("{e:?}")));
        let url = format!("{base}{path}");
        let method = method.to_owned();
        let errors = Arc::clone(&errors);
        tokio::spawn(async move {
            let mut latencies = Vec::new();
            for i in 0..requests + 2 {
                let t = Instant::now();
                let request = if method == "POST" {
                    http.post(&url).json(&json!({ "session_type": "reflect_alone", "prompt": "bench", "max_minutes": 1 }))
                } else {
                    http.get(&url)
                };
                let status = request.bearer_auth(&token).send().await.map(|r| r.status().as_u16()).unwrap_or(0);
                let ms = t.elapsed().as_secs_f64() * 1000.0;
                // A free user has 25 minutes: 402 after that is an answer too, and as costly.
                // Anything else (a 503 while `cargo lambda watch` starts instances) is counted
                // as an error, not as a latency.
                if i >= 2 {
                    if [200, 201, 402].contains(&status) {
                        latencies.push(ms);
                    } else {
                        errors.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            }
            latencies
        })
    });
    let mut all: Vec<f64> = Vec::new();
    for task in futures::future::join_all(tasks).await {
        all.extend(task.unwrap_or_default());
    }
    let seconds = started.elapsed().as_secs_f64();
    all.sort_by(|a, b| a.total_cmp(b));
    (
        percentile(&all, 50.0),
        percentile(&all, 99.0),
        all.len() as f64 / seconds,
        errors.load(std::sync::atomic::Ordering::Relaxed),
    )
}

#[tokio::main]
async fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let bootstraps = PathBuf::from(env("BOOTSTRAP_DIR"));
    let dynamodb = env("DYNAMODB_ENDPOINT");
    let moto = env("MOTO_ENDPOINT");
    let starts: usize = env_number("STARTS", 20);
    let requests: usize = env_number("REQUESTS", 40);

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
    let sm_config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(&moto)
        .credentials_provider(aws_sdk_secretsmanager::config::Credentials::new(
            "local", "local", None, None, "bench",
        ))
        .load()
        .await;
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
        ("PUBLIC_API_URL", "http://127.0.0.1:9".to_owned()),
        // create-session refuses to start without a persona or replica per session type.
        ("TAVUS_PERSONA_ID_REFLECT", "p-sim-reflect".to_owned()),
        ("TAVUS_PERSONA_ID_RESOLVE", "p-sim-resolve".to_owned()),
        // Each client keeps every session it opens: the cap on open sessions is out of the way.
        (
            "MAX_OPEN_SESSIONS_PER_USER",
            std::env::var("MAX_OPEN_SESSIONS_PER_USER").unwrap_or_else(|_| "1000000".to_owned()),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let setup = Arc::new(Setup {
        bootstraps,
        function_env,
        ledger: DynamoLedger::new(client, table, PlanCatalog::default()),
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
        "Lambda benchmark on {machine}: medians of {starts} starts; {requests} requests per client\n"
    );
    println!(
        "{:<16} {:>10} {:>10} {:>14} {:>12}",
        "function", "init ms", "x hello", "peak RSS MB", "bootstrap MB"
    );
    let (hello_ms, hello_rss) = init(&setup, "hello-lambda", starts).await;
    let size = |f: &str| {
        std::fs::metadata(setup.bootstraps.join(f).join("bootstrap"))
            .map(|m| m.len())
            .unwrap_or(0)
    };
    println!(
        "{:<16} {:>10.2} {:>10.2} {:>14.1} {:>12.1}",
        "hello-lambda",
        hello_ms,
        1.0,
        hello_rss,
        size("hello-lambda") as f64 / 1048576.0
    );
    let mut functions = serde_json::Map::new();
    for function in FUNCTIONS {
        let (ms, rss) = init(&setup, function, starts).await;
        println!(
            "{:<16} {:>10.2} {:>10.2} {:>14.1} {:>12.1}",
            function,
            ms,
            ms / hello_ms,
            rss,
            size(function) as f64 / 1048576.0
        );
        functions.insert(function.into(), json!({ "init_ms": ms, "init_ratio_to_hello": ms / hello_ms, "peak_rss_mb": rss, "bootstrap_bytes": size(function) }));
    }

    let phases = std::env::var("PHASES").unwrap_or_else(|_| "init,latency,gateway".into());
    let mut latency = Vec::new();
    if phases.contains("latency") {
        println!(
            "\n{:<34} {:>8} {:>10} {:>10} {:>10}",
            "latency (through the runtime API)", "clients", "p50 ms", "p99 ms", "req/s"
        );
        for (route, function, file) in [
            ("POST /sessions", "create-session", "create-session.json"),
            ("GET /usage", "get-usage", "get-usage.json"),
        ] {
            for clients in [1, 8, 32] {
                let (p50, p99, rps) =
                    latency_runtime(&setup, function, file, clients, requests).await;
                println!(
                    "{:<34} {:>8} {:>10.2} {:>10.2} {:>10.0}",
                    route, clients, p50, p99, rps
                );
                latency.push(json!({ "via": "runtime_api", "route": route, "clients": clients, "p50_ms": p50, "p99_ms": p99, "requests_per_second": rps }));
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
            for clients in [1, 8, 32] {
                let (p50, p99, rps, errors) =
                    latency_gateway(&gateway, &secret, method, path, clients, requests).await;
                println!(
                    "{:<34} {:>8} {:>10.2} {:>10.2} {:>10.0} {:>8}",
                    route, clients, p50, p99, rps, errors
                );
                latency.push(json!({ "via": "gateway", "route": route, "clients": clients, "p50_ms": p50, "p99_ms": p99, "requests_per_second": rps, "errors": errors }));
            }
        }
    }
    let results = json!({
        "machine": machine,
        "starts": starts,
        "hello": { "init_ms": hello_ms, "peak_rss_mb": hello_rss, "bootstrap_bytes": size("hello-lambda") },
        "functions": functions,
        "latency": latency,
    });
    let out = std::env::var("BENCH_JSON").unwrap_or_else(|_| "bench-results.json".into());
    match std::fs::write(
        &out,
        serde_json::to_string_pretty(&results).unwrap_or_default(),
    ) {
        Ok(()) => println!("\nwritten: {out}"),
        Err(e) => fail(format!("cannot write {out}: {e}")),
    }
}
