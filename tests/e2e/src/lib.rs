//! The client side of the end-to-end tests: talks to the API started by `make test`
//! (`scripts/dev.sh up` with `AWAKNOW_ENV=test-<pid>`), whose addresses are in the environment.

use awaknow_core::api::dev_token::sign_dev_token;
use awaknow_core::secrets::Secret;
use serde_json::Value;

/// A variable `make test` sets.
pub fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| local_stack::skip_service_tests(name))
}

/// The Tavus key in the stack's secret (`TAVUS_SECRET_ID`): the tests that start a simulator of
/// their own and use that secret give it this key.
pub fn stack_tavus_key() -> String {
    env("TAVUS_SIM_API_KEY")
}

/// A response as the client sees it.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub content_type: String,
    pub retry_after: Option<String>,
    /// The `ETag` header (notes).
    pub etag: Option<String>,
}

/// `answer` is the problem `status` with `code`, as a problem document.
pub fn assert_problem(answer: &Answer, status: u16, code: &str) {
    assert_eq!(answer.status, status, "{:?}", answer.body);
    assert_eq!(answer.body["code"], code, "{:?}", answer.body);
    assert_eq!(answer.content_type, "application/problem+json");
}

impl Answer {
    async fn read(response: reqwest::Response) -> Answer {
        let status = response.status().as_u16();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let content_type = header("content-type").unwrap_or_default();
        let retry_after = header("retry-after");
        let etag = header("etag");
        let text = response.text().await.unwrap_or_default();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Answer {
            status,
            body,
            content_type,
            retry_after,
            etag,
        }
    }
}

pub struct Api {
    pub base: String,
    pub tavus: String,
    /// The simulator's API key (random under `make test`).
    pub tavus_key: String,
    http: reqwest::Client,
    secret: Secret,
}

impl Default for Api {
    fn default() -> Self {
        Api::from_env()
    }
}

/// Starts, once per test binary, the watchdog that ends the run within a minute, naming the
/// part at fault and its log, if the local stack stops answering.
pub fn watch_the_stack() {
    static STARTED: std::sync::Once = std::sync::Once::new();
    STARTED.call_once(|| {
        if let Some(watchdog) = local_gateway::watchdog::Watchdog::from_env()
            && let Err(e) = watchdog.spawn("e2e tests")
        {
            eprintln!("the stack watchdog could not start: {e}");
        }
    });
}

/// How often a request the gateway throttled (429) is sent again, after its `Retry-After`: the
/// tests are clients like any other, and a burst elsewhere in the run may throttle them.
const THROTTLED_RETRIES: u32 = 30;

impl Api {
    pub fn from_env() -> Api {
        watch_the_stack();
        Api {
            base: env("GATEWAY_URL"),
            tavus: env("TAVUS_URL"),
            tavus_key: stack_tavus_key(),
            http: reqwest::Client::new(),
            secret: Secret::new(env("DEV_JWT_SECRET")),
        }
    }

    /// A user id no other test uses.
    pub fn user(name: &str) -> String {
        format!("{name}-{}", ulid::Ulid::new().to_string().to_lowercase())
    }

