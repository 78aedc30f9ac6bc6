//! CORS as the deployed HTTP API answers it: the settings are `template.yaml`'s own
//! (`AWS::Serverless::HttpApi` → `CorsConfiguration`), not a copy, so a browser test against
//! the local gateway proves what deploys. The behaviour follows API Gateway's for HTTP APIs:
//!
//! - a preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) is answered by
//!   the gateway itself, 204, for any path, with the allowed origin, methods and headers and the
//!   max age; no route or function is involved;
//! - any other request goes to its route; when it carried an allowed `Origin`, the answer gets
//!   `Access-Control-Allow-Origin` and `Access-Control-Expose-Headers`;
//! - CORS headers a function sends itself are dropped, as API Gateway ignores an integration's
//!   CORS headers once the API has a CORS configuration;
//! - a request without `Origin` gets no CORS header at all.

use axum::http::{HeaderMap, Method};
use serde_yaml_ng::Value;

use crate::routes::TemplateError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorsConfig {
    /// `*`, or the exact origins (`https://app.example.com`) allowed.
    pub allow_origins: Vec<String>,
    pub allow_headers: Vec<String>,
    pub allow_methods: Vec<String>,
    pub expose_headers: Vec<String>,
    /// Seconds a browser may cache a preflight's answer.
    pub max_age: Option<u64>,
    pub allow_credentials: bool,
}

/// The HTTP API's `CorsConfiguration`, its `!Ref`s resolved to the parameters' defaults (what a
/// deploy without overrides gets); `None` when the API has none (then nothing is answered for
/// CORS, as on API Gateway).
pub fn from_template_text(text: &str) -> Result<Option<CorsConfig>, TemplateError> {
    let doc: Value = serde_yaml_ng::from_str(text)?;
    let Some(cors) =
        http_api(&doc)?.and_then(|api| api.get("Properties")?.get("CorsConfiguration"))
    else {
        return Ok(None);
    };
    let fields = Fields {
        cors,
        parameters: doc.get("Parameters"),
    };
    Ok(Some(CorsConfig {
        allow_origins: fields.list("AllowOrigins")?,
        allow_headers: fields.list("AllowHeaders")?,
        allow_methods: fields.list("AllowMethods")?,
        expose_headers: fields.list("ExposeHeaders")?,
        max_age: fields.max_age()?,
        allow_credentials: fields.allow_credentials()?,
    }))
}

/// The fields of one `CorsConfiguration`, read with the template's parameters at hand.
struct Fields<'a> {
    cors: &'a Value,
    parameters: Option<&'a Value>,
}

impl Fields<'_> {
    /// A list field; absent is empty, as API Gateway takes it.
    fn list(&self, field: &str) -> Result<Vec<String>, TemplateError> {
        match self.cors.get(field) {
            None => Ok(Vec::new()),
            Some(Value::Sequence(items)) => items
                .iter()
                .map(|v| resolve(v, self.parameters, field))
                .collect(),
            Some(_) => Err(shape(format!("CorsConfiguration.{field} is not a list"))),
        }
    }

    fn single(&self, field: &str) -> Result<Option<String>, TemplateError> {
        self.cors
            .get(field)
            .map(|v| resolve(v, self.parameters, field))
            .transpose()
    }

    fn max_age(&self) -> Result<Option<u64>, TemplateError> {
        let Some(text) = self.single("MaxAge")? else {
            return Ok(None);
        };
        text.parse::<u64>().map(Some).map_err(|_| {
            shape(format!(
                "CorsConfiguration.MaxAge {text:?} is not a number of seconds"
            ))
        })
    }

    fn allow_credentials(&self) -> Result<bool, TemplateError> {
        match self.single("AllowCredentials")?.as_deref() {
            None | Some("false") => Ok(false),
            Some("true") => Ok(true),
            Some(other) => Err(shape(format!(
                "CorsConfiguration.AllowCredentials {other:?} is not true or false"
            ))),
        }
    }
}

fn shape(message: String) -> TemplateError {
    TemplateError::Shape(message)
}

/// The one `AWS::Serverless::HttpApi` resource: the local gateway serves one API.
fn http_api(doc: &Value) -> Result<Option<&Value>, TemplateError> {
    let apis: Vec<&Value> = doc
        .get("Resources")
        .and_then(Value::as_mapping)
        .into_iter()
        .flatten()
        .map(|(_, resource)| resource)
        .filter(|r| r.get("Type").and_then(Value::as_str) == Some("AWS::Serverless::HttpApi"))
        .collect();
    match apis.as_slice() {
        [] => Ok(None),
        [api] => Ok(Some(api)),
        _ => Err(shape(format!(
            "{} HttpApi resources; the local gateway serves one",
            apis.len()
        ))),
    }
}

/// A scalar of the configuration: a string or number as written, or a `!Ref` (or `{Ref: ...}`)
/// to a parameter, which becomes that parameter's `Default`.
fn resolve(
    value: &Value,
    parameters: Option<&Value>,
    field: &str,
) -> Result<String, TemplateError> {
    if let Some(name) = ref_target(value) {
        return parameter_default(name, parameters, field);
    }
    scalar(value).ok_or_else(|| {
        shape(format!("CorsConfiguration.{field}: only strings, numbers and !Ref to a parameter are understood"))
    })
}

