//! The signing keys published at a JWKS URL, cached for the whole execution environment.
//!
//! A caller chooses the `kid` of the tokens it sends. An unknown `kid` is the one legitimate
//! reason to fetch the keys before they expire (the issuer rotated them), so it may start a
//! fetch, but at most one per `refetch_interval` for the whole process, however many requests
//! carry unknown kids. Requests whose key is known never wait for a fetch: the keys sit behind a
//! read lock that is never held across an `.await`, and only the fetch itself holds the fetch
//! lock. A fetch is bounded in time and in size, and a failed one keeps the last good keys.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::DecodingKey;
use jsonwebtoken::jwk::{Jwk, PublicKeyUse};
use reqwest::header::{CACHE_CONTROL, HeaderMap};
use serde::Deserialize;

/// How keys are cached and fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwksSettings {
    /// How long keys are fresh when the response sends no `Cache-Control: max-age`.
    pub default_ttl: Duration,
    /// The longest `max-age` honoured.
    pub max_ttl: Duration,
    /// The least time between two fetches of the process, whatever started them.
    pub refetch_interval: Duration,
    /// The whole fetch: connecting, the headers and the body.
    pub timeout: Duration,
    /// The largest body read; a real key set is a few kilobytes.
    pub max_body_bytes: usize,
}

