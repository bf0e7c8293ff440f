//! S3 bucket operations of a running sofgate: create (location, canned
//! ACLs), head, delete, location, the three listings (checked against the
//! Swift listing of the same container, with objects written through Swift
//! and files copied onto the device), and the bucket's ACL, versioning
//! and CORS settings as Swift sees them.

use crate::common;

use common::s3::{assert_s3_error, elem, elems, S3, TESTER, TESTER3};
use common::{md5_hex, v1, Resp, Server};

fn put_bucket(c: &S3, b: &str) {
    let r = c.put(&format!("/{b}"), b"");
    assert_eq!(r.status, 200, "{r:?}");
}

fn list(c: &S3, b: &str, q: &[(&str, &str)]) -> Resp {
    let r = c.send("GET", &format!("/{b}"), q, &[], b"");
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("content-type"), Some("application/xml"));
    r
}

fn swift_names(s: &Server, c: &str, query: &str) -> Vec<String> {
    let r = s.get(&format!("{c}?format=json{query}"));
    r.json()
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            o.get("name")
                .or_else(|| o.get("subdir"))
                .unwrap()
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

/// The listing's ETags, quotes unescaped (XML may write them either way).
fn etags(r: &Resp) -> Vec<String> {
    elems(r, "ETag")
        .iter()
        .map(|e| e.replace("&quot;", "\""))
        .collect()
}

/// A name as a raw request path segment.
fn enc_path(name: &str) -> String {
    common::s3::uri_encode(name, true)
}

const TREE: [&str; 5] = [
    "object",
    "object2",
    "subdir/object",
    "subdir2/object",
    "dir/subdir/object",
];

#[test]
fn create_head_locate_and_delete_a_bucket() {
    let s = Server::start();
    let c = S3::new(&s, TESTER);
    let r = c.put("/bkt", b"");
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("location"), Some("/bkt"));
    assert_eq!(r.header("content-length"), Some("0"));
    s.req("HEAD", &v1("bkt")).send_expect(204);
    // Again: the bucket is already the caller's.
    let again = c.put("/bkt", b"");
    assert_s3_error(&again, 409, "BucketAlreadyOwnedByYou");
    assert_eq!(elem(&again, "BucketName").as_deref(), Some("bkt"));

    let head = c.send("HEAD", "/bkt", &[], &[], b"");
    assert_eq!(head.status, 200, "{head:?}");
    assert_eq!(head.header("x-amz-bucket-region"), Some("us-east-1"));
    let missing = c.send("HEAD", "/nothing", &[], &[], b"");
    assert_eq!(
        (missing.status, missing.body.len()),
        (404, 0),
        "{missing:?}"
    );
    assert_eq!(missing.header("content-length"), Some("0"));
    let lock = c.send("GET", "/bkt", &[("object-lock", "")], &[], b"");
    assert_s3_error(&lock, 404, "ObjectLockConfigurationNotFoundError");
    let lock = c.send(
        "PUT",
        "/bkt",
        &[("object-lock", "")],
        &[],
        b"<ObjectLockConfiguration/>",
    );
    assert_s3_error(&lock, 501, "NotImplemented");

    let loc = c.send("GET", "/bkt", &[("location", "")], &[], b"");
    assert_eq!(loc.status, 200, "{loc:?}");
    assert!(loc.text().contains("<LocationConstraint xmlns="), "{loc:?}");
    assert_eq!(elem(&loc, "LocationConstraint"), None);
    let loc = c.send("GET", "/nothing", &[("location", "")], &[], b"");
    assert_s3_error(&loc, 404, "NoSuchBucket");

    let del = c.send("DELETE", "/bkt", &[], &[], b"");
    assert_eq!(del.status, 204, "{del:?}");
    s.req("HEAD", &v1("bkt")).send_expect(404);
    let del = c.send("DELETE", "/bkt", &[], &[], b"");
    assert_s3_error(&del, 404, "NoSuchBucket");
}

