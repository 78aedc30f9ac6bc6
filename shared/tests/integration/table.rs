//! The table the tests run on is the one template.yaml defines, with the names the code uses.

use awaknow_core::store::keys;
use local_stack::TableDefinition;

use crate::support::template_path;

#[test]
fn template_defines_the_keys_and_indexes_the_code_uses() {
    let table = TableDefinition::from_template_file(&template_path()).unwrap();
    let names = |schema: &[aws_sdk_dynamodb::types::KeySchemaElement]| -> Vec<String> {
        schema
            .iter()
            .map(|k| k.attribute_name().to_owned())
            .collect()
    };
    assert_eq!(names(&table.key_schema), [keys::PK, keys::SK]);
    let index = |name: &str| {
        table
            .global_indexes
            .iter()
            .find(|i| i.index_name() == name)
            .unwrap_or_else(|| panic!("template.yaml has no index {name}"))
    };
    assert_eq!(
        names(index(keys::ACCOUNTS_BY_PERIOD_INDEX).key_schema()),
        [keys::ACCOUNT_SHARD, "period"]
    );
    assert_eq!(
        names(index(keys::OPEN_SESSIONS_INDEX).key_schema()),
        [keys::OPEN_SHARD, keys::OPEN_UNTIL]
    );
    assert_eq!(table.ttl_attribute.as_deref(), Some("expires_at"));
}
