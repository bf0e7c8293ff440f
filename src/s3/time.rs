//! The date forms S3 requests and responses carry, as seconds since the
//! epoch (UTC): `X-Amz-Date` (`20130524T000000Z`), HTTP `Date` headers in
//! RFC 1123/2822 form (`Tue, 27 Mar 2007 19:36:42 +0000`, with `GMT` or a
//! numeric zone, as Python's `email.utils.parsedate_tz` reads them for
//! Swift's s3api), the ISO 8601 form SigV2 query auth may use, and the
//! `2009-10-12T17:50:30.000Z` form of XML bodies.

use crate::http::date::{civil_from_days, days_from_civil};
use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the epoch, now.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Epoch seconds of a checked calendar time.
fn epoch(y: i64, mo: i64, d: i64, h: i64, mi: i64, s: i64) -> Option<i64> {
    let ok = (1..=12).contains(&mo)
        && (1..=31).contains(&d)
        && (0..24).contains(&h)
        && (0..60).contains(&mi)
        && (0..=60).contains(&s)
        && (0..=9999).contains(&y);
    // 31 Feb is refused, not read as 3 March.
    let days = days_from_civil(y, mo, d);
    (ok && civil_from_days(days) == (y, mo, d)).then(|| days * 86400 + h * 3600 + mi * 60 + s)
}

fn num(s: &str) -> Option<i64> {
    (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

/// `20130524T000000Z` (SigV4's `X-Amz-Date`).
pub fn parse_amz(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let n = |r: std::ops::Range<usize>| num(s.get(r)?);
    epoch(
        n(0..4)?,
        n(4..6)?,
        n(6..8)?,
        n(9..11)?,
        n(11..13)?,
        n(13..15)?,
    )
}

/// The `YYYYMMDDTHHMMSSZ` form of `t`.
pub fn format_amz(t: i64) -> String {
    let (y, mo, d) = civil_from_days(t.div_euclid(86400));
    let r = t.rem_euclid(86400);
    format!(
        "{y:04}{mo:02}{d:02}T{:02}{:02}{:02}Z",
        r / 3600,
        r % 3600 / 60,
        r % 60
    )
}

/// The `2009-10-12T17:50:30.000Z` form of XML bodies.
pub fn format_iso(t: i64) -> String {
    let (y, mo, d) = civil_from_days(t.div_euclid(86400));
    let r = t.rem_euclid(86400);
    format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}.000Z",
        r / 3600,
        r % 3600 / 60,
        r % 60
    )
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];

/// A `Date` header: `[Day,] DD Mon YYYY HH:MM[:SS] zone` (zone `GMT`, `UT`,
/// `UTC`, `Z` or `+hhmm`/`-hhmm`), or `YYYY-MM-DDTHH:MM:SS` (taken as UTC).
pub fn parse_http(s: &str) -> Option<i64> {
    parse_rfc2822(s).or_else(|| parse_iso(s))
}

/// The RFC 1123/2822 form alone (what Python's `parsedate` reads).
pub fn parse_rfc2822(s: &str) -> Option<i64> {
    let s = s.trim();
    // The weekday is optional and not checked (as parsedate_tz).
    let s = s.split_once(',').map_or(s, |(_, rest)| rest);
    let mut it = s.split_whitespace();
    let day = num(it.next()?)?;
    let mon = it.next()?.to_ascii_lowercase();
    let mo = MONTHS.iter().position(|m| mon.starts_with(m))? as i64 + 1;
    let mut year = num(it.next()?)?;
    if year < 100 {
        // Python's cutoff: 00-68 are 20xx, 69-99 19xx.
        year += if year <= 68 { 2000 } else { 1900 };
    }
    let hms: Vec<_> = it.next()?.split(':').collect();
    let (h, mi) = (num(hms.first()?)?, num(hms.get(1)?)?);
    let sec = hms.get(2).map_or(Some(0), |x| num(x))?;
    let offset = match it.next().unwrap_or("GMT") {
        "GMT" | "UT" | "UTC" | "Z" | "gmt" | "utc" => 0,
        z if z.len() == 5 && (z.starts_with('+') || z.starts_with('-')) => {
            let v = num(&z[1..])?;
            let secs = (v / 100) * 3600 + (v % 100) * 60;
            if z.starts_with('-') {
                -secs
            } else {
                secs
            }
        }
        _ => return None,
    };
    if it.next().is_some() || hms.len() > 3 {
        return None;
    }
    Some(epoch(year, mo, day, h, mi, sec)? - offset)
}

/// `YYYY-MM-DDTHH:MM:SS` with an optional `Z` (SigV2's `Timestamp`).
pub fn parse_iso(s: &str) -> Option<i64> {
    let s = s.strip_suffix('Z').unwrap_or(s);
    let (date, time) = s.split_once('T')?;
    let d: Vec<_> = date.split('-').collect();
    let t: Vec<_> = time.split(':').collect();
    if d.len() != 3 || t.len() != 3 {
        return None;
    }
    let n = |v: &str| num(v);
    epoch(n(d[0])?, n(d[1])?, n(d[2])?, n(t[0])?, n(t[1])?, n(t[2])?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amz_dates_round_trip() {
        assert_eq!(parse_amz("20130524T000000Z"), Some(1369353600));
        assert_eq!(format_amz(1369353600), "20130524T000000Z");
        assert_eq!(format_amz(951827696), "20000229T123456Z");
        assert_eq!(parse_amz("20000229T123456Z"), Some(951827696));
        assert_eq!(parse_amz("20130524T000000"), None);
        assert_eq!(parse_amz("2013052XT000000Z"), None);
        assert_eq!(parse_amz("20131324T000000Z"), None);
    }

    #[test]
    fn http_dates_in_every_zone_form() {
        let t = 1175024202; // Tue, 27 Mar 2007 19:36:42 GMT
        assert_eq!(parse_http("Tue, 27 Mar 2007 19:36:42 +0000"), Some(t));
        assert_eq!(parse_http("Tue, 27 Mar 2007 19:36:42 GMT"), Some(t));
        assert_eq!(parse_http("27 Mar 2007 21:36:42 +0200"), Some(t));
        assert_eq!(parse_http("Tue, 27 Mar 2007 14:36:42 -0500"), Some(t));
        assert_eq!(parse_http("2007-03-27T19:36:42"), Some(t));
        assert_eq!(parse_http("2007-03-27T19:36:42Z"), Some(t));
        for bad in [
            "",
            "yesterday",
            "Tue, 32 Mar 2007 19:36:42 GMT",
            "Tue, 27 Foo 2007 1:2:3",
            "Sat, 31 Feb 2026 10:00:00 GMT",
            "2026-04-31T10:00:00Z",
        ] {
            assert_eq!(parse_http(bad), None, "{bad}");
        }
    }

    #[test]
    fn two_digit_years_as_python_reads_them() {
        let y = |s| parse_rfc2822(s).map(|t| civil_from_days(t / 86400).0);
        assert_eq!(y("01 Jan 68 00:00:00 GMT"), Some(2068));
        assert_eq!(y("01 Jan 69 00:00:00 GMT"), Some(1969));
        assert_eq!(y("01 Jan 05 00:00:00 GMT"), Some(2005));
    }

    #[test]
    fn iso_form_of_xml_bodies() {
        assert_eq!(format_iso(1369353600), "2013-05-24T00:00:00.000Z");
        assert_eq!(format_iso(0), "1970-01-01T00:00:00.000Z");
    }
}