#[test]
fn create_accepts_only_this_region_as_location_constraint() {
    let s = Server::start();
    let c = S3::new(&s, TESTER);
    let conf = |loc: &str| {
        format!(
            "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
             <LocationConstraint>{loc}</LocationConstraint></CreateBucketConfiguration>"
        )
    };
    let r = c.put("/here", conf("us-east-1").as_bytes());
    assert_eq!(r.status, 200, "{r:?}");
    let r = c.put("/there", conf("eu-west-1").as_bytes());
    assert_s3_error(&r, 400, "InvalidLocationConstraint");
    let r = c.put("/there", b"<CreateBucketConfiguration><Location");
    assert_s3_error(&r, 400, "MalformedXML");
    s.req("HEAD", &v1("there")).send_expect(404);
}

#[test]
fn canned_acl_of_a_new_bucket_becomes_its_container_acl() {
    let s = Server::start();
    let c = S3::new(&s, TESTER);
    let r = c.send("PUT", "/pub", &[], &[("x-amz-acl", "public-read")], b"");
    assert_eq!(r.status, 200, "{r:?}");
    let h = s.req("HEAD", &v1("pub")).send();
    assert_eq!(h.header("x-container-read"), Some(".r:*,.rlistings"));
    // Anyone may list it through Swift now.
    s.anon("GET", &v1("pub")).send_expect(204);

    let r = c.send("PUT", "/odd", &[], &[("x-amz-acl", "everyone")], b"");
    assert_s3_error(&r, 400, "InvalidArgument");
    s.req("HEAD", &v1("odd")).send_expect(404);

    // A create that fails leaves the existing bucket's ACL alone.
    put_bucket(&c, "priv");
    let r = c.send("PUT", "/priv", &[], &[("x-amz-acl", "public-read")], b"");
    assert_s3_error(&r, 409, "BucketAlreadyOwnedByYou");
    let h = s.req("HEAD", &v1("priv")).send();
    assert_eq!(h.header("x-container-read"), None, "{h:?}");
}

#[test]
fn a_user_who_may_not_create_containers_gets_access_denied() {
    let s = Server::start();
    let me = S3::new(&s, TESTER);
    let other = S3::new(&s, TESTER3);
    put_bucket(&me, "mine");
    // Whether or not the bucket exists.
    assert_s3_error(&other.put("/mine", b""), 403, "AccessDenied");
    assert_s3_error(&other.put("/fresh", b""), 403, "AccessDenied");
    s.req("HEAD", &v1("fresh")).send_expect(404);
    let del = other.send("DELETE", "/mine", &[], &[], b"");
    assert_s3_error(&del, 403, "AccessDenied");
    let ls = other.send("GET", "/mine", &[], &[], b"");
    assert_s3_error(&ls, 403, "AccessDenied");
}

#[test]
fn a_bucket_with_objects_is_not_deleted() {
    let s = Server::start();
    let c = S3::new(&s, TESTER);
    put_bucket(&c, "full");
    s.put_object("full/o", b"x");
    let r = c.send("DELETE", "/full", &[], &[], b"");
    assert_s3_error(&r, 409, "BucketNotEmpty");
    assert_eq!(s.get("full/o").status, 200);
}

