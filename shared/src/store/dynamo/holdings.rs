//! Everything under one user's partition, in one consistent Query read page by page, sorted by
//! the kind its sort key names: what an account export shows, and what deleting the account
//! must remove.

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};

use super::{DynamoLedger, Item, from_item, key};
use crate::LedgerError;
use crate::store::items::{
    AccountItem, ErasedSessionItem, ExportItem, IdempotencyItem, PARTICIPANT_ROLE,
    ParticipationItem, PeriodHistoryItem, SessionItem,
};
use crate::store::{Holdings, IdempotencyRecord, Joined, keys};

impl DynamoLedger {
    /// What the user's partition holds, sorted by kind ([`Holdings`]).
    pub async fn holdings(&self, user: &crate::domain::UserId) -> Result<Holdings, LedgerError> {
        let mut holdings = Holdings::default();
        for item in self.query_all(&keys::user_pk(user), None, None).await? {
            sort_into(&mut holdings, item)?;
        }
        // Session ids are ULIDs: newest first, as the session list shows them.
        holdings.owned.reverse();
        holdings.joined.reverse();
        Ok(holdings)
    }
}

fn sort_key(item: &Item) -> Result<String, LedgerError> {
    match item.get(keys::SK) {
        Some(AttributeValue::S(sk)) => Ok(sk.clone()),
        _ => Err(LedgerError::CorruptItem(
            "an item without a sort key".into(),
        )),
    }
}

fn sort_into(holdings: &mut Holdings, item: Item) -> Result<(), LedgerError> {
    let sk = sort_key(&item)?;
    if sk == keys::ACCOUNT_SK {
        holdings.deleting = item.contains_key(keys::DELETING);
        holdings.account = Some(from_item::<AccountItem>(item)?.account);
        return Ok(());
    }
    if sk.starts_with(keys::SESSION_SK_PREFIX) {
        let is_participation =
            matches!(item.get("role"), Some(AttributeValue::S(r)) if r == PARTICIPANT_ROLE);
        if is_participation {
            let p: ParticipationItem = from_item(item)?;
            holdings.joined.push(Joined {
                owner: p.owner_id,
                session_id: p.session_id,
            });
        } else {
            holdings.owned.push(from_item::<SessionItem>(item)?.session);
        }
        return Ok(());
    }
    let pk = match item.get(keys::PK) {
        Some(AttributeValue::S(pk)) => pk.clone(),
        _ => return Err(LedgerError::CorruptItem("an item without a key".into())),
    };
    holdings.other_keys.push(key(pk, sk.clone()));
    if sk.starts_with(keys::PERIOD_SK_PREFIX) {
        holdings
            .history
            .push(from_item::<PeriodHistoryItem>(item)?.history);
    } else if sk.starts_with(keys::ERASED_SESSION_SK_PREFIX) {
        holdings
            .erased
            .push(from_item::<ErasedSessionItem>(item)?.erased);
    } else if let Some(idempotency_key) = sk.strip_prefix(keys::IDEMPOTENCY_SK_PREFIX) {
        let record: IdempotencyItem = from_item(item)?;
        holdings.idempotency.push(IdempotencyRecord {
            key: idempotency_key.to_owned(),
            session_id: record.session_id,
            expires_at: DateTime::<Utc>::from_timestamp(record.expires_at, 0)
                .unwrap_or(DateTime::<Utc>::MIN_UTC),
        });
    } else if sk.starts_with(keys::EXPORT_SK_PREFIX) {
        holdings
            .exports
            .push(from_item::<ExportItem>(item)?.object_key);
    }
    // Transcripts and notes are read where they are shown; here only their keys count.
    Ok(())
}
