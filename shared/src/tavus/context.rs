//! The per-conversation context Tavus adds to the persona's: built from the user's prompt, what
//! they shared about the participants, and who takes part. It goes to Tavus and nowhere else.

use crate::domain::SessionType;

pub fn conversational_context(
    session_type: SessionType,
    prompt: &str,
    participant_context: Option<&str>,
    participant_count: usize,
) -> String {
    let mut context = match session_type {
        SessionType::ReflectAlone => format!(
            "This is a private reflection session with one person.\n\nWhat they want to reflect on:\n{}",
            prompt.trim()
        ),
        SessionType::ResolveTogether => format!(
            "This is a mediated conversation between {} people who want to resolve a conflict together. \
             Stay neutral, give each person room to speak, and help them understand each other.\n\n\
             What the person who started the session wants to resolve:\n{}",
            participant_count + 1,
            prompt.trim()
        ),
    };
    if let Some(about) = participant_context.map(str::trim).filter(|c| !c.is_empty()) {
        context.push_str("\n\nWhat they shared about the people involved:\n");
        context.push_str(about);
    }
    context
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_context_carries_the_prompt_and_participants() {
        let alone = conversational_context(SessionType::ReflectAlone, " my week ", None, 0);
        assert!(alone.contains("one person") && alone.ends_with("my week"));
        let together = conversational_context(
            SessionType::ResolveTogether,
            "chores",
            Some("my flatmate Sam"),
            2,
        );
        assert!(together.contains("between 3 people"));
        assert!(together.contains("chores") && together.ends_with("my flatmate Sam"));
    }
}
