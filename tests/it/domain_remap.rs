//! Domain remapping over HTTP: accounts and containers named by the Host
//! header under a configured storage domain.

use crate::common;

use common::*;

fn server() -> Server {
    Builder::new()
        .toml("[domain_remap]\nstorage_domain = [\"example.com\"]")
        .start()
}

#[test]
fn account_and_container_hosts_reach_their_paths() {
    let s = server();
    s.put_container("pics");
    s.put_object("pics/a/b.txt", b"bee");
    let via = |host: &str, method: &str, path: &str| s.req(method, path).header("Host", host);
    for host in [
        "AUTH_test.example.com",
        "auth-test.example.com:8080",
        "test.example.com",
    ] {
        let r = via(host, "GET", "/pics/a/b.txt").send();
        assert_eq!((r.status, r.text().as_str()), (200, "bee"), "{host}");
        let r = via(host, "GET", "/").send();
        assert_eq!(r.lines(), ["pics"], "{host}");
    }
    let cont = "pics.AUTH-test.example.com";
    assert_eq!(via(cont, "GET", "/a/b.txt").send().text(), "bee");
    assert_eq!(via(cont, "GET", "/").send().lines(), ["a/b.txt"]);
    via(cont, "PUT", "/new").body(b"n").send_expect(201);
    assert_eq!(s.get("pics/new").text(), "n");
    // Other hosts are not remapped.
    via("AUTH_test.example.org", "GET", "/pics/a/b.txt").send_expect(400);
}

#[test]
fn info_advertises_domain_remap_only_when_configured() {
    let on = server().anon("GET", "/info").send().json();
    assert!(on.get("domain_remap").is_some(), "{on}");
    let off = Server::start().anon("GET", "/info").send().json();
    assert!(off.get("domain_remap").is_none(), "{off}");
}
