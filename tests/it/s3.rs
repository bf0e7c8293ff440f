//! The S3 door of a running sofgate, with requests signed here (SigV4
//! header and presigned, SigV2 header and presigned, by this file's own
//! small signer): ListBuckets, and the errors that come before any
//! operation (bad signature, unknown key, skewed clock, presigned limits).

use crate::common;

use base64::Engine;
use common::{Builder, Resp, Server};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use sofgate::s3::time;

const EMPTY: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

fn hmac256(key: &[u8], data: &str) -> Vec<u8> {
    let mut m = Hmac::<Sha256>::new_from_slice(key).unwrap();
    m.update(data.as_bytes());
    m.finalize().into_bytes().to_vec()
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A client of one key, signing for us-east-1.
struct Client<'a> {
    server: &'a Server,
    access: &'a str,
    secret: &'a str,
}

impl Client<'_> {
    fn host(&self) -> String {
        self.server.addr().to_string()
    }

    fn v4_signature(&self, amz: &str, canonical: &str) -> String {
        let scope = format!("{}/us-east-1/s3/aws4_request", &amz[..8]);
        let sts = format!(
            "AWS4-HMAC-SHA256\n{amz}\n{scope}\n{}",
            hex::encode(Sha256::digest(canonical))
        );
        let mut key = format!("AWS4{}", self.secret).into_bytes();
        for p in scope.split('/') {
            key = hmac256(&key, p);
        }
        hex::encode(hmac256(&key, &sts))
    }

    /// SigV4, Authorization header, signed at `t`.
    fn v4(&self, method: &str, path: &str, t: i64) -> Resp {
        self.v4_to(&self.host(), method, path, t)
    }

    /// SigV4 with `Host: host`.
    fn v4_to(&self, host: &str, method: &str, path: &str, t: i64) -> Resp {
        let amz = time::format_amz(t);
        let canonical = format!(
            "{method}\n{path}\n\nhost:{host}\nx-amz-content-sha256:{EMPTY}\nx-amz-date:{amz}\n\n\
             host;x-amz-content-sha256;x-amz-date\n{EMPTY}"
        );
        let auth = format!(
            "AWS4-HMAC-SHA256 Credential={}/{}/us-east-1/s3/aws4_request, \
             SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature={}",
            self.access,
            &amz[..8],
            self.v4_signature(&amz, &canonical)
        );
        self.server
            .anon(method, path)
            .header("Host", host)
            .header("x-amz-content-sha256", EMPTY)
            .header("x-amz-date", &amz)
            .header("Authorization", &auth)
            .send()
    }

    /// SigV4 presigned URL, signed at `t`, valid `expires` seconds.
    fn v4_presigned(&self, path: &str, t: i64, expires: i64) -> Resp {
        let amz = time::format_amz(t);
        let cred = format!("{}/{}/us-east-1/s3/aws4_request", self.access, &amz[..8]);
        let query = format!(
            "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={}&X-Amz-Date={amz}&X-Amz-Expires={expires}\
             &X-Amz-SignedHeaders=host",
            enc(&cred)
        );
        let canonical = format!(
            "GET\n{path}\n{query}\nhost:{}\n\nhost\nUNSIGNED-PAYLOAD",
            self.host()
        );
        let sig = self.v4_signature(&amz, &canonical);
        self.server
            .anon("GET", &format!("{path}?{query}&X-Amz-Signature={sig}"))
            .send()
    }

    fn v2_signature(&self, sts: &str) -> String {
        let mut m = Hmac::<sha1::Sha1>::new_from_slice(self.secret.as_bytes()).unwrap();
        m.update(sts.as_bytes());
        base64::engine::general_purpose::STANDARD.encode(m.finalize().into_bytes())
    }

    /// SigV2, Authorization header, with `Date` at `t`.
    fn v2(&self, method: &str, path: &str, t: i64) -> Resp {
        self.v2_to(&self.host(), "", method, path, t)
    }

    /// SigV2 with `Host: host`, whose bucket `host_bucket` heads the
    /// signed resource (`/<bucket>/<path>`).
    fn v2_to(&self, host: &str, host_bucket: &str, method: &str, path: &str, t: i64) -> Resp {
        let date = httpdate::fmt_http_date(
            std::time::UNIX_EPOCH + std::time::Duration::from_secs(t as u64),
        );
        let sig = self.v2_signature(&format!("{method}\n\n\n{date}\n{host_bucket}{path}"));
        self.server
            .anon(method, path)
            .header("Host", host)
            .header("Date", &date)
            .header("Authorization", &format!("AWS {}:{sig}", self.access))
            .send()
    }

    /// SigV2 presigned URL expiring at `expires`.
    fn v2_presigned(&self, path: &str, expires: i64) -> Resp {
        let sig = self.v2_signature(&format!("GET\n\n\n{expires}\n{path}"));
        let q = format!(
            "AWSAccessKeyId={}&Expires={expires}&Signature={}",
            enc(self.access),
            enc(&sig)
        );
        self.server.anon("GET", &format!("{path}?{q}")).send()
    }
}

