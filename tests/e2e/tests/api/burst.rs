//! A burst must not freeze the local stack: 300 concurrent requests at one function and 300
//! callbacks at once all get an answer (a success, 404 for unknown callback tokens, or the
//! gateway's 429), none waits out a timeout, and the stack serves a plain request at once after.
//! Without the gateway's in-flight limit, `cargo lambda watch` 1.9.2 stops answering for good
//! after about 100 waiting invocations of one function.

use std::time::{Duration, Instant};

use e2e_tests::Api;
use futures::future::join_all;
use serde_json::json;

/// Less than the gateway's own 30 s timeout: a request that waits this long means a frozen stack.
const ANSWER_WITHIN: Duration = Duration::from_secs(25);

#[derive(Debug, Default)]
struct Tally {
    ok: usize,
    not_found: usize,
    throttled: usize,
    other: Vec<String>,
    slowest: Duration,
}

async fn timed(
    request: reqwest::RequestBuilder,
    within: Duration,
) -> (Result<u16, String>, Duration) {
    let started = Instant::now();
    let result = request
        .timeout(within)
        .send()
        .await
        .map(|r| r.status().as_u16())
        .map_err(|e| {
            if e.is_timeout() {
                "timed out".to_owned()
            } else {
                e.to_string()
            }
        });
    (result, started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_is_answered_or_throttled_and_the_stack_keeps_serving() {
    let api = Api::from_env();
    let http = reqwest::Client::new();
    let users: Vec<String> = (0..10).map(|i| Api::user(&format!("burst{i}"))).collect();
    let tokens: Vec<String> = users.iter().map(|u| api.token(u)).collect();

    let reads = (0..300).map(|i| {
        timed(
            http.get(format!("{}/usage", api.base))
                .bearer_auth(&tokens[i % tokens.len()]),
            ANSWER_WITHIN,
        )
    });
    let callbacks = (0..300).map(|i| {
        timed(
            http.post(format!("{}/webhooks/tavus/not-a-token-{i}", api.base))
                .json(
                    &json!({"event_type": "system.shutdown", "conversation_id": "c0",
                              "timestamp": "2026-11-25T10:00:00Z", "properties": {}}),
                ),
            ANSWER_WITHIN,
        )
    });
    let (reads, callbacks) = tokio::join!(join_all(reads), join_all(callbacks));

    let mut tally = Tally::default();
    for (result, took) in reads.into_iter().chain(callbacks) {
        tally.slowest = tally.slowest.max(took);
        match result {
            Ok(200) => tally.ok += 1,
            Ok(404) => tally.not_found += 1,
            Ok(429) => tally.throttled += 1,
            Ok(status) => tally.other.push(format!("HTTP {status}")),
            Err(e) => tally.other.push(e),
        }
    }
    println!(
        "burst of 600: {} answered 200, {} answered 404, {} throttled 429, slowest {} ms",
        tally.ok,
        tally.not_found,
        tally.throttled,
        tally.slowest.as_millis()
    );
    assert!(
        tally.other.is_empty(),
        "{} requests got no proper answer (first: {:?}); {tally:?}",
        tally.other.len(),
        tally.other.first()
    );
    assert!(
        tally.ok > 0 && tally.not_found > 0,
        "both functions served part of the burst: {tally:?}"
    );

    // Afterwards a plain request is served at once: nothing is left wedged.
    let (after, took) = timed(
        http.get(format!("{}/usage", api.base))
            .bearer_auth(&tokens[0]),
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(
        after,
        Ok(200),
        "GET /usage after the burst ({} ms)",
        took.as_millis()
    );
}
