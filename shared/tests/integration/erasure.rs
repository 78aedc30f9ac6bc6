//! Notes and erasure on DynamoDB Local: each person's notes under the owner's partition, their
//! entity tags, and erasing a session with everything kept with it, exactly, even when an
//! erasure was cut short or Tavus cannot delete its copy.

use std::time::{Duration, Instant};

use awaknow_core::LedgerError;
use awaknow_core::api::ApiError;
use awaknow_core::domain::{
    EndReason, Precondition, Role, Session, SessionStatus, SessionType, Transcript, Turn, UserId,
};
use awaknow_core::service::{ServiceError, erase};
use awaknow_core::store::DynamoLedger;
use awaknow_core::store::keys;
use awaknow_core::store::{Closing, Erased, NotesKey, ReservationRequest, Reserved};
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};

use crate::support::{activated, at, fresh_ledger, user};

const NOW: &str = "2026-11-24T10:00:00Z";

/// A session of `owner` with `partner`, active on conversation `c-<session>`.
async fn active_session(ledger: &DynamoLedger, owner: &UserId, partner: &UserId) -> Session {
    let request = ReservationRequest {
        owner: owner.clone(),
        session_type: SessionType::ResolveTogether,
        participants: vec![partner.clone()],
        requested_minutes: Some(10),
        now: at(NOW),
        idempotency: None,
        record: false,
    };
    let Reserved::New(pending) = ledger.reserve(request).await.unwrap() else {
        panic!("a new session")
    };
    activated(ledger, &pending).await
}

/// Settled as a shutdown callback does: still in the open-sessions index until Tavus's copy is
/// deleted.
async fn settle(ledger: &DynamoLedger, session: &Session, ended_at: DateTime<Utc>) -> Session {
    ledger
        .close(
            Closing::settle(session, 3, EndReason::ParticipantLeft, ended_at)
                .delete_tavus_copy(session, ended_at),
        )
        .await
        .unwrap();
    ledger
        .get_session(&session.owner_id, session.session_id)
        .await
        .unwrap()
        .0
}

fn notes_key<'a>(session: &'a Session, author: &'a UserId) -> NotesKey<'a> {
    NotesKey {
        owner: &session.owner_id,
        session_id: session.session_id,
        author,
    }
}

/// A transcript of about 1 MB: four chunks and a manifest.
fn long_transcript() -> Transcript {
    Transcript {
        turns: (0..1000)
            .map(|i| Turn {
                role: if i % 2 == 0 { "user" } else { "assistant" }.into(),
                content: format!("{i} {}", "words ".repeat(170)),
            })
            .collect(),
    }
}

