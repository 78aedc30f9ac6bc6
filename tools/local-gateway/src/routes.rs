//! The HTTP API's routes as `template.yaml` declares them: every `HttpApi` event of every
//! function, with its binary and whether the JWT authorizer applies.

use std::collections::HashMap;
use std::path::Path;

use serde_yaml_ng::Value;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteSpec {
    pub method: String,
    /// As declared, e.g. `/sessions/{id}/end`.
    pub path: String,
    /// The cargo binary that serves it (`Metadata.BuildProperties.Binary`).
    pub function: String,
    pub authorized: bool,
}

impl RouteSpec {
    /// `POST /sessions/{id}/end`, API Gateway's route key.
    pub fn route_key(&self) -> String {
        format!("{} {}", self.method, self.path)
    }

    /// The path parameters if `path` matches this route.
    pub fn matches(&self, method: &str, path: &str) -> Option<HashMap<String, String>> {
        if !self.method.eq_ignore_ascii_case(method) {
            return None;
        }
        let pattern: Vec<&str> = self.path.trim_matches('/').split('/').collect();
        let actual: Vec<&str> = path.trim_matches('/').split('/').collect();
        if pattern.len() != actual.len() {
            return None;
        }
        let mut params = HashMap::new();
        for (p, a) in pattern.iter().zip(&actual) {
            if let Some(name) = p.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                if a.is_empty() {
                    return None;
                }
                params.insert(name.to_owned(), (*a).to_owned());
            } else if p != a {
                return None;
            }
        }
        Some(params)
    }

    pub fn path_exists(&self, path: &str) -> bool {
        ["GET", "POST", "PUT", "PATCH", "DELETE"].iter().any(|m| {
            RouteSpec {
                method: (*m).into(),
                ..self.clone()
            }
            .matches(m, path)
            .is_some()
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("cannot read {0}: {1}")]
    Read(String, std::io::Error),
    #[error("template.yaml: {0}")]
    Yaml(#[from] serde_yaml_ng::Error),
    #[error("template.yaml: {0}")]
    Shape(String),
}

pub fn read_template(path: &Path) -> Result<String, TemplateError> {
    std::fs::read_to_string(path).map_err(|e| TemplateError::Read(path.display().to_string(), e))
}

pub fn from_template(path: &Path) -> Result<Vec<RouteSpec>, TemplateError> {
    from_template_text(&read_template(path)?)
}

pub fn from_template_text(text: &str) -> Result<Vec<RouteSpec>, TemplateError> {
    let doc: Value = serde_yaml_ng::from_str(text)?;
    let resources = doc
        .get("Resources")
        .and_then(Value::as_mapping)
        .ok_or_else(|| TemplateError::Shape("no Resources".into()))?;
    let mut routes = Vec::new();
    for (name, resource) in resources {
        if resource.get("Type").and_then(Value::as_str) != Some("AWS::Serverless::Function") {
            continue;
        }
        let name = name.as_str().unwrap_or("?");
        let events = resource
            .get("Properties")
            .and_then(|p| p.get("Events"))
            .and_then(Value::as_mapping);
        for (_, event) in events.into_iter().flatten() {
            if event.get("Type").and_then(Value::as_str) != Some("HttpApi") {
                continue;
            }
            let function = resource
                .get("Metadata")
                .and_then(|m| m.get("BuildProperties"))
                .and_then(|b| b.get("Binary"))
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    TemplateError::Shape(format!(
                        "{name} has HttpApi events but no Metadata.BuildProperties.Binary"
                    ))
                })?;
            let props = event
                .get("Properties")
                .ok_or_else(|| TemplateError::Shape(format!("{name}: event without Properties")))?;
            let field = |f: &str| {
                props
                    .get(f)
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .ok_or_else(|| {
                        TemplateError::Shape(format!("{name}: HttpApi event without {f}"))
                    })
            };
            let authorizer = props
                .get("Auth")
                .and_then(|a| a.get("Authorizer"))
                .and_then(Value::as_str);
            routes.push(RouteSpec {
                method: field("Method")?.to_ascii_uppercase(),
                path: field("Path")?,
                function: function.to_owned(),
                authorized: authorizer != Some("NONE"),
            });
        }
    }
    if routes.is_empty() {
        return Err(TemplateError::Shape("no HttpApi routes".into()));
    }
    Ok(routes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_project_template_declares_every_contract_route() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../template.yaml");
        let routes = from_template(&path).unwrap();
        let keys: Vec<(String, &str, bool)> = routes
            .iter()
            .map(|r| (r.route_key(), r.function.as_str(), r.authorized))
            .collect();
        for expected in [
            ("POST /sessions", "create-session", true),
            ("POST /sessions/{id}/end", "create-session", true),
            ("GET /usage", "get-usage", true),
            ("GET /sessions", "get-usage", true),
            ("GET /sessions/{id}", "get-usage", true),
            ("GET /sessions/{id}/transcript", "get-usage", true),
            ("POST /webhooks/tavus/{token}", "tavus-webhook", false),
            ("DELETE /sessions/{id}", "create-session", true),
            ("PUT /sessions/{id}/notes", "create-session", true),
            ("GET /sessions/{id}/notes", "get-usage", true),
            ("GET /usage/history", "get-usage", true),
        ] {
            assert!(
                keys.contains(&(expected.0.to_owned(), expected.1, expected.2)),
                "{expected:?} missing from {keys:?}"
            );
        }
    }

    #[test]
    fn paths_match_with_parameters() {
        let route = RouteSpec {
            method: "POST".into(),
            path: "/sessions/{id}/end".into(),
            function: "f".into(),
            authorized: true,
        };
        assert_eq!(
            route.matches("POST", "/sessions/01ABC/end").unwrap()["id"],
            "01ABC"
        );
        assert!(route.matches("GET", "/sessions/01ABC/end").is_none());
        assert!(route.matches("POST", "/sessions//end").is_none());
        assert!(route.matches("POST", "/sessions/01ABC").is_none());
        assert!(route.path_exists("/sessions/x/end"));
    }
}