#[test]
fn list_objects_v1_follows_the_swift_listing() {
    let s = Server::start();
    let c = S3::new(&s, TESTER);
    put_bucket(&c, "lst");
    for (i, k) in TREE.iter().enumerate() {
        s.put_object(&format!("lst/{k}"), format!("data {i}").as_bytes());
    }
    let r = list(&c, "lst", &[]);
    assert_eq!(elems(&r, "Key"), swift_names(&s, "lst", ""));
    assert_eq!(elem(&r, "Name").as_deref(), Some("lst"));
    assert_eq!(elem(&r, "MaxKeys").as_deref(), Some("1000"));
    assert_eq!(elem(&r, "IsTruncated").as_deref(), Some("false"));
    assert_eq!(elem(&r, "Marker").as_deref(), Some(""));
    let etags = etags(&r);
    assert_eq!(etags[1], format!("\"{}\"", md5_hex(b"data 0")));
    assert_eq!(elems(&r, "Size")[1], "6");
    assert_eq!(elems(&r, "ID")[0], "test:tester");
    assert_eq!(elems(&r, "StorageClass").len(), 5);

    let r = list(&c, "lst", &[("delimiter", "/")]);
    assert_eq!(elems(&r, "Key"), ["object", "object2"]);
    assert_eq!(elems(&r, "Prefix")[1..], ["dir/", "subdir/", "subdir2/"]);
    assert_eq!(elem(&r, "Delimiter").as_deref(), Some("/"));

    let r = list(&c, "lst", &[("delimiter", "/obj")]);
    assert_eq!(
        elems(&r, "Prefix")[1..],
        ["dir/subdir/obj", "subdir/obj", "subdir2/obj"]
    );

    let r = list(&c, "lst", &[("prefix", "object")]);
    assert_eq!(elems(&r, "Key"), ["object", "object2"]);
    let r = list(&c, "lst", &[("marker", "object")]);
    assert_eq!(
        elems(&r, "Key"),
        ["object2", "subdir/object", "subdir2/object"]
    );
    let r = list(&c, "lst", &[("max-keys", "2"), ("delimiter", "/")]);
    assert_eq!(elems(&r, "Prefix")[1..], ["dir/"]);
    assert_eq!(elems(&r, "Key"), ["object"]);
    assert_eq!(elem(&r, "IsTruncated").as_deref(), Some("true"));
    assert_eq!(elem(&r, "NextMarker").as_deref(), Some("object"));
    assert_eq!(elem(&r, "MaxKeys").as_deref(), Some("2"));
    // A larger max-keys is shown as asked and served as 1000.
    let r = list(&c, "lst", &[("max-keys", "5000")]);
    assert_eq!(elem(&r, "MaxKeys").as_deref(), Some("5000"));
    assert_eq!(elems(&r, "Key").len(), 5);

    let missing = c.send("GET", "/nothing", &[], &[], b"");
    assert_s3_error(&missing, 404, "NoSuchBucket");
}

#[test]
fn list_objects_v2_pages_with_continuation_tokens() {
    let s = Server::start();
    let c = S3::new(&s, TESTER);
    put_bucket(&c, "lv2");
    let names = [
        "object",
        "object2-\u{62a}",
        "subdir/object",
        "subdir2-\u{62a}/object",
        "dir/subdir/object",
        "x",
        "y",
        "z",
    ];
    for k in names {
        s.put_object(&format!("lv2/{}", enc_path(k)), b"");
    }
    let pages: [(&[&str], &[&str]); 3] = [
        (&["object", "object2-\u{62a}"], &["dir/"]),
        (&["x"], &["subdir/", "subdir2-\u{62a}/"]),
        (&["y", "z"], &[]),
    ];
    let mut token: Option<String> = None;
    for (i, (keys, prefixes)) in pages.iter().enumerate() {
        let mut q = vec![("list-type", "2"), ("max-keys", "3"), ("delimiter", "/")];
        if let Some(t) = &token {
            q.push(("continuation-token", t.as_str()));
        }
        let r = list(&c, "lv2", &q);
        assert_eq!(elems(&r, "Key"), *keys, "page {i}");
        assert_eq!(elems(&r, "Prefix")[1..], **prefixes, "page {i}");
        let count = keys.len() + prefixes.len();
        assert_eq!(elem(&r, "KeyCount"), Some(count.to_string()));
        assert!(!r.text().contains("<Owner>"), "no owner unless asked");
        let last = i == pages.len() - 1;
        assert_eq!(
            elem(&r, "IsTruncated").as_deref(),
            Some(if last { "false" } else { "true" })
        );
        token = elem(&r, "NextContinuationToken");
        assert_eq!(token.is_none(), last);
    }

    let r = list(
        &c,
        "lv2",
        &[
            ("list-type", "2"),
            ("start-after", "x"),
            ("fetch-owner", "true"),
        ],
    );
    assert_eq!(elems(&r, "Key"), ["y", "z"]);
    assert_eq!(elem(&r, "StartAfter").as_deref(), Some("x"));
    assert_eq!(elems(&r, "ID"), ["test:tester", "test:tester"]);

    let bad = c.send(
        "GET",
        "/lv2",
        &[("list-type", "2"), ("continuation-token", "%%%")],
        &[],
        b"",
    );
    assert_s3_error(&bad, 400, "InvalidArgument");
}