impl Default for JwksSettings {
    fn default() -> Self {
        JwksSettings {
            default_ttl: Duration::from_secs(600),
            max_ttl: Duration::from_secs(24 * 3600),
            refetch_interval: Duration::from_secs(60),
            timeout: Duration::from_secs(3),
            max_body_bytes: 64 * 1024,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwksError {
    /// The issuer publishes no key with this id (or it was fetched too recently to ask again).
    #[error("no signing key with this id")]
    UnknownKey,
    /// No key could be fetched yet, so no token can be verified.
    #[error("no signing keys: {0}")]
    Unavailable(String),
}

/// One successful fetch.
struct KeySet {
    keys: HashMap<String, Arc<DecodingKey>>,
    fetched_at: Instant,
    ttl: Duration,
}

impl KeySet {
    fn is_fresh(&self) -> bool {
        self.fetched_at.elapsed() < self.ttl
    }
}

/// What the fetch lock guards: when the process last started a fetch and why it failed.
#[derive(Debug, Default)]
struct FetchState {
    last_started: Option<Instant>,
    last_error: Option<String>,
}

pub struct JwksCache {
    url: String,
    settings: JwksSettings,
    /// Built at the first fetch, so a cold start pays nothing for it.
    http: OnceLock<Result<reqwest::Client, String>>,
    keys: RwLock<Option<Arc<KeySet>>>,
    fetch: tokio::sync::Mutex<FetchState>,
}

impl JwksCache {
    pub fn new(url: impl Into<String>, settings: JwksSettings) -> JwksCache {
        JwksCache {
            url: url.into(),
            settings,
            http: OnceLock::new(),
            keys: RwLock::new(None),
            fetch: tokio::sync::Mutex::new(FetchState::default()),
        }
    }

    /// The key with this id.
    pub async fn key(&self, kid: &str) -> Result<Arc<DecodingKey>, JwksError> {
        if let Some(set) = self.current()
            && let Some(key) = set.keys.get(kid)
        {
            if set.is_fresh() {
                return Ok(Arc::clone(key));
            }
            // Expired: the first request to notice refreshes (when the interval allows); the
            // others go on with the key they have rather than queue behind the fetch.
            return match self.fetch.try_lock() {
                Ok(mut state) => {
                    self.refresh_if_due(&mut state).await;
                    // A successful refresh may have withdrawn the key; a failed one kept it.
                    self.lookup(kid).ok_or(JwksError::UnknownKey)
                }
                Err(_) => Ok(Arc::clone(key)),
            };
        }
        // An unknown id, or no keys yet: wait for a fetch in flight, which may bring the key, or
        // start one if none started within the interval.
        let mut state = self.fetch.lock().await;
        if let Some(key) = self.lookup(kid) {
            return Ok(key);
        }
        self.refresh_if_due(&mut state).await;
        match (self.lookup(kid), self.current()) {
            (Some(key), _) => Ok(key),
            (None, Some(_)) => Err(JwksError::UnknownKey),
            (None, None) => Err(JwksError::Unavailable(
                state
                    .last_error
                    .clone()
                    .unwrap_or_else(|| "not fetched yet".to_owned()),
            )),
        }
    }

    fn current(&self) -> Option<Arc<KeySet>> {
        self.keys
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    fn lookup(&self, kid: &str) -> Option<Arc<DecodingKey>> {
        self.current().and_then(|set| set.keys.get(kid).cloned())
    }

    /// Fetches the keys unless a fetch started less than `refetch_interval` ago. Only called
    /// with the fetch lock held, so fetches never overlap.
    async fn refresh_if_due(&self, state: &mut FetchState) {
        if state
            .last_started
            .is_some_and(|t| t.elapsed() < self.settings.refetch_interval)
        {
            return;
        }
        state.last_started = Some(Instant::now());
        match self.fetch_keys().await {
            Ok(set) => {
                tracing::info!(
                    keys = set.keys.len(),
                    ttl_seconds = set.ttl.as_secs(),
                    "JWKS fetched"
                );
                *self
                    .keys
                    .write()
                    .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(Arc::new(set));
                state.last_error = None;
            }
            Err(error) => {
                tracing::warn!(%error, "JWKS fetch failed; keeping the last good keys");
                state.last_error = Some(error);
            }
        }
    }

    async fn fetch_keys(&self) -> Result<KeySet, String> {
        let http = self
            .http
            .get_or_init(|| {
                reqwest::Client::builder()
                    .connect_timeout(self.settings.timeout)
                    .user_agent(concat!("awaknow-backend/", env!("CARGO_PKG_VERSION")))
                    .build()
                    .map_err(|e| format!("cannot build the HTTP client: {e}"))
            })
            .as_ref()
            .map_err(Clone::clone)?;
        let mut response = http
            .get(&self.url)
            .timeout(self.settings.timeout)
            .send()
            .await
            .map_err(|e| e.without_url().to_string())?;
        if !response.status().is_success() {
            return Err(format!("the JWKS URL answered {}", response.status()));
        }
        let ttl = max_age(response.headers()).map_or(self.settings.default_ttl, |age| {
            age.min(self.settings.max_ttl)
        });
        let limit = self.settings.max_body_bytes;
        if response
            .content_length()
            .is_some_and(|length| length > limit as u64)
        {
            return Err(format!("the key set is larger than {limit} bytes"));
        }
        // Read in chunks, so a body without a length cannot grow past the limit either.
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| e.without_url().to_string())?
        {
            if body.len() + chunk.len() > limit {
                return Err(format!("the key set is larger than {limit} bytes"));
            }
            body.extend_from_slice(&chunk);
        }
        let keys = signing_keys(&body)?;
        Ok(KeySet {
            keys,
            fetched_at: Instant::now(),
            ttl,
        })
    }
}

/// The usable signing keys of a JWKS document, by id. Keys this code cannot use (no id, an
/// encryption key, an unknown type) are skipped rather than failing the whole set; a set with no
/// usable key at all is an error, so it never replaces good keys.
fn signing_keys(body: &[u8]) -> Result<HashMap<String, Arc<DecodingKey>>, String> {
    #[derive(Deserialize)]
    struct RawSet {
        keys: Vec<serde_json::Value>,
    }
    let raw: RawSet =
        serde_json::from_slice(body).map_err(|e| format!("the key set is not a JWKS: {e}"))?;
    let keys: HashMap<_, _> = raw
        .keys
        .into_iter()
        .filter_map(|value| serde_json::from_value::<Jwk>(value).ok())
        .filter(|jwk| !matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)))
        .filter_map(|jwk| {
            let kid = jwk.common.key_id.clone()?;
            let key = DecodingKey::from_jwk(&jwk).ok()?;
            Some((kid, Arc::new(key)))
        })
        .collect();
    if keys.is_empty() {
        return Err("the key set has no usable signing key".to_owned());
    }
    Ok(keys)
}

/// `Cache-Control: max-age=N`; `no-cache` and `no-store` count as zero (fresh for no time: the
/// keys are still used, and fetched again at most once per `refetch_interval`).
fn max_age(headers: &HeaderMap) -> Option<Duration> {
    let directives = headers
        .get_all(CACHE_CONTROL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim);
    let mut found = None;
    for directive in directives {
        let (name, value) = directive.split_once('=').unwrap_or((directive, ""));
        let name = name.trim().to_ascii_lowercase();
        match name.as_str() {
            "no-cache" | "no-store" => return Some(Duration::ZERO),
            "max-age" => {
                if let Ok(seconds) = value.trim().trim_matches('"').parse::<u64>() {
                    found = Some(Duration::from_secs(seconds));
                }
            }
            _ => {}
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(cache_control: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(CACHE_CONTROL, HeaderValue::from_str(cache_control).unwrap());
        h
    }

    #[test]
    fn max_age_is_read_from_cache_control() {
        assert_eq!(
            max_age(&headers("public, max-age=3600, must-revalidate")),
            Some(Duration::from_secs(3600))
        );
        assert_eq!(
            max_age(&headers("MAX-AGE=\"5\"")),
            Some(Duration::from_secs(5))
        );
        assert_eq!(max_age(&headers("no-store")), Some(Duration::ZERO));
        assert_eq!(max_age(&headers("public")), None);
        assert_eq!(max_age(&headers("max-age=soon")), None);
        assert_eq!(max_age(&HeaderMap::new()), None);
    }

    #[test]
    fn unusable_keys_are_skipped_and_an_empty_set_is_refused() {
        let set = serde_json::json!({ "keys": [
            { "kty": "EC", "crv": "P-256", "kid": "enc", "use": "enc",
              "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0" },
            { "kty": "EC", "crv": "P-256",
              "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0" },
            { "kty": "quantum", "kid": "q" },
            { "kty": "EC", "crv": "P-256", "kid": "good",
              "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0" }
        ]});
        let keys = signing_keys(set.to_string().as_bytes()).unwrap();
        assert_eq!(keys.keys().collect::<Vec<_>>(), ["good"]);
        assert!(signing_keys(br#"{"keys": []}"#).is_err());
        assert!(signing_keys(b"<html>").is_err());
    }
}
