//! Reset throughput: accounts rolled per second on DynamoDB Local, beside its floor.
//!
//! `DYNAMODB_ENDPOINT=... reset-bench` (scripts/bench-reset.sh starts DynamoDB Local for it).
//! `ACCOUNTS` (100000) stale accounts are imported into a fresh table from template.yaml, then
//! reset; `RUNS` (3) times, each on a new table. Each run is paired with a floor on another
//! fresh table of as many accounts: the reset's per-account requests (the consistent read of the
//! account, the rollover transaction) made directly for every account, with as many in flight as
//! the reset keeps (shards at once x accounts at once per shard), against the same DynamoDB
//! Local, with the same client; the order alternates from run to run. What the floor leaves out
//! is what the reset adds: the index queries, the page-by-page walk of each shard.
//!
//! Prints each run, the medians and the ratio, the client's CPU time per account (the SDK work a
//! Lambda pays for, whatever the database), and the JSON line
//! `{"reset_accounts_per_second": ..., "floor_accounts_per_second": ..., ...}` last.
//! `SHARD_CONCURRENCY`, `ACCOUNT_CONCURRENCY` and `PAGE` tune the reset.

use std::time::{Duration, Instant};

use awaknow_core::domain::{Account, PlanCatalog, PlanId, UserId};
use awaknow_core::service::reset::{ResetOptions, reset};
use awaknow_core::store::DynamoLedger;
use awaknow_core::store::dynamo::RollAttempt;
use awaknow_core::store::keys::INDEX_SHARDS;
use bench::{env_number, median};
use chrono::{DateTime, TimeZone, Utc};
use futures::StreamExt;

fn fail(message: String) -> ! {
    eprintln!("reset-bench: {message}");
    std::process::exit(1)
}

fn stale_accounts(n: usize) -> Vec<Account> {
    let catalog = PlanCatalog::default();
    let october = Utc
        .with_ymd_and_hms(2026, 10, 15, 12, 0, 0)
        .single()
        .unwrap_or_default();
    (0..n)
        .map(|i| {
            let user = UserId::parse(&format!("bench-{i}-{}", ulid::Ulid::new()))
                .unwrap_or_else(|_| unreachable!());
            let mut account = Account::fresh(user, PlanId::ALL[i % 3], &catalog, october);
            account.used_minutes = (i as i64 * 7) % 20;
            account.available_minutes = account.limit_minutes - account.used_minutes;
            account
        })
        .collect()
}

/// CPU time this process has used so far, in seconds.
fn cpu_seconds() -> f64 {
    bench::cpu_seconds(None).unwrap_or(f64::NAN)
}

/// A table of `n` accounts still in October.
async fn seeded(
    client: &aws_sdk_dynamodb::Client,
    definition: &local_stack::TableDefinition,
    n: usize,
) -> (DynamoLedger, Vec<UserId>, Duration) {
    let ledger = bench::new_table(client, definition, "bench")
        .await
        .unwrap_or_else(|e| fail(e));
    let accounts = stale_accounts(n);
    let seeding = Instant::now();
    let chunks: Vec<&[Account]> = accounts.chunks(n.div_ceil(8).max(1)).collect();
    let results = futures::future::join_all(chunks.iter().map(|c| ledger.import_accounts(c))).await;
    if let Some(Err(e)) = results.into_iter().find(Result::is_err) {
        fail(format!("seeding failed: {e}"));
    }
    let users = accounts.into_iter().map(|a| a.user_id).collect();
    (ledger, users, seeding.elapsed())
}

/// One measurement: accounts rolled per second, and the CPU ms per account of the client and of
/// DynamoDB Local.
struct Measured {
    rate: f64,
    cpu_ms_per_account: f64,
    dynamodb_cpu_ms_per_account: f64,
}

/// The CPU clocks of this process and of DynamoDB Local (`DYNAMODB_PID`), in seconds.
fn clocks() -> (f64, f64) {
    let dynamodb = std::env::var("DYNAMODB_PID")
        .ok()
        .and_then(|p| p.trim().parse().ok())
        .and_then(|pid| bench::cpu_seconds(Some(pid)))
        .unwrap_or(f64::NAN);
    (cpu_seconds(), dynamodb)
}

impl Measured {
    fn of(n: usize, seconds: f64, before: (f64, f64)) -> Measured {
        let after = clocks();
        Measured {
            rate: n as f64 / seconds,
            cpu_ms_per_account: (after.0 - before.0) * 1000.0 / n as f64,
            dynamodb_cpu_ms_per_account: (after.1 - before.1) * 1000.0 / n as f64,
        }
    }
}

async fn run_reset(
    ledger: &DynamoLedger,
    n: usize,
    now: DateTime<Utc>,
    options: &ResetOptions,
) -> Measured {
    let before = clocks();
    let report = reset(
        ledger,
        now,
        Instant::now() + Duration::from_secs(24 * 3600),
        options,
    )
    .await;
    let measured = Measured::of(n, report.seconds, before);
    if !report.complete || report.rolled != n as u64 {
        fail(format!("the reset did not roll every account: {report:?}"));
    }
    if report.conflicts_retried > 0 {
        println!(
            "  (the reset retried {} conflicts)",
            report.conflicts_retried
        );
    }
    measured
}

