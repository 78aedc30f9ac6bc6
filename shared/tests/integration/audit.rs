//! The audit against real parts, each kind of drift made for real: the ledger on DynamoDB
//! Local (items changed behind its back), the recordings bucket on moto's S3 (objects put or
//! removed), Tavus as the simulator (conversations left there). A stack whose own paths did
//! their work reports nothing; `--fix` mends what is safe and the audit after finds nothing.
//!
//! The audit runs with a `now` hours ahead of the clock, so everything made here is old enough
//! to judge, as it would be at the daily run.

use std::time::{Duration as StdDuration, Instant};

use awaknow_core::domain::cost::Cause;
use awaknow_core::domain::{EndReason, RecordingFile, Session, SessionId, SessionStatus, UserId};
use awaknow_core::recording_bucket::Recordings;
use awaknow_core::service::audit::figures::Figure;
use awaknow_core::service::audit::{
    self, AccountSample, Audit, AuditOptions, AuditReport, Check, Finding, Fixed,
};
use awaknow_core::service::settle::end_session;
use awaknow_core::service::sweep::{SweepOptions, sweep};
use awaknow_core::store::{Activation, Closing, DynamoLedger, Reserved, keys};
use awaknow_core::tavus::{Tavus, TavusClient};
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Duration, Utc};
use tavus_sim::{RunningSim, SimConfig};
use test_support::{Keys, cut_short};

use crate::recording::{bucket, exists, put};
use crate::support::{alone, create_alone, fresh_ledger_with_cap, user};
use crate::tavus_client::{config_for, keys_with};

/// The ledger, the simulator, the client (with the key in moto's Secrets Manager) and a bucket.
struct Stack {
    ledger: DynamoLedger,
    // Kept for as long as the stack: dropping it stops the simulator.
    _sim: RunningSim,
    tavus: Tavus,
    keys: Keys,
    recordings: Recordings,
}

async fn stack() -> Stack {
    let sim = test_support::start_sim(SimConfig::default()).await;
    let (keys, _) = keys_with("sim-key").await;
    let tavus = TavusClient::new(config_for(&sim.base_url()), keys.clone());
    Stack {
        ledger: fresh_ledger_with_cap(10).await,
        _sim: sim,
        tavus,
        keys,
        recordings: bucket().await,
    }
}

fn soon() -> Instant {
    Instant::now() + StdDuration::from_secs(30)
}

impl Stack {
    async fn audit(&self, now: DateTime<Utc>, fix: bool) -> AuditReport {
        let audit = Audit {
            ledger: &self.ledger,
            tavus: &self.tavus,
            recordings: Some(&self.recordings),
            options: AuditOptions {
                accounts: AccountSample::All,
                fix,
                ..AuditOptions::default()
            },
        };
        audit.run(now, soon()).await
    }

    /// A session created as `POST /sessions` does: reserved, created at the simulator, active.
    async fn create(&self, owner: &UserId) -> Session {
        create_alone(&self.ledger, &self.tavus, &self.keys, owner).await
    }

    /// The owner ends the call, then the sweeper deletes Tavus's copy: the paths as they run.
    async fn end_and_sweep(&self, session: &Session) {
        end_session(
            &self.ledger,
            &self.tavus,
            &session.owner_id,
            session.session_id,
            Utc::now(),
            soon(),
        )
        .await
        .unwrap();
        let options = SweepOptions {
            orphan_min_age: Duration::zero(),
            ..SweepOptions::default()
        };
        let later = Utc::now() + Duration::hours(1);
        sweep(
            &self.ledger,
            &self.tavus,
            &self.keys,
            options,
            later,
            soon(),
        )
        .await;
    }

