//! Reset throughput: accounts rolled per second on DynamoDB Local.
//!
//! `DYNAMODB_ENDPOINT=... reset-bench` (scripts/bench-reset.sh starts DynamoDB Local for it).
//! `ACCOUNTS` (100000) stale accounts are imported into a fresh table from template.yaml, then
//! reset; `RUNS` (3) times, each on a new table; prints each run and the median, and the JSON
//! line `{"reset_accounts_per_second": ...}` last. `SHARD_CONCURRENCY`, `ACCOUNT_CONCURRENCY` tune
//! the requests in flight.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use awaknow_core::domain::{Account, PlanCatalog, PlanId, UserId};
use awaknow_core::reset::{ResetOptions, reset};
use awaknow_core::store::DynamoLedger;
use bench::{env_number, median};
use chrono::{TimeZone, Utc};

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

#[tokio::main]
async fn main() {
    let Ok(endpoint) = std::env::var("DYNAMODB_ENDPOINT") else {
        eprintln!("reset-bench: DYNAMODB_ENDPOINT is not set (run scripts/bench-reset.sh)");
        std::process::exit(2);
    };
    let n: usize = env_number("ACCOUNTS", 100_000);
    let runs: usize = env_number("RUNS", 3);
    let defaults = ResetOptions::default();
    let options = ResetOptions {
        shard_concurrency: env_number("SHARD_CONCURRENCY", defaults.shard_concurrency),
        account_concurrency: env_number("ACCOUNT_CONCURRENCY", defaults.account_concurrency),
        ..defaults
    };
    let template = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../template.yaml");
    let definition = match local_stack::TableDefinition::from_template_file(&template) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("reset-bench: {e}");
            std::process::exit(1);
        }
    };
    let client = local_stack::local_client(&endpoint).await;
    println!(
        "reset benchmark: {n} stale accounts, {runs} run(s), {} shards x {} accounts in flight",
        options.shard_concurrency, options.account_concurrency
    );
    let mut rates = Vec::new();
    for run in 1..=runs {
        let table = format!("bench-{}", ulid::Ulid::new().to_string().to_lowercase());
        if let Err(e) = definition.create(&client, &table).await {
            eprintln!("reset-bench: {e}");
            std::process::exit(1);
        }
        let ledger = DynamoLedger::new(client.clone(), table, PlanCatalog::default());
        let accounts = stale_accounts(n);
        let seeding = Instant::now();
        let chunks: Vec<Vec<Account>> = accounts
            .chunks(n.div_ceil(8).max(1))
            .map(<[_]>::to_vec)
            .collect();
        let results =
            futures::future::join_all(chunks.iter().map(|c| ledger.import_accounts(c))).await;
        if let Some(Err(e)) = results.into_iter().find(Result::is_err) {
            eprintln!("reset-bench: seeding failed: {e}");
            std::process::exit(1);
        }
        let seeded_in = seeding.elapsed();
        let now = Utc
            .with_ymd_and_hms(2026, 11, 1, 0, 0, 5)
            .single()
            .unwrap_or_default();
        let report = reset(
            &ledger,
            now,
            Instant::now() + Duration::from_secs(24 * 3600),
            &options,
        )
        .await;
        if !report.complete || report.rolled != n as u64 {
            eprintln!("reset-bench: run {run} did not roll every account: {report:?}");
            std::process::exit(1);
        }
        let rate = n as f64 / report.seconds;
        println!(
            "run {run}: seeded in {:.1} s; rolled {} accounts in {:.1} s = {rate:.0} accounts/s (conflicts retried {})",
            seeded_in.as_secs_f64(),
            report.rolled,
            report.seconds,
            report.conflicts_retried
        );
        rates.push(rate);
    }
    let median = median(&mut rates);
    println!("median: {median:.0} accounts/s");
    println!(
        "{}",
        serde_json::json!({ "reset_accounts": n, "runs": runs, "reset_accounts_per_second": median.round() })
    );
}
