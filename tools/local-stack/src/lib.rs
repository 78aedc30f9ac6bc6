//! Creates the DynamoDB table from `template.yaml`, the only place the table is defined, so the
//! local stack and every store test run on the same keys, indexes and TTL as production.

use std::path::{Path, PathBuf};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use serde_yaml_ng::Value;

/// The logical id of the table in `template.yaml`.
pub const TABLE_RESOURCE: &str = "SessionsTable";

#[derive(Debug, thiserror::Error)]
pub enum TableError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("template is not valid YAML: {0}")]
    Yaml(#[from] serde_yaml_ng::Error),
    #[error("template: {0}")]
    Template(String),
    #[error("DynamoDB: {0}")]
    Dynamo(String),
}

/// The workspace's root (where template.yaml, events/ and Cargo.lock are), found from this
/// crate's own place in it.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The workspace's template.yaml.
pub fn template_path() -> PathBuf {
    workspace_root().join("template.yaml")
}

/// The one reader of a template: the file at `path` as a YAML value.
pub fn read_template(path: &Path) -> Result<Value, TableError> {
    let template = std::fs::read_to_string(path).map_err(|source| TableError::Read {
        path: path.display().to_string(),
        source,
    })?;
    Ok(serde_yaml_ng::from_str(&template)?)
}

/// The parts of the table definition that DynamoDB Local needs.
#[derive(Debug, Clone, PartialEq)]
pub struct TableDefinition {
    pub attributes: Vec<AttributeDefinition>,
    pub key_schema: Vec<KeySchemaElement>,
    pub global_indexes: Vec<GlobalSecondaryIndex>,
    pub ttl_attribute: Option<String>,
}

fn field<'a>(value: &'a Value, name: &str, context: &str) -> Result<&'a Value, TableError> {
    value
        .get(name)
        .ok_or_else(|| TableError::Template(format!("{context} has no {name}")))
}

fn text(value: &Value, name: &str, context: &str) -> Result<String, TableError> {
    field(value, name, context)?
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| TableError::Template(format!("{context}.{name} is not a plain string")))
}

fn list<'a>(value: &'a Value, name: &str, context: &str) -> Result<&'a Vec<Value>, TableError> {
    field(value, name, context)?
        .as_sequence()
        .ok_or_else(|| TableError::Template(format!("{context}.{name} is not a list")))
}

fn parse_key_schema(value: &Value, context: &str) -> Result<Vec<KeySchemaElement>, TableError> {
    list(value, "KeySchema", context)?
        .iter()
        .map(|k| {
            let key_type = match text(k, "KeyType", context)?.as_str() {
                "HASH" => KeyType::Hash,
                "RANGE" => KeyType::Range,
                other => {
                    return Err(TableError::Template(format!(
                        "{context}: unknown KeyType {other}"
                    )));
                }
            };
            KeySchemaElement::builder()
                .attribute_name(text(k, "AttributeName", context)?)
                .key_type(key_type)
                .build()
                .map_err(|e| TableError::Template(e.to_string()))
        })
        .collect()
}

