//! A small SigV4 signer for the S3 tests: signs any method, path, query,
//! headers and body (header authentication, the payload's SHA-256 signed),
//! so each S3 test file can speak to a running sofgate without an SDK.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use super::{Resp, Server};

/// The test users' keys, as `(access key, secret key)`.
pub const TESTER: (&str, &str) = ("test:tester", "testing");
pub const TESTER2: (&str, &str) = ("test2:tester2", "testing2");
pub const TESTER3: (&str, &str) = ("test:tester3", "testing3");

fn hmac256(key: &[u8], data: &str) -> Vec<u8> {
    let mut m = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    m.update(data.as_bytes());
    m.finalize().into_bytes().to_vec()
}

/// S3's URI encoding (RFC 3986 unreserved characters kept), `/` kept
/// when `path`.
pub fn uri_encode(s: &str, path: bool) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            b'/' if path => "/".to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A client of one key, signing for us-east-1 at the current time.
pub struct S3<'a> {
    pub server: &'a Server,
    pub access: &'a str,
    pub secret: &'a str,
}

impl<'a> S3<'a> {
    pub fn new(server: &'a Server, key: (&'a str, &'a str)) -> S3<'a> {
        S3 {
            server,
            access: key.0,
            secret: key.1,
        }
    }

    /// Sends `method` to `path` (not encoded: each segment is encoded here)
    /// with `query` pairs (raw), extra `headers` (all signed) and `body`.
    /// An `x-amz-content-sha256` among `headers` is sent (and signed) in
    /// place of the body's.
    pub fn send(
        &self,
        method: &str,
        path: &str,
        query: &[(&str, &str)],
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Resp {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock after 1970")
            .as_secs() as i64;
        let amz = sofgate::s3::time::format_amz(now);
        let host = self.server.addr().to_string();
        let is_payload = |k: &str| k.eq_ignore_ascii_case("x-amz-content-sha256");
        let payload = match headers.iter().find(|(k, _)| is_payload(k)) {
            Some((_, v)) => v.to_string(),
            None => hex::encode(Sha256::digest(body)),
        };
        let headers: Vec<&(&str, &str)> = headers.iter().filter(|(k, _)| !is_payload(k)).collect();
        let epath = uri_encode(path, true);
        let mut q: Vec<(String, String)> = query
            .iter()
            .map(|(k, v)| (uri_encode(k, false), uri_encode(v, false)))
            .collect();
        q.sort();
        let cquery = q
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&");
        let mut signed: Vec<(String, String)> = vec![
            ("host".into(), host.clone()),
            ("x-amz-content-sha256".into(), payload.clone()),
            ("x-amz-date".into(), amz.clone()),
        ];
        for (k, v) in &headers {
            signed.push((k.to_ascii_lowercase(), v.trim().to_string()));
        }
        signed.sort();
        let names = signed
            .iter()
            .map(|(k, _)| k.as_str())
            .collect::<Vec<_>>()
            .join(";");
        let cheaders: String = signed.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
        let canonical = format!("{method}\n{epath}\n{cquery}\n{cheaders}\n{names}\n{payload}");
        let scope = format!("{}/us-east-1/s3/aws4_request", &amz[..8]);
        let sts = format!(
            "AWS4-HMAC-SHA256\n{amz}\n{scope}\n{}",
            hex::encode(Sha256::digest(&canonical))
        );
        let mut key = format!("AWS4{}", self.secret).into_bytes();
        for p in scope.split('/') {
            key = hmac256(&key, p);
        }
        let sig = hex::encode(hmac256(&key, &sts));
        let auth = format!(
            "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={names}, Signature={sig}",
            self.access
        );
        let target = match cquery.is_empty() {
            true => epath,
            false => format!("{epath}?{cquery}"),
        };
        let mut req = self
            .server
            .anon(method, &target)
            .header("Host", &host)
            .header("x-amz-content-sha256", &payload)
            .header("x-amz-date", &amz)
            .header("Authorization", &auth);
        for (k, v) in headers {
            req = req.header(k, v);
        }
        req.body(body).send()
    }

    pub fn get(&self, path: &str) -> Resp {
        self.send("GET", path, &[], &[], b"")
    }

    pub fn put(&self, path: &str, body: &[u8]) -> Resp {
        self.send("PUT", path, &[], &[], body)
    }
}

/// The text of the first `<name>` element.
pub fn elem(r: &Resp, name: &str) -> Option<String> {
    let text = r.text();
    let open = format!("<{name}>");
    let start = text.find(&open)? + open.len();
    let end = text[start..].find(&format!("</{name}>"))?;
    Some(text[start..start + end].to_string())
}

/// Every `<name>` element's text, in order.
pub fn elems(r: &Resp, name: &str) -> Vec<String> {
    let text = r.text();
    let (open, close) = (format!("<{name}>"), format!("</{name}>"));
    let mut out = Vec::new();
    let mut rest = text.as_str();
    while let Some(i) = rest.find(&open) {
        rest = &rest[i + open.len()..];
        let Some(j) = rest.find(&close) else { break };
        out.push(rest[..j].to_string());
        rest = &rest[j + close.len()..];
    }
    out
}

/// An S3 error answer: status, XML, the code, the request id twice.
pub fn assert_s3_error(r: &Resp, status: u16, code: &str) {
    assert_eq!(r.status, status, "{r:?}");
    assert_eq!(r.header("content-type"), Some("application/xml"), "{r:?}");
    assert_eq!(elem(r, "Code").as_deref(), Some(code), "{r:?}");
    let id = r.header("x-amz-request-id").expect("request id");
    assert_eq!(elem(r, "RequestId").as_deref(), Some(id));
}
