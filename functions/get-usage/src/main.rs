//! Lambda `get-usage`: composition root. Builds the SDK clients once, then serves requests.
//! The routes arrive with a later issue; until then every request gets a 501 problem.

use awaknow_core::problem::{self, Problem};
use lambda_http::{Body, Error, Request, Response, run, service_fn};

async fn not_implemented(_request: Request) -> Result<Response<Body>, Error> {
    let problem = Problem::not_implemented("get-usage");
    Ok(Response::builder()
        .status(problem.status)
        .header("content-type", problem::CONTENT_TYPE)
        .body(Body::from(problem.to_json()))?)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    awaknow_core::telemetry::init_json_logs();
    run(service_fn(not_implemented)).await
}
