//! Real concurrency: many tasks, one account, one table. The claims are that no amount of
//! concurrency overspends the minutes, loses a grant, or rolls an account over twice.

use std::sync::Arc;

use awaknow_core::LedgerError;
use awaknow_core::domain::UserId;
use awaknow_core::domain::{PlanId, Session};
use awaknow_core::store::{DynamoLedger, Reserved, RolledOver};
use chrono::{DateTime, Utc};
use futures::future::join_all;

use crate::support::{alone, at, fresh_ledger_with_cap, user};

/// These tests race many reservations on one account to show the minutes hold: the cap on open
/// sessions (tested in open_sessions.rs) is raised out of their way.
const UNCAPPED: u32 = 1_000;

/// Fires `sizes.len()` reservations at once and returns the granted sessions and the refusals.
async fn race(
    ledger: &Arc<DynamoLedger>,
    owner: &UserId,
    sizes: &[u32],
    now: DateTime<Utc>,
) -> (Vec<Session>, usize) {
    let tasks = sizes.iter().map(|&minutes| {
        let ledger = Arc::clone(ledger);
        let request = alone(owner, minutes, now);
        tokio::spawn(async move { ledger.reserve(request).await })
    });
    let mut granted = Vec::new();
    let mut refused = 0;
    for outcome in join_all(tasks).await {
        match outcome.expect("task panicked") {
            Ok(Reserved::New(session)) => granted.push(session),
            Ok(Reserved::Replayed(_)) => panic!("no idempotency key was sent"),
            Err(LedgerError::MinutesExhausted { .. }) => refused += 1,
            Err(other) => panic!("unexpected error under concurrency: {other}"),
        }
    }
    (granted, refused)
}

