//! The transcript Tavus sends in `application.transcription_ready`: the system prompt first,
//! then the spoken turns, in the classic or the extended shape.

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

use crate::model::{TranscriptShape, tavus_time};

/// What a call's transcript holds.
#[derive(Debug, Clone, Default)]
pub struct TranscriptSpec {
    pub shape: TranscriptShape,
    /// Replaces the canned spoken turns, verbatim; `Some(vec![])` for a call nobody joined.
    pub turns: Option<Vec<Value>>,
    /// Appended verbatim after the spoken turns.
    pub extra_turns: Vec<Value>,
}

impl TranscriptSpec {
    pub fn shaped(shape: TranscriptShape) -> Self {
        TranscriptSpec {
            shape,
            ..TranscriptSpec::default()
        }
    }

    /// Nobody joined, so nobody spoke: only the system prompt.
    pub fn silent(shape: TranscriptShape) -> Self {
        TranscriptSpec {
            shape,
            turns: Some(Vec::new()),
            extra_turns: Vec::new(),
        }
    }

    /// The transcript of a call that started at `started` with `context` as its system prompt.
    pub fn build(&self, context: &str, started: DateTime<Utc>) -> Value {
        // The system turn is the prompt, not speech: it carries no timing in either shape.
        let mut turns = vec![json!({ "role": "system", "content": context })];
        match &self.turns {
            Some(given) => turns.extend(given.iter().cloned()),
            None => turns.extend(CANNED.iter().map(|turn| turn.to_json(self.shape, started))),
        }
        turns.extend(self.extra_turns.iter().cloned());
        Value::Array(turns)
    }
}

/// A spoken turn: who, what, and when relative to the start of the call.
struct Spoken {
    role: &'static str,
    content: &'static str,
    seconds_from_start: f64,
    duration: f64,
}

const CANNED: [Spoken; 2] = [
    Spoken {
        role: "user",
        content: "Hello, I'd like to talk about my week.",
        seconds_from_start: 4.25,
        duration: 3.5,
    },
    Spoken {
        role: "assistant",
        content: "Of course. What has been on your mind?",
        seconds_from_start: 8.5,
        duration: 2.75,
    },
];

impl Spoken {
    fn to_json(&self, shape: TranscriptShape, started: DateTime<Utc>) -> Value {
        let mut turn = json!({ "role": self.role, "content": self.content });
        if shape == TranscriptShape::Extended {
            let at = started + Duration::milliseconds((self.seconds_from_start * 1000.0) as i64);
            turn["timestamp"] = json!(tavus_time(at));
            turn["seconds_from_start"] = json!(self.seconds_from_start);
            turn["duration"] = json!(self.duration);
            turn["inference_id"] = json!(inference_id());
        }
        turn
    }
}

/// A random UUID-like id, as the reports show.
fn inference_id() -> String {
    let n: u128 = rand::random();
    let hex = format!("{n:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(turn: &Value) -> Vec<&str> {
        turn.as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect()
    }

    fn started() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap()
    }

    #[test]
    fn classic_turns_hold_role_and_content_only() {
        let t = TranscriptSpec::shaped(TranscriptShape::Classic).build("ctx", started());
        let t = t.as_array().unwrap();
        assert_eq!(t.len(), 3);
        assert_eq!(t[0], json!({ "role": "system", "content": "ctx" }));
        for turn in &t[1..] {
            let mut k = keys(turn);
            k.sort_unstable();
            assert_eq!(k, ["content", "role"]);
        }
        assert_eq!(t[1]["role"], "user");
        assert_eq!(t[2]["role"], "assistant");
    }

    #[test]
    fn extended_turns_add_timing_and_an_inference_id() {
        let t = TranscriptSpec::shaped(TranscriptShape::Extended).build("ctx", started());
        let t = t.as_array().unwrap();
        assert_eq!(t[0], json!({ "role": "system", "content": "ctx" }));
        let user = &t[1];
        let mut k = keys(user);
        k.sort_unstable();
        assert_eq!(
            k,
            [
                "content",
                "duration",
                "inference_id",
                "role",
                "seconds_from_start",
                "timestamp"
            ]
        );
        assert_eq!(user["seconds_from_start"], 4.25);
        assert_eq!(user["duration"], 3.5);
        assert_eq!(user["timestamp"], "2027-01-15T08:00:04.250000Z");
        assert_eq!(user["inference_id"].as_str().unwrap().len(), 36);
        assert_ne!(user["inference_id"], t[2]["inference_id"]);
    }

    #[test]
    fn given_and_extra_turns_are_sent_verbatim() {
        let spec = TranscriptSpec {
            shape: TranscriptShape::Extended,
            turns: Some(vec![json!({ "role": "user", "content": "hi" })]),
            extra_turns: vec![
                json!({ "role": "user" }),
                json!({ "role": "assistant", "content": null }),
            ],
        };
        let t = spec.build("ctx", started());
        assert_eq!(
            t,
            json!([
                { "role": "system", "content": "ctx" },
                { "role": "user", "content": "hi" },
                { "role": "user" },
                { "role": "assistant", "content": null },
            ])
        );
        let silent = TranscriptSpec::silent(TranscriptShape::Classic).build("ctx", started());
        assert_eq!(silent, json!([{ "role": "system", "content": "ctx" }]));
    }
}
