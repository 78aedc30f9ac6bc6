//! The simulator's conversations: how a call is created, joined, ended and deleted, and how
//! Tavus shows it.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

use crate::model::{CreateConversation, Faults, MAX_CALL_DURATION, TestModeUrl, tavus_time};
use crate::recording::{
    RecordingShape, RecordingTarget, Upload, lasted, ready_properties, recording_bytes,
    recording_key,
};
use crate::room::{JoinRefusal, meeting_token, parse_join_url};
use crate::transcript::TranscriptSpec;

#[derive(Debug, Clone)]
pub struct Conversation {
    pub id: String,
    /// Creation order, so lists are stable when two calls share a `created_at`.
    pub seq: u64,
    pub name: String,
    /// `None` only for a test-mode call when the simulator is told to leave the URL out.
    pub url: Option<String>,
    pub callback_url: Option<String>,
    pub replica_id: String,
    pub persona_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub created_instant: Instant,
    pub max_call_duration: u32,
    pub absent_timeout: u32,
    pub context: String,
    pub test_mode: bool,
    /// Set for a `require_auth` room: joining needs `?t=<token>` until it expires.
    pub meeting_token: Option<String>,
    pub max_participants: Option<u32>,
    /// People who joined the room (the replica is not counted). There is no leaving.
    pub joins: u32,
    pub joins_refused: u32,
    /// The `participant_absent_timeout` timer has run (whether or not it ended the call).
    pub absent_timer_done: bool,
    /// Soft-deleted: hidden from the v2 API, kept for the control view.
    pub deleted: bool,
    pub ended: Option<Ended>,
    /// Events as `?verbose=true` shows them, in order.
    pub events: Vec<Value>,
    /// The event types of the callbacks queued for `callback_url`, in order.
    pub callbacks: Vec<String>,
    /// Where the call is recorded (`enable_recording` with the S3 settings).
    pub recording: Option<RecordingTarget>,
}

#[derive(Debug, Clone)]
pub struct Ended {
    pub at: DateTime<Utc>,
    /// The `system.shutdown` reason; `None` when the call ended without that event.
    pub reason: Option<String>,
}

/// How a call ends.
#[derive(Debug, Clone)]
pub struct Ending {
    pub reason: String,
    /// Record and send `system.shutdown`.
    pub shutdown_event: bool,
    /// Record and send `application.transcription_ready` with this transcript.
    pub transcript: Option<TranscriptSpec>,
    /// What happens to a recorded call's recording.
    pub recording: RecordingPlan,
}

/// How a recorded call's recording is delivered when it ends.
#[derive(Debug, Clone, Default)]
pub struct RecordingPlan {
    /// Someone started the recording in the call (for a call created with recording).
    pub recorded: bool,
    pub shape: RecordingShape,
    /// The S3 endpoint the file is written to; `None`: the copy fails.
    pub endpoint: Option<String>,
}

impl RecordingPlan {
    /// The plan for a call that ends by itself or through the API: Tavus's docs say
    /// `enable_recording` only allows a recording, and a person in the call starts it; a call
    /// nobody joined has none.
    pub fn if_joined(mut self, c: Option<&Conversation>) -> Self {
        self.recorded &= c.is_some_and(|c| c.joins > 0);
        self
    }
}

impl Ending {
    /// Shutdown then transcript, as Tavus sends them for a call that ended.
    pub fn with(reason: &str, transcript: TranscriptSpec) -> Self {
        Ending {
            reason: reason.to_owned(),
            shutdown_event: true,
            transcript: Some(transcript),
            recording: RecordingPlan::default(),
        }
    }

    /// The same, with the recording delivered as `plan` says.
    pub fn recorded(mut self, plan: RecordingPlan) -> Self {
        self.recording = plan;
        self
    }
}

/// A callback to send: the envelope Tavus documents.
#[derive(Debug, Clone)]
pub struct Callback {
    pub url: String,
    pub body: Value,
    /// A file written before the callback is sent; if that fails, `copy_failed` is sent instead,
    /// with the failure as `properties.error_message`.
    pub upload: Option<(Upload, Value)>,
}

