//! The books after the storm: every invariant the backend promises, checked against what the
//! table, the simulator (what ran at Tavus, hard-deleted conversations included) and the users
//! saw. One row per invariant: how many things were checked, and what differs.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;

use awaknow_core::domain::{Account, Session, SessionId, SessionStatus, UserId};
use awaknow_core::secrets::Secret;
use awaknow_core::service::callback_token;
use awaknow_core::store::DynamoLedger;
use awaknow_core::store::items::{
    AccountItem, ErasedSession, ErasedSessionItem, PeriodHistory, PeriodHistoryItem, SessionItem,
};
use awaknow_core::store::keys;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::users::Journal;

/// One invariant's result.
#[derive(Debug, Clone)]
pub struct Row {
    pub invariant: &'static str,
    pub checked: u64,
    pub differences: Vec<String>,
}

impl Row {
    pub fn new(invariant: &'static str) -> Row {
        Row {
            invariant,
            checked: 0,
            differences: Vec::new(),
        }
    }

    pub fn check(&mut self, holds: bool, difference: impl FnOnce() -> String) {
        self.checked += 1;
        if !holds {
            self.differences.push(difference());
        }
    }
}

/// The reconciliation's table.
#[derive(Debug, Clone, Default)]
pub struct Table {
    pub rows: Vec<Row>,
}

impl Table {
    pub fn differences(&self) -> usize {
        self.rows.iter().map(|r| r.differences.len()).sum()
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<64} {:>8} {:>12}",
            "invariant", "checked", "differences"
        );
        for row in &self.rows {
            let _ = writeln!(
                out,
                "{:<64} {:>8} {:>12}",
                row.invariant,
                row.checked,
                row.differences.len()
            );
        }
        for row in self.rows.iter().filter(|r| !r.differences.is_empty()) {
            let _ = writeln!(out, "\n{}:", row.invariant);
            for d in row.differences.iter().take(10) {
                let _ = writeln!(out, "  - {d}");
            }
            if row.differences.len() > 10 {
                let _ = writeln!(out, "  ... and {} more", row.differences.len() - 10);
            }
        }
        out
    }
}

/// What the simulator says ran.
#[derive(Debug, Clone)]
pub struct Ran {
    pub callback_url: Option<String>,
    pub status: String,
    pub created_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub deleted: Option<String>,
    pub test_mode: bool,
}