/// Every item of a partition whose sort key starts with `prefix`.
async fn items(ledger: &DynamoLedger, user: &UserId, prefix: &str) -> usize {
    ledger
        .client()
        .query()
        .table_name(ledger.table())
        .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
        .expression_attribute_values(":pk", AttributeValue::S(keys::user_pk(user)))
        .expression_attribute_values(":prefix", AttributeValue::S(prefix.to_owned()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .count as usize
}

async fn in_sweep_index(ledger: &DynamoLedger, session: &Session) -> bool {
    ledger
        .open_sessions_due(
            keys::shard_of(&session.owner_id),
            at("2030-01-01T00:00:00Z"),
            1000,
            None,
        )
        .await
        .unwrap()
        .sessions
        .iter()
        .any(|s| s.session_id == session.session_id)
}

#[tokio::test]
async fn each_person_has_private_notes_guarded_by_their_tag() {
    let ledger = fresh_ledger().await;
    let (owner, partner) = (user("notes-owner"), user("notes-partner"));
    let session = active_session(&ledger, &owner, &partner).await;
    let now = at(NOW);

    let unwritten = ledger
        .read_notes(notes_key(&session, &owner))
        .await
        .unwrap();
    assert_eq!((unwritten.text.as_str(), unwritten.updated_at), ("", None));
    let first_write = Precondition::from_if_match(Some(&unwritten.etag())).unwrap();
    let mine = ledger
        .write_notes(
            notes_key(&session, &owner),
            "owner's thoughts",
            &first_write,
            now,
        )
        .await
        .unwrap();
    let theirs = ledger
        .write_notes(
            notes_key(&session, &partner),
            "partner's thoughts",
            &Precondition::Any,
            now,
        )
        .await
        .unwrap();
    assert_ne!(mine.etag(), theirs.etag());
    assert_eq!(
        ledger
            .read_notes(notes_key(&session, &owner))
            .await
            .unwrap(),
        mine
    );
    assert_eq!(
        ledger
            .read_notes(notes_key(&session, &partner))
            .await
            .unwrap()
            .text,
        "partner's thoughts"
    );

    // A second tab still holding the first tag: refused, nothing written.
    let stale = ledger
        .write_notes(notes_key(&session, &owner), "overwrite", &first_write, now)
        .await;
    assert!(
        matches!(stale, Err(LedgerError::PreconditionFailed)),
        "{stale:?}"
    );
    assert_eq!(
        ledger
            .read_notes(notes_key(&session, &owner))
            .await
            .unwrap(),
        mine
    );
    // With the current tag it goes through, and gets a new tag.
    let current = Precondition::from_if_match(Some(&mine.etag())).unwrap();
    let newer = ledger
        .write_notes(
            notes_key(&session, &owner),
            "second thoughts",
            &current,
            now,
        )
        .await
        .unwrap();
    assert_ne!(newer.etag(), mine.etag());

    // Notes on a session that does not exist are never written.
    let mut missing = session.clone();
    missing.session_id = awaknow_core::domain::SessionId::new_at(now);
    let orphan = ledger
        .write_notes(notes_key(&missing, &owner), "x", &Precondition::Any, now)
        .await;
    assert!(
        matches!(orphan, Err(LedgerError::SessionNotFound)),
        "{orphan:?}"
    );
    assert_eq!(
        items(&ledger, &owner, &keys::notes_prefix(missing.session_id)).await,
        0
    );
}

#[tokio::test]
async fn erasing_removes_everything_kept_with_the_session_and_no_minute() {
    let ledger = fresh_ledger().await;
    let (owner, partner) = (user("erase-owner"), user("erase-partner"));
    let active = active_session(&ledger, &owner, &partner).await;

    // Open: refused, nothing changes.
    assert!(matches!(
        ledger.erase_session(&active, Utc::now()).await,
        Err(LedgerError::SessionOpen)
    ));
    let session = settle(&ledger, &active, at("2026-11-24T10:02:30Z")).await;
    assert!(
        in_sweep_index(&ledger, &session).await,
        "waiting for Tavus's copy to go"
    );
    ledger
        .store_transcript(&owner, session.session_id, &long_transcript())
        .await
        .unwrap();
    for author in [&owner, &partner] {
        ledger
            .write_notes(
                notes_key(&session, author),
                "mine",
                &Precondition::Any,
                at(NOW),
            )
            .await
            .unwrap();
    }
    let account_before = ledger.read_account(&owner).await.unwrap().unwrap();

    let erased = ledger.erase_session(&session, Utc::now()).await.unwrap();
    assert_eq!(
        erased,
        Erased {
            transcript_items: 5,
            notes: 2,
            participations: 1,
            recording_references: 0,
        }
    );
    for reader in [&owner, &partner] {
        assert!(matches!(
            ledger.get_session(reader, session.session_id).await,
            Err(LedgerError::SessionNotFound)
        ));
    }
    assert_eq!(
        ledger
            .read_transcript(&owner, session.session_id)
            .await
            .unwrap(),
        None
    );
    for (who, prefix) in [
        (&owner, keys::transcript_sk(session.session_id)),
        (&owner, keys::notes_prefix(session.session_id)),
        (&owner, keys::session_sk(session.session_id)),
        (&partner, keys::session_sk(session.session_id)),
    ] {
        assert_eq!(items(&ledger, who, &prefix).await, 0, "{prefix} of {who}");
    }
    assert!(!in_sweep_index(&ledger, &session).await);
    assert_eq!(
        ledger.read_account(&owner).await.unwrap().unwrap(),
        account_before,
        "what was charged stays charged"
    );
    // Only its figures are kept, under the owner's partition, to explain the account's.
    let books = ledger.books(&owner).await.unwrap();
    assert!(books.sessions.is_empty(), "{:?}", books.sessions);
    let [record] = books.erased.as_slice() else {
        panic!("one erased record: {:?}", books.erased)
    };
    assert_eq!(
        (
            record.session_id,
            record.period,
            record.status,
            record.reserved_minutes,
            record.charged_minutes
        ),
        (
            session.session_id,
            session.period,
            SessionStatus::Ended,
            10,
            3
        )
    );
    assert_eq!(
        items(&ledger, &owner, keys::ERASED_SESSION_SK_PREFIX).await,
        1
    );
    assert_eq!(
        items(&ledger, &partner, keys::ERASED_SESSION_SK_PREFIX).await,
        0
    );
    // Nothing of it can be written again, and a second erasure finds nothing.
    assert!(matches!(
        ledger
            .store_transcript(&owner, session.session_id, &long_transcript())
            .await,
        Err(LedgerError::SessionNotFound)
    ));
    assert_eq!(
        items(&ledger, &owner, &keys::transcript_sk(session.session_id)).await,
        0
    );
    assert!(matches!(
        ledger.erase_session(&session, Utc::now()).await,
        Err(LedgerError::SessionNotFound)
    ));
}

#[tokio::test]
async fn an_erasure_cut_short_blocks_writes_and_the_next_one_finishes_it() {
    let ledger = fresh_ledger().await;
    let (owner, partner) = (user("cut-owner"), user("cut-partner"));
    let active = active_session(&ledger, &owner, &partner).await;
    let session = settle(&ledger, &active, at("2026-11-24T10:02:30Z")).await;
    ledger
        .write_notes(
            notes_key(&session, &partner),
            "before",
            &Precondition::Any,
            at(NOW),
        )
        .await
        .unwrap();
    // As the first step of an erasure leaves it when the function stops right after.
    ledger
        .client()
        .update_item()
        .table_name(ledger.table())
        .key("pk", AttributeValue::S(keys::user_pk(&owner)))
        .key(
            "sk",
            AttributeValue::S(keys::session_sk(session.session_id)),
        )
        .update_expression("SET #e = :yes")
        .expression_attribute_names("#e", keys::ERASING)
        .expression_attribute_values(":yes", AttributeValue::Bool(true))
        .send()
        .await
        .unwrap();

    let late_notes = ledger
        .write_notes(
            notes_key(&session, &owner),
            "late",
            &Precondition::Any,
            at(NOW),
        )
        .await;
    assert!(
        matches!(late_notes, Err(LedgerError::SessionNotFound)),
        "{late_notes:?}"
    );
    let late_transcript = ledger
        .store_transcript(&owner, session.session_id, &long_transcript())
        .await;
    assert!(matches!(late_transcript, Err(LedgerError::SessionNotFound)));
    assert_eq!(
        items(&ledger, &owner, &keys::transcript_sk(session.session_id)).await,
        0,
        "no chunk of the refused transcript was written"
    );

    let (found, role) = ledger
        .get_session(&owner, session.session_id)
        .await
        .unwrap();
    assert_eq!(role, Role::Owner);
    let erased = ledger.erase_session(&found, Utc::now()).await.unwrap();
    assert_eq!((erased.notes, erased.participations), (1, 1));
    assert_eq!(
        items(&ledger, &owner, &keys::notes_prefix(session.session_id)).await,
        0
    );
    assert!(matches!(
        ledger.get_session(&owner, session.session_id).await,
        Err(LedgerError::SessionNotFound)
    ));
}

/// Tavus over HTTP (wiremock): answers every delete with `status`; the client's key is in moto.
async fn tavus_answering(
    status: u16,
) -> (
    wiremock::MockServer,
    awaknow_core::tavus::TavusClient<awaknow_core::secrets::SecretsManagerSource>,
) {
    let server = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::method("DELETE"))
        .respond_with(wiremock::ResponseTemplate::new(status))
        .mount(&server)
        .await;
    let (keys, _) = crate::tavus_client::keys_with("tk-erasure").await;
    let client =
        awaknow_core::tavus::TavusClient::new(crate::tavus_client::config_for(&server.uri()), keys);
    (server, client)
}

/// The paths of the deletes a Tavus stand-in server received.
async fn deleted(server: &wiremock::MockServer) -> Vec<String> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| r.method.as_str() == "DELETE")
        .map(|r| format!("{}?{}", r.url.path(), r.url.query().unwrap_or("")))
        .collect()
}

