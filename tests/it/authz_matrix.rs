//! The authorization matrix (issue 11, item 10): every verb on account,
//! container and object, and every middleware that reaches other objects as
//! its caller (COPY and `X-Copy-From`, also across accounts; bulk delete and
//! archive extraction; SLO, DLO and symlinks; object versioning; listings
//! with `prefix`, `path` and `versions`), for every kind of caller, each with
//! the status OpenStack Swift answers: tempauth, the proxy controllers and
//! the middlewares of its default pipeline (`bulk` before `tempauth`; `copy`,
//! `slo`, `dlo`, `versioned_writes`, `symlink` after it).
//!
//! [`matrix`] is the specification: one row per request, one column per
//! caller ([`WHO`]). Every cell is sent to one server; the test fails on any
//! status other than Swift's (above all a 2xx where Swift refuses), on an
//! answer carrying the private object's content to a caller who may not
//! read it (or with a refusal), and on any change of the device by a
//! refused write (every entry's inode, size and times, listed before and
//! after). The expectations come from reading Swift's code, not from
//! sofgate's answers; where Swift's answer is not the obvious one, the
//! reason is by the row.
//!
//! The rows where a `..` in a listing prefix, a manifest or a copy path could
//! leave the container are in their own test at the end
//! ([`dot_dot_never_reaches_another_account`]).

use crate::common;

use std::collections::HashMap;
use std::time::Instant;

use common::*;

// Statuses, named as the table uses them.
const OK: u16 = 200;
const CR: u16 = 201;
const AC: u16 = 202;
const NC: u16 = 204;
const BR: u16 = 400;
/// No valid token: tempauth's `denied_response` without `REMOTE_USER`, and
/// its outright answer to an invalid or expired token.
const U: u16 = 401;
/// A valid token without the right.
const F: u16 = 403;
const NF: u16 = 404;
const NA: u16 = 405;
const CF: u16 = 409;
/// Any 4xx: where Swift's exact answer is an artifact of its pipeline order
/// (see the bulk rows), any refusal will do.
const REFUSED: u16 = 4;

/// The callers, in the order of the matrix's columns.
const WHO: [&str; 12] = [
    "anon",     // no token
    "owner",    // test:tester, .admin of AUTH_test
    "other",    // test2:tester2, .admin of AUTH_test2
    "nonadm",   // test:tester3, a user of AUTH_test without .admin, named by no ACL
    "reader",   // guest:reader, in X-Container-Read of AUTH_test/shared and /vers
    "writer",   // guest:writer, in X-Container-Write of AUTH_test/shared and /vers
    "ro",       // acl:ro, read-only in AUTH_test's X-Account-Access-Control
    "rw",       // acl:rw, read-write there
    "adm",      // acl:adm, admin there
    "expired",  // test:tester's token, correctly signed, expired
    "forged",   // a reseller admin's token signed with another key
    "reseller", // admin:admin, .reseller_admin
];

const PRIVATE: &str = "private data";

/// One request of the matrix and what Swift answers each caller.
///
/// `{id}` in the path, headers and body is the caller's name (so every
/// caller writes and deletes its own objects), `{v}` the id of the older
/// version of `vers/o`, `{dv}` and `{mv}` those of the caller's
/// `vers/dv-{id}` and `vers/mc-{id}`, `{etag}` the ETag of `priv/o`.
struct Row {
    method: &'static str,
    path: &'static str,
    headers: Vec<(&'static str, &'static str)>,
    body: Payload,
    /// A bulk request: Swift answers 200 and puts the outcome in the body's
    /// `Response Status`, which is what the row gives.
    bulk: bool,
    want: [u16; 12],
}

