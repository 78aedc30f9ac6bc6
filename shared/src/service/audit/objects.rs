//! The recordings bucket against the sessions' keys, both ways:
//! - objects no session references, written more than an hour ago (a recording's callback
//!   comes within minutes of the file): each object's reference item, written with the key on
//!   its session and removed with it, says whether a session holds it. An account export
//!   handed over through the bucket is held by its record for as long as it is remembered;
//!   the bucket's lifecycle deletes it after a day, so an older one is a finding too;
//! - keys a session of the checked accounts references that the bucket does not hold (seen
//!   missing from the listing, then confirmed by a HEAD of the key), unless the bucket's
//!   lifecycle has expired them already.
//!
//! The audit is the only reader that lists the bucket.

use std::collections::HashSet;

use chrono::{DateTime, Utc};

use super::accounts::ReferencedKey;
use super::finding::{Check, CheckResult, Finding};
use super::options::AuditOptions;
use crate::recording_bucket::{EXPORTS_PREFIX, Recordings, StoredObject};
use crate::store::DynamoLedger;
use crate::store::dynamo::EXPORT_MEMORY;

/// Keys asked of the ledger at once.
const REFERENCE_BATCH: usize = 1_000;

pub(super) async fn check(
    ledger: &DynamoLedger,
    recordings: Option<&Recordings>,
    options: &AuditOptions,
    referenced: &[ReferencedKey],
    now: DateTime<Utc>,
) -> Vec<CheckResult> {
    let mut unreferenced = CheckResult::new(Check::UnreferencedObjects);
    let mut missing = CheckResult::new(Check::MissingObjects);
    match recordings {
        Some(recordings) => match recordings.objects().await {
            Ok(objects) => {
                unreferenced_objects(ledger, options, &objects, now, &mut unreferenced).await;
                let listed: HashSet<&str> = objects.iter().map(|o| o.key.as_str()).collect();
                missing_objects(recordings, options, referenced, &listed, now, &mut missing).await;
            }
            Err(e) => {
                unreferenced.incomplete(&e);
                missing.incomplete(&e);
            }
        },
        // A deployment that records nothing: its sessions reference no key either.
        None => {
            missing.checked = referenced.len() as u64;
            missing
                .findings
                .extend(referenced.iter().map(|r| Finding::MissingObject {
                    user: r.user.clone(),
                    session: r.session,
                    key: r.key.clone(),
                }));
        }
    }
    vec![unreferenced, missing]
}

async fn unreferenced_objects(
    ledger: &DynamoLedger,
    options: &AuditOptions,
    objects: &[StoredObject],
    now: DateTime<Utc>,
    result: &mut CheckResult,
) {
    result.checked = objects.len() as u64;
    let old: Vec<_> = objects
        .iter()
        .filter(|o| now - o.last_modified >= options.settling_time)
        .filter(|o| !(o.key.starts_with(EXPORTS_PREFIX) && now - o.last_modified < EXPORT_MEMORY))
        .collect();
    for batch in old.chunks(REFERENCE_BATCH) {
        let keys: Vec<String> = batch.iter().map(|o| o.key.clone()).collect();
        let references = match ledger.recording_references(&keys).await {
            Ok(references) => references,
            Err(e) => {
                result.incomplete(&e);
                return;
            }
        };
        result.findings.extend(
            batch
                .iter()
                .filter(|o| !references.contains_key(&o.key))
                .map(|o| Finding::UnreferencedObject {
                    key: o.key.clone(),
                    written_at: o.last_modified,
                }),
        );
    }
}

async fn missing_objects(
    recordings: &Recordings,
    options: &AuditOptions,
    referenced: &[ReferencedKey],
    listed: &HashSet<&str>,
    now: DateTime<Utc>,
    result: &mut CheckResult,
) {
    result.checked = referenced.len() as u64;
    for reference in referenced {
        // The bucket's lifecycle expires recordings after the retention: gone as meant.
        let expired = options
            .recording_retention
            .is_some_and(|kept| now - reference.session_created_at >= kept);
        if expired || listed.contains(reference.key.as_str()) {
            continue;
        }
        // Written since the listing, perhaps: only a HEAD that finds nothing makes it missing.
        match recordings.exists(&reference.key).await {
            Ok(true) => {}
            Ok(false) => result.findings.push(Finding::MissingObject {
                user: reference.user.clone(),
                session: reference.session,
                key: reference.key.clone(),
            }),
            Err(e) => result.incomplete(&e),
        }
    }
}
