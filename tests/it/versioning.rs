//! Object versioning: the legacy modes (`X-Versions-Location` stack mode,
//! `X-History-Location` history mode) keep overwritten objects in an archive
//! container, and DELETE restores them or leaves a delete marker.

use crate::common;

use std::os::unix::fs::MetadataExt;

use common::*;

const MARKER: &str = "application/x-deleted;swift_versions_deleted=1";

/// `c` versioned into `v` with the given header.
fn versioned(s: &Server, header: &str) {
    s.put_container("v");
    s.req("PUT", &v1("c")).header(header, "v").send_expect(201);
}

/// `c` with object versioning on (`X-Versions-Enabled`).
fn versions_enabled(s: &Server) {
    s.req("PUT", &v1("c"))
        .header("X-Versions-Enabled", "true")
        .send_expect(201);
}

fn names(s: &Server, c: &str) -> Vec<String> {
    let r = s.get(c);
    assert!(r.status == 200 || r.status == 204, "{r:?}");
    r.lines()
}

fn listing(s: &Server, c: &str) -> Vec<serde_json::Value> {
    let r = s.get(&format!("{c}?format=json"));
    assert_eq!(r.status, 200, "{r:?}");
    r.json().as_array().unwrap().clone()
}

#[test]
fn stack_mode_keeps_overwritten_versions_and_delete_restores_them() {
    let s = Server::start();
    versioned(&s, "X-Versions-Location");
    assert_eq!(
        s.req("HEAD", &v1("c")).send().header("x-versions-location"),
        Some("v")
    );
    s.req("PUT", &v1("c/a/o"))
        .header("Content-Type", "text/one")
        .header("X-Object-Meta-Which", "first")
        .body(b"one")
        .send_expect(201);
    let first_ino = std::fs::metadata(s.cont_dir("c").join("a/o"))
        .unwrap()
        .ino();
    assert!(names(&s, "v").is_empty());
    s.put_object("c/a/o", b"two");
    assert_eq!(s.get("c/a/o").text(), "two");

    // The old object is in the archive under <len><name>/<timestamp>: the
    // very file it was (a hard link, no copy).
    let v = names(&s, "v");
    assert_eq!(v.len(), 1, "{v:?}");
    assert!(v[0].starts_with("003a/o/"), "{v:?}");
    let old = s.get(&format!("v/{}", v[0]));
    assert_eq!(old.text(), "one");
    assert_eq!(old.header("content-type"), Some("text/one"));
    assert_eq!(old.header("x-object-meta-which"), Some("first"));
    let on_disk = s.cont_dir("v").join(&v[0]);
    assert_eq!(std::fs::metadata(&on_disk).unwrap().ino(), first_ino);

    // POST changes metadata only: no new version.
    s.req("POST", &v1("c/a/o"))
        .header("X-Object-Meta-X", "y")
        .send_expect(202);
    assert_eq!(names(&s, "v").len(), 1);
    // A COPY over it is a write like any other.
    s.put_object("c/src", b"three");
    s.req("COPY", &v1("c/src"))
        .header("Destination", "c/a/o")
        .send_expect(201);
    assert_eq!(names(&s, "v").len(), 2);

    // DELETE pops the newest version back, then the one before.
    s.req("DELETE", &v1("c/a/o")).send_expect(204);
    let r = s.get("c/a/o");
    assert_eq!(r.text(), "two");
    assert_eq!(r.header("x-object-meta-x"), Some("y"));
    s.req("DELETE", &v1("c/a/o")).send_expect(204);
    let r = s.get("c/a/o");
    assert_eq!(r.text(), "one");
    assert_eq!(r.header("content-type"), Some("text/one"));
    assert!(names(&s, "v").is_empty());
    // The archive's empty directories went with the last version.
    assert!(!s.cont_dir("v").join("003a").exists());
    s.req("DELETE", &v1("c/a/o")).send_expect(204);
    assert_eq!(s.get("c/a/o").status, 404);
    s.req("DELETE", &v1("c/a/o")).send_expect(404);
}

