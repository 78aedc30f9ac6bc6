//! What the fault rules (`POST /_sim/faults`) do to one request.

use crate::model::Faults;

/// What the rules say before a request is handled.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Verdict {
    pub latency_ms: u64,
    pub fail: Option<u16>,
    pub at_capacity: bool,
}

/// What the rules say once a create has created its conversation.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct AfterCreate {
    /// Answer this status instead of the conversation.
    pub fail: Option<u16>,
    /// Wait this long before answering.
    pub hang_ms: Option<u64>,
}

/// The rules that apply to a request to `route` with this body: all of them, or those whose
/// `when_body_contains` text it holds and whose `when_route` it is.
fn matching<'a>(
    faults: &'a mut [Faults],
    route: &'a str,
    body: &[u8],
) -> impl Iterator<Item = &'a mut Faults> {
    let text = String::from_utf8_lossy(body).into_owned();
    faults.iter_mut().filter(move |rule| {
        rule.when_body_contains
            .as_deref()
            .is_none_or(|needle| text.contains(needle))
            && rule.when_route.as_deref().is_none_or(|r| r == route)
    })
}

/// Takes one from a rule's counter if it has any left.
fn take(counter: &mut u32) -> bool {
    let left = *counter > 0;
    if left {
        *counter -= 1;
    }
    left
}

/// The route of a create.
pub const CREATE: &str = "POST /v2/conversations";

pub fn judge(faults: &mut [Faults], route: &str, body: &[u8]) -> Verdict {
    let is_create = route == CREATE;
    let mut verdict = Verdict::default();
    for rule in matching(faults, route, body) {
        verdict.latency_ms = verdict.latency_ms.max(rule.latency_ms);
        if verdict.fail.is_none() && take(&mut rule.fail_next) {
            verdict.fail = Some(rule.fail_status);
        }
        if is_create && !verdict.at_capacity && take(&mut rule.at_capacity_next) {
            verdict.at_capacity = true;
        }
    }
    verdict
}

/// Counted only for creates that did create a conversation, so a rejected body does not use
/// up a rule.
pub fn after_create(faults: &mut [Faults], body: &[u8]) -> AfterCreate {
    let mut after = AfterCreate::default();
    for rule in matching(faults, CREATE, body) {
        if after.fail.is_none() && take(&mut rule.create_then_fail_next) {
            after.fail = Some(rule.fail_status);
        }
        if after.hang_ms.is_none() && take(&mut rule.create_then_hang_next) {
            after.hang_ms = Some(rule.hang_ms);
        }
    }
    after
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rule(v: serde_json::Value) -> Faults {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn create_then_rules_count_down_and_honour_the_body_filter() {
        let mut faults = vec![
            rule(
                json!({ "create_then_fail_next": 1, "fail_status": 502, "when_body_contains": "tag-a" }),
            ),
            rule(json!({ "create_then_hang_next": 2, "hang_ms": 700 })),
        ];
        assert_eq!(
            after_create(&mut faults, b"tag-b"),
            AfterCreate {
                fail: None,
                hang_ms: Some(700)
            }
        );
        assert_eq!(
            after_create(&mut faults, b"tag-a"),
            AfterCreate {
                fail: Some(502),
                hang_ms: Some(700)
            }
        );
        assert_eq!(after_create(&mut faults, b"tag-a"), AfterCreate::default());
        // The create_then counters are not touched by the pre-request verdict.
        let mut fresh = vec![rule(json!({ "create_then_fail_next": 1 }))];
        assert_eq!(judge(&mut fresh, CREATE, b""), Verdict::default());
        assert_eq!(after_create(&mut fresh, b"").fail, Some(503));
    }

    #[test]
    fn a_hang_defaults_to_thirty_seconds() {
        let mut faults = vec![rule(json!({ "create_then_hang_next": 1 }))];
        assert_eq!(after_create(&mut faults, b"").hang_ms, Some(30_000));
    }

    #[test]
    fn judge_keeps_its_old_meaning() {
        let mut faults = vec![
            rule(json!({ "fail_next": 1, "fail_status": 500, "latency_ms": 5 })),
            rule(json!({ "at_capacity_next": 1, "latency_ms": 9, "when_body_contains": "x" })),
        ];
        assert_eq!(
            judge(&mut faults, CREATE, b"x"),
            Verdict {
                latency_ms: 9,
                fail: Some(500),
                at_capacity: true
            }
        );
        assert_eq!(
            judge(&mut faults, CREATE, b"x"),
            Verdict {
                latency_ms: 9,
                fail: None,
                at_capacity: false
            }
        );
    }
}

#[cfg(test)]
mod route_tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_rule_for_one_route_leaves_the_others_alone() {
        let rule = json!({ "fail_next": 1, "when_route": "GET /v2/conversations/{id}" });
        let mut faults = vec![serde_json::from_value::<Faults>(rule).unwrap()];
        assert_eq!(judge(&mut faults, CREATE, b"").fail, None);
        assert_eq!(judge(&mut faults, "GET /v2/conversations", b"").fail, None);
        assert_eq!(
            judge(&mut faults, "GET /v2/conversations/{id}", b"").fail,
            Some(503)
        );
        assert_eq!(
            judge(&mut faults, "GET /v2/conversations/{id}", b"").fail,
            None,
            "once"
        );
    }
}
