//! Swift's bulk-style report: the body that bulk delete, archive
//! extraction and SLO's multipart delete and manifest errors answer with,
//! in plain text, JSON or XML.

use http::StatusCode;
use serde_json::{json, Value};

use super::listing::{xml_escape, Format};

/// Swift's bulk-style answer (bulk delete, archive extraction, and SLO's
/// multipart delete and manifest errors): `fields` — in the given order in
/// JSON, sorted in text and XML as Swift writes them — then each failed name
/// with its status line; `root` is the XML root element.
pub fn report(
    f: Format,
    fields: &[(&str, Value)],
    errors: &[(String, String)],
    root: &str,
) -> String {
    if f == Format::Json {
        let mut m = serde_json::Map::new();
        for (k, v) in fields {
            m.insert(k.to_string(), v.clone());
        }
        let errors: Vec<Value> = errors.iter().map(|(n, s)| json!([n, s])).collect();
        m.insert("Errors".into(), errors.into());
        return Value::Object(m).to_string();
    }
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        v => v.to_string(),
    };
    let mut fields: Vec<&(&str, Value)> = fields.iter().collect();
    fields.sort_by_key(|(k, _)| *k);
    let mut out = String::new();
    if f == Format::Xml {
        out.push_str(&format!("<{root}>\n"));
        for (k, v) in fields {
            let tag = k.replace(' ', "_").to_lowercase();
            out.push_str(&format!("<{tag}>{}</{tag}>\n", xml_escape(&text(v))));
        }
        out.push_str("<errors>\n");
        for (n, s) in errors {
            out.push_str(&format!(
                "<object><name>{}</name><status>{}</status></object>\n",
                xml_escape(n),
                xml_escape(s)
            ));
        }
        out.push_str(&format!("</errors>\n</{root}>\n"));
        return out;
    }
    for (k, v) in fields {
        out.push_str(&format!("{k}: {}\n", text(v)));
    }
    out.push_str("Errors:\n");
    for (n, s) in errors {
        out.push_str(&format!("{n}, {s}\n"));
    }
    out
}

/// `404 Not Found`, with Swift's reason phrases.
pub fn status_line(s: StatusCode) -> String {
    let reason = match s {
        StatusCode::PAYLOAD_TOO_LARGE => "Request Entity Too Large",
        _ => s.canonical_reason().unwrap_or(""),
    };
    format!("{} {reason}", s.as_u16())
}
