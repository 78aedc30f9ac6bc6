//! The sample events in `events/` are real API Gateway v2 events that the functions accept, sent
//! the way `cargo lambda invoke --data-file` sends them: to the invoke API of `cargo lambda watch`.

use std::path::PathBuf;

use serde_json::Value;

fn events_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../events")
}

fn event(name: &str) -> Value {
    let text = std::fs::read_to_string(events_dir().join(name))
        .unwrap_or_else(|e| panic!("events/{name}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("events/{name}: {e}"))
}

#[test]
fn every_http_event_parses_as_a_lambda_http_request() {
    let mut checked = 0;
    for entry in std::fs::read_dir(events_dir()).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let value: Value = serde_json::from_str(&text).unwrap();
        if value.get("routeKey").is_none() {
            continue;
        }
        let request = lambda_http::request::from_str(&text)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let route_key = value["routeKey"].as_str().unwrap();
        assert_eq!(
            route_key.split(' ').next(),
            Some(request.method().as_str()),
            "{}",
            path.display()
        );
        checked += 1;
    }
    assert!(checked >= 12, "only {checked} HTTP events");
}

async fn invoke(function: &str, payload: &Value) -> Value {
    let url = format!(
        "{}/2015-03-31/functions/{function}/invocations",
        std::env::var("FUNCTIONS_URL").expect("FUNCTIONS_URL (make test)")
    );
    let answer = reqwest::Client::new()
        .post(url)
        .json(payload)
        .send()
        .await
        .expect("cargo lambda watch unreachable");
    answer.json().await.expect("a JSON answer")
}

#[tokio::test]
async fn sample_events_are_answered_by_the_functions() {
    let mut usage = event("get-usage.json");
    let user = e2e_tests::Api::user("event");
    usage["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] = Value::String(user.clone());
    let answer = invoke("get-usage", &usage).await;
    assert_eq!(answer["statusCode"], 200, "{answer}");
    let body: Value = serde_json::from_str(answer["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["user_id"], user.as_str());

    let mut history = event("get-usage-history.json");
    history["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] = Value::String(user.clone());
    let answer = invoke("get-usage", &history).await;
    assert_eq!(answer["statusCode"], 200, "{answer}");

    let mut create = event("create-session.json");
    create["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] = Value::String(user.clone());
    let answer = invoke("create-session", &create).await;
    assert_eq!(answer["statusCode"], 201, "{answer}");
    let created: Value = serde_json::from_str(answer["body"].as_str().unwrap()).unwrap();
    let id = created["session_id"].as_str().unwrap();

    // The session samples name a session of the demo user: pointed at this one, each is
    // answered (the notes written with the sample's If-Match "empty", the erasure refused while
    // the call runs).
    let for_this_session = |name: &str| {
        let mut sample = event(name);
        sample["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] =
            Value::String(user.clone());
        let path = sample["rawPath"]
            .as_str()
            .unwrap()
            .replace("01KAWK3T5Y8ZQ4V2F6N9R0B1CD", id);
        sample["rawPath"] = Value::String(path.clone());
        sample["requestContext"]["http"]["path"] = Value::String(path);
        sample["pathParameters"]["id"] = Value::String(id.to_owned());
        sample
    };
    let answer = invoke("create-session", &for_this_session("put-notes.json")).await;
    assert_eq!(answer["statusCode"], 200, "{answer}");
    let answer = invoke("get-usage", &for_this_session("get-notes.json")).await;
    assert_eq!(answer["statusCode"], 200, "{answer}");
    assert!(
        answer["body"]
            .as_str()
            .unwrap()
            .contains("ask about the budget")
    );
    let answer = invoke("get-usage", &for_this_session("get-recording.json")).await;
    assert_eq!(answer["statusCode"], 200, "{answer}");
    assert_eq!(answer["body"], r#"{"status":"none"}"#);
    let answer = invoke("create-session", &for_this_session("delete-session.json")).await;
    assert_eq!(answer["statusCode"], 409, "{answer}");

    let set_plan = invoke("set-plan", &event("set-plan.json")).await;
    assert_eq!(set_plan["plan"], "reflect_plus", "{set_plan}");
    let refused = invoke(
        "set-plan",
        &serde_json::json!({ "user_id": "demo-user", "plan": "gold" }),
    )
    .await;
    assert_eq!(refused["errorType"], "InvalidRequest", "{refused}");

    let sweep = invoke("sweep-sessions", &event("sweep-sessions.json")).await;
    assert_eq!(sweep["complete"], true, "{sweep}");
}
