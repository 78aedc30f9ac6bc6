//! Endpoint overrides from the environment, as the AWS SDKs define them: `AWS_ENDPOINT_URL_<SERVICE>`
//! (the service's id in capitals, spaces as underscores: `AWS_ENDPOINT_URL_DYNAMODB`,
//! `AWS_ENDPOINT_URL_SECRETS_MANAGER`, `AWS_ENDPOINT_URL_S3`) before the global
//! `AWS_ENDPOINT_URL`. The local stack points the functions at DynamoDB Local, moto and moto's S3
//! this way; on Lambda none is set and each client resolves its regional endpoint.

use aws_types::service_config::{LoadServiceConfig, ServiceConfigKey};

use crate::config::Lookup;

/// The endpoint variables present when the function started.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvEndpoints {
    /// `(variable, value)` for every `AWS_ENDPOINT_URL*` variable this backend's clients ask for.
    set: Vec<(String, String)>,
}

/// The services whose clients the functions build, by their SDK service id.
const SERVICES: [&str; 3] = ["DynamoDB", "Secrets Manager", "S3"];
const ENDPOINT_URL: &str = "AWS_ENDPOINT_URL";

impl EnvEndpoints {
    pub fn from_lookup(lookup: Lookup<'_>) -> EnvEndpoints {
        let names = SERVICES
            .iter()
            .map(|service| service_variable(ENDPOINT_URL, service))
            .chain([ENDPOINT_URL.to_owned()]);
        let set = names
            .filter_map(|name| crate::config::value(lookup, &name).map(|value| (name, value)))
            .collect();
        EnvEndpoints { set }
    }

    fn get(&self, name: &str) -> Option<String> {
        self.set
            .iter()
            .find(|(set, _)| set == name)
            .map(|(_, value)| value.clone())
    }
}

/// `AWS_ENDPOINT_URL` and "Secrets Manager" → `AWS_ENDPOINT_URL_SECRETS_MANAGER`.
fn service_variable(variable: &str, service_id: &str) -> String {
    format!("{variable}_{}", service_id.to_uppercase().replace(' ', "_"))
}

impl LoadServiceConfig for EnvEndpoints {
    /// Called by each client as it is built, with the setting's variable (`AWS_ENDPOINT_URL` for
    /// the endpoint) and the client's service id.
    fn load_config(&self, key: ServiceConfigKey<'_>) -> Option<String> {
        self.get(&service_variable(key.env(), key.service_id()))
            .or_else(|| self.get(key.env()))
    }
}
