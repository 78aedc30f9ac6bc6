//! The table's keys and the sparse, sharded index keys (docs/architecture.md, "What the table
//! holds").
//!
//! `template.yaml` is the only definition of the table and its indexes; the names here must
//! match it, and the store tests create their tables from that file to prove it.

use chrono::{DateTime, SecondsFormat, Utc};

use crate::domain::{Period, SessionId, UserId};

pub const PK: &str = "pk";
pub const SK: &str = "sk";

/// Accounts by period, so the monthly reset finds every account still in an old period with
/// `account_shard = :s AND period < :current`, without scanning. Only account items carry
/// `account_shard`, so the index holds nothing else. It projects keys only: a reservation changes
/// no index key, so it costs no index write.
pub const ACCOUNTS_BY_PERIOD_INDEX: &str = "accounts-by-period";
pub const ACCOUNT_SHARD: &str = "account_shard";

/// Open sessions by the time their reservation runs out, so the sweeper finds sessions open too
/// long with `open_shard = :s AND open_until < :cutoff`. Settling a session removes both
/// attributes, which removes it from the index.
pub const OPEN_SESSIONS_INDEX: &str = "open-sessions";
pub const OPEN_SHARD: &str = "open_shard";
pub const OPEN_UNTIL: &str = "open_until";

/// Set on a session item when its erasure begins. Writes of what is kept with a session are
/// conditioned on its absence, so none lands after the erasure has looked for what to remove.
pub const ERASING: &str = "erasing";

/// Set on an account item while the account is being deleted (`DELETE /me`): a reservation is
/// conditioned on its absence, and the account, deleted last, is where the sweeper finds a
/// deletion cut short (under the open-sessions index's [`deletion_shard_key`]).
pub const DELETING: &str = "deleting";

/// How many partitions each sparse index is spread over. Fixed: it is part of stored data.
pub const INDEX_SHARDS: u32 = 32;

pub fn user_pk(user: &UserId) -> String {
    format!("USER#{user}")
}

/// The user a partition key names; `None` for a key [`user_pk`] did not make.
pub fn user_of_pk(pk: &str) -> Option<UserId> {
    pk.strip_prefix("USER#")
        .and_then(|user| UserId::parse(user).ok())
}

pub const ACCOUNT_SK: &str = "ACCOUNT";

pub const SESSION_SK_PREFIX: &str = "SESSION#";

pub fn session_sk(session: SessionId) -> String {
    format!("{SESSION_SK_PREFIX}{session}")
}

pub fn period_sk(period: Period) -> String {
    format!("{PERIOD_SK_PREFIX}{period}")
}

pub const PERIOD_SK_PREFIX: &str = "PERIOD#";

/// A transcript's manifest; its chunks follow as `TRANSCRIPT#<session>#<n>`, so this is also
/// the prefix of every transcript item of the session.
pub fn transcript_sk(session: SessionId) -> String {
    format!("TRANSCRIPT#{session}")
}

/// One person's notes on a session, under the session owner's partition (whoever wrote them),
/// so erasing a session finds every person's notes with one Query on that partition.
pub fn notes_sk(session: SessionId, author: &UserId) -> String {
    format!("{}{author}", notes_prefix(session))
}

/// The prefix of every person's notes on a session (session ids have a fixed length, so no
/// other session's notes share it).
pub fn notes_prefix(session: SessionId) -> String {
    format!("NOTES#{session}#")
}

/// The memory of an erased recorded conversation: its own partition, keyed by the conversation
/// alone (no user id), so a recording that arrives after the erasure is known as erased.
pub fn erased_conversation_pk(conversation_id: &str) -> String {
    format!("ERASED_CONVERSATION#{conversation_id}")
}

pub const ERASED_CONVERSATION_SK: &str = "ERASED";

/// What is kept of an erased session: its accounting figures, under its owner's partition, so
/// the account's and the history's minutes stay explainable after the session item is gone.
pub fn erased_session_sk(session: SessionId) -> String {
    format!("{ERASED_SESSION_SK_PREFIX}{session}")
}

pub const ERASED_SESSION_SK_PREFIX: &str = "ERASED#";

/// Which session a recording object belongs to: Tavus names the object keys (after the
/// conversation, not our user or session), so the key alone leads to its own partition.
pub fn recording_pk(object_key: &str) -> String {
    format!("{RECORDING_PK_PREFIX}{object_key}")
}

pub const RECORDING_PK_PREFIX: &str = "RECORDING#";

pub const RECORDING_SK: &str = "RECORDING";

/// The minutes tally of a period: one partition, its figures spread over [`INDEX_SHARDS`] items
/// (by the owner's [`shard_of`]), so the closes of many users never write one hot item.
pub fn tally_pk(period: Period) -> String {
    format!("TALLY#{period}")
}

pub fn tally_sk(shard: u32) -> String {
    format!("{TALLY_SK_PREFIX}{shard:02}")
}

pub const TALLY_SK_PREFIX: &str = "SHARD#";

/// An account export handed over through the bucket: the object's key, so that deleting the
/// account deletes the object too (the bucket's lifecycle removes it after a day anyway).
pub fn export_sk(object_key: &str) -> String {
    format!("{EXPORT_SK_PREFIX}{object_key}")
}

pub const EXPORT_SK_PREFIX: &str = "EXPORT#";

pub const IDEMPOTENCY_SK_PREFIX: &str = "IDEMPOTENCY#";

pub fn idempotency_sk(key: &str) -> String {
    format!("{IDEMPOTENCY_SK_PREFIX}{key}")
}

/// A stable shard for a user: FNV-1a of the id, so the same user always lands in the same shard
/// and users spread evenly.
pub fn shard_of(user: &UserId) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in user.as_str().bytes() {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash % INDEX_SHARDS
}

pub fn account_shard_key(shard: u32) -> String {
    format!("ACCOUNTS#{shard:02}")
}

pub fn open_shard_key(shard: u32) -> String {
    format!("OPEN#{shard:02}")
}

/// The open-sessions index shard key of accounts being deleted (beside `OPEN#nn` and `ERASE#nn`).
pub fn deletion_shard_key(shard: u32) -> String {
    format!("DELETE#{shard:02}")
}

/// A timestamp whose text sorts in time order (fixed width, millisecond precision, `Z`).
pub fn sortable_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_are_stable_and_in_range() {
        let user = UserId::parse("user-42").unwrap();
        assert_eq!(shard_of(&user), shard_of(&user.clone()));
        let mut seen = std::collections::HashSet::new();
        for i in 0..1000 {
            let s = shard_of(&UserId::parse(&format!("user-{i}")).unwrap());
            assert!(s < INDEX_SHARDS);
            seen.insert(s);
        }
        assert_eq!(
            seen.len() as u32,
            INDEX_SHARDS,
            "1000 users should cover every shard"
        );
    }

    #[test]
    fn sortable_times_sort_like_the_instants() {
        let a = DateTime::parse_from_rfc3339("2026-11-24T09:59:59.5Z")
            .unwrap()
            .with_timezone(&Utc);
        let b = DateTime::parse_from_rfc3339("2026-11-24T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(sortable_time(b), "2026-11-24T10:00:00.000Z");
        assert!(sortable_time(a) < sortable_time(b));
    }
}
