//! What the campaign's users do, one story per session: create (alone or with a partner, with an
//! Idempotency-Key retried as the app retries it), write notes, end from the app or let Tavus end
//! the call, change plans, erase. Each step through the code the functions run, some killed
//! mid-way (a Lambda stopped at an await point); every answer is kept for the reconciliation.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use awaknow_core::api::error::problem_of;
use awaknow_core::domain::{PlanId, Precondition, Session, SessionId, SessionStatus, UserId};
use awaknow_core::recording_bucket::Recordings;
use awaknow_core::service::create::{CreateContext, CreateSessionRequest, Created, create_session};
use awaknow_core::service::{ServiceError, erase, settle};
use awaknow_core::store::{DynamoLedger, IdempotencyKey, NotesKey};
use awaknow_core::tavus::Tavus;
use rand::Rng;
use serde_json::json;

use crate::faults::Faults;

const KILLED: f64 = 0.03;
const WITH_KEY: f64 = 0.35;
const RECORDED: f64 = 0.3;
const JOINED: f64 = 0.85;

/// What every story shares.
pub struct World {
    /// The campaign's clock is shifted to just before a month's end, so sessions straddle the
    /// monthly reset; every time the users give the code is `now()`.
    pub offset: chrono::Duration,
    pub ledger: DynamoLedger,
    pub tavus: Arc<Tavus>,
    pub sim: String,
    pub public_url: String,
    pub faults: Arc<Faults>,
    pub journal: Mutex<Journal>,
    /// The recordings bucket on moto, as the functions reach it.
    pub recordings: Recordings,
    /// The same bucket through an S3 endpoint nobody answers.
    pub recordings_down: Recordings,
}

/// What the users saw, for the reconciliation.
#[derive(Debug, Clone, Default)]
pub struct Journal {
    /// Sessions a create answered 201 for: owner and id.
    pub created: Vec<(UserId, SessionId)>,
    /// Erased sessions (204): owner, id, conversation, and what they were charged.
    pub erased: Vec<Erased>,
    /// Erasures begun and cut short, never confirmed: the sweeper finishes them, so these
    /// count as erased when their session is gone.
    pub erasures_cut_short: Vec<Erased>,
    /// Every status the code answered a user.
    pub answers: Vec<u16>,
    /// A retry with the same Idempotency-Key that got another session.
    pub idempotency_mismatches: Vec<String>,
    /// A 204 to DELETE followed by something other than 404.
    pub erased_but_found: Vec<String>,
    /// Private text the users wrote: it must reach no log line.
    pub needles: Vec<String>,
    /// What each 500 was, for the report.
    pub internal: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Erased {
    pub owner: UserId,
    pub session_id: SessionId,
    pub conversation_id: Option<String>,
    pub charged: u32,
    pub period: awaknow_core::domain::Period,
}

impl World {
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        chrono::Utc::now() + self.offset
    }

    fn note<T>(&self, f: impl FnOnce(&mut Journal) -> T) -> T {
        f(&mut self.journal.lock().unwrap_or_else(|p| p.into_inner()))
    }

    fn answered(&self, result: &Result<(), ServiceError>) {
        match result {
            Ok(()) => self.note(|j| j.answers.push(200)),
            Err(e) => {
                self.failed(e);
            }
        }
    }

    /// Keeps an error's status (and what a 500 was).
    fn failed(&self, e: &ServiceError) -> u16 {
        let status = status_of(e);
        self.note(|j| {
            j.answers.push(status);
            if status == 500 {
                j.internal.push(e.to_string());
            }
        });
        status
    }

    fn roll(&self, kind: &'static str, p: f64) -> bool {
        self.faults.roll(kind, p)
    }

    fn pick<T>(&self, f: impl FnOnce(&mut rand::rngs::StdRng) -> T) -> T {
        self.faults.with_rng(f)
    }

    /// Runs `work`, killed after a random moment when the dice say so (`None`: killed).
    async fn maybe_killed<T>(
        &self,
        kind: &'static str,
        work: impl std::future::Future<Output = T>,
    ) -> Option<T> {
        if self.roll(kind, KILLED) {
            let after = self.pick(|rng| Duration::from_millis(rng.random_range(1..600)));
            tokio::time::timeout(after, work).await.ok()
        } else {
            Some(work.await)
        }
    }
}

/// The HTTP status the API answers for `e` (its one mapping).
pub fn status_of(e: &ServiceError) -> u16 {
    problem_of(e).0.status
}

fn deadline() -> Instant {
    Instant::now() + Duration::from_secs(25)
}

