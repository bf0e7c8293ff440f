//! Browser form uploads: signed forms store their files, every refusal
//! leaves the device as it was.

use crate::common;

use common::*;
use hmac::{Hmac, Mac};

const KEY: &str = "form-key";
const BOUNDARY: &str = "----sofgateFormBoundary7MA4YWxk";

fn setup() -> Server {
    let s = Server::start();
    s.req("POST", &v1(""))
        .header("X-Account-Meta-Temp-URL-Key", KEY)
        .send_expect(204);
    s.put_container("c");
    s
}

fn signature(path: &str, redirect: &str, size: u64, count: u64, expires: u64) -> String {
    let mut m = Hmac::<sha2::Sha256>::new_from_slice(KEY.as_bytes()).unwrap();
    m.update(format!("{path}\n{redirect}\n{size}\n{count}\n{expires}").as_bytes());
    hex::encode(m.finalize().into_bytes())
}

/// A form body: fields in order, then files (name, content type, data).
fn form(fields: &[(&str, String)], files: &[(&str, &str, &[u8])]) -> Vec<u8> {
    let mut b = Vec::new();
    for (k, v) in fields {
        b.extend_from_slice(
            format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n")
                .as_bytes(),
        );
    }
    for (i, (name, ct, data)) in files.iter().enumerate() {
        b.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file{i}\"; filename=\"{name}\"\r\nContent-Type: {ct}\r\n\r\n"
            )
            .as_bytes(),
        );
        b.extend_from_slice(data);
        b.extend_from_slice(b"\r\n");
    }
    b.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    b
}

fn fields(
    path: &str,
    redirect: &str,
    size: u64,
    count: u64,
    expires: u64,
) -> Vec<(&'static str, String)> {
    let mut f = Vec::new();
    if !redirect.is_empty() {
        f.push(("redirect", redirect.to_string()));
    }
    f.push(("max_file_size", size.to_string()));
    f.push(("max_file_count", count.to_string()));
    f.push(("expires", expires.to_string()));
    f.push(("signature", signature(path, redirect, size, count, expires)));
    f
}