#[test]
fn history_mode_delete_archives_the_object_and_leaves_a_marker() {
    let s = Server::start();
    versioned(&s, "X-History-Location");
    let h = s.req("HEAD", &v1("c")).send();
    assert_eq!(h.header("x-history-location"), Some("v"));
    assert_eq!(h.header("x-versions-location"), None);
    s.put_object("c/o", b"one");
    s.put_object("c/o", b"two");
    assert_eq!(names(&s, "v").len(), 1);
    s.req("DELETE", &v1("c/o")).send_expect(204);
    assert_eq!(s.get("c/o").status, 404);
    let l = listing(&s, "v");
    let types: Vec<_> = l
        .iter()
        .map(|o| o["content_type"].as_str().unwrap())
        .collect();
    assert_eq!(types.len(), 3, "{l:?}");
    assert_eq!(types[2], MARKER);
    assert_eq!(l[2]["bytes"], 0);
    let bodies: Vec<_> = l
        .iter()
        .map(|o| s.get(&format!("v/{}", o["name"].as_str().unwrap())).text())
        .collect();
    assert_eq!(bodies, ["one", "two", ""]);
    // Deleting what is gone still notes it, and answers 404.
    s.req("DELETE", &v1("c/o")).send_expect(404);
    assert_eq!(listing(&s, "v").len(), 4);

    // Switched to stack mode, a DELETE takes the marker away and brings
    // the last version back.
    s.req("POST", &v1("c"))
        .header("X-Versions-Location", "v")
        .send_expect(204);
    s.req("DELETE", &v1("c/o")).send_expect(204);
    assert_eq!(listing(&s, "v").len(), 3);
    assert_eq!(s.get("c/o").status, 404);
    s.req("DELETE", &v1("c/o")).send_expect(204);
    assert_eq!(s.get("c/o").text(), "two");
    assert_eq!(listing(&s, "v").len(), 1);
}

#[test]
fn the_archive_must_exist_and_headers_are_checked() {
    let s = Server::start();
    s.req("PUT", &v1("c"))
        .header("X-Versions-Location", "v")
        .send_expect(201);
    // Nothing to keep yet: the first write goes through.
    s.put_object("c/o", b"one");
    s.req("PUT", &v1("c/o")).body(b"two").send_expect(412);
    assert_eq!(s.get("c/o").text(), "one");
    assert!(temp_files(s.device()).is_empty());

    s.req("POST", &v1("c"))
        .header("X-Versions-Location", "v")
        .header("X-History-Location", "w")
        .send_expect(400);
    s.req("POST", &v1("c"))
        .header("X-Versions-Location", "v/x")
        .send_expect(412);
    assert_eq!(
        s.req("HEAD", &v1("c")).send().header("x-versions-location"),
        Some("v")
    );
    s.req("POST", &v1("c"))
        .header("X-Remove-Versions-Location", "x")
        .send_expect(204);
    assert_eq!(
        s.req("HEAD", &v1("c")).send().header("x-versions-location"),
        None
    );
    s.put_object("c/o", b"two");
    assert_eq!(s.get("c/o").text(), "two");
}

#[test]
fn versions_cross_policies_by_copy() {
    let s = Builder::new()
        .policy("gold", false, true)
        .policy("silver", false, false)
        .start();
    s.req("PUT", &v1("v"))
        .header("X-Storage-Policy", "silver")
        .send_expect(201);
    s.req("PUT", &v1("c"))
        .header("X-Versions-Location", "v")
        .send_expect(201);
    s.put_object("c/o", b"one");
    s.put_object("c/o", b"two");
    let v = names(&s, "v");
    assert_eq!(v.len(), 1);
    assert!(s
        .device_of("silver")
        .join("AUTH_test/v")
        .join(&v[0])
        .is_file());
    s.req("DELETE", &v1("c/o")).send_expect(204);
    assert_eq!(s.get("c/o").text(), "one");
    assert!(names(&s, "v").is_empty());
}

// --- object versioning (X-Versions-Enabled) ---------------------------------

