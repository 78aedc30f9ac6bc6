//! The simulator's recorded calls against moto's S3 (started by `make test`). A binary of its
//! own, so that the simulator's other tests need no service (`make unit`).

mod recordings;
// The simulator helpers the other binary uses; not every one is needed here.
#[allow(dead_code)]
#[path = "../sim/support.rs"]
mod support;