/// The floor: for every account, the read and the rollover transaction the reset makes for it,
/// `in_flight` accounts at once, nothing else.
async fn run_floor(
    ledger: &DynamoLedger,
    users: Vec<UserId>,
    now: DateTime<Utc>,
    in_flight: usize,
) -> Measured {
    let n = users.len();
    let before = clocks();
    let started = Instant::now();
    let rolled = futures::stream::iter(users)
        .map(|user| async move {
            let account = ledger
                .read_account(&user)
                .await
                .unwrap_or_else(|e| fail(format!("floor: read: {e}")))
                .unwrap_or_else(|| fail("floor: an account is missing".into()));
            ledger
                .roll_over_from(&account, now)
                .await
                .unwrap_or_else(|e| fail(format!("floor: roll over: {e}")))
        })
        .buffer_unordered(in_flight.max(1))
        .filter(|attempt| std::future::ready(*attempt == RollAttempt::Rolled))
        .count()
        .await;
    let measured = Measured::of(n, started.elapsed().as_secs_f64(), before);
    if rolled != n {
        fail(format!("floor: rolled {rolled} of {n} accounts"));
    }
    measured
}

#[tokio::main]
async fn main() {
    let Ok(endpoint) = std::env::var("DYNAMODB_ENDPOINT") else {
        fail("DYNAMODB_ENDPOINT is not set (run scripts/bench-reset.sh)".into());
    };
    let n: usize = env_number("ACCOUNTS", 100_000);
    let runs: usize = env_number("RUNS", 3);
    let defaults = ResetOptions::default();
    let options = ResetOptions {
        shard_concurrency: env_number("SHARD_CONCURRENCY", defaults.shard_concurrency),
        account_concurrency: env_number("ACCOUNT_CONCURRENCY", defaults.account_concurrency),
        page: env_number("PAGE", defaults.page),
        ..defaults
    };
    // As many accounts in flight as the reset keeps when every shard it works on is busy.
    let shards_in_flight = options
        .shard_concurrency
        .clamp(1, options.shards.len().max(1).min(INDEX_SHARDS as usize));
    let in_flight = shards_in_flight * options.account_concurrency.max(1);
    let definition =
        local_stack::TableDefinition::from_template_file(&local_stack::template_path())
            .unwrap_or_else(|e| fail(e.to_string()));
    let client = local_stack::local_client(&endpoint).await;
    println!(
        "reset benchmark: {n} stale accounts, {runs} run(s), {} shards x {} accounts in flight, pages of {}; floor: {in_flight} accounts in flight",
        options.shard_concurrency, options.account_concurrency, options.page
    );
    let now = Utc
        .with_ymd_and_hms(2026, 11, 1, 0, 0, 5)
        .single()
        .unwrap_or_default();
    let (mut rates, mut floors, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    let (mut cpu, mut dynamodb_cpu) = (Vec::new(), Vec::new());
    for run in 1..=runs {
        let mut reset_rate = None;
        let mut floor_rate = None;
        // Alternate which goes first, so neither always meets a fresher DynamoDB Local.
        for reset_turn in [run % 2 == 1, run % 2 == 0] {
            let (ledger, users, seeded_in) = seeded(&client, &definition, n).await;
            let (what, measured) = if reset_turn {
                ("reset", run_reset(&ledger, n, now, &options).await)
            } else {
                ("floor", run_floor(&ledger, users, now, in_flight).await)
            };
            bench::drop_table(&ledger).await;
            println!(
                "run {run} {what}: seeded in {:.1} s; {:.0} accounts/s; CPU per account: client {:.3} ms, DynamoDB Local {:.3} ms",
                seeded_in.as_secs_f64(),
                measured.rate,
                measured.cpu_ms_per_account,
                measured.dynamodb_cpu_ms_per_account
            );
            if reset_turn {
                reset_rate = Some(measured.rate);
                cpu.push(measured.cpu_ms_per_account);
                dynamodb_cpu.push(measured.dynamodb_cpu_ms_per_account);
            } else {
                floor_rate = Some(measured.rate);
            }
        }
        let (reset_rate, floor_rate) = (
            reset_rate.unwrap_or(f64::NAN),
            floor_rate.unwrap_or(f64::NAN),
        );
        println!("run {run}: reset / floor = {:.2}", reset_rate / floor_rate);
        rates.push(reset_rate);
        floors.push(floor_rate);
        ratios.push(reset_rate / floor_rate);
    }
    let (rate, floor, ratio) = (median(&mut rates), median(&mut floors), median(&mut ratios));
    let (cpu, dynamodb_cpu) = (median(&mut cpu), median(&mut dynamodb_cpu));
    println!(
        "median: reset {rate:.0} accounts/s, floor {floor:.0} accounts/s, x floor {ratio:.2} (median of the runs' ratios); the reset's CPU per account: client {cpu:.3} ms, DynamoDB Local {dynamodb_cpu:.3} ms"
    );
    println!(
        "{}",
        serde_json::json!({
            "reset_accounts": n,
            "runs": runs,
            "reset_accounts_per_second": rate.round(),
            "floor_accounts_per_second": floor.round(),
            "ratio_to_floor": ratio,
            "in_flight": in_flight,
            "client_cpu_ms_per_account": cpu,
            "dynamodb_local_cpu_ms_per_account": dynamodb_cpu,
        })
    );
}
