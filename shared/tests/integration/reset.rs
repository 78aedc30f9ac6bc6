//! The monthly reset at scale on DynamoDB Local, with reservations racing it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use awaknow_core::domain::EndReason;
use awaknow_core::domain::{Account, Period, PlanCatalog, PlanId, UserId};
use awaknow_core::service::reset::{ResetOptions, reset};
use awaknow_core::store::{Closed, Closing, DynamoLedger, Reserved};
use aws_sdk_dynamodb::types::AttributeValue;
use futures::future::join_all;

use crate::support::{alone, at, fresh_ledger, user};

fn accounts_under_test() -> usize {
    std::env::var("RESET_TEST_ACCOUNTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(20_000)
}

/// `n` accounts in `period`, with varied plans and totals that keep the invariant.
fn accounts(prefix: &str, n: usize, period_start: &str) -> Vec<Account> {
    let catalog = PlanCatalog::default();
    (0..n)
        .map(|i| {
            let plan = PlanId::ALL[i % 3];
            let mut account = Account::fresh(
                user(&format!("{prefix}{i}")),
                plan,
                &catalog,
                at(period_start),
            );
            account.used_minutes = (i as i64 * 7) % (account.limit_minutes - 3);
            account.reserved_minutes = (i as i64) % 3;
            account.available_minutes =
                account.limit_minutes - account.used_minutes - account.reserved_minutes;
            account
        })
        .collect()
}

async fn import(ledger: &Arc<DynamoLedger>, accounts: &[Account]) {
    let chunks: Vec<Vec<Account>> = accounts
        .chunks(accounts.len().div_ceil(8).max(1))
        .map(<[_]>::to_vec)
        .collect();
    let tasks = chunks.into_iter().map(|chunk| {
        let ledger = Arc::clone(ledger);
        tokio::spawn(async move { ledger.import_accounts(&chunk).await })
    });
    for t in join_all(tasks).await {
        t.expect("import task").expect("import accounts");
    }
}

/// Every item of the table, by (pk, sk).
async fn scan(ledger: &DynamoLedger) -> HashMap<(String, String), HashMap<String, AttributeValue>> {
    let mut all = HashMap::new();
    let mut start = None;
    loop {
        let out = ledger
            .client()
            .scan()
            .table_name(ledger.table())
            .set_exclusive_start_key(start)
            .send()
            .await
            .unwrap();
        for item in out.items.unwrap_or_default() {
            let key = |k: &str| match item.get(k) {
                Some(AttributeValue::S(v)) => v.clone(),
                _ => String::new(),
            };
            all.insert((key("pk"), key("sk")), item);
        }
        match out.last_evaluated_key {
            Some(k) => start = Some(k),
            None => return all,
        }
    }
}

fn num(item: &HashMap<String, AttributeValue>, field: &str) -> i64 {
    match item.get(field) {
        Some(AttributeValue::N(v)) => v.parse().unwrap(),
        other => panic!("{field}: {other:?}"),
    }
}

fn text<'a>(item: &'a HashMap<String, AttributeValue>, field: &str) -> &'a str {
    match item.get(field) {
        Some(AttributeValue::S(v)) => v,
        other => panic!("{field}: {other:?}"),
    }
}

