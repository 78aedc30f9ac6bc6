//! A conversation's transcript, as Tavus sends it after the call.

use serde::{Deserialize, Serialize};

/// One turn. Tavus's roles are `system`, `user` and `assistant`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Turn {
    pub role: String,
    pub content: String,
}

/// The turns worth keeping. The `system` turns are dropped before anything is stored: they hold
/// the persona's instructions and the conversational context, which carries the user's prompt,
/// and the prompt is not kept after the Tavus call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transcript {
    pub turns: Vec<Turn>,
}

impl Transcript {
    pub fn from_tavus(turns: Vec<Turn>) -> Transcript {
        Transcript {
            turns: turns.into_iter().filter(|t| t.role != "system").collect(),
        }
    }

    /// Reads the `transcript` array of a Tavus callback leniently: newer turns carry extra keys
    /// (`timestamp`, `seconds_from_start`, ...), which are ignored, and a turn without a role or
    /// without text is dropped on its own, so one odd turn never costs the user the rest.
    /// Returns the transcript and how many turns were dropped as unusable.
    pub fn from_tavus_json(items: &[serde_json::Value]) -> (Transcript, usize) {
        let usable: Vec<Turn> = items.iter().filter_map(usable_turn).collect();
        let dropped = items.len() - usable.len();
        (Transcript::from_tavus(usable), dropped)
    }
}

fn usable_turn(item: &serde_json::Value) -> Option<Turn> {
    let role = item.get("role")?.as_str()?.trim();
    let content = item.get("content")?.as_str()?;
    (!role.is_empty() && !content.trim().is_empty()).then(|| Turn {
        role: role.to_owned(),
        content: content.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_keys_are_ignored_and_only_unusable_turns_are_dropped() {
        let items: Vec<serde_json::Value> = serde_json::from_str(
            r#"[{"role": "system", "content": "prompt", "timestamp": "2026-11-25T10:00:00Z"},
                {"role": "user", "content": "I argued with my sister", "seconds_from_start": 3.5,
                 "duration": 2.1, "inference_id": "i-1", "timestamp": "2026-11-25T10:00:03Z"},
                {"role": "assistant"},
                {"role": "assistant", "content": null},
                {"role": "assistant", "content": "   "},
                {"content": "no role"},
                "not a turn",
                {"role": "assistant", "content": "What happened next?", "something_new": {"a": 1}}]"#,
        )
        .unwrap();
        let (transcript, dropped) = Transcript::from_tavus_json(&items);
        assert_eq!(dropped, 5);
        assert_eq!(
            transcript.turns,
            vec![
                Turn {
                    role: "user".into(),
                    content: "I argued with my sister".into()
                },
                Turn {
                    role: "assistant".into(),
                    content: "What happened next?".into()
                },
            ]
        );
    }

    #[test]
    fn system_turns_are_never_kept() {
        let t = Transcript::from_tavus(vec![
            Turn {
                role: "system".into(),
                content: "persona + the user's prompt".into(),
            },
            Turn {
                role: "user".into(),
                content: "hi".into(),
            },
            Turn {
                role: "assistant".into(),
                content: "hello".into(),
            },
        ]);
        assert_eq!(t.turns.len(), 2);
        assert!(t.turns.iter().all(|turn| turn.role != "system"));
    }
}
