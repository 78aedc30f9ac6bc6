//! The audit's accounts check: accounts read per second on DynamoDB Local, and the read units
//! each account costs on DynamoDB, so the cost of a run at any number of accounts is arithmetic.
//!
//! `DYNAMODB_ENDPOINT=... audit-bench` (scripts/bench-audit.sh starts DynamoDB Local for it).
//! `ACCOUNTS` (5000) accounts, each with `SESSIONS` (12) ended sessions that add up, are imported
//! into a fresh table from template.yaml; the figures check then reads every one of them
//! (`CONCURRENCY`, 16, at once), `RUNS` (3) times, each on a new table. A run that finds a
//! disagreement, or reads fewer accounts than it seeded, fails.
//!
//! Read units: DynamoDB charges a strongly consistent read one unit per 4 KB of the items a
//! request returns, rounded up, and at least one. The audit makes four such reads per account
//! (the account item, and Queries of its history, its sessions and its erased records); the
//! bench reads a sample of the seeded partitions the same way, asking DynamoDB Local for the
//! consumed capacity of each. Also the CPU this process spends per account (the SDK's work: what
//! a Lambda pays for, whatever the database). Prints each run, the medians, and the JSON line
//! `{"audit_accounts_per_second": ..., "read_units_per_account": ...}` last.

use std::time::{Duration, Instant};

use awaknow_core::domain::{
    Account, EndReason, Period, PlanCatalog, PlanId, Session, SessionId, SessionStatus,
    SessionType, UserId,
};
use awaknow_core::service::audit::{AccountSample, AuditOptions, accounts};
use awaknow_core::store::{DynamoLedger, keys};
use aws_sdk_dynamodb::types::{AttributeValue, ReturnConsumedCapacity};
use bench::{env_number, median};
use chrono::{DateTime, Utc};

fn fail(message: String) -> ! {
    eprintln!("audit-bench: {message}");
    std::process::exit(1)
}

/// An account of this month with `sessions` ended calls of 1 to 4 minutes, and the sessions.
fn account_with_sessions(i: usize, sessions: usize, now: DateTime<Utc>) -> (Account, Vec<Session>) {
    let user = UserId::parse(&format!("audit-bench-{i}-{}", ulid::Ulid::new()))
        .unwrap_or_else(|e| fail(e.to_string()));
    let calls: Vec<Session> = (0..sessions)
        .map(|n| {
            let created = now - chrono::Duration::hours(1 + n as i64);
            let charged = 1 + ((i + n) % 4) as u32;
            Session {
                session_id: SessionId::new_at(created),
                owner_id: user.clone(),
                session_type: SessionType::ReflectAlone,
                participants: Vec::new(),
                status: SessionStatus::Ended,
                period: Period::containing(now),
                reserved_minutes: 10,
                charged_minutes: Some(charged),
                conversation_id: Some(format!("c{:x}", ulid::Ulid::new().0)),
                conversation_url: None,
                meeting_token: None,
                created_at: created,
                ended_at: Some(created + chrono::Duration::minutes(i64::from(charged))),
                end_reason: Some(EndReason::ParticipantLeft),
                playback: Default::default(),
            }
        })
        .collect();
    let catalog = PlanCatalog::default();
    let mut account = Account::fresh(user, PlanId::ResolveTogether, &catalog, now);
    account.used_minutes = calls
        .iter()
        .map(|s| i64::from(s.charged_minutes.unwrap_or(0)))
        .sum();
    account.available_minutes = account.limit_minutes - account.used_minutes;
    account.sessions = calls.len() as i64;
    (account, calls)
}

/// A fresh table with `n` accounts and their sessions.
async fn seeded(
    client: &aws_sdk_dynamodb::Client,
    definition: &local_stack::TableDefinition,
    n: usize,
    sessions: usize,
    now: DateTime<Utc>,
) -> (DynamoLedger, Vec<UserId>, Duration) {
    let ledger = bench::new_table(client, definition, "audit-bench")
        .await
        .unwrap_or_else(|e| fail(e));
    let started = Instant::now();
    let seeds: Vec<(Account, Vec<Session>)> = (0..n)
        .map(|i| account_with_sessions(i, sessions, now))
        .collect();
    let chunks: Vec<&[(Account, Vec<Session>)]> = seeds.chunks(n.div_ceil(8).max(1)).collect();
    let writes = chunks.iter().map(|chunk| {
        let ledger = ledger.clone();
        async move {
            let accounts: Vec<Account> = chunk.iter().map(|(a, _)| a.clone()).collect();
            let calls: Vec<Session> = chunk.iter().flat_map(|(_, s)| s.clone()).collect();
            ledger.import_accounts(&accounts).await?;
            ledger.import_closed_sessions(&calls).await
        }
    });
    for result in futures::future::join_all(writes).await {
        if let Err(e) = result {
            fail(format!("seeding failed: {e}"));
        }
    }
    let users = seeds.into_iter().map(|(a, _)| a.user_id).collect();
    (ledger, users, started.elapsed())
}