    /// A settled session (no conversation at Tavus) with a recording stored under `key`.
    async fn recorded(&self, owner: &UserId, key: &str) -> Session {
        let now = Utc::now();
        let Reserved::New(pending) = self.ledger.reserve(alone(owner, 5, now)).await.unwrap()
        else {
            panic!("a new session")
        };
        let conversation = format!("c-rec-{}", pending.session_id);
        self.ledger
            .activate(
                &pending,
                Activation {
                    conversation_id: &conversation,
                    conversation_url: None,
                    meeting_token: None,
                },
            )
            .await
            .unwrap();
        let (active, _) = self
            .ledger
            .get_session(owner, pending.session_id)
            .await
            .unwrap();
        self.ledger
            .close(Closing::settle(&active, 3, EndReason::UserEnded, now))
            .await
            .unwrap();
        let file = RecordingFile {
            key: key.to_owned(),
            duration_seconds: Some(180),
            ready_at: now,
        };
        self.ledger
            .store_recording(owner, pending.session_id, &conversation, &file)
            .await
            .unwrap();
        active
    }

    /// Changes an item behind the ledger's back.
    async fn tamper(&self, user: &UserId, sk: &str, update: &str, value: AttributeValue) {
        self.ledger
            .client()
            .update_item()
            .table_name(self.ledger.table())
            .key(keys::PK, AttributeValue::S(keys::user_pk(user)))
            .key(keys::SK, AttributeValue::S(sk.to_owned()))
            .update_expression(update)
            .expression_attribute_values(":v", value)
            .send()
            .await
            .unwrap();
    }

    async fn remove(&self, user: &UserId, session: SessionId) {
        self.ledger
            .client()
            .delete_item()
            .table_name(self.ledger.table())
            .key(keys::PK, AttributeValue::S(keys::user_pk(user)))
            .key(keys::SK, AttributeValue::S(keys::session_sk(session)))
            .send()
            .await
            .unwrap();
    }

    /// The simulator's status of a conversation (`None`: it no longer has it).
    async fn at_tavus(&self, conversation: &str) -> Option<String> {
        match self.tavus.get_conversation(conversation, soon()).await {
            Ok(details) => details.status,
            Err(e) if e.is_unknown_conversation() => None,
            Err(e) => panic!("GET conversation: {e}"),
        }
    }
}

fn findings(report: &AuditReport, check: Check) -> Vec<Finding> {
    let result = report
        .checks
        .iter()
        .find(|c| c.check == check)
        .unwrap_or_else(|| panic!("{check:?} ran"));
    assert!(result.complete, "{check:?} incomplete: {report:?}");
    result.findings.clone()
}

fn checked(report: &AuditReport, check: Check) -> u64 {
    report
        .checks
        .iter()
        .find(|c| c.check == check)
        .map(|c| c.checked)
        .unwrap_or_default()
}

