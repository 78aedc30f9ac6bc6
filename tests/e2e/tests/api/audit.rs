//! The audit function, the real `audit` binary under `cargo lambda watch`, invoked through its
//! invoke API as its schedule invokes it, on a scene set in the stack's table, bucket and
//! simulator (with scheduled.rs's [`Stack`]). The scene makes the function take every path its
//! IAM policy grants (`scripts/iam-check.py`): a shard's accounts (Query on accounts-by-period),
//! an account's books (GetItem, Query), who holds a conversation of ours (GetItem), the open
//! sessions and erasures (Query on open-sessions), the bucket's listing (ListBucket), an object
//! nobody references (BatchGetItem of the references), a key a session names that the bucket
//! lacks (HEAD: GetObject), the Tavus secret (GetSecretValue).
//!
//! The stack is shared with the other tests, so the counts are checked from below (at least
//! this scene's), never for equality; and the audit only reads, so the scene is as it was after.

use awaknow_core::domain::{EndReason, RecordingFile, SessionStatus};
use awaknow_core::service::audit::Check;
use awaknow_core::service::callback_token::CallbackClaims;
use awaknow_core::store::Closing;
use awaknow_core::store::dynamo::playback::RecordingWrite;
use awaknow_core::store::keys;
use chrono::Utc;
use e2e_tests::env;
use serde_json::{Value, json};

use super::scheduled::{Stack, user};

/// A check's counts in the function's answer, by its name.
fn check<'a>(summary: &'a Value, name: &str) -> &'a Value {
    summary["checks"]
        .as_array()
        .and_then(|checks| checks.iter().find(|c| c["check"] == name))
        .unwrap_or_else(|| panic!("no check {name} in {summary}"))
}

fn number(value: &Value, field: &str) -> u64 {
    value[field]
        .as_u64()
        .unwrap_or_else(|| panic!("no count {field} in {value}"))
}

/// The answer's shape: the eight checks in their order, each with its counts, the total of
/// their findings, and whether every one finished.
fn assert_summary(summary: &Value) {
    let names: Vec<&str> = summary["checks"]
        .as_array()
        .unwrap_or_else(|| panic!("no checks in {summary}"))
        .iter()
        .map(|c| c["check"].as_str().unwrap_or("?"))
        .collect();
    let all: Vec<&str> = Check::ALL.iter().map(|c| c.as_str()).collect();
    assert_eq!(names, all, "{summary}");
    let mut findings = 0;
    for name in all {
        let counts = check(summary, name);
        number(counts, "checked");
        findings += number(counts, "findings");
        assert_eq!(
            counts["complete"], true,
            "{name} could not finish: {summary}"
        );
    }
    assert_eq!(number(summary, "findings"), findings, "{summary}");
    assert_eq!(summary["complete"], true, "{summary}");
}

/// The function's log lines that report a finding naming `id`.
fn finding_lines(id: &str) -> Vec<String> {
    let path = std::path::PathBuf::from(env("LOG_DIR")).join("functions.log");
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    text.lines()
        .filter(|line| line.contains("audit finding") && line.contains(id))
        .map(str::to_owned)
        .collect()
}