impl Conversation {
    /// The simulated time now: the real time since creation, sped up.
    pub fn simulated_now(&self, speedup: f64) -> DateTime<Utc> {
        let elapsed = self.created_instant.elapsed().as_secs_f64() * speedup;
        self.created_at + Duration::milliseconds((elapsed * 1000.0) as i64)
    }

    /// A meeting token lives `participant_absent_timeout` simulated seconds from creation.
    pub fn token_expired(&self, speedup: f64) -> bool {
        let elapsed = self.created_instant.elapsed().as_secs_f64() * speedup;
        self.meeting_token.is_some() && elapsed >= f64::from(self.absent_timeout)
    }

    /// Whether a person opening `url` now may join, by the rules of the Daily room.
    fn may_join(&self, url: &str, speedup: f64) -> Result<(), JoinRefusal> {
        if self.ended.is_some() {
            return Err(JoinRefusal::Ended);
        }
        let (room, token) = parse_join_url(url);
        if self.url.as_deref() != Some(room) {
            return Err(JoinRefusal::WrongRoom);
        }
        if let Some(expected) = &self.meeting_token {
            match token {
                None => return Err(JoinRefusal::TokenMissing),
                Some(t) if t != expected => return Err(JoinRefusal::TokenInvalid),
                Some(_) if self.token_expired(speedup) => return Err(JoinRefusal::TokenExpired),
                Some(_) => {}
            }
        }
        // The replica takes one of the places.
        if self
            .max_participants
            .is_some_and(|max| self.joins + 1 >= max)
        {
            return Err(JoinRefusal::Full);
        }
        Ok(())
    }
}

#[derive(Debug, Default)]
pub struct State {
    pub conversations: HashMap<String, Conversation>,
    /// Hard-deleted conversations: gone from the v2 API, kept for `GET /_sim/history` (what ran,
    /// for a reconciliation of the books).
    pub forgotten: Vec<Conversation>,
    pub faults: Vec<Faults>,
    pub requests: BTreeMap<String, u64>,
    next_seq: u64,
}

impl State {
    pub fn active_count(&self) -> usize {
        self.conversations
            .values()
            .filter(|c| c.ended.is_none() && !c.test_mode)
            .count()
    }

    /// Joins accepted in all conversations.
    pub fn joins(&self) -> u64 {
        self.conversations
            .values()
            .map(|c| u64::from(c.joins))
            .sum()
    }

    /// A conversation the v2 API can see: not deleted.
    pub fn live(&self, id: &str) -> Option<&Conversation> {
        self.conversations.get(id).filter(|c| !c.deleted)
    }

    fn live_mut(&mut self, id: &str) -> Option<&mut Conversation> {
        self.conversations.get_mut(id).filter(|c| !c.deleted)
    }

    pub fn create(
        &mut self,
        body: &CreateConversation,
        now: DateTime<Utc>,
        test_mode_url: TestModeUrl,
    ) -> Conversation {
        let id = format!("c{:012x}", rand::random::<u64>() & 0xffff_ffff_ffff);
        let test_mode = body.test_mode.unwrap_or(false);
        let absent_timeout = body.absent_timeout();
        let url = (!test_mode || test_mode_url == TestModeUrl::Room)
            .then(|| format!("https://tavus.daily.co/{id}"));
        self.next_seq += 1;
        let conversation = Conversation {
            seq: self.next_seq,
            name: body
                .conversation_name
                .clone()
                .unwrap_or_else(|| format!("New Conversation {}", now.timestamp_millis())),
            meeting_token: body
                .require_auth
                .unwrap_or(false)
                .then(|| meeting_token(&id, now + Duration::seconds(i64::from(absent_timeout)))),
            url,
            callback_url: body.callback_url.clone(),
            replica_id: body
                .replica_id
                .clone()
                .or_else(|| body.face_id.clone())
                .unwrap_or_else(|| "r-sim-default".into()),
            persona_id: body.persona_id.clone().or_else(|| body.pal_id.clone()),
            created_at: now,
            created_instant: Instant::now(),
            max_call_duration: body
                .properties
                .as_ref()
                .and_then(|p| p.max_call_duration)
                .unwrap_or(MAX_CALL_DURATION),
            absent_timeout,
            context: body.conversational_context.clone().unwrap_or_default(),
            test_mode,
            max_participants: body.max_participants,
            joins: 0,
            joins_refused: 0,
            absent_timer_done: false,
            deleted: false,
            // In test mode Tavus creates the conversation already ended; no replica joins, so
            // there is no shutdown and no reason.
            ended: test_mode.then_some(Ended {
                at: now,
                reason: None,
            }),
            events: Vec::new(),
            callbacks: Vec::new(),
            recording: body.recording_target(),
            id: id.clone(),
        };
        self.conversations.insert(id, conversation.clone());
        conversation
    }

