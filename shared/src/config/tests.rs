use super::*;

fn vars(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
    move |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| (*v).to_owned())
    }
}

const CREATE: &[(&str, &str)] = &[
    ("TABLE_NAME", "t"),
    ("TAVUS_SECRET_ID", "awaknow/tavus"),
    ("TAVUS_PERSONA_ID_REFLECT", "p1"),
    ("TAVUS_PERSONA_ID_RESOLVE", "p2"),
    ("PUBLIC_API_URL", "http://127.0.0.1:3000/"),
];

#[test]
fn each_http_function_reads_what_its_routes_need() {
    let create = HttpConfig::from_lookup(Function::CreateSession, &vars(CREATE)).unwrap();
    assert!(create.auth.is_some() && create.tavus.is_some());
    assert_eq!(create.public_url.as_deref(), Some("http://127.0.0.1:3000"));
    let usage = HttpConfig::from_lookup(Function::GetUsage, &vars(&[("TABLE_NAME", "t")])).unwrap();
    assert!(usage.auth.is_some() && usage.tavus.is_none());
    assert_eq!(usage.export_inline_limit, EXPORT_INLINE_LIMIT);
    let lowered = &[("TABLE_NAME", "t"), ("EXPORT_INLINE_LIMIT_BYTES", "200000")];
    let usage = HttpConfig::from_lookup(Function::GetUsage, &vars(lowered)).unwrap();
    assert_eq!(usage.export_inline_limit, 200_000);
    let webhook = HttpConfig::from_lookup(
        Function::TavusWebhook,
        &vars(&[("TABLE_NAME", "t"), ("TAVUS_SECRET_ID", "s")]),
    )
    .unwrap();
    assert!(webhook.auth.is_none() && webhook.tavus.is_some());
}

#[test]
fn errors_name_the_variable() {
    type Vars = &'static [(&'static str, &'static str)];
    let cases: [(Function, Vars, &str); 6] = [
        (Function::GetUsage, &[], "TABLE_NAME"),
        (
            Function::GetUsage,
            &[
                ("TABLE_NAME", "t"),
                ("EXPORT_INLINE_LIMIT_BYTES", "6000001"),
            ],
            "EXPORT_INLINE_LIMIT_BYTES",
        ),
        (
            Function::GetUsage,
            &[("TABLE_NAME", "t"), ("EXPORT_INLINE_LIMIT_BYTES", "big")],
            "EXPORT_INLINE_LIMIT_BYTES",
        ),
        (
            Function::TavusWebhook,
            &[("TABLE_NAME", "t")],
            "TAVUS_SECRET_ID",
        ),
        (
            Function::CreateSession,
            &[("TABLE_NAME", "t"), ("TAVUS_SECRET_ID", "s")],
            "TAVUS_PERSONA_ID_REFLECT",
        ),
        (
            Function::GetUsage,
            &[("TABLE_NAME", "t"), ("AUTH_MODE", "magic")],
            "AUTH_MODE",
        ),
    ];
    for (function, pairs, var) in cases {
        let err = HttpConfig::from_lookup(function, &vars(pairs))
            .unwrap_err()
            .to_string();
        assert!(err.contains(var), "{function:?}: {err}");
    }
    let err = SecretConfig::from_lookup(&vars(&[
        ("TAVUS_SECRET_ID", "s"),
        ("SECRET_CACHE_TTL_SECONDS", "soon"),
    ]))
    .unwrap_err()
    .to_string();
    assert!(err.contains("SECRET_CACHE_TTL_SECONDS"), "{err}");
}

