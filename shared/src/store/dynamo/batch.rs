//! Reading many items by key: BatchGetItem in requests of at most 100 keys, each request sent
//! again for the keys DynamoDB leaves unprocessed (with backoff), until all are read or the
//! attempts run out.

use aws_sdk_dynamodb::types::KeysAndAttributes;

use super::errors::{bad_request, unavailable};
use super::{DynamoLedger, Item, MAX_ATTEMPTS, backoff};
use crate::LedgerError;

/// DynamoDB's limit of keys in one BatchGetItem.
const MAX_BATCH_KEYS: usize = 100;

impl DynamoLedger {
    /// The items of `item_keys` that exist, in no particular order. The keys must be distinct:
    /// BatchGetItem refuses a request that names one twice.
    pub(super) async fn batch_get(
        &self,
        item_keys: Vec<Item>,
        consistent: bool,
    ) -> Result<Vec<Item>, LedgerError> {
        let mut items = Vec::with_capacity(item_keys.len());
        for chunk in item_keys.chunks(MAX_BATCH_KEYS) {
            let request = KeysAndAttributes::builder()
                .set_keys(Some(chunk.to_vec()))
                .consistent_read(consistent)
                .build()
                .map_err(bad_request)?;
            items.extend(self.batch_get_request(request).await?);
        }
        Ok(items)
    }

    /// One request, sent again for its unprocessed keys.
    async fn batch_get_request(
        &self,
        request: KeysAndAttributes,
    ) -> Result<Vec<Item>, LedgerError> {
        let mut pending = Some(request);
        let mut items = Vec::new();
        for attempt in 0..MAX_ATTEMPTS {
            let Some(request) = pending.take() else {
                return Ok(items);
            };
            let output = self
                .client
                .batch_get_item()
                .request_items(&self.table, request)
                .send()
                .await
                .map_err(|e| unavailable(&e))?;
            items.extend(
                output
                    .responses
                    .and_then(|mut r| r.remove(&self.table))
                    .unwrap_or_default(),
            );
            pending = output
                .unprocessed_keys
                .and_then(|mut u| u.remove(&self.table))
                .filter(|k| !k.keys().is_empty());
            if pending.is_some() {
                backoff(attempt).await;
            }
        }
        match pending {
            None => Ok(items),
            Some(_) => Err(LedgerError::Unavailable(
                "DynamoDB kept keys unprocessed".into(),
            )),
        }
    }
}
