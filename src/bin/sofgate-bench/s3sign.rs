//! SigV4 header signatures for the S3 rows of the bench: each request
//! signed as the AWS SDKs sign it (host, `x-amz-date`, an unsigned
//! payload), with sofgate's own signing primitives, so the server checks a
//! real signature on every request. The signing key of a day is derived
//! once and kept, as SDKs keep it: a request costs the client one SHA-256
//! and one HMAC instead of five HMACs.

use sofgate::s3::signing::{cached_signing_key, sha256_hex, sign};
use sofgate::s3::time;

/// One key's signer for one server.
pub struct Signer {
    access: String,
    secret: String,
    host: String,
}

impl Signer {
    /// `spec` is `ACCESS:SECRET` (the access key may hold colons itself:
    /// the secret is what follows the last one); `host` as the client sends it.
    pub fn parse(spec: &str, host: &str) -> Result<Signer, String> {
        let (access, secret) = spec
            .rsplit_once(':')
            .ok_or_else(|| format!("--s3 wants ACCESS:SECRET, got {spec:?}"))?;
        Ok(Signer {
            access: access.to_string(),
            secret: secret.to_string(),
            host: host.to_string(),
        })
    }

    /// The headers that sign `method` of `path` (already URI-safe, no query).
    pub fn headers(&self, method: &str, path: &str) -> [(String, String); 3] {
        self.headers_q(method, path, "")
    }

    /// The same with a query, given in canonical form (see [`canonical_query`]).
    pub fn headers_q(&self, method: &str, path: &str, query: &str) -> [(String, String); 3] {
        let amz = time::format_amz(time::now());
        let scope = format!("{}/us-east-1/s3/aws4_request", &amz[..8]);
        let signed = "host;x-amz-content-sha256;x-amz-date";
        let canonical = format!(
            "{method}\n{path}\n{query}\nhost:{}\nx-amz-content-sha256:UNSIGNED-PAYLOAD\n\
             x-amz-date:{amz}\n\n{signed}\nUNSIGNED-PAYLOAD",
            self.host
        );
        let sts = format!(
            "AWS4-HMAC-SHA256\n{amz}\n{scope}\n{}",
            sha256_hex(canonical.as_bytes())
        );
        let sig = sign(&cached_signing_key(&self.secret, &scope), sts.as_bytes());
        [
            (
                "Authorization".into(),
                format!(
                    "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed}, \
                     Signature={sig}",
                    self.access
                ),
            ),
            ("x-amz-content-sha256".into(), "UNSIGNED-PAYLOAD".into()),
            ("x-amz-date".into(), amz),
        ]
    }
}

/// A query string in SigV4's canonical form (pairs sorted, every byte but
/// the unreserved ones percent-encoded), which is also a valid URL query.
pub fn canonical_query(pairs: &[(&str, &str)]) -> String {
    let mut enc: Vec<(String, String)> = pairs.iter().map(|(k, v)| (uri(k), uri(v))).collect();
    enc.sort();
    enc.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

fn uri(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
