//! `make chaos` (`SEED=`, `SESSIONS=`, `CONCURRENCY=`): runs the fault campaign against moto of a
//! running local stack (`MOTO_ENDPOINT`) and a DynamoDB Local of its own (started from the
//! stack's jars, `DDB_LOCAL_CLASSPATH`, so it can be killed and restarted), prints
//! the seed, the faults injected by kind and the reconciliation table, and exits 1 on any
//! difference.

use std::process::ExitCode;

use chaos::Config;
use test_support::CapturedLogs;

fn var(name: &str) -> Result<String, String> {
    std::env::var(name)
        .map_err(|_| format!("{name} is not set: run `make chaos`, which starts the local stack"))
}

fn number<T: std::str::FromStr>(name: &str, default: T) -> Result<T, String> {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v
            .trim()
            .parse()
            .map_err(|_| format!("{name}: a whole number, not {v:?}")),
        _ => Ok(default),
    }
}

fn config() -> Result<Config, String> {
    let random = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64 % 1_000_000_000)
        .unwrap_or(1);
    Ok(Config {
        seed: number("SEED", random)?,
        sessions: number("SESSIONS", 3000)?,
        concurrency: number("CONCURRENCY", 24)?,
        moto: var("MOTO_ENDPOINT")?,
    })
}

/// Ctrl-C or SIGTERM; never, if neither can be listened for.
async fn interrupted() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        () = terminate => {}
        () = ctrl_c => {}
    }
}

fn main() -> ExitCode {
    let config = match config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("chaos: {e}");
            return ExitCode::from(2);
        }
    };
    let logs = CapturedLogs::default();
    let writer = logs.clone();
    tracing_subscriber::fmt()
        .json()
        .with_writer(move || writer.clone())
        .init();
    println!(
        "chaos: seed {} with {} sessions (replay: make chaos SEED={} SESSIONS={})",
        config.seed, config.sessions, config.seed, config.sessions
    );
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("chaos: no runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let kept = logs.clone();
    // Interrupted (Ctrl-C, or a SIGTERM from make's caller), the campaign's future is dropped,
    // and with it the DynamoDB Local it started (its Drop kills it and removes its files).
    let outcome = runtime.block_on(async {
        tokio::select! {
            outcome = chaos::run(&config, logs) => Some(outcome),
            () = interrupted() => None,
        }
    });
    let Some(outcome) = outcome else {
        eprintln!("chaos: interrupted; nothing of the campaign is left running");
        drop(runtime);
        return ExitCode::from(130);
    };
    // What the code logged (ids, never a prompt or a note), to follow a difference found.
    if let Ok(path) = std::env::var("CHAOS_LOG_FILE")
        && let Err(e) = std::fs::write(&path, kept.text())
    {
        eprintln!("chaos: cannot write {path}: {e}");
    }
    let outcome = match outcome {
        Ok(o) => o,
        Err(e) => {
            eprintln!("chaos: the campaign could not run: {e}");
            return ExitCode::from(2);
        }
    };
    println!(
        "chaos: {} sessions created, {} erased, {} sweeps to quiet, {:.0} s",
        outcome.created, outcome.erased, outcome.sweeps, outcome.seconds
    );
    println!("\nfaults injected, by kind:");
    for (kind, count) in &outcome.faults {
        println!("  {kind:<48} {count:>6}");
    }
    for (what, value) in &outcome.values {
        println!("  {what:<48} {value:>6}");
    }
    println!("\n{}", outcome.table.render());
    let mut differences = outcome.table.differences();
    if let Some(gateway) = &outcome.gateway {
        let killed = gateway.killed.as_ref().map_or_else(
            || "no function process killed".to_string(),
            |(name, took)| {
                format!(
                    "{name} killed, answering again after {:.1} s",
                    took.as_secs_f64()
                )
            },
        );
        println!(
            "through the local gateway and cargo lambda watch: {} sessions, {} created; {killed}\n\n{}",
            gateway.sessions,
            gateway.created,
            gateway.table.render()
        );
        differences += gateway.table.differences();
    }
    if differences == 0 {
        println!(
            "chaos: the books reconcile: 0 differences (seed {})",
            config.seed
        );
        ExitCode::SUCCESS
    } else {
        println!(
            "chaos: {differences} difference(s) (replay: make chaos SEED={} SESSIONS={})",
            config.seed, config.sessions
        );
        ExitCode::from(1)
    }
}
