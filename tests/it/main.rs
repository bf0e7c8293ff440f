//! The integration tests: one test binary, one module per area (the module
//! path is the former file name: `cargo test --test it objects::` runs what
//! `tests/it/objects.rs` used to). One binary links the crate and the test
//! harness once instead of once per file.
//!
//! Tests here run as threads of one process. A test that changes
//! process-wide state (resource limits, environment variables, signal
//! dispositions, the working directory) would change it for every test
//! beside it: such a test is a binary of its own next to this one, as
//! `tests/fd_limit.rs` (it lowers RLIMIT_NOFILE for good).

#[path = "../common/mod.rs"]
mod common;

mod access_log;
mod account;
mod admin;
mod auth;
mod authz_matrix;
mod bad_input;
mod bulk;
mod containers;
mod contrib;
mod cors;
mod domain_remap;
mod etag_quoter;
mod expiry;
mod features;
mod formpost;
mod health;
mod hostile_headers;
mod hostile_tree;
mod import_graph;
mod keystone;
mod long_names;
mod maintenance;
mod metrics;
mod mount_files;
mod newest_wins;
mod objects;
mod open_expired;
mod planted_metadata;
mod policies;
mod quotas;
mod s3;
mod s3_bucket;
mod s3_cors;
mod s3_multipart;
mod s3_object;
mod secret;
mod slo;
mod slow_clients;
mod staticweb;
mod swift_cli;
mod symlink;
mod tempurl;
mod versioning;