/// One session's story.
pub async fn story(world: &World, owner: UserId, partner: Option<UserId>) {
    let prompt = format!("chaos-prompt-{} about my week", ulid::Ulid::new());
    world.note(|j| j.needles.push(prompt.clone()));
    let minutes = world.pick(|rng| rng.random_range(1..=8u32));
    let record = world.roll("user: a recorded session", RECORDED);
    let body = match &partner {
        Some(p) => json!({"session_type": "resolve_together", "prompt": prompt,
                          "participants": [p.as_str()], "max_minutes": minutes, "record": record}),
        None => json!({"session_type": "reflect_alone", "prompt": prompt, "max_minutes": minutes,
                       "record": record}),
    };
    let Ok(request) = CreateSessionRequest::parse(body.to_string().as_bytes(), &owner) else {
        return;
    };
    if world.roll("user: plan changed mid-month", 0.04) {
        let plan = world.pick(|rng| PlanId::ALL[rng.random_range(0..PlanId::ALL.len())]);
        let changed = world.ledger.change_plan(&owner, plan, world.now()).await;
        world.answered(&changed.map(|_| ()).map_err(ServiceError::from));
    }
    let Some(session) = create_with_retries(world, &owner, &request).await else {
        return;
    };
    world.note(|j| j.created.push((owner.clone(), session.session_id)));
    if session.status != SessionStatus::Active {
        return;
    }
    if world.pick(|rng| rng.random_bool(JOINED)) {
        join(world, &session).await;
    }
    let pause = world.pick(|rng| Duration::from_millis(rng.random_range(0..1500)));
    tokio::time::sleep(pause).await;
    if world.pick(|rng| rng.random_bool(0.4)) {
        write_notes(world, &owner, session.session_id).await;
        if let Some(p) = &partner {
            write_notes(world, p, session.session_id).await;
        }
    }
    match world.pick(|rng| rng.random_range(0..3)) {
        0 => end_from_app(world, &owner, session.session_id).await,
        1 => tavus_ends(world, &session).await,
        // Nobody ends it: Tavus does, at the join window or the reservation (or the campaign,
        // when it winds down).
        _ => return,
    }
    if world.pick(|rng| rng.random_bool(0.3)) {
        erase_when_closed(world, &owner, session.session_id).await;
    }
}

/// A session nobody joins or ends: one of the crowd that falls due in one shard at once.
pub async fn unattended(world: &World, owner: UserId) {
    let prompt = format!("chaos-prompt-{} a quiet minute", ulid::Ulid::new());
    world.note(|j| j.needles.push(prompt.clone()));
    let body = json!({"session_type": "reflect_alone", "prompt": prompt, "max_minutes": 1});
    let Ok(request) = CreateSessionRequest::parse(body.to_string().as_bytes(), &owner) else {
        return;
    };
    if let Some(session) = create_with_retries(world, &owner, &request).await {
        world.note(|j| j.created.push((owner, session.session_id)));
    }
}

/// The create, retried by the app with the same Idempotency-Key after an error or a lost
/// answer; a key always gives the same session.
async fn create_with_retries(
    world: &World,
    owner: &UserId,
    request: &CreateSessionRequest,
) -> Option<Session> {
    let key = world
        .roll("user: create with an Idempotency-Key", WITH_KEY)
        .then(|| IdempotencyKey {
            key: ulid::Ulid::new().to_string(),
            fingerprint: request.fingerprint(),
        });
    let attempts = if key.is_some() { 3 } else { 1 };
    let mut first: Option<Session> = None;
    for _ in 0..attempts {
        let cx = CreateContext {
            owner,
            idempotency: key.clone(),
            public_url: &world.public_url,
            now: world.now(),
            deadline: deadline(),
            recording: Some(world.recordings.target()),
        };
        let work = create_session(
            &world.ledger,
            &world.tavus,
            world.tavus.secrets(),
            cx,
            request,
        );
        let answer = world
            .maybe_killed("create-session killed mid-way", work)
            .await;
        match answer {
            Some(Ok(Created { session, .. })) => {
                world.note(|j| j.answers.push(201));
                match &first {
                    Some(seen) if seen.session_id != session.session_id => {
                        let why = format!("{} then {}", seen.session_id, session.session_id);
                        world.note(|j| j.idempotency_mismatches.push(why));
                    }
                    Some(_) => {}
                    None => first = Some(session),
                }
                // The app sometimes sends it again anyway (a double tap).
                if key.is_none() || !world.pick(|rng| rng.random_bool(0.3)) {
                    break;
                }
            }
            Some(Err(e)) => {
                let status = world.failed(&e);
                if status < 500 {
                    break;
                }
            }
            None => {}
        }
    }
    first
}

async fn write_notes(world: &World, author: &UserId, session_id: SessionId) {
    let text = format!("chaos-note-{} talk on Friday", ulid::Ulid::new());
    world.note(|j| j.needles.push(text.clone()));
    let Ok((session, _)) = world.ledger.get_session(author, session_id).await else {
        return;
    };
    let key = NotesKey {
        owner: &session.owner_id,
        session_id,
        author,
    };
    let written = world
        .ledger
        .write_notes(key, &text, &Precondition::Any, world.now())
        .await;
    world.answered(&written.map(|_| ()).map_err(ServiceError::from));
}

