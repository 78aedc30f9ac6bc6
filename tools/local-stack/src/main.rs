//! `local-stack create-table --endpoint URL --table NAME [--template PATH]`
//!
//! Creates the table of `template.yaml` on a local DynamoDB. Idempotent: an existing table is
//! left alone.

use std::path::PathBuf;
use std::process::ExitCode;

use local_stack::{TableDefinition, local_client};

const USAGE: &str = "usage: local-stack create-table --endpoint URL --table NAME [--template PATH]";

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) != Some("create-table") {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    }
    let mut endpoint = None;
    let mut table = None;
    let mut template = PathBuf::from("template.yaml");
    let mut rest = args[1..].iter();
    while let Some(flag) = rest.next() {
        let value = rest.next();
        match (flag.as_str(), value) {
            ("--endpoint", Some(v)) => endpoint = Some(v.clone()),
            ("--table", Some(v)) => table = Some(v.clone()),
            ("--template", Some(v)) => template = PathBuf::from(v),
            _ => {
                eprintln!("{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    let (Some(endpoint), Some(table)) = (endpoint, table) else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let definition = match TableDefinition::from_template_file(&template) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("local-stack: {e}");
            return ExitCode::FAILURE;
        }
    };
    match definition
        .create(&local_client(&endpoint).await, &table)
        .await
    {
        Ok(true) => println!("created table {table} from {}", template.display()),
        Ok(false) => println!("table {table} already exists"),
        Err(e) => {
            eprintln!("local-stack: {e}");
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}
