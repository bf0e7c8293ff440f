//! Object names with components longer than NAME_MAX (up to the 1024 bytes
//! of `max_object_name_length`): stored under escaped disk names
//! (`<first 180 bytes>~<md5 hex>.sglong`) with the full component in the
//! xattr `user.sofgate.name`, served, listed, copied and deleted under their
//! real names.

use crate::common;

use std::path::{Path, PathBuf};

use common::*;

/// The disk name sofgate gives one component.
fn disk(c: &str) -> String {
    if c.len() <= 255 {
        return c.to_string();
    }
    let mut end = 180;
    while !c.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}~{}.sglong", &c[..end], md5_hex(c.as_bytes()))
}

/// The disk path of object `rel` of container `c`.
fn disk_path(s: &Server, c: &str, rel: &str) -> PathBuf {
    let mut p = s.cont_dir(c);
    for comp in rel.trim_end_matches('/').split('/') {
        p.push(disk(comp));
    }
    p
}

fn full_name_xattr(p: &Path) -> Option<String> {
    xattr(p, "user.sofgate.name").map(|v| String::from_utf8(v).unwrap())
}

fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}

fn listing(s: &Server, query: &str) -> Vec<String> {
    let r = s.get(&format!("c?{query}"));
    assert_eq!(r.status / 100, 2, "{r:?}");
    if r.status == 204 {
        return Vec::new();
    }
    r.lines()
}

fn pct(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[test]
fn one_component_of_1024_bytes_is_written_read_updated_and_deleted() {
    let s = Server::start();
    s.put_container("c");
    let name = "n".repeat(1024);
    let data = b"a long name";
    s.put_object(&format!("c/{name}"), data);

    let p = disk_path(&s, "c", &name);
    assert!(p.is_file(), "{p:?}");
    assert!(p.file_name().unwrap().len() <= 255);
    assert_eq!(full_name_xattr(&p).as_deref(), Some(name.as_str()));
    assert_eq!(entries(&s.cont_dir("c")), [disk(&name)]);

    let r = s.get(&format!("c/{name}"));
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body, data);
    let r = s.req("HEAD", &v1(&format!("c/{name}"))).send_expect(200);
    assert_eq!(r.header("etag"), Some(md5_hex(data).as_str()));

    s.req("POST", &v1(&format!("c/{name}")))
        .header("X-Object-Meta-Color", "green")
        .send_expect(202);
    let r = s.req("HEAD", &v1(&format!("c/{name}"))).send();
    assert_eq!(r.header("x-object-meta-color"), Some("green"));
    assert_eq!(full_name_xattr(&p).as_deref(), Some(name.as_str()));

    assert_eq!(listing(&s, ""), vec![name.clone()]);
    let r = s.req("HEAD", &v1("c")).send();
    assert_eq!(r.header("x-container-object-count"), Some("1"));

    s.req("DELETE", &v1(&format!("c/{name}"))).send_expect(204);
    assert_eq!(s.get(&format!("c/{name}")).status, 404);
    assert!(entries(&s.cont_dir("c")).is_empty());
}

