//! One session's life: reserve, activate, settle or release; idempotency; reading back.

use awaknow_core::LedgerError;
use awaknow_core::domain::{EndReason, PlanId, Role, SessionStatus, SessionType};
use awaknow_core::store::{
    Activation, Closed, Closing, IdempotencyKey, ReservationRequest, Reserved,
};

use crate::support::{alone, at, fresh_ledger, fresh_ledger_with_cap, user};

fn new_session(reserved: Reserved) -> awaknow_core::domain::Session {
    match reserved {
        Reserved::New(session) => session,
        Reserved::Replayed(session) => panic!(
            "expected a new reservation, got a replay of {}",
            session.session_id
        ),
    }
}

#[tokio::test]
async fn a_session_reserves_then_settles_what_it_used() {
    let ledger = fresh_ledger().await;
    let owner = user("owner");
    let now = at("2026-11-24T10:00:00Z");

    let session = new_session(ledger.reserve(alone(&owner, 10, now)).await.unwrap());
    assert_eq!(
        (session.status, session.reserved_minutes),
        (SessionStatus::Pending, 10)
    );
    let usage = ledger.usage(&owner, now).await.unwrap();
    assert_eq!(
        (
            usage.reserved_minutes,
            usage.used_minutes,
            usage.remaining_minutes
        ),
        (10, 0, 15)
    );

    let active = ledger
        .activate(
            &session,
            Activation {
                conversation_id: "c123",
                conversation_url: Some("https://tavus.daily.co/c123"),
                meeting_token: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(active.status, SessionStatus::Active);
    assert_eq!(
        active.conversation_url.as_deref(),
        Some("https://tavus.daily.co/c123")
    );

    let closed = ledger
        .close(Closing::settle(
            &active,
            4,
            EndReason::UserEnded,
            at("2026-11-24T10:03:10Z"),
        ))
        .await
        .unwrap();
    assert_eq!(closed, Closed::IntoAccount);
    let usage = ledger.usage(&owner, now).await.unwrap();
    assert_eq!(
        (
            usage.reserved_minutes,
            usage.used_minutes,
            usage.remaining_minutes
        ),
        (0, 4, 21)
    );
    let account = ledger.read_account(&owner).await.unwrap().unwrap();
    assert!(account.is_consistent(), "{account:?}");

    let (stored, role) = ledger
        .get_session(&owner, session.session_id)
        .await
        .unwrap();
    assert_eq!(role, Role::Owner);
    assert_eq!(stored.status, SessionStatus::Ended);
    assert_eq!(stored.charged_minutes, Some(4));
    assert_eq!(stored.end_reason, Some(EndReason::UserEnded));
}

#[tokio::test]
async fn settling_the_same_session_twice_charges_once() {
    let ledger = fresh_ledger().await;
    let owner = user("twice");
    let now = at("2026-11-24T10:00:00Z");
    let session = new_session(ledger.reserve(alone(&owner, 20, now)).await.unwrap());
    let closing = Closing::settle(
        &session,
        7,
        EndReason::MaxDuration,
        at("2026-11-24T10:07:00Z"),
    );

    assert_eq!(
        ledger.close(closing.clone()).await.unwrap(),
        Closed::IntoAccount
    );
    assert_eq!(
        ledger.close(closing.clone()).await.unwrap(),
        Closed::AlreadyClosed
    );
    // A different, later event for the same session charges nothing either.
    let later = Closing {
        charged_minutes: 20,
        ..closing
    };
    assert_eq!(ledger.close(later).await.unwrap(), Closed::AlreadyClosed);

    let account = ledger.read_account(&owner).await.unwrap().unwrap();
    assert_eq!(
        (
            account.used_minutes,
            account.reserved_minutes,
            account.available_minutes
        ),
        (7, 0, 18)
    );
}

#[tokio::test]
async fn a_released_reservation_charges_nothing_and_frees_the_minutes() {
    let ledger = fresh_ledger().await;
    let owner = user("release");
    let now = at("2026-11-24T10:00:00Z");
    let session = new_session(ledger.reserve(alone(&owner, 25, now)).await.unwrap());
    assert!(matches!(
        ledger.reserve(alone(&owner, 1, now)).await,
        Err(LedgerError::MinutesExhausted {
            remaining_minutes: 0,
            ..
        })
    ));

    let closed = ledger
        .close(Closing::release(&session, EndReason::TavusFailed, now))
        .await
        .unwrap();
    assert_eq!(closed, Closed::IntoAccount);
    let (stored, _) = ledger
        .get_session(&owner, session.session_id)
        .await
        .unwrap();
    assert_eq!(
        (stored.status, stored.charged_minutes),
        (SessionStatus::Failed, Some(0))
    );
    let usage = ledger.usage(&owner, now).await.unwrap();
    assert_eq!(
        (
            usage.used_minutes,
            usage.reserved_minutes,
            usage.remaining_minutes
        ),
        (0, 0, 25)
    );
    // Activating a released session is refused: the create flow then ends the Tavus call.
    assert!(matches!(
        ledger
            .activate(
                &session,
                Activation {
                    conversation_id: "c1",
                    conversation_url: Some("u"),
                    meeting_token: None,
                },
            )
            .await,
        Err(LedgerError::NoLongerPending(closed)) if closed.status == SessionStatus::Failed
    ));
}

#[tokio::test]
async fn a_settlement_that_misdescribes_the_session_changes_nothing() {
    let ledger = fresh_ledger().await;
    let owner = user("mismatch");
    let now = at("2026-11-24T10:00:00Z");
    let session = new_session(ledger.reserve(alone(&owner, 10, now)).await.unwrap());

    let wrong = Closing {
        reserved_minutes: 3,
        ..Closing::settle(&session, 1, EndReason::Swept, now)
    };
    assert!(matches!(
        ledger.close(wrong).await,
        Err(LedgerError::SessionMismatch(_))
    ));
    let stranger = Closing {
        owner: user("stranger"),
        ..Closing::settle(&session, 1, EndReason::Swept, now)
    };
    assert!(matches!(
        ledger.close(stranger).await,
        Err(LedgerError::SessionNotFound)
    ));
    let account = ledger.read_account(&owner).await.unwrap().unwrap();
    assert_eq!((account.used_minutes, account.reserved_minutes), (0, 10));
}

#[tokio::test]
async fn reservations_are_capped_by_what_is_left_and_exhaustion_says_when_it_resets() {
    // Three sessions stay open here: about minutes, not the cap on open sessions.
    let ledger = fresh_ledger_with_cap(3).await;
    let owner = user("cap");
    let now = at("2026-11-24T10:00:00Z");
    assert_eq!(
        new_session(ledger.reserve(alone(&owner, 20, now)).await.unwrap()).reserved_minutes,
        20
    );
    // 30 asked, 5 left: the reservation is the 5.
    assert_eq!(
        new_session(ledger.reserve(alone(&owner, 30, now)).await.unwrap()).reserved_minutes,
        5
    );
    match ledger.reserve(alone(&owner, 1, now)).await {
        Err(LedgerError::MinutesExhausted {
            remaining_minutes,
            plan,
            resets_at,
        }) => {
            assert_eq!((remaining_minutes, plan), (0, PlanId::Free));
            assert_eq!(resets_at, at("2026-12-01T00:00:00Z"));
        }
        other => panic!("expected MinutesExhausted, got {other:?}"),
    }
    // No request asks for more than Tavus's 60-minute cap.
    ledger
        .change_plan(&owner, PlanId::ResolveTogether, now)
        .await
        .unwrap();
    assert_eq!(
        new_session(ledger.reserve(alone(&owner, 500, now)).await.unwrap()).reserved_minutes,
        60
    );
}

#[tokio::test]
async fn an_idempotency_key_returns_the_first_session_and_refuses_another_request() {
    let ledger = fresh_ledger().await;
    let owner = user("idem");
    let now = at("2026-11-24T10:00:00Z");
    let keyed = |fingerprint: &str, minutes| ReservationRequest {
        idempotency: Some(IdempotencyKey {
            key: "retry-me_1".into(),
            fingerprint: fingerprint.into(),
        }),
        ..alone(&owner, minutes, now)
    };

    let first = new_session(ledger.reserve(keyed("body-a", 10)).await.unwrap());
    match ledger.reserve(keyed("body-a", 10)).await.unwrap() {
        Reserved::Replayed(again) => assert_eq!(again.session_id, first.session_id),
        Reserved::New(other) => panic!("a retry reserved again: {}", other.session_id),
    }
    assert!(matches!(
        ledger.reserve(keyed("body-b", 10)).await,
        Err(LedgerError::IdempotencyConflict)
    ));
    let usage = ledger.usage(&owner, now).await.unwrap();
    assert_eq!(
        usage.reserved_minutes, 10,
        "the retry must not reserve twice"
    );
    // The same key from another user is that user's own key.
    let other = user("other");
    let theirs = ReservationRequest {
        owner: other.clone(),
        ..keyed("body-b", 5)
    };
    assert!(matches!(
        ledger.reserve(theirs).await.unwrap(),
        Reserved::New(_)
    ));
}

#[tokio::test]
async fn participants_find_the_session_but_only_the_owner_is_charged() {
    let ledger = fresh_ledger().await;
    let owner = user("owner");
    let partner = user("partner");
    let now = at("2026-11-24T10:00:00Z");
    ledger
        .change_plan(&owner, PlanId::ResolveTogether, now)
        .await
        .unwrap();
    let request = ReservationRequest {
        session_type: SessionType::ResolveTogether,
        participants: vec![partner.clone()],
        ..alone(&owner, 45, now)
    };
    let session = new_session(ledger.reserve(request).await.unwrap());
    ledger
        .activate(
            &session,
            Activation {
                conversation_id: "c9",
                conversation_url: Some("https://tavus.daily.co/c9"),
                meeting_token: None,
            },
        )
        .await
        .unwrap();

    let (seen, role) = ledger
        .get_session(&partner, session.session_id)
        .await
        .unwrap();
    assert_eq!(role, Role::Participant);
    assert_eq!(
        seen.conversation_url.as_deref(),
        Some("https://tavus.daily.co/c9")
    );
    let page = ledger.list_sessions(&partner, 10, None).await.unwrap();
    assert_eq!(page.sessions.len(), 1);
    assert_eq!(page.sessions[0].1, Role::Participant);
    assert_eq!(page.sessions[0].0.session_id, session.session_id);

    // The partner's own account is untouched (never even created).
    assert!(ledger.read_account(&partner).await.unwrap().is_none());
    assert_eq!(
        ledger.usage(&owner, now).await.unwrap().reserved_minutes,
        45
    );
    // Someone else sees nothing.
    assert!(matches!(
        ledger
            .get_session(&user("stranger"), session.session_id)
            .await,
        Err(LedgerError::SessionNotFound)
    ));
}

#[tokio::test]
async fn sessions_are_listed_newest_first_across_pages() {
    let ledger = fresh_ledger_with_cap(5).await;
    let owner = user("lister");
    ledger
        .ensure_account(&owner, at("2026-11-24T09:00:00Z"))
        .await
        .unwrap();
    let mut ids = Vec::new();
    for minute in 0..5 {
        let now = at("2026-11-24T10:00:00Z") + chrono::Duration::minutes(minute);
        ids.push(new_session(ledger.reserve(alone(&owner, 1, now)).await.unwrap()).session_id);
    }
    ids.reverse();

    let first = ledger.list_sessions(&owner, 2, None).await.unwrap();
    let second = ledger
        .list_sessions(&owner, 2, first.next_cursor)
        .await
        .unwrap();
    let third = ledger
        .list_sessions(&owner, 2, second.next_cursor)
        .await
        .unwrap();
    let listed: Vec<_> = [first, second, third.clone()]
        .into_iter()
        .flat_map(|p| p.sessions.into_iter().map(|(s, _)| s.session_id))
        .collect();
    assert_eq!(listed, ids);
    assert_eq!(third.next_cursor, None, "a short page is the last one");
}

#[tokio::test]
async fn a_new_user_has_the_free_allowance_without_any_write() {
    let ledger = fresh_ledger().await;
    let owner = user("new");
    let usage = ledger
        .usage(&owner, at("2026-11-24T10:00:00Z"))
        .await
        .unwrap();
    assert_eq!(
        (usage.plan, usage.limit_minutes, usage.remaining_minutes),
        (PlanId::Free, 25, 25)
    );
    assert!(ledger.read_account(&owner).await.unwrap().is_none());
}

/// The activation's write committed but its answer was lost: the SDK's retry finds the session
/// already active with this very conversation, which is success, not an error (a 500 before).
#[tokio::test]
async fn an_activation_whose_answer_was_lost_is_done_not_an_error() {
    let ledger = fresh_ledger().await;
    let owner = user("lost-activation");
    let now = at("2026-11-24T10:00:00Z");
    let Reserved::New(pending) = ledger.reserve(alone(&owner, 5, now)).await.unwrap() else {
        panic!("a new session")
    };
    let activation = Activation {
        conversation_id: "clost",
        conversation_url: Some("https://tavus.daily.co/clost"),
        meeting_token: None,
    };
    let first = ledger.activate(&pending, activation).await.unwrap();
    let again = ledger.activate(&pending, activation).await.unwrap();
    assert_eq!(again, first);
    // Another conversation for the same session is still refused.
    let other = Activation {
        conversation_id: "cother",
        ..activation
    };
    assert!(matches!(
        ledger.activate(&pending, other).await,
        Err(LedgerError::SessionMismatch(_))
    ));
}