#[test]
fn url_encoding_type_quotes_keys_prefixes_and_delimiters() {
    let s = Server::start();
    let c = S3::new(&s, TESTER);
    put_bucket(&c, "enc");
    s.put_object(&format!("enc/{}", enc_path("a b/c\u{2603}d")), b"");
    s.put_object("enc/a+b", b"");
    let r = list(
        &c,
        "enc",
        &[("encoding-type", "url"), ("delimiter", "\u{2603}")],
    );
    assert_eq!(elem(&r, "EncodingType").as_deref(), Some("url"));
    assert_eq!(elems(&r, "Key"), ["a%2Bb"]);
    assert_eq!(elems(&r, "Prefix")[1..], ["a%20b/c%E2%98%83"]);
    assert_eq!(elem(&r, "Delimiter").as_deref(), Some("%E2%98%83"));
    let bad = c.send("GET", "/enc", &[("encoding-type", "xml")], &[], b"");
    assert_s3_error(&bad, 400, "InvalidArgument");
    for v in ["-1", "x", "2147483648"] {
        let bad = c.send("GET", "/enc", &[("max-keys", v)], &[], b"");
        assert_s3_error(&bad, 400, "InvalidArgument");
    }
}

#[test]
fn files_copied_onto_the_mount_and_directories_are_listed_as_swift_lists_them() {
    let s = Server::start();
    let c = S3::new(&s, TESTER);
    put_bucket(&c, "fsb");
    let dir = s.cont_dir("fsb");
    std::fs::create_dir_all(dir.join("photos/2024")).unwrap();
    std::fs::create_dir_all(dir.join("empty")).unwrap();
    std::fs::write(dir.join("photos/2024/cat.jpg"), b"meow").unwrap();
    std::fs::write(dir.join("readme.txt"), b"hello").unwrap();
    // A directory marker made through Swift, as Swift lists it.
    s.req("PUT", &v1("fsb/marker/"))
        .header("Content-Type", "application/directory")
        .body(b"")
        .send_expect(201);
    let r = list(&c, "fsb", &[]);
    let keys = elems(&r, "Key");
    assert_eq!(keys, swift_names(&s, "fsb", ""));
    assert!(
        keys.contains(&"photos/2024/cat.jpg".to_string()),
        "{keys:?}"
    );
    let at = keys
        .iter()
        .position(|k| k == "photos/2024/cat.jpg")
        .unwrap();
    assert_eq!(etags(&r)[at], format!("\"{}\"", md5_hex(b"meow")));
    assert_eq!(elems(&r, "Size")[at], "4");
    let r = list(&c, "fsb", &[("delimiter", "/")]);
    assert_eq!(
        [elems(&r, "Key"), elems(&r, "Prefix")[1..].to_vec()],
        [
            swift_names(&s, "fsb", "&delimiter=/")
                .into_iter()
                .filter(|n| !n.ends_with('/'))
                .collect::<Vec<_>>(),
            swift_names(&s, "fsb", "&delimiter=/")
                .into_iter()
                .filter(|n| n.ends_with('/'))
                .collect::<Vec<_>>(),
        ]
    );
}

fn versioning_body(status: &str) -> String {
    format!("<VersioningConfiguration><Status>{status}</Status></VersioningConfiguration>")
}

