//! Where the simulator posts Tavus's callbacks: a receiver that drops some, repeats some, holds
//! some back (so they arrive late and out of order), answers 5xx after handling some (so the
//! simulator sends them again), and kills the handler mid-way for some, before handing each to
//! the code the tavus-webhook function runs.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use awaknow_core::api::error::problem_of;
use awaknow_core::recording_bucket::Recordings;
use awaknow_core::service::callbacks::{CallbackContext, tavus_callback};
use awaknow_core::store::DynamoLedger;
use awaknow_core::tavus::Tavus;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use rand::Rng;
use tokio::task::JoinSet;

use crate::faults::Faults;

const DROPPED: f64 = 0.03;
const DELAYED: f64 = 0.06;
const DUPLICATED: f64 = 0.04;
const FAILED_AFTER: f64 = 0.03;
const KILLED: f64 = 0.02;

/// What the receiver needs to hand a callback to the code.
pub struct Receiver {
    pub ledger: DynamoLedger,
    pub tavus: Arc<Tavus>,
    pub recordings: Option<Recordings>,
    pub faults: Arc<Faults>,
    /// Callbacks held back, handled later by these tasks.
    pub held: Mutex<JoinSet<()>>,
    /// Every status the code answered (not the ones the receiver made up).
    pub answers: Mutex<Vec<u16>>,
    /// What each 500 was, for the report.
    pub internal: Mutex<Vec<String>>,
}

impl Receiver {
    /// Serves on a free loopback port; returns its base URL.
    pub async fn serve(self: &Arc<Self>) -> std::io::Result<String> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        let app = Router::new()
            .route("/webhooks/tavus/{token}", post(deliver))
            .with_state(Arc::clone(self));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(base)
    }

    /// Waits for every held-back callback to be handled.
    pub async fn drain(&self) {
        loop {
            let mut set = {
                let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
                std::mem::take(&mut *held)
            };
            if set.is_empty() {
                return;
            }
            while set.join_next().await.is_some() {}
        }
    }

    /// Hands a callback to the code until it is handled, as a sender that retries for a while
    /// would: a few tries for most events (as the simulator retries), and for a minute for a
    /// recording's announcement, which nothing else can recover (the premise that Tavus's
    /// retries outlast our outages; docs/chaos.md).
    async fn handle_until_done(&self, token: &str, body: &[u8]) -> StatusCode {
        let patience = if announces_recording(body) {
            Duration::from_secs(60)
        } else {
            Duration::from_secs(4)
        };
        let began = Instant::now();
        let mut wait = Duration::from_millis(250);
        loop {
            let status = self.handle(token, body).await;
            if status.is_success() || began.elapsed() >= patience {
                return status;
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(Duration::from_secs(4));
        }
    }

    /// Hands one callback to the code, possibly killing it at an await point.
    async fn handle(&self, token: &str, body: &[u8]) -> StatusCode {
        let cx = CallbackContext {
            tavus: &self.tavus,
            keys: self.tavus.secrets(),
            delete_after_call: self.tavus.delete_after_call(),
            deadline: Instant::now() + Duration::from_secs(20),
            recordings: self.recordings.as_ref(),
        };
        let work = tavus_callback(&self.ledger, cx, token, body);
        let answered = if self.faults.roll("callback handler killed mid-way", KILLED) {
            let after = self
                .faults
                .with_rng(|rng| Duration::from_millis(rng.random_range(1..40)));
            match tokio::time::timeout(after, work).await {
                Ok(result) => result,
                // The Lambda died: API Gateway answers 502 and Tavus (the simulator) retries.
                Err(_) => return StatusCode::BAD_GATEWAY,
            }
        } else {
            work.await
        };
        let status = match answered {
            Ok(_) => StatusCode::NO_CONTENT,
            Err(e) => {
                let status = problem_of(&e).0.status;
                if status == 500 {
                    self.internal
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(e.to_string());
                }
                StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
            }
        };
        self.answers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(status.as_u16());
        status
    }
}

async fn deliver(
    State(receiver): State<Arc<Receiver>>,
    Path(token): Path<String>,
    body: Bytes,
) -> StatusCode {
    let faults = &receiver.faults;
    // A recording's announcement is never lost here: Tavus's file would then be known to no
    // session, and only a listing of the bucket can find it (not this campaign's to reconcile).
    if !announces_recording(&body) && faults.roll("callback dropped", DROPPED) {
        return StatusCode::NO_CONTENT;
    }
    if faults.roll("callback delayed and reordered", DELAYED) {
        let wait = faults.with_rng(|rng| Duration::from_millis(rng.random_range(200..4000)));
        let held = Arc::clone(&receiver);
        receiver
            .held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .spawn(async move {
                tokio::time::sleep(wait).await;
                // Sent late, it is still Tavus's: an answer other than 2xx is sent again, as
                // the simulator does with its own.
                held.handle_until_done(&token, &body).await;
            });
        return StatusCode::NO_CONTENT;
    }
    let status = if announces_recording(&body) {
        receiver.handle_until_done(&token, &body).await
    } else {
        receiver.handle(&token, &body).await
    };
    if faults.roll("callback duplicated", DUPLICATED) {
        receiver.handle(&token, &body).await;
    }
    if status.is_success() && faults.roll("callback answered 5xx after handling", FAILED_AFTER) {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    status
}

fn announces_recording(body: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(body).is_ok_and(|v| {
        v["event_type"]
            .as_str()
            .is_some_and(|t| t.starts_with("application.recording"))
    })
}