impl TableDefinition {
    /// Reads the table resource out of a SAM/CloudFormation template, parsed by
    /// [`read_template`].
    pub fn from_template_value(doc: &Value) -> Result<TableDefinition, TableError> {
        let table = doc
            .get("Resources")
            .and_then(|r| r.get(TABLE_RESOURCE))
            .ok_or_else(|| TableError::Template(format!("no resource {TABLE_RESOURCE}")))?;
        let props = field(table, "Properties", TABLE_RESOURCE)?;
        let attributes = list(props, "AttributeDefinitions", TABLE_RESOURCE)?
            .iter()
            .map(|a| {
                let kind = match text(a, "AttributeType", "AttributeDefinitions")?.as_str() {
                    "S" => ScalarAttributeType::S,
                    "N" => ScalarAttributeType::N,
                    "B" => ScalarAttributeType::B,
                    other => {
                        return Err(TableError::Template(format!(
                            "unknown AttributeType {other}"
                        )));
                    }
                };
                AttributeDefinition::builder()
                    .attribute_name(text(a, "AttributeName", "AttributeDefinitions")?)
                    .attribute_type(kind)
                    .build()
                    .map_err(|e| TableError::Template(e.to_string()))
            })
            .collect::<Result<_, _>>()?;
        let key_schema = parse_key_schema(props, TABLE_RESOURCE)?;
        let global_indexes = match props.get("GlobalSecondaryIndexes") {
            None => Vec::new(),
            Some(_) => list(props, "GlobalSecondaryIndexes", TABLE_RESOURCE)?
                .iter()
                .map(|gsi| {
                    let name = text(gsi, "IndexName", "GlobalSecondaryIndexes")?;
                    let projection = field(gsi, "Projection", &name)?;
                    let projection_type = match text(projection, "ProjectionType", &name)?.as_str()
                    {
                        "ALL" => ProjectionType::All,
                        "KEYS_ONLY" => ProjectionType::KeysOnly,
                        "INCLUDE" => ProjectionType::Include,
                        other => {
                            return Err(TableError::Template(format!(
                                "{name}: unknown ProjectionType {other}"
                            )));
                        }
                    };
                    let non_key = match projection.get("NonKeyAttributes") {
                        Some(_) => Some(
                            list(projection, "NonKeyAttributes", &name)?
                                .iter()
                                .map(|v| v.as_str().map(str::to_owned))
                                .collect::<Option<Vec<_>>>()
                                .ok_or_else(|| {
                                    TableError::Template(format!(
                                        "{name}: NonKeyAttributes must be strings"
                                    ))
                                })?,
                        ),
                        None => None,
                    };
                    GlobalSecondaryIndex::builder()
                        .index_name(&name)
                        .set_key_schema(Some(parse_key_schema(gsi, &name)?))
                        .projection(
                            Projection::builder()
                                .projection_type(projection_type)
                                .set_non_key_attributes(non_key)
                                .build(),
                        )
                        .build()
                        .map_err(|e| TableError::Template(e.to_string()))
                })
                .collect::<Result<_, _>>()?,
        };
        let ttl_attribute = match props.get("TimeToLiveSpecification") {
            Some(ttl) if ttl.get("Enabled").and_then(Value::as_bool) == Some(true) => {
                Some(text(ttl, "AttributeName", "TimeToLiveSpecification")?)
            }
            _ => None,
        };
        Ok(TableDefinition {
            attributes,
            key_schema,
            global_indexes,
            ttl_attribute,
        })
    }

    pub fn from_template_file(path: &Path) -> Result<TableDefinition, TableError> {
        Self::from_template_value(&read_template(path)?)
    }

    /// Creates the table under `name`; an existing table of that name is left as it is.
    /// Returns whether it was created.
    pub async fn create(&self, client: &Client, name: &str) -> Result<bool, TableError> {
        let result = client
            .create_table()
            .table_name(name)
            .billing_mode(BillingMode::PayPerRequest)
            .set_attribute_definitions(Some(self.attributes.clone()))
            .set_key_schema(Some(self.key_schema.clone()))
            .set_global_secondary_indexes(
                (!self.global_indexes.is_empty()).then(|| self.global_indexes.clone()),
            )
            .send()
            .await;
        if let Err(err) = result {
            let exists = err
                .as_service_error()
                .is_some_and(|e| e.is_resource_in_use_exception());
            if exists {
                return Ok(false);
            }
            return Err(TableError::Dynamo(DisplayErrorContext(&err).to_string()));
        }
        if let Some(attribute) = &self.ttl_attribute {
            let spec = TimeToLiveSpecification::builder()
                .attribute_name(attribute)
                .enabled(true)
                .build()
                .map_err(|e| TableError::Template(e.to_string()))?;
            client
                .update_time_to_live()
                .table_name(name)
                .time_to_live_specification(spec)
                .send()
                .await
                .map_err(|e| TableError::Dynamo(DisplayErrorContext(&e).to_string()))?;
        }
        Ok(true)
    }
}

/// A DynamoDB client for a local endpoint, with static dummy credentials.
pub async fn local_client(endpoint: &str) -> Client {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "local",
            "local",
            None,
            None,
            "local-stack",
        ))
        .load()
        .await;
    Client::new(&config)
}

/// Ends a test binary whose tests need the local services when `var` (where one listens) is not
/// set: a plain `cargo test` without the stack. One line says how to run them; the exit status is
/// success, since nothing failed. Written to the process's stderr directly, past the test
/// harness's output capture, so the line is seen.
pub fn skip_service_tests(var: &str) -> ! {
    use std::io::Write;
    static SAID: std::sync::Once = std::sync::Once::new();
    SAID.call_once(|| {
        let binary = std::env::args().next().unwrap_or_default();
        let binary = binary.rsplit('/').next().unwrap_or_default();
        let _ = writeln!(
            std::io::stderr(),
            "skipped: {binary} needs the local services ({var} is not set). `make test` starts \
             them and runs every test; `make unit` runs the tests that need none."
        );
    });
    std::process::exit(0)
}
