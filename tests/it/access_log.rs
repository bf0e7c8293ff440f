//! The access log: Swift's proxy-logging line, field by field, for the
//! usual requests and for signed ones (no token, key or signature in it),
//! reopened after logrotate's rename on SIGHUP, and its JSON form.

use crate::common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use common::*;
use hmac::{Hmac, Mac};

/// Fields of Swift's default `log_msg_template`, in order.
const FIELDS: [&str; 21] = [
    "client_ip",
    "remote_addr",
    "datetime",
    "method",
    "path",
    "protocol",
    "status_int",
    "referer",
    "user_agent",
    "auth_token",
    "bytes_recvd",
    "bytes_sent",
    "client_etag",
    "transaction_id",
    "headers",
    "request_time",
    "source",
    "log_info",
    "start_time",
    "end_time",
    "policy_index",
];

/// A server logging to `<tempdir>/access.log` with `extra` keys in
/// `[log]`; the tempdir goes with the returned guard.
fn logging(extra: &str) -> (Server, PathBuf, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("access.log");
    let s = Builder::new()
        .toml(&format!("[log]\naccess = \"{}\"\n{extra}", path.display()))
        .start();
    (s, path, dir)
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// Waits for the line of the request answered with `trans_id` and
/// returns its fields by name.
fn line_of(path: &Path, trans_id: &str) -> std::collections::HashMap<&'static str, String> {
    let mut found = None;
    let ok = wait_until(Duration::from_secs(10), || {
        found = lines(path)
            .into_iter()
            .find(|l| l.split(' ').nth(13) == Some(trans_id));
        found.is_some()
    });
    assert!(ok, "no line for {trans_id} in {:?}", lines(path));
    let line = found.unwrap();
    let f: Vec<&str> = line.split(' ').collect();
    assert_eq!(f.len(), FIELDS.len(), "{line}");
    FIELDS
        .iter()
        .zip(f)
        .map(|(k, v)| (*k, v.to_string()))
        .collect()
}

fn trans(r: &Resp) -> String {
    r.header("x-trans-id").expect("x-trans-id").to_string()
}

#[test]
fn get_put_head_and_404_lines_field_by_field() {
    let (s, log, _dir) = logging("headers = true\n");
    let token = s.admin_token().to_string();
    s.put_container("c");
    let data = vec![7u8; 300 * 1024];
    let put = s
        .req("PUT", &v1("c/a%20b"))
        .header("ETag", &md5_hex(&data))
        .header("User-Agent", "tester/1.0 (linux)")
        .body(&data)
        .send_expect(201);
    let get = s
        .req("GET", &format!("{}?multipart-manifest=get", v1("c/a%20b")))
        .header("Referer", "http://example.com/x")
        .header("X-Forwarded-For", "203.0.113.7, 10.0.0.1")
        .send();
    assert_eq!(get.body.len(), data.len());
    let head = s.req("HEAD", &v1("c/a%20b")).send_expect(200);
    let missing = s.req("GET", &v1("c/nothing")).send_expect(404);

    let p = line_of(&log, &trans(&put));
    assert_eq!(p["client_ip"], "127.0.0.1");
    assert_eq!(p["remote_addr"], "127.0.0.1");
    assert_eq!(p["datetime"].split('/').count(), 6, "{p:?}");
    assert_eq!(p["method"], "PUT");
    // Swift's req.path_qs, quoted once more for the line.
    assert_eq!(p["path"], "/v1/AUTH_test/c/a%2520b");
    assert_eq!(p["protocol"], "HTTP/1.1");
    assert_eq!(p["status_int"], "201");
    assert_eq!(p["referer"], "-");
    assert_eq!(p["user_agent"], "tester/1.0%20%28linux%29");
    assert_eq!(p["auth_token"], format!("{}...", &token[..16]));
    assert_eq!(p["bytes_recvd"], data.len().to_string());
    assert_eq!(p["bytes_sent"], "-");
    assert_eq!(p["client_etag"], md5_hex(&data));
    assert!(p["headers"].contains("User-Agent:%20tester"), "{p:?}");
    assert!(p["request_time"].parse::<f64>().unwrap() < 60.0);
    assert_eq!((p["source"].as_str(), p["log_info"].as_str()), ("-", "-"));
    let (t0, t1): (f64, f64) = (
        p["start_time"].parse().unwrap(),
        p["end_time"].parse().unwrap(),
    );
    assert!(t0 <= t1 && t1 - t0 < 60.0, "{p:?}");
    assert_eq!(p["policy_index"], "0");

    let g = line_of(&log, &trans(&get));
    assert_eq!(g["client_ip"], "203.0.113.7");
    assert_eq!(g["remote_addr"], "127.0.0.1");
    assert_eq!(
        g["path"],
        "/v1/AUTH_test/c/a%2520b%3Fmultipart-manifest%3Dget"
    );
    assert_eq!(g["referer"], "http://example.com/x");
    assert_eq!(g["status_int"], "200");
    assert_eq!(g["bytes_recvd"], "-");
    // Streamed in chunks: the count is what went out.
    assert_eq!(g["bytes_sent"], data.len().to_string());

    let h = line_of(&log, &trans(&head));
    assert_eq!(
        (h["method"].as_str(), h["status_int"].as_str()),
        ("HEAD", "200")
    );
    assert_eq!(h["bytes_sent"], "-");

    let m = line_of(&log, &trans(&missing));
    assert_eq!(m["status_int"], "404");
    assert!(m["bytes_sent"].parse::<u64>().is_ok(), "{m:?}");

    let all = std::fs::read_to_string(&log).unwrap();
    assert!(!all.contains(&token), "a whole token in the log");
}

