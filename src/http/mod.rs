//! HTTP plumbing: the server loop, connection deadlines, request targets,
//! bodies, and errors.

pub mod access_line;
pub mod access_log;
pub mod body;
pub mod date;
pub mod error;
pub mod idle;
pub mod incoming;
pub mod request;
pub mod server;
