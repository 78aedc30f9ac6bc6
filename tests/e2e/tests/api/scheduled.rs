//! The scheduled functions, the real `monthly-reset` and `sweep-sessions` binaries under
//! `cargo lambda watch`, invoked through its invoke API with their sample events (as their
//! schedules invoke them), on state set up in the stack's own table, bucket and simulator with
//! the core's in-process APIs and times in the past (the functions use the real clock). Between
//! them they take every path the two functions' IAM policies grant (`scripts/iam-check.py`).
//!
//! Both functions work on the whole table: another invocation during the run (events.rs sweeps
//! once) may take some of a test's work first. The state each test sets up is checked whoever
//! did the work; a report whose counts leave out work that only another invocation can have done
//! sets the whole scene up again, a bounded number of times.

use awaknow_core::LedgerError;
use awaknow_core::domain::{
    EndReason, Period, PlanCatalog, PlanId, Precondition, RecordingFile, Session, SessionId,
    SessionStatus, SessionType, Transcript, Turn, UserId,
};
use awaknow_core::service::callback_token::{self, CallbackClaims};
use awaknow_core::store::dynamo::playback::RecordingWrite;
use awaknow_core::store::keys;
use awaknow_core::store::{
    Activation, Closing, DynamoLedger, NotesKey, ReservationRequest, Reserved,
};
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use e2e_tests::{env, local_sdk};
use serde_json::{Value, json};

/// How often a sweep test sets its scene up again when another invocation took part of it.
const ATTEMPTS: u32 = 3;
/// The sweep function's `SWEEP_ORPHAN_MIN_AGE_SECONDS` default: a younger conversation may
/// still be on its way into a session.
const ORPHAN_MIN_AGE: chrono::Duration = chrono::Duration::seconds(60);

/// The stack `make test` started, as the tests reach it (audit.rs sets its scenes with it too).
pub(crate) struct Stack {
    pub(crate) ledger: DynamoLedger,
    keys: test_support::Keys,
    pub(crate) http: reqwest::Client,
    pub(crate) tavus: String,
    pub(crate) tavus_key: String,
    moto: String,
    bucket: String,
}

impl Stack {
    pub(crate) fn new() -> Stack {
        e2e_tests::watch_the_stack();
        let dynamodb = aws_sdk_dynamodb::Client::new(&local_sdk(&env("DYNAMODB_ENDPOINT")));
        let secrets = aws_sdk_secretsmanager::Client::new(&local_sdk(&env("MOTO_ENDPOINT")));
        Stack {
            ledger: DynamoLedger::new(dynamodb, env("TABLE_NAME"), PlanCatalog::default()),
            keys: test_support::keys(secrets, env("TAVUS_SECRET_ID")),
            http: reqwest::Client::new(),
            tavus: env("TAVUS_URL"),
            tavus_key: e2e_tests::stack_tavus_key(),
            moto: env("MOTO_ENDPOINT"),
            bucket: env("RECORDINGS_BUCKET"),
        }
    }

    /// Invokes `function` with its sample event from `events/`, as its schedule does; its report.
    pub(crate) async fn invoke(&self, function: &str) -> Value {
        let path = test_support::workspace_root()
            .join("events")
            .join(format!("{function}.json"));
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let event: Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let (status, report) = self.invoke_with(function, &event).await;
        assert!(
            status == 200 && report.get("errorType").is_none(),
            "{function} failed: {status} {report}"
        );
        report
    }

