//! A person's private notes on a session, and the entity tags that keep two writers (two browser
//! tabs, a phone and a laptop) from silently overwriting each other.
//!
//! Every write gets a new revision (a ULID, so no read is needed to pick the next one); the
//! `ETag` is that revision in quotes, and notes never written have the tag `"empty"`. A write
//! with `If-Match` only replaces the notes if their tag is still one of those named.

use chrono::{DateTime, Utc};

/// The most characters (Unicode scalar values, as JSON Schema's `maxLength` counts) a person's
/// notes on one session may hold: at most 80 KB of UTF-8, well within an item's 400 KB.
pub(crate) const MAX_NOTES_CHARS: usize = 20_000;

/// The most entity tags one `If-Match` may list, so the condition DynamoDB evaluates stays small.
pub(crate) const MAX_IF_MATCH_TAGS: usize = 16;

/// The tag of notes never written.
const UNWRITTEN_TAG: &str = "empty";

#[derive(Clone, PartialEq, Eq)]
pub struct Notes {
    pub text: String,
    /// Changes with every write; `None` before the first.
    pub revision: Option<String>,
    pub updated_at: Option<DateTime<Utc>>,
}

impl std::fmt::Debug for Notes {
    // Never print what the person wrote.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notes")
            .field("chars", &self.text.chars().count())
            .field("revision", &self.revision)
            .field("updated_at", &self.updated_at)
            .finish()
    }
}

impl Notes {
    /// What a person has on a session before writing anything.
    pub fn unwritten() -> Notes {
        Notes {
            text: String::new(),
            revision: None,
            updated_at: None,
        }
    }

    /// The strong entity tag of these notes, quotes included, as the `ETag` header carries it.
    pub fn etag(&self) -> String {
        format!("\"{}\"", self.revision.as_deref().unwrap_or(UNWRITTEN_TAG))
    }
}

/// What a write may replace, from its `If-Match` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Precondition {
    /// No `If-Match`, or `*` (notes always have a representation, if only the empty one).
    Any,
    /// Only notes whose tag is one of these: never written (`unwritten`), or at one of
    /// `revisions`. Both empty: nothing can match.
    OneOf {
        unwritten: bool,
        revisions: Vec<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("If-Match: at most {MAX_IF_MATCH_TAGS} entity tags")]
pub struct TooManyTags;

impl Precondition {
    /// Reads an `If-Match` header (RFC 9110 section 13.1.1). Strong comparison: a weak tag
    /// (`W/"..."`) or anything that is not a quoted tag never matches, so it makes the write a
    /// 412 rather than an unconditional one.
    pub fn from_if_match(header: Option<&str>) -> Result<Precondition, TooManyTags> {
        let Some(header) = header else {
            return Ok(Precondition::Any);
        };
        if header.trim() == "*" {
            return Ok(Precondition::Any);
        }
        let entries: Vec<&str> = header
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .collect();
        if entries.len() > MAX_IF_MATCH_TAGS {
            return Err(TooManyTags);
        }
        let mut unwritten = false;
        let mut revisions = Vec::new();
        for tag in entries.iter().filter_map(|e| strong_tag(e)) {
            if tag == UNWRITTEN_TAG {
                unwritten = true;
            } else if !revisions.iter().any(|r| r == tag) {
                revisions.push(tag.to_owned());
            }
        }
        Ok(Precondition::OneOf {
            unwritten,
            revisions,
        })
    }

    /// Whether notes at this state may be replaced (the store checks the same in its write).
    pub fn allows(&self, notes: &Notes) -> bool {
        match self {
            Precondition::Any => true,
            Precondition::OneOf {
                unwritten,
                revisions,
            } => match &notes.revision {
                None => *unwritten,
                Some(r) => revisions.contains(r),
            },
        }
    }
}

/// The opaque part of a strong entity tag (`"abc"` gives `abc`); `None` for anything else.
fn strong_tag(entry: &str) -> Option<&str> {
    let inner = entry.strip_prefix('"')?.strip_suffix('"')?;
    // etagc: no quotes, controls or spaces inside.
    inner
        .bytes()
        .all(|b| b == 0x21 || (0x23..=0x7e).contains(&b) || b >= 0x80)
        .then_some(inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(revision: &str) -> Notes {
        Notes {
            text: "x".into(),
            revision: Some(revision.into()),
            updated_at: Some(Utc::now()),
        }
    }

    #[test]
    fn tags_are_quoted_and_unwritten_notes_have_their_own() {
        assert_eq!(Notes::unwritten().etag(), "\"empty\"");
        assert_eq!(written("01KAW").etag(), "\"01KAW\"");
    }

    #[test]
    fn if_match_is_read_with_strong_comparison() {
        let any = Precondition::from_if_match(None).unwrap();
        assert!(any.allows(&Notes::unwritten()) && any.allows(&written("a")));
        let star = Precondition::from_if_match(Some(" * ")).unwrap();
        assert_eq!(star, Precondition::Any);

        let one = Precondition::from_if_match(Some("\"a\"")).unwrap();
        assert!(one.allows(&written("a")));
        assert!(!one.allows(&written("b")));
        assert!(!one.allows(&Notes::unwritten()));

        let first_write = Precondition::from_if_match(Some("\"empty\"")).unwrap();
        assert!(first_write.allows(&Notes::unwritten()));
        assert!(!first_write.allows(&written("a")));

        let list = Precondition::from_if_match(Some("\"a\", W/\"b\", \"c\"")).unwrap();
        assert!(list.allows(&written("a")) && list.allows(&written("c")));
        assert!(!list.allows(&written("b")), "a weak tag never matches");

        for junk in ["", "a", "\"a", "\"a b\"", "W/\"a\""] {
            let p = Precondition::from_if_match(Some(junk)).unwrap();
            assert!(
                !p.allows(&written("a")) && !p.allows(&Notes::unwritten()),
                "{junk:?} must match nothing"
            );
        }
    }

    #[test]
    fn if_match_lists_are_bounded() {
        let tags: Vec<String> = (0..=MAX_IF_MATCH_TAGS)
            .map(|i| format!("\"{i}\""))
            .collect();
        assert_eq!(
            Precondition::from_if_match(Some(&tags.join(","))),
            Err(TooManyTags)
        );
        assert!(Precondition::from_if_match(Some(&tags[1..].join(","))).is_ok());
    }

    #[test]
    fn notes_never_print_their_text() {
        let notes = Notes {
            text: "my secret thoughts".into(),
            ..Notes::unwritten()
        };
        assert!(!format!("{notes:?}").contains("secret"));
    }
}
