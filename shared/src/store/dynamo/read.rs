//! Reads: the account, usage, one session, a page of sessions, a user's books.

use std::collections::HashMap;

use aws_sdk_dynamodb::operation::query::QueryOutput;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};

use super::errors::unavailable;
use super::{DynamoLedger, Item, from_item, key, s};
use crate::LedgerError;
use crate::domain::{Account, Period, PlanId, Role, Session, SessionId, Usage, UserId};
use crate::store::items::{
    AccountItem, ErasedSessionItem, PARTICIPANT_ROLE, ParticipationItem, PeriodHistory,
    PeriodHistoryItem, SessionItem,
};
use crate::store::keys;
use crate::store::{Books, Joined, SessionPage};

/// The most sessions one page returns.
pub const MAX_PAGE: u32 = 100;

impl DynamoLedger {
    /// The account as stored, read consistently; `None` for a user who never had one.
    pub async fn read_account(&self, user: &UserId) -> Result<Option<Account>, LedgerError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(keys::user_pk(user), keys::ACCOUNT_SK)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| unavailable(&e))?;
        match output.item {
            Some(item) => Ok(Some(from_item::<AccountItem>(item)?.account)),
            None => Ok(None),
        }
    }

    /// The history item of a closed period, if the account rolled over from it.
    pub async fn read_history(
        &self,
        user: &UserId,
        period: Period,
    ) -> Result<Option<PeriodHistory>, LedgerError> {
        match self
            .read_item(keys::user_pk(user), keys::period_sk(period))
            .await?
        {
            Some(item) => Ok(Some(from_item::<PeriodHistoryItem>(item)?.history)),
            None => Ok(None),
        }
    }

    pub(super) async fn read_item(
        &self,
        pk: String,
        sk: String,
    ) -> Result<Option<Item>, LedgerError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| unavailable(&e))?;
        Ok(output.item)
    }

    /// The owners' session items for a set of participations, in one BatchGetItem per 100 keys
    /// (repeated for keys DynamoDB leaves unprocessed).
    async fn owner_sessions(
        &self,
        participations: &[ParticipationItem],
    ) -> Result<HashMap<SessionId, Session>, LedgerError> {
        let joined: Vec<Joined> = participations
            .iter()
            .map(|p| Joined {
                owner: p.owner_id.clone(),
                session_id: p.session_id,
            })
            .collect();
        self.joined_sessions(&joined).await
    }

    /// The owners' session items of sessions a user takes part in, by session id, read
    /// consistently (one BatchGetItem per 100 keys); a session gone is absent.
    pub async fn joined_sessions(
        &self,
        joined: &[Joined],
    ) -> Result<HashMap<SessionId, Session>, LedgerError> {
        let item_keys = joined
            .iter()
            .map(|j| key(keys::user_pk(&j.owner), keys::session_sk(j.session_id)))
            .collect();
        let mut found = HashMap::new();
        for item in self.batch_get(item_keys, true).await? {
            let session = from_item::<SessionItem>(item)?.session;
            found.insert(session.session_id, session);
        }
        Ok(found)
    }
}

fn is_participation(item: &Item) -> bool {
    matches!(item.get("role"), Some(AttributeValue::S(role)) if role == PARTICIPANT_ROLE)
}

impl DynamoLedger {
    /// The usage of the current period, in one read.
    pub async fn usage(&self, user: &UserId, now: DateTime<Utc>) -> Result<Usage, LedgerError> {
        let account = self.read_account(user).await?;
        Ok(self.usage_of(user, account, now))
    }

    /// The usage an account as read shows at `now` (no read of its own).
    pub fn usage_of(&self, user: &UserId, account: Option<Account>, now: DateTime<Utc>) -> Usage {
        // A user who never opened a session has the whole free allowance.
        let account =
            account.unwrap_or_else(|| Account::fresh(user.clone(), PlanId::Free, &self.plans, now));
        account.usage_at(&self.plans, self.max_open_sessions, now)
    }
}

impl DynamoLedger {
    /// A session the user owns or takes part in, with the user's role in it.
    pub async fn get_session(
        &self,
        user: &UserId,
        session_id: SessionId,
    ) -> Result<(Session, Role), LedgerError> {
        let item = self
            .read_item(keys::user_pk(user), keys::session_sk(session_id))
            .await?
            .ok_or(LedgerError::SessionNotFound)?;
        if !is_participation(&item) {
            return Ok((from_item::<SessionItem>(item)?.session, Role::Owner));
        }
        let participation: ParticipationItem = from_item(item)?;
        let owner_item = self
            .read_item(
                keys::user_pk(&participation.owner_id),
                keys::session_sk(session_id),
            )
            .await?
            .ok_or(LedgerError::SessionNotFound)?;
        Ok((
            from_item::<SessionItem>(owner_item)?.session,
            Role::Participant,
        ))
    }
}

