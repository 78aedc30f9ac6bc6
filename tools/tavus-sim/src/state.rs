//! The simulator's conversations and how a call ends.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

use crate::model::{CreateConversation, Faults};

#[derive(Debug, Clone)]
pub struct Conversation {
    pub id: String,
    pub name: String,
    pub url: String,
    pub callback_url: Option<String>,
    pub replica_id: String,
    pub persona_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub created_instant: Instant,
    pub max_call_duration: u32,
    pub context: String,
    pub test_mode: bool,
    pub ended: Option<Ended>,
    pub events: Vec<Value>,
}

#[derive(Debug, Clone)]
pub struct Ended {
    pub at: DateTime<Utc>,
    pub reason: String,
}

/// A callback to send: the envelope Tavus documents.
#[derive(Debug, Clone)]
pub struct Callback {
    pub url: String,
    pub body: Value,
}

pub fn tavus_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

#[derive(Debug, Default)]
pub struct State {
    pub conversations: HashMap<String, Conversation>,
    pub faults: Vec<Faults>,
    pub requests: BTreeMap<String, u64>,
}

impl State {
    pub fn active_count(&self) -> usize {
        self.conversations
            .values()
            .filter(|c| c.ended.is_none() && !c.test_mode)
            .count()
    }

    pub fn create(&mut self, body: &CreateConversation, now: DateTime<Utc>) -> Conversation {
        let id = format!("c{:012x}", rand::random::<u64>() & 0xffff_ffff_ffff);
        let test_mode = body.test_mode.unwrap_or(false);
        let conversation = Conversation {
            name: body
                .conversation_name
                .clone()
                .unwrap_or_else(|| format!("New Conversation {}", now.timestamp_millis())),
            url: format!("https://tavus.daily.co/{id}"),
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
                .unwrap_or(3600),
            context: body.conversational_context.clone().unwrap_or_default(),
            test_mode,
            // In test mode Tavus creates the conversation already ended; no replica joins.
            ended: test_mode.then(|| Ended {
                at: now,
                reason: "test_mode".into(),
            }),
            events: Vec::new(),
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
        c.events.push(event.clone());
        c.callback_url
            .clone()
            .map(|url| Callback { url, body: event })
    }

    /// Ends a call at `at` for `reason`, once; returns the callbacks to send (shutdown, then the
    /// transcript). Ending an ended call does nothing, as Tavus answers 200 to it.
    pub fn end(&mut self, id: &str, at: DateTime<Utc>, reason: &str) -> Option<Vec<Callback>> {
        let c = self.conversations.get_mut(id)?;
        if c.ended.is_some() {
            return Some(Vec::new());
        }
        c.ended = Some(Ended {
            at,
            reason: reason.to_owned(),
        });
        let shutdown = envelope(
            c,
            "system.shutdown",
            "system",
            at,
            json!({ "replica_id": c.replica_id, "shutdown_reason": reason }),
        );
        let transcript = json!([
            { "role": "system", "content": c.context },
            { "role": "user", "content": "Hello, I'd like to talk about my week." },
            { "role": "assistant", "content": "Of course. What has been on your mind?" },
        ]);
        let ready = envelope(
            c,
            "application.transcription_ready",
            "application",
            at + Duration::seconds(2),
            json!({ "replica_id": c.replica_id, "transcript": transcript }),
        );
        c.events.push(shutdown.clone());
        c.events.push(ready.clone());
        Some(match &c.callback_url {
            Some(url) => vec![
                Callback {
                    url: url.clone(),
                    body: shutdown,
                },
                Callback {
                    url: url.clone(),
                    body: ready,
                },
            ],
            None => Vec::new(),
        })
    }

    /// The conversation as `GET /v2/conversations/{id}` shows it.
    pub fn view(c: &Conversation, verbose: bool) -> Value {
        let mut v = json!({
            "conversation_id": c.id,
            "conversation_name": c.name,
            "conversation_url": c.url,
            "callback_url": c.callback_url.clone().unwrap_or_default(),
            "status": if c.ended.is_some() { "ended" } else { "active" },
            "replica_id": c.replica_id,
            "persona_id": c.persona_id,
            "created_at": tavus_time(c.created_at),
            "updated_at": tavus_time(c.ended.as_ref().map_or(c.created_at, |e| e.at)),
        });
        if verbose {
            v["events"] = Value::Array(c.events.clone());
            if let Some(ended) = &c.ended {
                v["shutdown_reason"] = json!(ended.reason);
            }
        }
        v
    }
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
