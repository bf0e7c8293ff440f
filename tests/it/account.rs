//! Accounts over HTTP: usage totals, metadata, and container listings; plus
//! the unauthenticated `/info` and `/healthcheck`.

use crate::common;

use common::*;

#[test]
fn account_head_reports_container_object_and_byte_counts() {
    let s = Server::start();
    let h = s.req("HEAD", &v1("")).send_expect(204);
    assert_eq!(h.header("x-account-container-count"), Some("0"));
    s.put_container("c1");
    s.put_container("c2");
    s.put_object("c1/a", b"1234");
    s.put_object("c2/b/c", b"56");
    let h = s.req("HEAD", &v1("")).send();
    assert_eq!(h.header("x-account-container-count"), Some("2"));
    assert_eq!(h.header("x-account-object-count"), Some("2"));
    assert_eq!(h.header("x-account-bytes-used"), Some("6"));
}

#[test]
fn account_post_metadata_shows_on_head() {
    let s = Server::start();
    s.req("POST", &v1(""))
        .header("X-Account-Meta-Owner", "alice")
        .send_expect(204);
    let h = s.req("HEAD", &v1("")).send();
    assert_eq!(h.header("x-account-meta-owner"), Some("alice"));
    let m = swift_meta(&s.device().join("AUTH_test")).unwrap();
    assert_eq!(
        meta_str(&m, "X-Account-Meta-Owner").as_deref(),
        Some("alice")
    );
    s.req("POST", &v1(""))
        .header("X-Remove-Account-Meta-Owner", "x")
        .send_expect(204);
    assert_eq!(
        s.req("HEAD", &v1("")).send().header("x-account-meta-owner"),
        None
    );
}

fn containers(s: &Server) {
    for c in ["alpha", "beta", "beta-2", "gamma", "pre_x", "pre_y"] {
        s.put_container(c);
    }
}

#[test]
fn account_listing_in_plain_json_and_xml() {
    let s = Server::start();
    let r = s.get("");
    assert_eq!(r.status, 204, "empty account: {r:?}");
    containers(&s);
    s.put_object("alpha/o", b"abc");
    let r = s.get("");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.lines(),
        ["alpha", "beta", "beta-2", "gamma", "pre_x", "pre_y"]
    );
    let v = s.get("?format=json").json();
    let rows = v.as_array().unwrap();
    assert_eq!(rows.len(), 6);
    assert_eq!(rows[0]["name"], "alpha");
    assert_eq!(rows[0]["count"], 1);
    assert_eq!(rows[0]["bytes"], 3);
    assert!(rows[0]["last_modified"].is_string());
    let x = s.get("?format=xml").text();
    assert!(x.contains("<account name=\"AUTH_test\">"), "{x}");
    assert!(
        x.contains("<container><name>alpha</name><count>1</count><bytes>3</bytes>"),
        "{x}"
    );
}

#[test]
fn account_listing_prefix_marker_limit_reverse_delimiter() {
    let s = Server::start();
    containers(&s);
    assert_eq!(s.get("?prefix=pre").lines(), ["pre_x", "pre_y"]);
    assert_eq!(
        s.get("?marker=beta").lines(),
        ["beta-2", "gamma", "pre_x", "pre_y"]
    );
    assert_eq!(s.get("?limit=2").lines(), ["alpha", "beta"]);
    assert_eq!(s.get("?end_marker=beta-2").lines(), ["alpha", "beta"]);
    assert_eq!(
        s.get("?reverse=true").lines(),
        ["pre_y", "pre_x", "gamma", "beta-2", "beta", "alpha"]
    );
    assert_eq!(s.get("?reverse=true&limit=1").lines(), ["pre_y"]);
    assert_eq!(
        s.get("?delimiter=_").lines(),
        ["alpha", "beta", "beta-2", "gamma", "pre_"]
    );
    let v = s.get("?delimiter=_&format=json").json();
    assert_eq!(v[4]["subdir"], "pre_");
    assert_eq!(s.get("?limit=10001").status, 412);
}

#[test]
fn info_reports_limits_policies_and_tempauth() {
    let s = Builder::new()
        .max_file_size(12345)
        .policy("gold", false, true)
        .policy("silver", false, false)
        .start();
    let r = s.anon("GET", "/info").send_expect(200);
    let v = r.json();
    assert_eq!(v["swift"]["max_file_size"], 12345);
    assert_eq!(v["swift"]["max_object_name_length"], 1024);
    assert_eq!(v["swift"]["container_listing_limit"], 10000);
    let pols = v["swift"]["policies"].as_array().unwrap();
    assert_eq!(pols.len(), 2);
    assert_eq!(pols[0]["name"], "gold");
    assert_eq!(pols[0]["default"], true);
    assert_eq!(pols[1]["name"], "silver");
    assert!(v["tempauth"].is_object());
}

#[test]
fn healthcheck_returns_200_ok() {
    let s = Server::start();
    let r = s.anon("GET", "/healthcheck").send_expect(200);
    assert_eq!(r.body, b"OK");
}
