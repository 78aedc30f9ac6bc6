//! What the store keeps for the audit, on DynamoDB Local: the record an erasure leaves of a
//! session's figures (with the session's delete, or not at all), the references naming each
//! recording object's session, the minutes tally of each period by cause (once per close), a
//! user's books and every account of an index shard.

use std::collections::{BTreeMap, HashSet};

use awaknow_core::LedgerError;
use awaknow_core::domain::{
    Account, Cause, CauseFigures, EndReason, Period, PlanCatalog, PlanId, Precondition,
    RecordingFile, Session, SessionStatus, SessionType, UserId,
};
use awaknow_core::store::dynamo::playback::RecordingWrite;
use awaknow_core::store::items::{NotesItem, RecordingReferenceItem};
use awaknow_core::store::keys;
use awaknow_core::store::{
    ACCOUNT_PAGE, Closed, Closing, DynamoLedger, IdempotencyKey, NotesKey, RecordingReference,
    ReservationRequest, Reserved,
};
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Duration, Utc};

use crate::support::{activated, at, fresh_ledger, fresh_ledger_with_cap, reread, user};

const NOW: &str = "2026-11-24T10:00:00Z";

/// A pending session of `owner` (with `partners`), reserved at `now`.
async fn pending(
    ledger: &DynamoLedger,
    owner: &UserId,
    partners: &[UserId],
    now: DateTime<Utc>,
) -> Session {
    let request = ReservationRequest {
        owner: owner.clone(),
        session_type: if partners.is_empty() {
            SessionType::ReflectAlone
        } else {
            SessionType::ResolveTogether
        },
        participants: partners.to_vec(),
        requested_minutes: Some(10),
        now,
        idempotency: None,
        record: true,
    };
    let Reserved::New(session) = ledger.reserve(request).await.unwrap() else {
        panic!("a new session")
    };
    session
}

/// The same, active on conversation `c-<session>`.
async fn active(
    ledger: &DynamoLedger,
    owner: &UserId,
    partners: &[UserId],
    now: DateTime<Utc>,
) -> Session {
    let session = pending(ledger, owner, partners, now).await;
    activated(ledger, &session).await
}

/// Settled with `charged` minutes, `minutes` after its creation.
async fn settled(ledger: &DynamoLedger, session: &Session, charged: u32, minutes: i64) -> Session {
    let ended_at = session.created_at + Duration::minutes(minutes);
    let closed = ledger
        .close(Closing::settle(
            session,
            charged,
            EndReason::ParticipantLeft,
            ended_at,
        ))
        .await
        .unwrap();
    assert_eq!(closed, Closed::IntoAccount);
    reread(ledger, session).await
}

/// How many items of `pk` have a sort key starting with `prefix`.
async fn count(ledger: &DynamoLedger, pk: String, prefix: &str) -> usize {
    ledger
        .client()
        .query()
        .table_name(ledger.table())
        .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
        .expression_attribute_values(":pk", AttributeValue::S(pk))
        .expression_attribute_values(":prefix", AttributeValue::S(prefix.to_owned()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .count as usize
}

fn file(key: &str, ready_at: DateTime<Utc>) -> RecordingFile {
    RecordingFile {
        key: key.to_owned(),
        duration_seconds: Some(60),
        ready_at,
    }
}

#[tokio::test]
async fn an_erasure_keeps_the_session_s_figures_only_with_its_delete() {
    let ledger = fresh_ledger().await;
    let (owner, partner) = (user("erased-owner"), user("erased-partner"));
    let now = at(NOW);
    let session = active(&ledger, &owner, std::slice::from_ref(&partner), now).await;
    let session = settled(&ledger, &session, 4, 5).await;
    ledger
        .write_notes(
            NotesKey {
                owner: &owner,
                session_id: session.session_id,
                author: &partner,
            },
            "private",
            &Precondition::Any,
            now,
        )
        .await
        .unwrap();

    // Stopped before its transactions: the session is still there, and no record without it.
    let cut = test_support::cut_short(&ledger);
    assert!(cut.erase_session(&session, now).await.is_err());
    let books = ledger.books(&owner).await.unwrap();
    assert_eq!(books.sessions.len(), 1, "the session is still there");
    assert!(books.erased.is_empty(), "{:?}", books.erased);
    assert_eq!(
        count(
            &ledger,
            keys::user_pk(&owner),
            keys::ERASED_SESSION_SK_PREFIX
        )
        .await,
        0
    );

    let erased_at = now + Duration::hours(1);
    ledger.erase_session(&session, erased_at).await.unwrap();
    let books = ledger.books(&owner).await.unwrap();
    assert!(books.sessions.is_empty());
    let [record] = books.erased.as_slice() else {
        panic!("one record: {:?}", books.erased)
    };
    assert_eq!(record.session_id, session.session_id);
    assert_eq!(record.period, session.period);
    assert_eq!(record.status, SessionStatus::Ended);
    assert_eq!((record.reserved_minutes, record.charged_minutes), (10, 4));
    assert_eq!(record.erased_at, erased_at);
    let account = books.account.unwrap();
    assert_eq!(
        account.used_minutes,
        i64::from(record.charged_minutes),
        "the account's minutes are explained by the record"
    );
    // Nothing but figures: the record holds no conversation, participant or note.
    let raw = ledger
        .client()
        .get_item()
        .table_name(ledger.table())
        .key("pk", AttributeValue::S(keys::user_pk(&owner)))
        .key(
            "sk",
            AttributeValue::S(keys::erased_session_sk(session.session_id)),
        )
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    let mut names: Vec<&str> = raw.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "charged_minutes",
            "erased_at",
            "period",
            "pk",
            "reserved_minutes",
            "session_id",
            "sk",
            "status"
        ]
    );
    assert!(ledger.books(&partner).await.unwrap().erased.is_empty());
}

