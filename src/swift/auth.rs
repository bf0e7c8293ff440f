//! Tempauth v1.0: users from config, stateless HMAC-signed tokens that every
//! node sharing the config accepts, and Swift's container ACLs.
//!
//! Service prefixes (tempauth's `reseller_prefix = AUTH, SERVICE` with
//! `SERVICE_require_group`): the admin of `test` owns `SERVICE_test` too, but
//! only when the request's tokens carry the prefix's required group, which
//! in practice comes from an `X-Service-Token` of a service user (glance,
//! cinder) sent along with the end user's `X-Auth-Token`.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::acl::{parse_acl, referrer_allowed, Access, Grant};
use super::keystone_auth::KeystoneIdentity;
use crate::config::AuthConfig;
use crate::http::error::{ApiError, ApiResult};

type HmacSha256 = Hmac<Sha256>;

/// Tokens carry this prefix, as tempauth's do.
pub const TOKEN_PREFIX: &str = "AUTH_tk";
/// The user name a temp URL request runs as (Swift's `REMOTE_USER`).
pub const TEMPURL_USER: &str = ".wsgi.tempurl";
/// Bytes of MAC kept in a token.
const MAC_LEN: usize = 16;

/// Who a valid token speaks for.
#[derive(Debug, Clone)]
pub struct Identity {
    /// Full account name (`AUTH_test`).
    pub account: String,
    /// `account:user`.
    pub user: String,
    pub admin: bool,
    pub reseller_admin: bool,
    /// A temp URL signed with a container's key reaches only that container.
    pub only_container: Option<String>,
    /// Further groups: the user's own (`service`) and, with an
    /// `X-Service-Token`, that token's user, account and groups.
    pub groups: Vec<String>,
    /// Service-prefixed accounts this admin owns with the groups at hand
    /// (`SERVICE_test`).
    pub also_owns: Vec<String>,
    /// A Keystone caller: its rights (keystone_auth.rs) replace the above.
    pub keystone: Option<Arc<KeystoneIdentity>>,
}

impl Identity {
    /// Owns `account`: its admin, or a reseller admin (a container-key temp
    /// URL owns only its container, so not the account).
    pub fn owns(&self, account: &str) -> bool {
        if let Some(k) = &self.keystone {
            return self.only_container.is_none() && k.owns(account);
        }
        self.reseller_admin
            || (self.admin
                && self.only_container.is_none()
                && (self.account == account || self.also_owns.iter().any(|a| a == account)))
    }

    /// Groups the ACLs match against: `account:user`, `account`, and the
    /// further groups.
    pub fn groups(&self) -> Vec<&str> {
        let short = self.user.split(':').next().unwrap_or("");
        let mut g = vec![self.user.as_str(), short];
        g.extend(self.groups.iter().map(String::as_str));
        g
    }
}