fn hours_ahead(hours: i64) -> DateTime<Utc> {
    Utc::now() + Duration::hours(hours)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stack_whose_paths_did_their_work_reports_nothing() {
    let stack = stack().await;
    let alice = user("audit-clean");
    let call = stack.create(&alice).await;
    stack.end_and_sweep(&call).await;
    let key = "recordings/clean.mp4";
    stack.recorded(&user("audit-clean-rec"), key).await;
    put(&stack.recordings, key, b"video").await;

    let report = stack.audit(hours_ahead(3), false).await;
    assert_eq!(report.findings(), 0, "{}", report.table());
    assert!(report.complete(), "{}", report.table());
    assert_eq!(report.checks.len(), Check::ALL.len());
    assert_eq!(checked(&report, Check::AccountFigures), 2);
    assert_eq!(checked(&report, Check::UnreferencedObjects), 1);
    assert_eq!(checked(&report, Check::MissingObjects), 1);
    // The owner's end and the settled recording are in this month's tally.
    let tally = report.tallies.last().unwrap();
    let charged = tally.figures(Cause::Charged);
    assert_eq!(charged.conversations, 2, "{}", report.table());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conversation_nobody_holds_is_reported_then_ended_and_deleted_by_fix() {
    let stack = stack().await;
    let bob = user("audit-unheld");
    let session = stack.create(&bob).await;
    let conversation = session.conversation_id.clone().unwrap();
    // The session is lost (a restore from an old backup, say); the call runs on at Tavus.
    stack.remove(&bob, session.session_id).await;

    let report = stack.audit(hours_ahead(3), false).await;
    let unheld = findings(&report, Check::UnheldConversations);
    assert!(
        matches!(
            unheld.as_slice(),
            [Finding::UnheldConversation { conversation: c, user, session: s, closed: false, created_at: Some(_) }]
                if *c == conversation && *user == bob && *s == session.session_id
        ),
        "{}",
        report.table()
    );
    assert_eq!(
        stack.at_tavus(&conversation).await.as_deref(),
        Some("active")
    );

    let fixed = stack.audit(hours_ahead(3), true).await;
    assert!(
        fixed.fixed.contains(&Fixed::ConversationEnded {
            conversation: conversation.clone(),
            deleted: true
        }),
        "{}",
        fixed.table()
    );
    assert_eq!(stack.at_tavus(&conversation).await, None);
    let after = stack.audit(hours_ahead(3), false).await;
    assert_eq!(findings(&after, Check::UnheldConversations), []);
    assert_eq!(checked(&after, Check::UnheldConversations), 0);
    // What the orphan ran is the operator's, in the tally.
    let orphans = after
        .tallies
        .last()
        .unwrap()
        .by_cause
        .get(&Cause::Orphan)
        .copied();
    // What ran is booked (a minute or so), not the hours ahead the run judged as.
    assert!(
        orphans.is_some_and(|o| o.conversations == 1 && (1..=2).contains(&o.ran_minutes)),
        "{orphans:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_whose_call_tavus_ended_long_ago_is_reported_every_way_it_shows() {
    let stack = stack().await;
    let carol = user("audit-ended");
    let session = stack.create(&carol).await;
    let conversation = session.conversation_id.clone().unwrap();
    // Tavus ends the call and its callback never arrives; no sweeper runs.
    stack
        .tavus
        .end_conversation(&conversation, soon())
        .await
        .unwrap();

    let report = stack.audit(hours_ahead(3), false).await;
    let ended = findings(&report, Check::EndedAtTavus);
    assert_eq!(ended.len(), 1, "{}", report.table());
    assert!(matches!(
        &ended[0],
        Finding::EndedAtTavus { session: s, ended_at: Some(_), .. } if *s == session.session_id
    ));
    assert_eq!(
        findings(&report, Check::EndedNotDeleted),
        [Finding::EndedNotDeleted {
            conversation: conversation.clone(),
            user: carol.clone(),
            session: session.session_id,
            held: true,
        }]
    );
    assert_eq!(
        findings(&report, Check::SweeperBehind),
        [Finding::Overdue {
            user: carol.clone(),
            session: session.session_id,
            status: SessionStatus::Active,
        }]
    );
    // Held by a session, the copy is not the audit's to delete: the sweeper settles it first.
    let fixed = stack.audit(hours_ahead(3), true).await;
    assert_eq!(fixed.fixed, []);
    assert_eq!(
        stack.at_tavus(&conversation).await.as_deref(),
        Some("ended")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_nobody_references_and_keys_gone_missing_are_reported() {
    let stack = stack().await;
    let dave = user("audit-objects");
    let kept = "recordings/kept.mp4";
    let lost = "recordings/lost.mp4";
    let stray = "recordings/stray.mp4";
    stack.recorded(&dave, kept).await;
    stack.recorded(&dave, lost).await;
    put(&stack.recordings, kept, b"video").await;
    // An object no session ever referenced (a recording announced to nobody).
    put(&stack.recordings, stray, b"video").await;

    let report = stack.audit(hours_ahead(2), false).await;
    let unreferenced = findings(&report, Check::UnreferencedObjects);
    assert_eq!(unreferenced.len(), 1, "{}", report.table());
    assert!(matches!(&unreferenced[0], Finding::UnreferencedObject { key, .. } if key == stray));
    let missing = findings(&report, Check::MissingObjects);
    assert!(
        matches!(missing.as_slice(), [Finding::MissingObject { key, user, .. }] if key == lost && *user == dave),
        "{}",
        report.table()
    );
    assert_eq!(checked(&report, Check::MissingObjects), 2);

    // Under a day old, `--fix` leaves the stray object: its callback may still come.
    let young = stack.audit(hours_ahead(2), true).await;
    assert_eq!(young.fixed, []);
    assert!(exists(&stack.recordings, stray).await);
    let old = stack.audit(hours_ahead(25), true).await;
    assert_eq!(
        old.fixed,
        [Fixed::ObjectDeleted {
            key: stray.to_owned()
        }]
    );
    assert!(!exists(&stack.recordings, stray).await);
    assert!(exists(&stack.recordings, kept).await);
    let after = stack.audit(hours_ahead(25), false).await;
    assert_eq!(findings(&after, Check::UnreferencedObjects), []);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_figures_changed_behind_the_ledger_are_reported_and_an_erasure_is_not() {
    let stack = stack().await;
    let erin = user("audit-figures");
    let frank = user("audit-figures-ok");
    let call = stack.create(&erin).await;
    stack.end_and_sweep(&call).await;
    let (ended, _) = stack
        .ledger
        .get_session(&erin, call.session_id)
        .await
        .unwrap();
    // Frank's session is erased: its minutes stay on his account, the erased record explains them.
    let franks = stack.create(&frank).await;
    stack.end_and_sweep(&franks).await;
    let (franks, _) = stack
        .ledger
        .get_session(&frank, franks.session_id)
        .await
        .unwrap();
    stack
        .ledger
        .erase_session(&franks, Utc::now())
        .await
        .unwrap();

    stack
        .tamper(
            &erin,
            keys::ACCOUNT_SK,
            "ADD used_minutes :v",
            AttributeValue::N("5".into()),
        )
        .await;
    let report = stack.audit(hours_ahead(1), false).await;
    let charged = i64::from(ended.charged_minutes.unwrap());
    let figures: Vec<_> = findings(&report, Check::AccountFigures)
        .into_iter()
        .map(|f| match f {
            Finding::Figure {
                user,
                figure,
                recorded,
                from_sessions,
                ..
            } => (user, figure, recorded, from_sessions),
            other => panic!("{other:?}"),
        })
        .collect();
    let limit = 25;
    assert_eq!(
        figures,
        [
            (erin.clone(), Figure::UsedMinutes, charged + 5, charged),
            (
                erin.clone(),
                Figure::AvailableMinutes,
                limit - charged,
                limit - charged - 5
            ),
        ],
        "{}",
        report.table()
    );
    assert_eq!(checked(&report, Check::AccountFigures), 2);
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erasure_cut_short_over_an_hour_ago_is_reported_and_finished_by_fix() {
    let stack = stack().await;
    let ledger = &stack.ledger;
    let now = Utc::now();
    let session = pending(ledger, "audit-erased", now - Duration::hours(2)).await;
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
    let clean = audit::stuck_erasures(ledger, now).await.unwrap();
    assert_eq!((clean.checked, clean.findings.len()), (0, 0), "{clean:?}");

    // The erasure's mark is written, its transactions never run.
    assert!(
        cut_short(ledger)
            .erase_session(&closed, now - Duration::hours(2))
            .await
            .is_err()
    );
    let stuck = audit::stuck_erasures(ledger, now).await.unwrap();
    assert_eq!(stuck.checked, 1);
    assert_eq!(
        stuck.findings,
        [Finding::ErasureStuck {
            user: session.owner_id.clone(),
            session: session.session_id,
        }]
    );
    // Marked a moment ago, it is due but not yet stuck.
    let recent = audit::stuck_erasures(ledger, now - Duration::minutes(119))
        .await
        .unwrap();
    assert_eq!((recent.checked, recent.findings.len()), (1, 0));

    let fixed = stack.audit(now, true).await;
    assert!(
        fixed.fixed.contains(&Fixed::ErasuresFinished { count: 1 }),
        "{}",
        fixed.table()
    );
    let after = stack.audit(now, false).await;
    assert_eq!(findings(&after, Check::ErasuresStuck), []);
    assert_eq!(checked(&after, Check::ErasuresStuck), 0);
}

async fn pending(ledger: &DynamoLedger, name: &str, at: DateTime<Utc>) -> Session {
    match ledger.reserve(alone(&user(name), 5, at)).await.unwrap() {
        Reserved::New(session) => session,
        Reserved::Replayed(_) => panic!("a new reservation"),
    }
}
