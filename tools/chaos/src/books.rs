//! Gathering what a phase left (the table, what ran at the simulator, the bucket, the lists and
//! transcripts read back) and handing it to [`crate::reconcile`].

use std::collections::{HashMap, HashSet};

use awaknow_core::domain::{SessionStatus, UserId};
use awaknow_core::store::DynamoLedger;
use awaknow_core::tavus::Tavus;
use serde_json::Value;

use crate::reconcile::{self, Books, Table};
use crate::users::Journal;

/// An S3 client of moto's, addressing buckets in the path; `attempts`: the SDK's.
pub(crate) fn s3_client(endpoint: &str, attempts: u32) -> aws_sdk_s3::Client {
    let sdk = test_support::local_sdk(endpoint)
        .to_builder()
        .retry_config(
            aws_sdk_s3::config::retry::RetryConfig::standard().with_max_attempts(attempts),
        )
        .build();
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(true)
            .build(),
    )
}

/// Every object in a bucket on moto.
pub(crate) async fn bucket_objects(moto: &str, bucket: &str) -> Result<Vec<String>, String> {
    let client = s3_client(moto, 3);
    let mut keys = Vec::new();
    let mut token = None;
    loop {
        let page = client
            .list_objects_v2()
            .bucket(bucket)
            .set_continuation_token(token)
            .send()
            .await
            .map_err(|e| format!("list the recordings bucket: {e}"))?;
        keys.extend(
            page.contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_owned)),
        );
        match page.next_continuation_token() {
            Some(next) => token = Some(next.to_owned()),
            None => return Ok(keys),
        }
    }
}

/// What a phase leaves to be reconciled, besides the table and Tavus.
pub(crate) struct Evidence<'a> {
    pub(crate) journal: &'a Journal,
    pub(crate) logs: &'a str,
    /// Every object of the recordings bucket.
    pub(crate) objects: Vec<String>,
    pub(crate) callback_answers: Vec<u16>,
    pub(crate) callback_internal: Vec<String>,
    /// Only users whose id starts with this, their items, conversations and recordings
    /// (`None`: everything; the table and the simulator are the phase's own).
    pub(crate) users: Option<&'a str>,
}

pub(crate) async fn check_books(
    ledger: &DynamoLedger,
    tavus: &Tavus,
    sim_url: &str,
    evidence: Evidence<'_>,
) -> Result<Table, String> {
    let ours = |user: &UserId| evidence.users.is_none_or(|p| user.as_str().starts_with(p));
    let mut items = reconcile::scan(ledger).await?;
    if evidence.users.is_some() {
        items.retain(|item| reconcile::user_of_item(item).is_some_and(|user| ours(&user)));
    }
    let history: Value = reqwest::get(format!("{sim_url}/_sim/history"))
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    let webhook_key = tavus
        .secrets()
        .webhook_key()
        .await
        .map_err(|e| e.to_string())?;
    let mut ran = reconcile::parse_history(&history);
    if evidence.users.is_some() {
        ran.retain(|_, r| {
            r.callback_url
                .as_deref()
                .and_then(|url| {
                    awaknow_core::service::callback_token::verify_url(&webhook_key, url)
                })
                .is_some_and(|claims| ours(&claims.owner))
        });
    }
    let mut objects = evidence.objects;
    if evidence.users.is_some() {
        objects.retain(|key| ran.keys().any(|c| key.contains(c.as_str())));
    }
    let mut journal = evidence.journal.clone();
    // An erasure cut short that the sweeper finished: erased, as if confirmed.
    let present: HashSet<String> = items.iter().map(reconcile::sort_key).collect();
    for cut in std::mem::take(&mut journal.erasures_cut_short) {
        if !present.contains(&awaknow_core::store::keys::session_sk(cut.session_id)) {
            journal.erased.push(cut);
        }
    }
    let journal = &journal;
    let mut listed: HashMap<UserId, HashSet<awaknow_core::domain::SessionId>> = HashMap::new();
    let owners: HashSet<&UserId> = journal.created.iter().map(|(o, _)| o).collect();
    for owner in owners {
        let mut cursor = None;
        loop {
            let page = ledger
                .list_sessions(owner, 50, cursor)
                .await
                .map_err(|e| e.to_string())?;
            let seen = listed.entry(owner.clone()).or_default();
            seen.extend(page.sessions.iter().map(|(s, _)| s.session_id));
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
    }
    let mut transcripts = Vec::new();
    for item in &items {
        let Ok(s) =
            serde_dynamo::from_item::<_, awaknow_core::store::items::SessionItem>(item.clone())
        else {
            continue;
        };
        if s.session.status != SessionStatus::Ended {
            continue;
        }
        let read = ledger
            .read_transcript(&s.session.owner_id, s.session.session_id)
            .await
            .map(|t| t.is_some())
            .map_err(|e| e.to_string());
        transcripts.push((s.session.session_id, read));
    }
    Ok(reconcile::reconcile(&Books {
        items: &items,
        ran: &ran,
        journal,
        callback_answers: &evidence.callback_answers,
        callback_internal: &evidence.callback_internal,
        logs: evidence.logs,
        webhook_key: &webhook_key,
        listed: &listed,
        transcripts: &transcripts,
        objects: &objects,
    }))
}
