//! The Daily room behind a conversation: meeting tokens for private rooms, and who may join.

use chrono::{DateTime, Utc};
use serde_json::json;

/// A meeting token for a private (`require_auth`) room. Tavus documents a JWT; the backend must
/// treat it as opaque, so this only looks like one: three base64url parts, the first a JWT
/// header, the second naming the room and the expiry, the third random (unique per call).
pub fn meeting_token(room: &str, expires: DateTime<Utc>) -> String {
    let header = base64url(br#"{"alg":"HS256","typ":"JWT"}"#);
    let claims = json!({ "r": room, "exp": expires.timestamp(), "o": false }).to_string();
    let signature: [u8; 32] = rand::random();
    format!(
        "{header}.{}.{}",
        base64url(claims.as_bytes()),
        base64url(&signature)
    )
}

/// Base64url without padding, as JWTs use; written out to keep the crate's dependencies as
/// they are.
fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        // One input byte gives two characters, two give three, three give four.
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

/// The room a URL opens (without query or fragment) and its `t` query parameter, the meeting
/// token as Tavus documents it (`?t=TOKEN`).
pub fn parse_join_url(url: &str) -> (&str, Option<&str>) {
    let url = url.split('#').next().unwrap_or(url);
    let Some((room, query)) = url.split_once('?') else {
        return (url, None);
    };
    let token = query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(key, _)| *key == "t")
        .map(|(_, value)| value);
    (room, token)
}

/// Why a join is refused; each maps to the control endpoint's status and message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinRefusal {
    /// No such conversation, or it was deleted.
    Unknown,
    /// The call has ended (or was created in test mode).
    Ended,
    /// The URL is not this conversation's room.
    WrongRoom,
    /// A private room opened without `?t=`.
    TokenMissing,
    /// A private room opened with a `t` that is not its meeting token.
    TokenInvalid,
    /// The meeting token's `participant_absent_timeout` has run out.
    TokenExpired,
    /// `max_participants - 1` people (the replica is the last one) are in already.
    Full,
}

impl JoinRefusal {
    pub fn status(self) -> u16 {
        match self {
            JoinRefusal::Unknown => 404,
            JoinRefusal::Ended => 410,
            _ => 403,
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            JoinRefusal::Unknown => "no such conversation",
            JoinRefusal::Ended => "the conversation has ended",
            JoinRefusal::WrongRoom => "the url is not this conversation's room",
            JoinRefusal::TokenMissing => "this room is private: a meeting token (?t=) is required",
            JoinRefusal::TokenInvalid => "the meeting token is not valid for this room",
            JoinRefusal::TokenExpired => "the meeting token has expired",
            JoinRefusal::Full => "the room is full (max_participants)",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_matches_the_rfc_vectors_without_padding() {
        // RFC 4648 §10, with the padding JWTs leave out.
        let cases = [
            ("", ""),
            ("f", "Zg"),
            ("fo", "Zm8"),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg"),
            ("fooba", "Zm9vYmE"),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, encoded) in cases {
            assert_eq!(base64url(plain.as_bytes()), encoded, "{plain}");
        }
        assert_eq!(base64url(&[0xfb, 0xff]), "-_8");
    }

    #[test]
    fn a_meeting_token_looks_like_a_jwt_and_is_unique() {
        let at = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let a = meeting_token("c1", at);
        let b = meeting_token("c1", at);
        assert_ne!(a, b);
        let parts: Vec<&str> = a.split('.').collect();
        assert_eq!(parts.len(), 3);
        assert!(a.starts_with("eyJ"), "{a}");
        assert!(
            a.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        );
        let claims = json!({ "r": "c1", "exp": 1_800_000_000, "o": false }).to_string();
        assert_eq!(parts[1], base64url(claims.as_bytes()));
    }

    #[test]
    fn a_join_url_splits_into_room_and_token() {
        let room = "https://tavus.daily.co/c1";
        assert_eq!(parse_join_url(room), (room, None));
        assert_eq!(
            parse_join_url("https://tavus.daily.co/c1?x=1&t=abc.def#frag"),
            (room, Some("abc.def"))
        );
        assert_eq!(
            parse_join_url("https://tavus.daily.co/c1?tt=1"),
            (room, None)
        );
    }

    #[test]
    fn refusals_map_to_documented_statuses() {
        assert_eq!(JoinRefusal::Unknown.status(), 404);
        assert_eq!(JoinRefusal::Ended.status(), 410);
        for r in [
            JoinRefusal::WrongRoom,
            JoinRefusal::TokenMissing,
            JoinRefusal::TokenInvalid,
            JoinRefusal::TokenExpired,
            JoinRefusal::Full,
        ] {
            assert_eq!(r.status(), 403, "{r:?}");
        }
    }
}
