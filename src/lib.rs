//! sofgate: the OpenStack Swift API served straight onto the files of a
//! shared filesystem, with no object-server hop.

// Nothing derived from a request or from disk may panic (issue 11): no
// unwrap/expect outside tests, or a written reason where one cannot fail.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod admin;
pub mod config;
pub mod http;
pub mod metrics;
pub mod s3;
pub mod store;
pub mod swift;
pub mod sync;
pub mod testfs;