#[tokio::test]
async fn tavus_keeping_its_copy_erases_nothing_and_the_owner_alone_erases() {
    let ledger = fresh_ledger().await;
    let (owner, partner) = (user("api-owner"), user("api-partner"));
    let active = active_session(&ledger, &owner, &partner).await;
    let id = active.session_id;
    let deadline = Instant::now() + Duration::from_secs(10);
    let (server, tavus) = tavus_answering(204).await;

    let open = erase::delete_session(&ledger, &tavus, None, &owner, id, deadline)
        .await
        .map_err(ApiError::from);
    assert!(
        matches!(open, Err(ApiError::Service(ServiceError::SessionActive))),
        "{open:?}"
    );
    let session = settle(&ledger, &active, at("2026-11-24T10:02:30Z")).await;
    let by_partner = erase::delete_session(&ledger, &tavus, None, &partner, id, deadline)
        .await
        .map_err(ApiError::from);
    assert!(
        matches!(by_partner, Err(ApiError::Service(ServiceError::NotFound))),
        "{by_partner:?}"
    );
    assert!(deleted(&server).await.is_empty());

    // Tavus down: a retryable 503, and the session still where the sweeper finds it.
    let (_down_server, down) = tavus_answering(503).await;
    let refused = erase::delete_session(&ledger, &down, None, &owner, id, deadline)
        .await
        .map_err(ApiError::from);
    let Err(error) = refused else {
        panic!("erased although Tavus kept its copy")
    };
    let (problem, retry_after) = error.problem();
    assert_eq!(
        (problem.status, problem.code),
        (503, "dependency_unavailable")
    );
    assert!(retry_after.is_some());
    assert!(ledger.get_session(&owner, session.session_id).await.is_ok());
    assert!(
        in_sweep_index(&ledger, &session).await,
        "the sweeper still deletes the copy"
    );

    erase::delete_session(&ledger, &tavus, None, &owner, id, deadline)
        .await
        .map_err(ApiError::from)
        .unwrap();
    assert_eq!(
        deleted(&server).await,
        [format!(
            "/v2/conversations/{}?hard=true",
            session.conversation_id.clone().unwrap()
        )]
    );
    assert!(matches!(
        ledger.get_session(&owner, session.session_id).await,
        Err(LedgerError::SessionNotFound)
    ));
}

