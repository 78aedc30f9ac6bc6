//! A simulator on a free loopback port, a client for it, and a callback receiver.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use tavus_sim::{RunningSim, SimConfig};
use test_support::CallbackReceiver;

pub const KEY: &str = "sim-key";

/// How long a test waits for a timer or a callback before it fails.
const DEADLINE: Duration = Duration::from_secs(10);

/// 100 simulated seconds per real second: a 300 s absent timeout is 3 s.
pub const FAST: f64 = 100.0;

pub struct Sim {
    pub http: reqwest::Client,
    pub base: String,
    _running: RunningSim,
}

/// A status and the JSON body (`Null` when there is none).
pub type Answer = (u16, Value);

async fn read(response: reqwest::Response) -> Answer {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, body)
}

impl Sim {
    pub async fn start(config: SimConfig) -> Sim {
        let running = test_support::start_sim(config).await;
        Sim {
            http: reqwest::Client::new(),
            base: running.base_url(),
            _running: running,
        }
    }

    pub async fn fast() -> Sim {
        Sim::start(SimConfig {
            speedup: FAST,
            ..SimConfig::default()
        })
        .await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn send(&self, request: reqwest::RequestBuilder) -> Answer {
        read(request.send().await.unwrap()).await
    }

    pub async fn create(&self, body: Value) -> Answer {
        let request = self.http.post(self.url("/v2/conversations"));
        self.send(request.header("x-api-key", KEY).json(&body))
            .await
    }

    /// Creates a call and returns the answer; fails the test unless it is a 200.
    pub async fn create_ok(&self, body: Value) -> Value {
        let (status, answer) = self.create(body).await;
        assert_eq!(status, 200, "{answer}");
        answer
    }

    /// A v2 GET with the key.
    pub async fn get(&self, path: &str) -> Answer {
        let request = self.http.get(self.url(path)).header("x-api-key", KEY);
        self.send(request).await
    }

    pub async fn delete(&self, path: &str) -> Answer {
        let request = self.http.delete(self.url(path)).header("x-api-key", KEY);
        self.send(request).await
    }

    pub async fn end(&self, id: &str) -> Answer {
        let request = self
            .http
            .post(self.url(&format!("/v2/conversations/{id}/end")));
        self.send(request.header("x-api-key", KEY)).await
    }

    /// A control POST (no key).
    pub async fn control(&self, path: &str, body: Value) -> Answer {
        self.send(self.http.post(self.url(path)).json(&body)).await
    }

    pub async fn join(&self, id: &str, url: &str) -> Answer {
        let path = format!("/_sim/conversations/{id}/join");
        self.control(&path, json!({ "url": url })).await
    }

    pub async fn control_end(&self, id: &str, body: Value) -> Answer {
        self.control(&format!("/_sim/conversations/{id}/end"), body)
            .await
    }

    /// `GET /_sim/conversations/{id}`; fails the test unless it is a 200.
    pub async fn view(&self, id: &str) -> Value {
        let (status, view) = self
            .send(
                self.http
                    .get(self.url(&format!("/_sim/conversations/{id}"))),
            )
            .await;
        assert_eq!(status, 200, "{view}");
        view
    }

    pub async fn stats(&self) -> Value {
        self.send(self.http.get(self.url("/_sim/stats"))).await.1
    }

    /// Polls the control view until `done` holds, for at most the deadline.
    pub async fn wait_for(&self, id: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        let poll = async {
            loop {
                let view = self.view(id).await;
                if done(&view) {
                    return view;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        };
        tokio::time::timeout(DEADLINE, poll)
            .await
            .unwrap_or_else(|_| panic!("{id}: not {what} within {DEADLINE:?}"))
    }
}

pub fn id(answer: &Value) -> String {
    answer["conversation_id"].as_str().unwrap().to_owned()
}

pub fn time(value: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(value.as_str().unwrap())
        .unwrap()
        .with_timezone(&Utc)
}

/// Callbacks posted to a free loopback port, in the order they arrived.
pub struct Receiver {
    pub url: String,
    callbacks: CallbackReceiver,
}

impl Receiver {
    pub async fn start() -> Receiver {
        let callbacks = CallbackReceiver::start("/callbacks").await;
        Receiver {
            url: callbacks.url.clone(),
            callbacks,
        }
    }

    /// The next callback about `conversation_id` other than `system.replica_joined` (sent at
    /// creation, by another task than the end's).
    pub async fn next_end_event(&mut self, conversation_id: &str) -> Value {
        self.callbacks
            .next_where(
                DEADLINE,
                &format!("end callback for {conversation_id}"),
                |event| {
                    event["conversation_id"] == conversation_id
                        && event["event_type"] != "system.replica_joined"
                },
            )
            .await
    }
}