fn post(s: &Server, path: &str, body: &[u8]) -> Resp {
    s.anon("POST", path)
        .header(
            "Content-Type",
            &format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(body)
        .send()
}

#[test]
fn signed_form_stores_its_files() {
    let s = setup();
    let path = v1("c/up/");
    let exp = now() + 600;
    // A body crossing many reads, with the boundary's start inside it.
    let big: Vec<u8> = (0..200_000u32)
        .map(|i| if i % 1000 == 999 { b'\r' } else { b'-' })
        .collect();
    let body = form(
        &fields(&path, "", 1 << 20, 3, exp),
        &[
            ("a.txt", "text/x-a", b"alpha"),
            ("b.bin", "application/x-b", &big),
        ],
    );
    let r = post(&s, &path, &body);
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(r.text(), "201 Created");
    let dir = s.cont_dir("c").join("up");
    assert_eq!(std::fs::read(dir.join("a.txt")).unwrap(), b"alpha");
    assert_eq!(std::fs::read(dir.join("b.bin")).unwrap(), big);
    let r = s.get("c/up/a.txt");
    assert_eq!(r.header("content-type"), Some("text/x-a"));
    assert!(temp_files(s.device()).is_empty());

    // With a redirect: 303 there, status and message in its query.
    let body = form(
        &fields(&path, "https://example.com/done?x=1", 100, 1, exp),
        &[("c.txt", "text/plain", b"gamma")],
    );
    let r = post(&s, &path, &body);
    assert_eq!(r.status, 303, "{r:?}");
    assert_eq!(
        r.header("location"),
        Some("https://example.com/done?x=1&status=201&message=")
    );
    assert_eq!(s.get("c/up/c.txt").body, b"gamma");
}

#[test]
fn refused_forms_write_nothing() {
    let s = setup();
    let path = v1("c/");
    let exp = now() + 600;
    let before = snapshot(s.device());
    let file: &[(&str, &str, &[u8])] = &[("x.txt", "text/plain", b"0123456789")];

    // Signature by another key, or for another path.
    let mut f = fields(&path, "", 100, 1, exp);
    f.last_mut().unwrap().1 = "0".repeat(64);
    assert_eq!(post(&s, &path, &form(&f, file)).status, 401);
    let f = fields(&v1("other/"), "", 100, 1, exp);
    assert_eq!(post(&s, &path, &form(&f, file)).status, 401);
    // Expired.
    let past = now() - 5;
    let f = fields(&path, "", 100, 1, past);
    assert_eq!(post(&s, &path, &form(&f, file)).status, 401);
    // Too big.
    let f = fields(&path, "", 5, 1, exp);
    let r = post(&s, &path, &form(&f, file));
    assert_eq!(r.status, 400, "{r:?}");
    assert_eq!(r.text(), "FormPost: max_file_size exceeded");
    // No files; a broken opening boundary.
    let f = fields(&path, "", 100, 1, exp);
    let r = post(&s, &path, &form(&f, &[]));
    assert_eq!(r.status, 400);
    assert!(r.text().contains("No Files To Process"), "{r:?}");
    let r = post(&s, &path, b"garbage\r\n");
    assert_eq!(r.status, 400);
    assert_eq!(r.text(), "FormPost: invalid starting boundary");
    assert_eq!(snapshot(s.device()), before);

    // One file too many: the first is stored, the second refused.
    let f = fields(&path, "", 100, 1, exp);
    let two: &[(&str, &str, &[u8])] = &[
        ("1.txt", "text/plain", b"one"),
        ("2.txt", "text/plain", b"two"),
    ];
    let r = post(&s, &path, &form(&f, two));
    assert_eq!(r.status, 400, "{r:?}");
    assert!(r.text().contains("Max File Count Exceeded"), "{r:?}");
    assert!(s.cont_dir("c").join("1.txt").exists());
    assert!(!s.cont_dir("c").join("2.txt").exists());

    let info = s.anon("GET", "/info").send().json();
    assert!(info["formpost"]["allowed_digests"].is_array());
}

#[test]
fn forms_are_held_to_container_quotas() {
    let s = setup();
    let path = v1("c/");
    let exp = now() + 600;
    s.put_object("c/first", b"0123456789");
    s.req("POST", &v1("c"))
        .header("X-Container-Meta-Quota-Count", "1")
        .send_expect(204);
    let before = snapshot(s.device());
    let f = fields(&path, "", 100, 1, exp);
    let r = post(&s, &path, &form(&f, &[("x.txt", "text/plain", b"x")]));
    assert_eq!(r.status, 413, "{r:?}");
    assert_eq!(r.text(), "Upload exceeds quota.");
    assert_eq!(snapshot(s.device()), before);

    // A bytes quota: the file's size is only known once it has arrived.
    s.req("POST", &v1("c"))
        .header("X-Container-Meta-Quota-Count", "")
        .header("X-Container-Meta-Quota-Bytes", "15")
        .send_expect(204);
    let r = post(
        &s,
        &path,
        &form(&f, &[("big.txt", "text/plain", b"0123456")]),
    );
    assert_eq!(r.status, 413, "{r:?}");
    assert!(!s.cont_dir("c").join("big.txt").exists());
    assert!(temp_files(s.device()).is_empty());
    let r = post(&s, &path, &form(&f, &[("ok.txt", "text/plain", b"01234")]));
    assert_eq!(r.status, 201, "{r:?}");
}

#[test]
fn a_form_overwrite_keeps_the_old_version() {
    let s = setup();
    s.put_container("v");
    s.req("POST", &v1("c"))
        .header("X-Versions-Location", "v")
        .send_expect(204);
    s.put_object("c/o.txt", b"old");
    let path = v1("c/");
    let f = fields(&path, "", 100, 1, now() + 600);
    let r = post(&s, &path, &form(&f, &[("o.txt", "text/plain", b"new")]));
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(s.get("c/o.txt").text(), "new");
    let v = s.get("v").lines();
    assert_eq!(v.len(), 1, "{v:?}");
    assert!(v[0].starts_with("005o.txt/"), "{v:?}");
    assert_eq!(s.get(&format!("v/{}", v[0])).text(), "old");
}

#[test]
fn a_form_with_x_delete_after_is_queued_and_reaped() {
    let s = Builder::new().storage("expirer_interval_secs = 1").start();
    s.req("POST", &v1(""))
        .header("X-Account-Meta-Temp-URL-Key", KEY)
        .send_expect(204);
    s.put_container("c");
    let path = v1("c/");
    let mut f = vec![("x_delete_after", "1".to_string())];
    f.extend(fields(&path, "", 100, 1, now() + 600));
    let r = post(&s, &path, &form(&f, &[("gone.txt", "text/plain", b"bye")]));
    assert_eq!(r.status, 201, "{r:?}");
    let file = s.cont_dir("c").join("gone.txt");
    assert!(
        wait_until(std::time::Duration::from_secs(15), || !file.exists()),
        "the reaper never removed the form's expiring object"
    );
}

#[test]
fn a_form_with_x_delete_at_in_the_past_is_refused_as_a_put_is() {
    let s = setup();
    let path = v1("c/");
    let before = snapshot(s.device());
    let mut f = vec![("x_delete_at", (now() - 10).to_string())];
    f.extend(fields(&path, "", 100, 1, now() + 600));
    let r = post(&s, &path, &form(&f, &[("late.txt", "text/plain", b"x")]));
    assert_eq!(r.status, 400, "{r:?}");
    assert_eq!(r.text(), "X-Delete-At in past");
    assert_eq!(snapshot(s.device()), before);
}
