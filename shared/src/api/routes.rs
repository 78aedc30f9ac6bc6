//! The routes of DESIGN.md section 5 (and of notes, erasure and usage history), matched on
//! method and path.

use super::ApiError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    CreateSession,
    EndSession(String),
    Usage,
    ListSessions,
    GetSession(String),
    GetTranscript(String),
    TavusWebhook(String),
    /// The session and everything kept with it, erased by its owner.
    DeleteSession(String),
    GetNotes(String),
    PutNotes(String),
    UsageHistory,
    /// The session's recording: its status, and a short-lived link to play it.
    GetRecording(String),
}

/// The route for a method and path (no stage prefix); `None` when no route has that path.
pub fn route(method: &str, path: &str) -> Result<Option<Route>, ApiError> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let found = match segments.as_slice() {
        ["sessions"] => match method {
            "POST" => Route::CreateSession,
            "GET" => Route::ListSessions,
            _ => return Err(ApiError::MethodNotAllowed),
        },
        ["usage"] => match method {
            "GET" => Route::Usage,
            _ => return Err(ApiError::MethodNotAllowed),
        },
        ["usage", "history"] => match method {
            "GET" => Route::UsageHistory,
            _ => return Err(ApiError::MethodNotAllowed),
        },
        ["sessions", id] if !id.is_empty() => match method {
            "GET" => Route::GetSession((*id).to_owned()),
            "DELETE" => Route::DeleteSession((*id).to_owned()),
            _ => return Err(ApiError::MethodNotAllowed),
        },
        ["sessions", id, "notes"] if !id.is_empty() => match method {
            "GET" => Route::GetNotes((*id).to_owned()),
            "PUT" => Route::PutNotes((*id).to_owned()),
            _ => return Err(ApiError::MethodNotAllowed),
        },
        ["sessions", id, "end"] if !id.is_empty() => match method {
            "POST" => Route::EndSession((*id).to_owned()),
            _ => return Err(ApiError::MethodNotAllowed),
        },
        ["sessions", id, "recording"] if !id.is_empty() => match method {
            "GET" => Route::GetRecording((*id).to_owned()),
            _ => return Err(ApiError::MethodNotAllowed),
        },
        ["sessions", id, "transcript"] if !id.is_empty() => match method {
            "GET" => Route::GetTranscript((*id).to_owned()),
            _ => return Err(ApiError::MethodNotAllowed),
        },
        ["webhooks", "tavus", token] if !token.is_empty() => match method {
            "POST" => Route::TavusWebhook((*token).to_owned()),
            _ => return Err(ApiError::MethodNotAllowed),
        },
        _ => return Ok(None),
    };
    Ok(Some(found))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_contract_route_is_matched() {
        assert_eq!(
            route("POST", "/sessions").unwrap(),
            Some(Route::CreateSession)
        );
        assert_eq!(
            route("GET", "/sessions").unwrap(),
            Some(Route::ListSessions)
        );
        assert_eq!(route("GET", "/usage").unwrap(), Some(Route::Usage));
        assert_eq!(
            route("GET", "/sessions/01J/").unwrap(),
            Some(Route::GetSession("01J".into()))
        );
        assert_eq!(
            route("POST", "/sessions/01J/end").unwrap(),
            Some(Route::EndSession("01J".into()))
        );
        assert_eq!(
            route("GET", "/sessions/01J/transcript").unwrap(),
            Some(Route::GetTranscript("01J".into()))
        );
        assert_eq!(
            route("POST", "/webhooks/tavus/v1.a.b").unwrap(),
            Some(Route::TavusWebhook("v1.a.b".into()))
        );
        assert_eq!(
            route("DELETE", "/sessions/01J").unwrap(),
            Some(Route::DeleteSession("01J".into()))
        );
        assert_eq!(
            route("GET", "/sessions/01J/notes").unwrap(),
            Some(Route::GetNotes("01J".into()))
        );
        assert_eq!(
            route("PUT", "/sessions/01J/notes").unwrap(),
            Some(Route::PutNotes("01J".into()))
        );
        assert_eq!(
            route("GET", "/usage/history").unwrap(),
            Some(Route::UsageHistory)
        );
        assert_eq!(
            route("GET", "/sessions/01J/recording").unwrap(),
            Some(Route::GetRecording("01J".into()))
        );
        assert!(matches!(
            route("DELETE", "/sessions/01J/recording"),
            Err(ApiError::MethodNotAllowed)
        ));
        assert!(matches!(
            route("POST", "/sessions/01J/notes"),
            Err(ApiError::MethodNotAllowed)
        ));
        assert_eq!(route("GET", "/nothing").unwrap(), None);
        assert!(matches!(
            route("DELETE", "/sessions"),
            Err(ApiError::MethodNotAllowed)
        ));
    }
}
