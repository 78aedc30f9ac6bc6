//! An in-memory cache of the secret with a TTL. Concurrent cold reads wait for one fetch; a
//! refresh after Tavus answered 401 (the key was rotated) happens once however many requests saw
//! the 401 with the same key.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Mutex;

use super::{FetchSecret, SecretError, SecretValues};

/// The time source, replaceable in tests so the TTL can be crossed without waiting.
pub type Clock = Arc<dyn Fn() -> Instant + Send + Sync>;

struct Cached {
    values: Arc<SecretValues>,
    fetched_at: Instant,
}

/// A secret cached for `ttl`. Built once per execution environment and shared by all requests.
pub struct SecretCache<F> {
    source: F,
    ttl: Duration,
    clock: Clock,
    // A mutex, not a lock-free read: holding it across the fetch is what makes concurrent cold
    // reads wait for one call instead of each calling Secrets Manager.
    cached: Mutex<Option<Cached>>,
}

impl<F: FetchSecret> SecretCache<F> {
    pub fn new(source: F, ttl: Duration) -> Self {
        Self::with_clock(source, ttl, Arc::new(Instant::now))
    }

    pub fn with_clock(source: F, ttl: Duration, clock: Clock) -> Self {
        SecretCache {
            source,
            ttl,
            clock,
            cached: Mutex::new(None),
        }
    }

    /// The secret: from memory while younger than the TTL, else fetched again.
    pub async fn get(&self) -> Result<Arc<SecretValues>, SecretError> {
        let mut cached = self.cached.lock().await;
        let now = (self.clock)();
        if let Some(c) = cached.as_ref()
            && now.saturating_duration_since(c.fetched_at) < self.ttl
        {
            return Ok(Arc::clone(&c.values));
        }
        self.fetch_into(&mut cached, now).await
    }

    /// Fetches again because `stale` was refused (Tavus answered 401). If another request already
    /// replaced `stale`, its newer value is returned without another fetch.
    pub async fn refresh(
        &self,
        stale: &Arc<SecretValues>,
    ) -> Result<Arc<SecretValues>, SecretError> {
        let mut cached = self.cached.lock().await;
        if let Some(c) = cached.as_ref()
            && !Arc::ptr_eq(&c.values, stale)
        {
            return Ok(Arc::clone(&c.values));
        }
        let now = (self.clock)();
        self.fetch_into(&mut cached, now).await
    }

    async fn fetch_into(
        &self,
        cached: &mut Option<Cached>,
        now: std::time::Instant,
    ) -> Result<Arc<SecretValues>, SecretError> {
        let values = Arc::new(self.source.fetch().await?);
        *cached = Some(Cached {
            values: Arc::clone(&values),
            fetched_at: now,
        });
        tracing::debug!("secret fetched");
        Ok(values)
    }
}
