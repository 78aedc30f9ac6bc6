//! The secret cache against moto's Secrets Manager.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use awaknow_core::secrets::{
    Clock, FetchSecret, SecretCache, SecretError, SecretValues, SecretsManagerSource,
};
use futures::future::join_all;

use crate::support::{new_secret, rotate_secret, secrets_client};

const SIGNING: &str = "test-signing-key-0123456789abcdef";

/// Counts the fetches that reach Secrets Manager (the real source underneath).
pub struct Counting<F> {
    pub inner: F,
    pub calls: Arc<AtomicU32>,
}

impl<F: FetchSecret> FetchSecret for Counting<F> {
    async fn fetch(&self) -> Result<SecretValues, SecretError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.fetch().await
    }
}

/// A clock the test moves forward by hand.
fn manual_clock() -> (Clock, Arc<AtomicU64>) {
    let start = Instant::now();
    let offset_ms = Arc::new(AtomicU64::new(0));
    let read = Arc::clone(&offset_ms);
    let clock: Clock = Arc::new(move || start + Duration::from_millis(read.load(Ordering::SeqCst)));
    (clock, offset_ms)
}

#[tokio::test]
async fn json_and_plain_secrets_are_read_from_secrets_manager() {
    let client = secrets_client().await;
    let json = new_secret(
        &client,
        &format!(r#"{{"tavus_api_key": "tk-json", "webhook_signing_key": "{SIGNING}"}}"#),
    )
    .await;
    let values = SecretsManagerSource::new(client.clone(), &json)
        .fetch()
        .await
        .unwrap();
    assert_eq!(values.tavus_api_key.expose(), "tk-json");
    assert_eq!(
        values.webhook_signing_key.as_ref().map(|k| k.expose()),
        Some(SIGNING)
    );

    let plain = new_secret(&client, "tk-plain").await;
    let values = SecretsManagerSource::new(client, &plain)
        .fetch()
        .await
        .unwrap();
    assert_eq!(values.tavus_api_key.expose(), "tk-plain");
    assert!(values.webhook_signing_key.is_none());
}

#[tokio::test]
async fn a_missing_secret_is_a_clear_error() {
    let client = secrets_client().await;
    let err = SecretsManagerSource::new(client, "awaknow/does-not-exist")
        .fetch()
        .await
        .unwrap_err();
    assert!(matches!(err, SecretError::Missing(_)), "{err:?}");
    assert_eq!(
        err.to_string(),
        "secret awaknow/does-not-exist does not exist"
    );
}

#[tokio::test]
async fn a_rotated_value_is_picked_up_after_the_ttl_and_not_before() {
    let client = secrets_client().await;
    let name = new_secret(&client, "tk-old").await;
    let (clock, offset) = manual_clock();
    let calls = Arc::new(AtomicU32::new(0));
    let source = Counting {
        inner: SecretsManagerSource::new(client.clone(), &name),
        calls: Arc::clone(&calls),
    };
    let cache = SecretCache::with_clock(source, Duration::from_secs(300), clock);

    assert_eq!(cache.get().await.unwrap().tavus_api_key.expose(), "tk-old");
    rotate_secret(&client, &name, "tk-new").await;
    offset.store(299_000, Ordering::SeqCst);
    assert_eq!(
        cache.get().await.unwrap().tavus_api_key.expose(),
        "tk-old",
        "still within the TTL"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    offset.store(300_000, Ordering::SeqCst);
    assert_eq!(
        cache.get().await.unwrap().tavus_api_key.expose(),
        "tk-new",
        "after the TTL"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_refresh_after_a_401_fetches_at_once_and_only_once() {
    let client = secrets_client().await;
    let name = new_secret(&client, "tk-old").await;
    let calls = Arc::new(AtomicU32::new(0));
    let source = Counting {
        inner: SecretsManagerSource::new(client.clone(), &name),
        calls: Arc::clone(&calls),
    };
    let cache = Arc::new(SecretCache::new(source, Duration::from_secs(300)));
    let stale = cache.get().await.unwrap();
    rotate_secret(&client, &name, "tk-new").await;

    // Ten requests saw the same 401 at once: one fetch serves them all.
    let refreshes = (0..10).map(|_| {
        let cache = Arc::clone(&cache);
        let stale = Arc::clone(&stale);
        tokio::spawn(async move { cache.refresh(&stale).await })
    });
    for r in join_all(refreshes).await {
        assert_eq!(r.unwrap().unwrap().tavus_api_key.expose(), "tk-new");
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "one cold read, one refresh"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_cold_reads_make_one_call() {
    let client = secrets_client().await;
    let name = new_secret(&client, "tk-cold").await;
    let calls = Arc::new(AtomicU32::new(0));
    let source = Counting {
        inner: SecretsManagerSource::new(client, &name),
        calls: Arc::clone(&calls),
    };
    let cache = Arc::new(SecretCache::new(source, Duration::from_secs(300)));
    let reads = (0..20).map(|_| {
        let cache = Arc::clone(&cache);
        tokio::spawn(async move {
            cache
                .get()
                .await
                .map(|v| v.tavus_api_key.expose().to_owned())
        })
    });
    for r in join_all(reads).await {
        assert_eq!(r.unwrap().unwrap(), "tk-cold");
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}