#[test]
fn deep_names_mix_long_and_short_components() {
    let s = Server::start();
    s.put_container("c");
    let (l1, l2, l3) = ("L".repeat(300), "é".repeat(150), "z".repeat(256));
    let name = format!("short/{l1}/mid/{l2}/{l3}");
    assert!(name.len() <= 1024);
    s.req("PUT", &v1(&format!("c/{}", pct(&name))))
        .body(b"deep")
        .send_expect(201);

    let p = disk_path(&s, "c", &name);
    assert!(p.is_file(), "{p:?}");
    assert_eq!(full_name_xattr(&p), Some(l3.clone()));
    let d1 = disk_path(&s, "c", &format!("short/{l1}"));
    assert!(d1.is_dir());
    assert_eq!(full_name_xattr(&d1), Some(l1.clone()));
    let d2 = disk_path(&s, "c", &format!("short/{l1}/mid/{l2}"));
    assert_eq!(full_name_xattr(&d2), Some(l2.clone()));
    assert_eq!(full_name_xattr(&s.cont_dir("c").join("short")), None);

    let r = s.get(&format!("c/{}", pct(&name)));
    assert_eq!((r.status, r.body.as_slice()), (200, &b"deep"[..]));
    s.req("HEAD", &v1(&format!("c/{}", pct(&name))))
        .send_expect(200);
    assert_eq!(listing(&s, ""), vec![name.clone()]);

    // A directory marker with a long name.
    let marker = format!("short/{l1}/");
    s.req("PUT", &v1(&format!("c/{marker}")))
        .header("Content-Type", "application/directory")
        .send_expect(201);
    assert_eq!(listing(&s, ""), [marker.clone(), name.clone()]);

    s.req("DELETE", &v1(&format!("c/{}", pct(&name))))
        .send_expect(204);
    // The implicit parents went, up to the marker.
    assert_eq!(listing(&s, ""), vec![marker.clone()]);
    assert_eq!(entries(&d1), Vec::<String>::new());
    s.req("DELETE", &v1(&format!("c/{marker}")))
        .send_expect(204);
    assert!(listing(&s, "").is_empty());
}

#[test]
fn listings_show_full_names_in_their_order() {
    let s = Server::start();
    s.put_container("c");
    // On disk both long names start with 180 `m` and `~`, after `m`*200; by
    // their full names `y` comes first.
    let x = "m".repeat(300);
    let y = format!("{}{}", "m".repeat(180), "a".repeat(100));
    let m200 = "m".repeat(200);
    let z = format!("{}~zzz", "m".repeat(180));
    let dir = "d".repeat(300);
    let (d1, d2) = (format!("{dir}/o1"), format!("{dir}/{}", "o".repeat(400)));
    for n in [&x, &y, &m200, &z, &d1, &d2] {
        s.put_object(&format!("c/{n}"), n.as_bytes());
    }
    let all = vec![
        d1.clone(),
        d2.clone(),
        y.clone(),
        m200.clone(),
        x.clone(),
        z.clone(),
    ];
    assert_eq!(listing(&s, ""), all);
    let mut rev = all.clone();
    rev.reverse();
    assert_eq!(listing(&s, "reverse=true"), rev);
    assert_eq!(
        listing(&s, &format!("marker={m200}")),
        [x.clone(), z.clone()]
    );
    assert_eq!(
        listing(&s, &format!("end_marker={x}&prefix=m")),
        [y.clone(), m200.clone()]
    );
    assert_eq!(
        listing(&s, "delimiter=/"),
        [
            format!("{dir}/"),
            y.clone(),
            m200.clone(),
            x.clone(),
            z.clone()
        ]
    );
    assert_eq!(
        listing(&s, &format!("prefix={dir}/&delimiter=/")),
        [d1.clone(), d2.clone()]
    );
    assert_eq!(
        listing(&s, &format!("prefix={dir}/o&marker={d1}")),
        vec![d2.clone()]
    );
    assert_eq!(listing(&s, "limit=2&marker=d"), [d1.clone(), d2.clone()]);

    // JSON rows carry each object's own metadata.
    let j = s.get("c?format=json").json();
    let rows = j.as_array().unwrap();
    let names: Vec<&str> = rows.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, all.iter().map(String::as_str).collect::<Vec<_>>());
    for r in rows {
        let n = r["name"].as_str().unwrap();
        assert_eq!(r["hash"], md5_hex(n.as_bytes()).as_str());
        assert_eq!(r["bytes"], n.len() as u64);
    }
    let r = s.req("HEAD", &v1("c")).send();
    assert_eq!(r.header("x-container-object-count"), Some("6"));
}

