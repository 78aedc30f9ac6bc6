//! What template.yaml lets an operator deploy: an authorizer bound to an issuer and an audience,
//! and the cap on open sessions passed to the functions. CloudFormation checks a parameter's
//! `AllowedPattern` against the whole value (each value of a list); these tests do the same.

use serde_yaml_ng::Value;

use test_support::template_path;

/// The template's text (some checks are about its sections as written) and its value.
fn template() -> (String, Value) {
    let text = std::fs::read_to_string(template_path()).expect("read template.yaml");
    (text, test_support::template())
}

fn parameter<'a>(template: &'a Value, name: &str) -> &'a Value {
    template["Parameters"]
        .get(name)
        .unwrap_or_else(|| panic!("template.yaml has no parameter {name}"))
}

/// Whether CloudFormation would accept `value` for a parameter with this definition.
fn accepts(definition: &Value, value: &str) -> bool {
    let pattern = definition["AllowedPattern"]
        .as_str()
        .expect("an AllowedPattern");
    let whole = regex::Regex::new(&format!("^(?:{pattern})$")).expect("a valid pattern");
    match definition["Type"].as_str() {
        Some("CommaDelimitedList") => value.split(',').all(|v| whole.is_match(v)),
        _ => whole.is_match(value),
    }
}

#[test]
fn the_authorizer_cannot_be_deployed_without_issuer_or_audience() {
    let (text, template) = template();
    let issuer = parameter(&template, "JwtIssuer");
    let audience = parameter(&template, "JwtAudience");
    for (name, definition) in [("JwtIssuer", issuer), ("JwtAudience", audience)] {
        assert!(
            definition.get("Default").is_none(),
            "{name} must have no default: the operator names it"
        );
    }
    for refused in ["", " ", "http://issuer.example", "https://", "https://a b"] {
        assert!(!accepts(issuer, refused), "JwtIssuer accepts {refused:?}");
    }
    for accepted in [
        "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123",
        "https://abcdefghij.supabase.co/auth/v1",
    ] {
        assert!(accepts(issuer, accepted), "JwtIssuer refuses {accepted:?}");
    }
    for refused in ["", " ", "authenticated,", ",client"] {
        assert!(
            !accepts(audience, refused),
            "JwtAudience accepts {refused:?}"
        );
    }
    for accepted in ["authenticated", "4v8mhr2kqd1n2b9e0example", "web,ios"] {
        assert!(
            accepts(audience, accepted),
            "JwtAudience refuses {accepted:?}"
        );
    }
    // And a rule, so an empty value is refused even if a parameter's constraint is edited away.
    let rules = template["Rules"]
        .as_mapping()
        .expect("template.yaml has a Rules section");
    assert!(!rules.is_empty());
    let rules_text = &text[text.find("\nRules:").expect("Rules section")..];
    let rules_text = &rules_text[..rules_text.find("\nConditions:").unwrap_or(rules_text.len())];
    for name in ["!Ref JwtIssuer", "!Ref JwtAudience"] {
        assert!(rules_text.contains(name), "no rule asserts on {name}");
    }
    // The authorizer uses exactly these parameters.
    let jwt = &template["Resources"]["Api"]["Properties"]["Auth"]["Authorizers"]["UserJwt"]["JwtConfiguration"];
    assert_eq!(
        serde_yaml_ng::to_string(&jwt["issuer"]).unwrap().trim(),
        "!Ref JwtIssuer"
    );
    assert_eq!(
        serde_yaml_ng::to_string(&jwt["audience"]).unwrap().trim(),
        "!Ref JwtAudience"
    );
}