/// The read units of one account's four consistent reads, as DynamoDB Local reports them.
async fn read_units(ledger: &DynamoLedger, user: &UserId) -> f64 {
    let client = ledger.client();
    let pk = AttributeValue::S(keys::user_pk(user));
    let account = client
        .get_item()
        .table_name(ledger.table())
        .key(keys::PK, pk.clone())
        .key(keys::SK, AttributeValue::S(keys::ACCOUNT_SK.into()))
        .consistent_read(true)
        .return_consumed_capacity(ReturnConsumedCapacity::Total)
        .send()
        .await
        .unwrap_or_else(|e| fail(format!("GetItem: {e}")));
    let mut units = account
        .consumed_capacity()
        .and_then(|c| c.capacity_units())
        .unwrap_or(f64::NAN);
    for prefix in [
        keys::PERIOD_SK_PREFIX,
        keys::SESSION_SK_PREFIX,
        keys::ERASED_SESSION_SK_PREFIX,
    ] {
        let query = client
            .query()
            .table_name(ledger.table())
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", pk.clone())
            .expression_attribute_values(":prefix", AttributeValue::S(prefix.into()))
            .consistent_read(true)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .unwrap_or_else(|e| fail(format!("Query: {e}")));
        // DynamoDB charges at least one unit for a consistent read that returns nothing.
        let consumed = query
            .consumed_capacity()
            .and_then(|c| c.capacity_units())
            .unwrap_or(f64::NAN);
        units += consumed.max(1.0);
    }
    units
}

#[tokio::main]
async fn main() {
    let Ok(endpoint) = std::env::var("DYNAMODB_ENDPOINT") else {
        fail("DYNAMODB_ENDPOINT is not set (run scripts/bench-audit.sh)".into());
    };
    let n: usize = env_number("ACCOUNTS", 5_000);
    let sessions: usize = env_number("SESSIONS", 12);
    let runs: usize = env_number("RUNS", 3);
    let options = AuditOptions {
        accounts: AccountSample::All,
        concurrency: env_number("CONCURRENCY", AuditOptions::default().concurrency),
        ..AuditOptions::default()
    };
    let definition =
        local_stack::TableDefinition::from_template_file(&local_stack::template_path())
            .unwrap_or_else(|e| fail(e.to_string()));
    let client = local_stack::local_client(&endpoint).await;
    println!(
        "audit benchmark: {n} accounts of {sessions} sessions each, {runs} run(s), {} accounts at once",
        options.concurrency
    );
    let now = Utc::now();
    let (mut rates, mut units, mut cpu) = (Vec::new(), Vec::new(), Vec::new());
    for run in 1..=runs {
        let (ledger, users, seeded_in) = seeded(&client, &definition, n, sessions, now).await;
        let cpu_before = bench::cpu_seconds(None).unwrap_or(f64::NAN);
        let started = Instant::now();
        let deadline = started + Duration::from_secs(24 * 3600);
        let (result, _) = accounts::check(&ledger, &options, now, deadline).await;
        let seconds = started.elapsed().as_secs_f64();
        let cpu_ms =
            (bench::cpu_seconds(None).unwrap_or(f64::NAN) - cpu_before) * 1000.0 / n as f64;
        if result.checked != n as u64 || !result.findings.is_empty() || !result.complete {
            fail(format!(
                "the check read {} of {n} accounts, {} findings, complete {}",
                result.checked,
                result.findings.len(),
                result.complete
            ));
        }
        for user in users.iter().step_by((n / 100).max(1)) {
            units.push(read_units(&ledger, user).await);
        }
        bench::drop_table(&ledger).await;
        let rate = n as f64 / seconds;
        println!(
            "run {run}: seeded in {:.1} s; checked {n} accounts in {seconds:.1} s, {rate:.0} accounts/s; client CPU {cpu_ms:.3} ms per account",
            seeded_in.as_secs_f64()
        );
        rates.push(rate);
        cpu.push(cpu_ms);
    }
    let rate = median(&mut rates);
    let per_account = median(&mut units);
    let cpu_ms = median(&mut cpu);
    println!(
        "median: {rate:.0} accounts/s on DynamoDB Local; {per_account:.1} read units per account ({sessions} sessions); client CPU {cpu_ms:.3} ms per account"
    );
    println!(
        "{}",
        serde_json::json!({
            "audit_accounts": n,
            "sessions_per_account": sessions,
            "runs": runs,
            "concurrency": options.concurrency,
            "audit_accounts_per_second": rate.round(),
            "read_units_per_account": per_account,
            "client_cpu_ms_per_account": cpu_ms,
        })
    );
}