    /// Invokes `function` with `event`; the emulator's status and the answer (a function's error
    /// is a JSON body with `errorType`).
    pub(crate) async fn invoke_with(&self, function: &str, event: &Value) -> (u16, Value) {
        let url = format!(
            "{}/2015-03-31/functions/{function}/invocations",
            env("FUNCTIONS_URL")
        );
        // The emulator may drop a connection while it starts the function's first instance on
        // a busy machine: sent again until it answers, for at most a minute (the jobs are
        // idempotent, and the tests judge what the table holds, not one report alone).
        let give_up = std::time::Instant::now() + std::time::Duration::from_secs(60);
        let answer = loop {
            match self.http.post(&url).json(event).send().await {
                Ok(answer) => break answer,
                Err(e) if std::time::Instant::now() < give_up => {
                    eprintln!("{function}: no answer ({e}); invoking again");
                    // A poll's interval, not a wait for something to happen.
                    tokio::time::sleep(std::time::Duration::from_millis(250)).await;
                }
                Err(e) => panic!("{function} unreachable for a minute: {e}"),
            }
        };
        let status = answer.status().as_u16();
        let report: Value = answer
            .json()
            .await
            .unwrap_or_else(|e| panic!("{function}: an answer that is not JSON: {e}"));
        (status, report)
    }

    /// A pending session of `owner` reserved at `now`.
    pub(crate) async fn reserve(
        &self,
        owner: &UserId,
        minutes: u32,
        now: DateTime<Utc>,
        record: bool,
    ) -> Session {
        let request = ReservationRequest {
            owner: owner.clone(),
            session_type: SessionType::ReflectAlone,
            participants: vec![],
            requested_minutes: Some(minutes),
            now,
            idempotency: None,
            record,
        };
        match self.ledger.reserve(request).await {
            Ok(Reserved::New(session)) => session,
            other => panic!("a new reservation: {other:?}"),
        }
    }

    pub(crate) async fn activate(
        &self,
        pending: &Session,
        conversation: &(String, String),
    ) -> Session {
        self.ledger
            .activate(
                pending,
                Activation {
                    conversation_id: &conversation.0,
                    conversation_url: Some(&conversation.1),
                    meeting_token: None,
                },
            )
            .await
            .unwrap()
    }

    pub(crate) async fn session(&self, session: &Session) -> Result<Session, LedgerError> {
        self.ledger
            .get_session(&session.owner_id, session.session_id)
            .await
            .map(|(s, _)| s)
    }

    /// A conversation created at the stack's simulator with its API key, as create-session
    /// creates one; its id and room URL. Without a callback URL nothing is sent anywhere, and the
    /// sweep's search for orphans does not take it for one of ours.
    pub(crate) async fn conversation(&self, callback_url: Option<&str>) -> (String, String) {
        let mut body = json!({ "persona_id": "p-sim-reflect", "conversation_name": "scheduled e2e",
                               "conversational_context": "a scheduled-functions test" });
        if let Some(url) = callback_url {
            body["callback_url"] = json!(url);
        }
        let answer = self
            .http
            .post(format!("{}/v2/conversations", self.tavus))
            .header("x-api-key", &self.tavus_key)
            .json(&body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("simulator unreachable: {e}"));
        assert_eq!(answer.status().as_u16(), 200, "create a conversation");
        let created: Value = answer.json().await.unwrap();
        let text = |field: &str| {
            created[field]
                .as_str()
                .unwrap_or_else(|| panic!("no {field} in {created}"))
                .to_owned()
        };
        (text("conversation_id"), text("conversation_url"))
    }

    /// Ends a test's call at Tavus and settles its session with `charged` minutes, as the
    /// owner's end does, so that it leaves nothing running.
    pub(crate) async fn end_and_settle(&self, conversation_id: &str, held: &Session, charged: u32) {
        let ended = self
            .http
            .post(format!(
                "{}/v2/conversations/{conversation_id}/end",
                self.tavus
            ))
            .header("x-api-key", &self.tavus_key)
            .send()
            .await
            .unwrap();
        assert_eq!(ended.status().as_u16(), 200);
        self.ledger
            .close(Closing::settle(
                held,
                charged,
                EndReason::UserEnded,
                Utc::now(),
            ))
            .await
            .unwrap();
    }

    /// Everything the simulator knows of a conversation (deleted ones included).
    pub(crate) async fn sim_record(&self, conversation_id: &str) -> Value {
        self.http
            .get(format!(
                "{}/_sim/conversations/{conversation_id}",
                self.tavus
            ))
            .send()
            .await
            .unwrap_or_else(|e| panic!("simulator unreachable: {e}"))
            .json()
            .await
            .unwrap()
    }

