//! Development tokens: HS256 JWTs that `make token`, the local gateway (standing in for API
//! Gateway's JWT authorizer) and the tests sign and verify. Production tokens come from the
//! identity provider and are verified by API Gateway or [`super::identity`].

use std::collections::HashMap;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::Serialize;

use super::ApiError;
use crate::secrets::Secret;

/// Claims of a development token.
#[derive(Debug, Serialize)]
struct DevClaims<'a> {
    sub: &'a str,
    iss: &'a str,
    aud: &'a str,
    iat: i64,
    exp: i64,
}

/// Signs an HS256 token for local development and tests (`make token`).
pub fn sign_dev_token(
    secret: &Secret,
    user: &str,
    issuer: &str,
    audience: &str,
    ttl: chrono::Duration,
) -> Result<String, ApiError> {
    let now = chrono::Utc::now().timestamp();
    let claims = DevClaims {
        sub: user,
        iss: issuer,
        aud: audience,
        iat: now,
        exp: now + ttl.num_seconds(),
    };
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.expose().as_bytes()),
    )
    .map_err(|e| ApiError::invalid(format!("token: {e}")))
}

/// Verifies a development token as API Gateway's JWT authorizer would (signature, `exp`,
/// issuer, audience) and returns its claims as the authorizer passes them on: as strings.
pub fn verify_dev_token(
    secret: &Secret,
    token: &str,
    issuer: &str,
    audience: &str,
) -> Option<HashMap<String, String>> {
    let mut v = Validation::new(Algorithm::HS256);
    v.set_required_spec_claims(&["exp", "sub", "iss", "aud"]);
    v.set_issuer(&[issuer]);
    v.set_audience(&[audience]);
    let data = jsonwebtoken::decode::<HashMap<String, serde_json::Value>>(
        token,
        &DecodingKey::from_secret(secret.expose().as_bytes()),
        &v,
    )
    .ok()?;
    Some(
        data.claims
            .into_iter()
            .map(|(k, v)| {
                let text = match v {
                    serde_json::Value::String(s) => s,
                    other => other.to_string(),
                };
                (k, text)
            })
            .collect(),
    )
}
