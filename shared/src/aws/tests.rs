use aws_types::service_config::{LoadServiceConfig, ServiceConfigKey};

use super::{EnvEndpoints, sdk_config_from};
use crate::config::ConfigError;

fn lookup_in(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
    move |name| {
        vars.iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.to_string())
    }
}

const LAMBDA: &[(&str, &str)] = &[
    ("AWS_REGION", "eu-west-1"),
    ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
    ("AWS_SECRET_ACCESS_KEY", "secret"),
    ("AWS_SESSION_TOKEN", "token"),
];

fn endpoint_for(endpoints: &EnvEndpoints, service_id: &str) -> Option<String> {
    let key = ServiceConfigKey::builder()
        .service_id(service_id)
        .env("AWS_ENDPOINT_URL")
        .profile("endpoint_url")
        .build()
        .unwrap();
    endpoints.load_config(key)
}

#[test]
fn lambdas_environment_gives_region_and_credentials() {
    let sdk = sdk_config_from(&lookup_in(LAMBDA)).unwrap();
    assert_eq!(sdk.region().map(|r| r.as_ref()), Some("eu-west-1"));
    assert!(sdk.credentials_provider().is_some());
    assert!(sdk.http_client().is_some());
}

#[test]
fn default_region_is_the_fallback() {
    let vars = &[
        ("AWS_DEFAULT_REGION", "us-west-2"),
        ("AWS_ACCESS_KEY_ID", "local"),
        ("AWS_SECRET_ACCESS_KEY", "local"),
    ];
    let sdk = sdk_config_from(&lookup_in(vars)).unwrap();
    assert_eq!(sdk.region().map(|r| r.as_ref()), Some("us-west-2"));
}

#[test]
fn a_missing_variable_is_named() {
    let no_region = &[("AWS_ACCESS_KEY_ID", "a"), ("AWS_SECRET_ACCESS_KEY", "b")];
    let no_secret = &[("AWS_REGION", "us-east-1"), ("AWS_ACCESS_KEY_ID", "a")];
    for (vars, missing) in [
        (&no_region[..], "AWS_REGION"),
        (&no_secret[..], "AWS_SECRET_ACCESS_KEY"),
    ] {
        match sdk_config_from(&lookup_in(vars)) {
            Err(ConfigError::Missing(var)) => assert_eq!(var, missing),
            other => panic!("expected {missing} missing, got {other:?}"),
        }
    }
}

#[test]
fn a_service_endpoint_wins_over_the_global_one() {
    let vars = &[
        ("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:8000"),
        ("AWS_ENDPOINT_URL_SECRETS_MANAGER", "http://127.0.0.1:5000"),
        ("AWS_ENDPOINT_URL", "http://127.0.0.1:9000"),
    ];
    let endpoints = EnvEndpoints::from_lookup(&lookup_in(vars));
    assert_eq!(
        endpoint_for(&endpoints, "DynamoDB").as_deref(),
        Some("http://127.0.0.1:8000")
    );
    assert_eq!(
        endpoint_for(&endpoints, "Secrets Manager").as_deref(),
        Some("http://127.0.0.1:5000")
    );
    assert_eq!(
        endpoint_for(&endpoints, "S3").as_deref(),
        Some("http://127.0.0.1:9000")
    );
}

#[test]
fn no_endpoint_variable_leaves_the_regional_endpoint() {
    let endpoints = EnvEndpoints::from_lookup(&lookup_in(LAMBDA));
    assert_eq!(endpoint_for(&endpoints, "DynamoDB"), None);
}