#[tokio::test]
async fn a_released_session_erased_among_many_items_keeps_its_record() {
    let ledger = fresh_ledger().await;
    let (owner, partner) = (user("many-owner"), user("many-partner"));
    let now = at(NOW);
    let session = pending(&ledger, &owner, std::slice::from_ref(&partner), now).await;
    ledger
        .close(Closing::release(&session, EndReason::TavusFailed, now))
        .await
        .unwrap();
    let session = reread(&ledger, &session).await;
    // 98 notes and one participation: 99 deletes, so the record and the session's delete
    // need a transaction of their own. Notes are written by a session's members only (at most
    // eight), so these 98 are put as items.
    for i in 0..98 {
        let author = UserId::parse(&format!("author-{i}")).unwrap();
        let notes = NotesItem::new(
            &owner,
            session.session_id,
            &author,
            "n",
            format!("r{i}"),
            now,
        );
        ledger
            .client()
            .put_item()
            .table_name(ledger.table())
            .set_item(Some(serde_dynamo::to_item(&notes).unwrap()))
            .send()
            .await
            .unwrap();
    }
    let (watching, transactions) = test_support::watched(&ledger);
    let erased = watching.erase_session(&session, now).await.unwrap();
    assert_eq!((erased.notes, erased.participations), (98, 1));
    // The record is put in the very transaction that deletes the session item.
    let sent = transactions.bodies();
    assert_eq!(sent.len(), 2, "99 deletes, then the record and the session");
    let record_sk = keys::erased_session_sk(session.session_id);
    let session_sk = keys::session_sk(session.session_id);
    let holding = |needle: &str| sent.iter().position(|body| body.contains(needle));
    assert_eq!(holding(&record_sk), Some(1));
    let last: serde_json::Value = serde_json::from_str(&sent[1]).unwrap();
    let items = last["TransactItems"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{last}");
    assert_eq!(items[0]["Put"]["Item"]["sk"]["S"], record_sk.as_str());
    assert_eq!(items[1]["Delete"]["Key"]["sk"]["S"], session_sk.as_str());
    let books = ledger.books(&owner).await.unwrap();
    assert!(books.sessions.is_empty());
    let [record] = books.erased.as_slice() else {
        panic!("one record: {:?}", books.erased)
    };
    assert_eq!(
        (
            record.status,
            record.reserved_minutes,
            record.charged_minutes
        ),
        (SessionStatus::Failed, 10, 0)
    );
    assert_eq!(
        count(
            &ledger,
            keys::user_pk(&owner),
            &keys::notes_prefix(session.session_id)
        )
        .await,
        0
    );
}

#[tokio::test]
async fn each_recording_object_names_its_session_until_the_erasure() {
    let ledger = fresh_ledger().await;
    let owner = user("ref-owner");
    let now = at(NOW);
    let session = active(&ledger, &owner, &[], now).await;
    let conversation = session.conversation_id.clone().unwrap();
    let (first, second) = (
        format!("{conversation}/1.mp4"),
        format!("{conversation}/2.mp4"),
    );

    assert_eq!(
        ledger
            .store_recording(
                &owner,
                session.session_id,
                &conversation,
                &file(&first, now)
            )
            .await
            .unwrap(),
        RecordingWrite::Stored
    );
    let reference_item = |key: String| {
        let ledger = ledger.clone();
        async move {
            ledger
                .client()
                .get_item()
                .table_name(ledger.table())
                .key("pk", AttributeValue::S(keys::recording_pk(&key)))
                .key("sk", AttributeValue::S(keys::RECORDING_SK.to_owned()))
                .consistent_read(true)
                .send()
                .await
                .unwrap()
                .item
        }
    };
    let written = reference_item(first.clone()).await.unwrap();
    let stored: RecordingReferenceItem = serde_dynamo::from_item(written.clone()).unwrap();
    assert_eq!(
        (stored.owner_id, stored.session_id),
        (owner.clone(), session.session_id)
    );

    // A duplicate changes nothing, the reference included.
    let later = file(&first, now + Duration::minutes(1));
    assert_eq!(
        ledger
            .store_recording(&owner, session.session_id, &conversation, &later)
            .await
            .unwrap(),
        RecordingWrite::Duplicate
    );
    assert_eq!(reference_item(first.clone()).await, Some(written));
    let recording = reread(&ledger, &session).await.playback.recording.unwrap();
    assert_eq!(
        recording.ready_at, now,
        "the first file stays the recording"
    );

    // Another conversation's callback: refused, and no reference written.
    let stray = "c-other/1.mp4".to_owned();
    let refused = ledger
        .store_recording(&owner, session.session_id, "c-other", &file(&stray, now))
        .await;
    assert!(
        matches!(refused, Err(LedgerError::SessionMismatch(_))),
        "{refused:?}"
    );
    assert_eq!(reference_item(stray.clone()).await, None);

    assert_eq!(
        ledger
            .store_recording(
                &owner,
                session.session_id,
                &conversation,
                &file(&second, now)
            )
            .await
            .unwrap(),
        RecordingWrite::Stored
    );
    let found = ledger
        .recording_references(&[first.clone(), second.clone(), stray.clone()])
        .await
        .unwrap();
    let named = RecordingReference {
        owner: owner.clone(),
        session_id: session.session_id,
    };
    assert_eq!(found.len(), 2, "{found:?}");
    assert_eq!(found.get(&first), Some(&named));
    assert_eq!(found.get(&second), Some(&named));

    // Once the erasure began nothing is added, references neither; the erasure takes both.
    let session = settled(&ledger, &session, 3, 4).await;
    let marked = ledger
        .mark_recording_erasure(&session, now + Duration::hours(1))
        .await
        .unwrap();
    let third = format!("{conversation}/3.mp4");
    assert_eq!(
        ledger
            .store_recording(
                &owner,
                session.session_id,
                &conversation,
                &file(&third, now)
            )
            .await
            .unwrap(),
        RecordingWrite::Erasing
    );
    assert_eq!(reference_item(third).await, None);
    let erased = ledger
        .erase_session(&marked, now + Duration::hours(1))
        .await
        .unwrap();
    assert_eq!(erased.recording_references, 2);
    assert!(
        ledger
            .recording_references(&[first, second])
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn references_are_read_in_batches_past_a_hundred_keys() {
    let ledger = fresh_ledger().await;
    let owners: Vec<UserId> = (0..3).map(|i| user(&format!("batch-{i}"))).collect();
    let now = at(NOW);
    let mut keys_asked = Vec::new();
    let mut expected = BTreeMap::new();
    for i in 0..250 {
        let owner = &owners[i % owners.len()];
        let session_id = awaknow_core::domain::SessionId::new_at(now);
        let key = format!("conversations/c-{i}/recording-{i}.mp4");
        let item = RecordingReferenceItem::new(&key, owner, session_id, now);
        ledger
            .client()
            .put_item()
            .table_name(ledger.table())
            .set_item(Some(serde_dynamo::to_item(&item).unwrap()))
            .send()
            .await
            .unwrap();
        keys_asked.push(key.clone());
        expected.insert(
            key,
            RecordingReference {
                owner: owner.clone(),
                session_id,
            },
        );
    }
    // Keys without a reference, and a key asked twice.
    keys_asked.extend((0..20).map(|i| format!("conversations/none-{i}.mp4")));
    keys_asked.push(keys_asked[0].clone());

    let found = ledger.recording_references(&keys_asked).await.unwrap();
    assert_eq!(found.into_iter().collect::<BTreeMap<_, _>>(), expected);
    assert!(ledger.recording_references(&[]).await.unwrap().is_empty());
}

/// Figures as the tally reports them.
fn figures(conversations: i64, ran_minutes: i64, charged_minutes: i64) -> CauseFigures {
    CauseFigures {
        conversations,
        ran_minutes,
        charged_minutes,
    }
}

#[tokio::test]
async fn the_tally_counts_each_conversation_that_ran_once_under_its_cause() {
    let ledger = fresh_ledger_with_cap(10).await;
    let now = at(NOW);
    let period = Period::containing(now);
    let (alice, bob, carol) = (user("tally-a"), user("tally-b"), user("tally-c"));
    let seconds = |s: &Session, n: i64| s.created_at + Duration::seconds(n);

    // Charged: two users (two shards, most likely), 5 min 30 s charged 5, and 150 s charged 3.
    let a1 = active(&ledger, &alice, &[], now).await;
    let charge = Closing::settle(&a1, 5, EndReason::UserEnded, seconds(&a1, 330));
    assert_eq!(
        ledger.close(charge.clone()).await.unwrap(),
        Closed::IntoAccount
    );
    assert_eq!(
        ledger.close(charge).await.unwrap(),
        Closed::AlreadyClosed,
        "a duplicate close counts nothing"
    );
    let b1 = active(&ledger, &bob, &[], now).await;
    ledger
        .close(Closing::settle(
            &b1,
            3,
            EndReason::MaxDuration,
            seconds(&b1, 150),
        ))
        .await
        .unwrap();

    // Nobody joined: Tavus ended it at its join window.
    let a2 = active(&ledger, &alice, &[], now).await;
    ledger
        .close(
            Closing::settle(&a2, 2, EndReason::ParticipantLeft, seconds(&a2, 122))
                .nobody_joined(true),
        )
        .await
        .unwrap();

    // Test mode: nothing ran.
    let b2 = active(&ledger, &bob, &[], now).await;
    ledger
        .close(Closing::settle(&b2, 0, EndReason::TestMode, now))
        .await
        .unwrap();

    // Swept: charged the reservation after running 70 minutes.
    let c1 = active(&ledger, &carol, &[], now).await;
    ledger
        .close(Closing::settle(
            &c1,
            10,
            EndReason::Swept,
            seconds(&c1, 4200),
        ))
        .await
        .unwrap();

    // Released with a conversation Tavus created (recorded at the release, or held already).
    let c2 = pending(&ledger, &carol, &[], now).await;
    ledger
        .close(
            Closing::release(&c2, EndReason::TavusFailed, seconds(&c2, 60))
                .with_unheld_conversation("c-unheld", None),
        )
        .await
        .unwrap();
    let c3 = active(&ledger, &carol, &[], now).await;
    ledger
        .close(Closing::release(
            &c3,
            EndReason::UserEnded,
            seconds(&c3, 200),
        ))
        .await
        .unwrap();
    // Released before any conversation: nothing ran, nothing counted.
    let c4 = pending(&ledger, &carol, &[], now).await;
    ledger
        .close(Closing::release(
            &c4,
            EndReason::Abandoned,
            seconds(&c4, 300),
        ))
        .await
        .unwrap();

    // An orphan the sweeper ended ten minutes after Tavus created it; one of last month.
    ledger
        .record_orphan_end(&alice, now, now + Duration::minutes(10))
        .await
        .unwrap();
    let october = at("2026-10-31T23:58:00Z");
    ledger
        .record_orphan_end(&bob, october, october + Duration::minutes(5))
        .await
        .unwrap();

    let tally = ledger.tally(period).await.unwrap();
    assert_eq!(tally.period, period);
    let expected = BTreeMap::from([
        (Cause::Charged, figures(2, 6 + 3, 5 + 3)),
        (Cause::NobodyJoined, figures(1, 2, 2)),
        (Cause::TestMode, figures(1, 0, 0)),
        (Cause::EndedBySweeper, figures(1, 70, 10)),
        (Cause::Released, figures(2, 1 + 4, 0)),
        (Cause::Orphan, figures(1, 10, 0)),
    ]);
    assert_eq!(tally.by_cause, expected);
    assert_eq!(tally.uncharged_minutes(Cause::EndedBySweeper), 60);
    assert_eq!(tally.uncharged_minutes(Cause::Charged), 1);
    let last_month = ledger.tally(Period::new(2026, 10).unwrap()).await.unwrap();
    assert_eq!(
        last_month.by_cause,
        BTreeMap::from([(Cause::Orphan, figures(1, 5, 0))])
    );
    let empty = ledger.tally(period.next()).await.unwrap();
    assert!(empty.by_cause.is_empty());
}

#[tokio::test]
async fn a_close_booked_into_the_history_counts_in_its_own_period() {
    let ledger = fresh_ledger().await;
    let owner = user("tally-history");
    let october = at("2026-10-31T23:50:00Z");
    let session = active(&ledger, &owner, &[], october).await;
    ledger
        .roll_over(&owner, at("2026-11-01T00:05:00Z"))
        .await
        .unwrap();
    let closing = Closing::settle(
        &session,
        10,
        EndReason::MaxDuration,
        october + Duration::seconds(601),
    );
    assert_eq!(
        ledger.close(closing.clone()).await.unwrap(),
        Closed::IntoHistory
    );
    assert_eq!(ledger.close(closing).await.unwrap(), Closed::AlreadyClosed);
    let tally = ledger.tally(session.period).await.unwrap();
    assert_eq!(
        tally.by_cause,
        BTreeMap::from([(Cause::Charged, figures(1, 10, 10))])
    );
    assert!(
        ledger
            .tally(session.period.next())
            .await
            .unwrap()
            .by_cause
            .is_empty()
    );
    let account = ledger.read_account(&owner).await.unwrap().unwrap();
    assert_eq!(account.open_sessions, 0, "its place is given back");
}

#[tokio::test]
async fn books_hold_own_sessions_history_and_erased_records_only() {
    let ledger = fresh_ledger_with_cap(5).await;
    let (owner, partner) = (user("books-owner"), user("books-partner"));
    assert_eq!(
        ledger.books(&owner).await.unwrap(),
        awaknow_core::store::Books {
            account: None,
            history: Vec::new(),
            sessions: Vec::new(),
            erased: Vec::new(),
        }
    );
    let october = at("2026-10-20T10:00:00Z");
    let old = active(&ledger, &owner, std::slice::from_ref(&partner), october).await;
    let old = settled(&ledger, &old, 3, 3).await;
    ledger
        .store_transcript(
            &owner,
            old.session_id,
            &awaknow_core::domain::Transcript {
                turns: vec![awaknow_core::domain::Turn {
                    role: "user".into(),
                    content: "said".into(),
                }],
            },
        )
        .await
        .unwrap();
    ledger
        .roll_over(&owner, at("2026-11-01T00:05:00Z"))
        .await
        .unwrap();

    let now = at(NOW);
    let request = ReservationRequest {
        owner: owner.clone(),
        session_type: SessionType::ResolveTogether,
        participants: vec![partner.clone()],
        requested_minutes: Some(10),
        now,
        idempotency: Some(IdempotencyKey {
            key: "books-1".into(),
            fingerprint: "f".into(),
        }),
        record: false,
    };
    let Reserved::New(current) = ledger.reserve(request).await.unwrap() else {
        panic!("a new session")
    };
    ledger
        .write_notes(
            NotesKey {
                owner: &owner,
                session_id: current.session_id,
                author: &partner,
            },
            "mine",
            &Precondition::Any,
            now,
        )
        .await
        .unwrap();
    let erasable = active(&ledger, &owner, &[], now).await;
    let erasable = settled(&ledger, &erasable, 2, 2).await;
    ledger.erase_session(&erasable, now).await.unwrap();
    let partners_own = active(&ledger, &partner, &[], now).await;

    let books = ledger.books(&owner).await.unwrap();
    let account = books.account.unwrap();
    assert_eq!(account.period, Period::containing(now));
    assert_eq!(account.used_minutes, 2);
    let [history] = books.history.as_slice() else {
        panic!("one closed period: {:?}", books.history)
    };
    assert_eq!((history.period, history.used_minutes), (old.period, 3));
    let ids: HashSet<_> = books.sessions.iter().map(|s| s.session_id).collect();
    assert_eq!(ids, HashSet::from([old.session_id, current.session_id]));
    assert!(books.sessions.iter().all(|s| s.owner_id == owner));
    let erased: Vec<_> = books.erased.iter().map(|e| e.session_id).collect();
    assert_eq!(erased, [erasable.session_id]);

    // The partner's partition lists the sessions they take part in: not theirs to account for.
    let theirs = ledger.books(&partner).await.unwrap();
    let ids: Vec<_> = theirs.sessions.iter().map(|s| s.session_id).collect();
    assert_eq!(ids, [partners_own.session_id]);
    assert!(theirs.history.is_empty() && theirs.erased.is_empty());
}

/// `n` user ids that land in index shard `shard`.
fn users_in_shard(shard: u32, n: usize) -> Vec<UserId> {
    let run = ulid::Ulid::new();
    (0..)
        .map(|i| UserId::parse(&format!("shard-{run}-{i}")).unwrap())
        .filter(|u| keys::shard_of(u) == shard)
        .take(n)
        .collect()
}

#[tokio::test]
async fn accounts_in_shard_pages_through_every_account_of_the_shard() {
    let ledger = fresh_ledger().await;
    let catalog = PlanCatalog::default();
    let wanted = users_in_shard(7, ACCOUNT_PAGE as usize + 30);
    let elsewhere = users_in_shard(8, 5);
    // Accounts in several periods: the shard's page takes every period.
    let accounts: Vec<Account> = wanted
        .iter()
        .chain(&elsewhere)
        .enumerate()
        .map(|(i, u)| {
            let start = if i % 3 == 0 {
                "2026-09-10T00:00:00Z"
            } else {
                NOW
            };
            Account::fresh(u.clone(), PlanId::Free, &catalog, at(start))
        })
        .collect();
    ledger.import_accounts(&accounts).await.unwrap();

    let mut seen = Vec::new();
    let mut pages = 0;
    let mut start = None;
    loop {
        let page = ledger.accounts_in_shard(7, start).await.unwrap();
        pages += 1;
        assert!(page.users.len() <= ACCOUNT_PAGE as usize);
        seen.extend(page.users);
        match page.next {
            Some(next) => start = Some(next),
            None => break,
        }
    }
    assert!(pages >= 2, "{pages} page(s)");
    assert_eq!(seen.len(), wanted.len(), "each account once");
    let seen: HashSet<UserId> = seen.into_iter().collect();
    assert_eq!(seen, wanted.into_iter().collect::<HashSet<_>>());
}

/// Tavus's shutdown callback says why the call ended: one nobody joined is counted so, any
/// other as charged; a repeated callback counts nothing more.
#[tokio::test]
async fn shutdown_callbacks_count_under_the_reason_tavus_gave() {
    use awaknow_core::service::callback_token;
    use awaknow_core::service::callbacks::{self, CallbackContext, Handled};
    use std::time::Instant;

    let ledger = fresh_ledger_with_cap(5).await;
    let owner = user("tally-callback");
    let now = at(NOW);
    let (keys, _) = crate::tavus_client::keys_with("tk-tally").await;
    // Shutdowns never call Tavus (its copy is left for the transcript): nothing answers here.
    let tavus = awaknow_core::tavus::TavusClient::new(
        crate::tavus_client::config_for("http://127.0.0.1:9"),
        std::sync::Arc::clone(&keys),
    );
    let key = keys.webhook_key().await.unwrap();
    let shutdown = |session: &Session, seconds: i64, reason: &str| {
        let token = callback_token::sign(&key, &callback_token::CallbackClaims::of(session));
        let body = serde_json::json!({
            "properties": {"shutdown_reason": reason},
            "conversation_id": session.conversation_id,
            "event_type": "system.shutdown",
            "message_type": "system",
            "timestamp": (session.created_at + Duration::seconds(seconds)).to_rfc3339(),
        });
        (token, body.to_string())
    };
    let post = |(token, body): (String, String)| {
        let cx = CallbackContext {
            tavus: &tavus,
            keys: &keys,
            delete_after_call: false,
            deadline: Instant::now() + std::time::Duration::from_secs(10),
            recordings: None,
        };
        let ledger = ledger.clone();
        async move {
            callbacks::tavus_callback(&ledger, cx, &token, body.as_bytes())
                .await
                .unwrap()
        }
    };

    let absent = active(&ledger, &owner, &[], now).await;
    let event = shutdown(&absent, 121, "participant_absent_timeout reached");
    assert_eq!(post(event.clone()).await, Handled::Settled);
    assert_eq!(post(event).await, Handled::AlreadySettled);
    let left = active(&ledger, &owner, &[], now).await;
    assert_eq!(
        post(shutdown(&left, 240, "participant_left_timeout")).await,
        Handled::Settled
    );

    let tally = ledger.tally(Period::containing(now)).await.unwrap();
    assert_eq!(
        tally.by_cause,
        BTreeMap::from([
            (Cause::NobodyJoined, figures(1, 2, 2)),
            (Cause::Charged, figures(1, 4, 4)),
        ])
    );
}