#[test]
fn versioning_is_the_containers_object_versioning() {
    let s = Server::start();
    let c = S3::new(&s, TESTER);
    put_bucket(&c, "ver");
    let get = || c.send("GET", "/ver", &[("versioning", "")], &[], b"");
    let r = get();
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(elem(&r, "Status"), None);
    let put = |b: &str| c.send("PUT", "/ver", &[("versioning", "")], &[], b.as_bytes());
    assert_eq!(put(&versioning_body("Enabled")).status, 200);
    assert_eq!(elem(&get(), "Status").as_deref(), Some("Enabled"));
    let h = s.req("HEAD", &v1("ver")).send();
    assert_eq!(h.header("x-versions-enabled"), Some("True"));
    assert_s3_error(&put(&versioning_body("On")), 400, "MalformedXML");
    assert_s3_error(
        &put("<Other><Status>Enabled</Status></Other>"),
        400,
        "MalformedXML",
    );

    s.put_object("ver/k", b"one");
    s.put_object("ver/k", b"two");
    s.req("DELETE", &v1("ver/k")).send_expect(204);
    s.put_object("ver/l", b"three");
    let r = list(&c, "ver", &[("versions", "")]);
    let t = r.text();
    assert_eq!(elems(&r, "Key"), ["k", "k", "k", "l"], "{t}");
    assert_eq!(
        elems(&r, "IsLatest"),
        ["true", "false", "false", "true"],
        "{t}"
    );
    assert!(t.contains("<DeleteMarker><Key>k</Key>"), "{t}");
    assert_eq!(
        etags(&r),
        [md5_hex(b"two"), md5_hex(b"one"), md5_hex(b"three")].map(|e| format!("\"{e}\""))
    );
    let vids = elems(&r, "VersionId");
    assert!(vids.iter().all(|v| v.contains('.')), "{vids:?}");
    // Paged by key and version.
    let r = list(&c, "ver", &[("versions", ""), ("max-keys", "2")]);
    assert_eq!(elem(&r, "IsTruncated").as_deref(), Some("true"));
    assert_eq!(elem(&r, "NextKeyMarker").as_deref(), Some("k"));
    assert_eq!(elem(&r, "NextVersionIdMarker"), Some(vids[1].clone()));
    let r = list(
        &c,
        "ver",
        &[
            ("versions", ""),
            ("key-marker", "k"),
            ("version-id-marker", &vids[1]),
        ],
    );
    assert_eq!(elems(&r, "VersionId"), vids[2..]);

    let bad = c.send(
        "GET",
        "/ver",
        &[("versions", ""), ("version-id-marker", "1.0")],
        &[],
        b"",
    );
    assert_s3_error(&bad, 400, "InvalidArgument");
    let bad = c.send(
        "GET",
        "/ver",
        &[
            ("versions", ""),
            ("key-marker", ""),
            ("version-id-marker", "bogus"),
        ],
        &[],
        b"",
    );
    assert_s3_error(&bad, 400, "InvalidArgument");

    assert_eq!(put(&versioning_body("Suspended")).status, 200);
    assert_eq!(elem(&get(), "Status").as_deref(), Some("Suspended"));
    let del = c.send("DELETE", "/ver", &[], &[], b"");
    assert_s3_error(&del, 409, "BucketNotEmpty");
}

#[test]
fn versioning_cannot_be_set_with_object_versioning_off() {
    let s = common::Builder::new()
        .toml("[features]\noff = [\"object_versioning\"]\n")
        .start();
    let c = S3::new(&s, TESTER);
    put_bucket(&c, "ver");
    let r = c.send(
        "PUT",
        "/ver",
        &[("versioning", "")],
        &[],
        versioning_body("Enabled").as_bytes(),
    );
    assert_s3_error(&r, 501, "NotImplemented");
    assert_eq!(
        s.req("HEAD", &v1("ver"))
            .send()
            .header("x-versions-enabled"),
        None
    );
    let r = c.send("GET", "/ver", &[("versioning", "")], &[], b"");
    assert_eq!((r.status, elem(&r, "Status")), (200, None), "{r:?}");
}