/// Checks the table after a reset into November: old accounts rolled once with exact history,
/// current ones untouched but for their own reservations.
fn check(
    items: &HashMap<(String, String), HashMap<String, AttributeValue>>,
    old: &[Account],
    current: &[Account],
    granted: &HashMap<UserId, i64>,
) {
    for account in old {
        let pk = format!("USER#{}", account.user_id);
        let item = &items[&(pk.clone(), "ACCOUNT".to_owned())];
        let reserved = granted.get(&account.user_id).copied().unwrap_or(0);
        assert_eq!(text(item, "period"), "2026-11", "{pk}");
        assert_eq!(
            (num(item, "used_minutes"), num(item, "reserved_minutes")),
            (0, reserved),
            "{pk}"
        );
        assert_eq!(
            num(item, "available_minutes"),
            num(item, "limit_minutes") - reserved,
            "{pk}: the invariant"
        );
        let history = items
            .get(&(pk.clone(), "PERIOD#2026-10".to_owned()))
            .unwrap_or_else(|| panic!("{pk}: no history"));
        assert_eq!(
            num(history, "used_minutes"),
            account.used_minutes,
            "{pk}: history used"
        );
        assert_eq!(
            num(history, "open_reserved_minutes"),
            account.reserved_minutes,
            "{pk}: history reserved"
        );
        assert_eq!(
            num(history, "limit_minutes"),
            account.limit_minutes,
            "{pk}: history limit"
        );
    }
    for account in current {
        let pk = format!("USER#{}", account.user_id);
        let item = &items[&(pk.clone(), "ACCOUNT".to_owned())];
        let reserved = granted.get(&account.user_id).copied().unwrap_or(0);
        assert_eq!(text(item, "period"), "2026-11", "{pk}");
        assert_eq!(
            num(item, "used_minutes"),
            account.used_minutes,
            "{pk}: a current account is not reset"
        );
        assert_eq!(
            num(item, "reserved_minutes"),
            account.reserved_minutes + reserved,
            "{pk}"
        );
        assert_eq!(
            num(item, "available_minutes"),
            account.available_minutes - reserved,
            "{pk}"
        );
        if reserved == 0 {
            let stored = chrono::DateTime::parse_from_rfc3339(text(item, "updated_at")).unwrap();
            assert_eq!(stored, account.updated_at, "{pk}: untouched");
        }
        assert!(
            !items.contains_key(&(pk, "PERIOD#2026-10".to_owned())),
            "a current account has no new history"
        );
    }
    let histories = items
        .keys()
        .filter(|(_, sk)| sk.starts_with("PERIOD#"))
        .count();
    assert_eq!(histories, old.len(), "one history item per old account");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_stale_account_rolls_exactly_once_while_reservations_run() {
    let ledger = Arc::new(fresh_ledger().await);
    let n = accounts_under_test();
    let old = accounts("old", n, "2026-10-15T12:00:00Z");
    let current = accounts("cur", n / 10, "2026-11-01T00:01:00Z");
    import(&ledger, &old).await;
    import(&ledger, &current).await;
    let now = at("2026-11-01T00:05:00Z");

    // Reservations from both kinds of account race the reset; those on old accounts roll them
    // over themselves first.
    let racers: Vec<UserId> = old
        .iter()
        .step_by(50)
        .chain(current.iter().step_by(10))
        .map(|a| a.user_id.clone())
        .collect();
    let reservations = join_all(racers.iter().map(|u| {
        let ledger = Arc::clone(&ledger);
        let request = alone(u, 1, now);
        tokio::spawn(async move { ledger.reserve(request).await })
    }));
    let started = Instant::now();
    let options = ResetOptions::default();
    let (report, reserved) = tokio::join!(
        reset(
            &ledger,
            now,
            Instant::now() + Duration::from_secs(600),
            &options
        ),
        reservations
    );
    let elapsed = started.elapsed();
    let mut granted: HashMap<UserId, i64> = HashMap::new();
    for r in reserved {
        match r.expect("reservation task").expect("reservation") {
            Reserved::New(s) => {
                *granted.entry(s.owner_id).or_default() += i64::from(s.reserved_minutes)
            }
            Reserved::Replayed(_) => panic!("no idempotency key was sent"),
        }
    }
    assert!(report.complete, "{report:?}");
    assert_eq!(report.failed, 0, "{report:?}");
    // The racing reservations rolled some old accounts themselves, before the reset reached
    // them; the table check below proves every old account rolled, once.
    let raced_old = old.iter().step_by(50).count() as u64;
    let by_reset = report.rolled + report.already_current;
    assert!(
        by_reset <= n as u64 && by_reset + raced_old >= n as u64,
        "{report:?}"
    );
    println!(
        "reset of {n} stale accounts beside {} current, with {} reservations racing: {report:?} in {elapsed:?}",
        n / 10,
        racers.len()
    );

    check(&scan(&ledger).await, &old, &current, &granted);

    let again = reset(
        &ledger,
        now,
        Instant::now() + Duration::from_secs(60),
        &ResetOptions::default(),
    )
    .await;
    assert_eq!(
        (again.rolled, again.already_current, again.complete),
        (0, 0, true),
        "a rerun changes nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reset_stopped_midway_and_rerun_reaches_the_same_state() {
    let ledger = Arc::new(fresh_ledger().await);
    let old = accounts("halt", 3000, "2026-10-15T12:00:00Z");
    let current = accounts("stay", 300, "2026-11-01T00:01:00Z");
    import(&ledger, &old).await;
    import(&ledger, &current).await;
    let now = at("2026-11-01T00:05:00Z");
    let slow = ResetOptions {
        shard_concurrency: 2,
        account_concurrency: 2,
        page: 25,
        ..ResetOptions::default()
    };

    let first = reset(
        &ledger,
        now,
        Instant::now() + Duration::from_millis(400),
        &slow,
    )
    .await;
    assert!(
        !first.complete,
        "the artificial deadline must stop it: {first:?}"
    );
    assert!(first.rolled < 3000);
    let second = reset(
        &ledger,
        now,
        Instant::now() + Duration::from_secs(600),
        &ResetOptions::default(),
    )
    .await;
    assert!(second.complete, "{second:?}");
    assert_eq!(
        first.rolled + second.rolled,
        3000,
        "{first:?} then {second:?}"
    );
    check(&scan(&ledger).await, &old, &current, &HashMap::new());
}

#[tokio::test]
async fn a_session_in_flight_across_the_reset_settles_into_the_old_period() {
    let ledger = fresh_ledger().await;
    let owner = user("boundary");
    let october = at("2026-10-31T23:58:00Z");
    let Reserved::New(session) = ledger.reserve(alone(&owner, 20, october)).await.unwrap() else {
        panic!()
    };
    let report = reset(
        &ledger,
        at("2026-11-01T00:00:10Z"),
        Instant::now() + Duration::from_secs(60),
        &ResetOptions::default(),
    )
    .await;
    assert_eq!(report.rolled, 1);
    let closed = ledger
        .close(Closing::settle(
            &session,
            6,
            EndReason::ParticipantLeft,
            at("2026-11-01T00:03:30Z"),
        ))
        .await
        .unwrap();
    assert_eq!(closed, Closed::IntoHistory);
    let history = ledger
        .read_history(&owner, "2026-10".parse::<Period>().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            history.used_minutes,
            history.open_reserved_minutes,
            history.late_settlements
        ),
        (6, 0, 1)
    );
    let account = ledger.read_account(&owner).await.unwrap().unwrap();
    assert_eq!(
        (
            account.used_minutes,
            account.reserved_minutes,
            account.available_minutes
        ),
        (0, 0, 25)
    );
}
