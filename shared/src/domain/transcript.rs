//! A conversation's transcript, as Tavus sends it after the call.

use serde::{Deserialize, Serialize};

/// One turn. Tavus's roles are `system`, `user` and `assistant`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
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
}

#[cfg(test)]
mod tests {
    use super::*;

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