#[test]
fn bucket_acl_reads_and_sets_the_container_acls() {
    let s = Server::start();
    let c = S3::new(&s, TESTER);
    put_bucket(&c, "acl");
    let get = || {
        let r = c.send("GET", "/acl", &[("acl", "")], &[], b"");
        assert_eq!(r.status, 200, "{r:?}");
        r
    };
    let r = get();
    assert_eq!(elems(&r, "Permission"), ["FULL_CONTROL"]);
    assert_eq!(elems(&r, "ID"), ["test:tester", "test:tester"]);
    let put = |h: &[(&str, &str)], b: &str| c.send("PUT", "/acl", &[("acl", "")], h, b.as_bytes());
    let r = put(&[("x-amz-acl", "public-read")], "");
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(elems(&get(), "Permission"), ["FULL_CONTROL", "READ"]);
    let h = s.req("HEAD", &v1("acl")).send();
    assert_eq!(h.header("x-container-read"), Some(".r:*,.rlistings"));
    // A read ACL set through Swift shows the same way.
    s.req("POST", &v1("acl"))
        .header("X-Container-Read", ".r:*")
        .send_expect(204);
    assert_eq!(elems(&get(), "Permission"), ["FULL_CONTROL", "READ"]);

    let private = "<AccessControlPolicy><Owner><ID>test:tester</ID></Owner><AccessControlList>\
        <Grant><Grantee xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" \
        xsi:type=\"CanonicalUser\"><ID>test:tester</ID></Grantee>\
        <Permission>FULL_CONTROL</Permission></Grant></AccessControlList></AccessControlPolicy>";
    assert_eq!(put(&[], private).status, 200);
    assert_eq!(elems(&get(), "Permission"), ["FULL_CONTROL"]);
    assert_eq!(
        s.req("HEAD", &v1("acl")).send().header("x-container-read"),
        None
    );

    assert_s3_error(
        &put(&[("x-amz-acl", "private")], private),
        400,
        "UnexpectedContent",
    );
    assert_s3_error(&put(&[], ""), 400, "MissingSecurityHeader");
    assert_s3_error(
        &put(&[], "<AccessControlPolicy/>"),
        400,
        "MalformedACLError",
    );
    let other = S3::new(&s, TESTER3);
    let r = other.send(
        "PUT",
        "/acl",
        &[("acl", "")],
        &[("x-amz-acl", "public-read")],
        b"",
    );
    assert_s3_error(&r, 403, "AccessDenied");
    assert_s3_error(
        &other.send("GET", "/acl", &[("acl", "")], &[], b""),
        403,
        "AccessDenied",
    );
    let r = c.send("GET", "/nothing", &[("acl", "")], &[], b"");
    assert_s3_error(&r, 404, "NoSuchBucket");
}

#[test]
fn bucket_cors_is_the_containers_cors_metadata() {
    let s = Server::start();
    let c = S3::new(&s, TESTER);
    put_bucket(&c, "web");
    let get = || c.send("GET", "/web", &[("cors", "")], &[], b"");
    assert_s3_error(&get(), 404, "NoSuchCORSConfiguration");
    let conf = "<CORSConfiguration><CORSRule><AllowedOrigin>https://a.example</AllowedOrigin>\
        <AllowedMethod>GET</AllowedMethod><ExposeHeader>ETag</ExposeHeader>\
        <MaxAgeSeconds>300</MaxAgeSeconds></CORSRule><CORSRule>\
        <AllowedOrigin>https://b.example</AllowedOrigin><AllowedMethod>PUT</AllowedMethod>\
        </CORSRule></CORSConfiguration>";
    let r = c.send("PUT", "/web", &[("cors", "")], &[], conf.as_bytes());
    assert_eq!(r.status, 200, "{r:?}");
    let h = s.req("HEAD", &v1("web")).send();
    assert_eq!(
        h.header("x-container-meta-access-control-allow-origin"),
        Some("https://a.example https://b.example")
    );
    assert_eq!(
        h.header("x-container-meta-access-control-max-age"),
        Some("300")
    );
    assert_eq!(
        h.header("x-container-meta-access-control-expose-headers"),
        Some("ETag")
    );
    let r = get();
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        elems(&r, "AllowedOrigin"),
        ["https://a.example", "https://b.example"]
    );
    // The rules come back as they were put (kept whole in sysmeta).
    assert_eq!(elems(&r, "AllowedMethod"), ["GET", "PUT"]);
    assert_eq!(elem(&r, "MaxAgeSeconds").as_deref(), Some("300"));
    // Swift's preflight follows the same settings.
    s.anon("OPTIONS", &v1("web/o"))
        .header("Origin", "https://b.example")
        .header("Access-Control-Request-Method", "GET")
        .send_expect(200);

    let bad = "<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin>\
        <AllowedMethod>PATCH</AllowedMethod></CORSRule></CORSConfiguration>";
    let r = c.send("PUT", "/web", &[("cors", "")], &[], bad.as_bytes());
    assert_s3_error(&r, 400, "InvalidRequest");
    let r = c.send("DELETE", "/web", &[("cors", "")], &[], b"");
    assert_eq!(r.status, 204, "{r:?}");
    assert_s3_error(&get(), 404, "NoSuchCORSConfiguration");
    let h = s.req("HEAD", &v1("web")).send();
    assert_eq!(
        h.header("x-container-meta-access-control-allow-origin"),
        None
    );
    let other = S3::new(&s, TESTER3);
    let r = other.send("GET", "/web", &[("cors", "")], &[], b"");
    assert_s3_error(&r, 403, "AccessDenied");
}
