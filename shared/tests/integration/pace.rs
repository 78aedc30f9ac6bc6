//! The pace of creates per user, on DynamoDB Local: a condition of the reservation's own write
//! on the account item, so no amount of concurrency creates more than the pace allows, a refused
//! create reserves nothing, and the refusal says when to come back.

use std::sync::Arc;

use awaknow_core::LedgerError;
use awaknow_core::domain::{CreatePace, UserId};
use awaknow_core::store::{DynamoLedger, Reserved};
use chrono::{DateTime, Duration, Utc};
use futures::future::join_all;

use crate::support::{alone, at, fresh_ledger_with_cap, user};

const NOW: &str = "2026-11-24T10:00:00Z";

async fn paced_ledger(per_minute: u32) -> DynamoLedger {
    let pace = CreatePace::per_minute(per_minute).expect("a pace of at least one");
    // A cap on open sessions well above the pace, so only the pace can refuse.
    fresh_ledger_with_cap(100).await.with_create_pace(pace)
}

/// Reserves one minute for `owner` at `now`: `Ok(true)` granted, `Ok(false)` refused by the
/// pace (with its Retry-After), any other error is the test's failure.
async fn create(ledger: &DynamoLedger, owner: &UserId, now: DateTime<Utc>) -> Result<(), u32> {
    match ledger.reserve(alone(owner, 1, now)).await {
        Ok(Reserved::New(_)) => Ok(()),
        Ok(Reserved::Replayed(s)) => panic!("no idempotency key, yet a replay of {}", s.session_id),
        Err(LedgerError::RateLimited {
            retry_after_seconds,
            creates_per_minute,
        }) => {
            assert_eq!(
                creates_per_minute,
                ledger.create_pace().map_or(0, |p| p.creates_per_minute())
            );
            Err(retry_after_seconds)
        }
        Err(other) => panic!("unexpected error: {other}"),
    }
}

#[tokio::test]
async fn a_create_past_the_pace_is_refused_with_when_to_retry_and_reserves_nothing() {
    let ledger = paced_ledger(3).await;
    let owner = user("paced");
    let t0 = at(NOW);
    for i in 0..3 {
        create(&ledger, &owner, t0 + Duration::milliseconds(i))
            .await
            .unwrap_or_else(|s| panic!("create {i} of a burst of 3 refused (retry after {s} s)"));
    }
    let before = ledger.usage(&owner, t0).await.expect("usage");
    let retry_after = create(&ledger, &owner, t0 + Duration::milliseconds(10))
        .await
        .expect_err("the fourth create in a second, at 3 a minute, must be refused");
    // 3 a minute: one every 20 s; the first of the burst was paid off 20 s after it.
    assert_eq!(retry_after, 20);
    let after = ledger.usage(&owner, t0).await.expect("usage");
    assert_eq!(
        (after.reserved_minutes, after.open_sessions),
        (before.reserved_minutes, before.open_sessions),
        "a refused create reserves nothing and opens nothing"
    );

    // Coming back when told is enough, and one only.
    let later = t0 + Duration::seconds(i64::from(retry_after)) + Duration::milliseconds(10);
    assert_eq!(create(&ledger, &owner, later).await, Ok(()));
    assert!(create(&ledger, &owner, later).await.is_err());
    // Another user is not held back by this one.
    assert_eq!(create(&ledger, &user("other"), later).await, Ok(()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creates_of_one_user_are_held_to_the_pace() {
    let ledger = Arc::new(paced_ledger(5).await);
    let owner = user("racer");
    let now = at(NOW);
    // The account first, so every racer meets the same item.
    ledger.ensure_account(&owner, now).await.expect("account");
    let tasks = (0..24).map(|_| {
        let ledger = Arc::clone(&ledger);
        let owner = owner.clone();
        tokio::spawn(async move { create(&ledger, &owner, now).await })
    });
    let outcomes: Vec<Result<(), u32>> = join_all(tasks)
        .await
        .into_iter()
        .map(|o| o.expect("task panicked"))
        .collect();
    let granted = outcomes.iter().filter(|o| o.is_ok()).count();
    assert_eq!(granted, 5, "{outcomes:?}");
    let usage = ledger.usage(&owner, now).await.expect("usage");
    assert_eq!((usage.open_sessions, usage.reserved_minutes), (5, 5));
}

#[tokio::test]
async fn a_ledger_without_a_pace_lets_a_burst_through() {
    // The same burst as above on an unpaced ledger: shows the refusals come from the pace.
    let ledger = fresh_ledger_with_cap(100).await;
    let owner = user("unpaced");
    for i in 0..6 {
        assert_eq!(
            create(&ledger, &owner, at(NOW) + Duration::milliseconds(i)).await,
            Ok(())
        );
    }
}
