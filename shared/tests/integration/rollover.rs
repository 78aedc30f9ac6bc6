//! Periods: the lazy rollover, late settlements into the history, and plan changes.

use awaknow_core::domain::{Account, EndReason, Period, PlanId};
use awaknow_core::store::{Closed, Closing, Reserved, RolledOver};

use crate::support::{alone, at, fresh_ledger, user};

#[tokio::test]
async fn a_request_in_a_new_month_rolls_the_account_over_and_archives_the_old_one() {
    let ledger = fresh_ledger().await;
    let owner = user("roll");
    let october = at("2026-10-20T10:00:00Z");
    let Reserved::New(session) = ledger.reserve(alone(&owner, 10, october)).await.unwrap() else {
        panic!()
    };
    ledger
        .close(Closing::settle(&session, 9, EndReason::UserEnded, october))
        .await
        .unwrap();

    let november = at("2026-11-02T08:00:00Z");
    let Reserved::New(next) = ledger.reserve(alone(&owner, 5, november)).await.unwrap() else {
        panic!()
    };
    assert_eq!(next.period.to_string(), "2026-11");
    let account = ledger.read_account(&owner).await.unwrap().unwrap();
    assert_eq!(account.period.to_string(), "2026-11");
    assert_eq!(
        (
            account.used_minutes,
            account.reserved_minutes,
            account.available_minutes
        ),
        (0, 5, 20)
    );
    let history = ledger
        .read_history(&owner, "2026-10".parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            history.used_minutes,
            history.open_reserved_minutes,
            history.limit_minutes
        ),
        (9, 0, 25)
    );
    // Rolling again changes nothing.
    assert_eq!(
        ledger.roll_over(&owner, november).await.unwrap(),
        RolledOver::AlreadyCurrent
    );
}

#[tokio::test]
async fn a_session_that_ends_after_the_rollover_is_settled_into_its_own_period() {
    let ledger = fresh_ledger().await;
    let owner = user("late");
    let october = at("2026-10-31T23:50:00Z");
    let Reserved::New(session) = ledger.reserve(alone(&owner, 20, october)).await.unwrap() else {
        panic!()
    };
    let Reserved::New(_other) = ledger.reserve(alone(&owner, 5, october)).await.unwrap() else {
        panic!()
    };

    let november = at("2026-11-01T00:00:05Z");
    let rolled = ledger.roll_over(&owner, november).await.unwrap();
    assert_eq!(
        rolled,
        RolledOver::Rolled {
            from: "2026-10".parse().unwrap(),
            to: "2026-11".parse().unwrap()
        }
    );
    let before = ledger.read_account(&owner).await.unwrap().unwrap();

    let closed = ledger
        .close(Closing::settle(
            &session,
            12,
            EndReason::ParticipantLeft,
            at("2026-11-01T00:01:10Z"),
        ))
        .await
        .unwrap();
    assert_eq!(closed, Closed::IntoHistory);
    // A duplicate of the same callback charges nothing more.
    let again = ledger
        .close(Closing::settle(
            &session,
            12,
            EndReason::ParticipantLeft,
            at("2026-11-01T00:01:10Z"),
        ))
        .await
        .unwrap();
    assert_eq!(again, Closed::AlreadyClosed);

    let after = ledger.read_account(&owner).await.unwrap().unwrap();
    assert_eq!(
        Account {
            open_sessions: before.open_sessions - 1,
            ..before
        },
        after,
        "the new period's minutes are left alone; the session's place is given back"
    );
    assert_eq!(after.open_sessions, 1, "the other session is still open");
    assert_eq!(
        (
            after.used_minutes,
            after.reserved_minutes,
            after.available_minutes
        ),
        (0, 0, 25)
    );
    let history = ledger
        .read_history(&owner, "2026-10".parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(history.used_minutes, 12);
    assert_eq!(
        history.open_reserved_minutes, 5,
        "the other session is still open in October"
    );
    assert_eq!(history.late_settlements, 1);
}

#[tokio::test]
async fn usage_of_a_stale_account_shows_the_new_period_without_writing() {
    let ledger = fresh_ledger().await;
    let owner = user("stale");
    ledger
        .reserve(alone(&owner, 25, at("2026-10-10T10:00:00Z")))
        .await
        .unwrap();
    let usage = ledger
        .usage(&owner, at("2026-11-10T10:00:00Z"))
        .await
        .unwrap();
    assert_eq!(
        (usage.period.to_string().as_str(), usage.remaining_minutes),
        ("2026-11", 25)
    );
    let account = ledger.read_account(&owner).await.unwrap().unwrap();
    assert_eq!(
        account.period.to_string(),
        "2026-10",
        "reading must not write"
    );
}

#[tokio::test]
async fn an_upgrade_adds_the_difference_and_a_downgrade_can_overdraw() {
    let ledger = fresh_ledger().await;
    let owner = user("plans");
    let now = at("2026-11-24T10:00:00Z");
    let Reserved::New(session) = ledger.reserve(alone(&owner, 20, now)).await.unwrap() else {
        panic!()
    };

    let up = ledger
        .change_plan(&owner, PlanId::ReflectPlus, now)
        .await
        .unwrap();
    assert_eq!(
        (up.limit_minutes, up.reserved_minutes, up.available_minutes),
        (100, 20, 80)
    );
    ledger
        .close(Closing::settle(&session, 60, EndReason::UserEnded, now))
        .await
        .unwrap();

    let down = ledger.change_plan(&owner, PlanId::Free, now).await.unwrap();
    assert_eq!(
        (
            down.limit_minutes,
            down.used_minutes,
            down.available_minutes
        ),
        (25, 60, -35)
    );
    assert!(down.is_consistent());
    assert!(matches!(
        ledger.reserve(alone(&owner, 1, now)).await,
        Err(awaknow_core::LedgerError::MinutesExhausted {
            remaining_minutes: 0,
            ..
        })
    ));
    // The next month starts clean on the new plan.
    let december = at("2026-12-01T00:00:01Z");
    assert!(matches!(
        ledger.reserve(alone(&owner, 1, december)).await.unwrap(),
        Reserved::New(_)
    ));
    let history = ledger
        .read_history(&owner, Period::containing(now))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((history.plan, history.used_minutes), (PlanId::Free, 60));
}

/// A request whose clock read the old month reaches the ledger after the monthly reset rolled
/// the account into the new one (the month turned while it ran): it reserves in the account's
/// month, not a 500. Found by the fault campaign (seed 77).
#[tokio::test]
async fn a_request_that_read_the_old_month_reserves_in_the_new_one() {
    let ledger = fresh_ledger().await;
    let owner = user("turn");
    let december = at("2026-12-31T23:59:59.900Z");
    let january = at("2027-01-01T00:00:00.100Z");
    ledger.ensure_account(&owner, december).await.unwrap();
    assert!(matches!(
        ledger.roll_over(&owner, january).await.unwrap(),
        RolledOver::Rolled { .. }
    ));
    let Reserved::New(late) = ledger.reserve(alone(&owner, 5, december)).await.unwrap() else {
        panic!("a new session")
    };
    assert_eq!(late.period.to_string(), "2027-01");
    let account = ledger.read_account(&owner).await.unwrap().unwrap();
    assert_eq!(
        (
            account.period.to_string().as_str(),
            account.reserved_minutes,
            account.sessions
        ),
        ("2027-01", 5, 1)
    );
    // It settles into the account's month like any other.
    let closed = ledger
        .close(Closing::settle(&late, 3, EndReason::UserEnded, january))
        .await
        .unwrap();
    assert_eq!(closed, Closed::IntoAccount);
}