fn client<'a>(server: &'a Server, access: &'a str, secret: &'a str) -> Client<'a> {
    Client {
        server,
        access,
        secret,
    }
}

/// The value of the first `<name>` element.
fn elem(r: &Resp, name: &str) -> Option<String> {
    let text = r.text();
    let open = format!("<{name}>");
    let start = text.find(&open)? + open.len();
    let end = text[start..].find(&format!("</{name}>"))?;
    Some(text[start..start + end].to_string())
}

fn assert_s3_error(r: &Resp, status: u16, code: &str) {
    assert_eq!(r.status, status, "{r:?}");
    assert_eq!(r.header("content-type"), Some("application/xml"), "{r:?}");
    assert_eq!(elem(r, "Code").as_deref(), Some(code), "{r:?}");
    let id = r.header("x-amz-request-id").expect("request id");
    assert_eq!(elem(r, "RequestId").as_deref(), Some(id));
    assert_eq!(r.header("x-amz-id-2"), Some(id));
}

#[test]
fn list_buckets_with_every_signature_kind() {
    let s = Server::start();
    for c in ["beta-2", "alpha", "Not_A_Bucket"] {
        s.put_container(c);
    }
    let me = client(&s, "test:tester", "testing");
    let now = time::now();
    let answers = [
        ("v4", me.v4("GET", "/", now)),
        ("v4 presigned", me.v4_presigned("/", now, 60)),
        ("v2", me.v2("GET", "/", now)),
        ("v2 presigned", me.v2_presigned("/", now + 60)),
    ];
    for (kind, r) in answers {
        assert_eq!(r.status, 200, "{kind}: {r:?}");
        assert_eq!(r.header("content-type"), Some("application/xml"));
        let id = r.header("x-amz-request-id").expect("x-amz-request-id");
        assert_eq!(r.header("x-amz-id-2"), Some(id));
        let t = r.text();
        assert!(
            t.contains(
                "<ListAllMyBucketsResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
            ),
            "{t}"
        );
        assert!(
            t.contains("<Owner><ID>test:tester</ID><DisplayName>test:tester</DisplayName></Owner>"),
            "{t}"
        );
        // Containers whose names are no bucket names are not listed.
        let names: Vec<_> = t
            .split("<Name>")
            .skip(1)
            .map(|p| p.split('<').next().unwrap())
            .collect();
        assert_eq!(names, ["alpha", "beta-2"], "{kind}");
        let created = elem(&r, "CreationDate").unwrap();
        assert!(
            created.ends_with(".000Z") && created.len() == 24,
            "{created}"
        );
        let year: i64 = created[..4].parse().unwrap();
        assert!(year >= 2024, "{created}");
    }
}