/// Every session the ledger recorded for the owner.
async fn recorded_sessions(ledger: &DynamoLedger, owner: &UserId) -> Vec<Session> {
    let mut all = Vec::new();
    let mut cursor = None;
    loop {
        let page = ledger.list_sessions(owner, 100, cursor).await.unwrap();
        all.extend(page.sessions.into_iter().map(|(s, _)| s));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return all,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_one_minute_reservations_grant_exactly_the_free_allowance_twenty_times() {
    let ledger = Arc::new(fresh_ledger_with_cap(UNCAPPED).await);
    let now = at("2026-11-24T10:00:00Z");
    for round in 0..20 {
        let owner = user(&format!("race{round}"));
        let (granted, refused) = race(&ledger, &owner, &[1; 200], now).await;
        assert_eq!(granted.len(), 25, "round {round}: granted");
        assert_eq!(refused, 175, "round {round}: refused");
        let account = ledger.read_account(&owner).await.unwrap().unwrap();
        assert_eq!(
            (account.reserved_minutes, account.available_minutes),
            (25, 0),
            "round {round}"
        );
        assert!(account.is_consistent());
        assert_eq!(
            recorded_sessions(&ledger, &owner).await.len(),
            25,
            "round {round}: sessions recorded"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mixed_sizes_never_exceed_the_limit_and_lose_no_grant() {
    let ledger = Arc::new(fresh_ledger_with_cap(UNCAPPED).await);
    let now = at("2026-11-24T10:00:00Z");
    for round in 0..10u32 {
        let owner = user(&format!("mixed{round}"));
        // Sizes 1 to 7 in a different order each round.
        let sizes: Vec<u32> = (0..60u32).map(|i| (i * 7 + round * 3) % 7 + 1).collect();
        let (granted, _) = race(&ledger, &owner, &sizes, now).await;
        let granted_minutes: u32 = granted.iter().map(|s| s.reserved_minutes).sum();
        let account = ledger.read_account(&owner).await.unwrap().unwrap();
        assert!(account.is_consistent(), "round {round}: {account:?}");
        assert!(
            account.available_minutes >= 0,
            "round {round}: overspent {account:?}"
        );
        assert_eq!(
            granted_minutes, 25,
            "round {round}: every minute granted once, none twice"
        );
        assert_eq!(
            account.reserved_minutes,
            i64::from(granted_minutes),
            "round {round}"
        );
        let mut recorded: Vec<_> = recorded_sessions(&ledger, &owner)
            .await
            .into_iter()
            .map(|s| (s.session_id, s.reserved_minutes))
            .collect();
        let mut returned: Vec<_> = granted
            .iter()
            .map(|s| (s.session_id, s.reserved_minutes))
            .collect();
        recorded.sort();
        returned.sort();
        assert_eq!(
            recorded, returned,
            "round {round}: each grant is a recorded session"
        );
        for session in &granted {
            assert!((1..=7).contains(&session.reserved_minutes));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_requests_roll_a_stale_account_over_exactly_once() {
    let ledger = Arc::new(fresh_ledger_with_cap(UNCAPPED).await);
    let owner = user("stale");
    let october = at("2026-10-15T12:00:00Z");
    ledger.ensure_account(&owner, october).await.unwrap();
    let (granted, _) = race(&ledger, &owner, &[17], october).await;
    assert_eq!(granted.len(), 1);

    // Half the racers only roll over, half reserve (which rolls over on the way).
    let november = at("2026-11-01T00:00:30Z");
    let rollers = (0..25).map(|_| {
        let ledger = Arc::clone(&ledger);
        let owner = owner.clone();
        tokio::spawn(async move { ledger.roll_over(&owner, november).await })
    });
    let (rolled, reserved) =
        tokio::join!(join_all(rollers), race(&ledger, &owner, &[1; 25], november));
    let rolled_count = rolled
        .into_iter()
        .filter(|r| {
            matches!(
                r.as_ref()
                    .expect("task panicked")
                    .as_ref()
                    .expect("roll over"),
                RolledOver::Rolled { .. }
            )
        })
        .count();
    assert!(rolled_count <= 1, "rolled {rolled_count} times");

    let history = ledger
        .read_history(&owner, "2026-10".parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (history.used_minutes, history.open_reserved_minutes),
        (0, 17),
        "history is exact"
    );
    let account = ledger.read_account(&owner).await.unwrap().unwrap();
    assert_eq!(account.period.to_string(), "2026-11");
    assert!(account.is_consistent());
    // Every November grant survived: a second rollover would have wiped some of them.
    assert_eq!(reserved.0.len(), 25);
    assert_eq!(
        (account.reserved_minutes, account.available_minutes),
        (25, 0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn plan_changes_racing_reservations_keep_the_invariant() {
    let ledger = Arc::new(fresh_ledger_with_cap(UNCAPPED).await);
    let owner = user("planrace");
    let now = at("2026-11-24T10:00:00Z");
    ledger.ensure_account(&owner, now).await.unwrap();
    let plans = [
        PlanId::ReflectPlus,
        PlanId::Free,
        PlanId::ResolveTogether,
        PlanId::Free,
        PlanId::ReflectPlus,
    ];
    let changes = plans.into_iter().cycle().take(20).map(|plan| {
        let ledger = Arc::clone(&ledger);
        let owner = owner.clone();
        tokio::spawn(async move { ledger.change_plan(&owner, plan, now).await })
    });
    let sizes: Vec<u32> = (0..80u32).map(|i| i % 5 + 1).collect();
    let (changed, (granted, _)) =
        tokio::join!(join_all(changes), race(&ledger, &owner, &sizes, now));
    for outcome in changed {
        outcome.expect("task panicked").expect("plan change");
    }
    let account = ledger.read_account(&owner).await.unwrap().unwrap();
    assert!(account.is_consistent(), "{account:?}");
    let granted_minutes: i64 = granted.iter().map(|s| i64::from(s.reserved_minutes)).sum();
    assert_eq!(account.reserved_minutes, granted_minutes);
    assert_eq!(
        account.limit_minutes,
        i64::from(ledger.plans().monthly_minutes(account.plan))
    );
}