/// One entry of a page of the user's sessions, as stored under the user.
enum Entry {
    Owned(Session),
    /// A session of another owner: its item is read from the owner's partition.
    Joined(ParticipationItem),
}

impl Entry {
    fn from_item(item: Item) -> Result<Entry, LedgerError> {
        if is_participation(&item) {
            Ok(Entry::Joined(from_item(item)?))
        } else {
            Ok(Entry::Owned(from_item::<SessionItem>(item)?.session))
        }
    }
}

impl DynamoLedger {
    /// The sessions the user owns or takes part in, newest first.
    pub async fn list_sessions(
        &self,
        user: &UserId,
        limit: u32,
        cursor: Option<SessionId>,
    ) -> Result<SessionPage, LedgerError> {
        let output = self.query_session_page(user, limit, cursor).await?;
        let entries = output
            .items
            .unwrap_or_default()
            .into_iter()
            .map(Entry::from_item)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(SessionPage {
            sessions: self.with_joined_sessions(entries).await?,
            next_cursor: cursor_after(output.last_evaluated_key),
        })
    }

    /// One page of the session and participation items under the user, newest first.
    async fn query_session_page(
        &self,
        user: &UserId,
        limit: u32,
        cursor: Option<SessionId>,
    ) -> Result<QueryOutput, LedgerError> {
        let pk = keys::user_pk(user);
        let mut query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", s(pk.clone()))
            .expression_attribute_values(":prefix", s(keys::SESSION_SK_PREFIX))
            .scan_index_forward(false)
            .limit(i32::try_from(limit.clamp(1, MAX_PAGE)).unwrap_or(20));
        if let Some(cursor) = cursor {
            query = query.set_exclusive_start_key(Some(key(pk, keys::session_sk(cursor))));
        }
        query.send().await.map_err(|e| unavailable(&e))
    }

    /// The entries in order, each with the user's role; a joined session comes from its owner's
    /// item, and is left out when that item is gone.
    async fn with_joined_sessions(
        &self,
        entries: Vec<Entry>,
    ) -> Result<Vec<(Session, Role)>, LedgerError> {
        let joined: Vec<ParticipationItem> = entries
            .iter()
            .filter_map(|e| match e {
                Entry::Joined(p) => Some(p.clone()),
                Entry::Owned(_) => None,
            })
            .collect();
        let mut owners = if joined.is_empty() {
            HashMap::new()
        } else {
            self.owner_sessions(&joined).await?
        };
        Ok(entries
            .into_iter()
            .filter_map(|e| match e {
                Entry::Owned(session) => Some((session, Role::Owner)),
                Entry::Joined(p) => owners.remove(&p.session_id).map(|s| (s, Role::Participant)),
            })
            .collect())
    }
}

/// The cursor of the page after the one whose last key DynamoDB returned; `None` on the last.
fn cursor_after(last_evaluated_key: Option<Item>) -> Option<SessionId> {
    match last_evaluated_key {
        Some(last) => match last.get(keys::SK) {
            Some(AttributeValue::S(sk)) => sk
                .strip_prefix(keys::SESSION_SK_PREFIX)
                .and_then(|id| id.parse().ok()),
            _ => None,
        },
        None => None,
    }
}

impl DynamoLedger {
    /// The user's books, each part read consistently: the account, every closed period's
    /// history, every session the user owns (their participations in others' sessions are
    /// left out) and the record of each erased session. Only those items: never a transcript,
    /// notes or an idempotency record (each part is a Query on its own sort-key prefix).
    pub async fn books(&self, user: &UserId) -> Result<Books, LedgerError> {
        let pk = keys::user_pk(user);
        let (account, history, sessions, erased) = futures::try_join!(
            self.read_account(user),
            self.items_with_prefix(&pk, keys::PERIOD_SK_PREFIX, None),
            self.items_with_prefix(&pk, keys::SESSION_SK_PREFIX, None),
            self.items_with_prefix(&pk, keys::ERASED_SESSION_SK_PREFIX, None),
        )?;
        Ok(Books {
            account,
            history: history
                .into_iter()
                .map(|item| Ok(from_item::<PeriodHistoryItem>(item)?.history))
                .collect::<Result<_, LedgerError>>()?,
            sessions: sessions
                .into_iter()
                .filter(|item| !is_participation(item))
                .map(|item| Ok(from_item::<SessionItem>(item)?.session))
                .collect::<Result<_, LedgerError>>()?,
            erased: erased
                .into_iter()
                .map(|item| Ok(from_item::<ErasedSessionItem>(item)?.erased))
                .collect::<Result<_, LedgerError>>()?,
        })
    }
}
