//! What template.yaml lets an operator deploy: an authorizer bound to an issuer and an audience,
//! and the cap on open sessions passed to the functions. CloudFormation checks a parameter's
//! `AllowedPattern` against the whole value (each value of a list); these tests do the same.

use serde_yaml_ng::Value;

use crate::template_path;

fn template() -> (String, Value) {
    let text = std::fs::read_to_string(template_path()).expect("read template.yaml");
    let value = serde_yaml_ng::from_str(&text).expect("template.yaml is YAML");
    (text, value)
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
