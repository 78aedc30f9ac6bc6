//! The recordings bucket against the sessions' keys, both ways:
//! - objects no session references, written more than an hour ago (a recording's callback
//!   comes within minutes of the file): each object's reference item, written with the key on
//!   its session and removed with it, says whether a session holds it;
//! - keys a session of the checked accounts references that the bucket does not hold (seen
//!   missing from the listing, then confirmed by a HEAD of the key).
//!
//! The audit is the only reader that lists the bucket.

use std::collections::HashSet;

use chrono::{DateTime, Utc};

use super::accounts::ReferencedKey;
use super::{Audit, Check, CheckResult, Finding};
use crate::recording_bucket::Recordings;

/// Keys asked of the ledger at once.
const REFERENCE_BATCH: usize = 1_000;

pub(super) async fn check(
    audit: &Audit<'_>,
    referenced: &[ReferencedKey],
    now: DateTime<Utc>,
) -> Vec<CheckResult> {
    let mut unreferenced = CheckResult::new(Check::UnreferencedObjects);
    let mut missing = CheckResult::new(Check::MissingObjects);
    match audit.recordings {
        Some(recordings) => match recordings.objects().await {
            Ok(objects) => {
                unreferenced_objects(audit, &objects, now, &mut unreferenced).await;
                let listed: HashSet<&str> = objects.iter().map(|o| o.key.as_str()).collect();
                missing_objects(recordings, referenced, &listed, &mut missing).await;
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
    audit: &Audit<'_>,
    objects: &[crate::recording_bucket::StoredObject],
    now: DateTime<Utc>,
    result: &mut CheckResult,
) {
    result.checked = objects.len() as u64;
    let old: Vec<_> = objects
        .iter()
        .filter(|o| now - o.last_modified >= audit.options.settling_time)
        .collect();
    for batch in old.chunks(REFERENCE_BATCH) {
        let keys: Vec<String> = batch.iter().map(|o| o.key.clone()).collect();
        let references = match audit.ledger.recording_references(&keys).await {
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
    referenced: &[ReferencedKey],
    listed: &HashSet<&str>,
    result: &mut CheckResult,
) {
    result.checked = referenced.len() as u64;
    for reference in referenced {
        if listed.contains(reference.key.as_str()) {
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
