//! Request metadata headers: Swift's limits, and the case Swift stores them in.

use http::HeaderMap;

use crate::config::Limits;
use crate::http::date::civil_from_days;
use crate::http::error::{ApiError, ApiResult};
use crate::store::meta::Meta;

/// Title-cases a header name as Python's `str.title()` does for Swift:
/// `x-object-meta-fOO-bar` → `X-Object-Meta-Foo-Bar`.
pub fn title_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut up = true;
    for c in name.chars() {
        if c.is_alphabetic() {
            if up {
                out.extend(c.to_uppercase());
            } else {
                out.extend(c.to_lowercase());
            }
            up = false;
        } else {
            out.push(c);
            up = true;
        }
    }
    out
}

/// A header value as UTF-8 text.
pub fn header_str<'a>(h: &'a HeaderMap, name: &str) -> ApiResult<Option<&'a str>> {
    match h.get(name) {
        None => Ok(None),
        Some(v) => std::str::from_utf8(v.as_bytes())
            .map(Some)
            .map_err(|_| ApiError::BadRequest(format!("{name} must be valid UTF-8"))),
    }
}

/// Collects `X-<kind>-Meta-*` headers (and `X-Remove-<kind>-Meta-*` as empty
/// values) under their stored names, checking Swift's limits.
pub fn collect_meta(h: &HeaderMap, kind: &str, l: &Limits) -> ApiResult<Meta> {
    let prefix = format!("x-{kind}-meta-");
    let remove = format!("x-remove-{kind}-meta-");
    let mut out = Meta::new();
    let (mut count, mut size) = (0usize, 0usize);
    for (name, value) in h {
        let n = name.as_str();
        let (key, removing) = if let Some(k) = n.strip_prefix(&prefix) {
            (k, false)
        } else if let Some(k) = n.strip_prefix(&remove) {
            (k, true)
        } else {
            continue;
        };
        if key.is_empty() {
            return Err(ApiError::BadRequest("Metadata name cannot be empty".into()));
        }
        // Swift accepts object metadata values that are not UTF-8; JSON
        // cannot hold them, so invalid sequences become U+FFFD.
        let v: std::borrow::Cow<'_, str> = match std::str::from_utf8(value.as_bytes()) {
            Ok(v) => v.into(),
            Err(_) if kind == "object" => String::from_utf8_lossy(value.as_bytes()),
            Err(_) => {
                return Err(ApiError::BadRequest(
                    "Metadata values must be valid UTF-8".into(),
                ))
            }
        };
        if !removing {
            if key.len() > l.max_meta_name_length {
                return Err(ApiError::BadRequest(format!(
                    "Metadata name too long: {key}; max {}",
                    l.max_meta_name_length
                )));
            }
            if value.len() > l.max_meta_value_length {
                return Err(ApiError::BadRequest(format!(
                    "Metadata value longer than {}: {key}",
                    l.max_meta_value_length
                )));
            }
            count += 1;
            size += key.len() + value.len();
            check_count_and_size(count, size, l)?;
        }
        let stored = title_case(&format!("x-{kind}-meta-{key}"));
        out.insert(
            stored,
            if removing {
                String::new()
            } else {
                v.trim().to_string()
            },
        );
    }
    Ok(out)
}

/// Checks the metadata an account or container will hold after an update
/// against the count and overall-size limits (Swift checks the aggregate).
pub fn check_totals(m: &Meta, kind: &str, l: &Limits) -> ApiResult<()> {
    let prefix = title_case(&format!("x-{kind}-meta-"));
    let (mut count, mut size) = (0usize, 0usize);
    for (k, v) in m {
        if let Some(name) = k.strip_prefix(&prefix) {
            count += 1;
            size += name.len() + v.len();
        }
    }
    check_count_and_size(count, size, l)
}

/// Swift's `max_meta_count` and `max_meta_overall_size`.
fn check_count_and_size(count: usize, size: usize, l: &Limits) -> ApiResult<()> {
    if count > l.max_meta_count {
        return Err(ApiError::BadRequest(format!(
            "Too many metadata items; max {}",
            l.max_meta_count
        )));
    }
    if size > l.max_meta_overall_size {
        return Err(ApiError::BadRequest(format!(
            "Total metadata too large; max {}",
            l.max_meta_overall_size
        )));
    }
    Ok(())
}

