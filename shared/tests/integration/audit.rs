//! The audit's checks on the open-sessions index, on DynamoDB Local: what is overdue by more
//! than an hour is reported by ids, what is merely due is counted and not reported.

use awaknow_core::domain::{EndReason, Session, SessionStatus};
use awaknow_core::service::audit::{self, Check, Finding};
use awaknow_core::store::{Closing, DynamoLedger, Reserved};
use chrono::{DateTime, Duration, Utc};

use crate::support::{alone, fresh_ledger_with_cap, user};
use test_support::cut_short;

async fn pending(ledger: &DynamoLedger, name: &str, at: DateTime<Utc>) -> Session {
    match ledger.reserve(alone(&user(name), 5, at)).await.unwrap() {
        Reserved::New(session) => session,
        Reserved::Replayed(_) => panic!("a new reservation"),
    }
}

#[tokio::test]
async fn a_session_the_sweeper_left_for_over_an_hour_is_reported_and_a_due_one_is_not() {
    let ledger = fresh_ledger_with_cap(10).await;
    let now = Utc::now();
    // Pending since three hours: due two minutes after, so overdue by almost three hours.
    let stuck = pending(&ledger, "audit-stuck", now - Duration::hours(3)).await;
    // Pending since a few minutes: due, but the sweeper's next run is still to come.
    pending(&ledger, "audit-due", now - Duration::minutes(5)).await;

    let result = audit::sweeper_behind(&ledger, now).await.unwrap();
    assert_eq!(result.check, Check::SweeperBehind);
    assert_eq!(result.checked, 2);
    assert_eq!(
        result.findings,
        [Finding::Overdue {
            user: stuck.owner_id.clone(),
            session: stuck.session_id,
            status: SessionStatus::Pending,
        }]
    );
}

#[tokio::test]
async fn an_erasure_cut_short_over_an_hour_ago_is_reported() {
    let ledger = fresh_ledger_with_cap(10).await;
    let now = Utc::now();
    let session = pending(&ledger, "audit-erased", now - Duration::hours(2)).await;
    ledger
        .close(Closing::release(
            &session,
            EndReason::TavusFailed,
            now - Duration::hours(2),
        ))
        .await
        .unwrap();
    let (closed, _) = ledger
        .get_session(&session.owner_id, session.session_id)
        .await
        .unwrap();
    let clean = audit::stuck_erasures(&ledger, now).await.unwrap();
    assert_eq!((clean.checked, clean.findings.len()), (0, 0), "{clean:?}");

    // The erasure's mark is written, its transactions never run.
    assert!(
        cut_short(&ledger)
            .erase_session(&closed, now - Duration::hours(2))
            .await
            .is_err()
    );
    let stuck = audit::stuck_erasures(&ledger, now).await.unwrap();
    assert_eq!(stuck.check, Check::ErasuresStuck);
    assert_eq!(stuck.checked, 1);
    assert_eq!(
        stuck.findings,
        [Finding::ErasureStuck {
            user: session.owner_id.clone(),
            session: session.session_id,
        }]
    );
    // Marked a moment ago, it is due but not yet stuck.
    let recent = audit::stuck_erasures(&ledger, now - Duration::minutes(119))
        .await
        .unwrap();
    assert_eq!((recent.checked, recent.findings.len()), (1, 0));
}
