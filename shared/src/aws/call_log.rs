//! A record of the AWS permissions a function's calls need, for the test that proves each
//! function's IAM policy grants what its code calls and nothing more (`scripts/iam-check.py`,
//! run by `make test`).
//!
//! Off unless `AWAKNOW_AWS_CALL_LOG` names a file: the local stack sets it for the functions
//! under `cargo lambda watch`; the template never does. On, every request a client signs
//! (presigned links included: a presigned GET is authorized with the signer's permissions)
//! appends one JSON line per permission it needs: the function (`AWS_LAMBDA_FUNCTION_NAME`), the
//! IAM action and the resource's ARN (region and account as `REGION` and `ACCOUNT`). A call
//! that cannot be recorded fails, so the test cannot pass on a partial record.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use serde_json::Value;

/// The variable naming the file the calls are appended to.
pub const CALL_LOG_VAR: &str = "AWAKNOW_AWS_CALL_LOG";

/// One permission a call needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permission {
    /// e.g. `dynamodb:UpdateItem`.
    pub action: String,
    /// e.g. `arn:aws:dynamodb:REGION:ACCOUNT:table/awaknow/index/open-sessions`.
    pub resource: String,
}

/// The interceptor that appends each call's permissions to the file.
#[derive(Debug, Clone)]
pub struct CallLog {
    path: Arc<PathBuf>,
    function: Arc<str>,
}

impl CallLog {
    /// The call log the environment asks for, if any.
    pub fn from_env() -> Option<CallLog> {
        let path = std::env::var_os(CALL_LOG_VAR).filter(|p| !p.is_empty())?;
        let function = std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| "?".into());
        Some(CallLog {
            path: Arc::new(PathBuf::from(path)),
            function: function.into(),
        })
    }

    fn append(&self, permissions: &[Permission]) -> std::io::Result<()> {
        let mut text = String::new();
        for p in permissions {
            let line = serde_json::json!({
                "function": &*self.function,
                "action": p.action,
                "resource": p.resource,
            });
            text.push_str(&line.to_string());
            text.push('\n');
        }
        // One write of whole lines in append mode: lines of concurrent processes do not mix.
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&*self.path)?
            .write_all(text.as_bytes())
    }
}

impl Intercept for CallLog {
    fn name(&self) -> &'static str {
        "AwakNowCallLog"
    }

    // Before signing: presigning stops after it, and a presigned link needs its permission too.
    fn read_before_signing(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let metadata = cfg
            .load::<Metadata>()
            .ok_or("call log: the operation has no metadata")?;
        let request = context.request();
        let permissions = permissions(
            metadata.service(),
            metadata.name(),
            request.uri(),
            request.body().bytes(),
        )?;
        self.append(&permissions)
            .map_err(|e| format!("call log: cannot append to {}: {e}", self.path.display()))?;
        Ok(())
    }
}

/// Adds the call log to a client's configuration when the environment asks for one.
pub fn attach<B>(builder: B, add: impl FnOnce(B, CallLog) -> B) -> B {
    match CallLog::from_env() {
        Some(log) => add(builder, log),
        None => builder,
    }
}

/// The permissions one request needs, by the service's IAM rules: a transaction needs the
/// action of each item it holds (there is no transaction action in IAM), an S3 request on a
/// version needs the version's action, a HEAD needs GetObject.
pub fn permissions(
    service: &str,
    operation: &str,
    uri: &str,
    body: Option<&[u8]>,
) -> Result<Vec<Permission>, String> {
    let service = service.to_ascii_lowercase();
    if service.contains("dynamodb") {
        let body: Value = serde_json::from_slice(body.unwrap_or(b"{}"))
            .map_err(|e| format!("call log: a DynamoDB body that is not JSON: {e}"))?;
        Ok(dynamodb(operation, &body))
    } else if service.contains("secrets") {
        let body: Value = serde_json::from_slice(body.unwrap_or(b"{}"))
            .map_err(|e| format!("call log: a Secrets Manager body that is not JSON: {e}"))?;
        let secret = body["SecretId"].as_str().unwrap_or("?");
        let resource = if secret.starts_with("arn:") {
            secret.to_owned()
        } else {
            format!("arn:aws:secretsmanager:REGION:ACCOUNT:secret:{secret}")
        };
        Ok(vec![permission(
            format!("secretsmanager:{operation}"),
            resource,
        )])
    } else if service.contains("s3") {
        Ok(s3(operation, uri))
    } else {
        Err(format!(
            "call log: no IAM rule for {service}:{operation}; teach aws::call_log"
        ))
    }
}

