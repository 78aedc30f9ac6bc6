//! Who is asking. In production API Gateway's JWT authorizer verifies the
//! token and the function reads the `sub` claim from the request context. The function can also
//! verify tokens itself (HS256 shared secret, or RS256/ES256 from a JWKS URL), chosen by
//! configuration; then the issuer and the audience are required settings, because a signature
//! alone does not say the token was minted for this API. Whatever the mode, a request with no
//! verified identity gets 401.

use std::collections::HashMap;
use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};

use super::ApiError;
use super::jwks::{JwksCache, JwksError, JwksSettings};
use crate::domain::UserId;
use crate::secrets::Secret;
use crate::service::ServiceError;

/// How identities are established.
#[derive(Debug, Clone)]
pub enum AuthMode {
    /// API Gateway's JWT authorizer verified the token; trust its `sub` claim.
    Authorizer,
    /// Verify HS256 tokens with a shared secret (e.g. Supabase's legacy JWT secret).
    Hs256 {
        secret: Secret,
        issuer: String,
        audience: String,
    },
    /// Verify RS256/ES256 tokens with the keys published at a JWKS URL.
    Jwks {
        url: String,
        issuer: String,
        audience: String,
        settings: JwksSettings,
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
    /// `JWT_JWKS_URL`; `JWT_JWKS_CACHE_SECONDS` and `JWT_JWKS_REFETCH_SECONDS` tune its cache).
    /// Both verifying modes need `JWT_ISSUER` and `JWT_AUDIENCE`: without them a token signed
    /// with the same key for another app or audience (Supabase signs every project's tokens
    /// of one secret alike) would be accepted.
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<AuthMode, AuthConfigError> {
        let get = |var: &str| {
            lookup(var)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let mode = get("AUTH_MODE");
        if matches!(mode.as_deref(), None | Some("authorizer")) {
            return Ok(AuthMode::Authorizer);
        }
        if !matches!(mode.as_deref(), Some("hs256" | "jwks")) {
            return Err(AuthConfigError {
                var: "AUTH_MODE",
                reason: "must be authorizer, hs256 or jwks",
            });
        }
        let (Some(issuer), Some(audience)) = (get("JWT_ISSUER"), get("JWT_AUDIENCE")) else {
            return Err(AuthConfigError {
                var: "JWT_ISSUER and JWT_AUDIENCE",
                reason: "both are required when AUTH_MODE is hs256 or jwks (the issuer and \
                         audience every accepted token must carry)",
            });
        };
        if mode.as_deref() == Some("hs256") {
            hs256(&get, issuer, audience)
        } else {
            jwks(&get, issuer, audience)
        }
    }
}

fn hs256(
    get: &impl Fn(&str) -> Option<String>,
    issuer: String,
    audience: String,
) -> Result<AuthMode, AuthConfigError> {
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

fn jwks(
    get: &impl Fn(&str) -> Option<String>,
    issuer: String,
    audience: String,
) -> Result<AuthMode, AuthConfigError> {
    let url = get("JWT_JWKS_URL").ok_or(AuthConfigError {
        var: "JWT_JWKS_URL",
        reason: "required when AUTH_MODE=jwks",
    })?;
    let seconds = |var: &'static str, default: Duration| match get(var) {
        None => Ok(default),
        Some(v) => v
            .parse::<u64>()
            .map(Duration::from_secs)
            .map_err(|_| AuthConfigError {
                var,
                reason: "must be whole seconds",
            }),
    };
    let defaults = JwksSettings::default();
    let settings = JwksSettings {
        default_ttl: seconds("JWT_JWKS_CACHE_SECONDS", defaults.default_ttl)?,
        refetch_interval: seconds("JWT_JWKS_REFETCH_SECONDS", defaults.refetch_interval)?,
        ..defaults
    };
    Ok(AuthMode::Jwks {
        url,
        issuer,
        audience,
        settings,
    })
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
}

/// Establishes the caller's user id. Built once per execution environment.
pub struct Authenticator {
    mode: AuthMode,
    /// The JWKS mode's key cache (and, from its first fetch, its HTTP client); the other modes
    /// build neither.
    jwks: Option<JwksCache>,
}

impl Authenticator {
    pub fn new(mode: AuthMode) -> Authenticator {
        let jwks = match &mode {
            AuthMode::Jwks { url, settings, .. } => {
                Some(JwksCache::new(url.clone(), settings.clone()))
            }
            AuthMode::Authorizer | AuthMode::Hs256 { .. } => None,
        };
        Authenticator { mode, jwks }
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
                issuer, audience, ..
            } => {
                let token = bearer(authorization)?;
                let header =
                    jsonwebtoken::decode_header(token).map_err(|_| ApiError::Unauthenticated)?;
                if !matches!(header.alg, Algorithm::RS256 | Algorithm::ES256) {
                    return Err(ApiError::Unauthenticated);
                }
                let kid = header.kid.ok_or(ApiError::Unauthenticated)?;
                let cache = self.jwks.as_ref().ok_or(ApiError::Unauthenticated)?;
                let key = cache.key(&kid).await.map_err(|e| match e {
                    JwksError::UnknownKey => ApiError::Unauthenticated,
                    JwksError::Unavailable(why) => ApiError::Service(
                        ServiceError::DependencyUnavailable(format!("JWKS: {why}")),
                    ),
                })?;
                decode_sub(token, &key, validation(header.alg, issuer, audience))
            }
        }
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

fn validation(alg: Algorithm, issuer: &str, audience: &str) -> Validation {
    let mut v = Validation::new(alg);
    v.set_required_spec_claims(&["exp", "sub", "iss", "aud"]);
    v.set_issuer(&[issuer]);
    v.set_audience(&[audience]);
    v
}

fn decode_sub(token: &str, key: &DecodingKey, validation: Validation) -> Result<UserId, ApiError> {
    let data = jsonwebtoken::decode::<Claims>(token, key, &validation)
        .map_err(|_| ApiError::Unauthenticated)?;
    UserId::parse(&data.claims.sub).map_err(|_| ApiError::Unauthenticated)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::dev_token::{sign_dev_token, verify_dev_token};
    use jsonwebtoken::{EncodingKey, Header};

    fn secret() -> Secret {
        Secret::new("dev-secret-dev-secret-dev-secret-42")
    }

    fn hs256() -> Authenticator {
        Authenticator::new(AuthMode::Hs256 {
            secret: secret(),
            issuer: "awaknow-dev".into(),
            audience: "awaknow".into(),
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
        let wrong_iss = sign_dev_token(
            &secret(),
            "user-2",
            "someone-else",
            "awaknow",
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
        // Signed with the right key but naming no issuer or audience at all.
        let unbound = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &serde_json::json!({ "sub": "user-2", "exp": chrono::Utc::now().timestamp() + 300 }),
            &EncodingKey::from_secret(secret().expose().as_bytes()),
        )
        .unwrap();
        for bad in [
            format!("Bearer {other_key}"),
            format!("Bearer {wrong_aud}"),
            format!("Bearer {wrong_iss}"),
            format!("Bearer {unbound}"),
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

    fn lookup<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn verifying_modes_refuse_to_start_without_issuer_and_audience() {
        let hs256 = ("JWT_HS256_SECRET", "dev-secret-dev-secret-dev-secret-42");
        let jwks = (
            "JWT_JWKS_URL",
            "https://issuer.example/.well-known/jwks.json",
        );
        for (mode, needs) in [("hs256", hs256), ("jwks", jwks)] {
            for bound in [
                vec![],
                vec![("JWT_ISSUER", "https://issuer.example")],
                vec![("JWT_AUDIENCE", "awaknow")],
                vec![("JWT_ISSUER", "  "), ("JWT_AUDIENCE", "awaknow")],
            ] {
                let mut vars = vec![("AUTH_MODE", mode), needs];
                vars.extend(bound.iter().copied());
                let err = AuthMode::from_lookup(lookup(&vars)).unwrap_err();
                let message = err.to_string();
                assert!(
                    message.contains("JWT_ISSUER") && message.contains("JWT_AUDIENCE"),
                    "{mode} with {bound:?}: {message}"
                );
            }
            let mut vars = vec![("AUTH_MODE", mode), needs];
            vars.extend([
                ("JWT_ISSUER", "https://issuer.example"),
                ("JWT_AUDIENCE", "awaknow"),
            ]);
            assert!(AuthMode::from_lookup(lookup(&vars)).is_ok(), "{mode}");
        }
        // API Gateway's authorizer checks both itself (template.yaml requires them).
        assert!(matches!(
            AuthMode::from_lookup(lookup(&[("AUTH_MODE", "authorizer")])).unwrap(),
            AuthMode::Authorizer
        ));
    }

    #[test]
    fn the_jwks_cache_is_tuned_by_configuration() {
        let vars = [
            ("AUTH_MODE", "jwks"),
            ("JWT_JWKS_URL", "https://issuer.example/jwks"),
            ("JWT_ISSUER", "https://issuer.example"),
            ("JWT_AUDIENCE", "awaknow"),
            ("JWT_JWKS_REFETCH_SECONDS", "120"),
        ];
        let Ok(AuthMode::Jwks { settings, .. }) = AuthMode::from_lookup(lookup(&vars)) else {
            panic!("jwks mode expected");
        };
        assert_eq!(settings.refetch_interval, Duration::from_secs(120));
        assert_eq!(
            settings.default_ttl,
            Duration::from_secs(600),
            "ten minutes"
        );
        let mut bad = vars.to_vec();
        bad.push(("JWT_JWKS_CACHE_SECONDS", "ten"));
        assert!(AuthMode::from_lookup(lookup(&bad)).is_err());
    }
}
