//! sofgate: the OpenStack Swift API served straight onto the files of a
//! shared filesystem, with no object-server hop.

pub mod admin;
pub mod config;
pub mod http;
pub mod metrics;
pub mod s3;
pub mod store;
pub mod swift;
pub mod testfs;