fn permission(action: String, resource: String) -> Permission {
    Permission { action, resource }
}

fn table_arn(table: &str, index: Option<&str>) -> String {
    match index {
        Some(index) => format!("arn:aws:dynamodb:REGION:ACCOUNT:table/{table}/index/{index}"),
        None => format!("arn:aws:dynamodb:REGION:ACCOUNT:table/{table}"),
    }
}

fn dynamodb(operation: &str, body: &Value) -> Vec<Permission> {
    let action = |a: &str| format!("dynamodb:{a}");
    match operation {
        "TransactWriteItems" | "TransactGetItems" => body["TransactItems"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|item| {
                let (kind, inner) = item.as_object()?.iter().next()?;
                let item_action = match kind.as_str() {
                    "Put" => "PutItem",
                    "Update" => "UpdateItem",
                    "Delete" => "DeleteItem",
                    "ConditionCheck" => "ConditionCheckItem",
                    "Get" => "GetItem",
                    other => other,
                };
                let table = inner["TableName"].as_str()?;
                Some(permission(action(item_action), table_arn(table, None)))
            })
            .collect(),
        "BatchGetItem" | "BatchWriteItem" => body["RequestItems"]
            .as_object()
            .into_iter()
            .flat_map(|tables| tables.keys())
            .map(|table| permission(action(operation), table_arn(table, None)))
            .collect(),
        _ => {
            let table = body["TableName"].as_str().unwrap_or("?");
            vec![permission(
                action(operation),
                table_arn(table, body["IndexName"].as_str()),
            )]
        }
    }
}

