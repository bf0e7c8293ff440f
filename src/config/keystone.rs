//! The `[keystone]` table: where Keystone is, the service user sofgate
//! validates tokens with, and keystoneauth's authorization options.

use serde::Deserialize;

/// Keystone authentication (Swift's `authtoken` + `keystoneauth`). Present
/// in the config file means on; tempauth stays on beside it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KeystoneConfig {
    /// Keystone's identity endpoint, e.g. `http://keystone:5000/v3` (`/v3`
    /// is added when missing). Plain HTTP only.
    pub auth_url: String,
    /// The service user that validates tokens (needs the `service` or
    /// `admin` role, as for authtoken).
    pub username: String,
    pub password: String,
    /// The project the service user's token is scoped to.
    pub project_name: String,
    pub user_domain_name: String,
    pub project_domain_name: String,
    /// Accounts are `<reseller_prefix><project_id>`.
    pub reseller_prefix: String,
    /// Roles that own their project's account.
    pub operator_roles: Vec<String>,
    /// A role that may act on every account.
    pub reseller_admin_role: String,
    /// When set, an operator owns the account only if an `X-Service-Token`
    /// carries one of these roles.
    pub service_roles: Vec<String>,
    /// Roles that may read (GET/HEAD) their project's account.
    pub project_reader_roles: Vec<String>,
    /// Roles that may read every account.
    pub system_reader_roles: Vec<String>,
    /// Further account prefixes (keystoneauth's `reseller_prefix = AUTH,
    /// SERVICE` with `SERVICE_service_roles`).
    #[serde(rename = "service_prefix")]
    pub service_prefixes: Vec<KeystonePrefix>,
    /// Names (`project:user`) in container ACLs are honoured only for users
    /// and projects of this domain, as keystoneauth does.
    pub default_domain_id: String,
    pub allow_names_in_acls: bool,
    /// A validated token is trusted this long (and never past its expiry).
    pub cache_secs: u64,
    /// At most this many tokens are cached (and as many S3 keys' secrets).
    pub cache_size: usize,
    /// An S3 key's secret and token data are kept this long, when the
    /// service user may read EC2 credentials (s3token's
    /// `secret_cache_duration`); 0: every S3 request asks Keystone.
    pub secret_cache_secs: u64,
    /// Bound on each call to Keystone (connect and answer), in seconds.
    pub timeout_secs: u64,
}

/// A further account prefix and its roles; unset roles are the main ones.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeystonePrefix {
    pub prefix: String,
    pub operator_roles: Option<Vec<String>>,
    pub service_roles: Option<Vec<String>>,
    pub project_reader_roles: Option<Vec<String>>,
}

impl Default for KeystoneConfig {
    fn default() -> Self {
        KeystoneConfig {
            auth_url: String::new(),
            username: String::new(),
            password: String::new(),
            project_name: "service".into(),
            user_domain_name: "Default".into(),
            project_domain_name: "Default".into(),
            reseller_prefix: "AUTH_".into(),
            operator_roles: vec!["admin".into(), "swiftoperator".into()],
            reseller_admin_role: "ResellerAdmin".into(),
            service_roles: Vec::new(),
            project_reader_roles: Vec::new(),
            system_reader_roles: Vec::new(),
            service_prefixes: Vec::new(),
            default_domain_id: "default".into(),
            allow_names_in_acls: true,
            cache_secs: 300,
            cache_size: 10_000,
            secret_cache_secs: 60,
            timeout_secs: 5,
        }
    }
}

/// One account prefix with the roles that apply to it (lowercase).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrefixRules {
    pub prefix: String,
    pub operator_roles: Vec<String>,
    pub service_roles: Vec<String>,
    pub project_reader_roles: Vec<String>,
}

fn lower(v: &[String]) -> Vec<String> {
    v.iter().map(|r| r.trim().to_lowercase()).collect()
}

impl KeystoneConfig {
    /// Every account prefix with its roles, the main prefix first.
    pub fn prefixes(&self) -> Vec<PrefixRules> {
        let mut out = vec![PrefixRules {
            prefix: self.reseller_prefix.clone(),
            operator_roles: lower(&self.operator_roles),
            service_roles: lower(&self.service_roles),
            project_reader_roles: lower(&self.project_reader_roles),
        }];
        for p in &self.service_prefixes {
            let or = |v: &Option<Vec<String>>, main: &[String]| lower(v.as_deref().unwrap_or(main));
            out.push(PrefixRules {
                prefix: p.prefix.clone(),
                operator_roles: or(&p.operator_roles, &self.operator_roles),
                service_roles: or(&p.service_roles, &self.service_roles),
                project_reader_roles: or(&p.project_reader_roles, &self.project_reader_roles),
            });
        }
        out
    }

