//! `local-gateway serve` serves the API on 127.0.0.1; `local-gateway token USER` prints a dev
//! token. Settings come from the environment (`make dev` sets them; see scripts/dev.sh):
//! `GATEWAY_PORT` (3000), `FUNCTIONS_URL` (http://127.0.0.1:9000), `DEV_JWT_SECRET`,
//! `DEV_JWT_ISSUER` (awaknow-local), `DEV_JWT_AUDIENCE` (awaknow), `TEMPLATE` (template.yaml:
//! the routes, and the CORS settings of its HTTP API's `CorsConfiguration`), `CORS_ORIGIN` (the
//! allowed origins, comma-separated, instead of the template's; by default its
//! `CorsAllowOrigin` parameter's default), `GATEWAY_MAX_IN_FLIGHT` (invocations one function may
//! have in flight before the gateway answers 429; 48, and below the emulator's queue of 100).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use awaknow_core::api::dev_token::sign_dev_token;
use awaknow_core::secrets::Secret;
use local_gateway::cors::{self, CorsConfig};
use local_gateway::{GatewayConfig, limit, routes};

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_owned())
}

fn secret() -> Result<Secret, String> {
    let s = std::env::var("DEV_JWT_SECRET")
        .map_err(|_| "DEV_JWT_SECRET is not set (make dev writes one)".to_owned())?;
    if s.len() < 32 {
        return Err("DEV_JWT_SECRET must be at least 32 characters".into());
    }
    Ok(Secret::new(s))
}

fn max_in_flight() -> Result<usize, String> {
    let default = limit::DEFAULT_MAX_IN_FLIGHT.to_string();
    env_or("GATEWAY_MAX_IN_FLIGHT", &default)
        .parse::<usize>()
        .ok()
        .filter(|n| (1..100).contains(n))
        .ok_or_else(|| {
            "GATEWAY_MAX_IN_FLIGHT must be from 1 to 99 (the emulator queues at most 100 per function)"
                .to_owned()
        })
}

/// The template's CORS settings, with `CORS_ORIGIN`'s origins when it is set.
fn cors_config(template: &str) -> Result<Option<CorsConfig>, String> {
    let cors = cors::from_template_text(template).map_err(|e| e.to_string())?;
    let origins = std::env::var("CORS_ORIGIN").ok();
    Ok(match origins.filter(|o| !o.trim().is_empty()) {
        Some(origins) => cors.map(|c| c.with_origins(&origins)),
        None => cors,
    })
}

async fn run(args: &[String]) -> Result<(), String> {
    let issuer = env_or("DEV_JWT_ISSUER", "awaknow-local");
    let audience = env_or("DEV_JWT_AUDIENCE", "awaknow");
    match args.first().map(String::as_str) {
        Some("token") => {
            let user = args.get(1).ok_or("usage: local-gateway token USER")?;
            let token = sign_dev_token(
                &secret()?,
                user,
                &issuer,
                &audience,
                chrono::Duration::hours(12),
            )
            .map_err(|e| e.to_string())?;
            println!("{token}");
            Ok(())
        }
        Some("serve") => {
            let template = PathBuf::from(env_or("TEMPLATE", "template.yaml"));
            let template = routes::read_template(&template).map_err(|e| e.to_string())?;
            let config = GatewayConfig {
                routes: routes::from_template_text(&template).map_err(|e| e.to_string())?,
                functions_url: env_or("FUNCTIONS_URL", "http://127.0.0.1:9000"),
                jwt_secret: secret()?,
                jwt_issuer: issuer,
                jwt_audience: audience,
                cors: cors_config(&template)?,
                timeout: Duration::from_secs(30),
                max_in_flight: max_in_flight()?,
            };
            let port: u16 = env_or("GATEWAY_PORT", "3000")
                .parse()
                .map_err(|_| "GATEWAY_PORT must be a port number")?;
            let gateway = local_gateway::start(config, port)
                .await
                .map_err(|e| format!("cannot listen on 127.0.0.1:{port}: {e}"))?;
            println!("local-gateway listening on {}", gateway.base_url());
            tokio::signal::ctrl_c().await.map_err(|e| e.to_string())
        }
        _ => Err("usage: local-gateway serve | local-gateway token USER".into()),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt().json().with_target(false).init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("local-gateway: {e}");
            ExitCode::FAILURE
        }
    }
}
