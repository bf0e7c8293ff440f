//! Listing parameters and the three listing formats (plain, JSON, XML).

use std::collections::HashMap;

use http::{HeaderMap, StatusCode};
use serde_json::json;

use super::headers::iso_date;
use crate::http::error::{ApiError, ApiResult};
use crate::store::listing::{Entry, Query};
use crate::store::meta::keys;
use crate::store::object::ObjectInfo;

/// The formats a listing can take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Plain,
    Json,
    Xml,
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Plain => "text/plain; charset=utf-8",
            Format::Json => "application/json; charset=utf-8",
            Format::Xml => "application/xml; charset=utf-8",
        }
    }
}

/// Picks the format from `format=` or, failing that, the Accept header.
pub fn format(query: &HashMap<String, String>, headers: &HeaderMap) -> ApiResult<Format> {
    if let Some(f) = query.get("format") {
        return Ok(match f.to_ascii_lowercase().as_str() {
            "json" => Format::Json,
            "xml" => Format::Xml,
            _ => Format::Plain,
        });
    }
    let Some(accept) = headers.get("accept").and_then(|v| v.to_str().ok()) else {
        return Ok(Format::Plain);
    };
    // Highest q wins; ties go to the first listed.
    let mut best: Option<(f32, Format)> = None;
    for item in accept.split(',') {
        let mut it = item.split(';');
        let mt = it.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = it
            .filter_map(|p| p.trim().strip_prefix("q="))
            .filter_map(|v| v.parse::<f32>().ok())
            .next()
            .unwrap_or(1.0);
        let f = match mt.as_str() {
            "application/json" => Format::Json,
            "application/xml" | "text/xml" => Format::Xml,
            "text/plain" | "text/*" | "*/*" | "application/*" => {
                if mt == "application/*" {
                    Format::Json
                } else {
                    Format::Plain
                }
            }
            _ => continue,
        };
        if q > 0.0 && best.is_none_or(|(bq, _)| q > bq) {
            best = Some((q, f));
        }
    }
    best.map(|(_, f)| f).ok_or(ApiError::NotAcceptable)
}

fn truthy(v: &str) -> bool {
    matches!(
        v.to_ascii_lowercase().as_str(),
        "true" | "1" | "yes" | "on" | "t" | "y"
    )
}

/// Listing parameters as Swift reads them; `path` turns into a prefix with
/// `/` as delimiter and no subdirs. Returns the query and whether subdirs are
/// dropped.
pub fn query(q: &HashMap<String, String>, max: usize) -> ApiResult<(Query, bool)> {
    let mut limit = max;
    if let Some(l) = q.get("limit") {
        if !l.is_empty() && l.bytes().all(|b| b.is_ascii_digit()) {
            limit = l.parse().unwrap_or(usize::MAX);
            if limit > max {
                return Err(ApiError::PreconditionFailed(format!(
                    "Maximum limit is {max}"
                )));
            }
        }
    }
    let mut out = Query {
        prefix: q.get("prefix").cloned().unwrap_or_default(),
        delimiter: q.get("delimiter").filter(|d| !d.is_empty()).cloned(),
        marker: q.get("marker").cloned().unwrap_or_default(),
        end_marker: q.get("end_marker").cloned().unwrap_or_default(),
        reverse: q.get("reverse").is_some_and(|v| truthy(v)),
        limit,
        with_meta: false,
        path: false,
        // A client's page hashes new files only within the configured
        // budget; the rest show `"hash": ""` until hashed in the background.
        bounded: true,
    };
    let mut no_subdirs = false;
    if let Some(p) = q.get("path") {
        // As Swift: `path.rstrip('/') + '/'`, so `path=/` matches only names
        // that begin with a slash (none, once names are normalized).
        out.prefix = if p.is_empty() {
            String::new()
        } else {
            format!("{}/", p.trim_end_matches('/'))
        };
        out.delimiter = None;
        out.path = true;
        no_subdirs = true;
    }
    Ok((out, no_subdirs))
}

/// Appends `v` as a JSON string literal.
fn json_str(out: &mut String, v: &str) {
    out.push_str(&serde_json::Value::from(v).to_string());
}

