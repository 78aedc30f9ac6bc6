//! Builds the API Gateway HTTP API (payload 2.0) event for a request, and reads the function's
//! response back, as API Gateway does.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use crate::routes::RouteSpec;

pub struct Incoming<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub raw_query: &'a str,
    pub headers: Vec<(String, String)>,
    pub body: &'a [u8],
    pub source_ip: &'a str,
}

fn query_parameters(raw: &str) -> Option<HashMap<String, String>> {
    if raw.is_empty() {
        return None;
    }
    let mut params: HashMap<String, String> = HashMap::new();
    for pair in raw.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let decode = |s: &str| percent_decode(&s.replace('+', " "));
        // API Gateway joins repeated parameters with commas.
        params
            .entry(decode(k))
            .and_modify(|e| {
                e.push(',');
                e.push_str(&decode(v));
            })
            .or_insert_with(|| decode(v));
    }
    Some(params)
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(
                std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"),
                16,
            )
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The payload-2.0 event API Gateway sends to a Lambda integration.
pub fn request_event(
    route: &RouteSpec,
    incoming: &Incoming<'_>,
    path_parameters: HashMap<String, String>,
    claims: Option<HashMap<String, String>>,
) -> Value {
    let mut headers: HashMap<String, String> = HashMap::new();
    let mut cookies = Vec::new();
    for (name, value) in &incoming.headers {
        let name = name.to_ascii_lowercase();
        if name == "cookie" {
            cookies.extend(value.split(';').map(|c| c.trim().to_owned()));
            continue;
        }
        headers
            .entry(name)
            .and_modify(|e| {
                e.push(',');
                e.push_str(value);
            })
            .or_insert_with(|| value.clone());
    }
    let host = headers
        .get("host")
        .cloned()
        .unwrap_or_else(|| "127.0.0.1".into());
    let user_agent = headers.get("user-agent").cloned().unwrap_or_default();
    let (body, encoded) = match std::str::from_utf8(incoming.body) {
        Ok(text) => (text.to_owned(), false),
        Err(_) => (STANDARD.encode(incoming.body), true),
    };
    let now = chrono::Utc::now();
    let request_id = ulid::Ulid::new().to_string();
    let authorizer = claims.map(|claims| json!({ "jwt": { "claims": claims, "scopes": null } }));
    json!({
        "version": "2.0",
        "routeKey": route.route_key(),
        "rawPath": incoming.path,
        "rawQueryString": incoming.raw_query,
        "cookies": if cookies.is_empty() { Value::Null } else { json!(cookies) },
        "headers": headers,
        "queryStringParameters": query_parameters(incoming.raw_query),
        "pathParameters": if path_parameters.is_empty() { Value::Null } else { json!(path_parameters) },
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "local",
            "domainName": host,
            "domainPrefix": "local",
            "http": {
                "method": incoming.method,
                "path": incoming.path,
                "protocol": "HTTP/1.1",
                "sourceIp": incoming.source_ip,
                "userAgent": user_agent,
            },
            "requestId": request_id,
            "routeKey": route.route_key(),
            "stage": "$default",
            "time": now.format("%d/%b/%Y:%H:%M:%S %z").to_string(),
            "timeEpoch": now.timestamp_millis(),
            "authorizer": authorizer,
        },
        "body": if incoming.body.is_empty() { Value::Null } else { json!(body) },
        "isBase64Encoded": encoded,
    })
}

