//! Account deletion and export against real parts (DynamoDB Local, moto's S3, the simulator):
//! leaving a session of another owner keeps it and its other members; a deletion that ran out
//! of time stays marked, refuses new sessions and is finished by the sweeper's pass, the
//! export handed over through the bucket included; afterwards the user starts afresh.

use std::time::{Duration, Instant};

use awaknow_core::LedgerError;
use awaknow_core::domain::{Period, Precondition, SessionType, UserId};
use awaknow_core::service::account_deletion::{self, Deletion, DeletionContext, finish_deletions};
use awaknow_core::service::{ServiceError, export};
use awaknow_core::store::dynamo::LastStep;
use awaknow_core::store::{DynamoLedger, Joined, NotesKey, ReservationRequest, Reserved};
use awaknow_core::tavus::{Tavus, TavusClient};
use chrono::Utc;
use tavus_sim::{RunningSim, SimConfig};

use crate::recording::{bucket, exists};
use crate::support::{activated, alone, create_alone, fresh_ledger, fresh_ledger_with_cap, user};
use crate::tavus_client::{config_for, keys_with};

fn soon() -> Instant {
    Instant::now() + Duration::from_secs(30)
}

async fn write_notes(ledger: &DynamoLedger, owner: &UserId, joined: &Joined, author: &UserId) {
    let key = NotesKey {
        owner,
        session_id: joined.session_id,
        author,
    };
    ledger
        .write_notes(key, "my thoughts", &Precondition::Any, Utc::now())
        .await
        .unwrap();
}

async fn notes_written(ledger: &DynamoLedger, joined: &Joined, author: &UserId) -> bool {
    let key = NotesKey {
        owner: &joined.owner,
        session_id: joined.session_id,
        author,
    };
    ledger.read_notes(key).await.unwrap().updated_at.is_some()
}

#[tokio::test]
async fn leaving_a_session_keeps_it_for_its_owner_and_other_members() {
    let ledger = fresh_ledger().await;
    let (owner, leaver, stayer) = (user("owner"), user("leaver"), user("stayer"));
    let request = ReservationRequest {
        owner: owner.clone(),
        session_type: SessionType::ResolveTogether,
        participants: vec![leaver.clone(), stayer.clone()],
        requested_minutes: Some(10),
        now: Utc::now(),
        idempotency: None,
        record: false,
    };
    let Reserved::New(pending) = ledger.reserve(request).await.unwrap() else {
        panic!("a new session")
    };
    let session = activated(&ledger, &pending).await;
    let joined = Joined {
        owner: owner.clone(),
        session_id: session.session_id,
    };
    for member in [&owner, &leaver, &stayer] {
        write_notes(&ledger, &owner, &joined, member).await;
    }

    ledger.leave_session(&leaver, &joined).await.unwrap();
    let (kept, _) = ledger
        .get_session(&owner, session.session_id)
        .await
        .unwrap();
    assert_eq!(kept.participants, std::slice::from_ref(&stayer));
    assert!(matches!(
        ledger.get_session(&leaver, session.session_id).await,
        Err(LedgerError::SessionNotFound)
    ));
    assert!(!notes_written(&ledger, &joined, &leaver).await);
    for member in [&owner, &stayer] {
        assert!(notes_written(&ledger, &joined, member).await);
    }
    assert!(
        ledger
            .get_session(&stayer, session.session_id)
            .await
            .is_ok()
    );
    // A notes write that read the session before the leave lands nowhere after it.
    let late = NotesKey {
        owner: &owner,
        session_id: session.session_id,
        author: &leaver,
    };
    let refused = ledger
        .write_notes(late, "still here?", &Precondition::Any, Utc::now())
        .await;
    assert!(
        matches!(refused, Err(LedgerError::SessionNotFound)),
        "{refused:?}"
    );
    assert!(!notes_written(&ledger, &joined, &leaver).await);
    // Leaving again changes nothing.
    ledger.leave_session(&leaver, &joined).await.unwrap();
    let (again, _) = ledger
        .get_session(&owner, session.session_id)
        .await
        .unwrap();
    assert_eq!(again, kept);
}

/// The ledger, the simulator and a client of it, and a bucket.
struct Stack {
    ledger: DynamoLedger,
    _sim: RunningSim,
    tavus: Tavus,
    keys: test_support::Keys,
    recordings: awaknow_core::recording_bucket::Recordings,
}