/// The last second an HTTP date can name: 9999-12-31T23:59:59Z (httpdate
/// panics past it).
const MAX_HTTP_DATE: u64 = 253_402_300_799;

/// Seconds since the epoch as an HTTP date, rounded up as Swift does for
/// Last-Modified. Any value is accepted: negative and NaN are the epoch,
/// values past the year 9999 are its last second (they may come from disk
/// or a client).
pub fn http_date(ts: f64) -> String {
    // `as` saturates: NaN is 0, +inf is u64::MAX.
    let secs = (ts.ceil().max(0.0) as u64).min(MAX_HTTP_DATE);
    httpdate::fmt_http_date(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs))
}

/// Parses an HTTP date into seconds.
pub fn parse_http_date(s: &str) -> Option<u64> {
    httpdate::parse_http_date(s.trim())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_secs())
}

/// ISO form used in listings: `2026-11-25T19:42:43.123450`. Times outside
/// `0..10^10` (only a bad stored value gives one) are clamped into it.
pub fn iso_date(ts: f64) -> String {
    let ts = if ts.is_nan() {
        0.0
    } else {
        ts.clamp(0.0, 9_999_999_999.999_999)
    };
    let secs = ts.floor() as i64;
    let micros = ((ts - secs as f64) * 1e6).round().min(999_999.0) as i64;
    let days = secs.div_euclid(86400);
    let rem = secs.rem_euclid(86400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{micros:06}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Account and container metadata that only owners may set or see (ACLs,
/// the sync key, tempurl keys), as Swift keeps it from other users.
pub fn is_owner_only(key: &str) -> bool {
    const KEYS: [&str; 7] = [
        "X-Container-Read",
        "X-Container-Write",
        "X-Container-Sync-Key",
        "X-Account-Meta-Temp-URL-Key",
        "X-Account-Meta-Temp-URL-Key-2",
        "X-Container-Meta-Temp-URL-Key",
        "X-Container-Meta-Temp-URL-Key-2",
    ];
    KEYS.iter().any(|k| k.eq_ignore_ascii_case(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn title_case_matches_python() {
        assert_eq!(title_case("x-object-meta-fOO-bar"), "X-Object-Meta-Foo-Bar");
        assert_eq!(title_case("x-object-meta-a1b"), "X-Object-Meta-A1B");
    }

    #[test]
    fn dates() {
        assert_eq!(iso_date(0.0), "1970-01-01T00:00:00.000000");
        assert_eq!(iso_date(1764099763.25), "2025-11-25T19:42:43.250000");
        assert_eq!(http_date(1764099762.1), "Tue, 25 Nov 2025 19:42:43 GMT");
        assert_eq!(
            parse_http_date("Tue, 25 Nov 2025 19:42:43 GMT"),
            Some(1764099763)
        );
    }

    #[test]
    fn dates_of_any_value_do_not_panic() {
        for ts in [
            -1.0,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            1e12,
            1e300,
            253402300800.0,
        ] {
            let h = http_date(ts);
            assert!(h.ends_with(" GMT"), "{ts}: {h}");
            let i = iso_date(ts);
            assert_eq!(i.len(), 26, "{ts}: {i}");
        }
        assert_eq!(http_date(1e300), "Fri, 31 Dec 9999 23:59:59 GMT");
        assert_eq!(http_date(-5.0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert!(iso_date(1e12).starts_with("2286-11-20T17:46:39."));
    }

    #[test]
    fn metadata_limits() {
        let l = Limits::default();
        let mut h = HeaderMap::new();
        h.insert("x-object-meta-color", "blue".parse().unwrap());
        h.insert("x-remove-object-meta-old", "x".parse().unwrap());
        let m = collect_meta(&h, "object", &l).unwrap();
        assert_eq!(m["X-Object-Meta-Color"], "blue");
        assert_eq!(m["X-Object-Meta-Old"], "");
        h.insert("x-object-meta-big", "v".repeat(257).parse().unwrap());
        assert!(collect_meta(&h, "object", &l).is_err());
        let mut h = HeaderMap::new();
        h.insert("x-object-meta-", "v".parse().unwrap());
        assert!(collect_meta(&h, "object", &l).is_err());
    }
}
