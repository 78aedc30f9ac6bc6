//! The cap on open sessions per user, through the gateway: sixty concurrent creates by one user
//! open exactly the cap, the rest are 409 `too_many_open_sessions`; an idempotent retry is still
//! answered with its session; ending one frees its place. The stack's cap is whatever
//! `make test` gave the functions (MAX_OPEN_SESSIONS_PER_USER): it is read from `GET /usage`.

use e2e_tests::Api;
use futures::future::join_all;
use serde_json::json;

#[tokio::test]
async fn sixty_concurrent_creates_by_one_user_open_exactly_the_cap() {
    let api = Api::from_env();
    let user = Api::user("capped");
    // Minutes for all sixty, so only the cap can refuse.
    api.set_plan(&user, "resolve_together").await;
    let usage = api.get(&user, "/usage").await;
    let cap = usage.body["max_open_sessions"]
        .as_u64()
        .unwrap_or_else(|| panic!("no max_open_sessions in {:?}", usage.body))
        as usize;
    assert!((1..60).contains(&cap), "a cap below sixty: {cap}");
    assert_eq!(usage.body["open_sessions"], 0);

    let body =
        json!({ "session_type": "reflect_alone", "prompt": "one of many", "max_minutes": 1 });
    let keys: Vec<String> = (0..60).map(|i| format!("crowd-{i}")).collect();
    let answers = join_all(
        keys.iter()
            .map(|key| api.post_keyed(&user, "/sessions", &body, key)),
    )
    .await;
    let created: Vec<(&String, String)> = keys
        .iter()
        .zip(&answers)
        .filter(|(_, a)| a.status == 201)
        .map(|(key, a)| (key, a.body["session_id"].as_str().unwrap().to_owned()))
        .collect();
    let refused: Vec<_> = answers.iter().filter(|a| a.status == 409).collect();
    let others: Vec<_> = answers
        .iter()
        .filter(|a| a.status != 201 && a.status != 409)
        .map(|a| (a.status, a.body.clone()))
        .collect();
    assert!(others.is_empty(), "unexpected answers: {others:?}");
    assert_eq!((created.len(), refused.len()), (cap, 60 - cap));
    for problem in &refused {
        assert_eq!(
            problem.body["code"], "too_many_open_sessions",
            "{:?}",
            problem.body
        );
        assert_eq!(problem.content_type, "application/problem+json");
        assert_eq!(problem.body["max_open_sessions"].as_u64(), Some(cap as u64));
        let detail = problem.body["detail"].as_str().unwrap_or_default();
        assert!(detail.contains("end an open session first"), "{detail}");
    }
    let usage = api.get(&user, "/usage").await;
    assert_eq!(usage.body["open_sessions"].as_u64(), Some(cap as u64));
    assert_eq!(usage.body["reserved_minutes"].as_u64(), Some(cap as u64));

    // At the cap, a client retrying a create that went through gets its session back.
    let (key, first) = &created[0];
    let retry = api.post_keyed(&user, "/sessions", &body, key).await;
    assert_eq!(retry.status, 201, "{:?}", retry.body);
    assert_eq!(retry.body["session_id"].as_str(), Some(first.as_str()));

    // Ending one frees its place, for one more session and no more.
    let ended = api
        .post(&user, &format!("/sessions/{first}/end"), &json!({}))
        .await;
    assert_eq!(ended.status, 200, "{:?}", ended.body);
    assert_eq!(
        api.get(&user, "/usage").await.body["open_sessions"].as_u64(),
        Some(cap as u64 - 1)
    );
    let again = api.post(&user, "/sessions", &body).await;
    assert_eq!(again.status, 201, "{:?}", again.body);
    let over = api.post(&user, "/sessions", &body).await;
    assert_eq!(
        over.body["code"], "too_many_open_sessions",
        "{:?}",
        over.body
    );

    // End everything: the user has no open session left, and the simulator its capacity back.
    let mut open: Vec<String> = created.iter().skip(1).map(|(_, id)| id.clone()).collect();
    open.push(again.body["session_id"].as_str().unwrap().to_owned());
    let paths: Vec<String> = open
        .iter()
        .map(|id| format!("/sessions/{id}/end"))
        .collect();
    let empty = json!({});
    for answer in join_all(paths.iter().map(|p| api.post(&user, p, &empty))).await {
        assert_eq!(answer.status, 200, "{:?}", answer.body);
    }
    assert_eq!(api.get(&user, "/usage").await.body["open_sessions"], 0);
}