#[test]
fn copies_go_to_and_from_long_names() {
    let s = Server::start();
    s.put_container("c");
    let long = "k".repeat(700);
    s.put_object("c/src", b"payload");
    s.req("COPY", &v1("c/src"))
        .header("Destination", &format!("c/{long}"))
        .send_expect(201);
    assert_eq!(s.get(&format!("c/{long}")).body, b"payload");
    assert_eq!(
        full_name_xattr(&disk_path(&s, "c", &long)).as_deref(),
        Some(long.as_str())
    );

    let deep = format!("{}/{long}", "p".repeat(300));
    s.req("PUT", &v1(&format!("c/{deep}")))
        .header("X-Copy-From", &format!("c/{long}"))
        .send_expect(201);
    s.req("PUT", &v1("c/back"))
        .header("X-Copy-From", &format!("c/{deep}"))
        .send_expect(201);
    assert_eq!(s.get("c/back").body, b"payload");
    assert_eq!(
        listing(&s, ""),
        ["back".to_string(), long, deep, "src".into()]
    );
}

#[test]
fn a_failed_put_leaves_only_what_was_there() {
    let s = Server::start();
    s.put_container("c");
    let long = "f".repeat(900);
    let bad_put = |name: &str| {
        s.req("PUT", &v1(&format!("c/{name}")))
            .header("ETag", &md5_hex(b"something else"))
            .body(b"new data")
            .send_expect(422);
    };
    bad_put(&long);
    bad_put(&format!("{}/{}", "g".repeat(400), "h".repeat(400)));
    assert!(entries(&s.cont_dir("c")).is_empty());

    s.put_object(&format!("c/{long}"), b"old data");
    bad_put(&long);
    assert_eq!(entries(&s.cont_dir("c")), [disk(&long)]);
    assert!(temp_files(s.device()).is_empty());
    assert_eq!(s.get(&format!("c/{long}")).body, b"old data");
}

#[test]
fn names_in_the_escaped_form_are_refused_and_never_listed() {
    let s = Server::start();
    s.put_container("c");
    let before = snapshot(s.device());
    let esc = disk(&"e".repeat(400));
    for name in [
        esc.clone(),
        format!("a/{esc}"),
        format!("{esc}/b"),
        format!("x~{}.sglong", "0123456789abcdef".repeat(2)),
    ] {
        let r = s.req("PUT", &v1(&format!("c/{name}"))).body(b"x").send();
        assert_eq!(r.status, 400, "{name}: {r:?}");
        assert_eq!(s.get(&format!("c/{name}")).status, 400, "{name}");
    }
    assert_eq!(snapshot(s.device()), before);

    // One made on the mount without its full name is no object to list.
    std::fs::write(s.cont_dir("c").join(&esc), b"stray").unwrap();
    s.put_object("c/plain", b"p");
    assert_eq!(listing(&s, ""), ["plain"]);
}

#[test]
fn versions_of_long_names_list_and_restore_under_the_full_name() {
    let s = Server::start();
    s.req("PUT", &v1("c"))
        .header("X-Versions-Enabled", "true")
        .send_expect(201);
    let long = format!("{}/{}", "v".repeat(300), "w".repeat(600));
    let id1 = s.put_object(&format!("c/{long}"), b"one");
    let id1 = id1.header("x-object-version-id").unwrap().to_string();
    s.put_object(&format!("c/{long}"), b"two");
    s.req("DELETE", &v1(&format!("c/{long}"))).send_expect(204);
    let r = s.get("c?versions");
    assert_eq!(r.status, 200, "{r:?}");
    let rows = r.json();
    let names: Vec<&str> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, [long.as_str(); 3]);
    assert!(listing(&s, "").is_empty());

    s.req("PUT", &v1(&format!("c/{long}?version-id={id1}")))
        .send_expect(201);
    assert_eq!(s.get(&format!("c/{long}")).text(), "one");
    assert_eq!(listing(&s, ""), vec![long.clone()]);
    let old = s.get(&format!("c/{long}?version-id={id1}"));
    assert_eq!(old.text(), "one");
}