enum Payload {
    None,
    Text(&'static str),
    /// A tar archive holding one file of this name.
    Tar(&'static str),
}

fn row(method: &'static str, path: &'static str, want: [u16; 12]) -> Row {
    Row {
        method,
        path,
        headers: Vec::new(),
        body: Payload::None,
        bulk: false,
        want,
    }
}

impl Row {
    fn h(mut self, k: &'static str, v: &'static str) -> Row {
        self.headers.push((k, v));
        self
    }
    fn text(mut self, t: &'static str) -> Row {
        self.body = Payload::Text(t);
        self
    }
    fn tar(mut self, name: &'static str) -> Row {
        self.body = Payload::Tar(name);
        self.bulk = true;
        self
    }
    fn bulk(mut self) -> Row {
        self.bulk = true;
        self
    }
    fn writes(&self) -> bool {
        self.method != "GET" && self.method != "HEAD"
    }
}

/// The specification. Columns: anon, owner, other, nonadm, reader, writer,
/// ro, rw, adm, expired, forged, reseller.
#[rustfmt::skip]
fn matrix() -> Vec<Row> {
    vec![
        // ---- account ----
        // Account ACLs: read-only and read-write may GET/HEAD the account,
        // only admin may POST to it.
        row("HEAD", "/v1/AUTH_test",                          [U, NC, F, F, F, F, NC, NC, NC, U, U, NC]),
        row("GET",  "/v1/AUTH_test",                          [U, OK, F, F, F, F, OK, OK, OK, U, U, OK]),
        row("GET",  "/v1/AUTH_test?prefix=p&format=json",     [U, OK, F, F, F, F, OK, OK, OK, U, U, OK]),
        row("POST", "/v1/AUTH_test",                          [U, NC, F, F, F, F, F,  F,  NC, U, U, NC])
            .h("X-Account-Meta-Color", "{id}"),
        // With allow_account_management off (Swift's default; sofgate has
        // no account management), the proxy drops PUT and DELETE from the
        // account controller's allowed methods and answers 405 before it
        // asks tempauth: to everyone whose token tempauth did not already
        // refuse.
        row("PUT",    "/v1/AUTH_test",                        [NA, NA, NA, NA, NA, NA, NA, NA, NA, U, U, NA]),
        row("DELETE", "/v1/AUTH_test",                        [NA, NA, NA, NA, NA, NA, NA, NA, NA, U, U, NA]),

        // COPY is a method of objects only (the proxy's 405 comes before
        // tempauth is asked).
        row("COPY", "/v1/AUTH_test",                          [NA, NA, NA, NA, NA, NA, NA, NA, NA, U, U, NA])
            .h("Destination", "priv/x"),

        // ---- containers ----
        row("COPY", "/v1/AUTH_test/priv",                     [NA, NA, NA, NA, NA, NA, NA, NA, NA, U, U, NA])
            .h("Destination", "priv/x"),
        row("HEAD", "/v1/AUTH_test/priv",                     [U, NC, F, F, F,  F, NC, NC, NC, U, U, NC]),
        row("GET",  "/v1/AUTH_test/priv",                     [U, OK, F, F, F,  F, OK, OK, OK, U, U, OK]),
        row("GET",  "/v1/AUTH_test/priv?prefix=seg&format=json", [U, OK, F, F, F, F, OK, OK, OK, U, U, OK]),
        row("GET",  "/v1/AUTH_test/priv?path=d&format=json",  [U, OK, F, F, F,  F, OK, OK, OK, U, U, OK]),
        row("HEAD", "/v1/AUTH_test/shared",                   [U, NC, F, F, NC, F, NC, NC, NC, U, U, NC]),
        row("GET",  "/v1/AUTH_test/shared?prefix=o",          [U, OK, F, F, OK, F, OK, OK, OK, U, U, OK]),
        // .r:* opens objects, not the listing.
        row("GET",  "/v1/AUTH_test/pub",                      [U, OK, F, F, F,  F, OK, OK, OK, U, U, OK]),
        row("HEAD", "/v1/AUTH_test/pub",                      [U, NC, F, F, F,  F, NC, NC, NC, U, U, NC]),
        // .rlistings opens the listing to anyone, token or not.
        row("GET",  "/v1/AUTH_test/publist?path=d",           [OK, OK, OK, OK, OK, OK, OK, OK, OK, U, U, OK]),
        row("HEAD", "/v1/AUTH_test/publist",                  [NC, NC, NC, NC, NC, NC, NC, NC, NC, U, U, NC]),
        // A missing container: the proxy authorizes against the (absent)
        // read ACL before it says 404, so only those who could read learn
        // that it is missing.
        row("GET",  "/v1/AUTH_test/nope",                     [U, NF, F, F, F,  F, NF, NF, NF, U, U, NF]),
        row("HEAD", "/v1/AUTH_test/nope",                     [U, NF, F, F, F,  F, NF, NF, NF, U, U, NF]),
        // ?versions follows the listing's rights (object_versioning lists
        // the hidden container pre-authorized once the listing passed).
        row("GET",  "/v1/AUTH_test/vers?versions&prefix=o&format=json", [U, OK, F, F, OK, F, OK, OK, OK, U, U, OK]),
        // Container writes: owners and read-write; container ACLs never.
        row("PUT",  "/v1/AUTH_test/new-{id}",                 [U, CR, F, F, F, F, F, CR, CR, U, U, CR]),
        row("PUT",  "/v1/AUTH_test/shared",                   [U, AC, F, F, F, F, F, AC, AC, U, U, AC]),
        row("POST", "/v1/AUTH_test/shared",                   [U, NC, F, F, F, F, F, NC, NC, U, U, NC])
            .h("X-Container-Meta-Color", "{id}"),
        row("POST", "/v1/AUTH_test/nope",                     [U, NF, F, F, F, F, F, NF, NF, U, U, NF]),
        row("DELETE", "/v1/AUTH_test/del-{id}",               [U, NC, F, F, F, F, F, NC, NC, U, U, NC]),
        row("DELETE", "/v1/AUTH_test/priv",                   [U, CF, F, F, F, F, F, CF, CF, U, U, CF]),

        // ---- objects ----
        row("GET",  "/v1/AUTH_test/priv/o",                   [U, OK, F, F, F,  F, OK, OK, OK, U, U, OK]),
        row("HEAD", "/v1/AUTH_test/priv/o",                   [U, OK, F, F, F,  F, OK, OK, OK, U, U, OK]),
        row("GET",  "/v1/AUTH_test/priv/nope",                [U, NF, F, F, F,  F, NF, NF, NF, U, U, NF]),
        row("GET",  "/v1/AUTH_test/nope/o",                   [U, NF, F, F, F,  F, NF, NF, NF, U, U, NF]),
        row("GET",  "/v1/AUTH_test/shared/o",                 [U, OK, F, F, OK, F, OK, OK, OK, U, U, OK]),
        row("HEAD", "/v1/AUTH_test/shared/o",                 [U, OK, F, F, OK, F, OK, OK, OK, U, U, OK]),
        // .r:* reads objects for everyone, whatever their token says (but
        // an invalid token is refused before any ACL is read).
        row("GET",  "/v1/AUTH_test/pub/o",                    [OK, OK, OK, OK, OK, OK, OK, OK, OK, U, U, OK]),
        row("HEAD", "/v1/AUTH_test/pub/o",                    [OK, OK, OK, OK, OK, OK, OK, OK, OK, U, U, OK]),
        row("GET",  "/v1/AUTH_test/pub/nope",                 [NF, NF, NF, NF, NF, NF, NF, NF, NF, U, U, NF]),
        row("PUT",  "/v1/AUTH_test/priv/new-{id}",            [U, CR, F, F, F, F,  F, CR, CR, U, U, CR]).text("x"),
        row("PUT",  "/v1/AUTH_test/shared/new-{id}",          [U, CR, F, F, F, CR, F, CR, CR, U, U, CR]).text("x"),
        row("PUT",  "/v1/AUTH_test/pub/new-{id}",             [U, CR, F, F, F, F,  F, CR, CR, U, U, CR]).text("x"),
        row("PUT",  "/v1/AUTH_test/nope/new-{id}",            [U, NF, F, F, F, F,  F, NF, NF, U, U, NF]).text("x"),
        row("POST", "/v1/AUTH_test/priv/o",                   [U, AC, F, F, F, F,  F, AC, AC, U, U, AC])
            .h("X-Object-Meta-Color", "{id}"),
        row("POST", "/v1/AUTH_test/shared/o",                 [U, AC, F, F, F, AC, F, AC, AC, U, U, AC])
            .h("X-Object-Meta-Color", "{id}"),
        row("POST", "/v1/AUTH_test/pub/o",                    [U, AC, F, F, F, F,  F, AC, AC, U, U, AC])
            .h("X-Object-Meta-Color", "{id}"),
        row("DELETE", "/v1/AUTH_test/priv/del-{id}",          [U, NC, F, F, F, F,  F, NC, NC, U, U, NC]),
        row("DELETE", "/v1/AUTH_test/shared/del-{id}",        [U, NC, F, F, F, NC, F, NC, NC, U, U, NC]),
        row("DELETE", "/v1/AUTH_test/pub/del-{id}",           [U, NC, F, F, F, F,  F, NC, NC, U, U, NC]),

        // ---- COPY and X-Copy-From: the source is read (GET, as the
        // caller) before the destination is written (PUT, as the caller) ----
        row("COPY", "/v1/AUTH_test/priv/o",                   [U, CR, F, F, F, F,  F, CR, CR, U, U, CR])
            .h("Destination", "priv/cp-{id}"),
        row("COPY", "/v1/AUTH_test/shared/o",                 [U, CR, F, F, F, F,  F, CR, CR, U, U, CR])
            .h("Destination", "shared/cp-{id}"),
        row("COPY", "/v1/AUTH_test/pub/o",                    [U, CR, F, F, F, CR, F, CR, CR, U, U, CR])
            .h("Destination", "shared/cpp-{id}"),
        // A missing source is 404 to whoever may read it, even where the
        // destination is refused.
        row("COPY", "/v1/AUTH_test/priv/nope",                [U, NF, F, F, F, F, NF, NF, NF, U, U, NF])
            .h("Destination", "priv/cpn-{id}"),
        row("PUT",  "/v1/AUTH_test/shared/xcf-{id}",          [U, CR, F, F, F, F,  F, CR, CR, U, U, CR])
            .h("X-Copy-From", "priv/o"),
        row("PUT",  "/v1/AUTH_test/shared/xcp-{id}",          [U, CR, F, F, F, CR, F, CR, CR, U, U, CR])
            .h("X-Copy-From", "pub/o"),
        // Across accounts: rights in each account, nothing carried over.
        row("COPY", "/v1/AUTH_test/pub/o",                    [U, F, CR, F, F, F, F, F, F, U, U, CR])
            .h("Destination", "b/cpa-{id}").h("Destination-Account", "AUTH_test2"),
        row("COPY", "/v1/AUTH_test/priv/o",                   [U, F, F,  F, F, F, F, F, F, U, U, CR])
            .h("Destination", "b/cpb-{id}").h("Destination-Account", "AUTH_test2"),
        row("COPY", "/v1/AUTH_test2/b/o",                     [U, F, F,  F, F, F, F, F, F, U, U, CR])
            .h("Destination", "priv/cpc-{id}").h("Destination-Account", "AUTH_test"),
        row("PUT",  "/v1/AUTH_test2/b/xa-{id}",               [U, F, F,  F, F, F, F, F, F, U, U, CR])
            .h("X-Copy-From", "priv/o").h("X-Copy-From-Account", "AUTH_test"),
        row("PUT",  "/v1/AUTH_test2/b/xb-{id}",               [U, F, CR, F, F, F, F, F, F, U, U, CR])
            .h("X-Copy-From", "pub/o").h("X-Copy-From-Account", "AUTH_test"),

        // ---- bulk: Swift's bulk runs before tempauth, answers 200 and
        // sends every item as a sub-request of the caller; a refused item
        // (401 or 403) makes the body's Response Status 400, an archive
        // whose container the caller may not even HEAD anonymously 401 ----
        // An invalid token: Swift's sub-requests each get 401 (body 400),
        // sofgate refuses the request itself with 401; both delete nothing.
        row("POST", "/v1/AUTH_test?bulk-delete",              [BR, OK, BR, BR, BR, BR, BR, OK, OK, REFUSED, REFUSED, OK])
            .text("/priv/bd-{id}\n").bulk(),
        row("DELETE", "/v1/AUTH_test?bulk-delete",            [BR, OK, BR, BR, BR, OK, BR, OK, OK, REFUSED, REFUSED, OK])
            .text("/shared/bd-{id}\n").bulk(),
        row("POST", "/v1/AUTH_test?bulk-delete",              [BR, OK, BR, BR, BR, BR, BR, OK, OK, REFUSED, REFUSED, OK])
            .text("/bdc-{id}\n").bulk(),
        // The writer may not HEAD `shared` (a failed container check), but
        // its file goes in: 201.
        row("PUT",  "/v1/AUTH_test/shared?extract-archive=tar", [U, CR, BR, BR, BR, CR, BR, CR, CR, U, U, CR])
            .tar("ea-{id}"),
        row("PUT",  "/v1/AUTH_test?extract-archive=tar",      [U, CR, BR, BR, BR, BR, BR, CR, CR, U, U, CR])
            .tar("eac-{id}/f"),
        row("PUT",  "/v1/AUTH_test2/b?extract-archive=tar",   [U, BR, CR, BR, BR, BR, BR, BR, BR, U, U, CR])
            .tar("eb-{id}"),

        // ---- static large objects: the segments are checked (HEAD, as
        // the caller) before the manifest's own PUT is authorized, so a
        // segment the caller may not read makes any manifest PUT a 400 ----
        row("PUT",  "/v1/AUTH_test/shared/slo-{id}?multipart-manifest=put",  [BR, CR, BR, BR, BR, BR, F, CR, CR, U, U, CR])
            .text(r#"[{"path":"/priv/seg1"}]"#),
        row("PUT",  "/v1/AUTH_test/shared/slop-{id}?multipart-manifest=put", [U, CR, F, F, F, CR, F, CR, CR, U, U, CR])
            .text(r#"[{"path":"/pub/seg1"}]"#),
        // Segment paths are in the manifest's account: another account's
        // name is a container of that name here (missing), never a way out.
        row("PUT",  "/v1/AUTH_test2/b/sloa-{id}?multipart-manifest=put",     [BR, BR, BR, BR, BR, BR, BR, BR, BR, U, U, BR])
            .text(r#"[{"path":"/AUTH_test/priv/seg1"}]"#),
        // Segments are fetched as the caller: a reader of the manifest who
        // may not read its first segment gets 409; a HEAD reads no segment.
        row("GET",  "/v1/AUTH_test/shared/slo-priv",          [U, OK, F, F, CF, F, OK, OK, OK, U, U, OK]),
        row("HEAD", "/v1/AUTH_test/shared/slo-priv",          [U, OK, F, F, OK, F, OK, OK, OK, U, U, OK]),
        row("GET",  "/v1/AUTH_test/shared/slo-priv?multipart-manifest=get", [U, OK, F, F, OK, F, OK, OK, OK, U, U, OK]),

        // ---- dynamic large objects: the segment container is listed as
        // the caller (GET and HEAD), so .r:* alone does not serve one ----
        row("GET",  "/v1/AUTH_test/shared/dlo-priv",          [U, OK, F, F, F, F, OK, OK, OK, U, U, OK]),
        row("HEAD", "/v1/AUTH_test/shared/dlo-priv",          [U, OK, F, F, F, F, OK, OK, OK, U, U, OK]),
        row("GET",  "/v1/AUTH_test/pub/dlo",                  [U, OK, F, F, F, F, OK, OK, OK, U, U, OK]),
        row("GET",  "/v1/AUTH_test/publist/dlo",              [OK, OK, OK, OK, OK, OK, OK, OK, OK, U, U, OK]),
        // Segments are in the manifest's account: another account's name
        // is a container of that name here, whose listing answers (404).
        row("GET",  "/v1/AUTH_test2/b/dlo-x",                 [U, F, NF, F, F, F, F, F, F, U, U, NF]),
        row("PUT",  "/v1/AUTH_test2/b/dloa-{id}",             [U, F, CR, F, F, F, F, F, F, U, U, CR])
            .h("X-Object-Manifest", "AUTH_test/priv/seg"),
        // A manifest PUT checks only the header's form.
        row("PUT",  "/v1/AUTH_test/shared/dlo-{id}",          [U, CR, F, F, F, CR, F, CR, CR, U, U, CR])
            .h("X-Object-Manifest", "priv/seg"),

        // ---- symlinks: the link is read as the caller, then its target,
        // also in another account ----
        row("GET",  "/v1/AUTH_test/shared/link-priv",         [U, OK, F, F, F,  F, OK, OK, OK, U, U, OK]),
        row("HEAD", "/v1/AUTH_test/shared/link-priv",         [U, OK, F, F, F,  F, OK, OK, OK, U, U, OK]),
        row("GET",  "/v1/AUTH_test/shared/link-priv?symlink=get", [U, OK, F, F, OK, F, OK, OK, OK, U, U, OK]),
        row("GET",  "/v1/AUTH_test/pub/link-priv",            [U, OK, F, F, F,  F, OK, OK, OK, U, U, OK]),
        row("GET",  "/v1/AUTH_test/pub/link-priv?symlink=get", [OK, OK, OK, OK, OK, OK, OK, OK, OK, U, U, OK]),
        // A dynamic link may name anything (it may dangle)...
        row("PUT",  "/v1/AUTH_test/shared/ln-{id}",           [U, CR, F, F, F, CR, F, CR, CR, U, U, CR])
            .h("X-Symlink-Target", "priv/o"),
        // ...a static one HEADs its target as the caller first.
        row("PUT",  "/v1/AUTH_test/shared/sln-{id}",          [U, CR, F, F, F, F,  F, CR, CR, U, U, CR])
            .h("X-Symlink-Target", "priv/o").h("X-Symlink-Target-Etag", "{etag}"),
        row("GET",  "/v1/AUTH_test2/b/link-x",                [U, F, F,  F, F, F, F, F, F, U, U, OK]),
        row("GET",  "/v1/AUTH_test2/b/link-x?symlink=get",    [U, F, OK, F, F, F, F, F, F, U, U, OK]),
        row("GET",  "/v1/AUTH_test2/b/link-pub",              [U, F, OK, F, F, F, F, F, F, U, U, OK]),
        row("PUT",  "/v1/AUTH_test2/b/xl-{id}",               [U, F, CR, F, F, F, F, F, F, U, U, CR])
            .h("X-Symlink-Target", "priv/o").h("X-Symlink-Target-Account", "AUTH_test"),
        row("PUT",  "/v1/AUTH_test2/b/xsl-{id}",              [U, F, F,  F, F, F, F, F, F, U, U, CR])
            .h("X-Symlink-Target", "priv/o").h("X-Symlink-Target-Account", "AUTH_test")
            .h("X-Symlink-Target-Etag", "{etag}"),

        // ---- object versioning: ?version-id rewrites the request to the
        // hidden versions container, which has no container ACL: owners
        // and account ACLs reach it, container ACLs do not ----
        // The current object is a link the middleware follows pre-authorized.
        row("GET",  "/v1/AUTH_test/vers/o",                   [U, OK, F, F, OK, F,  OK, OK, OK, U, U, OK]),
        row("GET",  "/v1/AUTH_test/vers/o?version-id={v}",    [U, OK, F, F, F,  F,  OK, OK, OK, U, U, OK]),
        row("HEAD", "/v1/AUTH_test/vers/o?version-id={v}",    [U, OK, F, F, F,  F,  OK, OK, OK, U, U, OK]),
        // The null version is the object itself (here: none, 404).
        row("GET",  "/v1/AUTH_test/vers/o?version-id=null",   [U, NF, F, F, NF, F,  NF, NF, NF, U, U, NF]),
        // Making a version current is a PUT of the object (the HEAD of the
        // version is pre-authorized): the container's write ACL applies.
        row("PUT",  "/v1/AUTH_test/vers/mc-{id}?version-id={mv}", [U, CR, F, F, F, CR, F, CR, CR, U, U, CR]),
        row("DELETE", "/v1/AUTH_test/vers/dv-{id}?version-id={dv}", [U, NC, F, F, F, F, F, NC, NC, U, U, NC]),
        row("GET",  "/v1/AUTH_test/vers?versions&format=json", [U, OK, F, F, OK, F,  OK, OK, OK, U, U, OK]),

        // ---- the other account, and accounts outside every prefix ----
        row("GET",  "/v1/AUTH_test2/b",                       [U, F, OK, F, F, F, F, F, F, U, U, OK]),
        row("PUT",  "/v1/AUTH_test2/b/new-{id}",              [U, F, CR, F, F, F, F, F, F, U, U, CR]).text("x"),
        // tempauth is no authority there: it denies every caller, the
        // reseller admin too (a token it could not read is still 401).
        row("GET",  "/v1/OTHER_x",                            [U, F, F, F, F, F, F, F, F, U, U, F]),
        row("GET",  "/v1/OTHER_x/c/o",                        [U, F, F, F, F, F, F, F, F, U, U, F]),
        // A link may name such an account; following it is refused alike.
        row("PUT",  "/v1/AUTH_test2/b/lo-{id}",               [U, F, CR, F, F, F, F, F, F, U, U, CR])
            .h("X-Symlink-Target", "c/o").h("X-Symlink-Target-Account", "OTHER_x"),
        row("GET",  "/v1/AUTH_test2/b/link-other",            [U, F, F, F, F, F, F, F, F, U, U, F]),
    ]
}

/// The HMAC-signed token sofgate issues (`AUTH_tk` + hex payload + 16
/// bytes of HMAC-SHA256), minted here so that an expired token and a token
/// signed with another key can be tried.
fn mint(key: &str, expires: u64, account: &str, user: &str, flags: &str) -> String {
    use hmac::{Hmac, Mac};
    let payload = format!("{expires}\n{account}\n{user}\n{flags}\n");
    let mut m = Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).expect("any key");
    m.update(payload.as_bytes());
    let mac = m.finalize().into_bytes();
    format!("AUTH_tk{}{}", hex::encode(payload), hex::encode(&mac[..16]))
}

/// Users beside the Builder's (test:tester, test2:tester2, test:tester3,
/// admin:admin).
const USERS: &str = "\
[[auth.user]]\naccount = \"guest\"\nuser = \"reader\"\nkey = \"k\"\n\
[[auth.user]]\naccount = \"guest\"\nuser = \"writer\"\nkey = \"k\"\n\
[[auth.user]]\naccount = \"acl\"\nuser = \"ro\"\nkey = \"k\"\n\
[[auth.user]]\naccount = \"acl\"\nuser = \"rw\"\nkey = \"k\"\n\
[[auth.user]]\naccount = \"acl\"\nuser = \"adm\"\nkey = \"k\"\n";

/// The fixture, with every caller's token (`None`: anonymous).
struct World {
    s: Server,
    tokens: Vec<Option<String>>,
    subs: HashMap<&'static str, String>,
    /// Version ids of each caller's `vers/dv-*` (`{dv}`) and `vers/mc-*` (`{mv}`).
    versions: HashMap<(&'static str, &'static str), String>,
}

impl World {
    fn as_who(&self, who: usize, method: &str, path: &str) -> Req {
        let r = self.s.anon(method, path);
        match &self.tokens[who] {
            Some(t) => r.header("X-Auth-Token", t),
            None => r,
        }
    }

    fn fill(&self, who: usize, text: &str) -> String {
        let mut t = text.replace("{id}", WHO[who]);
        for (k, v) in &self.subs {
            t = t.replace(k, v);
        }
        for ((w, key), v) in &self.versions {
            if *w == WHO[who] {
                t = t.replace(key, v);
            }
        }
        t
    }
}

fn tar_of(name: &str, data: &[u8]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_ustar();
    // Written as is (the tar crate refuses `..`, a hostile client need not).
    let field = &mut h.as_old_mut().name;
    assert!(name.len() < field.len(), "short tar names only");
    field[..name.len()].copy_from_slice(name.as_bytes());
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_cksum();
    b.append(&h, data).expect("tar append");
    b.into_inner().expect("tar")
}

/// Setup requests as one user; each must succeed.
struct As<'a> {
    s: &'a Server,
    token: &'a str,
}

impl As<'_> {
    fn send(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Resp {
        let mut r = self.s.anon(method, path).header("X-Auth-Token", self.token);
        for (k, v) in headers {
            r = r.header(k, v);
        }
        let resp = r.body(body).send();
        assert!(
            (200..300).contains(&resp.status),
            "setup {method} {path}: {resp:?}"
        );
        resp
    }

    fn put(&self, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Resp {
        self.send("PUT", path, headers, body)
    }
}

/// AUTH_test's containers, objects, large objects and links (as its owner);
/// returns the id of the older version of `vers/o`.
fn fixture_test(owner: &As) -> String {
    owner.send(
        "POST",
        "/v1/AUTH_test",
        &[(
            "X-Account-Access-Control",
            r#"{"read-only":["acl:ro"],"read-write":["acl:rw"],"admin":["acl:adm"]}"#,
        )],
        b"",
    );
    let (read, write) = ("X-Container-Read", "X-Container-Write");
    owner.put(&v1("priv"), &[], b"");
    owner.put(
        &v1("shared"),
        &[(read, "guest:reader"), (write, "guest:writer")],
        b"",
    );
    owner.put(&v1("pub"), &[(read, ".r:*")], b"");
    owner.put(&v1("publist"), &[(read, ".r:*,.rlistings")], b"");
    let versioned = ("X-Versions-Enabled", "true");
    owner.put(
        &v1("vers"),
        &[versioned, (read, "guest:reader"), (write, "guest:writer")],
        b"",
    );
    for (p, d) in [
        ("priv/o", PRIVATE),
        ("priv/seg1", "seg-one"),
        ("priv/seg2", "seg-two"),
        ("priv/d/x", "in d"),
        ("shared/o", "shared data"),
        ("pub/o", "public data"),
        ("pub/seg1", "pub-seg"),
        ("publist/o", "listed data"),
        ("publist/seg1", "publist-seg"),
        ("publist/d/x", "in d"),
        ("vers/o", "version one"),
        ("vers/o", "version two"),
    ] {
        owner.put(&v1(p), &[], d.as_bytes());
    }
    let slo = br#"[{"path":"/priv/seg1"}]"#;
    owner.put(&v1("shared/slo-priv?multipart-manifest=put"), &[], slo);
    for (p, m) in [
        ("shared/dlo-priv", "priv/seg"),
        ("pub/dlo", "pub/seg"),
        ("publist/dlo", "publist/seg"),
    ] {
        owner.put(&v1(p), &[("X-Object-Manifest", m)], b"");
    }
    for p in ["shared/link-priv", "pub/link-priv"] {
        owner.put(&v1(p), &[("X-Symlink-Target", "priv/o")], b"");
    }
    let listing = owner
        .send("GET", &v1("vers?versions&format=json"), &[], b"")
        .json();
    listing
        .as_array()
        .and_then(|a| a.iter().find(|e| e["is_latest"] == false))
        .and_then(|e| e["version_id"].as_str())
        .expect("older version of vers/o")
        .to_string()
}

/// Each caller's own objects and containers to delete, and versions to
/// delete or make current; returns the versions' ids by (caller,
/// placeholder).
fn fixture_per_caller(owner: &As) -> HashMap<(&'static str, &'static str), String> {
    let mut versions = HashMap::new();
    for who in WHO {
        for p in ["priv/del", "shared/del", "pub/del", "priv/bd", "shared/bd"] {
            owner.put(&v1(&format!("{p}-{who}")), &[], b"d");
        }
        for c in ["del", "bdc"] {
            owner.put(&v1(&format!("{c}-{who}")), &[], b"");
        }
        for (o, key) in [("dv", "{dv}"), ("mc", "{mv}")] {
            let p = v1(&format!("vers/{o}-{who}"));
            let first = owner.put(&p, &[], b"1");
            owner.put(&p, &[], b"2");
            let id = first.header("x-object-version-id").expect("version id");
            versions.insert((who, key), id.to_string());
        }
    }
    versions
}

/// AUTH_test2's containers, and its links into AUTH_test and outside every
/// prefix (as its owner).
fn fixture_test2(other: &As) {
    other.put("/v1/AUTH_test2/b", &[], b"");
    other.put(
        "/v1/AUTH_test2/bpub",
        &[("X-Container-Read", ".r:*,.rlistings")],
        b"",
    );
    other.put(
        "/v1/AUTH_test2/bver",
        &[("X-Versions-Enabled", "true")],
        b"",
    );
    other.put("/v1/AUTH_test2/b/o", &[], b"test2 data");
    for (p, a, t) in [
        ("link-x", "AUTH_test", "priv/o"),
        ("link-pub", "AUTH_test", "pub/o"),
        ("link-other", "OTHER_x", "c/o"),
    ] {
        let headers = [("X-Symlink-Target", t), ("X-Symlink-Target-Account", a)];
        other.put(&format!("/v1/AUTH_test2/b/{p}"), &headers, b"");
    }
    let manifest = [("X-Object-Manifest", "AUTH_test/priv/seg")];
    other.put("/v1/AUTH_test2/b/dlo-x", &manifest, b"");
}

/// Every caller's token, in [`WHO`]'s order.
fn tokens(s: &Server, owner: &str, other: &str) -> Vec<Option<String>> {
    let now = now();
    // A correctly signed token of the owner that is still valid proves the
    // minting right, so the expired one differs only by its expiry.
    let fresh = mint(SECRET, now + 600, "AUTH_test", "test:tester", "a");
    let r = s
        .anon("HEAD", "/v1/AUTH_test")
        .header("X-Auth-Token", &fresh)
        .send();
    assert_eq!(r.status, 204, "a minted token works: {r:?}");
    let wrong_key = "not-the-secret-of-this-cluster-000";
    vec![
        None,
        Some(owner.to_string()),
        Some(other.to_string()),
        Some(s.token("test:tester3", "testing3")),
        Some(s.token("guest:reader", "k")),
        Some(s.token("guest:writer", "k")),
        Some(s.token("acl:ro", "k")),
        Some(s.token("acl:rw", "k")),
        Some(s.token("acl:adm", "k")),
        Some(mint(SECRET, now - 1, "AUTH_test", "test:tester", "a")),
        Some(mint(wrong_key, now + 600, "AUTH_admin", "admin:admin", "r")),
        Some(s.token("admin:admin", "admin")),
    ]
}

fn world() -> World {
    let s = Builder::new().toml(USERS).start();
    let owner = s.token("test:tester", "testing");
    let other = s.token("test2:tester2", "testing2");
    let (as_owner, as_other) = (
        As {
            s: &s,
            token: &owner,
        },
        As {
            s: &s,
            token: &other,
        },
    );
    let v = fixture_test(&as_owner);
    let versions = fixture_per_caller(&as_owner);
    fixture_test2(&as_other);
    let tokens = tokens(&s, &owner, &other);
    let mut subs = HashMap::new();
    subs.insert("{v}", v);
    subs.insert("{etag}", md5_hex(PRIVATE.as_bytes()));
    World {
        s,
        tokens,
        subs,
        versions,
    }
}

/// Every entry of the device with its kind, inode, size, and modification
/// and change times in nanoseconds: a write of data changes the mtime, of
/// an xattr the ctime, a create, rename or removal the parent directory's
/// mtime. Two equal listings mean nothing on the device changed; cheaper
/// than hashing contents, which a thousand cells would wait for.
fn tree_state(root: &std::path::Path) -> Vec<String> {
    use std::os::unix::fs::MetadataExt;
    let mut out = vec![format!(
        "{:?}",
        std::fs::symlink_metadata(root).map(|m| m.mtime_nsec()).ok()
    )];
    for e in walkdir::WalkDir::new(root).min_depth(1).sort_by_file_name() {
        let Ok(e) = e else { continue };
        let Ok(m) = e.metadata() else { continue };
        out.push(format!(
            "{} {:?} ino={} size={} mtime={}.{} ctime={}.{}",
            e.path().strip_prefix(root).unwrap_or(e.path()).display(),
            m.file_type(),
            m.ino(),
            m.size(),
            m.mtime(),
            m.mtime_nsec(),
            m.ctime(),
            m.ctime_nsec()
        ));
    }
    out
}

/// The status a cell is judged by: for bulk requests answered 200, the
/// body's `Response Status`.
fn effective(row: &Row, r: &Resp) -> u16 {
    if !row.bulk || r.status != 200 {
        return r.status;
    }
    let j: serde_json::Value = match serde_json::from_slice(&r.body) {
        Ok(j) => j,
        Err(_) => return 0,
    };
    j["Response Status"]
        .as_str()
        .and_then(|s| s.get(..3))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

fn matches(want: u16, got: u16) -> bool {
    if want == REFUSED {
        (400..500).contains(&got)
    } else {
        want == got
    }
}

/// Sends one cell; returns what went wrong, if anything.
fn run_cell(w: &World, row: &Row, who: usize, known: &mut Option<Vec<String>>) -> Option<String> {
    let path = w.fill(who, row.path);
    let mut req = w.as_who(who, row.method, &path);
    for (k, v) in &row.headers {
        req = req.header(k, &w.fill(who, v));
    }
    match &row.body {
        Payload::None => {}
        Payload::Text(t) => req = req.body(w.fill(who, t).as_bytes()),
        Payload::Tar(name) => req = req.body(&tar_of(&w.fill(who, name), b"from tar")),
    }
    if row.bulk {
        req = req.header("Accept", "application/json");
    }
    let want = row.want[who];
    let refused = !(200..300).contains(&want);
    let check_disk = row.writes() && refused;
    // The device as it was after the last write that went through (reads
    // change nothing, refused writes must not).
    let before = match (check_disk, known.take()) {
        (false, k) => {
            *known = k;
            None
        }
        (true, Some(k)) => Some(k),
        (true, None) => Some(tree_state(w.s.device())),
    };
    let r = req.send();
    let got = effective(row, &r);
    let name = format!("{} {path} as {}", row.method, WHO[who]);
    if !matches(want, got) {
        let body: String = String::from_utf8_lossy(&r.body).chars().take(160).collect();
        return Some(format!(
            "{name}: got {got} (HTTP {}), Swift answers {want}; {body:?}",
            r.status
        ));
    }
    // Only those who may read priv/o ever see its content, in any answer.
    let may_read_priv = matches!(WHO[who], "owner" | "ro" | "rw" | "adm" | "reseller");
    if (refused || !may_read_priv) && String::from_utf8_lossy(&r.body).contains(PRIVATE) {
        return Some(format!("{name}: answered {got} with the content of priv/o"));
    }
    if let Some(before) = before {
        let after = tree_state(w.s.device());
        if after != before {
            let added: Vec<_> = after.iter().filter(|l| !before.contains(l)).collect();
            let gone: Vec<_> = before.iter().filter(|l| !after.contains(l)).collect();
            return Some(format!(
                "{name}: refused ({got}) but the device changed: +{added:?} -{gone:?}"
            ));
        }
        *known = Some(after);
    }
    None
}

#[test]
fn every_caller_gets_swifts_answer_to_every_request() {
    let started = Instant::now();
    let w = world();
    let setup = started.elapsed();
    let rows = matrix();
    let mut failures = Vec::new();
    let mut cells = 0;
    let mut known = None;
    for row in &rows {
        for who in 0..WHO.len() {
            cells += 1;
            if row.writes() && (200..300).contains(&row.want[who]) {
                known = None;
            }
            if let Some(f) = run_cell(&w, row, who, &mut known) {
                failures.push(f);
                known = None;
            }
        }
    }
    eprintln!(
        "authorization matrix: {} rows x {} callers = {cells} cells, setup {:?}, all {:?}",
        rows.len(),
        WHO.len(),
        setup,
        started.elapsed()
    );
    assert!(
        failures.is_empty(),
        "{} of {cells} cells differ from Swift:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// One probe of [`dot_dot_never_reaches_another_account`]: a request as
/// test2's admin (or anonymous), and the AUTH_test data its answer must
/// not carry.
struct Probe {
    what: &'static str,
    anon: bool,
    method: &'static str,
    path: &'static str,
    headers: Vec<(&'static str, &'static str)>,
    body: Vec<u8>,
}

fn probe(what: &'static str, method: &'static str, path: &'static str) -> Probe {
    Probe {
        what,
        anon: false,
        method,
        path,
        headers: Vec::new(),
        body: Vec::new(),
    }
}

impl Probe {
    fn h(mut self, k: &'static str, v: &'static str) -> Probe {
        self.headers.push((k, v));
        self
    }
    fn body(mut self, b: &[u8]) -> Probe {
        self.body = b.to_vec();
        self
    }
    fn anon(mut self) -> Probe {
        self.anon = true;
        self
    }
}

/// What a 2xx answer to test2 or to an anonymous client must never show:
/// names and contents of AUTH_test's `priv` or of files beside the device.
fn leaks(body: &[u8]) -> Option<&'static str> {
    let text = String::from_utf8_lossy(body);
    [
        ("a name of AUTH_test/priv", "seg1"),
        ("a name of AUTH_test/priv", "del-"),
        ("the content of AUTH_test/priv/o", PRIVATE),
        ("the content of AUTH_test/priv/seg1", "seg-one"),
        ("a name outside the device", "secret.txt"),
        ("a file outside the device", OUTSIDE),
    ]
    .into_iter()
    .find(|(_, needle)| text.contains(needle))
    .map(|(what, _)| what)
}

/// The content of `<tempdir>/outside/secret.txt`, beside the device: a
/// stand-in for the host's files (the probes must not touch /etc itself,
/// the tests may run as root).
const OUTSIDE: &str = "outside the device";

/// The requests of [`dot_dot_never_reaches_another_account`], as test2's
/// admin unless marked anonymous; each pair writes something, then reads
/// it back. All fixed by the containment branch.
#[rustfmt::skip]
fn dot_dot_probes() -> Vec<Probe> {
    vec![
        // Listings.
        probe("listing prefix", "GET", "/v1/AUTH_test2/b?prefix=../../AUTH_test/priv/&format=json"),
        probe("listing prefix, plain", "GET", "/v1/AUTH_test2/b?prefix=../../AUTH_test/priv/"),
        probe("listing path", "GET", "/v1/AUTH_test2/b?path=../../AUTH_test/priv&format=json"),
        probe("listing delimiter", "GET", "/v1/AUTH_test2/b?prefix=../../AUTH_test/priv/&delimiter=/"),
        probe("public listing, no token", "GET", "/v1/AUTH_test2/bpub?prefix=../../AUTH_test/priv/&format=json").anon(),
        probe("versions listing", "GET", "/v1/AUTH_test2/bver?versions&prefix=../../AUTH_test/priv/&format=json"),
        probe("listing outside the device", "GET", "/v1/AUTH_test2/b?prefix=../../../outside/sec&format=json"),
        // Large objects.
        probe("DLO manifest", "PUT", "/v1/AUTH_test2/b/steal").h("X-Object-Manifest", "b/../../AUTH_test/priv/seg"),
        probe("DLO read", "GET", "/v1/AUTH_test2/b/steal"),
        probe("DLO copy", "COPY", "/v1/AUTH_test2/b/steal").h("Destination", "b/stolen"),
        probe("DLO copy read", "GET", "/v1/AUTH_test2/b/stolen"),
        probe("DLO outside the device", "PUT", "/v1/AUTH_test2/b/out").h("X-Object-Manifest", "b/../../../outside/sec"),
        probe("DLO outside the device, read", "GET", "/v1/AUTH_test2/b/out"),
        probe("public DLO", "PUT", "/v1/AUTH_test2/bpub/steal").h("X-Object-Manifest", "bpub/../../AUTH_test/priv/seg"),
        probe("public DLO read, no token", "GET", "/v1/AUTH_test2/bpub/steal").anon(),
        probe("SLO segment", "PUT", "/v1/AUTH_test2/b/slo-steal?multipart-manifest=put")
            .body(br#"[{"path":"/b/../../AUTH_test/priv/seg1"}]"#),
        probe("SLO read", "GET", "/v1/AUTH_test2/b/slo-steal"),
        // Links, copies, bulk.
        probe("symlink", "PUT", "/v1/AUTH_test2/b/ln-steal").h("X-Symlink-Target", "b/../../AUTH_test/priv/o"),
        probe("symlink read", "GET", "/v1/AUTH_test2/b/ln-steal"),
        probe("X-Copy-From", "PUT", "/v1/AUTH_test2/b/cp-steal").h("X-Copy-From", "b/../../AUTH_test/priv/o"),
        probe("X-Copy-From read", "GET", "/v1/AUTH_test2/b/cp-steal"),
        probe("COPY destination", "COPY", "/v1/AUTH_test2/b/o").h("Destination", "b/../../AUTH_test/priv/pwned"),
        probe("bulk delete", "POST", "/v1/AUTH_test2?bulk-delete").body(b"/b/../../AUTH_test/priv/o\n"),
        probe("tar member", "PUT", "/v1/AUTH_test2/b?extract-archive=tar")
            .body(&tar_of("../../AUTH_test/priv/pwn", b"pwned")),
    ]
}

/// `..` in a listing `prefix` or `path`, a DLO manifest, an SLO segment, a
/// symlink target, a copy source or destination, a bulk delete line or a
/// tar member never reaches another account (issue 11's critical finding):
/// no 2xx shows AUTH_test's names or data to test2 or to an anonymous
/// client, and AUTH_test's tree is unchanged. The store's validated names
/// and contained opens are fixed by the containment branch; until that is
/// merged this test is red here (the rest of the matrix is green).
#[test]
fn dot_dot_never_reaches_another_account() {
    let w = world();
    let s = &w.s;
    let other = w.tokens[2].clone().expect("test2's token");
    let theirs = s.device().join("AUTH_test");
    let outside = s.device().parent().expect("tempdir").join("outside");
    std::fs::create_dir_all(&outside).expect("outside dir");
    std::fs::write(outside.join("secret.txt"), OUTSIDE).expect("outside file");
    let before = (tree_state(&theirs), tree_state(&outside));
    let probes = dot_dot_probes();
    let mut failures = Vec::new();
    for p in &probes {
        let mut r = s.anon(p.method, p.path);
        if !p.anon {
            r = r.header("X-Auth-Token", &other);
        }
        for (k, v) in &p.headers {
            r = r.header(k, v);
        }
        let r = r.body(&p.body).send();
        if (200..300).contains(&r.status) {
            if let Some(what) = leaks(&r.body) {
                failures.push(format!(
                    "{}: {} {} answered {} with {what}",
                    p.what, p.method, p.path, r.status
                ));
            }
        }
    }
    let after = (tree_state(&theirs), tree_state(&outside));
    for (what, b, a) in [
        ("AUTH_test's tree", &before.0, &after.0),
        ("the directory beside the device", &before.1, &after.1),
    ] {
        if a != b {
            let added: Vec<_> = a.iter().filter(|l| !b.contains(l)).collect();
            let gone: Vec<_> = b.iter().filter(|l| !a.contains(l)).collect();
            failures.push(format!("{what} changed: +{added:?} -{gone:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "`..` reached AUTH_test:\n{}",
        failures.join("\n")
    );
}
