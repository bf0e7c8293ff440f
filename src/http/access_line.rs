//! One access-log line from one request's [`Record`]: Swift's proxy-logging
//! format (its default `log_msg_template`: space-separated fields, each
//! URL-quoted, `-` for a missing or zero value) or a JSON object with the
//! same field names. Secrets are cut before they reach a record: a token to
//! its first 16 characters and `...`, as Swift's `reveal_sensitive_prefix`.

use std::net::IpAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use http::HeaderMap;
use percent_encoding::percent_decode_str;

/// Characters of a token, signature or such kept in a log line.
pub const REVEAL: usize = 16;

/// Request headers whose values are cut to [`REVEAL`] characters.
const SENSITIVE_HEADERS: &[&str] = &[
    "x-auth-token",
    "x-storage-token",
    "x-service-token",
    "authorization",
    "x-amz-security-token",
];
/// Request headers whose values never appear at all: passwords, and the
/// keys temp URLs and form posts are signed with.
const SECRET_HEADERS: &[&str] = &[
    "x-auth-key",
    "x-storage-pass",
    "x-account-meta-temp-url-key",
    "x-account-meta-temp-url-key-2",
    "x-container-meta-temp-url-key",
    "x-container-meta-temp-url-key-2",
];
/// Query parameters cut to [`REVEAL`] characters: a temp URL's signature,
/// S3 presigned URLs' (SigV4, SigV2) and a session token.
const SENSITIVE_PARAMS: &[&str] = &[
    "temp_url_sig",
    "x-amz-signature",
    "signature",
    "x-amz-security-token",
];

/// Everything the log says of one request.
#[derive(Debug, Clone)]
pub struct Record {
    pub client_ip: String,
    pub remote_addr: IpAddr,
    pub method: String,
    /// The path as sent (still percent-encoded).
    pub path: String,
    /// The query as sent, if any.
    pub query: Option<String>,
    pub protocol: &'static str,
    pub status: u16,
    pub referer: Option<String>,
    pub user_agent: Option<String>,
    /// The `X-Auth-Token`, already cut.
    pub auth_token: Option<String>,
    pub bytes_recvd: u64,
    pub bytes_sent: u64,
    pub client_etag: Option<String>,
    pub transaction_id: Option<String>,
    /// `Name: value` lines, secrets already cut (only with `[log] headers`).
    pub headers: Option<String>,
    pub start: SystemTime,
    pub end: SystemTime,
    pub policy_index: Option<usize>,
}

/// `value` cut to [`REVEAL`] characters, as Swift's `cap_length`.
pub fn cap(value: &str) -> String {
    match value.char_indices().nth(REVEAL) {
        Some((i, _)) => format!("{}...", &value[..i]),
        None => value.to_string(),
    }
}

/// The value of header `name`, as text (UTF-8; other bytes replaced).
pub fn header(h: &HeaderMap, name: &str) -> Option<String> {
    Some(String::from_utf8_lossy(h.get(name)?.as_bytes()).into_owned())
}

/// The request's headers as Swift logs them (`Name: value` per line), with
/// tokens cut and keys left out.
pub fn logged_headers(h: &HeaderMap) -> String {
    let mut out = Vec::with_capacity(h.len());
    for (name, value) in h {
        let n = name.as_str();
        let v = String::from_utf8_lossy(value.as_bytes());
        let v = if SECRET_HEADERS.contains(&n) {
            "...".to_string()
        } else if SENSITIVE_HEADERS.contains(&n) {
            cap(&v)
        } else {
            v.into_owned()
        };
        out.push(format!("{}: {v}", title_case(n)));
    }
    out.join("\n")
}

fn title_case(name: &str) -> String {
    let mut up = true;
    name.chars()
        .map(|c| {
            let r = if up { c.to_ascii_uppercase() } else { c };
            up = c == '-';
            r
        })
        .collect()
}

/// Percent-encodes every byte but ASCII letters, digits, `_.-~` and
/// `safe` (Python's `urllib.parse.quote`).
fn quote(s: &[u8], safe: &[u8]) -> String {
    let mut out = String::with_capacity(s.len());
    quote_into(&mut out, s, safe);
    out
}