    /// The identity endpoint with `/v3` and no trailing slash.
    pub fn v3_url(&self) -> String {
        let u = self.auth_url.trim_end_matches('/');
        if u.ends_with("/v3") {
            u.to_string()
        } else {
            format!("{u}/v3")
        }
    }

    /// Checks what serde cannot; the error names the key.
    pub fn validate(&self) -> Result<(), String> {
        let url = self.v3_url();
        if url.starts_with("https://") {
            return Err(
                "[keystone] auth_url: https is not supported; use Keystone's plain \
                        HTTP (internal) endpoint or a TLS proxy on loopback"
                    .into(),
            );
        }
        if !url.starts_with("http://") || url.parse::<http::Uri>().is_err() {
            return Err(format!(
                "[keystone] auth_url {:?} is no http:// URL",
                self.auth_url
            ));
        }
        for (key, v) in [
            ("username", &self.username),
            ("password", &self.password),
            ("project_name", &self.project_name),
            ("user_domain_name", &self.user_domain_name),
            ("project_domain_name", &self.project_domain_name),
            ("reseller_admin_role", &self.reseller_admin_role),
        ] {
            if v.is_empty() {
                return Err(format!("[keystone] {key} must be set"));
            }
        }
        if self.cache_size == 0 || self.timeout_secs == 0 {
            return Err("[keystone] cache_size and timeout_secs must be at least 1".into());
        }
        let prefixes = self.prefixes();
        for (i, a) in prefixes.iter().enumerate() {
            let a = &a.prefix;
            if a.is_empty() || a.contains('/') {
                return Err(format!("[keystone] bad account prefix {a:?}"));
            }
            if let Some(b) = prefixes[i + 1..]
                .iter()
                .find(|b| a.starts_with(&b.prefix) || b.prefix.starts_with(a.as_str()))
            {
                return Err(format!(
                    "[keystone] account prefixes {a:?} and {:?} overlap",
                    b.prefix
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> KeystoneConfig {
        KeystoneConfig {
            auth_url: "http://127.0.0.1:5000".into(),
            username: "swift".into(),
            password: "pw".into(),
            ..Default::default()
        }
    }

    #[test]
    fn defaults_are_keystoneauths() {
        let c = cfg();
        assert!(c.validate().is_ok());
        assert_eq!(c.v3_url(), "http://127.0.0.1:5000/v3");
        let p = c.prefixes();
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].prefix, "AUTH_");
        assert_eq!(p[0].operator_roles, ["admin", "swiftoperator"]);
        assert!(p[0].service_roles.is_empty());
    }

    #[test]
    fn service_prefixes_inherit_unset_roles() {
        let mut c = cfg();
        c.operator_roles = vec!["Admin".into()];
        c.service_prefixes.push(KeystonePrefix {
            prefix: "SERVICE_".into(),
            operator_roles: None,
            service_roles: Some(vec!["service".into()]),
            project_reader_roles: None,
        });
        let p = c.prefixes();
        assert_eq!(p[1].operator_roles, ["admin"]);
        assert_eq!(p[1].service_roles, ["service"]);
        assert!(p[0].service_roles.is_empty());
    }

    #[test]
    fn bad_values_name_their_key() {
        let mut c = cfg();
        c.auth_url = "https://k:5000/v3".into();
        assert!(c.validate().unwrap_err().contains("https"));
        let mut c = cfg();
        c.password.clear();
        assert!(c.validate().unwrap_err().contains("password"));
        let mut c = cfg();
        c.service_prefixes.push(KeystonePrefix {
            prefix: "AUTH_X".into(),
            operator_roles: None,
            service_roles: None,
            project_reader_roles: None,
        });
        assert!(c.validate().unwrap_err().contains("overlap"));
        let mut c = cfg();
        c.auth_url = "ftp://x".into();
        assert!(c.validate().is_err());
    }
}
