//! Lambda `sweep-sessions`: composition root. `SWEEP_GRACE_MINUTES` (default 10) is how long
//! past its reservation a session may stay open before it is swept;
//! `SWEEP_ORPHAN_MIN_AGE_SECONDS` (default 60) how old a conversation no session holds must be
//! before it is ended.

use std::sync::Arc;

use awaknow_core::build;
use awaknow_core::sweep::SweepOptions;
use lambda_runtime::{Error, run_concurrent, service_fn};
use sweep_sessions::{App, handle};

/// A whole number from the environment, or `default`.
fn whole_number(var: &str, default: i64) -> Result<i64, Error> {
    match std::env::var(var) {
        Ok(v) => v
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .ok_or_else(|| format!("{var} must be a whole, non-negative number").into()),
        Err(_) => Ok(default),
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    awaknow_core::telemetry::init_json_logs();
    let sdk = awaknow_core::aws::sdk_config().await;
    let secrets = build::secrets(&sdk)?;
    let tavus = build::tavus(&secrets)?;
    let options = SweepOptions {
        grace: chrono::Duration::minutes(whole_number("SWEEP_GRACE_MINUTES", 10)?),
        delete_after_call: tavus.delete_after_call(),
        orphan_min_age: chrono::Duration::seconds(whole_number(
            "SWEEP_ORPHAN_MIN_AGE_SECONDS",
            60,
        )?),
    };
    let app = App {
        ledger: build::ledger(&sdk)?,
        tavus,
        keys: secrets,
        options,
        recordings: build::recordings(&sdk)?,
    };
    let app = Arc::new(app);
    run_concurrent(service_fn(move |event| {
        let app = Arc::clone(&app);
        async move { handle(&app, event).await }
    }))
    .await
}
