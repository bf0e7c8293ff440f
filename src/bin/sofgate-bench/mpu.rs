//! One large object through S3 multipart upload, timed step by step:
//! CreateMultipartUpload, the parts over a few connections at once,
//! CompleteMultipartUpload alone, then one GET of the whole object and its
//! DELETE. Every request SigV4-signed (unsigned payload), as in the S3 rows
//! of the small-object runs.

use std::sync::Mutex;
use std::time::Instant;

use md5::{Digest, Md5};
use serde_json::{json, Value};

use crate::client::{Conn, Response, Sink};
use crate::phase;
use crate::raw;
use crate::s3sign::{canonical_query, Signer};

/// What one run uploads, and how.
pub struct Plan<'a> {
    pub addr: &'a str,
    pub signer: &'a Signer,
    /// `/bucket/key`, URI-safe.
    pub path: &'a str,
    pub size: u64,
    pub part_size: u64,
    pub conns: usize,
    /// Check each part's ETag, the multipart ETag and the GET body's MD5.
    pub verify: bool,
}

/// The pattern the body repeats; parts are whole multiples of it, so the
/// object is the same stream `big` sends.
const PATTERN: usize = 1 << 20;

pub fn run(p: &Plan) -> Result<Value, String> {
    if p.part_size == 0 || p.part_size % PATTERN as u64 != 0 || p.size == 0 {
        return Err("--part-mib and --size must be positive, the part whole MiB".into());
    }
    let buf = raw::pattern(PATTERN, 7);
    let parts = p.size.div_ceil(p.part_size);
    let mut ctl = Conn::connect(p.addr).map_err(|e| format!("connect {}: {e}", p.addr))?;

    let t0 = Instant::now();
    let r = call(&mut ctl, p, "POST", &[("uploads", "")], None)?;
    let upload_id = tag(&r.body, "UploadId")
        .ok_or_else(|| format!("CreateMultipartUpload: no UploadId in {}", text(&r.body)))?;
    let create_s = t0.elapsed().as_secs_f64();

    let etags = Mutex::new(vec![String::new(); parts as usize]);
    let mut cs = (0..p.conns.clamp(1, parts as usize))
        .map(|_| Conn::connect(p.addr))
        .collect::<std::io::Result<Vec<_>>>()
        .map_err(|e| format!("connect {}: {e}", p.addr))?;
    let t1 = Instant::now();
    let done = phase::run(&mut cs, 3600.0, parts, |c, k| {
        let etag = upload_part(c, p, &buf, &upload_id, k)?;
        etags.lock().unwrap_or_else(|e| e.into_inner())[k as usize] = etag;
        Ok(part_len(p, k))
    });
    let parts_s = t1.elapsed().as_secs_f64();
    if done.summary["errors"].as_u64() != Some(0) || done.summary["ops"].as_u64() != Some(parts) {
        return Err(format!("UploadPart: {}", done.summary["first_error"]));
    }
    let etags = etags.into_inner().unwrap_or_else(|e| e.into_inner());

    let t2 = Instant::now();
    let body = complete_body(&etags);
    let r = call(
        &mut ctl,
        p,
        "POST",
        &[("uploadId", &upload_id)],
        Some(&body),
    )?;
    let complete_s = t2.elapsed().as_secs_f64();
    let upload_s = t0.elapsed().as_secs_f64();
    let etag = tag(&r.body, "ETag").map(|e| e.replace("&quot;", "").trim_matches('"').to_string());
    let etag = etag.ok_or_else(|| format!("CompleteMultipartUpload: {}", text(&r.body)))?;
    if p.verify {
        let want = multipart_etag(&etags);
        if etag != want {
            return Err(format!("CompleteMultipartUpload: ETag {etag}, want {want}"));
        }
    }

    let t3 = Instant::now();
    let get_md5 = get(&mut ctl, p)?;
    let get_s = t3.elapsed().as_secs_f64();
    if let Some(got) = get_md5 {
        let want = raw::stream_md5(&buf, p.size);
        if got != want {
            return Err(format!("GET {}: body MD5 {got}, want {want}", p.path));
        }
    }
    let r = call(&mut ctl, p, "DELETE", &[], None)?;
    if r.status != 204 {
        return Err(format!("DELETE {}: status {}", p.path, r.status));
    }
    let mb = |s: f64| p.size as f64 / s / 1e6;
    Ok(json!({
        "size": p.size, "parts": parts, "part_size": p.part_size, "conns": cs.len(),
        "etag": etag, "create_s": create_s, "parts_s": parts_s, "complete_s": complete_s,
        "upload_s": upload_s, "get_s": get_s,
        "parts_mb_per_s": mb(parts_s), "upload_mb_per_s": mb(upload_s),
        "complete_mb_per_s": mb(complete_s), "get_mb_per_s": mb(get_s),
    }))
}

