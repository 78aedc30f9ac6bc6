//! Writing many accounts at once, as they are given: for importing accounts from the first
//! version of the app, and for seeding tests and benchmarks. Not a ledger operation: it
//! overwrites, with no condition, so nothing on a request path calls it.

use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};

use super::errors::{bad_request, unavailable};
use super::{DynamoLedger, MAX_ATTEMPTS, backoff, to_item};
use crate::LedgerError;
use crate::domain::Account;
use crate::store::items::AccountItem;

impl DynamoLedger {
    /// Puts the accounts in BatchWriteItem requests of 25, resending what DynamoDB leaves
    /// unprocessed.
    pub async fn import_accounts(&self, accounts: &[Account]) -> Result<(), LedgerError> {
        for chunk in accounts.chunks(25) {
            let mut requests = Vec::with_capacity(chunk.len());
            for account in chunk {
                let put = PutRequest::builder()
                    .set_item(Some(to_item(&AccountItem::new(account.clone()))?))
                    .build()
                    .map_err(bad_request)?;
                requests.push(WriteRequest::builder().put_request(put).build());
            }
            let mut attempt = 0;
            while !requests.is_empty() {
                let output = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, requests)
                    .send()
                    .await
                    .map_err(|e| unavailable(&e))?;
                requests = output
                    .unprocessed_items
                    .and_then(|mut u| u.remove(&self.table))
                    .unwrap_or_default();
                if !requests.is_empty() {
                    attempt += 1;
                    if attempt >= MAX_ATTEMPTS {
                        return Err(LedgerError::Contention { attempts: attempt });
                    }
                    backoff(attempt).await;
                }
            }
        }
        Ok(())
    }
}