/// Text made safe for an XML 1.0 document, in element content and in
/// double-quoted attributes alike.
///
/// Markup characters become entities, and tab, newline and carriage return
/// become character references (so attribute-value normalization keeps them
/// and a CR survives end-of-line handling). The other C0 controls, and
/// U+FFFE / U+FFFF, are not XML 1.0 characters at all, not even as
/// references: they become U+FFFD. (Swift writes them raw, which no XML
/// parser accepts; a client that needs such names exactly asks for JSON.)
pub(crate) fn xml_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\t' => o.push_str("&#9;"),
            '\n' => o.push_str("&#10;"),
            '\r' => o.push_str("&#13;"),
            '\u{0}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}' => o.push('\u{fffd}'),
            _ => o.push(c),
        }
    }
    o
}

/// A JSON row's `s3_etag`: the ETag the S3 door shows of an object a
/// multipart upload made, quoted, as Swift's s3api adds it to listings
/// (from the metadata the row has read anyway: no filesystem call more).
pub(crate) fn s3_etag(info: &ObjectInfo) -> Option<String> {
    let e = info.meta.get(keys::S3_ETAG)?;
    Some(format!("\"{}\"", e.trim_matches('"')))
}

/// What features add to an object listing's rows, given by the `App`
/// (`features.rs` lists them): this file names none of them.
pub struct RowHooks {
    /// The size and (quoted) ETag a row shows of an object that stands for
    /// others (a large object's manifest): its `bytes`, and its ETag as the
    /// JSON row's `slo_etag`.
    pub size_etag: SizeEtag,
    /// Extra members of a JSON row (`,"name":value…`) from the row's
    /// object, account, container and name: the first hook that has some
    /// adds them.
    pub fields: Vec<RowFields>,
}

/// [`RowHooks::size_etag`].
pub type SizeEtag = fn(&ObjectInfo) -> Option<(u64, String)>;

/// One of [`RowHooks::fields`].
pub type RowFields = fn(&ObjectInfo, &str, &str, &str) -> Option<String>;

/// Renders an object listing. Empty plain listings are 204 as in Swift.
pub fn render_objects(
    entries: &[Entry],
    fmt: Format,
    account: &str,
    container: &str,
    hooks: &RowHooks,
) -> (StatusCode, String) {
    match fmt {
        Format::Plain => {
            let mut s = String::new();
            for e in entries {
                s.push_str(e.name());
                s.push('\n');
            }
            let status = if s.is_empty() {
                StatusCode::NO_CONTENT
            } else {
                StatusCode::OK
            };
            (status, s)
        }
        Format::Json => {
            // Written straight out: a page has up to 10,000 rows.
            let mut s = String::with_capacity(2 + entries.len() * 160);
            s.push('[');
            for (i, e) in entries.iter().enumerate() {
                if i > 0 {
                    s.push(',');
                }
                match e {
                    Entry::Subdir(d) => {
                        s.push_str("{\"subdir\":");
                        json_str(&mut s, d);
                        s.push('}');
                    }
                    Entry::Object { name, info } => {
                        let info = info.as_ref();
                        let slo = info.and_then(hooks.size_etag);
                        s.push_str("{\"name\":");
                        json_str(&mut s, name);
                        s.push_str(",\"hash\":");
                        json_str(&mut s, info.map(|i| i.etag()).unwrap_or(""));
                        s.push_str(&format!(
                            ",\"bytes\":{},\"content_type\":",
                            slo.as_ref()
                                .map(|s| s.0)
                                .or(info.map(|i| i.size))
                                .unwrap_or(0)
                        ));
                        json_str(&mut s, info.map(|i| i.content_type()).unwrap_or(""));
                        s.push_str(&format!(
                            ",\"last_modified\":\"{}\"",
                            iso_date(info.map(|i| i.timestamp()).unwrap_or(0.0))
                        ));
                        if let Some((_, etag)) = slo {
                            s.push_str(",\"slo_etag\":");
                            json_str(&mut s, &etag);
                        }
                        if let Some(etag) = info.and_then(s3_etag) {
                            s.push_str(",\"s3_etag\":");
                            json_str(&mut s, &etag);
                        }
                        if let Some(f) = info.and_then(|i| {
                            hooks
                                .fields
                                .iter()
                                .find_map(|f| f(i, account, container, name))
                        }) {
                            s.push_str(&f);
                        }
                        s.push('}');
                    }
                }
            }
            s.push(']');
            (StatusCode::OK, s)
        }
        Format::Xml => {
            let mut s = format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<container name=\"{}\">",
                xml_escape(container)
            );
            for e in entries {
                match e {
                    Entry::Subdir(d) => {
                        let d = xml_escape(d);
                        s.push_str(&format!("<subdir name=\"{d}\"><name>{d}</name></subdir>"));
                    }
                    Entry::Object { name, info } => {
                        let Some(i) = info else { continue };
                        s.push_str(&format!(
                            "<object><name>{}</name><hash>{}</hash><bytes>{}</bytes><content_type>{}</content_type><last_modified>{}</last_modified></object>",
                            xml_escape(name),
                            xml_escape(i.etag()),
                            (hooks.size_etag)(i).map_or(i.size, |s| s.0),
                            xml_escape(i.content_type()),
                            iso_date(i.timestamp())
                        ));
                    }
                }
            }
            s.push_str("</container>");
            (StatusCode::OK, s)
        }
    }
}