/// S3 on a path-style endpoint (the local stack's): `/bucket/key?query`. A delete by version id
/// needs both delete actions: S3's DeleteObject reference asks for `s3:DeleteObject` on every
/// delete and `s3:DeleteObjectVersion` as well for one version.
fn s3(operation: &str, uri: &str) -> Vec<Permission> {
    let without_scheme = uri.split_once("://").map_or(uri, |(_, rest)| rest);
    let path_and_query = without_scheme
        .find('/')
        .map_or("/", |i| &without_scheme[i..]);
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    let path = path.trim_start_matches('/');
    let (bucket, key) = path.split_once('/').unwrap_or((path, ""));
    let versioned = query.split('&').any(|pair| pair.starts_with("versionId="));
    let object = format!("arn:aws:s3:::{bucket}/{key}");
    let bucket_arn = format!("arn:aws:s3:::{bucket}");
    if operation == "DeleteObject" && versioned {
        return vec![
            permission("s3:DeleteObject".into(), object.clone()),
            permission("s3:DeleteObjectVersion".into(), object),
        ];
    }
    let (action, resource) = match operation {
        "GetObject" if versioned => ("GetObjectVersion", object),
        "GetObject" | "HeadObject" => ("GetObject", object),
        "ListObjectVersions" => ("ListBucketVersions", bucket_arn),
        "ListObjectsV2" | "ListObjects" => ("ListBucket", bucket_arn),
        "DeleteObjects" => ("DeleteObject", format!("{bucket_arn}/*")),
        other if key.is_empty() => (other, bucket_arn),
        other => (other, object),
    };
    vec![permission(format!("s3:{action}"), resource)]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actions(ps: &[Permission]) -> Vec<(&str, &str)> {
        ps.iter()
            .map(|p| (p.action.as_str(), p.resource.as_str()))
            .collect()
    }

    #[test]
    fn a_transaction_needs_the_action_of_each_item() {
        let body = br#"{"TransactItems":[
            {"Update":{"TableName":"t","Key":{}}},
            {"Put":{"TableName":"t","Item":{}}},
            {"ConditionCheck":{"TableName":"t","Key":{}}},
            {"Delete":{"TableName":"t","Key":{}}}]}"#;
        let ps = permissions("DynamoDB", "TransactWriteItems", "http://x/", Some(body)).unwrap();
        let table = "arn:aws:dynamodb:REGION:ACCOUNT:table/t";
        assert_eq!(
            actions(&ps),
            [
                ("dynamodb:UpdateItem", table),
                ("dynamodb:PutItem", table),
                ("dynamodb:ConditionCheckItem", table),
                ("dynamodb:DeleteItem", table),
            ]
        );
    }

    #[test]
    fn a_query_of_an_index_needs_the_index() {
        let body = br#"{"TableName":"t","IndexName":"open-sessions"}"#;
        let ps = permissions("dynamodb", "Query", "http://x/", Some(body)).unwrap();
        assert_eq!(
            actions(&ps),
            [(
                "dynamodb:Query",
                "arn:aws:dynamodb:REGION:ACCOUNT:table/t/index/open-sessions"
            )]
        );
    }

    #[test]
    fn s3_versions_heads_and_listings_need_their_own_actions() {
        let by_version = permissions(
            "S3",
            "DeleteObject",
            "http://h:1/b/k/a.mp4?versionId=3",
            None,
        )
        .unwrap();
        assert_eq!(
            actions(&by_version),
            [
                ("s3:DeleteObject", "arn:aws:s3:::b/k/a.mp4"),
                ("s3:DeleteObjectVersion", "arn:aws:s3:::b/k/a.mp4"),
            ]
        );
        let cases = [
            (
                "DeleteObject",
                "http://h:1/b/k/a.mp4?x-id=DeleteObject",
                "s3:DeleteObject",
                "arn:aws:s3:::b/k/a.mp4",
            ),
            (
                "HeadObject",
                "http://h:1/b/k",
                "s3:GetObject",
                "arn:aws:s3:::b/k",
            ),
            (
                "ListObjectVersions",
                "http://h:1/b?versions&prefix=k",
                "s3:ListBucketVersions",
                "arn:aws:s3:::b",
            ),
            (
                "ListObjectsV2",
                "http://h:1/b?list-type=2",
                "s3:ListBucket",
                "arn:aws:s3:::b",
            ),
            (
                "PutObject",
                "http://h:1/b/k",
                "s3:PutObject",
                "arn:aws:s3:::b/k",
            ),
        ];
        for (operation, uri, action, resource) in cases {
            let ps = permissions("S3", operation, uri, None).unwrap();
            assert_eq!(actions(&ps), [(action, resource)], "{operation} {uri}");
        }
    }

    #[test]
    fn a_secret_by_name_or_by_arn() {
        let by_name = permissions(
            "Secrets Manager",
            "GetSecretValue",
            "http://x/",
            Some(br#"{"SecretId":"awaknow/dev/tavus"}"#),
        )
        .unwrap();
        assert_eq!(
            actions(&by_name),
            [(
                "secretsmanager:GetSecretValue",
                "arn:aws:secretsmanager:REGION:ACCOUNT:secret:awaknow/dev/tavus"
            )]
        );
        let arn = "arn:aws:secretsmanager:us-east-1:1:secret:s-AbCdEf";
        let body = format!(r#"{{"SecretId":"{arn}"}}"#);
        let by_arn = permissions(
            "secretsmanager",
            "GetSecretValue",
            "http://x/",
            Some(body.as_bytes()),
        )
        .unwrap();
        assert_eq!(by_arn[0].resource, arn);
    }

    #[test]
    fn a_service_without_a_rule_is_an_error_not_a_silent_gap() {
        assert!(permissions("STS", "AssumeRole", "http://x/", None).is_err());
    }
}
