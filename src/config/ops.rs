//! The operator's tables: `[log]` (the access log), `[health]` (what
//! `/healthcheck` answers) and `[metrics]` (Prometheus).

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;

/// `[log]`: one line per request, as Swift's proxy-logging writes it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// Where access lines go: `"-"` for stderr, a file path (appended to,
    /// reopened on SIGHUP), or empty (the default) for none.
    pub access: String,
    /// `swift` (Swift's space-separated, URL-quoted fields) or `json` (one
    /// object per line).
    pub format: LogFormat,
    /// Log the request's headers too (Swift's `log_headers`; secrets in
    /// them are cut as the token is).
    pub headers: bool,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            access: String::new(),
            format: LogFormat::Swift,
            headers: false,
        }
    }
}

/// `[log] format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    Swift,
    Json,
}

/// `[health]`: `/healthcheck` and its deep form.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HealthConfig {
    /// While a file exists at this path, `/healthcheck` answers 503
    /// `DISABLED BY FILE` (Swift's `disable_path`): drains a node.
    pub disable_path: Option<PathBuf>,
    /// How long `/healthcheck?deep` waits for each device's probe before
    /// it answers 503 (a hung mount).
    pub probe_timeout_ms: u64,
}

impl Default for HealthConfig {
    fn default() -> Self {
        HealthConfig {
            disable_path: None,
            probe_timeout_ms: 2000,
        }
    }
}

impl HealthConfig {
    pub fn validate(&self) -> Result<(), String> {
        if self.probe_timeout_ms == 0 {
            return Err("[health] probe_timeout_ms must be at least 1".into());
        }
        Ok(())
    }
}

/// Prometheus metrics at `/metrics`, not behind Swift's auth.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Record metrics and serve them (off: `/metrics` answers 404 and
    /// nothing is recorded).
    pub enabled: bool,
    /// Serve them on this address instead of the API port (which then
    /// answers 404 for `/metrics`).
    pub listen: Option<SocketAddr>,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            enabled: true,
            listen: None,
        }
    }
}
