//! Domain remapping, as Swift's domain_remap middleware: with
//! `[domain_remap] storage_domain = ["example.com"]`, a request whose Host is
//! `AUTH_test.example.com` (or `AUTH-test.example.com`, since `_` is not
//! valid in DNS names) is served as if its path began with `/v1/AUTH_test`,
//! and one to `photos.AUTH_test.example.com` as if it began with
//! `/v1/AUTH_test/photos`. The request's URI is rewritten before anything
//! else looks at it, so signatures, ACLs and listings all see the full path.

use http::Uri;
use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};

use crate::config::Config;

/// What a path keeps quoted: everything but unreserved characters and `/`.
const PATH: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}');

/// The path prefix a Host header stands for (`/v1/AUTH_test[/container]`),
/// if it names an account or container under a storage domain.
pub fn prefix_for_host(cfg: &Config, host: &str) -> Option<String> {
    let host = host.rsplit_once(':').map_or(host, |(h, port)| {
        if port.bytes().all(|b| b.is_ascii_digit()) {
            h
        } else {
            host
        }
    });
    let sub = cfg.domain_remap.storage_domain.iter().find_map(|d| {
        let d = d.trim_start_matches('.');
        let cut = host.len().checked_sub(d.len() + 1)?;
        let (sub, dom) = host.split_at(cut);
        (dom[1..].eq_ignore_ascii_case(d) && dom.starts_with('.')).then_some(sub)
    })?;
    let (container, account) = match sub.split_once('.') {
        Some((c, a)) if !a.contains('.') && !c.is_empty() => (Some(c), a),
        Some(_) => return None,
        None => (None, sub),
    };
    let account = full_account(cfg, account)?;
    Some(match container {
        Some(c) => format!("/v1/{account}/{c}"),
        None => format!("/v1/{account}"),
    })
}

/// `auth-test` or `AUTH_test` as the account `AUTH_test`; other names get
/// the reseller prefix.
fn full_account(cfg: &Config, name: &str) -> Option<String> {
    if name.is_empty() {
        return None;
    }
    let prefix = &cfg.auth.reseller_prefix;
    let bare = prefix.trim_end_matches('_');
    for sep in ['_', '-'] {
        if let Some(rest) = name
            .get(..bare.len())
            .filter(|p| p.eq_ignore_ascii_case(bare))
            .and_then(|_| name[bare.len()..].strip_prefix(sep))
        {
            return Some(format!("{prefix}{rest}"));
        }
    }
    Some(format!("{prefix}{name}"))
}

/// The URI a request is served as, when its Host is remapped.
pub fn remap(cfg: &Config, host: Option<&str>, uri: &Uri) -> Option<Uri> {
    if cfg.domain_remap.storage_domain.is_empty() {
        return None;
    }
    let prefix = prefix_for_host(cfg, host?)?;
    let path = uri.path();
    let prefix = utf8_percent_encode(&prefix, PATH);
    let mut s = format!("{prefix}{path}");
    if let Some(q) = uri.query() {
        s.push('?');
        s.push_str(q);
    }
    s.parse().ok()
}

/// The path the client asked for, given the path it is served as.
pub fn client_path<'a>(cfg: &Config, host: Option<&str>, path: &'a str) -> &'a str {
    if cfg.domain_remap.storage_domain.is_empty() {
        return path;
    }
    host.and_then(|h| prefix_for_host(cfg, h))
        .and_then(|p| path.strip_prefix(p.as_str()))
        .unwrap_or(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> Config {
        let mut c = Config::embedded();
        c.domain_remap.storage_domain = vec!["example.com".into()];
        c
    }

    #[test]
    fn hosts_map_to_accounts_and_containers() {
        let c = cfg();
        let p = |h: &str| prefix_for_host(&c, h);
        assert_eq!(p("AUTH_test.example.com").unwrap(), "/v1/AUTH_test");
        assert_eq!(p("AUTH-test.example.com:8080").unwrap(), "/v1/AUTH_test");
        assert_eq!(p("auth-test.Example.COM").unwrap(), "/v1/AUTH_test");
        assert_eq!(p("test.example.com").unwrap(), "/v1/AUTH_test");
        assert_eq!(
            p("pics.AUTH-test.example.com").unwrap(),
            "/v1/AUTH_test/pics"
        );
        assert_eq!(p("a.b.c.example.com"), None);
        assert_eq!(p("example.com"), None);
        assert_eq!(p("AUTH_test.example.org"), None);
        assert_eq!(p("xexample.com"), None);
    }

    #[test]
    fn uris_are_rewritten_and_client_paths_recovered() {
        let c = cfg();
        let u: Uri = "/pics/a.jpg?format=json".parse().unwrap();
        let r = remap(&c, Some("AUTH_test.example.com"), &u).unwrap();
        assert_eq!(r.path(), "/v1/AUTH_test/pics/a.jpg");
        assert_eq!(r.query(), Some("format=json"));
        let root = remap(
            &c,
            Some("pics.AUTH_test.example.com"),
            &"/".parse().unwrap(),
        )
        .unwrap();
        assert_eq!(root.path(), "/v1/AUTH_test/pics/");
        assert_eq!(remap(&c, Some("127.0.0.1:8080"), &u), None);
        assert_eq!(
            client_path(
                &c,
                Some("pics.AUTH_test.example.com"),
                "/v1/AUTH_test/pics/d"
            ),
            "/d"
        );
        assert_eq!(
            client_path(&c, Some("127.0.0.1"), "/v1/AUTH_test/pics/d"),
            "/v1/AUTH_test/pics/d"
        );
    }
}
