//! What a request is aimed at, parsed once from its path and query.

use std::collections::HashMap;

use percent_encoding::percent_decode;

use super::error::{ApiError, ApiResult};

/// The resource a request names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Info,
    Healthcheck,
    Auth,
    Account {
        account: String,
    },
    Container {
        account: String,
        container: String,
    },
    Object {
        account: String,
        container: String,
        object: String,
    },
}

/// Decodes a percent-encoded path; Swift answers 412 to invalid UTF-8 or NUL.
pub fn decode_path(raw: &str) -> ApiResult<String> {
    let bytes: Vec<u8> = percent_decode(raw.as_bytes()).collect();
    let s = String::from_utf8(bytes).map_err(|_| invalid_utf8())?;
    if s.contains('\0') {
        return Err(invalid_utf8());
    }
    Ok(s)
}

fn invalid_utf8() -> ApiError {
    ApiError::PreconditionFailed("Invalid UTF8 or contains NULL".into())
}

/// Splits `/v1/account/container/object` (object keeps its slashes).
pub fn parse_target(raw_path: &str) -> ApiResult<Target> {
    let path = decode_path(raw_path)?;
    match path.as_str() {
        "/info" => return Ok(Target::Info),
        "/healthcheck" => return Ok(Target::Healthcheck),
        "/auth/v1.0" | "/auth/v1.0/" | "/v1.0" | "/v1.0/" => return Ok(Target::Auth),
        _ => {}
    }
    // As Swift's proxy: no account is a bad URL, an unknown API version a
    // bad request, an empty account or container (`/v1//c`) not found.
    let mut it = path.trim_start_matches('/').splitn(4, '/');
    let version = it.next().unwrap_or_default();
    let account = it.next().unwrap_or_default().to_string();
    let container = it.next().map(str::to_string);
    let object = it.next().map(str::to_string);
    if version.is_empty() {
        return Err(ApiError::NotFound);
    }
    if account.is_empty() && container.is_none() {
        return Err(ApiError::PreconditionFailed("Bad URL".into()));
    }
    if version != "v1" {
        return Err(ApiError::BadRequest("Invalid path".into()));
    }
    if account.is_empty() || (container.as_deref() == Some("") && object.is_some()) {
        return Err(ApiError::NotFound);
    }
    Ok(match (container, object) {
        (None, _) => Target::Account { account },
        (Some(c), None) if c.is_empty() => Target::Account { account },
        (Some(container), None) => Target::Container { account, container },
        (Some(container), Some(o)) if normalize_object(&o).is_empty() => {
            Target::Container { account, container }
        }
        (Some(container), Some(object)) => Target::Object {
            account,
            container,
            object: normalize_object(&object),
        },
    })
}

/// Object names are normalized as Swift-on-File does (a filesystem has no
/// empty path components): leading slashes go, runs of slashes become one.
/// A trailing slash stays: it names a directory marker.
pub fn normalize_object(name: &str) -> String {
    let trailing = name.ends_with('/');
    let mut out = name
        .split('/')
        .filter(|c| !c.is_empty())
        .collect::<Vec<_>>()
        .join("/");
    if trailing && !out.is_empty() {
        out.push('/');
    }
    out
}

/// Query parameters, decoded as Swift does (`+` is a space); a repeated key
/// keeps its first value.
pub fn parse_query(q: Option<&str>) -> ApiResult<HashMap<String, String>> {
    let mut out = HashMap::new();
    let Some(q) = q else { return Ok(out) };
    for pair in q.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let dec = |s: &str| -> ApiResult<String> {
            let s = s.replace('+', " ");
            let bytes: Vec<u8> = percent_decode(s.as_bytes()).collect();
            String::from_utf8(bytes).map_err(|_| invalid_utf8())
        };
        let (k, v) = (dec(k)?, dec(v)?);
        out.entry(k).or_insert(v);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_split_into_targets() {
        assert_eq!(parse_target("/info").unwrap(), Target::Info);
        assert_eq!(parse_target("/auth/v1.0/").unwrap(), Target::Auth);
        assert_eq!(
            parse_target("/v1/AUTH_a").unwrap(),
            Target::Account {
                account: "AUTH_a".into()
            }
        );
        assert_eq!(
            parse_target("/v1/AUTH_a/c/").unwrap(),
            Target::Container {
                account: "AUTH_a".into(),
                container: "c".into()
            }
        );
        assert_eq!(
            parse_target("/v1/AUTH_a/c/d%20e/f").unwrap(),
            Target::Object {
                account: "AUTH_a".into(),
                container: "c".into(),
                object: "d e/f".into()
            }
        );
        assert!(matches!(
            parse_target("/v1/AUTH_a/c/%FF"),
            Err(ApiError::PreconditionFailed(_))
        ));
        assert!(matches!(
            parse_target("/v1/AUTH_a/c/a%00b"),
            Err(ApiError::PreconditionFailed(_))
        ));
        assert!(matches!(
            parse_target("/info asdf"),
            Err(ApiError::PreconditionFailed(_))
        ));
        assert!(matches!(
            parse_target("/v2/AUTH_a"),
            Err(ApiError::BadRequest(_))
        ));
        assert!(matches!(parse_target("/v1//c/o"), Err(ApiError::NotFound)));
        assert!(matches!(parse_target("/"), Err(ApiError::NotFound)));
        assert!(matches!(parse_target("/v1/a//o"), Err(ApiError::NotFound)));
        assert!(matches!(
            parse_target("/v1"),
            Err(ApiError::PreconditionFailed(_))
        ));
    }

    #[test]
    fn object_names_are_normalized() {
        assert_eq!(normalize_object("//a//b"), "a/b");
        assert_eq!(normalize_object("/dir1/"), "dir1/");
        assert_eq!(normalize_object("a"), "a");
        assert_eq!(normalize_object("//"), "");
    }

    #[test]
    fn query_decodes_plus_and_percent() {
        let q = parse_query(Some("prefix=a+b%2Fc&format=json&format=xml&flag")).unwrap();
        assert_eq!(q["prefix"], "a b/c");
        assert_eq!(q["format"], "json");
        assert_eq!(q["flag"], "");
    }
}
