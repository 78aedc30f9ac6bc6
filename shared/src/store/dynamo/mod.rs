//! The ledger on DynamoDB. Every change is a conditional write or a `TransactWriteItems`; when a
//! condition fails, DynamoDB returns the item as it was (`ReturnValuesOnConditionCheckFailure`),
//! and the code decides from it what happened instead of reading again.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem};

use crate::LedgerError;
use crate::domain::session::DEFAULT_MAX_OPEN_SESSIONS;
use crate::domain::{CreatePace, PlanCatalog};

mod account_deletion;
pub use account_deletion::{DeletionsDue, EXPORT_MEMORY, LastStep};
mod batch;
mod close;
mod erase;
mod errors;
mod history;
mod holdings;
// Seeding many accounts for tests and benchmarks: no request path may overwrite accounts.
#[cfg(feature = "test-support")]
mod import;
mod notes;
mod plan;
mod read;
pub use read::MAX_PAGE;
pub mod playback;
mod reserve;
mod reset;
pub use reset::ACCOUNT_PAGE;
mod rollover;
mod sweep;
mod tally;
mod transcript;

pub use rollover::RollAttempt;
pub use sweep::DueBatch;

/// How many times an operation that lost a race re-reads and tries again before it reports
/// [`LedgerError::Contention`]. Each loss means another writer made progress, so this bound is
/// only reached under pathological contention.
pub const MAX_ATTEMPTS: u32 = 12;

/// The ledger on one DynamoDB table. Cheap to clone: the SDK client is reference-counted.
#[derive(Debug, Clone)]
pub struct DynamoLedger {
    client: Client,
    table: String,
    plans: PlanCatalog,
    max_open_sessions: u32,
    /// How fast one user may create sessions; `None`: unpaced (tools and tests that need it).
    create_pace: Option<CreatePace>,
}

impl DynamoLedger {
    /// A ledger with the default cap on open sessions ([`DEFAULT_MAX_OPEN_SESSIONS`]).
    pub fn new(client: Client, table: impl Into<String>, plans: PlanCatalog) -> Self {
        DynamoLedger {
            client,
            table: table.into(),
            plans,
            max_open_sessions: DEFAULT_MAX_OPEN_SESSIONS,
            create_pace: None,
        }
    }

    /// The same ledger pacing each user's creates (the functions' configuration always sets
    /// one: `CREATES_PER_USER_PER_MINUTE`).
    pub fn with_create_pace(mut self, pace: CreatePace) -> Self {
        self.create_pace = Some(pace);
        self
    }

    pub fn create_pace(&self) -> Option<CreatePace> {
        self.create_pace
    }

    /// The same ledger allowing each user `cap` open sessions at once (at least one).
    pub fn with_max_open_sessions(mut self, cap: u32) -> Self {
        self.max_open_sessions = cap.max(1);
        self
    }

    pub fn plans(&self) -> &PlanCatalog {
        &self.plans
    }

    pub fn max_open_sessions(&self) -> u32 {
        self.max_open_sessions
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    pub fn client(&self) -> &Client {
        &self.client
    }
}

pub use crate::store::items::Item;

impl DynamoLedger {
    /// Every item of partition `pk` whose sort key starts with `prefix`, read consistently and
    /// page by page; only the attributes of `projection` when one is given.
    pub(crate) async fn items_with_prefix(
        &self,
        pk: &str,
        prefix: &str,
        projection: Option<&str>,
    ) -> Result<Vec<Item>, LedgerError> {
        self.query_all(pk, Some(prefix), projection).await
    }

    /// Every item of partition `pk` (whose sort key starts with `prefix`, when one is given:
    /// DynamoDB takes no empty prefix), read consistently and page by page.
    pub(crate) async fn query_all(
        &self,
        pk: &str,
        prefix: Option<&str>,
        projection: Option<&str>,
    ) -> Result<Vec<Item>, LedgerError> {
        let mut values = HashMap::from([(":pk".to_owned(), s(pk))]);
        let condition = match prefix {
            Some(prefix) => {
                values.insert(":prefix".to_owned(), s(prefix));
                "pk = :pk AND begins_with(sk, :prefix)"
            }
            None => "pk = :pk",
        };
        let mut found = Vec::new();
        let mut start = None;
        loop {
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression(condition)
                .set_expression_attribute_values(Some(values.clone()))
                .set_projection_expression(projection.map(str::to_owned))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| errors::unavailable(&e))?;
            found.extend(output.items.unwrap_or_default());
            match output.last_evaluated_key {
                Some(next) => start = Some(next),
                None => return Ok(found),
            }
        }
    }
}

impl DynamoLedger {
    /// Sends one transaction; a failure comes back sorted (cancelled item by item, conflicting,
    /// or failed), ready for the caller's retry loop.
    async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<(), errors::TransactFailure> {
        self.client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
            .map(|_| ())
            .map_err(errors::TransactFailure::from_sdk)
    }
}

/// The backoff between retries of a lost race, for jobs outside this module.
pub async fn backoff_for(attempt: u32) {
    backoff(attempt).await;
}

pub(crate) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub(crate) fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

pub(crate) fn key(pk: String, sk: impl Into<String>) -> Item {
    HashMap::from([
        (crate::store::keys::PK.to_owned(), s(pk)),
        (crate::store::keys::SK.to_owned(), s(sk)),
    ])
}

/// Waits a little before retrying a write that collided with another: exponential with full
/// jitter, so colliding writers spread out instead of colliding again.
pub(crate) async fn backoff(attempt: u32) {
    let cap_ms = 5u64.saturating_mul(1 << attempt.min(6)).min(250);
    let wait = rand::random_range(0..=cap_ms);
    tokio::time::sleep(Duration::from_millis(wait)).await;
}

pub(crate) fn to_item<T: serde::Serialize>(value: &T) -> Result<Item, LedgerError> {
    serde_dynamo::to_item(value)
        .map_err(|e| LedgerError::CorruptItem(format!("cannot encode item: {e}")))
}

pub(crate) fn from_item<T: serde::de::DeserializeOwned>(item: Item) -> Result<T, LedgerError> {
    Ok(serde_dynamo::from_item(item)?)
}
