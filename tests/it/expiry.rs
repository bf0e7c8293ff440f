//! The expiry reaper: objects whose X-Delete-At has passed leave the disk
//! (not just answer 404), unless a later POST or PUT moved or removed their
//! expiry; the queue under `<device>/.sofgate` stays out of the API.

use crate::common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;

fn reaping_server() -> Server {
    Builder::new().storage("expirer_interval_secs = 1").start()
}

/// Queue entries on the device.
fn queued(device: &Path) -> Vec<PathBuf> {
    walk(&device.join(".sofgate/expiring"))
        .into_iter()
        .map(|rel| device.join(".sofgate/expiring").join(rel))
        .filter(|p| p.is_file())
        .collect()
}

#[test]
fn expired_object_is_removed_from_disk_with_its_empty_parents() {
    let s = reaping_server();
    s.put_container("c");
    s.put_object("c/keep/x", b"stays");
    s.req("PUT", &v1("c/a/b/gone"))
        .header("X-Delete-After", "1")
        .body(b"bye")
        .send_expect(201);
    s.req("PUT", &v1("c/keep/y"))
        .header("X-Delete-After", "1")
        .body(b"bye")
        .send_expect(201);
    let q = queued(s.device());
    assert_eq!(q.len(), 2, "{q:?}");
    let entry: serde_json::Value = serde_json::from_slice(&std::fs::read(&q[0]).unwrap()).unwrap();
    assert_eq!(entry["account"], "AUTH_test");
    assert_eq!(entry["container"], "c");
    let file = s.cont_dir("c").join("a/b/gone");
    assert!(file.exists());
    assert!(
        wait_until(Duration::from_secs(15), || !file.exists()
            && !s.cont_dir("c").join("keep/y").exists()),
        "the reaper did not remove the expired objects"
    );
    // The parents go right after the file: wait for them, the machine may be busy.
    assert!(
        wait_until(Duration::from_secs(5), || !s
            .cont_dir("c")
            .join("a")
            .exists()),
        "implicit parents go too"
    );
    assert!(s.cont_dir("c").join("keep/x").exists());
    assert!(wait_until(Duration::from_secs(5), || queued(s.device()).is_empty()));
    assert_eq!(s.get("c").lines(), vec!["keep/x"]);
    let r = s.req("HEAD", &v1("c")).send();
    assert_eq!(r.header("x-container-object-count"), Some("1"));
}

#[test]
fn post_that_removes_or_moves_expiry_keeps_the_object() {
    let s = reaping_server();
    s.put_container("c");
    for name in ["kept", "later"] {
        s.req("PUT", &v1(&format!("c/{name}")))
            .header("X-Delete-After", "2")
            .body(b"data")
            .send_expect(201);
    }
    s.req("POST", &v1("c/kept"))
        .header("X-Remove-Delete-At", "x")
        .send_expect(202);
    s.req("POST", &v1("c/later"))
        .header("X-Delete-After", "5")
        .send_expect(202);
    // The first entries fall due and are dropped: the objects stay.
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(s.get("c/kept").status, 200);
    assert_eq!(s.get("c/later").status, 200);
    assert_eq!(queued(s.device()).len(), 1, "only the moved expiry is left");
    assert!(
        wait_until(Duration::from_secs(15), || !s
            .cont_dir("c")
            .join("later")
            .exists()),
        "the moved expiry was not honoured"
    );
    assert!(s.cont_dir("c").join("kept").exists());
    assert_eq!(s.get("c/kept").text(), "data");
}

#[test]
fn a_newer_put_without_expiry_is_not_reaped() {
    let s = reaping_server();
    s.put_container("c");
    s.req("PUT", &v1("c/o"))
        .header("X-Delete-After", "1")
        .body(b"old")
        .send_expect(201);
    s.put_object("c/o", b"new");
    assert!(wait_until(Duration::from_secs(10), || queued(s.device()).is_empty()));
    assert_eq!(s.get("c/o").text(), "new");
}

#[test]
fn with_the_reaper_off_expired_objects_only_answer_404() {
    let s = Builder::new().storage("expirer_interval_secs = 0").start();
    s.put_container("c");
    s.req("PUT", &v1("c/o"))
        .header("X-Delete-After", "1")
        .body(b"x")
        .send_expect(201);
    std::thread::sleep(Duration::from_millis(2100));
    assert_eq!(s.get("c/o").status, 404);
    assert!(s.cont_dir("c").join("o").exists());
}

#[test]
fn the_queue_stays_out_of_the_api() {
    let s = reaping_server();
    s.put_container("c");
    s.req("PUT", &v1("c/o"))
        .header("X-Delete-After", "3600")
        .body(b"x")
        .send_expect(201);
    assert!(s.device().join(".sofgate").is_dir());
    assert_eq!(s.get("").lines(), vec!["c"]);
    let r = s.req("GET", "/v1/.sofgate/expiring").send();
    assert!(r.status == 403 || r.status == 400, "{r:?}");
}