fn quote_into(out: &mut String, s: &[u8], safe: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in s {
        if b.is_ascii_alphanumeric() || b"_.-~".contains(&b) || safe.contains(&b) {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 15)] as char);
        }
    }
}

/// Appends one field of a Swift line: `-` when missing or empty.
fn push_field(out: &mut String, v: Option<&str>) {
    if !out.is_empty() {
        out.push(' ');
    }
    match v {
        None | Some("") => out.push('-'),
        Some(v) => quote_into(out, v.as_bytes(), b":/{}"),
    }
}

/// The query with sensitive parameters' values cut.
fn redact_query(q: &str) -> String {
    q.split('&')
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let key = percent_decode_str(k)
                .decode_utf8_lossy()
                .to_ascii_lowercase();
            if !SENSITIVE_PARAMS.contains(&key.as_str()) {
                return pair.to_string();
            }
            let value = percent_decode_str(&v.replace('+', " "))
                .decode_utf8_lossy()
                .into_owned();
            format!("{k}={}", quote(cap(&value).as_bytes(), b""))
        })
        .collect::<Vec<_>>()
        .join("&")
}

impl Record {
    /// Swift's `req.path_qs`: the path decoded and quoted again (so it is
    /// canonical), then the query as sent, secrets cut.
    pub fn path_qs(&self) -> String {
        let raw: Vec<u8> = percent_decode_str(&self.path).collect();
        let mut p = quote(&raw, b"/");
        if let Some(q) = self.query.as_deref().filter(|q| !q.is_empty()) {
            p.push('?');
            p.push_str(&redact_query(q));
        }
        p
    }

    /// The line in Swift's proxy-logging format (no newline).
    pub fn swift_line(&self) -> String {
        let num = |n: u64| (n != 0).then(|| n.to_string());
        let mut out = String::with_capacity(320);
        let o = &mut out;
        push_field(o, Some(&self.client_ip));
        push_field(o, Some(&self.remote_addr.to_string()));
        push_field(o, Some(&swift_datetime(self.end)));
        push_field(o, Some(&self.method));
        push_field(o, Some(&self.path_qs()));
        push_field(o, Some(self.protocol));
        push_field(o, Some(&self.status.to_string()));
        push_field(o, self.referer.as_deref());
        push_field(o, self.user_agent.as_deref());
        push_field(o, self.auth_token.as_deref());
        push_field(o, num(self.bytes_recvd).as_deref());
        push_field(o, num(self.bytes_sent).as_deref());
        push_field(o, self.client_etag.as_deref());
        push_field(o, self.transaction_id.as_deref());
        push_field(o, self.headers.as_deref());
        push_field(o, Some(&format!("{:.4}", self.seconds())));
        push_field(o, None); // source: sofgate makes no subrequests
        push_field(o, None); // log_info
        push_field(o, Some(&epoch_text(self.start)));
        push_field(o, Some(&epoch_text(self.end)));
        push_field(o, self.policy_index.map(|i| i.to_string()).as_deref());
        out
    }

    /// The same fields as one JSON object (values not quoted; missing ones
    /// `null`).
    pub fn json_line(&self) -> String {
        serde_json::json!({
            "client_ip": self.client_ip,
            "remote_addr": self.remote_addr.to_string(),
            "datetime": swift_datetime(self.end),
            "method": self.method,
            "path": self.path_qs(),
            "protocol": self.protocol,
            "status_int": self.status,
            "referer": self.referer,
            "user_agent": self.user_agent,
            "auth_token": self.auth_token,
            "bytes_recvd": self.bytes_recvd,
            "bytes_sent": self.bytes_sent,
            "client_etag": self.client_etag,
            "transaction_id": self.transaction_id,
            "headers": self.headers,
            "request_time": (self.seconds() * 1e4).round() / 1e4,
            "source": null,
            "log_info": null,
            "start_time": epoch(self.start),
            "end_time": epoch(self.end),
            "policy_index": self.policy_index,
        })
        .to_string()
    }

    fn seconds(&self) -> f64 {
        self.end
            .duration_since(self.start)
            .map_or(0.0, |d| d.as_secs_f64())
    }
}

/// Seconds since the epoch with nanoseconds (Swift's `%.9f`), from the
/// integers (no float formatting).
fn epoch_text(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    format!("{}.{:09}", d.as_secs(), d.subsec_nanos())
}

