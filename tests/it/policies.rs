//! Storage policies over HTTP: containers and their objects land on the
//! device of their policy, listings merge devices, and a device that should
//! be a mount point but is not answers 507 and is never written to.

use crate::common;

use common::*;

fn gold_silver() -> Server {
    Builder::new()
        .policy("gold", false, true)
        .policy("silver", false, false)
        .start()
}

#[test]
fn container_with_x_storage_policy_is_created_on_that_device() {
    let s = gold_silver();
    s.req("PUT", &v1("sc"))
        .header("X-Storage-Policy", "silver")
        .send_expect(201);
    let silver = s.device_of("silver").join("AUTH_test/sc");
    assert!(silver.is_dir());
    assert!(!s.device_of("gold").join("AUTH_test/sc").exists());
    let m = swift_meta(&silver).unwrap();
    assert_eq!(meta_str(&m, "X-Storage-Policy").as_deref(), Some("silver"));
    let h = s.req("HEAD", &v1("sc")).send_expect(204);
    assert_eq!(h.header("x-storage-policy"), Some("silver"));

    s.put_container("gc");
    assert!(s.device_of("gold").join("AUTH_test/gc").is_dir());
    assert_eq!(
        s.req("HEAD", &v1("gc")).send().header("x-storage-policy"),
        Some("gold")
    );
}

#[test]
fn unknown_storage_policy_returns_400() {
    let s = gold_silver();
    s.req("PUT", &v1("c"))
        .header("X-Storage-Policy", "bronze")
        .send_expect(400);
    assert!(!s.device_of("gold").join("AUTH_test/c").exists());
    assert!(!s.device_of("silver").join("AUTH_test/c").exists());
}

#[test]
fn objects_of_a_silver_container_land_on_the_silver_device() {
    let s = gold_silver();
    s.req("PUT", &v1("sc"))
        .header("X-Storage-Policy", "silver")
        .send_expect(201);
    s.put_object("sc/dir/obj", b"silver data");
    let p = s.device_of("silver").join("AUTH_test/sc/dir/obj");
    assert_eq!(std::fs::read(&p).unwrap(), b"silver data");
    assert!(swift_meta(&p).is_some());
    assert!(!s.device_of("gold").join("AUTH_test/sc").exists());
    assert_eq!(s.get("sc/dir/obj").body, b"silver data");
    assert_eq!(s.get("sc").lines(), ["dir/obj"]);
    s.req("DELETE", &v1("sc/dir/obj")).send_expect(204);
    assert!(!p.exists());
    s.req("DELETE", &v1("sc")).send_expect(204);
    assert!(!s.device_of("silver").join("AUTH_test/sc").exists());
}

#[test]
fn account_listing_merges_containers_of_both_devices() {
    let s = gold_silver();
    s.put_container("a-gold");
    s.put_container("c-gold");
    s.req("PUT", &v1("b-silver"))
        .header("X-Storage-Policy", "silver")
        .send_expect(201);
    s.put_object("b-silver/o", b"12345");
    assert_eq!(s.get("").lines(), ["a-gold", "b-silver", "c-gold"]);
    let h = s.req("HEAD", &v1("")).send();
    assert_eq!(h.header("x-account-container-count"), Some("3"));
    assert_eq!(h.header("x-account-object-count"), Some("1"));
    assert_eq!(h.header("x-account-bytes-used"), Some("5"));
    let v = s.get("?format=json").json();
    assert_eq!(v[1]["name"], "b-silver");
    assert_eq!(v[1]["bytes"], 5);
}

#[test]
fn existing_container_keeps_its_policy() {
    let s = gold_silver();
    s.put_container("c");
    s.req("PUT", &v1("c"))
        .header("X-Storage-Policy", "silver")
        .send_expect(409);
    assert!(!s.device_of("silver").join("AUTH_test/c").exists());
}

#[test]
fn unmounted_device_with_mount_check_returns_507_and_is_not_written() {
    let s = Builder::new().policy("gold", true, true).start();
    let dev = s.device().to_path_buf();
    let checks = [
        ("HEAD", v1("")),
        ("GET", v1("")),
        ("PUT", v1("c")),
        ("GET", v1("c")),
        ("PUT", v1("c/o")),
        ("GET", v1("c/o")),
    ];
    for (m, p) in checks {
        let r = s
            .req(m, &p)
            .body(if m == "PUT" { b"x" } else { b"" })
            .send();
        assert_eq!(r.status, 507, "{m} {p}: {r:?}");
    }
    assert!(walk(&dev).is_empty(), "written: {:?}", walk(&dev));
    assert!(s.is_alive());
}

/// While a device is unmounted a container name may exist on it unseen: a
/// new container is refused (507) rather than risk a second one of that name,
/// but containers found on a mounted device keep serving.
#[test]
fn unmounted_second_policy_returns_507_for_lookups_that_need_it_only() {
    let s = Builder::new()
        .policy("gold", false, true)
        .policy("silver", true, false)
        .start();
    s.req("PUT", &v1("sc"))
        .header("X-Storage-Policy", "silver")
        .send_expect(507);
    s.req("PUT", &v1("new")).send_expect(507);
    assert_eq!(s.get("sc").status, 507);
    assert!(walk(s.device_of("silver")).is_empty());
    assert!(!s.device_of("gold").join("AUTH_test/new").exists());
    // A container already on the default device (here made on the mount)
    // is found before the unmounted device is ever consulted.
    std::fs::create_dir_all(s.device_of("gold").join("AUTH_test/gc")).unwrap();
    s.put_object("gc/o", b"ok");
    assert_eq!(s.get("gc/o").body, b"ok");
    assert_eq!(s.get("gc").lines(), ["o"]);
    assert!(walk(s.device_of("silver")).is_empty());
}