    /// Records that the replica joined; returns the callback to send.
    pub fn replica_joined(&mut self, id: &str, at: DateTime<Utc>) -> Option<Callback> {
        let c = self.conversations.get_mut(id)?;
        let event = envelope(
            c,
            "system.replica_joined",
            "system",
            at,
            json!({ "replica_id": c.replica_id }),
        );
        record(c, event)
    }

    /// A person opens `url` to join the room of `id`; counted when accepted or refused.
    pub fn join(&mut self, id: &str, url: &str, speedup: f64) -> Result<(), JoinRefusal> {
        let c = self.live_mut(id).ok_or(JoinRefusal::Unknown)?;
        let verdict = c.may_join(url, speedup);
        match verdict {
            Ok(()) => c.joins += 1,
            Err(_) => c.joins_refused += 1,
        }
        verdict
    }

    /// Ends a call at `at`, once; returns the callbacks to send, in order. Ending an ended call
    /// does nothing, as Tavus answers 200 to it. `None`: no such (visible) conversation.
    pub fn end(&mut self, id: &str, at: DateTime<Utc>, ending: Ending) -> Option<Vec<Callback>> {
        let c = self.live_mut(id)?;
        if c.ended.is_some() {
            return Some(Vec::new());
        }
        c.ended = Some(Ended {
            at,
            reason: ending.shutdown_event.then(|| ending.reason.clone()),
        });
        let mut callbacks = Vec::new();
        if ending.shutdown_event {
            let properties =
                json!({ "replica_id": c.replica_id, "shutdown_reason": ending.reason });
            let shutdown = envelope(c, "system.shutdown", "system", at, properties);
            callbacks.extend(record(c, shutdown));
        }
        if let Some(spec) = &ending.transcript {
            let transcript = spec.build(&c.context, c.created_at);
            let properties = json!({ "replica_id": c.replica_id, "transcript": transcript });
            let ready = envelope(
                c,
                "application.transcription_ready",
                "application",
                at + Duration::seconds(2),
                properties,
            );
            callbacks.extend(record(c, ready));
        }
        if let Some(target) = c.recording.clone().filter(|_| ending.recording.recorded) {
            // After the transcript, once the file is written, as Tavus announces it when it is
            // "durably written" to the bucket.
            let key = recording_key(&c.id);
            let properties = ready_properties(
                ending.recording.shape,
                &target,
                &key,
                lasted(c.created_at, at),
            );
            let time = at + Duration::seconds(5);
            let ready = envelope(
                c,
                "application.recording_ready",
                "application",
                time,
                properties,
            );
            let failed = envelope(
                c,
                "application.recording_copy_failed",
                "application",
                time,
                json!({}),
            );
            let upload = Upload {
                endpoint: ending.recording.endpoint.clone(),
                bucket: target.bucket,
                bytes: recording_bytes(&c.id),
                key,
            };
            callbacks.extend(record(c, ready).map(|mut cb| {
                cb.upload = Some((upload, failed));
                cb
            }));
        }
        Some(callbacks)
    }

