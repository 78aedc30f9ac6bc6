//! Tests of the core that need no service: property tests of every parser, the template's
//! agreement with the code, and the JWKS cache against an in-process HTTP server. `make unit`
//! runs these with the unit tests.

mod fuzz;
mod jwks;
mod template;
