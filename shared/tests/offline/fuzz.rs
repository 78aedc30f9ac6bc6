//! Property tests of everything that parses input: request bodies, headers, path and query
//! parameters, webhook payloads and tokens, Tavus times, DynamoDB items read back. Each answers
//! with a 4xx problem or a typed error: never a 5xx, never a panic.
//!
//! `FUZZ_CASES` sets the cases per property (2,000 in `make test`; `make fuzz` runs 100,000 per
//! property, over a million in all).

use std::collections::HashMap;

use awaknow_core::api::api_request::ApiRequest;
use awaknow_core::api::request::{idempotency_key, page, session_id};
use awaknow_core::api::routes::Function;
use awaknow_core::api::{ApiError, routes};
use awaknow_core::domain::{Period, UserId};
use awaknow_core::secrets::{Secret, SecretValues};
use awaknow_core::service::ServiceError;
use awaknow_core::service::callback_token;
use awaknow_core::service::callbacks::parse_callback;
use awaknow_core::service::create::CreateSessionRequest;
use awaknow_core::store::items::{AccountItem, ParticipationItem, PeriodHistoryItem, SessionItem};
use awaknow_core::tavus::model::{ConversationDetails, parse_tavus_time};
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use proptest::prelude::*;
use serde_json::Value;

fn config() -> ProptestConfig {
    let cases = std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(2_000);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn owner() -> UserId {
    UserId::parse("fuzz-owner").unwrap()
}

/// A client error, never a server error.
fn is_4xx(e: &ApiError) -> bool {
    (400..500).contains(&e.problem().0.status)
}

/// Any JSON value, nested a little.
fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        (0u64..100).prop_map(Value::from),
        ".{0,40}".prop_map(Value::String),
        "(reflect_alone|resolve_together|system.shutdown|application.transcription_ready|user|assistant|system)".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::hash_map(
                "(session_type|prompt|participant_context|participants|max_minutes|event_type|timestamp|properties|transcript|role|content|shutdown_reason|[a-z_]{1,12})",
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Any DynamoDB attribute, nested a little.
fn attribute() -> impl Strategy<Value = AttributeValue> {
    let leaf = prop_oneof![
        ".{0,30}".prop_map(AttributeValue::S),
        "-?[0-9]{1,12}(\\.[0-9]{1,4})?".prop_map(AttributeValue::N),
        any::<bool>().prop_map(AttributeValue::Bool),
        Just(AttributeValue::Null(true)),
        prop::collection::vec(any::<u8>(), 0..16).prop_map(|b| AttributeValue::B(Blob::new(b))),
        "(2026-1[0-2]|pending|active|ended|failed|free|reflect_plus|reflect_alone|01KAWK3T5Y8ZQ4V2F6N9R0B1CD|2026-11-24T10:00:00Z)"
            .prop_map(AttributeValue::S),
    ];
    leaf.prop_recursive(2, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(AttributeValue::L),
            prop::collection::hash_map("[a-z_]{1,10}", inner, 0..4).prop_map(AttributeValue::M),
        ]
    })
}

