//! Authorization of Keystone callers, as Swift's keystoneauth decides it.
//!
//! The account of project `p` is `<prefix>p` for each configured prefix. A
//! role in `operator_roles` owns it (with a prefix's `service_roles` set,
//! only when an `X-Service-Token` carries one of them); the
//! `reseller_admin_role` owns every account; `project_reader_roles` read
//! their project's accounts and `system_reader_roles` read every account.
//! Anyone else needs a container ACL: `<project>:<user>` with ids, or names
//! when user, project and account are all in the default domain, or `*` for
//! either part; a bare role name grants the users of the account's own
//! project who hold that role; referrer rules (`.r:`) work as for tempauth.
//! Account ACLs are tempauth's alone, as in Swift.

use std::sync::Arc;
use std::time::SystemTime;

use http::Method;

use super::acl::{parse_acl, referrer_allowed, Access};
use super::App;
use crate::config::keystone::PrefixRules;
use crate::config::KeystoneConfig;
use crate::http::error::{ApiError, ApiResult};
use crate::store::container as scont;

/// Where keystoneauth keeps the domain of an account's project.
pub const DOMAIN_SYSMETA: &str = "X-Account-Sysmeta-Project-Domain-Id";
/// The domain of an account created by someone outside its project.
const UNKNOWN_DOMAIN: &str = "_unknown";

/// What Keystone says about one token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    pub user_id: String,
    pub user_name: String,
    pub user_domain_id: String,
    /// `None` for domain- and system-scoped tokens.
    pub project_id: Option<String>,
    pub project_name: String,
    pub project_domain_id: String,
    /// Role names, lowercase.
    pub roles: Vec<String>,
    pub expires: SystemTime,
}

/// A Keystone caller's rights, worked out once per request from its
/// token(s) and the config.
#[derive(Debug, Clone)]
pub struct KeystoneIdentity {
    pub user_id: String,
    pub user_name: String,
    pub project_id: Option<String>,
    pub project_name: String,
    pub project_domain_id: String,
    /// The user token's roles (lowercase), matched against ACL entries.
    roles: Vec<String>,
    pub reseller_admin: bool,
    system_reader: bool,
    /// `<prefix><project>` for every prefix: the project's own accounts.
    own_accounts: Vec<String>,
    /// The own accounts this caller owns (operator roles, service rule met).
    owned: Vec<String>,
    /// The own accounts this caller may read (project reader roles).
    readable: Vec<String>,
    /// User and project are in the default domain: names may match ACLs.
    names_ok: bool,
    /// Foreign accounts of this request known to belong to projects of the
    /// default domain (looked up per request), where names may match too.
    pub names_ok_accounts: Vec<String>,
}

/// Works out the rights of `user` (plus a service token's roles).
pub fn compose(
    cfg: &KeystoneConfig,
    rules: &[PrefixRules],
    user: &TokenInfo,
    service: Option<&TokenInfo>,
) -> KeystoneIdentity {
    let has = |roles: &[String], want: &[String]| roles.iter().any(|r| want.contains(r));
    let service_roles = service.map(|s| s.roles.as_slice()).unwrap_or(&[]);
    let (mut own_accounts, mut owned, mut readable) = (Vec::new(), Vec::new(), Vec::new());
    if let Some(p) = &user.project_id {
        for r in rules {
            let account = format!("{}{p}", r.prefix);
            let operator = has(&user.roles, &r.operator_roles);
            if operator && (r.service_roles.is_empty() || has(service_roles, &r.service_roles)) {
                owned.push(account.clone());
            }
            if has(&user.roles, &r.project_reader_roles) {
                readable.push(account.clone());
            }
            own_accounts.push(account);
        }
    }
    let system_readers: Vec<String> = cfg
        .system_reader_roles
        .iter()
        .map(|r| r.to_lowercase())
        .collect();
    let default = &cfg.default_domain_id;
    KeystoneIdentity {
        user_id: user.user_id.clone(),
        user_name: user.user_name.clone(),
        project_id: user.project_id.clone(),
        project_name: user.project_name.clone(),
        project_domain_id: user.project_domain_id.clone(),
        reseller_admin: user.roles.contains(&cfg.reseller_admin_role.to_lowercase()),
        system_reader: has(&user.roles, &system_readers),
        roles: user.roles.clone(),
        own_accounts,
        owned,
        readable,
        names_ok: cfg.allow_names_in_acls
            && (user.user_domain_id.is_empty() || &user.user_domain_id == default)
            && (user.project_domain_id.is_empty() || &user.project_domain_id == default),
        names_ok_accounts: Vec::new(),
    }
}