#[test]
fn several_nodes_reap_one_device_and_every_policy_is_swept() {
    let a = Builder::new()
        .policy("gold", false, true)
        .policy("silver", false, false)
        .storage("expirer_interval_secs = 1")
        .start();
    let b = Server::start_with_config_of(&a);
    a.req("PUT", &v1("s"))
        .header("X-Storage-Policy", "silver")
        .send_expect(201);
    a.put_container("g");
    for (i, path) in ["s/x/1", "s/x/2", "g/3", "g/y/4"].iter().enumerate() {
        let node = if i % 2 == 0 { &a } else { &b };
        node.req("PUT", &v1(path))
            .header("X-Delete-After", "1")
            .body(b"x")
            .send_expect(201);
    }
    assert_eq!(queued(a.device_of("silver")).len(), 2);
    assert_eq!(queued(a.device_of("gold")).len(), 2);
    let silver = a.device_of("silver").join("AUTH_test/s");
    let gold = a.device_of("gold").join("AUTH_test/g");
    assert!(wait_until(Duration::from_secs(15), || walk(&silver)
        .is_empty()
        && walk(&gold).is_empty()));
    assert!(wait_until(Duration::from_secs(5), || queued(
        a.device_of("silver")
    )
    .is_empty()
        && queued(a.device_of("gold")).is_empty()));
    assert!(a.is_alive() && b.is_alive());
}

/// The objects named by the queue entries on the device.
fn queued_objects(device: &Path) -> Vec<String> {
    let mut names: Vec<String> = queued(device)
        .iter()
        .map(|p| {
            let e: serde_json::Value = serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap();
            format!(
                "{}/{}",
                e["container"].as_str().unwrap(),
                e["object"].as_str().unwrap()
            )
        })
        .collect();
    names.sort();
    names
}

#[test]
fn every_kind_of_write_queues_its_expiry() {
    let s = Builder::new().storage("expirer_interval_secs = 0").start();
    s.put_container("c");
    s.put_object("c/seg", b"012");
    let after = |r: Req| r.header("X-Delete-After", "3600");
    let sent = [
        after(s.req("PUT", &v1("c/plain"))).body(b"x").send(),
        after(s.req("PUT", &v1("c/dir/"))).send(),
        after(s.req("COPY", &v1("c/seg")))
            .header("Destination", "c/copied")
            .send(),
        after(s.req("PUT", &v1("c/copied-from")))
            .header("X-Copy-From", "c/seg")
            .send(),
        after(s.req("PUT", &v1("c/link")))
            .header("X-Symlink-Target", "c/seg")
            .send(),
        after(s.req("PUT", &format!("{}?multipart-manifest=put", v1("c/slo"))))
            .body(
                serde_json::json!([{"path": "/c/seg", "etag": md5_hex(b"012"), "size_bytes": 3}])
                    .to_string()
                    .as_bytes(),
            )
            .send(),
    ];
    for r in &sent {
        assert_eq!(r.status, 201, "{r:?}");
    }
    assert_eq!(
        queued_objects(s.device()),
        [
            "c/copied",
            "c/copied-from",
            "c/dir/",
            "c/link",
            "c/plain",
            "c/slo"
        ]
    );
}

#[test]
fn an_slo_manifest_with_x_delete_after_is_reaped_and_its_segments_stay() {
    let s = reaping_server();
    s.put_container("c");
    s.put_object("c/seg", b"012");
    let manifest =
        serde_json::json!([{"path": "/c/seg", "etag": md5_hex(b"012"), "size_bytes": 3}]);
    s.req("PUT", &format!("{}?multipart-manifest=put", v1("c/slo")))
        .header("X-Delete-After", "1")
        .body(manifest.to_string().as_bytes())
        .send_expect(201);
    let file = s.cont_dir("c").join("slo");
    assert!(
        wait_until(Duration::from_secs(15), || !file.exists()),
        "the reaper never removed the expiring manifest"
    );
    assert_eq!(s.get("c/seg").text(), "012");
}

#[test]
fn a_version_made_current_again_after_its_expiry_is_reaped() {
    let s = reaping_server();
    s.put_container("c");
    s.req("POST", &v1("c"))
        .header("X-Versions-Enabled", "true")
        .send_expect(204);
    let r = s
        .req("PUT", &v1("c/o"))
        .header("X-Delete-After", "1")
        .body(b"one")
        .send_expect(201);
    let id1 = r.header("x-object-version-id").unwrap().to_string();
    s.put_object("c/o", b"two");
    // The entry falls due while a newer object without expiry is current:
    // it is dropped, and the object stays.
    assert!(wait_until(Duration::from_secs(10), || queued(s.device()).is_empty()));
    assert_eq!(s.get("c/o").text(), "two");
    s.req("PUT", &v1(&format!("c/o?version-id={id1}")))
        .send_expect(201);
    assert_eq!(s.get("c/o").status, 404, "the restored version has expired");
    let file = s.cont_dir("c").join("o");
    assert!(
        wait_until(Duration::from_secs(15), || !file.exists()),
        "the expired object made current again was never reaped"
    );
}

#[test]
fn an_archived_version_keeps_its_expiry_and_is_reaped() {
    let s = reaping_server();
    s.put_container("v");
    s.req("PUT", &v1("c"))
        .header("X-Versions-Location", "v")
        .send_expect(201);
    s.req("PUT", &v1("c/o"))
        .header("X-Delete-After", "2")
        .body(b"one")
        .send_expect(201);
    s.put_object("c/o", b"two");
    let kept = s.get("v").lines();
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert!(s
        .req("HEAD", &v1(&format!("v/{}", kept[0])))
        .send()
        .header("x-delete-at")
        .is_some());
    // As in Swift, where the archived copy carries X-Delete-At and the
    // object server queues it: it leaves the disk when its time comes.
    let file = s.cont_dir("v").join(&kept[0]);
    assert!(
        wait_until(Duration::from_secs(15), || !file.exists()),
        "the expired archived version was never reaped"
    );
    assert_eq!(s.get("c/o").text(), "two");
}