/// Tempauth with the configured users.
pub struct Auth {
    cfg: AuthConfig,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Auth {
    pub fn new(cfg: AuthConfig) -> Self {
        Auth { cfg }
    }

    /// The account name a tempauth account maps to.
    pub fn account_name(&self, short: &str) -> String {
        format!("{}{short}", self.cfg.reseller_prefix)
    }

    /// Is `account` under one of our prefixes (reseller or service)?
    pub fn serves(&self, account: &str) -> bool {
        account.starts_with(&self.cfg.reseller_prefix)
            || self
                .cfg
                .service_prefixes
                .iter()
                .any(|p| account.starts_with(&p.prefix))
    }

    /// The caller of a request: its `X-Auth-Token` (`None` when not valid),
    /// with the groups of a valid `X-Service-Token` added, as tempauth does
    /// (an invalid service token adds nothing).
    pub fn identify(&self, token: &str, service_token: Option<&str>) -> Option<Identity> {
        let mut id = self.verify(token)?;
        if let Some(s) = service_token.and_then(|t| self.verify(t)) {
            let short = s.user.split(':').next().unwrap_or("").to_string();
            let mut more = vec![short, s.user];
            more.extend(s.groups);
            for g in more {
                if !id.groups.contains(&g) {
                    id.groups.push(g);
                }
            }
            self.service_accounts(&mut id);
        }
        Some(id)
    }

    /// Sets the service-prefixed accounts an admin owns with its groups.
    fn service_accounts(&self, id: &mut Identity) {
        id.also_owns.clear();
        if !id.admin {
            return;
        }
        let short = id.user.split(':').next().unwrap_or("");
        for p in &self.cfg.service_prefixes {
            if p.require_group.is_empty() || id.groups.contains(&p.require_group) {
                id.also_owns.push(format!("{}{short}", p.prefix));
            }
        }
    }

    fn mac(&self, payload: &[u8]) -> Vec<u8> {
        #[allow(clippy::expect_used)] // HMAC takes a key of any length: this cannot fail
        let mut m = HmacSha256::new_from_slice(self.cfg.secret.as_bytes()).expect("any key length");
        m.update(payload);
        m.finalize().into_bytes()[..MAC_LEN].to_vec()
    }

    /// Checks `account:user` and key; the identity a login gives (no
    /// token: the S3 door signs each request instead).
    pub fn identity(&self, user: &str, key: &str) -> Option<Identity> {
        self.check_user(user, key).map(|(id, _)| id)
    }

    /// The configured user `account:user` with this key, and its identity.
    fn check_user(&self, user: &str, key: &str) -> Option<(Identity, &crate::config::UserConfig)> {
        let (acct, name) = user.split_once(':')?;
        let u = self.cfg.users.iter().find(|u| {
            u.account == acct
                && u.user == name
                && constant_time_eq(u.key.as_bytes(), key.as_bytes())
        })?;
        let mut id = Identity {
            account: self.account_name(&u.account),
            user: format!("{}:{}", u.account, u.user),
            admin: u.admin,
            reseller_admin: u.reseller_admin,
            only_container: None,
            groups: u.groups.clone(),
            also_owns: Vec::new(),
            keystone: None,
        };
        self.service_accounts(&mut id);
        Some((id, u))
    }

    /// Checks `account:user` and key; returns a token and its lifetime.
    pub fn login(&self, user: &str, key: &str) -> Option<(String, Identity, u64)> {
        let (id, u) = self.check_user(user, key)?;
        let expires = now() + self.cfg.token_life;
        let flags = format!(
            "{}{}",
            if u.admin { "a" } else { "" },
            if u.reseller_admin { "r" } else { "" }
        );
        let payload = format!(
            "{expires}\n{}\n{}\n{flags}\n{}",
            id.account,
            id.user,
            id.groups.join(",")
        );
        let token = format!(
            "{TOKEN_PREFIX}{}{}",
            hex::encode(payload.as_bytes()),
            hex::encode(self.mac(payload.as_bytes()))
        );
        Some((token, id, self.cfg.token_life))
    }

    /// Verifies a token: `None` when forged, garbled or expired.
    pub fn verify(&self, token: &str) -> Option<Identity> {
        let body = token.strip_prefix(TOKEN_PREFIX)?;
        if body.len() < MAC_LEN * 2 {
            return None;
        }
        let (p, m) = body.split_at(body.len() - MAC_LEN * 2);
        let payload = hex::decode(p).ok()?;
        let mac = hex::decode(m).ok()?;
        if !constant_time_eq(&mac, &self.mac(&payload)) {
            return None;
        }
        let text = String::from_utf8(payload).ok()?;
        let mut it = text.split('\n');
        let expires: u64 = it.next()?.parse().ok()?;
        if expires <= now() {
            return None;
        }
        let account = it.next()?.to_string();
        let user = it.next()?.to_string();
        let flags = it.next().unwrap_or("");
        let groups = it.next().unwrap_or("");
        let mut id = Identity {
            account,
            user,
            admin: flags.contains('a'),
            reseller_admin: flags.contains('r'),
            only_container: None,
            groups: groups
                .split(',')
                .filter(|g| !g.is_empty())
                .map(str::to_string)
                .collect(),
            also_owns: Vec::new(),
            keystone: None,
        };
        self.service_accounts(&mut id);
        Some(id)
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// tempauth's refusal: 403 to a caller with a token, 401 to one without
/// (a temp URL that does not reach is as good as none).
pub fn denied(id: Option<&Identity>) -> ApiError {
    if id.is_some_and(|i| i.user != TEMPURL_USER) {
        ApiError::Forbidden
    } else {
        ApiError::Unauthorized
    }
}

/// Decides as tempauth does. `Ok(true)` means the caller owns the account.
pub fn authorize(id: Option<&Identity>, a: &Access<'_>) -> ApiResult<bool> {
    if let Some(k) = id.and_then(|i| i.keystone.as_deref()) {
        return super::keystone_auth::authorize(k, a);
    }
    let deny = || denied(id);
    if let Some(id) = id {
        if id.owns(a.account) {
            return Ok(true);
        }
        if let Some(c) = &id.only_container {
            // A container-key temp URL: owner rights in that container only.
            let inside = id.admin && id.account == a.account && a.container == Some(c.as_str());
            return if inside { Ok(true) } else { Err(deny()) };
        }
    }
    match a.grant {
        Some(Grant::Admin) => return Ok(true),
        Some(Grant::ReadWrite) if a.container.is_some() || !a.writes => return Ok(false),
        Some(Grant::ReadOnly) if !a.writes => return Ok(false),
        _ => {}
    }
    // Container ACLs govern object access and (read-only) container listings.
    let acl_applies = a.container.is_some() && (a.is_object || !a.writes);
    if !acl_applies {
        return Err(deny());
    }
    let (referrers, groups) = parse_acl(a.acl.unwrap_or(""));
    if (a.is_object || groups.iter().any(|g| g == ".rlistings"))
        && !a.writes
        && referrer_allowed(a.referer, &referrers)
    {
        return Ok(false);
    }
    if let Some(id) = id {
        if id.groups().iter().any(|g| groups.iter().any(|x| x == g)) {
            return Ok(false);
        }
    }
    Err(deny())
}

/// Checks a container ACL's syntax as tempauth does on POST/PUT.
pub fn validate_acl(acl: &str) -> Result<(), String> {
    for item in acl.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if item.starts_with('.') {
            let ok = item == ".rlistings"
                || [".r:", ".ref:", ".referer:", ".referrer:"].iter().any(|p| {
                    item.strip_prefix(p)
                        .is_some_and(|r| !r.is_empty() && r != "-")
                });
            if !ok {
                return Err(format!("Invalid ACL element {item:?}"));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn auth() -> Auth {
        Auth::new(Config::embedded().auth)
    }

    #[test]
    fn tokens_verify_and_resist_tampering() {
        let a = auth();
        let (tok, id, _) = a.login("test:tester", "testing").unwrap();
        assert_eq!(id.account, "AUTH_test");
        let back = a.verify(&tok).unwrap();
        assert_eq!(back.user, "test:tester");
        assert!(back.admin);
        let mut bad = tok.clone().into_bytes();
        let i = TOKEN_PREFIX.len() + 3;
        bad[i] = if bad[i] == b'a' { b'b' } else { b'a' };
        assert!(a.verify(std::str::from_utf8(&bad).unwrap()).is_none());
        assert!(a.login("test:tester", "wrong").is_none());
        // Another node with the same secret accepts it; another secret does not.
        assert!(auth().verify(&tok).is_some());
        let mut other = Config::embedded().auth;
        other.secret = "a-completely-different-secret".into();
        assert!(Auth::new(other).verify(&tok).is_none());
    }

    fn service_auth() -> Auth {
        let mut cfg = Config::embedded().auth;
        cfg.service_prefixes.push(crate::config::ServicePrefix {
            prefix: "SERVICE_".into(),
            require_group: "service".into(),
        });
        cfg.users.push(crate::config::UserConfig {
            account: "glance".into(),
            user: "glance".into(),
            key: "pw".into(),
            admin: false,
            reseller_admin: false,
            groups: vec!["service".into()],
        });
        Auth::new(cfg)
    }

    #[test]
    fn service_tokens_add_groups_and_service_accounts() {
        let a = service_auth();
        let user = a.login("test:tester", "testing").unwrap().0;
        let glance = a.login("glance:glance", "pw").unwrap().0;
        let alone = a.identify(&user, None).unwrap();
        assert!(alone.owns("AUTH_test") && !alone.owns("SERVICE_test"));
        let both = a.identify(&user, Some(&glance)).unwrap();
        assert!(both.owns("AUTH_test") && both.owns("SERVICE_test"));
        assert!(!both.owns("SERVICE_glance") && !both.owns("SERVICE_test2"));
        assert_eq!(
            both.groups(),
            ["test:tester", "test", "glance", "glance:glance", "service"]
        );
        // The service user's own groups survive its token, but it owns nothing.
        let g = a.verify(&glance).unwrap();
        assert_eq!(g.groups, ["service"]);
        assert!(!g.owns("AUTH_glance") && !g.owns("SERVICE_glance"));
        // A garbled service token adds nothing; a garbled user token is none.
        let plain = a.identify(&user, Some("AUTH_tkjunk")).unwrap();
        assert!(!plain.owns("SERVICE_test") && plain.groups.is_empty());
        assert!(a.identify("AUTH_tkjunk", Some(&glance)).is_none());
        assert!(a.serves("SERVICE_x") && a.serves("AUTH_x") && !a.serves("OTHER_x"));
    }

    fn access<'a>(acl: Option<&'a str>, is_object: bool, writes: bool) -> Access<'a> {
        Access {
            account: "AUTH_test",
            container: Some("c"),
            is_object,
            writes,
            acl,
            referer: None,
            grant: None,
        }
    }

    #[test]
    fn acls_follow_tempauth() {
        let a = auth();
        let owner = a.login("test:tester", "testing").unwrap().1;
        let user3 = a.login("test:tester3", "testing3").unwrap().1;
        let other = a.login("test2:tester2", "testing2").unwrap().1;
        assert!(authorize(Some(&owner), &access(None, true, true)).unwrap());
        assert!(matches!(
            authorize(Some(&user3), &access(None, true, false)),
            Err(ApiError::Forbidden)
        ));
        assert!(matches!(
            authorize(Some(&other), &access(None, true, false)),
            Err(ApiError::Forbidden)
        ));
        assert!(matches!(
            authorize(None, &access(None, true, false)),
            Err(ApiError::Unauthorized)
        ));
        assert!(authorize(None, &access(Some(".r:*"), true, false)).is_ok());
        assert!(authorize(None, &access(Some(".r:*"), false, false)).is_err());
        assert!(authorize(None, &access(Some(".r:*,.rlistings"), false, false)).is_ok());
        assert!(authorize(Some(&user3), &access(Some("test:tester3"), true, false)).is_ok());
        assert!(authorize(Some(&user3), &access(Some("test"), true, true)).is_ok());
        assert!(authorize(Some(&other), &access(Some("test2:tester2"), true, true)).is_ok());
        assert!(authorize(Some(&other), &access(Some("test:tester3"), true, true)).is_err());
    }

    #[test]
    fn referrer_rules() {
        let r = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(referrer_allowed(
            Some("http://www.example.com/x"),
            &r(&[".example.com"])
        ));
        assert!(!referrer_allowed(
            Some("http://evil.com/x"),
            &r(&[".example.com"])
        ));
        assert!(!referrer_allowed(
            Some("http://www.example.com/"),
            &r(&["*", "-www.example.com"])
        ));
        assert!(!referrer_allowed(None, &r(&["example.com"])));
        assert!(referrer_allowed(
            Some("http://blah.example.com/"),
            &r(&["*.example.com"])
        ));
    }
}