impl KeystoneIdentity {
    /// The project's account under the main prefix (the storage URL's).
    pub fn main_account(&self) -> Option<String> {
        self.own_accounts.first().cloned()
    }

    /// Owns `account`: reseller admin anywhere, operator in its project.
    pub fn owns(&self, account: &str) -> bool {
        self.reseller_admin || self.owned.iter().any(|a| a == account)
    }

    /// Does an ACL entry `<project>:<user>` name this caller?
    fn named_in(&self, groups: &[String], account: &str) -> bool {
        let names = self.names_ok
            && (self.own_accounts.iter().any(|a| a == account)
                || self.names_ok_accounts.iter().any(|a| a == account));
        let mut projects = vec!["*"];
        let mut users = vec!["*", self.user_id.as_str()];
        if let Some(p) = &self.project_id {
            projects.push(p);
        }
        if names {
            projects.push(&self.project_name);
            users.push(&self.user_name);
        }
        groups.iter().any(|g| {
            g.split_once(':')
                .is_some_and(|(p, u)| projects.contains(&p) && users.contains(&u))
        })
    }
}

/// Decides as keystoneauth does. `Ok(true)`: the caller owns the account;
/// `Ok(false)`: allowed; otherwise 403 (the caller is known).
pub fn authorize(k: &KeystoneIdentity, a: &Access<'_>) -> ApiResult<bool> {
    if k.owns(a.account) {
        return Ok(true);
    }
    if k.system_reader && !a.writes {
        return Ok(false);
    }
    // Container ACLs govern object access and (read-only) container listings.
    let acl_applies = a.container.is_some() && (a.is_object || !a.writes);
    let (referrers, groups) = match a.acl.filter(|_| acl_applies) {
        Some(acl) => parse_acl(acl),
        None => (Vec::new(), Vec::new()),
    };
    if k.named_in(&groups, a.account) {
        return Ok(false);
    }
    // A referrer rule grants objects, and listings with `.rlistings`; one
    // that matches a listing without it is final: no role rescues it.
    let referred = !a.writes && !referrers.is_empty() && referrer_allowed(a.referer, &referrers);
    if referred && (a.is_object || groups.iter().any(|g| g == ".rlistings")) {
        return Ok(false);
    }
    if !k.own_accounts.iter().any(|o| o == a.account) {
        return Err(ApiError::Forbidden);
    }
    if !a.writes && k.readable.iter().any(|r| r == a.account) {
        return Ok(false);
    }
    if !referred && groups.iter().any(|g| k.roles.contains(&g.to_lowercase())) {
        return Ok(false);
    }
    Err(ApiError::Forbidden)
}

/// Headers that name a further account of a request, whose ACLs it meets.
const OTHER_ACCOUNTS: [&str; 3] = [
    "destination-account",
    "x-copy-from-account",
    "x-symlink-target-account",
];