fn versions(s: &Server, c: &str) -> Vec<(String, String, bool, String)> {
    let r = s.get(&format!("{c}?versions"));
    assert_eq!(r.status, 200, "{r:?}");
    r.json()
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["name"].as_str().unwrap().to_string(),
                o["version_id"].as_str().unwrap().to_string(),
                o["is_latest"].as_bool().unwrap(),
                o["content_type"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn enabled_container_keeps_versions_with_ids_and_restores_them() {
    let s = Server::start();
    versions_enabled(&s);
    assert_eq!(
        s.req("HEAD", &v1("c")).send().header("x-versions-enabled"),
        Some("True")
    );
    let r1 = s
        .req("PUT", &v1("c/o"))
        .header("Content-Type", "text/one")
        .body(b"one")
        .send();
    let id1 = r1.header("x-object-version-id").unwrap().to_string();
    let r2 = s.put_object("c/o", b"two");
    let id2 = r2.header("x-object-version-id").unwrap().to_string();
    assert_ne!(id1, id2);
    let g = s.get("c/o");
    assert_eq!(g.text(), "two");
    assert_eq!(g.header("x-object-version-id"), Some(id2.as_str()));
    assert_eq!(
        g.header("content-location"),
        Some(format!("/v1/AUTH_test/c/o?version-id={id2}").as_str())
    );
    // Each version is a plain file of the hidden container; the current
    // object is the same file as its version.
    let hidden = s.device().join("AUTH_test/.sofgate-versions/c/o");
    assert_eq!(std::fs::read(hidden.join(&id1)).unwrap(), b"one");
    let ino = |p: &std::path::Path| std::fs::metadata(p).unwrap().ino();
    assert_eq!(ino(&hidden.join(&id2)), ino(&s.cont_dir("c").join("o")));
    let old = s.get(&format!("c/o?version-id={id1}"));
    assert_eq!(old.text(), "one");
    assert_eq!(old.header("content-type"), Some("text/one"));
    assert_eq!(
        versions(&s, "c"),
        [
            (
                "o".into(),
                id2.clone(),
                true,
                "application/octet-stream".into()
            ),
            ("o".into(), id1.clone(), false, "text/one".into()),
        ]
    );
    // The hidden container is no container of the account.
    assert_eq!(names(&s, ""), ["c"]);
    s.req("PUT", &v1(".sofgate-versions")).send_expect(400);

    // DELETE leaves a marker; the versions stay.
    let d = s.req("DELETE", &v1("c/o")).send_expect(204);
    let marker = d.header("x-object-version-id").unwrap().to_string();
    assert_eq!(s.get("c/o").status, 404);
    let v = versions(&s, "c");
    assert_eq!(v.len(), 3);
    assert_eq!(v[0], ("o".into(), marker, true, MARKER.into()));
    // An empty PUT with a version id makes that version current again.
    s.req("PUT", &v1(&format!("c/o?version-id={id1}")))
        .send_expect(201);
    assert_eq!(s.get("c/o").text(), "one");
    // Versions keep the container from being deleted.
    s.req("DELETE", &v1(&format!("c/o?version-id={id1}")))
        .send_expect(204);
    assert_eq!(s.get("c/o").status, 404);
    s.req("DELETE", &v1("c")).send_expect(409);
    for (_, id, _, _) in versions(&s, "c") {
        s.req("DELETE", &v1(&format!("c/o?version-id={id}")))
            .send_expect(204);
    }
    s.req("DELETE", &v1("c")).send_expect(204);
    assert!(!s.device().join("AUTH_test/.sofgate-versions/c").exists());
}

#[test]
fn null_versions_are_kept_once_versioning_is_on() {
    let s = Server::start();
    s.put_container("c");
    s.put_object("c/o", b"plain");
    s.req("POST", &v1("c"))
        .header("X-Versions-Enabled", "true")
        .send_expect(204);
    assert_eq!(versions(&s, "c")[0].1, "null");
    s.put_object("c/o", b"new");
    let v = versions(&s, "c");
    assert_eq!(v.len(), 2, "{v:?}");
    assert!(v.iter().all(|r| r.1 != "null"));
    assert_eq!(s.get(&format!("c/o?version-id={}", v[1].1)).text(), "plain");
    // Both kinds of versioning at once are refused.
    s.req("POST", &v1("c"))
        .header("X-Versions-Location", "v")
        .send_expect(400);
    // Version reads are for owners; bad ids are 400.
    s.req("GET", &v1("c/o?version-id=junk")).send_expect(400);
    s.req("POST", &v1(&format!("c/o?version-id={}", v[0].1)))
        .send_expect(400);
}

#[test]
fn copy_of_an_old_version_restores_it_as_a_new_version() {
    let s = Server::start();
    versions_enabled(&s);
    let first = s.put_object("c/o", b"one");
    let id1 = first.header("x-object-version-id").unwrap().to_string();
    s.put_object("c/o", b"two");
    let r = s
        .req("COPY", &v1(&format!("c/o?version-id={id1}")))
        .header("Destination", "c/o")
        .send_expect(201);
    // As Swift's copy answers: the version it copied.
    assert_eq!(r.header("x-copied-from-version-id"), Some(id1.as_str()));
    let id3 = r.header("x-object-version-id").unwrap().to_string();
    assert_ne!(id3, id1);
    assert_eq!(s.get("c/o").text(), "one");
    let v = versions(&s, "c");
    assert_eq!(v.len(), 3);
    assert_eq!((v[0].1.as_str(), v[0].2), (id3.as_str(), true));
    // Another account's user may not read versions, even with read access.
    s.req("POST", &v1("c"))
        .header("X-Container-Read", "test2:tester2")
        .send_expect(204);
    let t2 = s.token("test2:tester2", "testing2");
    s.anon("GET", &v1(&format!("c/o?version-id={id1}")))
        .header("X-Auth-Token", &t2)
        .send_expect(403);
    s.anon("GET", &v1("c/o"))
        .header("X-Auth-Token", &t2)
        .send_expect(200);
}

#[test]
fn a_symlink_written_over_an_object_keeps_the_object_as_a_version() {
    let s = Server::start();
    versioned(&s, "X-Versions-Location");
    s.put_object("c/t", b"target");
    s.put_object("c/o", b"plain");
    s.req("PUT", &v1("c/o"))
        .header("X-Symlink-Target", "c/t")
        .body(b"")
        .send_expect(201);
    assert_eq!(s.get("c/o").text(), "target");
    let kept = names(&s, "v");
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(s.get(&format!("v/{}", kept[0])).text(), "plain");
}

#[test]
fn an_expired_object_keeps_its_version_readable() {
    let s = Server::start();
    versions_enabled(&s);
    let r = s
        .req("PUT", &v1("c/o"))
        .header("X-Delete-After", "1")
        .body(b"short-lived")
        .send_expect(201);
    let id = r.header("x-object-version-id").unwrap().to_string();
    assert!(wait_until(std::time::Duration::from_secs(5), || s
        .get("c/o")
        .status
        == 404));
    let v = s.get(&format!("c/o?version-id={id}"));
    assert_eq!((v.status, v.text().as_str()), (200, "short-lived"), "{v:?}");
}

#[test]
fn listing_rows_of_versioned_objects_name_their_version() {
    let s = Server::start();
    versions_enabled(&s);
    let id = s
        .put_object("c/a%20b", b"one")
        .header("x-object-version-id")
        .unwrap()
        .to_string();
    // Written while versioning is off: a null version, a plain row.
    s.req("POST", &v1("c"))
        .header("X-Versions-Enabled", "false")
        .send_expect(204);
    s.put_object("c/plain", b"two");
    let rows = listing(&s, "c");
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows[0]["name"], "a b");
    assert_eq!(rows[0]["version_symlink"], true);
    assert_eq!(
        rows[0]["symlink_path"],
        format!("/v1/AUTH_test/c/a%20b?version-id={id}")
    );
    assert_eq!(rows[0]["hash"], md5_hex(b"one"));
    assert_eq!(rows[0]["bytes"], 3);
    assert!(rows[1].get("version_symlink").is_none(), "{rows:?}");
    assert!(rows[1].get("symlink_path").is_none(), "{rows:?}");
    // The versions listing keeps its own shape.
    let r = s.get("c?versions");
    assert!(r.json()[0].get("version_symlink").is_none(), "{r:?}");
}

#[test]
fn manifest_delete_of_a_version_removes_its_segments_and_the_version() {
    let s = Server::start();
    s.put_container("segs");
    s.put_object("segs/a", b"aaaa");
    s.put_object("segs/b", b"bbbb");
    versions_enabled(&s);
    let put = |seg: &str| {
        let m = format!(r#"[{{"path":"/segs/{seg}"}}]"#);
        let r = s
            .req("PUT", &format!("{}?multipart-manifest=put", v1("c/m")))
            .body(m.as_bytes())
            .send_expect(201);
        r.header("x-object-version-id").unwrap().to_string()
    };
    let id1 = put("a");
    let id2 = put("b");
    let r = s
        .req(
            "DELETE",
            &v1(&format!("c/m?multipart-manifest=delete&version-id={id1}")),
        )
        .header("Accept", "application/json")
        .send_expect(200);
    let j = r.json();
    assert_eq!(j["Response Status"], "200 OK", "{j}");
    assert_eq!(j["Number Deleted"], 2, "{j}");
    assert_eq!(j["Errors"], serde_json::json!([]), "{j}");
    // Version 1 and its segment are gone; the current version is untouched.
    assert_eq!(s.get("segs/a").status, 404);
    assert_eq!(s.get("segs/b").text(), "bbbb");
    assert_eq!(
        s.get(&format!("c/m?version-id={id1}")).status,
        404,
        "version 1 still readable"
    );
    assert_eq!(s.get("c/m").text(), "bbbb");
    let v = versions(&s, "c");
    assert_eq!(v.len(), 1, "{v:?}");
    assert_eq!(v[0].1, id2);

    // The current version, deleted so, takes the current object with it.
    let r = s
        .req(
            "DELETE",
            &v1(&format!("c/m?multipart-manifest=delete&version-id={id2}")),
        )
        .header("Accept", "application/json")
        .send();
    assert_eq!(r.json()["Number Deleted"], 2, "{r:?}");
    assert_eq!(s.get("c/m").status, 404);
    assert_eq!(s.get("segs/b").status, 404);
    assert!(versions(&s, "c").is_empty());
    // A version that is not there.
    let r = s
        .req(
            "DELETE",
            &v1(&format!("c/m?multipart-manifest=delete&version-id={id2}")),
        )
        .header("Accept", "application/json")
        .send();
    assert_eq!(r.json()["Number Not Found"], 1, "{r:?}");
}

#[test]
fn an_expired_objects_version_can_be_copied_back() {
    let s = Server::start();
    versions_enabled(&s);
    let r = s
        .req("PUT", &v1("c/o"))
        .header("X-Delete-After", "1")
        .body(b"old")
        .send();
    let id = r.header("x-object-version-id").unwrap().to_string();
    s.put_object("c/o", b"new");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    assert!(wait_until(std::time::Duration::from_secs(5), || s
        .get(&format!("c/o?version-id={id}"))
        .status
        == 200));
    s.req("COPY", &format!("{}?version-id={id}", v1("c/o")))
        .header("Destination", "c/restored")
        .send_expect(201);
    assert_eq!(s.get("c/restored").text(), "old");
}

#[test]
fn a_name_that_clashes_with_a_kept_version_is_refused_before_writing() {
    let s = Server::start();
    versions_enabled(&s);
    let id = s
        .put_object("c/f", b"one")
        .header("x-object-version-id")
        .unwrap()
        .to_string();
    s.req("DELETE", &v1("c/f")).send_expect(204);
    let r = s
        .req("PUT", &v1(&format!("c/f/{id}")))
        .body(b"clash")
        .send_expect(409);
    assert!(!r.text().contains(".sofgate"), "{}", r.text());
    assert_eq!(
        s.get(&format!("c/f/{id}")).status,
        404,
        "nothing was stored"
    );
}

#[test]
fn making_a_version_current_if_none_match_never_replaces_a_current_object() {
    let s = Server::start();
    versions_enabled(&s);
    let id = |r: &Resp| r.header("x-object-version-id").unwrap().to_string();
    let one = id(&s.put_object("c/o", b"one"));
    s.put_object("c/o", b"two");
    let restore = |vid: &str| {
        s.req("PUT", &v1(&format!("c/o?version-id={vid}")))
            .header("If-None-Match", "*")
            .send()
    };
    let r = restore(&one);
    assert_eq!(r.status, 412, "{r:?}");
    assert_eq!(s.get("c/o").text(), "two");
    // With no current object, the version becomes current.
    let marker = id(&s.req("DELETE", &v1("c/o")).send_expect(204));
    let r = restore(&one);
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(s.get("c/o").text(), "one");
    // A marker made current with the condition removes nothing.
    assert_eq!(restore(&marker).status, 412);
    assert_eq!(s.get("c/o").text(), "one");
    s.req("PUT", &v1(&format!("c/o?version-id={one}")))
        .header("If-None-Match", "\"abc\"")
        .send_expect(400);
}