/// One row of an account listing.
pub struct ContainerRow {
    pub name: String,
    pub count: u64,
    pub bytes: u64,
    pub last_modified: f64,
    pub subdir: bool,
    /// Storage policy name.
    pub policy: String,
}

/// Renders an account listing.
pub fn render_containers(
    rows: &[ContainerRow],
    fmt: Format,
    account: &str,
) -> (StatusCode, String) {
    match fmt {
        Format::Plain => {
            let mut s = String::new();
            for r in rows {
                s.push_str(&r.name);
                s.push('\n');
            }
            let status = if s.is_empty() {
                StatusCode::NO_CONTENT
            } else {
                StatusCode::OK
            };
            (status, s)
        }
        Format::Json => {
            let v: Vec<_> = rows
                .iter()
                .map(|r| {
                    if r.subdir {
                        json!({ "subdir": r.name })
                    } else {
                        json!({
                            "name": r.name,
                            "count": r.count,
                            "bytes": r.bytes,
                            "last_modified": iso_date(r.last_modified),
                            "storage_policy": r.policy,
                        })
                    }
                })
                .collect();
            (StatusCode::OK, serde_json::Value::Array(v).to_string())
        }
        Format::Xml => {
            let mut s = format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<account name=\"{}\">",
                xml_escape(account)
            );
            for r in rows {
                let n = xml_escape(&r.name);
                if r.subdir {
                    s.push_str(&format!("<subdir name=\"{n}\"><name>{n}</name></subdir>"));
                } else {
                    s.push_str(&format!(
                        "<container><name>{n}</name><count>{}</count><bytes>{}</bytes><last_modified>{}</last_modified><storage_policy>{}</storage_policy></container>",
                        r.count,
                        r.bytes,
                        iso_date(r.last_modified),
                        xml_escape(&r.policy)
                    ));
                }
            }
            s.push_str("</account>");
            (StatusCode::OK, s)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_from_query_and_accept() {
        let mut q = HashMap::new();
        let mut h = HeaderMap::new();
        assert_eq!(format(&q, &h).unwrap(), Format::Plain);
        h.insert("accept", "application/json".parse().unwrap());
        assert_eq!(format(&q, &h).unwrap(), Format::Json);
        h.insert(
            "accept",
            "text/xml;q=0.9, text/plain;q=0.5".parse().unwrap(),
        );
        assert_eq!(format(&q, &h).unwrap(), Format::Xml);
        h.insert("accept", "image/png".parse().unwrap());
        assert!(format(&q, &h).is_err());
        q.insert("format".to_string(), "xml".to_string());
        assert_eq!(format(&q, &h).unwrap(), Format::Xml);
    }

    #[test]
    fn xml_text_holds_only_xml_characters() {
        assert_eq!(xml_escape("a&<>\"b"), "a&amp;&lt;&gt;&quot;b");
        assert_eq!(xml_escape("t\tn\nr\r"), "t&#9;n&#10;r&#13;");
        assert_eq!(
            xml_escape("x\u{1}y\u{b}z\u{1f}\u{ffff}"),
            "x\u{fffd}y\u{fffd}z\u{fffd}\u{fffd}"
        );
        assert_eq!(xml_escape("caf\u{e9} \u{1f600}"), "caf\u{e9} \u{1f600}");
    }

    #[test]
    fn limit_over_max_is_412() {
        let mut q = HashMap::new();
        q.insert("limit".to_string(), "10001".to_string());
        assert!(matches!(
            query(&q, 10000),
            Err(ApiError::PreconditionFailed(_))
        ));
        q.insert("limit".to_string(), "5".to_string());
        assert_eq!(query(&q, 10000).unwrap().0.limit, 5);
    }
}