#[test]
fn a_bad_signature_shows_what_was_signed() {
    let s = Server::start();
    let wrong = client(&s, "test:tester", "not-the-key");
    let r = wrong.v4("GET", "/", time::now());
    assert_s3_error(&r, 403, "SignatureDoesNotMatch");
    assert_eq!(elem(&r, "AWSAccessKeyId").as_deref(), Some("test:tester"));
    assert!(elem(&r, "StringToSign")
        .unwrap()
        .starts_with("AWS4-HMAC-SHA256\n"));
    assert!(elem(&r, "CanonicalRequest")
        .unwrap()
        .starts_with("GET\n/\n\nhost:"));
    assert!(elem(&r, "StringToSignBytes")
        .unwrap()
        .starts_with("41 57 53 34"));
    assert_eq!(elem(&r, "SignatureProvided").map(|s| s.len()), Some(64));
    let r = wrong.v2("GET", "/", time::now());
    assert_s3_error(&r, 403, "SignatureDoesNotMatch");
    assert!(elem(&r, "StringToSign").unwrap().starts_with("GET\n\n\n"));
    assert_eq!(elem(&r, "AWSAccessKeyId").as_deref(), Some("test:tester"));
    let r = client(&s, "test:tester", "not-the-key").v4_presigned("/", time::now(), 60);
    assert_s3_error(&r, 403, "SignatureDoesNotMatch");
}

#[test]
fn unknown_keys_skewed_clocks_and_presigned_limits() {
    let s = Server::start();
    let now = time::now();
    for access in ["test:nobody", "nobody", "test"] {
        let r = client(&s, access, "testing").v4("GET", "/", now);
        assert_s3_error(&r, 403, "InvalidAccessKeyId");
        let r = client(&s, access, "testing").v2("GET", "/", now);
        assert_s3_error(&r, 403, "InvalidAccessKeyId");
    }
    let me = client(&s, "test:tester", "testing");
    for t in [now - 16 * 60, now + 16 * 60] {
        assert_s3_error(&me.v4("GET", "/", t), 403, "RequestTimeTooSkewed");
        assert_s3_error(&me.v2("GET", "/", t), 403, "RequestTimeTooSkewed");
    }
    assert_eq!(me.v4("GET", "/", now - 14 * 60).status, 200);
    let r = me.v4_presigned("/", now, 604801);
    assert_s3_error(&r, 400, "AuthorizationQueryParametersError");
    assert!(elem(&r, "Message")
        .unwrap()
        .contains("less than 604800 seconds"));
    let r = me.v4_presigned("/", now - 120, 60);
    assert_s3_error(&r, 403, "AccessDenied");
    assert_eq!(elem(&r, "Message").as_deref(), Some("Request has expired"));
    let r = me.v2_presigned("/", now - 1);
    assert_eq!(elem(&r, "Message").as_deref(), Some("Request has expired"));
}

#[test]
fn who_may_list_and_what_is_not_there_yet() {
    let s = Server::start();
    let now = time::now();
    // Not the account's admin: as Swift's s3api without s3_acl.
    assert_s3_error(
        &client(&s, "test:tester3", "testing3").v4("GET", "/", now),
        403,
        "AccessDenied",
    );
    // Another account's admin lists its own account.
    let other = client(&s, "test2:tester2", "testing2").v4("GET", "/", now);
    assert_eq!(
        (other.status, elem(&other, "ID").as_deref()),
        (200, Some("test2:tester2"))
    );
    let me = client(&s, "test:tester", "testing");
    // CreateBucket (tests/it/s3_bucket.rs has the bucket operations).
    assert_eq!(me.v4("PUT", "/new-bucket", now).status, 200);
    assert_s3_error(&me.v4("DELETE", "/", now), 405, "MethodNotAllowed");
    assert_s3_error(&me.v4("GET", "/Bad_Bucket", now), 400, "InvalidBucketName");
    assert_s3_error(&me.v4("GET", "/bucket//key", now), 400, "InvalidArgument");
    // HEAD errors have no body but the same status and ids.
    let r = me.v4("HEAD", "/", now);
    assert_eq!((r.status, r.body.len()), (405, 0));
    assert!(r.header("x-amz-request-id").is_some());
}

