//! The cap on open sessions per user, on DynamoDB Local: it is a condition of the reservation
//! transaction, so no amount of concurrency opens more; every close gives the place back, once;
//! a session open across the month boundary keeps its place; an idempotent retry is answered
//! whatever the cap.

use std::sync::Arc;
use std::time::{Duration, Instant};

use awaknow_core::LedgerError;
use awaknow_core::api::ApiError;
use awaknow_core::domain::{EndReason, PlanId, Session, UserId};
use awaknow_core::service::ServiceError;
use awaknow_core::service::create::{CreateContext, CreateSessionRequest, create_session};
use awaknow_core::store::{
    Closed, Closing, DynamoLedger, IdempotencyKey, ReservationRequest, Reserved, keys,
};
use awaknow_core::tavus::TavusClient;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use futures::future::join_all;

use crate::support::{alone, at, fresh_ledger, fresh_ledger_with_cap, user};

const NOW: &str = "2026-11-24T10:00:00Z";

fn new_session(reserved: Reserved) -> Session {
    match reserved {
        Reserved::New(session) => session,
        Reserved::Replayed(s) => panic!(
            "expected a new reservation, got a replay of {}",
            s.session_id
        ),
    }
}

/// Fires the requests at once; returns the granted sessions and how many the cap refused.
async fn race(
    ledger: &Arc<DynamoLedger>,
    requests: Vec<ReservationRequest>,
) -> (Vec<Session>, usize) {
    let tasks = requests.into_iter().map(|request| {
        let ledger = Arc::clone(ledger);
        tokio::spawn(async move { ledger.reserve(request).await })
    });
    let mut granted = Vec::new();
    let mut capped = 0;
    for outcome in join_all(tasks).await {
        match outcome.expect("task panicked") {
            Ok(reserved) => granted.push(new_session(reserved)),
            Err(LedgerError::TooManyOpenSessions {
                max_open_sessions, ..
            }) => {
                assert_eq!(max_open_sessions, ledger.max_open_sessions());
                capped += 1;
            }
            Err(other) => panic!("unexpected error under concurrency: {other}"),
        }
    }
    (granted, capped)
}

