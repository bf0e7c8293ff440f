//! What an S3 request names: the bucket (from the `Host` under an `[s3]
//! domain`, else the first path component) and the key, each checked once
//! here so the handlers never see a bad one.
//!
//! Bucket names follow Swift's s3api default (`dns_compliant_bucket_names`):
//! 3–63 characters of `a-z0-9.-`, starting and ending alphanumeric, no
//! `..`, `.-`, `-.`, not an IPv4 address. Keys must be sofgate object
//! names as they are: S3 keys are never normalized or aliased (an alias
//! would make `aws s3 sync` upload the same file forever), so `a//b`,
//! `/a`, `./x` or `a/../b` are refused with `InvalidArgument`.

use super::error::S3Error;
use crate::store::name::Limits;

/// A request's bucket and key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub bucket: Option<String>,
    pub key: Option<String>,
    /// The bucket came from the `Host` header (virtual-hosted style).
    pub bucket_in_host: bool,
}

/// The bucket named by `host` (port dropped) under one of `domains`
/// (`<bucket>.<domain>`); `None` for the domain itself, an IP or any
/// other host (then the path names the bucket).
pub fn bucket_in_host(host: Option<&str>, domains: &[String]) -> Option<String> {
    let host = host?;
    let host = match host.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    };
    domains.iter().find_map(|d| {
        let d = d.trim_start_matches('.');
        let b = host.strip_suffix(d)?.strip_suffix('.')?;
        (!b.is_empty()).then(|| b.to_string())
    })
}

/// Splits a request path into bucket and key (the bucket from the host
/// when `host_bucket` is given) and checks both.
pub fn parse(
    raw_path: &str,
    host_bucket: Option<String>,
    limits: &Limits,
) -> Result<Target, S3Error> {
    let bytes: Vec<u8> = percent_encoding::percent_decode_str(raw_path).collect();
    let path = String::from_utf8(bytes)
        .ok()
        .filter(|p| !p.contains('\0') && p.starts_with('/'))
        .ok_or_else(|| S3Error::invalid_uri(raw_path))?;
    let rest = &path[1..];
    let in_host = host_bucket.is_some();
    let (bucket, key) = match host_bucket {
        Some(b) => (Some(b), rest),
        None => match rest.split_once('/') {
            Some((b, k)) => (Some(b.to_string()), k),
            None => (Some(rest.to_string()), ""),
        },
    };
    let bucket = bucket.filter(|b| !b.is_empty());
    let key = (!key.is_empty()).then(|| key.to_string());
    if let Some(b) = &bucket {
        if !valid_bucket(b) {
            return Err(S3Error::invalid_bucket_name(b));
        }
    }
    if let Some(k) = &key {
        check_key(k, limits)?;
    }
    Ok(Target {
        bucket,
        key,
        bucket_in_host: in_host,
    })
}

/// Swift's s3api bucket rules with DNS-compliant names.
pub fn valid_bucket(name: &str) -> bool {
    let b = name.as_bytes();
    let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    (3..=63).contains(&b.len())
        && alnum(b[0])
        && alnum(b[b.len() - 1])
        && b.iter().all(|&c| alnum(c) || c == b'-' || c == b'.')
        && !name.contains("..")
        && !name.contains(".-")
        && !name.contains("-.")
        && !is_ipv4(name)
}

fn is_ipv4(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    parts.len() == 4
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.len() <= 3
                && p.bytes().all(|c| c.is_ascii_digit())
                && !(p.len() > 1 && p.starts_with('0'))
                && p.parse::<u16>().is_ok_and(|n| n <= 255)
        })
}

/// Checks a key: too long is `KeyTooLongError`; not a sofgate object name
/// is `InvalidArgument` naming the key.
pub fn check_key(key: &str, limits: &Limits) -> Result<(), S3Error> {
    if key.len() > limits.max_object_name_length {
        return Err(S3Error::key_too_long(
            key.len(),
            limits.max_object_name_length,
        ));
    }
    store_check(key, limits)
        .map_err(|why| S3Error::invalid_argument("key", key, &format!("Invalid key: {why}")))
}

