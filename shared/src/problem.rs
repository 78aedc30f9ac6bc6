//! RFC 9457 problem details with a stable `code`, the one shape of every error response.

use serde::Serialize;
use serde_json::{Map, Value};

pub const CONTENT_TYPE: &str = "application/problem+json";

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub code: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Extension members (RFC 9457 section 3.2), e.g. `remaining_minutes` on a 402.
    #[serde(flatten)]
    pub extensions: Map<String, Value>,
}

impl Problem {
    pub fn new(status: u16, code: &'static str, title: impl Into<String>) -> Problem {
        Problem {
            kind: format!("https://awaknow.app/problems/{}", code.replace('_', "-")),
            title: title.into(),
            status,
            code,
            detail: None,
            extensions: Map::new(),
        }
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> Problem {
        self.detail = Some(detail.into());
        self
    }

    pub fn with(mut self, name: &str, value: impl Into<Value>) -> Problem {
        self.extensions.insert(name.to_owned(), value.into());
        self
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| format!("{{\"status\":{}}}", self.status))
    }
}
