//! Who is asking (DESIGN.md section 7). In production API Gateway's JWT authorizer verifies the
//! token and the function reads the `sub` claim from the request context. The function can also
//! verify tokens itself (HS256 shared secret, or RS256/ES256 from a JWKS URL), chosen by
//! configuration. Whatever the mode, a request with no verified identity gets 401.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use super::ApiError;
use crate::domain::UserId;
use crate::secrets::Secret;

/// How identities are established.
#[derive(Debug, Clone)]
pub enum AuthMode {
    /// API Gateway's JWT authorizer verified the token; trust its `sub` claim.
    Authorizer,
    /// Verify HS256 tokens with a shared secret (e.g. Supabase's legacy JWT secret).
    Hs256 {
        secret: Secret,
        issuer: Option<String>,
        audience: Option<String>,
    },
    /// Verify RS256/ES256 tokens with the keys published at a JWKS URL.
    Jwks {
        url: String,
        issuer: Option<String>,
        audience: Option<String>,
    },
}

#[derive(Debug, thiserror::Error)]
#[error("environment variable {var}: {reason}")]
pub struct AuthConfigError {
    pub var: &'static str,
    pub reason: &'static str,
}

impl AuthMode {
    /// `AUTH_MODE` = `authorizer` (default), `hs256` (needs `JWT_HS256_SECRET`) or `jwks` (needs
    /// `JWT_JWKS_URL`); `JWT_ISSUER` and `JWT_AUDIENCE` are checked when set.
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<AuthMode, AuthConfigError> {
        let get = |var: &str| {
            lookup(var)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let issuer = get("JWT_ISSUER");
        let audience = get("JWT_AUDIENCE");
        match get("AUTH_MODE").as_deref() {
            None | Some("authorizer") => Ok(AuthMode::Authorizer),
            Some("hs256") => {
                let secret = get("JWT_HS256_SECRET").ok_or(AuthConfigError {
                    var: "JWT_HS256_SECRET",
                    reason: "required when AUTH_MODE=hs256",
                })?;
                if secret.len() < 32 {
                    return Err(AuthConfigError {
                        var: "JWT_HS256_SECRET",
                        reason: "must be at least 32 characters",
                    });
                }
                Ok(AuthMode::Hs256 {
                    secret: Secret::new(secret),
                    issuer,
                    audience,
                })
            }
            Some("jwks") => {
                let url = get("JWT_JWKS_URL").ok_or(AuthConfigError {
                    var: "JWT_JWKS_URL",
                    reason: "required when AUTH_MODE=jwks",
                })?;
                Ok(AuthMode::Jwks {
                    url,
                    issuer,
                    audience,
                })
            }
            Some(_) => Err(AuthConfigError {
                var: "AUTH_MODE",
                reason: "must be authorizer, hs256 or jwks",
            }),
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
}

/// How long fetched JWKS keys are trusted before they are fetched again.
const JWKS_TTL: Duration = Duration::from_secs(3600);

/// Establishes the caller's user id. Built once per execution environment.
pub struct Authenticator {
    mode: AuthMode,
    /// Only the JWKS mode fetches anything: its HTTP client (and the TLS roots it loads) is built
    /// when the first key is needed, so the other modes pay nothing for it at start-up.
    http: std::sync::OnceLock<reqwest::Client>,
    jwks: Mutex<Option<(Instant, JwkSet)>>,
}

impl Authenticator {
    pub fn new(mode: AuthMode) -> Authenticator {
        Authenticator {
            mode,
            http: std::sync::OnceLock::new(),
            jwks: Mutex::new(None),
        }
    }

    /// The verified user: from the authorizer's claims, or from the bearer token.
    pub async fn user(
        &self,
        authorizer_claims: Option<&HashMap<String, String>>,
        authorization: Option<&str>,
    ) -> Result<UserId, ApiError> {
        match &self.mode {
            AuthMode::Authorizer => {
                let sub = authorizer_claims
                    .and_then(|c| c.get("sub"))
                    .ok_or(ApiError::Unauthenticated)?;
                UserId::parse(sub).map_err(|_| ApiError::Unauthenticated)
            }
            AuthMode::Hs256 {
                secret,
                issuer,
                audience,
            } => {
                let token = bearer(authorization)?;
                let key = DecodingKey::from_secret(secret.expose().as_bytes());
                decode_sub(token, &key, validation(Algorithm::HS256, issuer, audience))
            }
            AuthMode::Jwks {
                url,
                issuer,
                audience,
            } => {
                let token = bearer(authorization)?;
                let header =
                    jsonwebtoken::decode_header(token).map_err(|_| ApiError::Unauthenticated)?;
                if !matches!(header.alg, Algorithm::RS256 | Algorithm::ES256) {
                    return Err(ApiError::Unauthenticated);
                }
                let kid = header.kid.ok_or(ApiError::Unauthenticated)?;
                let key = self.jwks_key(url, &kid).await?;
                decode_sub(token, &key, validation(header.alg, issuer, audience))
            }
        }
    }

    async fn jwks_key(&self, url: &str, kid: &str) -> Result<DecodingKey, ApiError> {
        let mut cached = self.jwks.lock().await;
        let fresh = cached
            .as_ref()
            .is_some_and(|(at, _)| at.elapsed() < JWKS_TTL);
        let known = cached.as_ref().and_then(|(_, set)| set.find(kid)).is_some();
        // Fetch when the cache is old, or when a key id is new (the issuer rotated its keys).
        if !fresh || !known {
            let set: JwkSet = self
                .http
                .get_or_init(reqwest::Client::new)
                .get(url)
                .timeout(Duration::from_secs(3))
                .send()
                .await
                .and_then(|r| r.error_for_status())
                .map_err(|e| ApiError::DependencyUnavailable(format!("JWKS: {}", e.without_url())))?
                .json()
                .await
                .map_err(|e| {
                    ApiError::DependencyUnavailable(format!("JWKS: {}", e.without_url()))
                })?;
            *cached = Some((Instant::now(), set));
        }
        let jwk = cached
            .as_ref()
            .and_then(|(_, set)| set.find(kid))
            .ok_or(ApiError::Unauthenticated)?;
        DecodingKey::from_jwk(jwk).map_err(|_| ApiError::Unauthenticated)
    }
}

fn bearer(authorization: Option<&str>) -> Result<&str, ApiError> {
    let value = authorization.ok_or(ApiError::Unauthenticated)?;
    let (scheme, token) = value.split_once(' ').ok_or(ApiError::Unauthenticated)?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(ApiError::Unauthenticated);
    }
    Ok(token.trim())
}

fn validation(alg: Algorithm, issuer: &Option<String>, audience: &Option<String>) -> Validation {
    let mut v = Validation::new(alg);
    v.set_required_spec_claims(&["exp", "sub"]);
    match issuer {
        Some(iss) => v.set_issuer(&[iss]),
        None => v.iss = None,
    }
    match audience {
        Some(aud) => v.set_audience(&[aud]),
        None => v.validate_aud = false,
    }
    v
}

fn decode_sub(token: &str, key: &DecodingKey, validation: Validation) -> Result<UserId, ApiError> {
    let data = jsonwebtoken::decode::<Claims>(token, key, &validation)
        .map_err(|_| ApiError::Unauthenticated)?;
    UserId::parse(&data.claims.sub).map_err(|_| ApiError::Unauthenticated)
}

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

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> Secret {
        Secret::new("dev-secret-dev-secret-dev-secret-42")
    }

    fn hs256() -> Authenticator {
        Authenticator::new(AuthMode::Hs256 {
            secret: secret(),
            issuer: Some("awaknow-dev".into()),
            audience: Some("awaknow".into()),
        })
    }

    #[tokio::test]
    async fn the_authorizer_mode_reads_sub_and_refuses_without_it() {
        let auth = Authenticator::new(AuthMode::Authorizer);
        let claims = HashMap::from([("sub".to_owned(), "user-1".to_owned())]);
        assert_eq!(
            auth.user(Some(&claims), None).await.unwrap().as_str(),
            "user-1"
        );
        assert!(matches!(
            auth.user(None, Some("Bearer x")).await,
            Err(ApiError::Unauthenticated)
        ));
        assert!(matches!(
            auth.user(Some(&HashMap::new()), None).await,
            Err(ApiError::Unauthenticated)
        ));
    }

    #[tokio::test]
    async fn hs256_tokens_are_verified() {
        let token = sign_dev_token(
            &secret(),
            "user-2",
            "awaknow-dev",
            "awaknow",
            chrono::Duration::minutes(5),
        )
        .unwrap();
        let auth = hs256();
        assert_eq!(
            auth.user(None, Some(&format!("Bearer {token}")))
                .await
                .unwrap()
                .as_str(),
            "user-2"
        );
        let other_key = sign_dev_token(
            &Secret::new("x".repeat(40)),
            "user-2",
            "awaknow-dev",
            "awaknow",
            chrono::Duration::minutes(5),
        )
        .unwrap();
        let wrong_aud = sign_dev_token(
            &secret(),
            "user-2",
            "awaknow-dev",
            "other",
            chrono::Duration::minutes(5),
        )
        .unwrap();
        let expired = sign_dev_token(
            &secret(),
            "user-2",
            "awaknow-dev",
            "awaknow",
            chrono::Duration::minutes(-5),
        )
        .unwrap();
        for bad in [
            format!("Bearer {other_key}"),
            format!("Bearer {wrong_aud}"),
            format!("Bearer {expired}"),
            token.clone(),
            "Bearer".into(),
            "Basic abc".into(),
        ] {
            assert!(
                matches!(
                    auth.user(None, Some(&bad)).await,
                    Err(ApiError::Unauthenticated)
                ),
                "{bad}"
            );
        }
        assert!(matches!(
            auth.user(None, None).await,
            Err(ApiError::Unauthenticated)
        ));
    }

    #[test]
    fn dev_tokens_verify_like_the_authorizer() {
        let token = sign_dev_token(
            &secret(),
            "user-3",
            "awaknow-dev",
            "awaknow",
            chrono::Duration::minutes(5),
        )
        .unwrap();
        let claims = verify_dev_token(&secret(), &token, "awaknow-dev", "awaknow").unwrap();
        assert_eq!(claims["sub"], "user-3");
        assert!(
            claims["exp"].parse::<i64>().is_ok(),
            "claims are strings, as API Gateway passes them"
        );
        assert!(verify_dev_token(&secret(), &token, "awaknow-dev", "elsewhere").is_none());
    }

    #[test]
    fn modes_come_from_configuration() {
        let mode = AuthMode::from_lookup(|v| match v {
            "AUTH_MODE" => Some("hs256".into()),
            "JWT_HS256_SECRET" => Some("short".into()),
            _ => None,
        });
        assert!(mode.is_err());
        assert!(matches!(
            AuthMode::from_lookup(|_| None).unwrap(),
            AuthMode::Authorizer
        ));
        assert!(AuthMode::from_lookup(|v| (v == "AUTH_MODE").then(|| "magic".into())).is_err());
    }
}