/// Per-request account facts keystoneauth keeps in account metadata: the
/// domain of the account's project. A container PUT or account POST by an
/// owner records it (`_unknown` when a reseller admin from another project
/// makes the account); for foreign accounts the request names (its own,
/// a copy's or a symlink's), it learns whether names may match their ACLs.
/// Runs on the blocking pool, only when it matters.
pub async fn account_facts(
    app: &Arc<App>,
    caller: Option<&mut Arc<KeystoneIdentity>>,
    account: &str,
    req: &http::Request<crate::http::incoming::Incoming>,
    makes_account: bool,
) -> ApiResult<()> {
    let Some(k) = caller else {
        return Ok(());
    };
    let record = makes_account
        && k.owns(account)
        && (req.method() == Method::PUT || req.method() == Method::POST);
    let mut foreign: Vec<String> = Vec::new();
    if k.names_ok {
        let named = OTHER_ACCOUNTS
            .iter()
            .filter_map(|h| req.headers().get(*h)?.to_str().ok())
            .filter_map(|a| percent_encoding::percent_decode_str(a).decode_utf8().ok());
        for a in std::iter::once(account.to_string()).chain(named.map(|a| a.into_owned())) {
            if !k.own_accounts.contains(&a) && !foreign.contains(&a) && !a.contains('/') {
                foreign.push(a);
            }
        }
    }
    if !record && foreign.is_empty() {
        return Ok(());
    }
    let (acct, kc) = (account.to_string(), k.clone());
    let default = app
        .keystone
        .as_ref()
        .map(|ks| ks.config().default_domain_id.clone())
        .unwrap_or_default();
    let known = super::blocking(app, move |app| {
        if record {
            record_domain(app, &acct, &kc)?;
        }
        // An account with no recorded domain predates Keystone (legacy).
        Ok(foreign
            .into_iter()
            .filter(|a| {
                scont::account_meta(&app.store, a)
                    .is_ok_and(|m| m.get(DOMAIN_SYSMETA).is_none_or(|d| *d == default))
            })
            .collect::<Vec<_>>())
    })
    .await?;
    Arc::make_mut(k).names_ok_accounts = known;
    Ok(())
}