fn item() -> impl Strategy<Value = HashMap<String, AttributeValue>> {
    prop::collection::hash_map(
        "(pk|sk|user_id|owner_id|session_id|session_type|status|period|plan|reserved_minutes|used_minutes|limit_minutes|available_minutes|created_at|updated_at|participants|account_shard|[a-z_]{1,10})",
        attribute(),
        0..14,
    )
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn create_bodies_from_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        if let Err(e) = CreateSessionRequest::parse(&bytes, &owner()) {
            prop_assert!(is_4xx(&e), "{e:?}");
        }
    }

    #[test]
    fn create_bodies_from_any_json(value in json()) {
        match CreateSessionRequest::parse(value.to_string().as_bytes(), &owner()) {
            Ok(request) => {
                prop_assert!(!request.prompt.trim().is_empty() && request.prompt.chars().count() <= 4000);
                prop_assert!(request.max_minutes.is_none_or(|m| (1..=60).contains(&m)));
                prop_assert!(request.participants.len() <= 7);
            }
            Err(e) => prop_assert!(matches!(e, ApiError::Service(ServiceError::InvalidRequest { .. })), "{e:?}"),
        }
    }

    #[test]
    fn headers_and_parameters(key in ".{0,140}", limit in ".{0,12}", cursor in ".{0,40}", id in ".{0,40}") {
        let request = CreateSessionRequest::parse(br#"{"session_type":"reflect_alone","prompt":"p"}"#, &owner()).unwrap();
        if let Err(e) = idempotency_key(Some(&key), &request) { prop_assert!(is_4xx(&e)); }
        if let Err(e) = page(Some(&limit), Some(&cursor)) { prop_assert!(is_4xx(&e)); }
        if let Err(e) = session_id(&id) { prop_assert!(is_4xx(&e)); }
    }

    #[test]
    fn route_keys_of_any_method_and_path(method in "(GET|POST|PUT|DELETE|PATCH|[A-Z]{1,8})", path in "(/[a-z0-9{}._-]{0,12}){0,5}/?") {
        let key = format!("{method} {path}");
        for function in [Function::CreateSession, Function::GetUsage, Function::TavusWebhook] {
            if let Some(route) = routes::find(&key, function) {
                prop_assert!(route.key == key && route.function == function);
            }
        }
    }

    #[test]
    fn webhook_bodies(value in json(), bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        for body in [value.to_string().into_bytes(), bytes] {
            if let Err(e) = parse_callback(&body) { let e = ApiError::from(e); prop_assert!(is_4xx(&e), "{e:?}"); }
        }
    }

    #[test]
    fn webhook_tokens_are_forged_only_by_the_key(token in "[A-Za-z0-9._-]{0,200}", flip in 0usize..200) {
        let secret = Secret::new("fuzz-signing-key-0123456789abcdef");
        prop_assert!(callback_token::verify(&secret, &token).is_none());
        let claims = callback_token::CallbackClaims {
            owner: owner(),
            session_id: "01KAWK3T5Y8ZQ4V2F6N9R0B1CD".parse().unwrap(),
            period: "2026-11".parse().unwrap(),
            reserved_minutes: 30,
            created_at_ms: 1_795_514_400_000,
        };
        let good = callback_token::sign(&secret, &claims);
        let mut altered = good.clone().into_bytes();
        let i = flip % altered.len();
        altered[i] = if altered[i] == b'x' { b'y' } else { b'x' };
        let altered = String::from_utf8(altered).unwrap();
        prop_assert!(altered == good || callback_token::verify(&secret, &altered).is_none());
    }

    #[test]
    fn tavus_answers_and_times(text in ".{0,40}", value in json()) {
        let _ = parse_tavus_time(&text);
        let _ = serde_json::from_value::<ConversationDetails>(value);
        let _ = SecretValues::parse("fuzz", &text);
        let _ = text.parse::<Period>();
        let _ = UserId::parse(&text);
    }

    #[test]
    fn items_read_back_from_the_table(item in item()) {
        // A typed error (CorruptItem) for anything this code would not have written.
        let _ = serde_dynamo::from_item::<_, AccountItem>(item.clone());
        let _ = serde_dynamo::from_item::<_, SessionItem>(item.clone());
        let _ = serde_dynamo::from_item::<_, PeriodHistoryItem>(item.clone());
        let _ = serde_dynamo::from_item::<_, ParticipationItem>(item);
    }

    #[test]
    fn lambda_events(value in json()) {
        if let Ok(request) = lambda_http::request::from_str(&value.to_string()) {
            let api = ApiRequest::from_lambda(&request);
            let _ = routes::find(&api.route_key, Function::GetUsage);
            let _ = (api.path("id"), api.query("limit"), api.header("authorization"));
        }
    }
}