/// A function's answer as API Gateway turns it into HTTP.
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Reads a payload-2.0 response. A function error (`errorType`), or anything unreadable, is a 500
/// `{"message": "Internal Server Error"}`, as API Gateway answers.
pub fn response(payload: &[u8]) -> Outgoing {
    let internal = Outgoing {
        status: 500,
        headers: vec![("content-type".into(), "application/json".into())],
        body: br#"{"message":"Internal Server Error"}"#.to_vec(),
    };
    let Ok(value) = serde_json::from_slice::<Value>(payload) else {
        return internal;
    };
    if value.get("errorType").is_some() || value.get("errorMessage").is_some() {
        return internal;
    }
    let Some(status) = value
        .get("statusCode")
        .and_then(Value::as_u64)
        .and_then(|s| u16::try_from(s).ok())
    else {
        // A bare value is returned as a 200 JSON body.
        return Outgoing {
            status: 200,
            headers: vec![("content-type".into(), "application/json".into())],
            body: payload.to_vec(),
        };
    };
    let mut headers = Vec::new();
    if let Some(map) = value.get("headers").and_then(Value::as_object) {
        for (k, v) in map {
            if let Some(v) = v.as_str() {
                headers.push((k.clone(), v.to_owned()));
            }
        }
    }
    if let Some(map) = value.get("multiValueHeaders").and_then(Value::as_object) {
        for (k, values) in map {
            for v in values
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                if !headers
                    .iter()
                    .any(|(hk, hv)| hk.eq_ignore_ascii_case(k) && hv == v)
                {
                    headers.push((k.clone(), v.to_owned()));
                }
            }
        }
    }
    for cookie in value
        .get("cookies")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        headers.push(("set-cookie".into(), cookie.to_owned()));
    }
    let text = value.get("body").and_then(Value::as_str).unwrap_or("");
    let body = if value.get("isBase64Encoded").and_then(Value::as_bool) == Some(true) {
        match STANDARD.decode(text) {
            Ok(b) => b,
            Err(_) => return internal,
        }
    } else {
        text.as_bytes().to_vec()
    };
    Outgoing {
        status,
        headers,
        body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route() -> RouteSpec {
        RouteSpec {
            method: "GET".into(),
            path: "/sessions/{id}".into(),
            function: "get-usage".into(),
            authorized: true,
        }
    }

    #[test]
    fn events_carry_what_lambda_http_reads() {
        let incoming = Incoming {
            method: "GET",
            path: "/sessions/01X",
            raw_query: "limit=5&cursor=a%2Bb&tag=x&tag=y",
            headers: vec![
                ("Host".into(), "127.0.0.1:3000".into()),
                ("Cookie".into(), "a=1; b=2".into()),
            ],
            body: b"",
            source_ip: "127.0.0.1",
        };
        let claims = HashMap::from([("sub".to_owned(), "u1".to_owned())]);
        let event = request_event(
            &route(),
            &incoming,
            HashMap::from([("id".into(), "01X".into())]),
            Some(claims),
        );
        assert_eq!(event["routeKey"], "GET /sessions/{id}");
        assert_eq!(event["pathParameters"]["id"], "01X");
        assert_eq!(event["queryStringParameters"]["cursor"], "a+b");
        assert_eq!(event["queryStringParameters"]["tag"], "x,y");
        assert_eq!(event["cookies"], json!(["a=1", "b=2"]));
        assert_eq!(
            event["requestContext"]["authorizer"]["jwt"]["claims"]["sub"],
            "u1"
        );
        assert_eq!(event["requestContext"]["domainName"], "127.0.0.1:3000");
        let parsed: Result<lambda_free::Check, _> = serde_json::from_value(event);
        assert!(parsed.is_ok());
    }

    /// The shape lambda_http's payload-2.0 request needs, without depending on it here.
    mod lambda_free {
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        #[allow(dead_code)]
        pub struct Check {
            version: String,
            route_key: String,
            raw_path: String,
            request_context: serde_json::Value,
        }
    }

    #[test]
    fn responses_and_function_errors_become_http() {
        let ok = response(br#"{"statusCode": 201, "headers": {"content-type": "application/json"}, "body": "{\"a\":1}", "isBase64Encoded": false}"#);
        assert_eq!(
            (ok.status, ok.body.as_slice()),
            (201, br#"{"a":1}"#.as_slice())
        );
        let failed = response(br#"{"errorType": "Panic", "errorMessage": "boom"}"#);
        assert_eq!(failed.status, 500);
        assert_eq!(response(b"not json").status, 500);
    }
}
