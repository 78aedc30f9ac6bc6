//! The one route table: every HTTP route, the function that serves it, who may call it and the
//! handler that answers it. API Gateway names the matched route in the event's `routeKey`
//! (`"GET /sessions/{id}"`), so dispatch is a lookup, not path parsing. template.yaml declares
//! the same routes; a test keeps the two equal.

use futures::future::BoxFuture;

use super::App;
use super::api_request::ApiRequest;
use super::handlers::{self, Answer};
use crate::domain::UserId;

/// The Lambda functions that serve HTTP routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    CreateSession,
    GetUsage,
    TavusWebhook,
}

impl Function {
    /// The function's name in template.yaml and under `functions/`.
    pub fn name(self) -> &'static str {
        match self {
            Function::CreateSession => "create-session",
            Function::GetUsage => "get-usage",
            Function::TavusWebhook => "tavus-webhook",
        }
    }
}

/// A handler for a signed-in user.
pub type UserHandler = for<'a> fn(&'a App, &'a UserId, &'a ApiRequest) -> BoxFuture<'a, Answer>;
/// A handler for Tavus's callbacks: the signed token in the path is the proof, not a JWT.
pub type CallbackHandler = for<'a> fn(&'a App, &'a ApiRequest) -> BoxFuture<'a, Answer>;

/// Who may call a route, and the handler that answers.
#[derive(Clone, Copy)]
pub enum Access {
    User(UserHandler),
    Callback(CallbackHandler),
}

#[derive(Clone, Copy)]
pub struct Route {
    /// API Gateway's route key: method, space, path template.
    pub key: &'static str,
    pub function: Function,
    pub access: Access,
}

impl Route {
    /// Whether API Gateway must check a JWT before the function runs.
    pub fn needs_jwt(&self) -> bool {
        matches!(self.access, Access::User(_))
    }
}

const fn user(key: &'static str, function: Function, handler: UserHandler) -> Route {
    Route {
        key,
        function,
        access: Access::User(handler),
    }
}

pub const ROUTES: &[Route] = &[
    user("POST /sessions", Function::CreateSession, |a, u, r| {
        Box::pin(handlers::create_session(a, u, r))
    }),
    user(
        "POST /sessions/{id}/end",
        Function::CreateSession,
        |a, u, r| Box::pin(handlers::end_session(a, u, r)),
    ),
    user(
        "DELETE /sessions/{id}",
        Function::CreateSession,
        |a, u, r| Box::pin(handlers::delete_session(a, u, r)),
    ),
    user(
        "PUT /sessions/{id}/notes",
        Function::CreateSession,
        |a, u, r| Box::pin(handlers::put_notes(a, u, r)),
    ),
    user("DELETE /me", Function::CreateSession, |a, u, r| {
        Box::pin(handlers::delete_account(a, u, r))
    }),
    user("GET /me/export", Function::GetUsage, |a, u, r| {
        Box::pin(handlers::export_account(a, u, r))
    }),
    user("GET /usage", Function::GetUsage, |a, u, r| {
        Box::pin(handlers::usage(a, u, r))
    }),
    user("GET /usage/history", Function::GetUsage, |a, u, r| {
        Box::pin(handlers::usage_history(a, u, r))
    }),
    user("GET /sessions", Function::GetUsage, |a, u, r| {
        Box::pin(handlers::list_sessions(a, u, r))
    }),
    user("GET /sessions/{id}", Function::GetUsage, |a, u, r| {
        Box::pin(handlers::get_session(a, u, r))
    }),
    user(
        "GET /sessions/{id}/transcript",
        Function::GetUsage,
        |a, u, r| Box::pin(handlers::get_transcript(a, u, r)),
    ),
    user("GET /sessions/{id}/notes", Function::GetUsage, |a, u, r| {
        Box::pin(handlers::get_notes(a, u, r))
    }),
    user(
        "GET /sessions/{id}/recording",
        Function::GetUsage,
        |a, u, r| Box::pin(handlers::get_recording(a, u, r)),
    ),
    Route {
        key: "POST /webhooks/tavus/{token}",
        function: Function::TavusWebhook,
        access: Access::Callback(|a, r| Box::pin(handlers::tavus_callback(a, r))),
    },
];

/// The route `function` serves under API Gateway's `route_key`; `None` for any other (a route of
/// another function is not found here either).
pub fn find(route_key: &str, function: Function) -> Option<&'static Route> {
    ROUTES
        .iter()
        .find(|route| route.key == route_key && route.function == function)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_route_key_is_listed_once_and_well_formed() {
        let mut keys: Vec<&str> = ROUTES.iter().map(|r| r.key).collect();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), ROUTES.len(), "a route key listed twice");
        for key in keys {
            let (method, path) = key.split_once(' ').unwrap();
            assert!(["GET", "POST", "PUT", "DELETE"].contains(&method), "{key}");
            assert!(path.starts_with('/') && !path.ends_with('/'), "{key}");
        }
    }

    #[test]
    fn a_function_finds_only_its_own_routes() {
        let found = find("GET /sessions/{id}", Function::GetUsage).unwrap();
        assert_eq!(found.function, Function::GetUsage);
        assert!(found.needs_jwt());
        assert!(find("GET /sessions/{id}", Function::CreateSession).is_none());
        assert!(find("POST /sessions", Function::GetUsage).is_none());
        assert!(find("GET /nothing", Function::GetUsage).is_none());
        let callback = find("POST /webhooks/tavus/{token}", Function::TavusWebhook).unwrap();
        assert!(!callback.needs_jwt());
    }
}