async fn end_from_app(world: &World, owner: &UserId, session_id: SessionId) {
    for _ in 0..3 {
        let work = settle::end_session(
            &world.ledger,
            &world.tavus,
            owner,
            session_id,
            world.now(),
            deadline(),
        );
        match world.maybe_killed("end-session killed mid-way", work).await {
            Some(Ok(_)) => {
                world.answered(&Ok(()));
                return;
            }
            Some(Err(e)) => {
                let status = world.failed(&e);
                if status < 500 {
                    return;
                }
            }
            None => {}
        }
    }
}

/// The owner opens the link the app got: a person in the call (who starts the recording of a
/// recorded one; a call nobody joined has none).
async fn join(world: &World, session: &Session) {
    let (Some(conversation_id), Some(url)) = (&session.conversation_id, &session.conversation_url)
    else {
        return;
    };
    let link = match &session.meeting_token {
        Some(token) if url.contains('?') => format!("{url}&t={}", token.expose()),
        Some(token) => format!("{url}?t={}", token.expose()),
        None => url.clone(),
    };
    let _ = reqwest::Client::new()
        .post(format!(
            "{}/_sim/conversations/{conversation_id}/join",
            world.sim
        ))
        .json(&json!({ "url": link }))
        .send()
        .await;
}

/// The call ends at Tavus after a random length; its callbacks follow.
async fn tavus_ends(world: &World, session: &Session) {
    let Some(conversation_id) = &session.conversation_id else {
        return;
    };
    let limit = f64::from(session.reserved_minutes * 60);
    let seconds = world.pick(|rng| rng.random_range(5.0..limit + 30.0));
    let _ = reqwest::Client::new()
        .post(format!(
            "{}/_sim/conversations/{conversation_id}/end",
            world.sim
        ))
        .json(&json!({"duration_seconds": seconds.min(limit)}))
        .send()
        .await;
}

/// Waits for the session to close, then erases it, retrying as the app would.
async fn erase_when_closed(world: &World, owner: &UserId, session_id: SessionId) {
    let until = Instant::now() + Duration::from_secs(15);
    let session = loop {
        match world.ledger.get_session(owner, session_id).await {
            Ok((s, _)) if !s.status.is_open() => break s,
            _ if Instant::now() > until => return,
            _ => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    };
    // Whether an attempt may have begun the erasure without its answer saying so (killed, or a
    // 5xx): then a later 404 means that attempt (or the sweeper) finished it.
    let mut begun = false;
    for _ in 0..4 {
        let recordings = if world.roll("s3 unreachable during an erasure", 0.1) {
            &world.recordings_down
        } else {
            &world.recordings
        };
        let work = erase::delete_session(
            &world.ledger,
            &world.tavus,
            Some(recordings),
            owner,
            session_id,
            deadline(),
        );
        let answer = world.maybe_killed("erasure killed mid-way", work).await;
        let erased = match &answer {
            Some(Ok(())) => true,
            Some(Err(ServiceError::NotFound)) => begun,
            _ => false,
        };
        if answer.is_none() || matches!(&answer, Some(Err(e)) if status_of(e) >= 500) {
            begun = true;
        }
        match answer {
            Some(_) if erased => {
                world.note(|j| {
                    j.answers.push(204);
                    j.erased.push(erased_now(owner, &session));
                });
                read_after_erasure(world, owner, session_id).await;
                return;
            }
            Some(Err(e)) => {
                let status = world.failed(&e);
                if status < 500 {
                    return;
                }
            }
            Some(Ok(())) | None => {}
        }
    }
    if begun {
        world.note(|j| j.erasures_cut_short.push(erased_now(owner, &session)));
    }
}

/// After a 204, the session reads as not found; DynamoDB out of reach is no answer, asked again.
async fn read_after_erasure(world: &World, owner: &UserId, session_id: SessionId) {
    for _ in 0..40 {
        match world.ledger.get_session(owner, session_id).await {
            Err(awaknow_core::LedgerError::SessionNotFound) => return,
            Err(awaknow_core::LedgerError::Unavailable(_)) => {
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            other => {
                let found = format!("{session_id}: {:?}", other.map(|(s, _)| s.status));
                world.note(|j| j.erased_but_found.push(found));
                return;
            }
        }
    }
}

fn erased_now(owner: &UserId, session: &Session) -> Erased {
    Erased {
        owner: owner.clone(),
        session_id: session.session_id,
        conversation_id: session.conversation_id.clone(),
        charged: session.charged_minutes.unwrap_or(0),
        period: session.period,
    }
}
