//! Accounts' figures against their sessions, for a share of the accounts per run.
//!
//! Which accounts: those of one shard of the `accounts-by-period` index (32 shards, users spread
//! by a hash of their id), the shard of the day by default, so the scheduled audit reads every
//! account once in 32 days and a run reads about a 32nd of them. `make audit` reads all.
//!
//! Per account: the account item, its history items, its own sessions and the records of those
//! erased (strongly consistent reads; never transcripts or notes). A disagreement is read again
//! and reported only if the second read disagrees alike: a session settling between the reads
//! of one account changes both the session and the account, so it never shows twice alike.

use std::time::Instant;

use chrono::{DateTime, Utc};
use futures::StreamExt;

use super::figures::{Disagreement, disagreements};
use super::finding::{Check, CheckResult, Finding};
use super::options::AuditOptions;
use crate::LedgerError;
use crate::domain::{SessionId, UserId};
use crate::store::DynamoLedger;

/// An object key a session of a checked account references, for the bucket check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferencedKey {
    pub user: UserId,
    pub session: SessionId,
    /// When the session was created: its recordings were written after.
    pub session_created_at: DateTime<Utc>,
    pub key: String,
}

/// What reading one account gave.
struct Checked {
    user: UserId,
    disagreements: Vec<Disagreement>,
    keys: Vec<ReferencedKey>,
}

/// The figures check over the accounts `options.accounts` names, `options.concurrency` at once;
/// also every object key their sessions reference.
pub async fn check(
    ledger: &DynamoLedger,
    options: &AuditOptions,
    now: DateTime<Utc>,
    deadline: Instant,
) -> (CheckResult, Vec<ReferencedKey>) {
    let mut result = CheckResult::new(Check::AccountFigures);
    let mut referenced = Vec::new();
    for shard in options.accounts.shards(now) {
        let mut start = None;
        loop {
            if Instant::now() >= deadline {
                result.incomplete(&"the deadline came before every account was read");
                return (result, referenced);
            }
            let page = match ledger.accounts_in_shard(shard, start).await {
                Ok(page) => page,
                Err(e) => {
                    result.incomplete(&e);
                    break;
                }
            };
            let checked: Vec<Result<Checked, LedgerError>> = futures::stream::iter(page.users)
                .map(|user| check_account(ledger, user))
                .buffer_unordered(options.concurrency.max(1))
                .collect()
                .await;
            for account in checked {
                match account {
                    Ok(account) => {
                        result.checked += 1;
                        result
                            .findings
                            .extend(account.disagreements.into_iter().map(|d| Finding::Figure {
                                user: account.user.clone(),
                                period: d.period,
                                figure: d.figure,
                                recorded: d.recorded,
                                from_sessions: d.from_sessions,
                            }));
                        referenced.extend(account.keys);
                    }
                    Err(e) => result.incomplete(&e),
                }
            }
            start = page.next;
            if start.is_none() {
                break;
            }
        }
    }
    (result, referenced)
}

/// One account's disagreements (those seen alike by two reads) and its sessions' object keys.
async fn check_account(ledger: &DynamoLedger, user: UserId) -> Result<Checked, LedgerError> {
    let books = ledger.books(&user).await?;
    let mut found = disagreements(&books);
    if !found.is_empty() {
        let again = disagreements(&ledger.books(&user).await?);
        if again != found {
            found.clear();
        }
    }
    let keys = books
        .sessions
        .iter()
        .flat_map(|session| {
            session
                .playback
                .object_keys()
                .into_iter()
                .map(|key| ReferencedKey {
                    user: user.clone(),
                    session: session.session_id,
                    session_created_at: session.created_at,
                    key,
                })
        })
        .collect();
    Ok(Checked {
        user,
        disagreements: found,
        keys,
    })
}
