//! `tavus-sim [--port N] [--api-key KEY]... [--speedup X] [--max-concurrent N]
//! [--transcript-shape classic|extended] [--test-mode-url room|none] [--require-replica BOOL]`
//!
//! Serves the Tavus simulator on 127.0.0.1 until stopped. `--port 0` picks a free port; the
//! address is printed on the first line of output. `--help` lists the flags and endpoints; the
//! crate documentation (`src/lib.rs`) describes every behaviour in detail.

use std::process::ExitCode;

use tavus_sim::SimConfig;

const USAGE: &str =
    "usage: tavus-sim [--port N] [--api-key KEY]... [--speedup X] [--max-concurrent N]
                 [--transcript-shape classic|extended] [--test-mode-url room|none]
                 [--require-replica true|false] [--recording-shape legacy|storage]
                 [--s3-endpoint URL]";

const HELP: &str = "
A local Tavus CVI simulator on 127.0.0.1 (see tools/tavus-sim/src/lib.rs for every detail).

Flags:
  --port N                 port to listen on (default 4010; 0 picks a free one)
  --api-key KEY            a key accepted in x-api-key; repeat for several (default sim-key)
  --speedup X              simulated seconds per real second for every timer (default 1)
  --max-concurrent N       active calls before the concurrency 400 (default 100)
  --transcript-shape S     classic: turns are {role, content}; extended (default): spoken
                           turns add timestamp, seconds_from_start, duration, inference_id
  --test-mode-url U        room (default): test_mode creates carry a conversation_url;
                           none: the key is left out of their answers
  --require-replica B      true: a create naming neither persona_id/pal_id nor
                           replica_id/face_id gets 400 (default false)
  --recording-shape S      legacy (default): recording_ready carries bucket_name, s3_key,
                           duration; storage: storage_provider, storage_uri
  --s3-endpoint URL        where a recorded call's file is written (path style, unsigned PUT,
                           e.g. the local moto server); without it the copy fails

Tavus API (x-api-key): POST /v2/conversations, GET /v2/conversations[?limit&page&status],
  GET /v2/conversations/{id}[?verbose=true], POST /v2/conversations/{id}/end,
  DELETE /v2/conversations/{id}[?hard=true]. Calls end by themselves at
  properties.max_call_duration (default 3600 s) and, if nobody joined, at
  properties.participant_absent_timeout (default 300 s), both sped up by --speedup.

Control (no key):
  POST /_sim/conversations/{id}/end   {duration_seconds, shutdown_reason?, shutdown_event?,
                                       transcript?, transcript_shape?, turns?, extra_turns?,
                                       recorded?, recording_shape?}
  POST /_sim/conversations/{id}/join  {url}: a person opens url (204, or 403/404/410)
  GET  /_sim/conversations/{id}       everything the simulator knows about the call
  POST /_sim/faults                   {when_body_contains?, fail_next?, fail_status?,
                                       latency_ms?, at_capacity_next?, create_then_fail_next?,
                                       create_then_hang_next?, hang_ms?}
  GET|POST /_sim/config               {transcript_shape?, test_mode_url?, require_replica?,
                                       recording_shape?}
  POST /_sim/keys {api_keys}, GET /_sim/stats, POST /_sim/reset, GET /_sim/health
";

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
            "--transcript-shape" => config.transcript_shape = value.parse()?,
            "--test-mode-url" => config.test_mode_url = value.parse()?,
            "--require-replica" => {
                config.require_replica = value
                    .parse()
                    .map_err(|_| format!("--require-replica must be true or false, not {value}"))?
            }
            "--recording-shape" => config.recording_shape = value.parse()?,
            "--s3-endpoint" => config.s3_endpoint = Some(value.trim_end_matches('/').to_owned()),
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
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}\n{HELP}");
        return ExitCode::SUCCESS;
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use tavus_sim::{TestModeUrl, TranscriptShape};

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn defaults_match_the_documentation() {
        let (config, port) = parse(&[]).unwrap();
        assert_eq!(port, 4010);
        assert_eq!(config.api_keys, ["sim-key"]);
        assert_eq!(config.speedup, 1.0);
        assert_eq!(config.max_concurrent, 100);
        assert_eq!(config.transcript_shape, TranscriptShape::Extended);
        assert_eq!(config.test_mode_url, TestModeUrl::Room);
        assert!(!config.require_replica);
    }

    #[test]
    fn every_flag_is_read() {
        let (config, port) = parse(&args(&[
            "--port",
            "0",
            "--api-key",
            "a",
            "--api-key",
            "b",
            "--speedup",
            "60",
            "--max-concurrent",
            "3",
            "--transcript-shape",
            "classic",
            "--test-mode-url",
            "none",
            "--require-replica",
            "true",
            "--recording-shape",
            "storage",
            "--s3-endpoint",
            "http://127.0.0.1:5050/",
        ]))
        .unwrap();
        assert_eq!(port, 0);
        assert_eq!(config.api_keys, ["a", "b"]);
        assert_eq!(config.speedup, 60.0);
        assert_eq!(config.max_concurrent, 3);
        assert_eq!(config.transcript_shape, TranscriptShape::Classic);
        assert_eq!(config.test_mode_url, TestModeUrl::None);
        assert!(config.require_replica);
        assert_eq!(config.recording_shape, tavus_sim::RecordingShape::Storage);
        assert_eq!(config.s3_endpoint.as_deref(), Some("http://127.0.0.1:5050"));
    }

    #[test]
    fn bad_values_are_refused() {
        for bad in [
            &["--transcript-shape", "fancy"][..],
            &["--test-mode-url", "blank"],
            &["--require-replica", "yes"],
            &["--recording-shape", "new"],
            &["--speedup", "0"],
            &["--speedup"],
            &["--colour", "red"],
        ] {
            assert!(parse(&args(bad)).is_err(), "{bad:?}");
        }
    }
}
