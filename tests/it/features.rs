//! `[features] off`: a feature left off the list is off everywhere — its
//! requests are plain ones, `/info` does not name it — and the rest work
//! as before.

use crate::common::{v1, Builder, Server};

const OFF: &str = "[features]\noff = [\"slo\", \"symlink\", \"container_quotas\", \"tempurl\"]\n";

fn server(off: bool) -> Server {
    let b = Builder::new();
    match off {
        true => b.toml(OFF).start(),
        false => b.start(),
    }
}

#[test]
fn info_names_only_the_features_that_are_on() {
    for off in [true, false] {
        let s = server(off);
        let info = s.anon("GET", "/info").send_expect(200).json();
        for k in ["slo", "symlink", "container_quotas", "tempurl"] {
            assert_eq!(info.get(k).is_none(), off, "{k} with off = {off}");
        }
        for k in ["dlo", "bulk_delete", "account_quotas", "object_versioning"] {
            assert!(info.get(k).is_some(), "{k} is on");
        }
    }
}

#[test]
fn requests_of_a_feature_that_is_off_are_plain_requests() {
    for off in [true, false] {
        let s = server(off);
        s.put_container("c");
        // SLO off: a manifest PUT stores its body as it is (on: 400, not a manifest).
        let r = s
            .req("PUT", &v1("c/m?multipart-manifest=put"))
            .body(b"not a manifest")
            .send();
        assert_eq!(r.status, if off { 201 } else { 400 }, "SLO off = {off}");
        if off {
            assert_eq!(s.get("c/m").body, b"not a manifest");
        }
        // Symlink off: a link is a plain empty object, not followed (on: its target is missing).
        s.req("PUT", &v1("c/link"))
            .header("X-Symlink-Target", "c/absent")
            .body(b"")
            .send_expect(201);
        assert_eq!(s.get("c/link").status, if off { 200 } else { 404 });
        // Container quotas off: the quota is plain metadata.
        s.req("POST", &v1("c"))
            .header("X-Container-Meta-Quota-Bytes", "1")
            .send_expect(204);
        let r = s.req("PUT", &v1("c/big")).body(b"0123456789").send();
        assert_eq!(r.status, if off { 201 } else { 413 }, "quotas off = {off}");
        // Temp URL off: a signed URL stands for nothing (401, no token).
        s.req("POST", &v1(""))
            .header("X-Account-Meta-Temp-URL-Key", "k")
            .send_expect(204);
        let signed = crate::tempurl::url("k", "GET", 9_999_999_999, &v1("c/big"));
        let r = s.anon("GET", &signed).send();
        assert_eq!(r.status, if off { 401 } else { 404 }, "tempurl off = {off}");
        // What stays on works: a DLO manifest still assembles its segments.
        s.put_container("d");
        s.put_object("d/seg/1", b"ab");
        s.put_object("d/seg/2", b"cd");
        s.req("PUT", &v1("d/dlo"))
            .header("X-Object-Manifest", "d/seg/")
            .body(b"")
            .send_expect(201);
        assert_eq!(s.get("d/dlo").body, b"abcd");
    }
}