fn ref_target(value: &Value) -> Option<&Value> {
    match value {
        Value::Tagged(tagged) if tagged.tag == "Ref" => Some(&tagged.value),
        Value::Mapping(m) if m.len() == 1 => m.get("Ref"),
        _ => None,
    }
}

fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn parameter_default(
    name: &Value,
    parameters: Option<&Value>,
    field: &str,
) -> Result<String, TemplateError> {
    let name = name.as_str().ok_or_else(|| {
        shape(format!(
            "CorsConfiguration.{field}: !Ref names no parameter"
        ))
    })?;
    parameters
        .and_then(|p| p.get(name))
        .and_then(|p| p.get("Default"))
        .and_then(scalar)
        .ok_or_else(|| {
            shape(format!(
                "CorsConfiguration.{field}: !Ref {name} is not a parameter with a scalar Default"
            ))
        })
}

/// A CORS preflight, as API Gateway tells one: `OPTIONS` with both `Origin` and
/// `Access-Control-Request-Method`. Any other `OPTIONS` is routed like any request.
pub fn is_preflight(method: &Method, headers: &HeaderMap) -> bool {
    method == Method::OPTIONS
        && headers.contains_key("origin")
        && headers.contains_key("access-control-request-method")
}

fn join(values: &[String]) -> String {
    values.join(", ")
}

impl CorsConfig {
    /// Replaces the allowed origins (the gateway's `CORS_ORIGIN`: a comma-separated list), as a
    /// deploy with another `CorsAllowOrigin` would.
    pub fn with_origins(mut self, origins: &str) -> CorsConfig {
        self.allow_origins = origins
            .split(',')
            .map(str::trim)
            .filter(|o| !o.is_empty())
            .map(str::to_owned)
            .collect();
        self
    }

    /// The `Access-Control-Allow-Origin` for a request from `origin`: `*` when every origin is
    /// allowed (and credentials are not), the origin itself when it is listed, else none.
    fn allowed_origin(&self, origin: &str) -> Option<String> {
        if self.allow_origins.iter().any(|o| o == "*") && !self.allow_credentials {
            return Some("*".to_owned());
        }
        self.allow_origins
            .iter()
            .any(|o| o == "*" || o.eq_ignore_ascii_case(origin))
            .then(|| origin.to_owned())
    }

    fn origin_headers(&self, origin: &str) -> Option<Vec<(String, String)>> {
        let allowed = self.allowed_origin(origin)?;
        let mut headers = vec![("access-control-allow-origin".to_owned(), allowed)];
        if self.allow_credentials {
            headers.push(("access-control-allow-credentials".into(), "true".into()));
        }
        Some(headers)
    }

    /// The gateway's own answer's headers to a preflight from `origin` (empty when the origin is
    /// not allowed: the browser then refuses the request).
    pub fn preflight_headers(&self, origin: &str) -> Vec<(String, String)> {
        let Some(mut headers) = self.origin_headers(origin) else {
            return Vec::new();
        };
        headers.push((
            "access-control-allow-methods".into(),
            join(&self.allow_methods),
        ));
        if !self.allow_headers.is_empty() {
            headers.push((
                "access-control-allow-headers".into(),
                join(&self.allow_headers),
            ));
        }
        if let Some(max_age) = self.max_age {
            headers.push(("access-control-max-age".into(), max_age.to_string()));
        }
        headers
    }

    /// A routed answer's headers: the function's, without CORS headers of its own, and this
    /// configuration's for a request from `origin` (none without one).
    pub fn apply(&self, headers: &mut Vec<(String, String)>, origin: Option<&str>) {
        headers.retain(|(name, _)| !name.to_ascii_lowercase().starts_with("access-control-"));
        let Some(mut cors) = origin.and_then(|o| self.origin_headers(o)) else {
            return;
        };
        if !self.expose_headers.is_empty() {
            cors.push((
                "access-control-expose-headers".into(),
                join(&self.expose_headers),
            ));
        }
        headers.extend(cors);
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    /// Values unlike the project's, so a gateway that kept headers of its own could not pass.
    const TEMPLATE: &str = r#"
Parameters:
  FrontEnd:
    Type: String
    Default: https://app.example.com
  PreflightSeconds:
    Type: Number
    Default: 42
Resources:
  Api:
    Type: AWS::Serverless::HttpApi
    Properties:
      CorsConfiguration:
        AllowOrigins: [!Ref FrontEnd, {Ref: FrontEnd}]
        AllowHeaders: [authorization, x-custom]
        AllowMethods: [GET, PATCH]
        ExposeHeaders: [x-trace]
        MaxAge: !Ref PreflightSeconds
"#;

    fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn the_configuration_is_read_from_the_template_with_refs_resolved_to_defaults() {
        let cors = from_template_text(TEMPLATE)
            .unwrap()
            .expect("a CorsConfiguration");
        assert_eq!(
            cors,
            CorsConfig {
                allow_origins: vec![
                    "https://app.example.com".into(),
                    "https://app.example.com".into()
                ],
                allow_headers: vec!["authorization".into(), "x-custom".into()],
                allow_methods: vec!["GET".into(), "PATCH".into()],
                expose_headers: vec!["x-trace".into()],
                max_age: Some(42),
                allow_credentials: false,
            }
        );
    }

    #[test]
    fn the_project_template_allows_what_the_front_end_sends_and_exposes_what_it_reads() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../template.yaml");
        let text = std::fs::read_to_string(path).unwrap();
        let cors = from_template_text(&text)
            .unwrap()
            .expect("the HttpApi has a CorsConfiguration");
        for header in [
            "authorization",
            "content-type",
            "idempotency-key",
            "if-match",
        ] {
            assert!(
                cors.allow_headers.iter().any(|h| h == header),
                "{header} in {:?}",
                cors.allow_headers
            );
        }
        for header in ["etag", "retry-after"] {
            assert!(
                cors.expose_headers.iter().any(|h| h == header),
                "{header} in {:?}",
                cors.expose_headers
            );
        }
        for method in ["GET", "POST", "PUT", "DELETE"] {
            assert!(
                cors.allow_methods.iter().any(|m| m == method),
                "{method} in {:?}",
                cors.allow_methods
            );
        }
        assert_eq!(cors.allow_origins, ["*"], "CorsAllowOrigin's Default");
        assert!(cors.max_age.is_some());
    }

