//! A minimal Lambda Runtime API of our own (the 2018-06-01 interface the runtime client polls),
//! enough to time a function's init and to hand it invocations: `GET .../invocation/next` gets
//! the next queued event, `POST .../invocation/{id}/response` (or `/error`) answers it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::sync::{Mutex, mpsc, oneshot};

/// An answer: whether it succeeded, and its payload.
type Answer = (bool, Bytes);
/// A queued invocation: its id, its event, and where its answer goes.
type Queued = (String, Bytes, oneshot::Sender<Answer>);

/// An invocation waiting for an answer.
struct Pending {
    answer: oneshot::Sender<Answer>,
}

struct Inner {
    queue: Mutex<mpsc::Receiver<Queued>>,
    pending: Mutex<HashMap<String, Pending>>,
    /// Told the first time any process asks for work (init timing).
    first_poll: Mutex<Option<oneshot::Sender<Instant>>>,
}

#[derive(Clone)]
pub struct RuntimeApi {
    pub addr: SocketAddr,
    sender: mpsc::Sender<Queued>,
    inner: Arc<Inner>,
}

async fn next(State(inner): State<Arc<Inner>>) -> Response {
    if let Some(tell) = inner.first_poll.lock().await.take() {
        let _ = tell.send(Instant::now());
    }
    let item = inner.queue.lock().await.recv().await;
    let Some((id, event, answer)) = item else {
        return StatusCode::GONE.into_response();
    };
    inner
        .pending
        .lock()
        .await
        .insert(id.clone(), Pending { answer });
    let mut headers = HeaderMap::new();
    let deadline = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() + 30_000)
        .unwrap_or(0);
    if let (Ok(id), Ok(deadline)) = (
        HeaderValue::from_str(&id),
        HeaderValue::from_str(&deadline.to_string()),
    ) {
        headers.insert("lambda-runtime-aws-request-id", id);
        headers.insert("lambda-runtime-deadline-ms", deadline);
    }
    headers.insert(
        "lambda-runtime-invoked-function-arn",
        HeaderValue::from_static("arn:aws:lambda:us-east-1:000000000000:function:bench"),
    );
    headers.insert(
        "lambda-runtime-trace-id",
        HeaderValue::from_static("Root=1-00000000-000000000000000000000000;Sampled=0"),
    );
    (StatusCode::OK, headers, event).into_response()
}

async fn answer(
    State(inner): State<Arc<Inner>>,
    Path((id, kind)): Path<(String, String)>,
    body: Bytes,
) -> StatusCode {
    if let Some(p) = inner.pending.lock().await.remove(&id) {
        let _ = p.answer.send((kind == "response", body));
    }
    StatusCode::ACCEPTED
}

impl RuntimeApi {
    pub async fn start() -> std::io::Result<RuntimeApi> {
        let (sender, receiver) = mpsc::channel(1024);
        let inner = Arc::new(Inner {
            queue: Mutex::new(receiver),
            pending: Mutex::new(HashMap::new()),
            first_poll: Mutex::new(None),
        });
        let app = axum::Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route("/2018-06-01/runtime/invocation/{id}/{kind}", post(answer))
            .route(
                "/2018-06-01/runtime/init/error",
                post(|| async { StatusCode::ACCEPTED }),
            )
            .with_state(Arc::clone(&inner));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(RuntimeApi {
            addr,
            sender,
            inner,
        })
    }

    /// Resolves when the next process asks for work for the first time.
    pub async fn arm_first_poll(&self) -> oneshot::Receiver<Instant> {
        let (tell, told) = oneshot::channel();
        *self.inner.first_poll.lock().await = Some(tell);
        told
    }

    /// Queues one invocation and waits for its answer: (succeeded, payload).
    pub async fn invoke(&self, event: Bytes) -> Option<Answer> {
        let (answer, answered) = oneshot::channel();
        let id = ulid::Ulid::new().to_string();
        self.sender.send((id, event, answer)).await.ok()?;
        answered.await.ok()
    }
}