pub fn parse_history(history: &Value) -> HashMap<String, Ran> {
    let time = |v: &Value| {
        v.as_str()
            .and_then(awaknow_core::tavus::model::parse_tavus_time)
    };
    history["conversations"]
        .as_array()
        .map(|all| {
            all.iter()
                .filter_map(|c| {
                    let id = c["conversation_id"].as_str()?.to_owned();
                    Some((
                        id,
                        Ran {
                            callback_url: c["callback_url"].as_str().map(str::to_owned),
                            status: c["status"].as_str().unwrap_or("").to_owned(),
                            created_at: time(&c["created_at"]),
                            ended_at: time(&c["ended_at"]),
                            deleted: c["deleted"].as_str().map(str::to_owned),
                            test_mode: c["test_mode"].as_bool().unwrap_or(false),
                        },
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Everything the table holds, read whole (the campaign's own table).
pub async fn scan(ledger: &DynamoLedger) -> Result<Vec<HashMap<String, AttributeValue>>, String> {
    test_support::scan_table(ledger).await
}

/// The user whose partition holds `item` (`None`: an item of no user's, such as an erased
/// conversation's memory).
pub fn user_of_item(item: &HashMap<String, AttributeValue>) -> Option<UserId> {
    keys::user_of_pk(&text(item, keys::PK))
}

pub fn sort_key(item: &HashMap<String, AttributeValue>) -> String {
    text(item, keys::SK)
}

fn text(item: &HashMap<String, AttributeValue>, name: &str) -> String {
    match item.get(name) {
        Some(AttributeValue::S(s)) => s.clone(),
        _ => String::new(),
    }
}

/// What the reconciliation reads.
pub struct Books<'a> {
    pub items: &'a [HashMap<String, AttributeValue>],
    pub ran: &'a HashMap<String, Ran>,
    pub journal: &'a Journal,
    pub callback_answers: &'a [u16],
    pub callback_internal: &'a [String],
    pub logs: &'a str,
    pub webhook_key: &'a Secret,
    /// Sessions each owner's list shows, by owner.
    pub listed: &'a HashMap<UserId, HashSet<SessionId>>,
    /// Transcripts read back: (session, whether it read whole).
    pub transcripts: &'a [(SessionId, Result<bool, String>)],
    /// Every object left in the recordings bucket.
    pub objects: &'a [String],
}

pub fn reconcile(books: &Books<'_>) -> Table {
    let mut accounts: Vec<Account> = Vec::new();
    let mut histories: Vec<PeriodHistory> = Vec::new();
    let mut sessions: Vec<(Session, bool)> = Vec::new();
    for item in books.items {
        let sk = text(item, keys::SK);
        if sk.starts_with(keys::PERIOD_SK_PREFIX) {
            if let Ok(h) = serde_dynamo::from_item::<_, PeriodHistoryItem>(item.clone()) {
                histories.push(h.history);
            }
        } else if sk == keys::ACCOUNT_SK {
            if let Ok(a) = serde_dynamo::from_item::<_, AccountItem>(item.clone()) {
                accounts.push(a.account);
            }
        } else if sk.starts_with(keys::SESSION_SK_PREFIX)
            && let Ok(s) = serde_dynamo::from_item::<_, SessionItem>(item.clone())
        {
            sessions.push((s.session, s.open_shard.is_some()));
        }
    }
    let mut table = Table::default();
    table
        .rows
        .push(accounts_balance(&accounts, &sessions, books));
    table
        .rows
        .push(history_balance(&histories, &sessions, books));
    table.rows.push(accounts_settled(&accounts, &histories));
    table.rows.push(sessions_closed(&sessions));
    table.rows.push(charges_match_tavus(&sessions, books));
    table.rows.push(tavus_left_clean(books));
    table.rows.push(erasures_complete(books));
    table.rows.push(recordings_held(&sessions, books));
    table.rows.push(created_listed(books));
    table.rows.push(idempotency(books));
    table.rows.push(transcripts_whole(books));
    table.rows.push(no_500(books));
    table.rows.push(logs_private(books));
    table
}

type PerPeriod = HashMap<(UserId, String), i64>;

/// The charged minutes and the count of the sessions of each owner and period (erased ones
/// included: their minutes stay counted).
fn per_period(sessions: &[(Session, bool)], books: &Books<'_>) -> (PerPeriod, PerPeriod) {
    let mut charged: PerPeriod = HashMap::new();
    let mut counted: PerPeriod = HashMap::new();
    for (s, _) in sessions {
        let key = (s.owner_id.clone(), s.period.to_string());
        *charged.entry(key.clone()).or_default() += i64::from(s.charged_minutes.unwrap_or(0));
        *counted.entry(key).or_default() += 1;
    }
    for e in &books.journal.erased {
        let key = (e.owner.clone(), e.period.to_string());
        *charged.entry(key.clone()).or_default() += i64::from(e.charged);
        *counted.entry(key).or_default() += 1;
    }
    (charged, counted)
}

/// used = the charged minutes of its closed sessions this period; the period's session count =
/// the sessions reserved in it.
fn accounts_balance(accounts: &[Account], sessions: &[(Session, bool)], books: &Books<'_>) -> Row {
    let mut row = Row::new("account: used = charged of its sessions; session count agrees");
    let (charged, counted) = per_period(sessions, books);
    for a in accounts {
        let key = (a.user_id.clone(), a.period.to_string());
        let want = charged.get(&key).copied().unwrap_or(0);
        row.check(a.used_minutes == want, || {
            format!(
                "{}: used {} but its sessions were charged {want}",
                a.user_id, a.used_minutes
            )
        });
        let reserved = counted.get(&key).copied().unwrap_or(0);
        row.check(a.sessions == reserved, || {
            format!(
                "{}: {} sessions counted, {reserved} reserved",
                a.user_id, a.sessions
            )
        });
        row.check(
            a.available_minutes == a.limit_minutes - a.used_minutes - a.reserved_minutes,
            || {
                format!(
                    "{}: available {} != limit - used - reserved",
                    a.user_id, a.available_minutes
                )
            },
        );
    }
    row
}

/// The same for each month the reset closed: its history item holds what its sessions were
/// charged, late settlements included, and how many were reserved.
fn history_balance(
    histories: &[PeriodHistory],
    sessions: &[(Session, bool)],
    books: &Books<'_>,
) -> Row {
    let mut row = Row::new("history: a closed month's used = charged of its sessions");
    let (charged, counted) = per_period(sessions, books);
    for h in histories {
        let key = (h.user_id.clone(), h.period.to_string());
        let want = charged.get(&key).copied().unwrap_or(0);
        row.check(h.used_minutes == want, || {
            format!(
                "{} {}: used {} but its sessions were charged {want}",
                h.user_id, h.period, h.used_minutes
            )
        });
        let reserved = counted.get(&key).copied().unwrap_or(0);
        row.check(h.sessions == reserved, || {
            format!(
                "{} {}: {} sessions counted, {reserved} reserved",
                h.user_id, h.period, h.sessions
            )
        });
    }
    row
}

fn accounts_settled(accounts: &[Account], histories: &[PeriodHistory]) -> Row {
    let mut row = Row::new("account and history: nothing reserved, no session open");
    for a in accounts {
        row.check(a.reserved_minutes == 0 && a.open_sessions == 0, || {
            format!(
                "{}: reserved {} minutes, {} open",
                a.user_id, a.reserved_minutes, a.open_sessions
            )
        });
    }
    for h in histories {
        row.check(h.open_reserved_minutes == 0, || {
            format!(
                "{} {}: {} minutes still reserved",
                h.user_id, h.period, h.open_reserved_minutes
            )
        });
    }
    row
}

fn sessions_closed(sessions: &[(Session, bool)]) -> Row {
    let mut row = Row::new("session: closed, out of the sweeper's index; failed charged 0");
    for (s, indexed) in sessions {
        row.check(!s.status.is_open() && !indexed, || {
            format!(
                "{}: {} (in index: {indexed})",
                s.session_id,
                s.status.as_str()
            )
        });
        if s.status == SessionStatus::Failed {
            row.check(s.charged_minutes.unwrap_or(0) == 0, || {
                format!(
                    "{}: failed but charged {:?}",
                    s.session_id, s.charged_minutes
                )
            });
        }
    }
    row
}

/// Each charge within a minute of what ran at Tavus (capped by the reservation); the whole
/// reservation only where Tavus has no record of the conversation.
fn charges_match_tavus(sessions: &[(Session, bool)], books: &Books<'_>) -> Row {
    let mut row = Row::new("charge: within a minute of what ran at Tavus");
    for (s, _) in sessions
        .iter()
        .filter(|(s, _)| s.status == SessionStatus::Ended)
    {
        let charged = i64::from(s.charged_minutes.unwrap_or(0));
        let reserved = i64::from(s.reserved_minutes);
        let ran = s.conversation_id.as_ref().and_then(|c| books.ran.get(c));
        match ran {
            Some(r) if r.test_mode => row.check(charged == 0, || {
                format!("{}: test mode charged {charged}", s.session_id)
            }),
            Some(Ran {
                created_at: Some(start),
                ended_at: Some(end),
                ..
            }) => {
                let seconds = (*end - *start).num_milliseconds().max(0) as f64 / 1000.0;
                let minutes = ((seconds / 60.0).ceil() as i64).min(reserved);
                row.check((charged - minutes).abs() <= 1, || {
                    format!(
                        "{}: charged {charged}, Tavus ran {seconds:.0} s ({minutes} min)",
                        s.session_id
                    )
                });
            }
            Some(r) => row.check(false, || {
                format!(
                    "{}: charged {charged}, Tavus says {}",
                    s.session_id, r.status
                )
            }),
            None => row.check(charged == reserved, || {
                format!(
                    "{}: Tavus has no record, charged {charged} of {reserved}",
                    s.session_id
                )
            }),
        }
    }
    row
}

/// Every conversation of ours (its callback URL verifies under our key) is ended and deleted.
fn tavus_left_clean(books: &Books<'_>) -> Row {
    let mut row = Row::new("tavus: every conversation of ours ended and deleted");
    for (id, ran) in books.ran {
        let ours = ran
            .callback_url
            .as_deref()
            .and_then(|url| callback_token::verify_url(books.webhook_key, url))
            .is_some();
        if !ours {
            continue;
        }
        row.check(
            ran.status == "ended" && ran.deleted.as_deref() == Some("hard"),
            || format!("{id}: {} (deleted: {:?})", ran.status, ran.deleted),
        );
    }
    row
}

/// An erased session leaves no item but the record of its figures (`ERASED#<id>`, charged
/// what the session was), and no conversation at Tavus; every 204 was then a 404.
fn erasures_complete(books: &Books<'_>) -> Row {
    let mut row = Row::new("erasure: only its figures kept, no conversation; 204 then 404");
    let mut keys_of: HashMap<String, usize> = HashMap::new();
    let mut records: HashMap<String, ErasedSession> = HashMap::new();
    for item in books.items {
        let sk = text(item, keys::SK);
        if sk.starts_with(keys::ERASED_SESSION_SK_PREFIX)
            && let Ok(record) = serde_dynamo::from_item::<_, ErasedSessionItem>(item.clone())
        {
            records.insert(record.erased.session_id.to_string(), record.erased);
            continue;
        }
        let all = format!("{} {sk}", text(item, keys::PK));
        for e in &books.journal.erased {
            if all.contains(&e.session_id.to_string()) {
                *keys_of.entry(e.session_id.to_string()).or_default() += 1;
            }
        }
    }
    for e in &books.journal.erased {
        let id = e.session_id.to_string();
        let left = keys_of.get(&id).copied().unwrap_or(0);
        row.check(left == 0, || format!("{id}: {left} item(s) left"));
        let kept = records
            .get(&id)
            .map(|r| (r.period, r.charged_minutes, r.status.is_open()));
        row.check(kept == Some((e.period, e.charged, false)), || {
            format!(
                "{id}: erased record {kept:?}, expected period {} charged {}",
                e.period, e.charged
            )
        });
        if let Some(c) = &e.conversation_id {
            let gone = books
                .ran
                .get(c)
                .is_none_or(|r| r.deleted.as_deref() == Some("hard"));
            row.check(gone, || format!("{id}: conversation {c} still at Tavus"));
        }
    }
    for found in &books.journal.erased_but_found {
        row.check(false, || format!("found after 204: {found}"));
    }
    row
}

/// Every file Tavus wrote into the bucket is held by a session (so its people can play it and
/// its erasure deletes it); none is left of an erased session, however late it was announced.
fn recordings_held(sessions: &[(Session, bool)], books: &Books<'_>) -> Row {
    let mut row = Row::new("recordings: every file held by a session, none of an erased one");
    let held: HashSet<String> = sessions
        .iter()
        .flat_map(|(s, _)| s.playback.object_keys())
        .collect();
    let erased: Vec<&str> = books
        .journal
        .erased
        .iter()
        .filter_map(|e| e.conversation_id.as_deref())
        .collect();
    for key in books.objects {
        let of_erased = erased.iter().find(|c| key.contains(**c));
        row.check(of_erased.is_none(), || {
            format!(
                "{key}: a recording of erased conversation {}",
                of_erased.copied().unwrap_or("")
            )
        });
        row.check(held.contains(key), || format!("{key}: held by no session"));
    }
    let stored: HashSet<&String> = books.objects.iter().collect();
    for key in &held {
        row.check(stored.contains(key), || {
            format!("{key}: held, but not in the bucket")
        });
    }
    row
}

fn created_listed(books: &Books<'_>) -> Row {
    let mut row = Row::new("list: every 201 is listed (unless erased)");
    let erased: HashSet<SessionId> = books.journal.erased.iter().map(|e| e.session_id).collect();
    for (owner, id) in &books.journal.created {
        if erased.contains(id) {
            continue;
        }
        let listed = books.listed.get(owner).is_some_and(|l| l.contains(id));
        row.check(listed, || format!("{id} of {owner} is not listed"));
    }
    row
}

fn idempotency(books: &Books<'_>) -> Row {
    let mut row = Row::new("Idempotency-Key: a retry gets the same session");
    row.checked = books.journal.created.len() as u64;
    row.differences = books.journal.idempotency_mismatches.clone();
    row
}

fn transcripts_whole(books: &Books<'_>) -> Row {
    let mut row = Row::new("transcript: every stored one reads back whole");
    for (id, read) in books.transcripts {
        row.check(read.is_ok(), || format!("{id}: {:?}", read));
    }
    row
}

fn no_500(books: &Books<'_>) -> Row {
    let mut row = Row::new("answers: no 500");
    let mut by_status: BTreeMap<u16, u64> = BTreeMap::new();
    for status in books.journal.answers.iter().chain(books.callback_answers) {
        *by_status.entry(*status).or_default() += 1;
    }
    for (status, count) in &by_status {
        row.checked += count;
        if *status == 500 {
            row.differences.push(format!("{count} answer(s) were 500"));
        }
    }
    for cause in books.journal.internal.iter().chain(books.callback_internal) {
        row.differences.push(format!("500: {cause}"));
    }
    row
}

fn logs_private(books: &Books<'_>) -> Row {
    let mut row = Row::new("logs: no prompt, no note in any line");
    for needle in &books.journal.needles {
        row.check(!books.logs.contains(needle.as_str()), || {
            format!("a log line carries {needle}")
        });
    }
    row
}