/// sofgate's object-name rules, in one place (the store's signature may
/// change: this is the one line that follows it).
fn store_check(key: &str, limits: &Limits) -> Result<(), String> {
    crate::store::name::check_object(key, limits).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            max_account_name_length: 256,
            max_container_name_length: 255,
            max_object_name_length: 1024,
        }
    }

    fn t(path: &str) -> Result<(Option<String>, Option<String>), &'static str> {
        parse(path, None, &limits())
            .map(|t| (t.bucket, t.key))
            .map_err(|e| e.code)
    }

    fn s(v: &str) -> Option<String> {
        Some(v.to_string())
    }

    #[test]
    fn path_style_splits_bucket_and_key() {
        assert_eq!(t("/"), Ok((None, None)));
        assert_eq!(t("/bucket"), Ok((s("bucket"), None)));
        assert_eq!(t("/bucket/"), Ok((s("bucket"), None)));
        assert_eq!(t("/bucket/a/b%20c.txt"), Ok((s("bucket"), s("a/b c.txt"))));
        assert_eq!(t("/bucket/dir/"), Ok((s("bucket"), s("dir/"))));
        assert_eq!(t("/bucket/a%3Fb"), Ok((s("bucket"), s("a?b"))));
    }

    #[test]
    fn keys_are_refused_not_normalized() {
        for bad in [
            "/bucket//a",
            "/bucket/a//b",
            "/bucket/./x",
            "/bucket/a/../b",
            "/bucket/..",
            "/bucket/a/.x.0123456789abcdef.sgtmp",
        ] {
            assert_eq!(t(bad), Err("InvalidArgument"), "{bad}");
        }
        let e = parse("/bucket//a", None, &limits()).unwrap_err();
        assert_eq!(
            e.extra[..2],
            [
                ("ArgumentName", "key".into()),
                ("ArgumentValue", "/a".into())
            ]
        );
        assert_eq!(
            t(&format!("/bucket/{}", "k".repeat(1025))),
            Err("KeyTooLongError")
        );
        assert!(t(&format!("/bucket/{}", "k".repeat(1024))).is_ok());
        assert_eq!(t("/bucket/a%00b"), Err("InvalidURI"));
        assert_eq!(t("/bucket/%FF"), Err("InvalidURI"));
    }

    #[test]
    fn bucket_names_follow_swifts_s3api_rules() {
        for ok in [
            "abc",
            "my-bucket.1",
            "a1.b2-c3",
            &"a".repeat(63),
            "1-2",
            "s3api-test-bucket0-abc",
        ] {
            assert!(valid_bucket(ok), "{ok}");
        }
        for bad in [
            "ab",
            &"a".repeat(64),
            "Abc",
            "a_b",
            "-ab",
            "ab-",
            "a..b",
            "a.-b",
            "a-.b",
            "192.168.1.1",
            "abc.",
        ] {
            assert!(!valid_bucket(bad), "{bad}");
        }
        assert!(valid_bucket("192.168.1.256") && valid_bucket("1.2.3"));
        assert_eq!(t("/Bad_Bucket/key"), Err("InvalidBucketName"));
    }

    #[test]
    fn virtual_hosted_style_takes_the_bucket_from_the_host() {
        let d = vec!["s3.example.com".to_string()];
        assert_eq!(
            bucket_in_host(Some("photos.s3.example.com:8080"), &d),
            s("photos")
        );
        assert_eq!(bucket_in_host(Some("a.b.s3.example.com"), &d), s("a.b"));
        assert_eq!(bucket_in_host(Some("s3.example.com"), &d), None);
        assert_eq!(bucket_in_host(Some("127.0.0.1:8080"), &d), None);
        assert_eq!(bucket_in_host(Some("xs3.example.com"), &d), None);
        assert_eq!(bucket_in_host(None, &d), None);
        let r = parse("/a/b", s("photos"), &limits()).unwrap();
        assert_eq!((r.bucket, r.key), (s("photos"), s("a/b")));
        let r = parse("/", s("photos"), &limits()).unwrap();
        assert_eq!((r.bucket, r.key), (s("photos"), None));
        assert_eq!(
            parse("/", s("Bad_Host"), &limits()).unwrap_err().code,
            "InvalidBucketName"
        );
    }
}