    /// What the simulator's history says of a conversation, hard-deleted ones included
    /// (`deleted`: `"hard"`, `"soft"` or null).
    async fn sim_history(&self, conversation_id: &str) -> Value {
        let history: Value = self
            .http
            .get(format!("{}/_sim/history", self.tavus))
            .send()
            .await
            .unwrap_or_else(|e| panic!("simulator unreachable: {e}"))
            .json()
            .await
            .unwrap();
        history["conversations"]
            .as_array()
            .and_then(|all| {
                all.iter()
                    .find(|c| c["conversation_id"] == conversation_id)
                    .cloned()
            })
            .unwrap_or_else(|| panic!("the simulator never had {conversation_id}"))
    }

    /// The status of `GET /v2/conversations/{id}` as Tavus's API answers it (400: no such
    /// conversation, or deleted).
    async fn tavus_get(&self, conversation_id: &str) -> u16 {
        self.http
            .get(format!("{}/v2/conversations/{conversation_id}", self.tavus))
            .header("x-api-key", &self.tavus_key)
            .send()
            .await
            .unwrap_or_else(|e| panic!("simulator unreachable: {e}"))
            .status()
            .as_u16()
    }

    /// Writes a version of `key` into the recordings bucket, as Tavus uploads a recording (path
    /// style, as the simulator writes it). moto refuses an anonymous write over an existing
    /// object, and never checks a signature: the request names the local stack's placeholder
    /// credentials (`local`), as every client of the stack does.
    pub(crate) async fn put_object(&self, key: &str, bytes: &[u8]) {
        let day = Utc::now().format("%Y%m%d");
        let authorization = format!(
            "AWS4-HMAC-SHA256 Credential=local/{day}/us-east-1/s3/aws4_request, \
             SignedHeaders=host, Signature=0"
        );
        let answer = self
            .http
            .put(format!("{}/{}/{key}", self.moto, self.bucket))
            .header("authorization", authorization)
            .header("content-type", "video/mp4")
            .body(bytes.to_vec())
            .send()
            .await
            .unwrap_or_else(|e| panic!("moto unreachable: {e}"));
        assert!(
            answer.status().is_success(),
            "PUT {key}: {}",
            answer.status()
        );
    }

