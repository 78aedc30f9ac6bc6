//! The functions' metrics reach their log. A session is created and ended through the gateway;
//! then the local stack's function log (`LOG_DIR/functions.log`: the functions' stdout under
//! `cargo lambda watch`, which passes their lines through as they are, with its own lines,
//! prefixed ` INFO `, among them) holds EMF lines for what happened, and every EMF line in it
//! follows the format's rules and uses only the metrics and dimensions the code declares.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use awaknow_core::metrics::check;
use e2e_tests::{Api, env};
use serde_json::{Value, json};

/// Every line of the function log that carries `"_aws"`, with the EMF document in it (`None`
/// when the line is not one whole JSON document: a line cut or mixed with another).
fn emf_lines(dir: &Path) -> Vec<(String, Option<Value>)> {
    let path = dir.join("functions.log");
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    String::from_utf8_lossy(&bytes)
        .lines()
        .filter(|line| line.contains("\"_aws\""))
        .map(|line| (line.to_owned(), check::emf_in(line)))
        .collect()
}

/// How many EMF lines publish `metric` with the dimension `name` equal to one of `values`.
fn count(lines: &[(String, Option<Value>)], metric: &str, name: &str, values: &[&str]) -> usize {
    lines
        .iter()
        .filter_map(|(_, document)| document.as_ref())
        .filter(|d| d.get(metric).is_some_and(Value::is_number))
        .filter(|d| d[name].as_str().is_some_and(|v| values.contains(&v)))
        .count()
}

/// What a timeout saw: each awaited metric's count before and now, the `_aws` lines that are not
/// whole documents, and the end of the log.
fn diagnosis(dir: &Path, lines: &[(String, Option<Value>)], before: &[usize]) -> String {
    let mut out = String::new();
    for ((m, n, v), before) in AFTER_CREATE_AND_END.iter().zip(before) {
        let now = count(lines, m, n, v);
        out.push_str(&format!("{m} {n}={v:?}: {before} before, {now} now\n"));
    }
    for (line, _) in lines.iter().filter(|(_, d)| d.is_none()).take(5) {
        out.push_str(&format!("not a whole EMF document: {line}\n"));
    }
    let text = std::fs::read_to_string(dir.join("functions.log")).unwrap_or_default();
    let tail: Vec<&str> = text.lines().rev().take(20).collect();
    out.push_str(&format!("{} EMF lines; the log ends with:\n", lines.len()));
    for line in tail.iter().rev() {
        out.push_str(&line.chars().take(300).collect::<String>());
        out.push('\n');
    }
    out
}

/// What this test waits to see grow: (metric, dimension, any of these values). The owner's end
/// races Tavus's shutdown callback (the simulator sends it as soon as the conversation is
/// ended): whichever settles the session records its minutes, the other is a duplicate and
/// records nothing.
const AFTER_CREATE_AND_END: [(&str, &str, &[&str]); 5] = [
    ("SessionsCreated", "SessionType", &["reflect_alone"]),
    ("MinutesReserved", "SessionType", &["reflect_alone"]),
    ("MinutesCharged", "ClosedBy", &["owner", "callback"]),
    ("TavusRequests", "Operation", &["create"]),
    ("TavusRequests", "Operation", &["end"]),
];

#[tokio::test]
async fn a_created_and_ended_session_leaves_valid_emf_lines_in_the_function_log() {
    let api = Api::from_env();
    let log_dir = PathBuf::from(env("LOG_DIR"));
    let before: Vec<usize> = {
        let lines = emf_lines(&log_dir);
        AFTER_CREATE_AND_END
            .iter()
            .map(|(m, n, v)| count(&lines, m, n, v))
            .collect()
    };

    let user = Api::user("metrics");
    let created = api
        .post(
            &user,
            "/sessions",
            &json!({ "session_type": "reflect_alone", "prompt": "how the week went", "max_minutes": 3 }),
        )
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let session_id = created.body["session_id"].as_str().unwrap().to_owned();
    let conversation_id = created.body["conversation_id"].as_str().unwrap().to_owned();
    let ended = api
        .post(&user, &format!("/sessions/{session_id}/end"), &json!({}))
        .await;
    assert_eq!(ended.status, 200, "{:?}", ended.body);
    assert_eq!(ended.body["charged_minutes"], 1);

    // `cargo lambda watch` relays the functions' lines a moment after the answers: poll, with a
    // deadline, until each metric has a line more than before (other tests may add theirs too).
    let deadline = Instant::now() + Duration::from_secs(30);
    let lines = loop {
        let lines = emf_lines(&log_dir);
        let grown = AFTER_CREATE_AND_END
            .iter()
            .zip(&before)
            .all(|((m, n, v), before)| count(&lines, m, n, v) > *before);
        if grown {
            break lines;
        }
        assert!(
            Instant::now() < deadline,
            "no EMF lines for this session's create and end in {}/functions.log within 30 s\n{}",
            log_dir.display(),
            diagnosis(&log_dir, &lines, &before)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    // Every EMF line of the whole run so far, this test's and every other's, is valid.
    assert!(!lines.is_empty());
    for (line, document) in &lines {
        let document = document
            .as_ref()
            .unwrap_or_else(|| panic!("an EMF line that is not one whole JSON object: {line}"));
        check::format(document).unwrap_or_else(|e| panic!("{e}: {line}"));
        check::declared(document).unwrap_or_else(|e| panic!("{e}: {line}"));
        for private in [user.as_str(), session_id.as_str(), conversation_id.as_str()] {
            assert!(!line.contains(private), "an id in a metric line: {line}");
        }
    }
}
