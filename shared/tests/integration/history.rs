//! Usage history: the count of sessions per period, kept by the reservation's own write and
//! archived by the rollover, on DynamoDB Local.

use awaknow_core::domain::{EndReason, PeriodUsage};
use awaknow_core::store::{Closing, IdempotencyKey, Reserved, RolledOver};

use crate::support::{alone, at, fresh_ledger, user};

fn new_session(reserved: Reserved) -> awaknow_core::domain::Session {
    match reserved {
        Reserved::New(session) => session,
        Reserved::Replayed(s) => panic!("expected a new session, got a replay of {}", s.session_id),
    }
}

fn summary(periods: &[PeriodUsage]) -> Vec<(String, i64, i64)> {
    periods
        .iter()
        .map(|p| (p.period.to_string(), p.sessions, p.used_minutes))
        .collect()
}

#[tokio::test]
async fn sessions_are_counted_per_period_and_archived_at_the_rollover() {
    let ledger = fresh_ledger().await;
    let owner = user("history");
    let october = at("2026-10-20T10:00:00Z");

    // Three sessions in October: one settled, one released (Tavus failed: counted, as created),
    // one created with an Idempotency-Key and retried (counted once).
    let settled = new_session(ledger.reserve(alone(&owner, 5, october)).await.unwrap());
    ledger
        .close(Closing::settle(&settled, 4, EndReason::UserEnded, october))
        .await
        .unwrap();
    let failed = new_session(ledger.reserve(alone(&owner, 5, october)).await.unwrap());
    ledger
        .close(Closing::release(&failed, EndReason::TavusFailed, october))
        .await
        .unwrap();
    let mut keyed = alone(&owner, 3, october);
    keyed.idempotency = Some(IdempotencyKey {
        key: "retry-me".into(),
        fingerprint: "f1".into(),
    });
    let first = new_session(ledger.reserve(keyed.clone()).await.unwrap());
    let Reserved::Replayed(again) = ledger.reserve(keyed).await.unwrap() else {
        panic!("the retry must be a replay")
    };
    assert_eq!(again.session_id, first.session_id);
    ledger
        .close(Closing::settle(&first, 2, EndReason::UserEnded, october))
        .await
        .unwrap();

    let in_october = ledger.usage_history(&owner, october, 12).await.unwrap();
    assert_eq!(summary(&in_october), [("2026-10".into(), 3, 6)]);

    // November's first session rolls the account over: October is archived with its count.
    let november = at("2026-11-02T08:00:00Z");
    new_session(ledger.reserve(alone(&owner, 1, november)).await.unwrap());
    let history = ledger
        .read_history(&owner, "2026-10".parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((history.sessions, history.used_minutes), (3, 6));
    let periods = ledger.usage_history(&owner, november, 12).await.unwrap();
    assert_eq!(
        summary(&periods),
        [("2026-11".into(), 1, 0), ("2026-10".into(), 3, 6)],
        "the current period first, then the archive"
    );
    assert_eq!(
        summary(&ledger.usage_history(&owner, november, 1).await.unwrap()),
        [("2026-11".into(), 1, 0)],
        "the limit holds"
    );

    // A month without a request: the account is shown rolled, its period as closed.
    let january = at("2027-01-05T08:00:00Z");
    let periods = ledger.usage_history(&owner, january, 12).await.unwrap();
    assert_eq!(
        summary(&periods),
        [
            ("2027-01".into(), 0, 0),
            ("2026-11".into(), 1, 0),
            ("2026-10".into(), 3, 6)
        ]
    );
}

#[tokio::test]
async fn the_reset_archives_the_count_and_a_reservation_released_meanwhile_is_not_lost() {
    let ledger = fresh_ledger().await;
    let owner = user("history-race");
    let october = at("2026-10-31T23:00:00Z");
    new_session(ledger.reserve(alone(&owner, 5, october)).await.unwrap());
    let seen = ledger.read_account(&owner).await.unwrap().unwrap();
    assert_eq!(seen.sessions, 1);

    // Between the reset's read and its write, a session is created and released: every minute
    // total is back where it was, but there is one more session. The rollover must not archive
    // the count it read.
    let released = new_session(ledger.reserve(alone(&owner, 5, october)).await.unwrap());
    ledger
        .close(Closing::release(&released, EndReason::TavusFailed, october))
        .await
        .unwrap();
    let november = at("2026-11-01T00:00:05Z");
    assert_eq!(
        ledger.roll_over_from(&seen, november).await.unwrap(),
        awaknow_core::store::dynamo::RollAttempt::Raced
    );
    assert_eq!(
        ledger.roll_over(&owner, november).await.unwrap(),
        RolledOver::Rolled {
            from: "2026-10".parse().unwrap(),
            to: "2026-11".parse().unwrap()
        }
    );
    let history = ledger
        .read_history(&owner, "2026-10".parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(history.sessions, 2);
    let account = ledger.read_account(&owner).await.unwrap().unwrap();
    assert_eq!(account.sessions, 0, "November starts with none");
}

#[tokio::test]
async fn a_user_without_any_session_has_the_current_period_only() {
    let ledger = fresh_ledger().await;
    let periods = ledger
        .usage_history(&user("history-new"), at("2026-11-24T10:00:00Z"), 12)
        .await
        .unwrap();
    assert_eq!(summary(&periods), [("2026-11".into(), 0, 0)]);
    assert_eq!(periods[0].limit_minutes, 25);
}