    /// How many versions and delete markers of exactly `key` the bucket holds.
    pub(crate) async fn versions(&self, key: &str) -> usize {
        assert!(
            key.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"/._-".contains(&b)),
            "a key that needs no escaping: {key}"
        );
        let answer = self
            .http
            .get(format!(
                "{}/{}?versions&prefix={key}",
                self.moto, self.bucket
            ))
            .send()
            .await
            .unwrap_or_else(|e| panic!("moto unreachable: {e}"));
        assert!(
            answer.status().is_success(),
            "list versions: {}",
            answer.status()
        );
        let xml = answer.text().await.unwrap();
        assert!(xml.contains("ListVersionsResult"), "{xml}");
        xml.matches(&format!("<Key>{key}</Key>")).count()
    }

    /// How many items of the owner's partition start with `prefix`.
    async fn items(&self, owner: &UserId, prefix: &str) -> i32 {
        self.ledger
            .client()
            .query()
            .table_name(self.ledger.table())
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", AttributeValue::S(keys::user_pk(owner)))
            .expression_attribute_values(":prefix", AttributeValue::S(prefix.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .unwrap()
            .count
    }

    /// Whether the session's item still has a place in the open-sessions index (where the
    /// sweeper finds it).
    async fn indexed(&self, session: &Session) -> bool {
        let item = self
            .ledger
            .client()
            .get_item()
            .table_name(self.ledger.table())
            .key("pk", AttributeValue::S(keys::user_pk(&session.owner_id)))
            .key(
                "sk",
                AttributeValue::S(keys::session_sk(session.session_id)),
            )
            .consistent_read(true)
            .send()
            .await
            .unwrap()
            .item
            .expect("the session's item");
        item.contains_key(keys::OPEN_UNTIL)
    }

    /// A callback URL signed with the stack's webhook key for `claims`, leading nowhere (port
    /// 9), as create-session gives Tavus one: the sweep tells our conversations by it.
    pub(crate) async fn callback_url(&self, claims: &CallbackClaims) -> String {
        let key = self.keys.webhook_key().await.unwrap();
        format!(
            "http://127.0.0.1:9/webhooks/tavus/{}",
            callback_token::sign(&key, claims)
        )
    }
}

pub(crate) fn user(name: &str) -> UserId {
    UserId::parse(&e2e_tests::Api::user(name)).unwrap()
}

/// A count in a report.
fn count(report: &Value, field: &str) -> u64 {
    report[field]
        .as_u64()
        .unwrap_or_else(|| panic!("no count {field} in {report}"))
}

fn time(value: &Value) -> DateTime<Utc> {
    value
        .as_str()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .unwrap_or_else(|| panic!("not a time: {value}"))
        .with_timezone(&Utc)
}

// ---------------------------------------------------------------------------------------------
// monthly-reset

/// Whether the accounts-by-period index, where the reset looks, lists `owner` as still in a
/// period before `current`.
async fn indexed_as_stale(ledger: &DynamoLedger, owner: &UserId, current: Period) -> bool {
    let shard = keys::shard_of(owner);
    let mut start = None;
    loop {
        let page = ledger
            .stale_accounts(shard, current, start, 200)
            .await
            .unwrap();
        if page.users.contains(owner) {
            return true;
        }
        match page.next {
            Some(next) => start = Some(next),
            None => return false,
        }
    }
}

/// An account last month, on Reflect+, that used 4 of its 100 minutes in one session: the
/// reset moves it into this month with the plan's whole allowance, and last month's totals are
/// kept as its history, read back through the ledger's usage and history reads. A second run
/// changes nothing.
#[tokio::test]
async fn monthly_reset_rolls_last_months_account_into_this_month_and_keeps_its_history() {
    let stack = Stack::new();
    let ledger = &stack.ledger;
    let this_month = Period::containing(Utc::now());
    let last_month_at = this_month.starts_at() - chrono::Duration::days(3);
    let last_month = Period::containing(last_month_at);
    let owner = user("reset");

    ledger
        .change_plan(&owner, PlanId::ReflectPlus, last_month_at)
        .await
        .unwrap();
    let pending = stack.reserve(&owner, 10, last_month_at, false).await;
    let conversation = (
        format!("c-reset-{}", pending.session_id),
        "https://tavus.daily.co/c-reset".to_owned(),
    );
    let active = stack.activate(&pending, &conversation).await;
    ledger
        .close(Closing::settle(
            &active,
            4,
            EndReason::UserEnded,
            last_month_at + chrono::Duration::minutes(4),
        ))
        .await
        .unwrap();
    let before = ledger.read_account(&owner).await.unwrap().unwrap();
    assert_eq!(
        (
            before.period,
            before.limit_minutes,
            before.used_minutes,
            before.sessions
        ),
        (last_month, 100, 4, 1),
        "set up in last month: {before:?}"
    );

    assert!(indexed_as_stale(ledger, &owner, this_month).await);

    let started = Utc::now();
    let report = stack.invoke("monthly-reset").await;
    let finished = Utc::now();
    assert_eq!(report["period"], this_month.to_string(), "{report}");
    assert!(
        count(&report, "rolled") >= 1,
        "this account rolled: {report}"
    );
    assert_eq!(count(&report, "failed"), 0, "{report}");
    assert_eq!(report["complete"], true, "every shard done: {report}");

    let account = ledger.read_account(&owner).await.unwrap().unwrap();
    assert_eq!(account.period, this_month, "{account:?}");
    assert_eq!(account.plan, PlanId::ReflectPlus);
    assert_eq!(
        (
            account.limit_minutes,
            account.used_minutes,
            account.reserved_minutes,
            account.available_minutes,
            account.sessions,
            account.open_sessions
        ),
        (100, 0, 0, 100, 0, 0),
        "the plan's whole allowance, nothing used: {account:?}"
    );
    let history = ledger
        .read_history(&owner, last_month)
        .await
        .unwrap()
        .expect("last month's history item");
    assert_eq!(
        (
            history.plan,
            history.limit_minutes,
            history.used_minutes,
            history.open_reserved_minutes,
            history.late_settlements,
            history.sessions
        ),
        (PlanId::ReflectPlus, 100, 4, 0, 0, 1),
        "{history:?}"
    );
    // Closed by this invocation, on its clock (the same machine's).
    let slack = chrono::Duration::seconds(2);
    assert!(
        history.closed_at >= started - slack && history.closed_at <= finished + slack,
        "closed at {} by a run between {started} and {finished}",
        history.closed_at
    );
    let usage = ledger.usage(&owner, Utc::now()).await.unwrap();
    assert_eq!(
        (usage.period, usage.used_minutes, usage.remaining_minutes),
        (this_month, 0, 100)
    );
    let periods = ledger.usage_history(&owner, Utc::now(), 12).await.unwrap();
    let shown: Vec<(Period, i64, i64, i64)> = periods
        .iter()
        .map(|p| (p.period, p.limit_minutes, p.used_minutes, p.sessions))
        .collect();
    assert_eq!(
        shown,
        [(this_month, 100, 0, 0), (last_month, 100, 4, 1)],
        "this month, then last month's history"
    );

    // The accounts-by-period index, the reset's only checkpoint, no longer finds the account;
    // run again, and nothing of it changes.
    assert!(!indexed_as_stale(ledger, &owner, this_month).await);
    let again = stack.invoke("monthly-reset").await;
    assert_eq!(again["complete"], true, "{again}");
    assert_eq!(ledger.read_account(&owner).await.unwrap().unwrap(), account);
    assert_eq!(
        ledger.read_history(&owner, last_month).await.unwrap(),
        Some(history)
    );
}

// ---------------------------------------------------------------------------------------------
// sweep-sessions

/// The sessions one sweep is given, each due long ago.
struct Due {
    /// Reserved an hour ago and never activated (a crash between the reservation and Tavus).
    pending: Session,
    /// Active an hour ago on a conversation still running at the simulator; its reservation
    /// (10 minutes) ended 50 minutes ago and no callback ever came.
    overdue: Session,
    /// Settled an hour ago; Tavus keeps its copy, with the transcript whose callback never came.
    copy_due: Session,
    /// A recorded, settled session whose erasure was cut short after its first step; its
    /// recording has two versions in the bucket.
    erasing: Session,
    recording_key: String,
}

impl Due {
    async fn set_up(stack: &Stack) -> Due {
        let ledger = &stack.ledger;
        let hour_ago = Utc::now() - chrono::Duration::hours(1);
        let minutes = |m: i64| hour_ago + chrono::Duration::minutes(m);

        let pending = stack
            .reserve(&user("sweep-pending"), 10, hour_ago, false)
            .await;
        let usage = ledger.usage(&pending.owner_id, Utc::now()).await.unwrap();
        assert_eq!((usage.reserved_minutes, usage.open_sessions), (10, 1));

        let reserved = stack
            .reserve(&user("sweep-overdue"), 10, hour_ago, false)
            .await;
        let conversation = stack.conversation(None).await;
        let overdue = stack.activate(&reserved, &conversation).await;

        let reserved = stack
            .reserve(&user("sweep-copy"), 10, hour_ago, false)
            .await;
        let conversation = stack.conversation(None).await;
        let active = stack.activate(&reserved, &conversation).await;
        // The call ran four minutes; Tavus keeps its record and transcript.
        let ended = stack
            .http
            .post(format!(
                "{}/_sim/conversations/{}/end",
                stack.tavus, conversation.0
            ))
            .json(&json!({ "duration_seconds": 230.0 }))
            .send()
            .await
            .unwrap();
        assert_eq!(ended.status().as_u16(), 204);
        // Settled by its shutdown callback, which leaves Tavus's copy to delete after the
        // transcript; the transcript callback never came.
        ledger
            .close(
                Closing::settle(&active, 4, EndReason::ParticipantLeft, minutes(4))
                    .delete_tavus_copy(&active, minutes(4)),
            )
            .await
            .unwrap();
        let copy_due = stack.session(&active).await.unwrap();
        assert_eq!(
            ledger
                .read_transcript(&copy_due.owner_id, copy_due.session_id)
                .await
                .unwrap(),
            None
        );

        let (erasing, recording_key) = Self::erasure_cut_short(stack, hour_ago).await;
        Due {
            pending,
            overdue,
            copy_due,
            erasing,
            recording_key,
        }
    }

    /// A recorded call, settled, with a transcript, notes and a recording of two versions in
    /// the bucket, whose erasure stopped after its first step (the session marked and due to
    /// the sweeper from `hour_ago`). Tavus's copy is gone: the erasure deletes it before
    /// anything else, and this conversation id is one the simulator never had.
    async fn erasure_cut_short(stack: &Stack, hour_ago: DateTime<Utc>) -> (Session, String) {
        let ledger = &stack.ledger;
        let minutes = |m: i64| hour_ago + chrono::Duration::minutes(m);
        let owner = user("sweep-erasure");
        let reserved = stack.reserve(&owner, 10, hour_ago, true).await;
        let conversation_id = format!("c-erased-{}", reserved.session_id);
        let conversation = (
            conversation_id.clone(),
            "https://tavus.daily.co/c".to_owned(),
        );
        let active = stack.activate(&reserved, &conversation).await;
        ledger
            .close(Closing::settle(
                &active,
                3,
                EndReason::ParticipantLeft,
                minutes(3),
            ))
            .await
            .unwrap();
        let transcript = Transcript {
            turns: vec![Turn {
                role: "user".into(),
                content: "something said in the call".into(),
            }],
        };
        ledger
            .store_transcript(&owner, active.session_id, &transcript)
            .await
            .unwrap();
        let notes = NotesKey {
            owner: &owner,
            session_id: active.session_id,
            author: &owner,
        };
        ledger
            .write_notes(notes, "my own notes", &Precondition::Any, minutes(5))
            .await
            .unwrap();
        let key = tavus_sim::recording_key(&conversation_id);
        stack.put_object(&key, b"a first upload").await;
        stack
            .put_object(&key, &tavus_sim::recording_bytes(&conversation_id))
            .await;
        assert_eq!(stack.versions(&key).await, 2, "two versions of {key}");
        let file = RecordingFile {
            key: key.clone(),
            duration_seconds: Some(180),
            ready_at: minutes(4),
        };
        assert_eq!(
            ledger
                .store_recording(&owner, active.session_id, &conversation_id, &file)
                .await
                .unwrap(),
            RecordingWrite::Stored
        );
        let settled = stack.session(&active).await.unwrap();
        assert_eq!(settled.playback.object_keys(), std::slice::from_ref(&key));

        let cut = test_support::cut_short(ledger);
        assert!(
            cut.erase_session(&settled, minutes(6)).await.is_err(),
            "cut short"
        );
        // As the function left it: marked and where the sweeper finds it, nothing deleted.
        assert!(stack.indexed(&settled).await);
        assert_eq!(
            stack
                .items(&owner, &keys::notes_prefix(settled.session_id))
                .await,
            1
        );
        assert!(
            ledger
                .read_transcript(&owner, settled.session_id)
                .await
                .unwrap()
                .is_some()
        );
        (settled, key)
    }

    /// What the sweep must have left, whichever invocation swept.
    async fn assert_swept(&self, stack: &Stack) {
        let ledger = &stack.ledger;
        let now = Utc::now();

        // The crash's reservation is given back: nothing charged, its place free.
        let released = stack.session(&self.pending).await.unwrap();
        assert_eq!(released.status, SessionStatus::Failed, "{released:?}");
        assert_eq!(released.end_reason, Some(EndReason::Abandoned));
        assert_eq!(released.charged_minutes, Some(0));
        let usage = ledger.usage(&self.pending.owner_id, now).await.unwrap();
        assert_eq!(
            (
                usage.reserved_minutes,
                usage.used_minutes,
                usage.remaining_minutes,
                usage.open_sessions
            ),
            (0, 0, 25, 0),
            "the minutes are back"
        );

        // The overdue call is ended at Tavus and charged by Tavus's end time. That end is the
        // sweep's own moment, always past the reservation and its grace: the user is charged at
        // most the reservation (what Tavus billed beyond it is the operator's).
        let conversation = self.overdue.conversation_id.as_deref().unwrap();
        let record = stack.sim_record(conversation).await;
        assert_eq!(record["status"], "ended", "{record}");
        assert_eq!(
            record["shutdown_reason"], "end_conversation_endpoint_hit",
            "the sweep ended it: {record}"
        );
        let tavus_ended_at = time(&record["ended_at"]);
        let settled = stack.session(&self.overdue).await.unwrap();
        assert_eq!(settled.status, SessionStatus::Ended, "{settled:?}");
        assert_eq!(settled.end_reason, Some(EndReason::Swept));
        assert_eq!(settled.ended_at, Some(tavus_ended_at));
        // An hour by our clock, but the sweep charges at most the reservation: the call ran on
        // only because nothing ended it sooner.
        assert_eq!(
            settled.charged_minutes,
            Some(settled.reserved_minutes),
            "capped at the reservation (Tavus ended it at {tavus_ended_at})"
        );
        let usage = ledger.usage(&self.overdue.owner_id, now).await.unwrap();
        assert_eq!(
            (
                usage.reserved_minutes,
                usage.used_minutes,
                usage.open_sessions
            ),
            (0, i64::from(settled.reserved_minutes), 0)
        );

        // The settled session's transcript is taken from Tavus's record, then Tavus's copy is
        // deleted and the session leaves the sweeper's index.
        let transcript = ledger
            .read_transcript(&self.copy_due.owner_id, self.copy_due.session_id)
            .await
            .unwrap()
            .expect("the transcript recovered from Tavus's record");
        assert!(
            transcript.turns.iter().any(|t| t.role == "user")
                && transcript.turns.iter().all(|t| t.role != "system"),
            "{transcript:?}"
        );
        let conversation = self.copy_due.conversation_id.as_deref().unwrap();
        assert_eq!(
            stack.tavus_get(conversation).await,
            400,
            "Tavus's copy is deleted"
        );
        assert_eq!(stack.sim_history(conversation).await["deleted"], "hard");
        let kept = stack.session(&self.copy_due).await.unwrap();
        assert_eq!(
            (kept.status, kept.charged_minutes),
            (SessionStatus::Ended, Some(4))
        );
        assert!(!stack.indexed(&kept).await, "out of the sweeper's index");

        // The erasure is finished: the session, its transcript, its notes and every version of
        // its recording are gone; what it was charged stays charged.
        let owner = &self.erasing.owner_id;
        assert!(
            matches!(
                stack.session(&self.erasing).await,
                Err(LedgerError::SessionNotFound)
            ),
            "the session is erased"
        );
        assert_eq!(
            stack
                .items(owner, &keys::notes_prefix(self.erasing.session_id))
                .await,
            0,
            "its notes are erased"
        );
        assert_eq!(
            stack
                .items(owner, &keys::transcript_sk(self.erasing.session_id))
                .await,
            0,
            "its transcript is erased"
        );
        assert_eq!(
            stack.versions(&self.recording_key).await,
            0,
            "every version of {} is deleted, and no delete marker left",
            self.recording_key
        );
        assert_eq!(ledger.usage(owner, now).await.unwrap().used_minutes, 3);
    }
}

/// One invocation of the sweep function: it releases a reservation whose conversation was
/// never created, ends an overdue call at Tavus and charges it from Tavus's end time, recovers
/// the transcript of a settled session from Tavus's record and deletes Tavus's copy, and
/// finishes an erasure cut short (the recording's versions in the bucket, then the table's
/// items); its report counts each.
#[tokio::test]
async fn the_sweep_releases_settles_recovers_transcripts_and_finishes_erasures() {
    let stack = Stack::new();
    for attempt in 1..=ATTEMPTS {
        let due = Due::set_up(&stack).await;
        let report = stack.invoke("sweep-sessions").await;
        due.assert_swept(&stack).await;
        assert_eq!(report["complete"], true, "{report}");
        let counted = [
            "released",
            "settled_from_tavus",
            "tavus_copies_deleted",
            "transcripts_recovered",
            "recording_erasures_finished",
        ]
        .iter()
        .all(|field| count(&report, field) >= 1)
            // Open sessions found due: the pending, the overdue and the settled one (an
            // erasure waits under the erasures' key, not counted here).
            && count(&report, "found") >= 3;
        if counted {
            return;
        }
        eprintln!(
            "attempt {attempt}: the sweep's report leaves out work done by another invocation \
             ({report}); setting up again"
        );
    }
    panic!("in {ATTEMPTS} attempts the sweep never reported the work it was given");
}

/// A conversation of ours (its callback URL signed with our key) that no session holds, a
/// minute old, is ended and deleted at Tavus, once the table says nobody holds it; one that an
/// active session holds runs on. The table is asked about each (the sweep's only GetItem), but
/// only about conversations older than a minute: this test waits that minute.
#[tokio::test]
async fn the_sweep_ends_and_deletes_our_conversations_that_no_session_holds() {
    let stack = Stack::new();
    for attempt in 1..=ATTEMPTS {
        let now = Utc::now();
        let holder = user("sweep-holder");
        let reserved = stack.reserve(&holder, 10, now, false).await;
        let callback = stack.callback_url(&CallbackClaims::of(&reserved)).await;
        let conversation = stack.conversation(Some(&callback)).await;
        let held = stack.activate(&reserved, &conversation).await;

        // Created for a session that was never recorded (a crash between Tavus's create and
        // the activation).
        let orphan_owner = user("sweep-orphan");
        let claims = CallbackClaims {
            owner: orphan_owner.clone(),
            session_id: SessionId::new_at(now),
            period: Period::containing(now),
            reserved_minutes: 5,
            created_at_ms: now.timestamp_millis(),
        };
        let callback = stack.callback_url(&claims).await;
        let (orphan, _) = stack.conversation(Some(&callback)).await;

        // The sweep leaves conversations younger than a minute alone (Tavus's created_at, on
        // this machine's clock): wait until both are older.
        let created_at = time(&stack.sim_record(&orphan).await["created_at"]);
        let old_enough = created_at + ORPHAN_MIN_AGE + chrono::Duration::seconds(1);
        let wait = (old_enough - Utc::now()).to_std().unwrap_or_default();
        tokio::time::sleep(wait).await;

        let report = stack.invoke("sweep-sessions").await;
        let record = stack.sim_history(&orphan).await;
        assert_eq!(record["status"], "ended", "{record}");
        assert_eq!(
            record["shutdown_reason"], "end_conversation_endpoint_hit",
            "ended through Tavus's API: {record}"
        );
        assert_eq!(record["deleted"], "hard", "deleted for good: {record}");
        assert_eq!(stack.tavus_get(&orphan).await, 400);
        let running = stack.sim_record(&conversation.0).await;
        assert_eq!(
            (&running["status"], &running["deleted"]),
            (&json!("active"), &json!(false)),
            "a call an active session holds runs on: {running}"
        );
        assert_eq!(
            stack.session(&held).await.unwrap().status,
            SessionStatus::Active
        );
        assert_eq!(report["complete"], true, "{report}");

        // Done with the held call: ended at Tavus and settled, as its owner's end does.
        stack.end_and_settle(&conversation.0, &held, 2).await;

        if count(&report, "orphans_ended") >= 1 && count(&report, "orphans_deleted") >= 1 {
            return;
        }
        eprintln!(
            "attempt {attempt}: the sweep's report leaves out the orphan another invocation \
             ended ({report}); setting up again"
        );
    }
    panic!("in {ATTEMPTS} attempts the sweep never reported the orphan it ended");
}