#[test]
fn no_token_key_or_signature_reaches_the_log() {
    let (s, log, _dir) = logging("headers = true\n");
    let token = s.admin_token().to_string();
    let key = "temp-url-secret-key-of-the-account";
    s.req("POST", &v1(""))
        .header("X-Account-Meta-Temp-URL-Key", key)
        .send_expect(204);
    s.put_container("bkt");
    s.put_object("bkt/o", b"hello");
    // A temp URL (valid, then tampered).
    let exp = now() + 600;
    let path = v1("bkt/o");
    let mut m = Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).unwrap();
    m.update(format!("GET\n{exp}\n{path}").as_bytes());
    let sig = hex::encode(m.finalize().into_bytes());
    let r = s
        .anon(
            "GET",
            &format!("{path}?temp_url_sig={sig}&temp_url_expires={exp}"),
        )
        .send_expect(200);
    let tu = line_of(&log, &trans(&r));
    assert!(
        tu["path"].ends_with(&format!(
            "temp_url_sig%3D{}...%26temp_url_expires%3D{exp}",
            &sig[..16]
        )),
        "{tu:?}"
    );
    // S3: a SigV2 presigned URL (valid) and a SigV4 Authorization header.
    let expires = now() + 600;
    let mut m = Hmac::<sha1::Sha1>::new_from_slice(b"testing").unwrap();
    m.update(format!("GET\n\n\n{expires}\n/bkt").as_bytes());
    let v2 = base64::engine::general_purpose::STANDARD.encode(m.finalize().into_bytes());
    let enc = |v: &str| {
        v.replace('+', "%2B")
            .replace('/', "%2F")
            .replace('=', "%3D")
    };
    let q = format!(
        "AWSAccessKeyId=test%3Atester&Expires={expires}&Signature={}",
        enc(&v2)
    );
    let r = s.anon("GET", &format!("/bkt?{q}")).send();
    // Signed right (listing objects is not there yet: 501, not 403).
    assert!(
        r.status != 403 && r.header("x-amz-request-id").is_some(),
        "{r:?}"
    );
    let v4 = "f".repeat(64);
    let r = s
        .anon("GET", "/bkt")
        .header("x-amz-date", "20250101T000000Z")
        .header("x-amz-content-sha256", "UNSIGNED-PAYLOAD")
        .header(
            "Authorization",
            &format!(
                "AWS4-HMAC-SHA256 Credential=test:tester/20250101/us-east-1/s3/aws4_request, \
                 SignedHeaders=host;x-amz-date, Signature={v4}"
            ),
        )
        .send();
    assert_eq!(r.status, 403, "{r:?}");
    let presigned = format!("/bkt?X-Amz-Credential=x&X-Amz-Signature={v4}");
    s.anon("GET", &presigned).send();
    // Every request so far is logged before the check.
    assert!(wait_until(Duration::from_secs(10), || lines(&log).len() >= 8));
    let all = std::fs::read_to_string(&log).unwrap();
    for secret in [token.as_str(), key, "testing", sig.as_str(), v4.as_str()] {
        assert!(!all.contains(secret), "{secret:?} in the log:\n{all}");
    }
    for secret in [&v2, &enc(&v2)] {
        assert!(
            !all.contains(secret.as_str()),
            "{secret:?} in the log:\n{all}"
        );
    }
}

#[test]
fn sighup_reopens_the_file_after_logrotate_renamed_it() {
    let (s, log, _dir) = logging("");
    let first = s.anon("GET", "/info").send();
    line_of(&log, &trans(&first));
    let rotated = log.with_extension("log.1");
    std::fs::rename(&log, &rotated).unwrap();
    let kill = std::process::Command::new("kill")
        .args(["-HUP", &s.pid().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    // The reopen happens on the writer thread, soon after the signal:
    // requests go on meanwhile, and one of them lands in the new file.
    let ok = wait_until(Duration::from_secs(10), || {
        s.anon("GET", "/info").send();
        !lines(&log).is_empty()
    });
    assert!(ok, "no new file after SIGHUP");
    assert!(s.is_alive(), "SIGHUP stopped the server");
    assert!(lines(&rotated)[0].contains(&trans(&first)));
}

#[test]
fn json_lines_parse_with_the_same_fields() {
    let (s, log, _dir) = logging("format = \"json\"\n");
    s.put_container("c");
    let put = s.put_object("c/o", b"hello");
    let get = s.get("c/o");
    let id = trans(&get);
    assert!(wait_until(Duration::from_secs(10), || {
        lines(&log).iter().any(|l| l.contains(&id))
    }));
    let rows: Vec<serde_json::Value> = lines(&log)
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let by_id = |t: &str| {
        rows.iter()
            .find(|r| r["transaction_id"] == t)
            .unwrap_or_else(|| panic!("no row for {t}: {rows:?}"))
            .clone()
    };
    let g = by_id(&id);
    for k in FIELDS {
        assert!(g.get(k).is_some(), "{k} missing from {g}");
    }
    assert_eq!(g["method"], "GET");
    assert_eq!(g["path"], "/v1/AUTH_test/c/o");
    assert_eq!(g["status_int"], 200);
    assert_eq!(g["bytes_sent"], 5);
    assert_eq!(g["policy_index"], 0);
    assert!(g["auth_token"].as_str().unwrap().ends_with("..."));
    let p = by_id(&trans(&put));
    assert_eq!(p["bytes_recvd"], 5);
}
