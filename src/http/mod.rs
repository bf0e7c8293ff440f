//! HTTP plumbing: the server loop, request targets, bodies, and errors.

pub mod body;
pub mod error;
pub mod request;
pub mod server;
