//! Writing many accounts and closed sessions at once, as they are given: for importing them from
//! the first version of the app, and for seeding tests and benchmarks. Not a ledger operation: it
//! overwrites, with no condition, so nothing on a request path calls it.

use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};

use super::errors::{bad_request, unavailable};
use super::{DynamoLedger, MAX_ATTEMPTS, backoff, to_item};
use crate::LedgerError;
use crate::domain::{Account, Session};
use crate::store::items::{AccountItem, SessionItem};

impl DynamoLedger {
    /// Puts the accounts in BatchWriteItem requests of 25, resending what DynamoDB leaves
    /// unprocessed.
    pub async fn import_accounts(&self, accounts: &[Account]) -> Result<(), LedgerError> {
        let items = accounts
            .iter()
            .map(|a| to_item(&AccountItem::new(a.clone())));
        self.put_all(items.collect::<Result<_, _>>()?).await
    }

    /// Puts closed sessions as they are (their accounts must already count them), in
    /// BatchWriteItem requests of 25. An open session is refused: it belongs in the
    /// open-sessions index, which only a reservation writes.
    pub async fn import_closed_sessions(&self, sessions: &[Session]) -> Result<(), LedgerError> {
        if sessions.iter().any(|s| s.status.is_open()) {
            return Err(LedgerError::SessionOpen);
        }
        let items = sessions.iter().map(|session| {
            let mut item = SessionItem::new_open(session.clone());
            item.open_shard = None;
            item.open_until = None;
            item.holds_open_place = false;
            to_item(&item)
        });
        self.put_all(items.collect::<Result<_, _>>()?).await
    }

    async fn put_all(&self, items: Vec<super::Item>) -> Result<(), LedgerError> {
        for chunk in items.chunks(25) {
            let mut requests = Vec::with_capacity(chunk.len());
            for item in chunk {
                let put = PutRequest::builder()
                    .set_item(Some(item.clone()))
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