#[test]
fn swift_requests_stay_swift() {
    let s = Server::start();
    s.req("GET", "/v1/AUTH_test").send_expect(204);
    let r = s
        .anon("GET", "/v1/AUTH_test")
        .header("Authorization", "Bearer abc")
        .send_expect(401);
    assert!(r.header("x-amz-request-id").is_none());
    let info = s.anon("GET", "/info").send().json();
    assert_eq!(info["s3api"]["max_bucket_listing"], 1000);
    assert_eq!(info["s3api"]["s3_acl"], false);
}

#[test]
fn the_s3_door_can_be_closed() {
    let s = Builder::new().toml("[s3]\nenabled = false").start();
    let r = client(&s, "test:tester", "testing").v4("GET", "/", time::now());
    assert_ne!(r.status, 200, "{r:?}");
    assert!(r.header("x-amz-request-id").is_none(), "{r:?}");
    assert!(s.anon("GET", "/info").send().json().get("s3api").is_none());
}

#[test]
fn virtual_hosted_style_names_the_bucket_in_the_host() {
    let s = Builder::new()
        .toml("[s3]\ndomain = [\"s3.example.com\"]")
        .start();
    let me = client(&s, "test:tester", "testing");
    let now = time::now();
    // The bucket comes from the host: a listing of it, not of the account.
    let r = me.v4_to("photos.s3.example.com:8080", "GET", "/", now);
    assert_s3_error(&r, 404, "NoSuchBucket");
    assert_eq!(elem(&r, "BucketName").as_deref(), Some("photos"));
    assert_s3_error(
        &me.v4_to("Bad_Name.s3.example.com", "GET", "/", now),
        400,
        "InvalidBucketName",
    );
    // SigV2 signs /<bucket> and then the path.
    let r = me.v2_to("photos.s3.example.com", "/photos", "GET", "/", now);
    assert_s3_error(&r, 404, "NoSuchBucket");
    let r = me.v2_to("photos.s3.example.com", "", "GET", "/", now);
    assert_s3_error(&r, 403, "SignatureDoesNotMatch");
    // The domain itself, and other hosts, are path style.
    assert_eq!(me.v4_to("s3.example.com", "GET", "/", now).status, 200);
}

#[test]
fn the_shared_signer_signs_queries_headers_and_bodies() {
    let server = Server::start();
    let s3 = common::s3::S3::new(&server, common::s3::TESTER);
    let r = s3.send(
        "GET",
        "/",
        &[("x-id", "ListBuckets"), ("a b", "c/d")],
        &[("x-amz-meta-note", "signed too")],
        b"",
    );
    assert_eq!(r.status, 200, "{r:?}");
    let wrong = common::s3::S3 {
        secret: "not-the-key",
        ..common::s3::S3::new(&server, common::s3::TESTER)
    };
    let r = wrong.get("/");
    assert_s3_error(&r, 403, "SignatureDoesNotMatch");
}

/// An S3 error to a request with a body (which the door may not have read)
/// closes the connection and says so; one without a body keeps it.
#[test]
fn an_error_before_the_body_is_read_says_connection_close() {
    let s = Server::start();
    let auth =
        "Authorization: AWS4-HMAC-SHA256 Credential=nobody/20260101/us-east-1/s3/aws4_request, \
                SignedHeaders=host, Signature=00";
    let put =
        format!("PUT /bkt/key HTTP/1.1\r\nHost: x\r\n{auth}\r\nContent-Length: 5\r\n\r\nhello");
    let r = common::raw(s.addr(), put.as_bytes(), false);
    assert_eq!(r.status, 403, "{r:?}");
    assert_eq!(r.header("connection"), Some("close"), "{r:?}");
    let get = format!("GET /bkt/key HTTP/1.1\r\nHost: x\r\n{auth}\r\n\r\n");
    let mut c = common::connect(s.addr());
    std::io::Write::write_all(&mut c, get.as_bytes()).unwrap();
    let mut buf = [0u8; 4096];
    let n = std::io::Read::read(&mut c, &mut buf).unwrap();
    let head = String::from_utf8_lossy(&buf[..n]).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 403"), "{head}");
    assert!(!head.contains("connection: close"), "{head}");
}