/// Records the domain of `account`'s project when it is not known yet.
fn record_domain(app: &App, account: &str, k: &KeystoneIdentity) -> ApiResult<()> {
    let stored = scont::account_meta(&app.store, account).ok();
    let domain = stored.as_ref().and_then(|m| m.get(DOMAIN_SYSMETA));
    if domain.is_some_and(|d| d != UNKNOWN_DOMAIN) {
        return Ok(());
    }
    let new = if k.own_accounts.iter().any(|a| a == account) {
        k.project_domain_id.clone()
    } else if stored.is_none() {
        UNKNOWN_DOMAIN.to_string()
    } else {
        return Ok(());
    };
    if !new.is_empty() {
        scont::update_account_meta(&app.store, account, |m| {
            m.insert(DOMAIN_SYSMETA.into(), new);
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, SystemTime};

    fn cfg() -> KeystoneConfig {
        KeystoneConfig {
            auth_url: "http://127.0.0.1:5000/v3".into(),
            username: "swift".into(),
            password: "pw".into(),
            project_reader_roles: vec!["reader".into()],
            system_reader_roles: vec!["auditor".into()],
            service_prefixes: vec![crate::config::keystone::KeystonePrefix {
                prefix: "SERVICE_".into(),
                operator_roles: None,
                service_roles: Some(vec!["service".into()]),
                project_reader_roles: None,
            }],
            ..Default::default()
        }
    }

    fn token(user: &str, project: &str, domain: &str, roles: &[&str]) -> TokenInfo {
        TokenInfo {
            user_id: format!("{user}-id"),
            user_name: user.into(),
            user_domain_id: domain.into(),
            project_id: Some(format!("{project}-id")),
            project_name: project.into(),
            project_domain_id: domain.into(),
            roles: roles.iter().map(|r| r.to_lowercase()).collect(),
            expires: SystemTime::now() + Duration::from_secs(3600),
        }
    }

    fn who(t: &TokenInfo, service: Option<&TokenInfo>) -> KeystoneIdentity {
        let c = cfg();
        compose(&c, &c.prefixes(), t, service)
    }

    fn access<'a>(account: &'a str, acl: Option<&'a str>, obj: bool, writes: bool) -> Access<'a> {
        Access {
            account,
            container: Some("c"),
            is_object: obj,
            writes,
            acl,
            referer: None,
            grant: None,
        }
    }

    #[test]
    fn operators_own_their_project_and_reseller_admins_everything() {
        let op = who(&token("alice", "p", "default", &["Admin"]), None);
        assert!(op.owns("AUTH_p-id") && !op.owns("AUTH_q-id"));
        assert!(matches!(
            authorize(&op, &access("AUTH_q-id", None, true, false)),
            Err(ApiError::Forbidden)
        ));
        let ra = who(&token("ra", "p", "default", &["ResellerAdmin"]), None);
        assert!(ra.owns("AUTH_anything") && ra.owns("SERVICE_x"));
        let member = who(&token("bob", "p", "default", &["member"]), None);
        assert!(!member.owns("AUTH_p-id"));
        assert!(authorize(&member, &access("AUTH_p-id", None, true, false)).is_err());
    }

    #[test]
    fn service_prefix_needs_a_service_token_with_a_service_role() {
        let user = token("alice", "p", "default", &["admin"]);
        let glance = token("glance", "service", "default", &["service"]);
        let plain = token("eve", "service", "default", &["member"]);
        assert!(!who(&user, None).owns("SERVICE_p-id"));
        assert!(who(&user, Some(&glance)).owns("SERVICE_p-id"));
        assert!(!who(&user, Some(&plain)).owns("SERVICE_p-id"));
        // The service token alone owns nothing of p.
        assert!(!who(&glance, None).owns("SERVICE_p-id"));
    }

    #[test]
    fn acl_forms_follow_keystoneauth() {
        let bob = who(&token("bob", "p", "default", &["member"]), None);
        let ok = |acl: &str, account: &str| {
            authorize(&bob, &access(account, Some(acl), true, false)).is_ok()
        };
        for acl in [
            "p-id:bob-id",
            "p:bob",
            "p-id:bob",
            "p:bob-id",
            "*:bob",
            "p:*",
            "*:*",
            "*:bob-id",
            "member",
        ] {
            assert!(ok(acl, "AUTH_p-id"), "{acl}");
        }
        for acl in ["p-id", "p", "q:bob", "p:eve", "admin", "bob"] {
            assert!(!ok(acl, "AUTH_p-id"), "{acl}");
        }
        // In another project's account: ids match, names only when that
        // account is known to be in the default domain, roles never.
        assert!(ok("p-id:bob-id", "AUTH_q-id"));
        assert!(!ok("p:bob", "AUTH_q-id"));
        assert!(!ok("member", "AUTH_q-id"));
        let mut known = bob.clone();
        known.names_ok_accounts = vec!["AUTH_q-id".into()];
        assert!(authorize(&known, &access("AUTH_q-id", Some("p:bob"), true, false)).is_ok());
        // Users of another domain never match by name.
        let far = who(&token("bob", "p", "elsewhere", &["member"]), None);
        assert!(authorize(&far, &access("AUTH_p-id", Some("p:bob"), true, false)).is_err());
        assert!(authorize(&far, &access("AUTH_p-id", Some("p-id:bob-id"), true, false)).is_ok());
    }

    #[test]
    fn referrers_and_listings() {
        let bob = who(&token("bob", "p", "default", &["member"]), None);
        // A public object is readable by anyone; a listing needs .rlistings,
        // and a referrer that matches without it is final, roles or not.
        assert!(authorize(&bob, &access("AUTH_q-id", Some(".r:*"), true, false)).is_ok());
        assert!(authorize(&bob, &access("AUTH_q-id", Some(".r:*"), false, false)).is_err());
        assert!(authorize(
            &bob,
            &access("AUTH_q-id", Some(".r:*,.rlistings"), false, false)
        )
        .is_ok());
        assert!(authorize(&bob, &access("AUTH_q-id", Some(".r:*"), true, true)).is_err());
    }

    #[test]
    fn reader_roles_read_only() {
        let reader = who(&token("rita", "p", "default", &["reader"]), None);
        assert!(authorize(&reader, &access("AUTH_p-id", None, true, false)).is_ok());
        assert!(authorize(&reader, &access("AUTH_p-id", None, true, true)).is_err());
        assert!(authorize(&reader, &access("AUTH_q-id", None, true, false)).is_err());
        assert!(!reader.owns("AUTH_p-id"));
        let auditor = who(&token("al", "p", "default", &["auditor"]), None);
        assert!(authorize(&auditor, &access("AUTH_q-id", None, true, false)).is_ok());
        assert!(authorize(&auditor, &access("AUTH_q-id", None, true, true)).is_err());
        assert!(!auditor.owns("AUTH_q-id"));
    }

    #[test]
    fn acls_never_open_container_writes() {
        let bob = who(&token("bob", "p", "default", &["member"]), None);
        // Container PUT/POST/DELETE carry no ACL: only owners.
        assert!(authorize(&bob, &access("AUTH_p-id", Some("*:*"), false, true)).is_err());
        // Object writes follow the write ACL.
        assert!(authorize(&bob, &access("AUTH_p-id", Some("*:*"), true, true)).is_ok());
    }
}