#[test]
fn the_sweeper_and_the_reset_read_their_tuning_with_defaults() {
    let base = [("TABLE_NAME", "t"), ("TAVUS_SECRET_ID", "s")];
    let sweep = SweepConfig::from_lookup(&vars(Box::leak(Box::new(base)))).unwrap();
    assert_eq!(sweep.options.grace, chrono::Duration::minutes(10));
    assert_eq!(sweep.options.orphan_min_age, chrono::Duration::seconds(60));
    let sweep = SweepConfig::from_lookup(&vars(&[
        ("TABLE_NAME", "t"),
        ("TAVUS_SECRET_ID", "s"),
        ("SWEEP_GRACE_MINUTES", "3"),
        ("TAVUS_DELETE_AFTER_CALL", "false"),
    ]))
    .unwrap();
    assert_eq!(sweep.options.grace, chrono::Duration::minutes(3));
    assert!(!sweep.options.delete_after_call);
    let err = SweepConfig::from_lookup(&vars(&[
        ("TABLE_NAME", "t"),
        ("TAVUS_SECRET_ID", "s"),
        ("SWEEP_GRACE_MINUTES", "-1"),
    ]))
    .unwrap_err()
    .to_string();
    assert!(err.contains("SWEEP_GRACE_MINUTES"), "{err}");

    let reset = ResetConfig::from_lookup(&vars(&[("TABLE_NAME", "t")])).unwrap();
    assert_eq!(
        reset.options.shard_concurrency,
        ResetOptions::default().shard_concurrency
    );
    for bad in ["0", "many"] {
        let pairs: &'static [(&str, &str)] = Box::leak(Box::new([
            ("TABLE_NAME", "t"),
            ("RESET_ACCOUNT_CONCURRENCY", bad),
        ]));
        let err = ResetConfig::from_lookup(&vars(pairs))
            .unwrap_err()
            .to_string();
        assert!(err.contains("RESET_ACCOUNT_CONCURRENCY"), "{bad}: {err}");
    }
}

#[test]
fn the_audit_reads_the_ledger_tavus_and_the_bucket_and_its_settling_time() {
    let audit =
        AuditConfig::from_lookup(&vars(&[("TABLE_NAME", "t"), ("TAVUS_SECRET_ID", "s")])).unwrap();
    assert_eq!(audit.ledger.table_name, "t");
    assert_eq!(audit.tavus.secret.secret_id, "s");
    assert!(audit.recordings.is_none(), "no bucket: nothing recorded");
    assert_eq!(
        audit.options.settling_time,
        crate::service::audit::SETTLING_TIME
    );
    assert!(audit.options.tavus_copies_deleted);
    assert_eq!(audit.options.recording_retention, None);

    let audit = AuditConfig::from_lookup(&vars(&[
        ("TABLE_NAME", "t"),
        ("TAVUS_SECRET_ID", "s"),
        ("RECORDINGS_BUCKET", "rec"),
        ("TAVUS_RECORDING_ROLE_ARN", "arn:aws:iam::1:role/r"),
        ("AWS_REGION", "eu-west-1"),
        ("AUDIT_SETTLING_SECONDS", "5"),
        ("TAVUS_DELETE_AFTER_CALL", "false"),
        ("RECORDING_RETENTION_DAYS", "365"),
    ]))
    .unwrap();
    let bucket = audit.recordings.expect("the recordings bucket");
    assert_eq!(bucket.target.bucket, "rec");
    assert_eq!(audit.options.settling_time, chrono::Duration::seconds(5));
    assert!(!audit.options.tavus_copies_deleted);
    assert_eq!(
        audit.options.recording_retention,
        Some(chrono::Duration::days(365))
    );

    type Vars = &'static [(&'static str, &'static str)];
    let cases: [(Vars, &str); 4] = [
        (&[], "TABLE_NAME"),
        (&[("TABLE_NAME", "t")], "TAVUS_SECRET_ID"),
        (
            &[
                ("TABLE_NAME", "t"),
                ("TAVUS_SECRET_ID", "s"),
                ("RECORDINGS_BUCKET", "rec"),
            ],
            "TAVUS_RECORDING_ROLE_ARN",
        ),
        (
            &[
                ("TABLE_NAME", "t"),
                ("TAVUS_SECRET_ID", "s"),
                ("AUDIT_SETTLING_SECONDS", "-1"),
            ],
            "AUDIT_SETTLING_SECONDS",
        ),
    ];
    for (pairs, var) in cases {
        let err = AuditConfig::from_lookup(&vars(pairs))
            .unwrap_err()
            .to_string();
        assert!(err.contains(var), "{var}: {err}");
    }
}