fn epoch(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `05/Dec/2026/13/01/59` (UTC), Swift's `end_time.datetime`.
fn swift_datetime(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let (y, m, d) = super::date::civil_from_days(secs.div_euclid(86400));
    let r = secs.rem_euclid(86400);
    let month = MONTHS[(m.clamp(1, 12) - 1) as usize];
    format!(
        "{d:02}/{month}/{y:04}/{:02}/{:02}/{:02}",
        r / 3600,
        r % 3600 / 60,
        r % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn record() -> Record {
        let start = UNIX_EPOCH + Duration::from_millis(1_764_939_719_250);
        Record {
            client_ip: "10.0.0.9".into(),
            remote_addr: "127.0.0.1".parse().unwrap(),
            method: "GET".into(),
            path: "/v1/AUTH_test/c/a%20b".into(),
            query: Some("format=json&temp_url_sig=0123456789abcdef0123456789abcdef".into()),
            protocol: "HTTP/1.1",
            status: 200,
            referer: None,
            user_agent: Some("curl/8.1 (x)".into()),
            auth_token: Some(cap("AUTH_tk0123456789abcdef0123")),
            bytes_recvd: 0,
            bytes_sent: 42,
            client_etag: None,
            transaction_id: Some("tx0123".into()),
            headers: None,
            start,
            end: start + Duration::from_millis(1500),
            policy_index: Some(0),
        }
    }

    #[test]
    fn a_line_has_swifts_fields_in_order_quoted() {
        let line = record().swift_line();
        let f: Vec<&str> = line.split(' ').collect();
        assert_eq!(f.len(), 21, "{line}");
        // The end time: start + 1.5 s.
        assert_eq!(f[2], "05/Dec/2025/13/02/00");
        assert_eq!(
            f[4],
            "/v1/AUTH_test/c/a%2520b%3Fformat%3Djson%26temp_url_sig%3D0123456789abcdef..."
        );
        assert_eq!(&f[5..9], ["HTTP/1.1", "200", "-", "curl/8.1%20%28x%29"]);
        assert_eq!(f[9], "AUTH_tk012345678...");
        assert_eq!(&f[10..14], ["-", "42", "-", "tx0123"]);
        assert_eq!(f[15], "1.5000");
        assert_eq!(&f[16..18], ["-", "-"]);
        assert_eq!(f[18], "1764939719.250000000");
        assert_eq!(f[20], "0");
    }

    #[test]
    fn secrets_are_cut_or_left_out_of_headers() {
        let mut h = HeaderMap::new();
        h.insert("x-auth-key", "testing".parse().unwrap());
        h.insert(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=a, Signature=ffff"
                .parse()
                .unwrap(),
        );
        h.insert("user-agent", "x".parse().unwrap());
        let s = logged_headers(&h);
        assert!(!s.contains("testing") && !s.contains("ffff"), "{s}");
        assert!(
            s.contains("X-Auth-Key: ...") && s.contains("User-Agent: x"),
            "{s}"
        );
        assert!(s.contains("Authorization: AWS4-HMAC-SHA256..."), "{s}");
    }

    #[test]
    fn presigned_s3_signatures_are_cut() {
        let mut r = record();
        r.query = Some("X-Amz-Credential=a%2Fb&X-Amz-Signature=aaaaaaaaaaaaaaaabbbbbbbb".into());
        assert_eq!(
            r.path_qs(),
            "/v1/AUTH_test/c/a%20b?X-Amz-Credential=a%2Fb&X-Amz-Signature=aaaaaaaaaaaaaaaa..."
        );
        r.query = Some("Signature=abc%2Bdef%3D&AWSAccessKeyId=k".into());
        assert_eq!(
            r.path_qs(),
            "/v1/AUTH_test/c/a%20b?Signature=abc%2Bdef%3D&AWSAccessKeyId=k"
        );
    }

    #[test]
    fn json_lines_parse() {
        let v: serde_json::Value = serde_json::from_str(&record().json_line()).unwrap();
        assert_eq!(v["status_int"], 200);
        assert_eq!(v["bytes_sent"], 42);
        assert_eq!(v["referer"], serde_json::Value::Null);
        assert_eq!(v["request_time"], 1.5);
    }
}
