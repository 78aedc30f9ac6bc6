//! RFC 9457 problem details with a stable `code`, the one shape of every error response.

use serde::Serialize;

pub const CONTENT_TYPE: &str = "application/problem+json";

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub code: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl Problem {
    pub fn new(status: u16, code: &'static str, title: impl Into<String>) -> Problem {
        Problem {
            kind: format!("https://awaknow.app/problems/{}", code.replace('_', "-")),
            title: title.into(),
            status,
            code,
            detail: None,
        }
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> Problem {
        self.detail = Some(detail.into());
        self
    }

    pub fn not_implemented(what: &str) -> Problem {
        Problem::new(501, "not_implemented", "Not implemented yet")
            .with_detail(format!("{what} is not implemented yet"))
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| format!("{{\"status\":{}}}", self.status))
    }
}