async fn open_sessions(ledger: &DynamoLedger, owner: &UserId) -> i64 {
    ledger.usage(owner, at(NOW)).await.unwrap().open_sessions
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_concurrent_reservations_open_exactly_the_cap() {
    for cap in [2, 5] {
        let ledger = Arc::new(fresh_ledger_with_cap(cap).await);
        for round in 0..5 {
            // Enough minutes for all sixty: only the cap can refuse.
            let owner = user(&format!("crowd{cap}-{round}"));
            ledger
                .change_plan(&owner, PlanId::ResolveTogether, at(NOW))
                .await
                .unwrap();
            let requests = (0..60).map(|_| alone(&owner, 1, at(NOW))).collect();
            let (granted, capped) = race(&ledger, requests).await;
            assert_eq!(
                granted.len(),
                cap as usize,
                "cap {cap}, round {round}: granted"
            );
            assert_eq!(
                capped,
                60 - cap as usize,
                "cap {cap}, round {round}: refused"
            );
            let account = ledger.read_account(&owner).await.unwrap().unwrap();
            assert_eq!(account.open_sessions, i64::from(cap));
            assert_eq!(
                account.reserved_minutes,
                i64::from(cap),
                "refusals reserve nothing"
            );
            assert!(account.is_consistent(), "{account:?}");
            let usage = ledger.usage(&owner, at(NOW)).await.unwrap();
            assert_eq!(
                (usage.open_sessions, usage.max_open_sessions),
                (i64::from(cap), cap)
            );
        }
    }
}

#[tokio::test]
async fn the_default_cap_is_two() {
    let ledger = fresh_ledger().await;
    let owner = user("default");
    new_session(ledger.reserve(alone(&owner, 1, at(NOW))).await.unwrap());
    new_session(ledger.reserve(alone(&owner, 1, at(NOW))).await.unwrap());
    match ledger.reserve(alone(&owner, 1, at(NOW))).await {
        Err(LedgerError::TooManyOpenSessions {
            open_sessions,
            max_open_sessions,
        }) => assert_eq!((open_sessions, max_open_sessions), (2, 2)),
        other => panic!("expected TooManyOpenSessions, got {other:?}"),
    }
    assert_eq!(
        ledger
            .usage(&owner, at(NOW))
            .await
            .unwrap()
            .max_open_sessions,
        2
    );
}

#[tokio::test]
async fn every_kind_of_close_gives_the_place_back_once() {
    let ledger = fresh_ledger().await;
    let owner = user("closer");
    let now = at(NOW);
    let later = at("2026-11-24T10:05:00Z");
    let reserve = || ledger.reserve(alone(&owner, 3, now));

    // Ended by the user (or settled by Tavus's callback, or by the sweeper): settle.
    let a = new_session(reserve().await.unwrap());
    let a = ledger
        .activate(
            &a,
            awaknow_core::store::Activation {
                conversation_id: "c-a",
                conversation_url: Some("https://tavus.daily.co/c-a"),
                meeting_token: None,
            },
        )
        .await
        .unwrap();
    let b = new_session(reserve().await.unwrap());
    assert!(matches!(
        reserve().await,
        Err(LedgerError::TooManyOpenSessions { .. })
    ));
    let settle = Closing::settle(&a, 2, EndReason::UserEnded, later);
    assert_eq!(
        ledger.close(settle.clone()).await.unwrap(),
        Closed::IntoAccount
    );
    assert_eq!(open_sessions(&ledger, &owner).await, 1);
    // The duplicate (a second callback, the sweeper after the webhook) frees nothing more.
    assert_eq!(ledger.close(settle).await.unwrap(), Closed::AlreadyClosed);
    assert_eq!(open_sessions(&ledger, &owner).await, 1);

    // The place is there again.
    let c = new_session(reserve().await.unwrap());
    assert!(matches!(
        reserve().await,
        Err(LedgerError::TooManyOpenSessions { .. })
    ));

    // Released: a failed create, or a pending session the sweeper finds abandoned.
    let release_b = Closing::release(&b, EndReason::TavusFailed, later);
    let release_c = Closing::release(&c, EndReason::Abandoned, later);
    assert_eq!(
        ledger.close(release_b.clone()).await.unwrap(),
        Closed::IntoAccount
    );
    assert_eq!(ledger.close(release_c).await.unwrap(), Closed::IntoAccount);
    assert_eq!(
        ledger.close(release_b).await.unwrap(),
        Closed::AlreadyClosed
    );
    let account = ledger.read_account(&owner).await.unwrap().unwrap();
    assert_eq!(
        account.open_sessions, 0,
        "never below zero, each place given back once"
    );
    assert_eq!((account.used_minutes, account.reserved_minutes), (2, 0));
    assert!(account.is_consistent());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn forty_racing_duplicate_closes_give_the_place_back_once() {
    let ledger = Arc::new(fresh_ledger().await);
    let owner = user("dupes");
    let keep = new_session(ledger.reserve(alone(&owner, 2, at(NOW))).await.unwrap());
    let closing = new_session(ledger.reserve(alone(&owner, 2, at(NOW))).await.unwrap());
    let settle = Closing::settle(&closing, 1, EndReason::ParticipantLeft, at(NOW));
    let tasks = (0..40).map(|_| {
        let ledger = Arc::clone(&ledger);
        let settle = settle.clone();
        tokio::spawn(async move { ledger.close(settle).await })
    });
    let outcomes: Vec<Closed> = join_all(tasks)
        .await
        .into_iter()
        .map(|o| o.expect("task panicked").expect("close"))
        .collect();
    assert_eq!(
        outcomes
            .iter()
            .filter(|c| **c == Closed::IntoAccount)
            .count(),
        1
    );
    assert_eq!(
        open_sessions(&ledger, &owner).await,
        1,
        "{} is still open",
        keep.session_id
    );
}

#[tokio::test]
async fn sessions_open_across_the_month_keep_their_place_until_they_close() {
    let ledger = fresh_ledger().await;
    let owner = user("boundary");
    let october = at("2026-10-31T23:50:00Z");
    let november = at("2026-11-01T00:10:00Z");
    let first = new_session(ledger.reserve(alone(&owner, 5, october)).await.unwrap());
    new_session(ledger.reserve(alone(&owner, 5, october)).await.unwrap());

    // A reservation in November rolls the account over on its way and still meets the cap.
    assert!(matches!(
        ledger.reserve(alone(&owner, 1, november)).await,
        Err(LedgerError::TooManyOpenSessions {
            open_sessions: 2,
            ..
        })
    ));
    let account = ledger.read_account(&owner).await.unwrap().unwrap();
    assert_eq!(account.period.to_string(), "2026-11", "rolled over");
    assert_eq!(
        account.open_sessions, 2,
        "the rollover keeps the open sessions"
    );
    // Neither a rerun of the reset nor a plan change touches the counter.
    ledger.roll_over(&owner, november).await.unwrap();
    ledger
        .change_plan(&owner, PlanId::ReflectPlus, november)
        .await
        .unwrap();
    assert_eq!(
        ledger
            .read_account(&owner)
            .await
            .unwrap()
            .unwrap()
            .open_sessions,
        2
    );

    // The October session settles into October's history and gives its place back on the account.
    let closed = ledger
        .close(Closing::settle(
            &first,
            4,
            EndReason::ParticipantLeft,
            november,
        ))
        .await
        .unwrap();
    assert_eq!(closed, Closed::IntoHistory);
    let account = ledger.read_account(&owner).await.unwrap().unwrap();
    assert_eq!(account.open_sessions, 1);
    assert_eq!(
        (account.used_minutes, account.reserved_minutes),
        (0, 0),
        "November is untouched"
    );
    new_session(ledger.reserve(alone(&owner, 1, november)).await.unwrap());
}

#[tokio::test]
async fn an_idempotent_retry_over_the_cap_returns_its_session() {
    let ledger = fresh_ledger().await;
    let owner = user("retry");
    let keyed = |key: &str, fingerprint: &str| ReservationRequest {
        idempotency: Some(IdempotencyKey {
            key: key.into(),
            fingerprint: fingerprint.into(),
        }),
        ..alone(&owner, 2, at(NOW))
    };
    let first = new_session(ledger.reserve(keyed("first", "body")).await.unwrap());
    new_session(ledger.reserve(keyed("second", "body")).await.unwrap());

    // At the cap, a retry of a create that went through is still answered with its session...
    match ledger.reserve(keyed("first", "body")).await.unwrap() {
        Reserved::Replayed(again) => assert_eq!(again.session_id, first.session_id),
        Reserved::New(s) => panic!("a retry opened another session: {}", s.session_id),
    }
    // ...the same key with another body is still a conflict, and a new key is refused by the cap.
    assert!(matches!(
        ledger.reserve(keyed("first", "other body")).await,
        Err(LedgerError::IdempotencyConflict)
    ));
    assert!(matches!(
        ledger.reserve(keyed("third", "body")).await,
        Err(LedgerError::TooManyOpenSessions { .. })
    ));
    let account = ledger.read_account(&owner).await.unwrap().unwrap();
    assert_eq!((account.open_sessions, account.reserved_minutes), (2, 4));
}

/// Writes an item as code from before the cap did: without the counter on the account and
/// without the mark on the session.
async fn as_written_before_the_cap(ledger: &DynamoLedger, owner: &UserId, session: &Session) {
    let key = |sk: String| {
        [
            (keys::PK.to_owned(), AttributeValue::S(keys::user_pk(owner))),
            (keys::SK.to_owned(), AttributeValue::S(sk)),
        ]
        .into_iter()
        .collect::<std::collections::HashMap<_, _>>()
    };
    for (sk, attribute) in [
        (keys::ACCOUNT_SK.to_owned(), "open_sessions"),
        (keys::session_sk(session.session_id), "holds_open_place"),
    ] {
        ledger
            .client()
            .update_item()
            .table_name(ledger.table())
            .set_key(Some(key(sk.clone())))
            .update_expression(format!("REMOVE {attribute}"))
            .condition_expression("attribute_exists(pk)")
            .send()
            .await
            .unwrap_or_else(|e| panic!("{sk}: {e:?}"));
    }
}

#[tokio::test]
async fn sessions_and_accounts_from_before_the_cap_close_without_going_below_zero() {
    let ledger = fresh_ledger().await;
    let owner = user("legacy");
    let old = new_session(ledger.reserve(alone(&owner, 4, at(NOW))).await.unwrap());
    as_written_before_the_cap(&ledger, &owner, &old).await;
    assert_eq!(
        ledger
            .read_account(&owner)
            .await
            .unwrap()
            .unwrap()
            .open_sessions,
        0
    );

    // A new session counts from zero; the old one, closing, takes nothing from it.
    let new = new_session(ledger.reserve(alone(&owner, 4, at(NOW))).await.unwrap());
    assert_eq!(open_sessions(&ledger, &owner).await, 1);
    let closed = ledger
        .close(Closing::settle(&old, 2, EndReason::UserEnded, at(NOW)))
        .await
        .unwrap();
    assert_eq!(closed, Closed::IntoAccount);
    assert_eq!(
        open_sessions(&ledger, &owner).await,
        1,
        "the new session still holds its place"
    );
    ledger
        .close(Closing::release(&new, EndReason::UserEnded, at(NOW)))
        .await
        .unwrap();
    let account = ledger.read_account(&owner).await.unwrap().unwrap();
    assert_eq!(account.open_sessions, 0);
    assert_eq!((account.used_minutes, account.reserved_minutes), (2, 0));
    assert!(account.is_consistent());
}

/// A create through the real client against the simulator, which answers every create with
/// Tavus's concurrency-limit 400; the key comes from moto.
async fn create(ledger: &DynamoLedger, owner: &UserId, now: DateTime<Utc>) -> Result<(), ApiError> {
    let sim = test_support::start_sim(tavus_sim::SimConfig {
        max_concurrent: 0,
        ..tavus_sim::SimConfig::default()
    })
    .await;
    let (keys, _) = crate::tavus_client::keys_with("sim-key").await;
    let tavus = TavusClient::new(
        crate::tavus_client::config_for(&sim.base_url()),
        Arc::clone(&keys),
    );
    let body = br#"{"session_type": "reflect_alone", "prompt": "a walk", "max_minutes": 2}"#;
    let request = CreateSessionRequest::parse(body, owner)?;
    let cx = CreateContext {
        owner,
        idempotency: None,
        public_url: "https://api.example",
        now,
        deadline: Instant::now() + Duration::from_secs(5),
        recording: None,
    };
    create_session(ledger, &tavus, &keys, cx, &request)
        .await
        .map(|_| ())
        .map_err(ApiError::from)
}

#[tokio::test]
async fn a_failed_create_gives_its_place_back() {
    let ledger = fresh_ledger().await;
    let owner = user("failed");
    for _ in 0..5 {
        assert!(matches!(
            create(&ledger, &owner, at(NOW)).await,
            Err(ApiError::Service(ServiceError::TavusAtCapacity))
        ));
        assert_eq!(open_sessions(&ledger, &owner).await, 0);
    }
    // Both places are free for real sessions.
    new_session(ledger.reserve(alone(&owner, 1, at(NOW))).await.unwrap());
    new_session(ledger.reserve(alone(&owner, 1, at(NOW))).await.unwrap());
    assert!(matches!(
        create(&ledger, &owner, at(NOW)).await,
        Err(ApiError::Service(ServiceError::TooManyOpenSessions {
            open_sessions: 2,
            max_open_sessions: 2
        }))
    ));
}
