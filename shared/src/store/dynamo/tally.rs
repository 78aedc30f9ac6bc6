//! The minutes tally of each period: what Tavus ran against what we charged, by cause
//! ([`crate::domain::cost`]). One partition per period (`TALLY#<period>`), its figures spread
//! over [`keys::INDEX_SHARDS`] items by the owner's shard, each figure an `ADD`: a close adds
//! its conversation once its transaction committed (a repeated close finds the session closed
//! and adds nothing), the sweeper adds the orphans it ends; [`DynamoLedger::tally`] sums the shards.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::{AttributeValue, Update};
use chrono::{DateTime, Utc};

use super::errors::{bad_request, unavailable};
use super::{DynamoLedger, Item, key, n};
use crate::LedgerError;
use crate::domain::minutes::charged_minutes;
use crate::domain::{Cause, CauseFigures, Period, Tally, UserId};
use crate::store::keys;

/// The attribute names of one cause's figures on a tally item.
struct Attributes {
    conversations: String,
    ran: String,
    charged: String,
}

impl Attributes {
    fn of(cause: Cause) -> Attributes {
        let name = cause.as_str();
        Attributes {
            conversations: format!("{name}_conversations"),
            ran: format!("{name}_ran"),
            charged: format!("{name}_charged"),
        }
    }
}

impl DynamoLedger {
    /// The update adding `figures` to `cause` in the tally of `period`, on `owner`'s shard item.
    fn tally_update(
        &self,
        period: Period,
        owner: &UserId,
        cause: Cause,
        figures: CauseFigures,
    ) -> Result<Update, LedgerError> {
        let names = Attributes::of(cause);
        Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(
                keys::tally_pk(period),
                keys::tally_sk(keys::shard_of(owner)),
            )))
            .update_expression("ADD #conversations :conversations, #ran :ran, #charged :charged")
            .expression_attribute_names("#conversations", names.conversations)
            .expression_attribute_names("#ran", names.ran)
            .expression_attribute_names("#charged", names.charged)
            .expression_attribute_values(":conversations", n(figures.conversations))
            .expression_attribute_values(":ran", n(figures.ran_minutes))
            .expression_attribute_values(":charged", n(figures.charged_minutes))
            .build()
            .map_err(bad_request)
    }

    /// Counts a conversation of ours that no session held, ended by the sweeper: Tavus ran it
    /// from `created_at` to `ended_at` and nobody is charged. Counted in the period containing
    /// `created_at`, on `owner`'s shard (the owner its callback token names). Not idempotent: call
    /// it once per conversation ended.
    pub async fn record_orphan_end(
        &self,
        owner: &UserId,
        created_at: DateTime<Utc>,
        ended_at: DateTime<Utc>,
    ) -> Result<(), LedgerError> {
        let figures = CauseFigures {
            conversations: 1,
            ran_minutes: i64::from(charged_minutes(created_at, ended_at)),
            charged_minutes: 0,
        };
        self.add_to_tally(
            Period::containing(created_at),
            owner,
            Cause::Orphan,
            figures,
        )
        .await
    }

    /// Adds `figures` to `cause` in the tally of `period`, on `owner`'s shard item: a plain
    /// update, never part of a transaction, so that closes of users sharing a shard never
    /// cancel each other's transactions over it (updates of one item queue; transactions on
    /// it conflict).
    pub(crate) async fn add_to_tally(
        &self,
        period: Period,
        owner: &UserId,
        cause: Cause,
        figures: CauseFigures,
    ) -> Result<(), LedgerError> {
        let update = self.tally_update(period, owner, cause, figures)?;
        self.client
            .update_item()
            .table_name(update.table_name)
            .set_key(Some(update.key))
            .update_expression(update.update_expression)
            .set_expression_attribute_names(update.expression_attribute_names)
            .set_expression_attribute_values(update.expression_attribute_values)
            .send()
            .await
            .map_err(|e| unavailable(&e))?;
        Ok(())
    }

    /// The minutes of `period` by cause, summed over its shards (read consistently).
    pub async fn tally(&self, period: Period) -> Result<Tally, LedgerError> {
        let items = self
            .items_with_prefix(&keys::tally_pk(period), keys::TALLY_SK_PREFIX, None)
            .await?;
        let mut by_cause: BTreeMap<Cause, CauseFigures> = BTreeMap::new();
        for item in &items {
            for cause in Cause::ALL {
                if let Some(figures) = figures_of(item, cause)? {
                    by_cause.entry(cause).or_default().add(figures);
                }
            }
        }
        Ok(Tally { period, by_cause })
    }
}

/// One cause's figures on one shard item; `None` when nothing was counted for it there.
fn figures_of(item: &Item, cause: Cause) -> Result<Option<CauseFigures>, LedgerError> {
    let names = Attributes::of(cause);
    let conversations = number(item, &names.conversations)?;
    let ran = number(item, &names.ran)?;
    let charged = number(item, &names.charged)?;
    if conversations.is_none() && ran.is_none() && charged.is_none() {
        return Ok(None);
    }
    Ok(Some(CauseFigures {
        conversations: conversations.unwrap_or(0),
        ran_minutes: ran.unwrap_or(0),
        charged_minutes: charged.unwrap_or(0),
    }))
}

fn number(item: &Item, name: &str) -> Result<Option<i64>, LedgerError> {
    match item.get(name) {
        None => Ok(None),
        Some(AttributeValue::N(value)) => value
            .parse()
            .map(Some)
            .map_err(|_| LedgerError::CorruptItem(format!("tally figure {name} is {value}"))),
        Some(_) => Err(LedgerError::CorruptItem(format!(
            "tally figure {name} is not a number"
        ))),
    }
}