fn part_len(p: &Plan, k: u64) -> u64 {
    (p.size - k * p.part_size).min(p.part_size)
}

/// UploadPart of part k + 1; its ETag (checked against the MD5 when verifying).
fn upload_part(c: &mut Conn, p: &Plan, buf: &[u8], id: &str, k: u64) -> Result<String, String> {
    let n = (k + 1).to_string();
    let q = canonical_query(&[("partNumber", &n), ("uploadId", id)]);
    let len = part_len(p, k);
    let mut h = p.verify.then(Md5::new);
    let mut one = || -> std::io::Result<Response> {
        let signed = p.signer.headers_q("PUT", p.path, &q);
        let headers: Vec<(&str, &str)> = signed
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        c.send_head("PUT", &format!("{}?{q}", p.path), &headers, len)?;
        for chunk in raw::stream_chunks(buf, len) {
            if let Some(h) = h.as_mut() {
                h.update(chunk);
            }
            c.write_body(chunk)?;
        }
        c.read_response(false, Sink::Keep)
    };
    let r = one().map_err(|e| {
        let _ = c.reconnect();
        format!("UploadPart {n}: {e}")
    })?;
    if r.status != 200 {
        return Err(format!(
            "UploadPart {n}: status {} {}",
            r.status,
            text(&r.body)
        ));
    }
    let etag = r.etag.ok_or_else(|| format!("UploadPart {n}: no ETag"))?;
    match h.map(|h| hex::encode(h.finalize())) {
        Some(md5) if md5 != etag => Err(format!("UploadPart {n}: ETag {etag}, MD5 {md5}")),
        _ => Ok(etag),
    }
}

fn complete_body(etags: &[String]) -> Vec<u8> {
    let mut s = String::from("<CompleteMultipartUpload>");
    for (i, e) in etags.iter().enumerate() {
        s += &format!(
            "<Part><PartNumber>{}</PartNumber><ETag>\"{e}\"</ETag></Part>",
            i + 1
        );
    }
    s += "</CompleteMultipartUpload>";
    s.into_bytes()
}

/// `<md5 of the parts' binary MD5s>-<N>`.
fn multipart_etag(etags: &[String]) -> String {
    let mut h = Md5::new();
    for e in etags {
        h.update(hex::decode(e).unwrap_or_default());
    }
    format!("{}-{}", hex::encode(h.finalize()), etags.len())
}

/// GET of the whole object; its body's MD5 when verifying.
fn get(c: &mut Conn, p: &Plan) -> Result<Option<String>, String> {
    let signed = p.signer.headers("GET", p.path);
    let headers: Vec<(&str, &str)> = signed
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let mut h = Md5::new();
    let sink = if p.verify {
        Sink::Hash(&mut h)
    } else {
        Sink::Discard
    };
    let r = c
        .send("GET", p.path, &headers, None)
        .and_then(|_| c.read_response(false, sink))
        .map_err(|e| format!("GET {}: {e}", p.path))?;
    if r.status != 200 || r.body_len != p.size {
        return Err(format!(
            "GET {}: status {}, {} bytes of {}",
            p.path, r.status, r.body_len, p.size
        ));
    }
    Ok(p.verify.then(|| hex::encode(h.finalize())))
}

/// One signed request with a small body (or none), its body kept.
fn call(
    c: &mut Conn,
    p: &Plan,
    method: &str,
    query: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Result<Response, String> {
    let q = canonical_query(query);
    let signed = p.signer.headers_q(method, p.path, &q);
    let headers: Vec<(&str, &str)> = signed
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let url = if q.is_empty() {
        p.path.to_string()
    } else {
        format!("{}?{q}", p.path)
    };
    let r = c
        .call(method, &url, &headers, body)
        .map_err(|e| format!("{method} {url}: {e}"))?;
    if !(200..300).contains(&r.status) {
        return Err(format!(
            "{method} {url}: status {} {}",
            r.status,
            text(&r.body)
        ));
    }
    Ok(r)
}

/// The text of the first `<name>` element of an XML body.
fn tag(body: &[u8], name: &str) -> Option<String> {
    let s = std::str::from_utf8(body).ok()?;
    let start = s.find(&format!("<{name}>"))? + name.len() + 2;
    let end = start + s[start..].find(&format!("</{name}>"))?;
    Some(s[start..end].to_string())
}

fn text(body: &[u8]) -> String {
    String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned()
}
