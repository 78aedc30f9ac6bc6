//! Notices a local stack that stopped answering, so a harness fails within a minute with a
//! message that names the part at fault, instead of waiting out every request's timeout.
//!
//! A probe is a trivial request through the gateway to a function (`GET /usage` with a dev
//! token). Any HTTP answer counts, a 429 or a 5xx included: the stack answered. A probe that
//! times out or cannot connect is a miss; after `misses_allowed` misses in a row the watchdog
//! asks the gateway alone (an unknown path, which it answers itself) to tell a frozen gateway
//! from frozen functions, prints which one and where its log is, and ends the process.

use std::path::PathBuf;
use std::time::Duration;

use awaknow_core::api::dev_token::sign_dev_token;
use awaknow_core::secrets::Secret;

#[derive(Debug, Clone)]
pub struct Watchdog {
    /// The gateway, e.g. `http://127.0.0.1:3000`.
    pub gateway_url: String,
    /// The gateway's dev-token secret, to sign the probe's token.
    pub jwt_secret: Secret,
    /// Where the stack's logs are (`.local/<env>`), for the message.
    pub log_dir: PathBuf,
    pub interval: Duration,
    pub probe_timeout: Duration,
    pub misses_allowed: u32,
}

impl Watchdog {
    /// Probes every 5 s, each with 10 s to answer; three misses in a row end the process, so a
    /// frozen stack is reported within about 45 s.
    pub fn new(gateway_url: String, jwt_secret: Secret, log_dir: PathBuf) -> Watchdog {
        Watchdog {
            gateway_url,
            jwt_secret,
            log_dir,
            interval: Duration::from_secs(5),
            probe_timeout: Duration::from_secs(10),
            misses_allowed: 3,
        }
    }

    /// From the variables `make test` and `make bench` export (`GATEWAY_URL`, `DEV_JWT_SECRET`,
    /// `LOG_DIR`); `None` when they are not all set.
    pub fn from_env() -> Option<Watchdog> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        Some(Watchdog::new(
            var("GATEWAY_URL")?,
            Secret::new(var("DEV_JWT_SECRET")?),
            PathBuf::from(var("LOG_DIR")?),
        ))
    }

    /// Watches on a thread of its own, so that it works beside any runtime, and keeps watching
    /// until the process ends.
    pub fn spawn(self, who: &'static str) -> std::io::Result<()> {
        std::thread::Builder::new()
            .name("stack-watchdog".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(e) => {
                        eprintln!("{who}: the stack watchdog could not start: {e}");
                        return;
                    }
                };
                let verdict = runtime.block_on(self.watch());
                eprintln!("\n{who}: {verdict}\n");
                std::process::exit(3);
            })
            .map(|_| ())
    }

    /// Returns, with its diagnosis, only once the stack has stopped answering.
    pub async fn watch(&self) -> String {
        let http = reqwest::Client::new();
        let mut misses = 0;
        loop {
            if self.probe_function(&http).await {
                misses = 0;
            } else {
                misses += 1;
                if misses >= self.misses_allowed {
                    return self.diagnose(&http).await;
                }
            }
            tokio::time::sleep(self.interval).await;
        }
    }

    /// True when a function answered through the gateway, whatever it answered.
    async fn probe_function(&self, http: &reqwest::Client) -> bool {
        let Ok(token) = sign_dev_token(
            &self.jwt_secret,
            "stack-watchdog",
            "awaknow-local",
            "awaknow",
            chrono::Duration::minutes(5),
        ) else {
            return true;
        };
        let answer = http
            .get(format!("{}/usage", self.gateway_url))
            .bearer_auth(token)
            .timeout(self.probe_timeout)
            .send()
            .await;
        match answer {
            // The gateway's own 503 (plain JSON, not a function's problem details) means it
            // gave up waiting for the function: no answer either.
            Ok(r) => {
                r.status().as_u16() != 503
                    || r.headers()
                        .get("content-type")
                        .is_some_and(|v| v.as_bytes() == b"application/problem+json")
            }
            Err(_) => false,
        }
    }

    async fn diagnose(&self, http: &reqwest::Client) -> String {
        let gateway_alone = http
            .get(format!("{}/_watchdog/not-a-route", self.gateway_url))
            .timeout(self.probe_timeout)
            .send()
            .await
            .is_ok();
        let secs = (self.probe_timeout * self.misses_allowed).as_secs();
        let (component, log) = if gateway_alone {
            (
                "the functions under `cargo lambda watch`",
                self.log_dir.join("functions.log"),
            )
        } else {
            ("the local gateway", self.log_dir.join("gateway.log"))
        };
        format!(
            "the local stack stopped answering: {component} did not answer {} probes in a row \
             (about {secs} s); see {}. Stop it with `make dev-down` (or end this run) and start again.",
            self.misses_allowed,
            log.display()
        )
    }
}
