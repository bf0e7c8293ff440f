//! Container and account ACLs as both auth schemes read them (tempauth's
//! `auth.rs`, keystoneauth's `keystone_auth.rs`): what a request asks for
//! ([`Access`]), what an account ACL grants ([`Grant`]), the items of a
//! container ACL and its referrer rules.

/// What an account ACL grants one caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    /// Everything an owner may do.
    Admin,
    /// Any container or object request; reads of the account.
    ReadWrite,
    /// GET and HEAD.
    ReadOnly,
}

/// What a request wants, for the authorization decision.
pub struct Access<'a> {
    pub account: &'a str,
    pub container: Option<&'a str>,
    pub is_object: bool,
    /// PUT, POST or DELETE.
    pub writes: bool,
    /// The container ACL that applies (read ACL for reads, write ACL for writes).
    pub acl: Option<&'a str>,
    pub referer: Option<&'a str>,
    /// What the account's ACL grants the caller.
    pub grant: Option<Grant>,
}

/// Splits an ACL into referrer rules (`.r:`) and groups.
pub fn parse_acl(acl: &str) -> (Vec<String>, Vec<String>) {
    let mut referrers = Vec::new();
    let mut groups = Vec::new();
    for item in acl.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if let Some(r) = item
            .strip_prefix(".r:")
            .or_else(|| item.strip_prefix(".ref:"))
            .or_else(|| item.strip_prefix(".referer:"))
            .or_else(|| item.strip_prefix(".referrer:"))
        {
            referrers.push(r.to_string());
        } else {
            groups.push(item.to_string());
        }
    }
    (referrers, groups)
}

/// Referrer rules in order; the last matching rule wins, `-` negates.
pub fn referrer_allowed(referer: Option<&str>, rules: &[String]) -> bool {
    let host = referer
        .and_then(|r| r.split("//").nth(1))
        .map(|r| r.split(['/', ':']).next().unwrap_or(""))
        .unwrap_or("");
    let mut allowed = false;
    for r in rules {
        let (neg, pat) = match r.strip_prefix('-') {
            Some(p) => (true, p),
            None => (false, r.as_str()),
        };
        // `*.example.com` is the same rule as `.example.com`.
        let pat = pat
            .strip_prefix('*')
            .filter(|p| p.starts_with('.'))
            .unwrap_or(pat);
        let m = pat == "*"
            || (!host.is_empty() && (pat == host || (pat.starts_with('.') && host.ends_with(pat))));
        if m {
            allowed = !neg;
        }
    }
    allowed
}
