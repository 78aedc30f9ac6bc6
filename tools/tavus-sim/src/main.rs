//! `tavus-sim [--port N] [--api-key KEY]... [--speedup X] [--max-concurrent N]`
//!
//! Serves the Tavus simulator on 127.0.0.1 until stopped. `--port 0` picks a free port; the
//! address is printed on the first line of output.

use std::process::ExitCode;

use tavus_sim::SimConfig;

const USAGE: &str =
    "usage: tavus-sim [--port N] [--api-key KEY]... [--speedup X] [--max-concurrent N]";

fn parse(args: &[String]) -> Result<(SimConfig, u16), String> {
    let mut config = SimConfig {
        api_keys: Vec::new(),
        ..SimConfig::default()
    };
    let mut port = 4010;
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--port" => port = value.parse().map_err(|_| format!("bad port {value}"))?,
            "--api-key" => config.api_keys.push(value.clone()),
            "--speedup" => {
                config.speedup = value
                    .parse()
                    .ok()
                    .filter(|s: &f64| *s > 0.0)
                    .ok_or("speedup must be > 0")?
            }
            "--max-concurrent" => {
                config.max_concurrent = value.parse().map_err(|_| format!("bad number {value}"))?
            }
            other => return Err(format!("unknown flag {other}")),
        }
    }
    if config.api_keys.is_empty() {
        config.api_keys = SimConfig::default().api_keys;
    }
    Ok((config, port))
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt().json().with_target(false).init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (config, port) = match parse(&args) {
        Ok(parsed) => parsed,
        Err(e) => {
            eprintln!("tavus-sim: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let sim = match tavus_sim::start(config, port).await {
        Ok(sim) => sim,
        Err(e) => {
            eprintln!("tavus-sim: cannot listen on 127.0.0.1:{port}: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("tavus-sim listening on {}", sim.base_url());
    match tokio::signal::ctrl_c().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tavus-sim: {e}");
            ExitCode::FAILURE
        }
    }
}