    pub fn token(&self, user: &str) -> String {
        match sign_dev_token(
            &self.secret,
            user,
            "awaknow-local",
            "awaknow",
            chrono::Duration::minutes(10),
        ) {
            Ok(token) => token,
            Err(e) => panic!("cannot sign a dev token: {e:?}"),
        }
    }

    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        auth: Option<&str>,
        body: Option<&Value>,
        idempotency_key: Option<&str>,
    ) -> Answer {
        let url = format!("{}{path}", self.base);
        send_retrying_throttled(|| {
            let mut request = self.http.request(method.clone(), &url);
            if let Some(auth) = auth {
                request = request.header("authorization", auth);
            }
            if let Some(key) = idempotency_key {
                request = request.header("idempotency-key", key);
            }
            if let Some(body) = body {
                request = request.json(body);
            }
            request
        })
        .await
    }

    pub async fn post(&self, user: &str, path: &str, body: &Value) -> Answer {
        self.send(
            reqwest::Method::POST,
            path,
            Some(&format!("Bearer {}", self.token(user))),
            Some(body),
            None,
        )
        .await
    }

    pub async fn post_keyed(&self, user: &str, path: &str, body: &Value, key: &str) -> Answer {
        self.send(
            reqwest::Method::POST,
            path,
            Some(&format!("Bearer {}", self.token(user))),
            Some(body),
            Some(key),
        )
        .await
    }

    /// A request of `user` with extra headers (e.g. `If-Match`).
    pub async fn send_as(
        &self,
        method: reqwest::Method,
        user: &str,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Answer {
        let url = format!("{}{path}", self.base);
        let auth = format!("Bearer {}", self.token(user));
        send_retrying_throttled(|| {
            let mut request = self
                .http
                .request(method.clone(), &url)
                .header("authorization", &auth);
            for (name, value) in headers {
                request = request.header(*name, *value);
            }
            if let Some(body) = body {
                request = request.json(body);
            }
            request
        })
        .await
    }

    pub async fn put(&self, user: &str, path: &str, body: &Value) -> Answer {
        self.send_as(reqwest::Method::PUT, user, path, Some(body), &[])
            .await
    }

    pub async fn delete(&self, user: &str, path: &str) -> Answer {
        self.send_as(reqwest::Method::DELETE, user, path, None, &[])
            .await
    }

    pub async fn get(&self, user: &str, path: &str) -> Answer {
        self.send(
            reqwest::Method::GET,
            path,
            Some(&format!("Bearer {}", self.token(user))),
            None,
            None,
        )
        .await
    }

    /// The callback URL Tavus was given for a conversation (read back from the simulator).
    pub async fn callback_url(&self, conversation_id: &str) -> String {
        simulator_callback_url(&self.tavus, &self.tavus_key, conversation_id).await
    }

    /// Posts a callback as Tavus would: no token in a header, the proof is in the URL.
    pub async fn callback(&self, url: &str, body: &Value) -> Answer {
        send_retrying_throttled(|| self.http.post(url).json(body)).await
    }

    /// A control call to the shared simulator (`/_sim/...`), with its status and JSON body.
    pub async fn sim(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.tavus));
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("simulator unreachable: {e}"));
        let status = response.status().as_u16();
        let body = response.json().await.unwrap_or(Value::Null);
        (status, body)
    }

    /// Moves a user to a plan through the set-plan function, as the billing system does.
    pub async fn set_plan(&self, user: &str, plan: &str) {
        let answer: Value = self
            .http
            .post(format!(
                "{}/2015-03-31/functions/set-plan/invocations",
                env("FUNCTIONS_URL")
            ))
            .json(&serde_json::json!({ "user_id": user, "plan": plan }))
            .send()
            .await
            .unwrap_or_else(|e| panic!("set-plan unreachable: {e}"))
            .json()
            .await
            .unwrap_or_else(|e| panic!("set-plan answer: {e}"));
        assert_eq!(answer["plan"], plan, "set-plan refused: {answer}");
    }

    /// Adds a fault rule to the shared simulator; with `when_body_contains` it only touches
    /// this test's requests.
    pub async fn tavus_fault(&self, rule: Value) {
        let status = test_support::inject_fault(&self.tavus, &rule).await;
        assert_eq!(status, 204, "fault rule refused");
    }
}

/// Sends the request `build` makes; a 429 from the gateway's in-flight limit is sent again after
/// its `Retry-After`, a bounded number of times.
async fn send_retrying_throttled(build: impl Fn() -> reqwest::RequestBuilder) -> Answer {
    let mut attempt = 0;
    loop {
        let response = build()
            .send()
            .await
            .unwrap_or_else(|e| panic!("request to the gateway failed: {e}"));
        let answer = Answer::read(response).await;
        attempt += 1;
        if answer.status != 429 || attempt > THROTTLED_RETRIES {
            return answer;
        }
        let wait = answer
            .retry_after
            .as_deref()
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or(1);
        tokio::time::sleep(std::time::Duration::from_secs(wait)).await;
    }
}

/// Tavus settings for a simulator at `base_url`, with a persona for each session type (as
/// `make dev` configures the functions).
pub fn sim_tavus_config(base_url: &str) -> awaknow_core::tavus::TavusConfig {
    use awaknow_core::tavus::{Companion, TavusConfig};
    let companion = |persona: &str| Companion {
        persona_id: Some(persona.to_owned()),
        replica_id: None,
    };
    TavusConfig {
        base_url: base_url.to_owned(),
        reflect_alone: companion("p-sim-reflect"),
        resolve_together: companion("p-sim-resolve"),
        ..TavusConfig::default()
    }
}

/// The functions' own SDK configuration on a local endpoint: their timeouts, so an outage is a
/// quick 503.
pub use test_support::local_sdk;

/// A simulator of the test's own with `config`, holding the key of the stack's secret (the one
/// the Tavus client reads from moto).
pub async fn own_sim(config: tavus_sim::SimConfig) -> tavus_sim::RunningSim {
    test_support::start_sim(tavus_sim::SimConfig {
        api_keys: vec![stack_tavus_key()],
        ..config
    })
    .await
}

/// A sample event from `events/`, for `user`, without its Idempotency-Key, with another body
/// when one is given.
pub fn event(file: &str, user: &str, body: Option<&Value>) -> String {
    let path = test_support::workspace_root().join("events").join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut value: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    value["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] = Value::String(user.to_owned());
    if let Some(headers) = value["headers"].as_object_mut() {
        headers.remove("idempotency-key");
    }
    if let Some(body) = body {
        value["body"] = Value::String(body.to_string());
    }
    value.to_string()
}

/// The callback URL a simulator at `tavus` (with that API key) was given for a conversation.
pub async fn simulator_callback_url(tavus: &str, api_key: &str, conversation_id: &str) -> String {
    let conversation: Value = reqwest::Client::new()
        .get(format!("{tavus}/v2/conversations/{conversation_id}"))
        .header("x-api-key", api_key)
        .send()
        .await
        .unwrap_or_else(|e| panic!("simulator unreachable: {e}"))
        .json()
        .await
        .unwrap_or_else(|e| panic!("simulator answer: {e}"));
    conversation["callback_url"]
        .as_str()
        .unwrap_or_else(|| panic!("no callback_url in {conversation}"))
        .to_owned()
}