/// A scene for every check the audit makes, and the function's counts of it: an active call of
/// ours (held: counted, not a finding), a recorded session naming a file the bucket does not
/// hold (a missing object), and a file no session names (an unreferenced object), both in the
/// log by their keys. Then the schedule's own event, and events it must refuse.
#[tokio::test]
async fn the_audit_function_counts_every_check_and_finds_what_the_bucket_lacks_and_holds() {
    let stack = Stack::new();
    let now = Utc::now();
    let owner = user("audit");

    // An active session on a conversation of ours (its callback URL signed with our key),
    // still running at the simulator: in the open-sessions index, listed active by Tavus and
    // held, asked of Tavus and running.
    let reserved = stack.reserve(&owner, 10, now, false).await;
    let callback = stack.callback_url(&CallbackClaims::of(&reserved)).await;
    let conversation = stack.conversation(Some(&callback)).await;
    let held = stack.activate(&reserved, &conversation).await;

    // A recorded call, settled, whose recording the bucket never received.
    let recorded = stack.reserve(&owner, 5, now, true).await;
    let recorded_conversation = format!("c-audit-{}", recorded.session_id);
    let active = stack
        .activate(
            &recorded,
            &(
                recorded_conversation.clone(),
                "https://tavus.daily.co/c-audit".to_owned(),
            ),
        )
        .await;
    stack
        .ledger
        .close(Closing::settle(&active, 2, EndReason::ParticipantLeft, now))
        .await
        .unwrap();
    let missing_key = tavus_sim::recording_key(&recorded_conversation);
    let file = RecordingFile {
        key: missing_key.clone(),
        duration_seconds: Some(120),
        ready_at: now,
    };
    assert_eq!(
        stack
            .ledger
            .store_recording(&owner, active.session_id, &recorded_conversation, &file)
            .await
            .unwrap(),
        RecordingWrite::Stored
    );

    // A file no session names.
    let stray_key = format!("audit-e2e/{}.mp4", recorded.session_id);
    stack.put_object(&stray_key, b"nobody's recording").await;

    // The stack's audit judges everything at once (make test sets no settling time), so the
    // object just written is judged now.

    // The owner's shard, so that the account is among those read (the schedule's event reads
    // the shard of the day).
    let shard = keys::shard_of(&owner);
    let (status, summary) = stack
        .invoke_with("audit", &json!({ "shards": [shard] }))
        .await;
    assert!(
        status == 200 && summary.get("errorType").is_none(),
        "audit failed: {status} {summary}"
    );
    assert_summary(&summary);
    for name in [
        "account_figures",
        "unheld_conversations",
        "ended_at_tavus",
        "sweeper_behind",
    ] {
        assert!(
            number(check(&summary, name), "checked") >= 1,
            "{name} looked at this scene: {summary}"
        );
    }
    for name in ["unreferenced_objects", "missing_objects"] {
        let counts = check(&summary, name);
        assert!(
            number(counts, "checked") >= 1 && number(counts, "findings") >= 1,
            "{name}: {summary}"
        );
    }
    assert!(number(&summary, "findings") >= 2, "{summary}");
    assert!(
        !summary.to_string().contains(&missing_key)
            && !summary.to_string().contains(owner.as_str()),
        "counts only: the ids are in the log: {summary}"
    );

    // Each finding is in the function's log by its ids (the log reaches the file a moment
    // after the answer).
    let mut logged = (Vec::new(), Vec::new());
    for _ in 0..50 {
        logged = (finding_lines(&missing_key), finding_lines(&stray_key));
        if !logged.0.is_empty() && !logged.1.is_empty() {
            break;
        }
        // A poll's interval, not a wait for something to happen.
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(
        logged
            .0
            .iter()
            .any(|l| l.contains("missing_objects") && l.contains(owner.as_str())),
        "the missing object, by owner and key: {:?}",
        logged.0
    );
    assert!(
        logged.1.iter().any(|l| l.contains("unreferenced_objects")),
        "the unreferenced object, by key: {:?}",
        logged.1
    );

    // Read-only: the scene is as it was.
    assert_eq!(
        stack.versions(&stray_key).await,
        1,
        "the stray file is kept"
    );
    let running = stack.sim_record(&conversation.0).await;
    assert_eq!(running["status"], "active", "{running}");
    assert_eq!(
        stack.session(&held).await.unwrap().status,
        SessionStatus::Active
    );

    // The schedule's event: the shard of the day, every check.
    let scheduled = stack.invoke("audit").await;
    assert_summary(&scheduled);

    // Shards that are not the index's are refused, as the reset refuses them.
    for bad in [
        json!({"shards": "all"}),
        json!({"shards": [32]}),
        json!({"shards": []}),
    ] {
        let (_, refused) = stack.invoke_with("audit", &bad).await;
        assert_eq!(refused["errorType"], "InvalidRequest", "{bad}: {refused}");
    }

    // Done with the call: ended at Tavus and settled, as its owner's end does.
    stack.end_and_settle(&conversation.0, &held, 1).await;
}
