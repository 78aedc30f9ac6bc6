//! Quieting a phase down after its faults: every call still running at the simulator ends, the
//! callbacks arrive (and the receiver's held-back ones are handled), and the sweeper runs, each
//! run a day after the last, until one finds nothing to do.

use std::time::{Duration, Instant};

use awaknow_core::recording_bucket::Recordings;
use awaknow_core::service::{erase, sweep};
use awaknow_core::store::DynamoLedger;
use awaknow_core::tavus::Tavus;
use serde_json::Value;

use crate::callbacks;

/// Every call still running ends now, as its people leave.
pub(crate) async fn end_every_call(base: &str, api_key: &str) -> Result<(), String> {
    let http = reqwest::Client::new();
    loop {
        let page: Value = http
            .get(format!(
                "{base}/v2/conversations?status=active&limit=100&page=1"
            ))
            .header("x-api-key", api_key)
            .send()
            .await
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        let ids: Vec<String> = page["data"]
            .as_array()
            .map(|d| {
                d.iter()
                    .filter_map(|c| c["conversation_id"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        if ids.is_empty() {
            return Ok(());
        }
        for id in ids {
            let _ = http
                .post(format!("{base}/v2/conversations/{id}/end"))
                .header("x-api-key", api_key)
                .send()
                .await;
        }
    }
}

/// The simulator's callbacks (and its retries) arrive; the held-back ones are handled.
pub(crate) async fn settle_down(receiver: Option<&callbacks::Receiver>) {
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_secs(2)).await;
        if let Some(receiver) = receiver {
            receiver.drain().await;
        }
    }
}

/// What the sweeps that quiet a phase down work on.
pub(crate) struct Quiet<'a> {
    pub(crate) ledger: &'a DynamoLedger,
    pub(crate) tavus: &'a Tavus,
    pub(crate) recordings: Option<&'a Recordings>,
    /// The phase's clock shift.
    pub(crate) offset: chrono::Duration,
    /// The phase's own callback receiver (`None`: callbacks go to the functions).
    pub(crate) receiver: Option<&'a callbacks::Receiver>,
}

/// Sweeps until one finds nothing to do.
pub(crate) async fn sweep_until_clean(quiet: &Quiet<'_>) -> Result<usize, String> {
    let options = sweep::SweepOptions {
        orphan_min_age: chrono::Duration::zero(),
        ..sweep::SweepOptions::default()
    };
    for n in 1..=8u32 {
        // Each sweep a day after the last, as if the schedule had run meanwhile: what one sweep
        // leaves due "now" (a copy to delete) the next finds.
        let later = chrono::Utc::now() + quiet.offset + chrono::Duration::days(i64::from(n));
        let deadline = Instant::now() + Duration::from_secs(240);
        let report = sweep::sweep(
            quiet.ledger,
            quiet.tavus,
            quiet.tavus.secrets(),
            options,
            later,
            deadline,
        )
        .await;
        let erasures =
            erase::finish_erasures(quiet.ledger, quiet.recordings, later, deadline).await;
        eprintln!(
            "chaos: sweep {n}: found {}, released {}, settled {} from Tavus and {} in full, {} copies deleted, {} orphans ended, {} deleted, {} failed",
            report.found,
            report.released,
            report.settled_from_tavus,
            report.settled_in_full,
            report.tavus_copies_deleted,
            report.orphans_ended,
            report.orphans_deleted,
            report.failed + erasures.failed
        );
        settle_down(quiet.receiver).await;
        let idle = report.found == 0
            && report.orphans_ended + report.orphans_deleted == 0
            && report.failed + erasures.failed + erasures.finished == 0;
        if idle {
            return Ok(n as usize);
        }
    }
    Err("the sweeper still finds work after 8 sweeps".into())
}