    /// `DELETE /v2/conversations/{id}`: an active call ends first (`daily_room_has_been_deleted`,
    /// with its callbacks); then a hard delete forgets it, a soft one hides it. `None`: no such
    /// (visible) conversation.
    pub fn delete(
        &mut self,
        id: &str,
        hard: bool,
        ending: Ending,
        speedup: f64,
    ) -> Option<Vec<Callback>> {
        let at = self.live(id)?.simulated_now(speedup);
        let callbacks = self.end(id, at, ending)?;
        if hard {
            if let Some(c) = self.conversations.remove(id) {
                self.forgotten.push(c);
            }
        } else if let Some(c) = self.conversations.get_mut(id) {
            c.deleted = true;
        }
        Some(callbacks)
    }

    /// The conversation as `GET /v2/conversations/{id}` and the list show it: never the
    /// meeting token.
    pub fn view(c: &Conversation, verbose: bool) -> Value {
        let mut v = json!({
            "conversation_id": c.id,
            "conversation_name": c.name,
            "callback_url": c.callback_url.clone().unwrap_or_default(),
            "status": if c.ended.is_some() { "ended" } else { "active" },
            "replica_id": c.replica_id,
            "persona_id": c.persona_id,
            "created_at": tavus_time(c.created_at),
            "updated_at": tavus_time(c.ended.as_ref().map_or(c.created_at, |e| e.at)),
        });
        if let Some(url) = &c.url {
            v["conversation_url"] = json!(url);
        }
        if verbose {
            v["events"] = Value::Array(c.events.clone());
            if let Some(reason) = c.ended.as_ref().and_then(|e| e.reason.as_ref()) {
                v["shutdown_reason"] = json!(reason);
            }
        }
        v
    }

    /// `GET /_sim/conversations/{id}`: everything the simulator knows, for tests.
    pub fn control_view(c: &Conversation, speedup: f64) -> Value {
        json!({
            "conversation_id": c.id,
            "status": if c.ended.is_some() { "ended" } else { "active" },
            "deleted": c.deleted,
            "test_mode": c.test_mode,
            "conversation_url": c.url,
            "callback_url": c.callback_url,
            "require_auth": c.meeting_token.is_some(),
            "meeting_token": c.meeting_token,
            "meeting_token_expired": c.token_expired(speedup),
            "max_participants": c.max_participants,
            "max_call_duration": c.max_call_duration,
            "participant_absent_timeout": c.absent_timeout,
            "absent_timer_done": c.absent_timer_done,
            "joins": c.joins,
            "joins_refused": c.joins_refused,
            "created_at": tavus_time(c.created_at),
            "ended_at": c.ended.as_ref().map(|e| tavus_time(e.at)),
            "shutdown_reason": c.ended.as_ref().and_then(|e| e.reason.clone()),
            "events": c.events,
            "callbacks": c.callbacks,
            "recording": c.recording.as_ref().map(|r| json!({
                "bucket": r.bucket, "region": r.region, "role_arn": r.role_arn,
            })),
        })
    }
}

/// Records an event for `?verbose=true`; returns the callback to send, if the call has a
/// `callback_url`.
fn record(c: &mut Conversation, event: Value) -> Option<Callback> {
    c.events.push(event.clone());
    let url = c.callback_url.clone()?;
    c.callbacks
        .push(event["event_type"].as_str().unwrap_or_default().to_owned());
    Some(Callback {
        url,
        body: event,
        upload: None,
    })
}

fn envelope(
    c: &Conversation,
    event_type: &str,
    message_type: &str,
    at: DateTime<Utc>,
    properties: Value,
) -> Value {
    json!({
        "properties": properties,
        "conversation_id": c.id,
        "webhook_url": c.callback_url.clone().unwrap_or_default(),
        "event_type": event_type,
        "message_type": message_type,
        "timestamp": tavus_time(at),
    })
}