#[test]
fn the_cap_on_open_sessions_is_a_parameter_every_function_gets() {
    let (_, template) = template();
    let cap = parameter(&template, "MaxOpenSessionsPerUser");
    assert_eq!(cap["Type"].as_str(), Some("Number"));
    assert_eq!(
        cap["Default"].as_u64(),
        Some(u64::from(awaknow_core::config::DEFAULT_MAX_OPEN_SESSIONS))
    );
    assert_eq!(cap["MinValue"].as_u64(), Some(1));
    let variable = &template["Globals"]["Function"]["Environment"]["Variables"]
        [awaknow_core::config::MAX_OPEN_SESSIONS_VAR];
    assert_eq!(
        serde_yaml_ng::to_string(variable).unwrap().trim(),
        "!Ref MaxOpenSessionsPerUser"
    );
}

/// The template's HTTP routes are the core's route table, line for line: the same key, served by
/// the same function, behind the JWT authorizer exactly when the route is for a signed-in user.
/// And the API's CORS lets a browser use the notes' entity tags and the new methods.
#[test]
fn the_templates_routes_are_the_route_table_and_cors_allows_them() {
    use awaknow_core::api::routes::ROUTES;

    let (_, template) = template();
    let mut declared = Vec::new();
    for (name, resource) in template["Resources"].as_mapping().expect("Resources") {
        let Some(events) = resource["Properties"]["Events"].as_mapping() else {
            continue;
        };
        let function = resource["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .unwrap_or_else(|| panic!("{name:?}: Metadata.BuildProperties.Binary"))
            .to_owned();
        for (_, event) in events {
            if event["Type"].as_str() == Some("HttpApi") {
                let props = &event["Properties"];
                let key = format!(
                    "{} {}",
                    props["Method"]
                        .as_str()
                        .expect("Method")
                        .to_ascii_uppercase(),
                    props["Path"].as_str().expect("Path")
                );
                let open = props["Auth"]["Authorizer"].as_str() == Some("NONE");
                declared.push((key, function.clone(), !open));
            }
        }
    }
    declared.sort();
    let mut table: Vec<(String, String, bool)> = ROUTES
        .iter()
        .map(|r| {
            (
                r.key.to_owned(),
                r.function.name().to_owned(),
                r.needs_jwt(),
            )
        })
        .collect();
    table.sort();
    assert_eq!(
        declared, table,
        "(route key, function, behind the JWT authorizer)"
    );

    let cors = &template["Resources"]["Api"]["Properties"]["CorsConfiguration"];
    let list = |field: &str| -> Vec<String> {
        cors[field]
            .as_sequence()
            .unwrap_or_else(|| panic!("CorsConfiguration.{field}"))
            .iter()
            .filter_map(|v| v.as_str().map(str::to_ascii_lowercase))
            .collect()
    };
    assert!(list("AllowHeaders").contains(&"if-match".to_owned()));
    assert!(list("ExposeHeaders").contains(&"etag".to_owned()));
    for method in ["put", "delete"] {
        assert!(
            list("AllowMethods").contains(&method.to_owned()),
            "{method}"
        );
    }
}

fn yaml(value: &Value) -> String {
    serde_yaml_ng::to_string(value).unwrap()
}

/// The recordings bucket: off unless asked for; private, encrypted, TLS only, versioned by
/// default (Tavus's older setup asks for it; erasure deletes every version, and noncurrent
/// versions expire), expiring after a parameter's days (30 by default). Tavus's role as its
/// recording docs require: trusting account 291871421005 with external id `tavus` (parameters
/// with those defaults), 12-hour sessions, the documented writer actions on this bucket only.
/// Each function gets only the actions it uses on it.
#[test]
fn the_recordings_bucket_and_tavus_s_role_are_as_tavus_documents_them() {
    let (_, template) = template();
    assert_eq!(
        parameter(&template, "Recordings")["Default"].as_str(),
        Some("off")
    );
    let retention = parameter(&template, "RecordingRetentionDays");
    assert_eq!(retention["Default"].as_u64(), Some(30));
    let account = parameter(&template, "TavusRecordingAccountId");
    assert_eq!(account["Default"].as_str(), Some("291871421005"));
    assert!(accepts(account, "123456789012"));
    assert!(!accepts(account, "") && !accepts(account, "tavus") && !accepts(account, "1234"));
    let external = parameter(&template, "TavusRecordingExternalId");
    assert_eq!(external["Default"].as_str(), Some("tavus"));
    let versioning = parameter(&template, "RecordingsBucketVersioning");
    assert_eq!(versioning["Default"].as_str(), Some("Enabled"));

    let resources = &template["Resources"];
    let bucket = &resources["RecordingsBucket"];
    assert_eq!(bucket["Condition"].as_str(), Some("HasRecordings"));
    let props = &bucket["Properties"];
    for flag in [
        "BlockPublicAcls",
        "BlockPublicPolicy",
        "IgnorePublicAcls",
        "RestrictPublicBuckets",
    ] {
        assert_eq!(
            props["PublicAccessBlockConfiguration"][flag].as_bool(),
            Some(true),
            "{flag}"
        );
    }
    assert!(yaml(&props["BucketEncryption"]).contains("SSEAlgorithm: AES256"));
    assert_eq!(
        yaml(&props["VersioningConfiguration"]["Status"]).trim(),
        "!Ref RecordingsBucketVersioning"
    );
    let rules = yaml(&props["LifecycleConfiguration"]["Rules"]);
    assert!(
        rules.contains("ExpirationInDays: !Ref RecordingRetentionDays"),
        "{rules}"
    );
    assert!(rules.contains("NoncurrentDays: 1"), "{rules}");
    assert!(rules.contains("ExpiredObjectDeleteMarker: true"), "{rules}");
    let policy = yaml(&resources["RecordingsBucketPolicy"]["Properties"]["PolicyDocument"]);
    assert!(policy.contains("aws:SecureTransport: 'false'"), "{policy}");

    let role = &resources["TavusRecordingRole"]["Properties"];
    assert_eq!(role["MaxSessionDuration"].as_u64(), Some(43200));
    let trust = yaml(&role["AssumeRolePolicyDocument"]);
    assert!(trust.contains("${TavusRecordingAccountId}"), "{trust}");
    assert!(
        trust.contains("sts:ExternalId: !Ref TavusRecordingExternalId"),
        "{trust}"
    );
    let policies = role["Policies"].as_sequence().expect("the role's policies");
    assert_eq!(policies.len(), 1);
    let statements = policies[0]["PolicyDocument"]["Statement"]
        .as_sequence()
        .expect("statements");
    let granted = |resource: &str| -> Vec<String> {
        statements
            .iter()
            .filter(|st| yaml(&st["Resource"]).trim() == resource)
            .flat_map(|st| match &st["Action"] {
                serde_yaml_ng::Value::Sequence(actions) => actions
                    .iter()
                    .filter_map(|a| a.as_str().map(str::to_owned))
                    .collect(),
                action => action
                    .as_str()
                    .map(str::to_owned)
                    .into_iter()
                    .collect::<Vec<String>>(),
            })
            .collect()
    };
    let mut objects = granted("!Sub ${RecordingsBucket.Arn}/*");
    objects.sort();
    assert_eq!(
        objects,
        [
            "s3:AbortMultipartUpload",
            "s3:GetObject",
            "s3:GetObjectVersion",
            "s3:ListMultipartUploadParts",
            "s3:PutObject"
        ]
    );
    let mut whole = granted("!GetAtt RecordingsBucket.Arn");
    whole.sort();
    assert_eq!(
        whole,
        [
            "s3:ListBucket",
            "s3:ListBucketMultipartUploads",
            "s3:ListBucketVersions"
        ]
    );
    assert_eq!(statements.len(), 2, "nothing else");

    let variables = &template["Globals"]["Function"]["Environment"]["Variables"];
    for var in [
        awaknow_core::config::RECORDINGS_BUCKET_VAR,
        awaknow_core::config::RECORDINGS_BUCKET_REGION_VAR,
        awaknow_core::config::TAVUS_RECORDING_ROLE_ARN_VAR,
    ] {
        assert!(variables.get(var).is_some(), "{var} reaches every function");
    }

    let s3_action = regex::Regex::new(r"s3:[A-Za-z*]+").unwrap();
    // Erasure deletes each version by its id (`null` in a bucket without versioning): S3 asks
    // for DeleteObject on every delete and DeleteObjectVersion on a delete by version.
    let erasing = vec![
        "s3:DeleteObject",
        "s3:DeleteObjectVersion",
        "s3:ListBucketVersions",
    ];
    for (function, expected) in [
        ("CreateSessionFunction", erasing.clone()),
        // It signs playback links, and puts an export too large for a response (exports/ only).
        ("GetUsageFunction", vec!["s3:GetObject", "s3:PutObject"]),
        ("SweepSessionsFunction", erasing.clone()),
        ("TavusWebhookFunction", erasing),
        ("MonthlyResetFunction", vec![]),
        ("SetPlanFunction", vec![]),
        // The audit lists the bucket and asks for a key (HEAD); it deletes nothing.
        ("AuditFunction", vec!["s3:ListBucket", "s3:GetObject"]),
    ] {
        let policies = yaml(&resources[function]["Properties"]["Policies"]);
        let actions: Vec<&str> = s3_action.find_iter(&policies).map(|m| m.as_str()).collect();
        assert_eq!(actions, expected, "{function}");
        for line in policies.lines().filter(|l| l.contains(":s3:::")) {
            assert!(
                line.contains("${RecordingsBucket}"),
                "{function}: the recordings bucket only: {line}"
            );
        }
        if function == "GetUsageFunction" {
            assert!(
                policies.contains("${RecordingsBucket}/exports/*"),
                "{function}: puts under exports/ only"
            );
        }
    }
}

/// Every route the API throttles (every route, through `DefaultRouteSettings`, and those with
/// settings of their own) documents its 429 in openapi.yaml, so a client generated from it
/// expects it and schemathesis checks it.
#[test]
fn every_throttled_route_documents_its_429() {
    let (_, template) = template();
    let api = &template["Resources"]["Api"]["Properties"];
    let every_route_throttled = api["DefaultRouteSettings"]
        .get("ThrottlingRateLimit")
        .is_some();
    let spec_path = template_path().with_file_name("openapi.yaml");
    let spec: Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(&spec_path).expect("read openapi.yaml"))
            .expect("openapi.yaml is YAML");
    let throttled_routes: Vec<String> = api["RouteSettings"]
        .as_mapping()
        .map(|m| {
            m.keys()
                .filter_map(|k| k.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let mut checked = 0;
    for (path, operations) in spec["paths"].as_mapping().expect("paths") {
        let path = path.as_str().expect("a path");
        for (method, operation) in operations.as_mapping().expect("operations") {
            let method = method.as_str().expect("a method").to_uppercase();
            let route = format!("{method} {path}");
            if !every_route_throttled && !throttled_routes.contains(&route) {
                continue;
            }
            checked += 1;
            // Creating a session has a 429 of its own as well: the user's pace.
            let expected = if route == "POST /sessions" {
                "#/components/responses/CreateThrottled"
            } else {
                "#/components/responses/Throttled"
            };
            assert_eq!(
                operation["responses"]["429"]["$ref"].as_str(),
                Some(expected),
                "{route} can be throttled: openapi.yaml must document its 429"
            );
        }
    }
    assert!(checked >= 12, "only {checked} routes checked");
    for name in ["Throttled", "CreateThrottled"] {
        let throttled = &spec["components"]["responses"][name];
        assert!(throttled["headers"].get("Retry-After").is_some(), "{name}");
        assert!(
            throttled["content"]
                .get("application/problem+json")
                .is_some(),
            "{name}"
        );
        assert!(
            throttled["content"].get("application/json").is_some(),
            "{name}: API Gateway's own answer"
        );
    }
}

/// The pace of creates per user is a parameter the create function gets, defaulting to the
/// core's default.
#[test]
fn the_pace_of_creates_is_a_parameter_every_function_gets() {
    let (_, template) = template();
    let pace = parameter(&template, "CreatesPerUserPerMinute");
    assert_eq!(pace["Type"].as_str(), Some("Number"));
    assert_eq!(
        pace["Default"].as_u64(),
        Some(u64::from(awaknow_core::domain::DEFAULT_CREATES_PER_MINUTE))
    );
    assert_eq!(pace["MinValue"].as_u64(), Some(1));
    assert_eq!(
        pace["MaxValue"].as_u64(),
        Some(u64::from(awaknow_core::domain::MAX_CREATES_PER_MINUTE))
    );
    let variable = &template["Globals"]["Function"]["Environment"]["Variables"]
        [awaknow_core::config::CREATES_PER_MINUTE_VAR];
    assert_eq!(
        serde_yaml_ng::to_string(variable).unwrap().trim(),
        "!Ref CreatesPerUserPerMinute"
    );
}

/// The audit function: the `audit` binary, daily on EventBridge Scheduler with the other
/// schedules' dead-letter queue and a retry policy, its failed runs to the failed-invocations
/// queue, up to Lambda's 15 minutes, one run at a time, and a role that can only read: the
/// table and the two indexes it queries, the Tavus secret, the recordings bucket's listing and
/// objects.
#[test]
fn the_audit_runs_daily_and_can_only_read() {
    let (_, template) = template();
    let function = &template["Resources"]["AuditFunction"];
    assert_eq!(
        function["Metadata"]["BuildProperties"]["Binary"].as_str(),
        Some("audit")
    );
    let props = &function["Properties"];
    assert_eq!(props["Timeout"].as_u64(), Some(900));
    assert_eq!(props["ReservedConcurrentExecutions"].as_u64(), Some(1));
    assert!(
        yaml(&props["EventInvokeConfig"]).contains("FailedInvocationsQueue.Arn"),
        "failed runs go to the alarmed queue"
    );
    let events = props["Events"].as_mapping().expect("Events");
    assert_eq!(events.len(), 1, "one schedule");
    let (_, schedule) = events.iter().next().unwrap();
    assert_eq!(schedule["Type"].as_str(), Some("ScheduleV2"));
    let schedule = &schedule["Properties"];
    let expression = schedule["ScheduleExpression"].as_str().unwrap();
    let fields: Vec<&str> = expression
        .trim_start_matches("cron(")
        .trim_end_matches(')')
        .split(' ')
        .collect();
    assert_eq!(
        fields[2..],
        ["*", "*", "?", "*"],
        "every day, once: {expression}"
    );
    assert!(
        fields[..2].iter().all(|f| f.parse::<u32>().is_ok()),
        "{expression}"
    );
    assert_eq!(schedule["ScheduleExpressionTimezone"].as_str(), Some("UTC"));
    assert!(yaml(&schedule["DeadLetterConfig"]).contains("ScheduleDeadLetterQueue.Arn"));
    assert!(
        schedule["RetryPolicy"]["MaximumRetryAttempts"]
            .as_u64()
            .is_some()
    );

    let policies = yaml(&props["Policies"]);
    let action =
        regex::Regex::new(r"(dynamodb|s3|secretsmanager|sqs|kms|lambda):[A-Za-z*]+").unwrap();
    let mut actions: Vec<&str> = action.find_iter(&policies).map(|m| m.as_str()).collect();
    actions.sort();
    actions.dedup();
    assert_eq!(
        actions,
        [
            "dynamodb:BatchGetItem",
            "dynamodb:GetItem",
            "dynamodb:Query",
            "s3:GetObject",
            "s3:ListBucket"
        ],
        "reads only"
    );
    for index in ["accounts-by-period", "open-sessions"] {
        assert!(
            policies.contains(&format!("${{SessionsTable.Arn}}/index/{index}")),
            "{index}: {policies}"
        );
    }
    assert!(
        policies.contains("AWSSecretsManagerGetSecretValuePolicy"),
        "the Tavus secret, read: {policies}"
    );
}