    #[test]
    fn a_preflight_is_answered_with_the_template_settings_for_an_allowed_origin_only() {
        let cors = from_template_text(TEMPLATE).unwrap().unwrap();
        let answer = cors.preflight_headers("https://app.example.com");
        assert_eq!(
            header(&answer, "access-control-allow-origin"),
            Some("https://app.example.com")
        );
        assert_eq!(
            header(&answer, "access-control-allow-headers"),
            Some("authorization, x-custom")
        );
        assert_eq!(
            header(&answer, "access-control-allow-methods"),
            Some("GET, PATCH")
        );
        assert_eq!(header(&answer, "access-control-max-age"), Some("42"));
        assert!(cors.preflight_headers("https://evil.example").is_empty());
        let everyone = cors.with_origins("*");
        assert_eq!(
            header(
                &everyone.preflight_headers("http://127.0.0.1:1234"),
                "access-control-allow-origin"
            ),
            Some("*")
        );
    }

    #[test]
    fn a_routed_answer_exposes_the_template_headers_and_drops_the_functions_cors_headers() {
        let cors = from_template_text(TEMPLATE).unwrap().unwrap();
        let function_headers = vec![
            ("content-type".to_owned(), "application/json".to_owned()),
            (
                "Access-Control-Allow-Origin".to_owned(),
                "https://elsewhere.example".to_owned(),
            ),
        ];
        let mut headers = function_headers.clone();
        cors.apply(&mut headers, Some("https://app.example.com"));
        assert_eq!(
            headers,
            [
                ("content-type".to_owned(), "application/json".to_owned()),
                (
                    "access-control-allow-origin".to_owned(),
                    "https://app.example.com".to_owned()
                ),
                (
                    "access-control-expose-headers".to_owned(),
                    "x-trace".to_owned()
                ),
            ]
        );
        let mut no_origin = function_headers;
        cors.apply(&mut no_origin, None);
        assert_eq!(
            no_origin,
            [("content-type".to_owned(), "application/json".to_owned())]
        );
    }

    #[test]
    fn cors_origin_replaces_the_allowed_origins() {
        let cors = from_template_text(TEMPLATE)
            .unwrap()
            .unwrap()
            .with_origins("http://a.test, http://b.test");
        assert_eq!(cors.allow_origins, ["http://a.test", "http://b.test"]);
        assert!(cors.preflight_headers("https://app.example.com").is_empty());
        assert!(!cors.preflight_headers("http://b.test").is_empty());
    }

    #[test]
    fn a_template_without_cors_has_none_and_a_dangling_ref_is_an_error() {
        assert_eq!(
            from_template_text("Resources:\n  Api:\n    Type: AWS::Serverless::HttpApi\n").unwrap(),
            None
        );
        let dangling = TEMPLATE.replace(
            "Default: https://app.example.com",
            "Description: no default",
        );
        let error = from_template_text(&dangling).unwrap_err().to_string();
        assert!(error.contains("FrontEnd"), "{error}");
        let bad_age = TEMPLATE.replace("Default: 42", "Default: soon");
        assert!(
            from_template_text(&bad_age)
                .unwrap_err()
                .to_string()
                .contains("MaxAge")
        );
    }

    #[test]
    fn only_options_with_origin_and_a_requested_method_is_a_preflight() {
        let mut headers = HeaderMap::new();
        headers.insert("origin", "http://127.0.0.1:1".parse().unwrap());
        assert!(!is_preflight(&Method::OPTIONS, &headers));
        headers.insert("access-control-request-method", "PUT".parse().unwrap());
        assert!(is_preflight(&Method::OPTIONS, &headers));
        assert!(!is_preflight(&Method::PUT, &headers));
    }
}