/// An erasure cut short after it began (its owner never got the 204, and may never ask again)
/// is finished by the sweeper, recorded session or not: nothing of it stays.
#[tokio::test]
async fn an_erasure_cut_short_is_finished_by_the_sweeper() {
    let ledger = fresh_ledger().await;
    let (owner, partner) = (user("cut-sweep-owner"), user("cut-sweep-partner"));
    let active = active_session(&ledger, &owner, &partner).await;
    let session = settle(&ledger, &active, at("2026-11-24T10:02:30Z")).await;
    ledger
        .write_notes(
            notes_key(&session, &partner),
            "kept until erased",
            &Precondition::Any,
            at(NOW),
        )
        .await
        .unwrap();
    let cut = test_support::cut_short(&ledger);
    assert!(cut.erase_session(&session, Utc::now()).await.is_err());

    let later = Utc::now() + chrono::Duration::minutes(2);
    let deadline = Instant::now() + Duration::from_secs(20);
    let swept = erase::finish_erasures(&ledger, None, later, deadline).await;
    assert_eq!((swept.finished, swept.failed), (1, 0), "{swept:?}");
    assert!(matches!(
        ledger.get_session(&owner, session.session_id).await,
        Err(LedgerError::SessionNotFound)
    ));
    assert_eq!(
        items(&ledger, &owner, &keys::notes_prefix(session.session_id)).await,
        0
    );
}
