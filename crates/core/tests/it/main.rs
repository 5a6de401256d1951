//! coffer-core's integration tests, one test binary with a module per suite: policy
//! parsing and evaluation (tables, properties), the SAML verifier over independently
//! signed fixtures, and `ObjectService` over the real stores in temporary directories.

mod bucket_policy_eval;
mod bucket_policy_parse;
mod bucket_policy_props;
mod objects_perf;
mod objects_service;
mod policy_eval;
mod policy_prop;
mod policy_validate;
mod saml_fixtures;
