//! coffer-server's integration tests, one test binary with a module per suite: each
//! suite drives a real `coffer server` (`coffer_server::testing::TestServer`) through
//! real clients. One binary links the whole stack once instead of once per suite.
//! `COFFER_TEST_METADATA=postgres` runs every suite on PostgreSQL metadata
//! (`scripts/test`); a suite that needs the embedded store says so and skips.

mod mgmt_common;
mod s3_common;

mod audit_logging;
mod authz_acl;
mod authz_bucket_policy;
mod authz_can_i;
mod authz_trusted_proxy;
mod cache_origin;
mod connect_protocol;
mod console;
mod federation_configs;
mod key_cache;
mod lifecycle_keys;
mod lifecycle_usage;
mod metrics;
mod mgmt_errors;
mod mgmt_iam;
mod mgmt_quotas;
mod mgmt_reference;
mod oidc_federation;
mod openapi_drift;
mod probes;
mod s3_acl;
mod s3_attributes;
mod s3_auth;
mod s3_browser;
mod s3_buckets;
mod s3_conditional;
mod s3_cors;
mod s3_encryption;
mod s3_lifecycle;
mod s3_multipart;
mod s3_object_lock;
mod s3_objects;
mod s3_overwrite;
mod s3_public_access;
mod s3_rename;
mod s3_tagging;
mod s3_versioning;
mod saml_federation;
mod scale_out;
mod security;
mod temp_credentials;
mod tls;
