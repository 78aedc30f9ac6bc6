//! The token in each session's Tavus callback URL. Tavus signs nothing, so the URL carries its
//! own proof: the session it belongs to and an HMAC-SHA256 of that, under the webhook signing
//! key. The webhook accepts a callback only if the HMAC verifies (in constant time), and then
//! knows the owner, session, period and reservation without reading anything.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use crate::domain::{Period, Session, SessionId, UserId};
use crate::secrets::{FetchSecret, Secret, SecretCache, SecretError, SecretValues};

const VERSION: &str = "v1";

/// What a callback token names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallbackClaims {
    #[serde(rename = "u")]
    pub owner: UserId,
    #[serde(rename = "s")]
    pub session_id: SessionId,
    #[serde(rename = "p")]
    pub period: Period,
    #[serde(rename = "r")]
    pub reserved_minutes: u32,
    /// When the session was created, in epoch milliseconds: the start of the charged time.
    #[serde(rename = "c")]
    pub created_at_ms: i64,
}

impl CallbackClaims {
    pub fn of(session: &Session) -> CallbackClaims {
        CallbackClaims {
            owner: session.owner_id.clone(),
            session_id: session.session_id,
            period: session.period,
            reserved_minutes: session.reserved_minutes,
            created_at_ms: session.created_at.timestamp_millis(),
        }
    }
}

impl<F: FetchSecret> SecretCache<F> {
    /// The key that signs callback URLs, from the cached secret.
    pub async fn webhook_key(&self) -> Result<Secret, SecretError> {
        Ok(signing_key(&*self.get().await?))
    }
}

/// The secret's webhook signing key. A plain secret holds only the Tavus key: then a separate
/// signing key is derived from it, so the Tavus key itself never signs anything. Rotating it
/// invalidates open callback URLs; the sweeper settles those sessions from Tavus's own record.
pub fn signing_key(values: &SecretValues) -> Secret {
    match &values.webhook_signing_key {
        Some(key) => key.clone(),
        None => {
            let derived = aws_lc_rs::hmac::sign(
                &key(&values.tavus_api_key),
                b"awaknow webhook signing key v1",
            );
            Secret::new(crate::hex::encode(derived.as_ref()))
        }
    }
}

fn key(secret: &Secret) -> aws_lc_rs::hmac::Key {
    aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret.expose().as_bytes())
}

/// `v1.<claims>.<mac>`, all URL-safe.
pub fn sign(secret: &Secret, claims: &CallbackClaims) -> String {
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap_or_default());
    let signed = format!("{VERSION}.{payload}");
    let tag = aws_lc_rs::hmac::sign(&key(secret), signed.as_bytes());
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
}

/// The claims of a token this key signed; `None` for anything else (forged, altered, malformed).
pub fn verify(secret: &Secret, token: &str) -> Option<CallbackClaims> {
    let (signed, tag) = token.rsplit_once('.')?;
    let (version, payload) = signed.split_once('.')?;
    if version != VERSION || token.len() > 2048 {
        return None;
    }
    let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
    aws_lc_rs::hmac::verify(&key(secret), signed.as_bytes(), &tag).ok()?;
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()
}

/// The claims of the token at the end of a callback URL (`…/webhooks/tavus/<token>`), when this
/// key signed it: how the sweeper (and a reconciliation) tells our conversations from others'.
pub fn verify_url(secret: &Secret, callback_url: &str) -> Option<CallbackClaims> {
    let token = callback_url.rsplit_once("/webhooks/tavus/")?.1;
    verify(secret, token)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> CallbackClaims {
        CallbackClaims {
            owner: UserId::parse("auth0|user_1").unwrap(),
            session_id: SessionId::new_at(chrono::Utc::now()),
            period: "2026-11".parse().unwrap(),
            reserved_minutes: 25,
            created_at_ms: 1_795_514_400_000,
        }
    }

    #[test]
    fn a_signed_token_verifies_and_is_url_safe() {
        let secret = Secret::new("k".repeat(32));
        let claims = claims();
        let token = sign(&secret, &claims);
        assert!(
            token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)),
            "{token}"
        );
        assert_eq!(verify(&secret, &token), Some(claims));
    }

    #[test]
    fn forged_or_altered_tokens_are_refused() {
        let secret = Secret::new("k".repeat(32));
        let token = sign(&secret, &claims());
        assert!(
            verify(&Secret::new("x".repeat(32)), &token).is_none(),
            "another key"
        );
        let (signed, tag) = token.rsplit_once('.').unwrap();
        let mut other = claims();
        other.reserved_minutes = 60;
        let forged_payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&other).unwrap());
        assert!(
            verify(&secret, &format!("v1.{forged_payload}.{tag}")).is_none(),
            "altered claims"
        );
        let mut flipped = tag.to_owned().into_bytes();
        flipped[0] = if flipped[0] == b'A' { b'B' } else { b'A' };
        assert!(
            verify(
                &secret,
                &format!("{signed}.{}", String::from_utf8(flipped).unwrap())
            )
            .is_none(),
            "altered tag"
        );
        for junk in ["", "v1", "v1.x", "v2.abc.def", "...", &"a".repeat(5000)] {
            assert!(verify(&secret, junk).is_none(), "{junk}");
        }
    }

    #[test]
    fn a_callback_url_verifies_by_its_last_segment_only() {
        let secret = Secret::new("k");
        let token = sign(&secret, &claims());
        let url = format!("https://api.example/webhooks/tavus/{token}");
        assert_eq!(verify_url(&secret, &url), Some(claims_of(&token, &secret)));
        assert_eq!(
            verify_url(&secret, &format!("https://api.example/{token}")),
            None
        );
        assert_eq!(verify_url(&Secret::new("other"), &url), None);
    }

    fn claims_of(token: &str, secret: &Secret) -> CallbackClaims {
        verify(secret, token).unwrap()
    }
}
