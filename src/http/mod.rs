//! HTTP plumbing: the server loop, connection deadlines, request targets,
//! bodies, and errors.

pub mod body;
pub mod error;
pub mod idle;
pub mod request;
pub mod server;