impl Stack {
    async fn new() -> Stack {
        let sim = test_support::start_sim(SimConfig::default()).await;
        let (keys, _) = keys_with("sim-key").await;
        Stack {
            ledger: fresh_ledger_with_cap(10).await,
            tavus: TavusClient::new(config_for(&sim.base_url()), keys.clone()),
            _sim: sim,
            keys,
            recordings: bucket().await,
        }
    }

    fn cx(&self, deadline: Instant) -> DeletionContext<'_> {
        DeletionContext {
            ledger: &self.ledger,
            tavus: &self.tavus,
            recordings: Some(&self.recordings),
            now: Utc::now(),
            deadline,
        }
    }
}

#[tokio::test]
async fn a_deletion_out_of_time_stays_marked_refuses_sessions_and_the_sweeper_finishes_it() {
    let stack = Stack::new().await;
    let leaver = user("out-of-time");
    create_alone(&stack.ledger, &stack.tavus, &stack.keys, &leaver).await;
    let now = Utc::now();
    let download = export::hand_over(
        &stack.ledger,
        Some(&stack.recordings),
        &leaver,
        br#"{"kind": "document"}"#.to_vec(),
        now,
    )
    .await
    .unwrap();
    assert_eq!(download.bytes, 20);
    let export_keys = stack.ledger.holdings(&leaver).await.unwrap().exports;
    assert_eq!(export_keys.len(), 1);
    assert!(exists(&stack.recordings, &export_keys[0]).await);

    // The request's time is up before any session is erased.
    let cut_short = account_deletion::delete_account(stack.cx(Instant::now()), &leaver)
        .await
        .unwrap();
    assert!(
        matches!(cut_short, Deletion::InProgress { .. }),
        "{cut_short:?}"
    );
    let marked = stack.ledger.holdings(&leaver).await.unwrap();
    assert!(marked.deleting && marked.owned.len() == 1, "{marked:?}");
    let refused = stack.ledger.reserve(alone(&leaver, 5, Utc::now())).await;
    assert!(
        matches!(refused, Err(LedgerError::AccountBeingDeleted)),
        "{refused:?}"
    );
    // Nothing is handed out of an account on its way out, nor recorded for it.
    let gathered = export::gather(&stack.ledger, Some(&stack.recordings), &leaver, now).await;
    assert!(matches!(gathered, Err(ServiceError::AccountBeingDeleted)));
    let handed = export::hand_over(
        &stack.ledger,
        Some(&stack.recordings),
        &leaver,
        b"{}".to_vec(),
        now,
    )
    .await;
    assert!(matches!(handed, Err(ServiceError::AccountBeingDeleted)));
    assert_eq!(
        stack.ledger.holdings(&leaver).await.unwrap().exports.len(),
        1
    );
    // The account's last delete holds only in the period the pass read everything in: a month
    // rolled over meanwhile leaves it for another pass.
    let last_month = Period::containing(now - chrono::Duration::days(40));
    let last = stack
        .ledger
        .delete_marked_account(&leaver, Some(last_month))
        .await
        .unwrap();
    assert_eq!(last, LastStep::Changed);
    assert!(
        stack
            .ledger
            .holdings(&leaver)
            .await
            .unwrap()
            .account
            .is_some()
    );

    // The sweeper's pass, once the request has had its minute.
    let mut later = stack.cx(soon());
    later.now = Utc::now() + account_deletion::DELETION_SWEEP_AFTER + chrono::Duration::seconds(1);
    let swept = finish_deletions(later).await;
    assert_eq!(
        (swept.finished, swept.unfinished, swept.complete),
        (1, 0, true)
    );
    let rest = stack.ledger.holdings(&leaver).await.unwrap();
    assert!(rest.account.is_none() && rest.owned.is_empty(), "{rest:?}");
    assert!(rest.other_keys.is_empty(), "{rest:?}");
    assert!(!exists(&stack.recordings, &export_keys[0]).await);
    // Nothing is due any more, and the user starts afresh.
    assert_eq!(finish_deletions(later).await.finished, 0);
    let fresh = stack.ledger.usage(&leaver, Utc::now()).await.unwrap();
    assert_eq!((fresh.used_minutes, fresh.reserved_minutes), (0, 0));
    assert!(
        stack
            .ledger
            .reserve(alone(&leaver, 5, Utc::now()))
            .await
            .is_ok()
    );
}
