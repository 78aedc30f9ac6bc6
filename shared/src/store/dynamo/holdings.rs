//! Everything under one user's partition, read consistently and sorted by kind: what an account
//! export shows, and what deleting the account must remove. The keys of every item come from a
//! keys-only Query of the whole partition (a transcript's chunks are never held in memory
//! here); the items the answer shows are read by their own sort-key prefixes, side by side.

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};

use super::{DynamoLedger, Item, from_item};
use crate::LedgerError;
use crate::domain::UserId;
use crate::store::items::{
    AccountItem, ErasedSessionItem, ExportItem, IdempotencyItem, PARTICIPANT_ROLE,
    ParticipationItem, PeriodHistoryItem, SessionItem,
};
use crate::store::{Holdings, IdempotencyRecord, Joined, keys};

impl DynamoLedger {
    /// What the user's partition holds, sorted by kind ([`Holdings`]).
    pub async fn holdings(&self, user: &UserId) -> Result<Holdings, LedgerError> {
        let pk = keys::user_pk(user);
        let (every_key, account, sessions, history, erased, idempotency, exports) = futures::try_join!(
            self.query_all(&pk, None, Some("pk, sk")),
            self.read_item(pk.clone(), keys::ACCOUNT_SK.to_owned()),
            self.items_with_prefix(&pk, keys::SESSION_SK_PREFIX, None),
            self.items_with_prefix(&pk, keys::PERIOD_SK_PREFIX, None),
            self.items_with_prefix(&pk, keys::ERASED_SESSION_SK_PREFIX, None),
            self.items_with_prefix(&pk, keys::IDEMPOTENCY_SK_PREFIX, None),
            self.items_with_prefix(&pk, keys::EXPORT_SK_PREFIX, None),
        )?;
        let mut holdings = Holdings {
            deleting: account
                .as_ref()
                .is_some_and(|item| item.contains_key(keys::DELETING)),
            account: account
                .map(|item| Ok::<_, LedgerError>(from_item::<AccountItem>(item)?.account))
                .transpose()?,
            other_keys: every_key.into_iter().filter(is_other).collect(),
            ..Holdings::default()
        };
        // Session ids are ULIDs: newest first, as the session list shows them.
        for item in sessions.into_iter().rev() {
            if matches!(item.get("role"), Some(AttributeValue::S(r)) if r == PARTICIPANT_ROLE) {
                let p: ParticipationItem = from_item(item)?;
                holdings.joined.push(Joined {
                    owner: p.owner_id,
                    session_id: p.session_id,
                });
            } else {
                holdings.owned.push(from_item::<SessionItem>(item)?.session);
            }
        }
        for item in history {
            holdings
                .history
                .push(from_item::<PeriodHistoryItem>(item)?.history);
        }
        for item in erased {
            holdings
                .erased
                .push(from_item::<ErasedSessionItem>(item)?.erased);
        }
        for item in idempotency {
            holdings.idempotency.push(idempotency_record(item)?);
        }
        for item in exports {
            holdings
                .exports
                .push(from_item::<ExportItem>(item)?.object_key);
        }
        Ok(holdings)
    }
}

/// Whether a key is of an item other than the account and the session and participation items
/// (those are handled by their own steps).
fn is_other(item: &Item) -> bool {
    match item.get(keys::SK) {
        Some(AttributeValue::S(sk)) => {
            sk != keys::ACCOUNT_SK && !sk.starts_with(keys::SESSION_SK_PREFIX)
        }
        _ => false,
    }
}

fn idempotency_record(item: Item) -> Result<IdempotencyRecord, LedgerError> {
    let key = match item.get(keys::SK) {
        Some(AttributeValue::S(sk)) => sk
            .strip_prefix(keys::IDEMPOTENCY_SK_PREFIX)
            .unwrap_or(sk)
            .to_owned(),
        _ => {
            return Err(LedgerError::CorruptItem(
                "an item without a sort key".into(),
            ));
        }
    };
    let record: IdempotencyItem = from_item(item)?;
    Ok(IdempotencyRecord {
        key,
        session_id: record.session_id,
        expires_at: DateTime::<Utc>::from_timestamp(record.expires_at, 0)
            .unwrap_or(DateTime::<Utc>::MIN_UTC),
    })
}
