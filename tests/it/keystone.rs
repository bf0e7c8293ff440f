//! Keystone authentication against a real Keystone (scripts/keystone-up.sh,
//! started here on loopback): every keystoneauth rule, token expiry and
//! revocation, Keystone stopped while sofgate runs, and S3 keys (EC2
//! credentials) checked through Keystone's s3tokens.
//!
//! One Keystone serves every test but the one that stops it; each test makes
//! its own projects and users (unique names) and starts its own sofgate.
//! When Keystone cannot be started the tests print why and pass, unless
//! `SOFGATE_REQUIRE_KEYSTONE=1` (CI) makes that a failure.

use crate::common;

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use common::s3::{assert_s3_error, elems, S3, TESTER};
use common::{Builder, Req, Resp, Server};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Digest;

/// A Keystone started by scripts/keystone-up.sh in a state directory.
struct Keystone {
    dir: PathBuf,
    addr: SocketAddr,
    admin_password: String,
}

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

impl Keystone {
    /// Starts one in `dir`; `Err` says why it could not.
    fn start(dir: &Path) -> Result<Keystone, String> {
        let out = Command::new(repo().join("scripts/keystone-up.sh"))
            .arg(dir)
            .output()
            .map_err(|e| format!("cannot run scripts/keystone-up.sh: {e}"))?;
        if !out.status.success() {
            // Leave nothing behind (it stops whatever the script started).
            let _ = Command::new(repo().join("scripts/keystone-down.sh"))
                .arg(dir)
                .status();
            return Err(format!(
                "scripts/keystone-up.sh failed:\n{}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let env = std::fs::read_to_string(dir.join("env")).map_err(|e| e.to_string())?;
        let get = |k: &str| {
            env.lines()
                .find_map(|l| l.strip_prefix(&format!("{k}=")))
                .map(str::to_string)
                .ok_or(format!("{k} missing from {}/env", dir.display()))
        };
        let port: u16 = get("KEYSTONE_PORT")?.parse().map_err(|_| "bad port")?;
        Ok(Keystone {
            dir: dir.to_path_buf(),
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            admin_password: get("KEYSTONE_ADMIN_PASSWORD")?,
        })
    }

    fn stop(&self) {
        let ok = Command::new(repo().join("scripts/keystone-down.sh"))
            .arg(&self.dir)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "keystone-down.sh {} failed", self.dir.display());
    }

    fn url(&self) -> String {
        format!("http://{}/v3", self.addr)
    }

    fn call(&self, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> Resp {
        let mut r =
            Req::new(self.addr, method, &format!("/v3{path}")).header("Accept", "application/json");
        if let Some(t) = token {
            r = r.header("X-Auth-Token", t);
        }
        if let Some(b) = body {
            r = r
                .header("Content-Type", "application/json")
                .body(b.to_string().as_bytes());
        }
        r.send()
    }

    /// A project-scoped token for `user` (name, default domain).
    fn login(&self, user: &str, password: &str, project: &str) -> String {
        let body = json!({"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": user, "password": password, "domain": {"id": "default"}}}},
            "scope": {"project": {"name": project, "domain": {"id": "default"}}}}});
        let r = self.call("POST", "/auth/tokens?nocatalog", None, Some(body));
        assert_eq!(r.status, 201, "login {user}: {r:?}");
        r.header("x-subject-token").expect("token").to_string()
    }

    fn admin(&self) -> String {
        self.login("admin", &self.admin_password, "admin")
    }

    /// Creates `what` (`projects`, `users`, `roles`) and returns its id.
    fn create(&self, admin: &str, what: &str, body: Value) -> String {
        let key = what.trim_end_matches('s');
        let r = self.call(
            "POST",
            &format!("/{what}"),
            Some(admin),
            Some(json!({ key: body })),
        );
        assert_eq!(r.status, 201, "create {what} {body}: {r:?}");
        r.json()[key]["id"].as_str().expect("id").to_string()
    }

    /// The id of role `name`, created when missing.
    fn role(&self, admin: &str, name: &str) -> String {
        let r = self.call("GET", &format!("/roles?name={name}"), Some(admin), None);
        assert_eq!(r.status, 200, "{r:?}");
        match r.json()["roles"][0]["id"].as_str() {
            Some(id) => id.to_string(),
            None => self.create(admin, "roles", json!({ "name": name })),
        }
    }

    fn grant(&self, admin: &str, project: &str, user: &str, role: &str) {
        let role = self.role(admin, role);
        let r = self.call(
            "PUT",
            &format!("/projects/{project}/users/{user}/roles/{role}"),
            Some(admin),
            None,
        );
        assert_eq!(r.status, 204, "grant: {r:?}");
    }

    fn revoke(&self, admin: &str, token: &str) {
        let r = Req::new(self.addr, "DELETE", "/v3/auth/tokens")
            .header("X-Auth-Token", admin)
            .header("X-Subject-Token", token)
            .send();
        assert_eq!(r.status, 204, "revoke: {r:?}");
    }
}

/// A project with users, made for one test.
struct Project {
    id: String,
    name: String,
}

struct User {
    id: String,
    name: String,
    password: String,
}

/// Unique names so tests (and runs) can share one Keystone.
fn unique(what: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis();
    format!("{what}{t:x}{}", N.fetch_add(1, Ordering::Relaxed))
}

fn project(k: &Keystone, admin: &str) -> Project {
    let name = unique("p");
    let id = k.create(
        admin,
        "projects",
        json!({"name": name, "domain_id": "default"}),
    );
    Project { id, name }
}

/// A user of `p` with `roles`.
fn user(k: &Keystone, admin: &str, p: &Project, roles: &[&str]) -> User {
    let name = unique("u");
    let password = format!("pw-{name}");
    let id = k.create(
        admin,
        "users",
        json!({"name": name, "password": password, "domain_id": "default"}),
    );
    for r in roles {
        k.grant(admin, &p.id, &id, r);
    }
    User { id, name, password }
}

fn login(k: &Keystone, u: &User, p: &Project) -> String {
    k.login(&u.name, &u.password, &p.name)
}

/// The shared Keystone, or why there is none. Stopped when the tests end.
fn shared() -> Option<&'static Keystone> {
    static KS: OnceLock<Result<Keystone, String>> = OnceLock::new();
    let ks = KS.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("sofgate-ks-test-{}", std::process::id()));
        let k = Keystone::start(&dir);
        if k.is_ok() {
            STOP_DIR.get_or_init(|| dir);
            // SAFETY: registers a plain function with no arguments to run at exit.
            unsafe { libc::atexit(stop_shared) };
        }
        k
    });
    usable(ks.as_ref())
}

static STOP_DIR: OnceLock<PathBuf> = OnceLock::new();

extern "C" fn stop_shared() {
    if let Some(dir) = STOP_DIR.get() {
        let _ = Command::new(repo().join("scripts/keystone-down.sh"))
            .arg(dir)
            .status();
    }
}

/// A started Keystone, or a printed reason to skip (a failure when required).
fn usable<'a>(k: Result<&'a Keystone, &String>) -> Option<&'a Keystone> {
    match k {
        Ok(k) => Some(k),
        Err(why) if std::env::var("SOFGATE_REQUIRE_KEYSTONE").is_ok_and(|v| v == "1") => {
            panic!("Keystone is required (SOFGATE_REQUIRE_KEYSTONE=1) but did not start: {why}")
        }
        Err(why) => {
            // Straight to stderr: the test harness captures eprintln! of
            // passing tests, and a skip must be seen.
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED: Keystone could not be started: {why}"
            );
            None
        }
    }
}

/// sofgate with Keystone on (a service user with role `service` in a project
/// of its own), plus `extra` keys in `[keystone]`. A generous timeout: on a
/// busy test machine Keystone can take seconds to answer.
fn sofgate(k: &Keystone, admin: &str, extra: &str) -> Server {
    let svc_project = project(k, admin);
    let svc = user(k, admin, &svc_project, &["service"]);
    Builder::new()
        .toml(&format!(
            "[keystone]\nauth_url = \"{}\"\nusername = \"{}\"\npassword = \"{}\"\n\
             project_name = \"{}\"\ntimeout_secs = 20\n{extra}",
            k.url(),
            svc.name,
            svc.password,
            svc_project.name
        ))
        .start()
}

fn as_(s: &Server, method: &str, path: &str, token: &str) -> Req {
    s.anon(method, path).header("X-Auth-Token", token)
}

fn status(r: Req) -> u16 {
    r.send().status
}

#[test]
fn operator_owns_its_project_account_members_need_acls() {
    let Some(k) = shared() else { return };
    let admin = k.admin();
    let s = sofgate(k, &admin, "");
    let p = project(k, &admin);
    let q = project(k, &admin);
    let op_u = user(k, &admin, &p, &["swiftoperator"]);
    let op = login(k, &op_u, &p);
    let bob_u = user(k, &admin, &p, &["member"]);
    let bob = login(k, &bob_u, &p);
    let other_op = login(k, &user(k, &admin, &q, &["admin"]), &q);
    let acct = format!("/v1/AUTH_{}", p.id);

    assert_eq!(status(as_(&s, "PUT", &format!("{acct}/c"), &op)), 201);
    as_(&s, "PUT", &format!("{acct}/c/o"), &op)
        .body(b"hello")
        .send_expect(201);
    assert_eq!(status(as_(&s, "GET", &acct, &op)), 200);
    // A member of the project, another project's operator, and nobody.
    assert_eq!(status(as_(&s, "GET", &format!("{acct}/c/o"), &bob)), 403);
    assert_eq!(status(as_(&s, "PUT", &format!("{acct}/c2"), &bob)), 403);
    assert_eq!(
        status(as_(&s, "GET", &format!("{acct}/c/o"), &other_op)),
        403
    );
    assert_eq!(
        status(as_(&s, "PUT", &format!("{acct}/c3"), &other_op)),
        403
    );
    assert_eq!(status(s.anon("GET", &format!("{acct}/c/o"))), 401);
    // A token Keystone does not know is anonymous: 401.
    assert_eq!(
        status(as_(&s, "GET", &format!("{acct}/c/o"), "gAAAAAbogus")),
        401
    );

    // Read ACLs by ids and by names, then a write ACL.
    for acl in [
        format!("{}:{}", p.id, bob_u.id),
        format!("{}:{}", p.name, bob_u.name),
        format!("*:{}", bob_u.id),
        "member".to_string(),
    ] {
        as_(&s, "POST", &format!("{acct}/c"), &op)
            .header("X-Container-Read", &acl)
            .send_expect(204);
        let r = as_(&s, "GET", &format!("{acct}/c/o"), &bob).send();
        assert_eq!(
            (r.status, r.body.as_slice()),
            (200, &b"hello"[..]),
            "ACL {acl}"
        );
        assert_eq!(
            status(as_(&s, "PUT", &format!("{acct}/c/b"), &bob).body(b"x")),
            403
        );
    }
    // The same ACL entry by name does not open it to a namesake elsewhere,
    // and a bare project id is no grant.
    as_(&s, "POST", &format!("{acct}/c"), &op)
        .header("X-Container-Read", &p.id)
        .send_expect(204);
    assert_eq!(status(as_(&s, "GET", &format!("{acct}/c/o"), &bob)), 403);
    as_(&s, "POST", &format!("{acct}/c"), &op)
        .header("X-Container-Write", &format!("{}:{}", p.id, bob_u.id))
        .send_expect(204);
    assert_eq!(
        status(as_(&s, "PUT", &format!("{acct}/c/b"), &bob).body(b"x")),
        201
    );
    // Another project's operator is a stranger there, ACL or not.
    assert_eq!(
        status(as_(&s, "PUT", &format!("{acct}/c/z"), &other_op).body(b"x")),
        403
    );

    // Across projects (both in the default domain) names match too, also
    // for the destination account of a COPY.
    let qacct = format!("/v1/AUTH_{}", q.id);
    as_(&s, "PUT", &format!("{qacct}/in"), &other_op)
        .header("X-Container-Write", &format!("{}:{}", p.name, op_u.name))
        .send_expect(201);
    let r = as_(&s, "COPY", &format!("{acct}/c/o"), &op)
        .header("Destination-Account", &format!("AUTH_{}", q.id))
        .header("Destination", "in/copied")
        .send();
    assert_eq!(r.status, 201, "cross-account COPY by name ACL: {r:?}");
    assert_eq!(
        status(as_(&s, "PUT", &format!("{qacct}/in/x"), &op).body(b"x")),
        201
    );
    assert_eq!(
        status(as_(&s, "PUT", &format!("{qacct}/in/x"), &bob).body(b"x")),
        403
    );

    // Tempauth works beside Keystone, and /info says keystoneauth.
    s.req("PUT", "/v1/AUTH_test/t").send_expect(201);
    let info = s.anon("GET", "/info").send().json();
    assert!(info.get("keystoneauth").is_some(), "{info}");
    // The project's domain is kept as keystoneauth keeps it.
    let domain = xattr_meta(&s.device().join(format!("AUTH_{}", p.id)));
    assert_eq!(
        domain["X-Account-Sysmeta-Project-Domain-Id"][0], "default",
        "{domain}"
    );
    let r = as_(&s, "HEAD", &acct, &op).send();
    assert_eq!(
        r.header("x-account-project-domain-id"),
        Some("default"),
        "{r:?}"
    );
}

/// The account metadata sofgate keeps in xattrs (gluster-swift layout).
fn xattr_meta(dir: &Path) -> Value {
    let raw = xattr::get(dir, "user.swift.metadata")
        .ok()
        .flatten()
        .unwrap_or_default();
    serde_json::from_slice(&raw).unwrap_or(Value::Null)
}

#[test]
fn reseller_admin_acts_on_every_account() {
    let Some(k) = shared() else { return };
    let admin = k.admin();
    let s = sofgate(k, &admin, "");
    let (p, q) = (project(k, &admin), project(k, &admin));
    let ra = login(k, &user(k, &admin, &q, &["ResellerAdmin"]), &q);
    let acct = format!("/v1/AUTH_{}", p.id);
    assert_eq!(status(as_(&s, "PUT", &format!("{acct}/c"), &ra)), 201);
    assert_eq!(
        status(as_(&s, "PUT", &format!("{acct}/c/o"), &ra).body(b"x")),
        201
    );
    assert_eq!(status(as_(&s, "GET", &format!("{acct}/c/o"), &ra)), 200);
    assert_eq!(status(as_(&s, "DELETE", &format!("{acct}/c/o"), &ra)), 204);
    // Made by someone outside the project: its domain is unknown, until an
    // operator of the project itself comes by.
    let domain = || {
        let meta = xattr_meta(&s.device().join(format!("AUTH_{}", p.id)));
        meta["X-Account-Sysmeta-Project-Domain-Id"][0].clone()
    };
    assert_eq!(domain(), "_unknown");
    // Only a reseller admin may set account quotas.
    as_(&s, "POST", &acct, &ra)
        .header("X-Account-Quota-Bytes", "100")
        .send_expect(204);
    let op = login(k, &user(k, &admin, &p, &["admin"]), &p);
    as_(&s, "POST", &acct, &op)
        .header("X-Account-Quota-Bytes", "1000")
        .send_expect(403);
    assert_eq!(domain(), "default");
}

#[test]
fn service_prefix_needs_a_service_token_with_a_service_role() {
    let Some(k) = shared() else { return };
    let admin = k.admin();
    let s = sofgate(
        k,
        &admin,
        "[[keystone.service_prefix]]\nprefix = \"SERVICE_\"\nservice_roles = [\"service\"]\n",
    );
    let p = project(k, &admin);
    let sp = project(k, &admin);
    let op = login(k, &user(k, &admin, &p, &["admin"]), &p);
    let glance = login(k, &user(k, &admin, &sp, &["service"]), &sp);
    let plain = login(k, &user(k, &admin, &sp, &["member"]), &sp);
    let svc = format!("/v1/SERVICE_{}/c", p.id);
    // The operator alone, the service user alone, the wrong service user.
    assert_eq!(status(as_(&s, "PUT", &svc, &op)), 403);
    assert_eq!(status(as_(&s, "PUT", &svc, &glance)), 403);
    assert_eq!(
        status(as_(&s, "PUT", &svc, &op).header("X-Service-Token", &plain)),
        403
    );
    // Both: owner of SERVICE_<project>.
    let both = |m: &str, path: &str| as_(&s, m, path, &op).header("X-Service-Token", &glance);
    assert_eq!(status(both("PUT", &svc)), 201);
    assert_eq!(status(both("PUT", &format!("{svc}/o")).body(b"x")), 201);
    assert_eq!(status(both("GET", &format!("{svc}/o"))), 200);
    // An invalid service token makes the request anonymous.
    as_(&s, "GET", &format!("{svc}/o"), &op)
        .header("X-Service-Token", "gAAAAAbogus")
        .send_expect(401);
    // The plain prefix needs no service token.
    assert_eq!(
        status(as_(&s, "PUT", &format!("/v1/AUTH_{}/c", p.id), &op)),
        201
    );
}

#[test]
fn reader_roles_read_but_never_write() {
    let Some(k) = shared() else { return };
    let admin = k.admin();
    let s = sofgate(
        k,
        &admin,
        "project_reader_roles = [\"reader\"]\nsystem_reader_roles = [\"auditor\"]\n",
    );
    let (p, q) = (project(k, &admin), project(k, &admin));
    let op = login(k, &user(k, &admin, &p, &["admin"]), &p);
    let reader = login(k, &user(k, &admin, &p, &["reader"]), &p);
    let foreign_reader = login(k, &user(k, &admin, &q, &["reader"]), &q);
    let auditor = login(k, &user(k, &admin, &q, &["auditor"]), &q);
    let acct = format!("/v1/AUTH_{}", p.id);
    assert_eq!(status(as_(&s, "PUT", &format!("{acct}/c"), &op)), 201);
    assert_eq!(
        status(as_(&s, "PUT", &format!("{acct}/c/o"), &op).body(b"x")),
        201
    );
    for t in [&reader, &auditor] {
        assert_eq!(status(as_(&s, "GET", &format!("{acct}/c/o"), t)), 200);
        assert_eq!(status(as_(&s, "HEAD", &format!("{acct}/c/o"), t)), 200);
        assert_eq!(status(as_(&s, "GET", &format!("{acct}/c"), t)), 200);
        assert_eq!(status(as_(&s, "GET", &acct, t)), 200);
        assert_eq!(
            status(as_(&s, "PUT", &format!("{acct}/c/n"), t).body(b"x")),
            403
        );
        assert_eq!(status(as_(&s, "DELETE", &format!("{acct}/c/o"), t)), 403);
        assert_eq!(status(as_(&s, "POST", &format!("{acct}/c"), t)), 403);
        assert_eq!(status(as_(&s, "PUT", &format!("{acct}/d"), t)), 403);
    }
    // A project reader reads its own project only.
    assert_eq!(
        status(as_(&s, "GET", &format!("{acct}/c/o"), &foreign_reader)),
        403
    );
    // Readers are no owners: ACLs stay hidden from them.
    as_(&s, "POST", &format!("{acct}/c"), &op)
        .header("X-Container-Read", ".r:example.com")
        .send_expect(204);
    let r = as_(&s, "HEAD", &format!("{acct}/c"), &reader).send();
    assert_eq!(r.header("x-container-read"), None, "{r:?}");
    let r = as_(&s, "HEAD", &format!("{acct}/c"), &op).send();
    assert_eq!(
        r.header("x-container-read"),
        Some(".r:example.com"),
        "{r:?}"
    );
}

/// ISO 8601 UTC, as Keystone takes it.
fn iso(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    // Civil date from days since 1970-01-01.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.000000",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

#[test]
fn expired_token_is_refused_though_the_cache_would_keep_it() {
    let Some(k) = shared() else { return };
    let admin = k.admin();
    // A long cache: only the token's own expiry can end it.
    let s = sofgate(k, &admin, "cache_secs = 3600\n");
    let p = project(k, &admin);
    let u = user(k, &admin, &p, &["admin"]);
    let own = login(k, &u, &p);
    // An application credential caps its tokens' life at its own expiry.
    let ends = SystemTime::now() + Duration::from_secs(12);
    let r = k.call(
        "POST",
        &format!("/users/{}/application_credentials", u.id),
        Some(&own),
        Some(json!({"application_credential": {"name": unique("ac"), "expires_at": iso(ends)}})),
    );
    assert_eq!(r.status, 201, "{r:?}");
    let cred = r.json()["application_credential"].clone();
    let body = json!({"auth": {"identity": {"methods": ["application_credential"],
        "application_credential": {"id": cred["id"], "secret": cred["secret"]}}}});
    let r = k.call("POST", "/auth/tokens?nocatalog", None, Some(body));
    assert_eq!(r.status, 201, "{r:?}");
    let short = r.header("x-subject-token").unwrap().to_string();
    let c = format!("/v1/AUTH_{}/c", p.id);
    assert_eq!(status(as_(&s, "PUT", &c, &short)), 201);
    assert_eq!(status(as_(&s, "GET", &c, &short)), 204);
    let wait = ends.duration_since(SystemTime::now()).unwrap_or_default() + Duration::from_secs(2);
    std::thread::sleep(wait);
    let r = as_(&s, "GET", &c, &short).send();
    assert_eq!(r.status, 401, "an expired token still works: {r:?}");
    assert_eq!(status(as_(&s, "GET", &c, &own)), 204);
}

#[test]
fn revoked_token_is_refused_once_its_cache_time_is_over() {
    let Some(k) = shared() else { return };
    let admin = k.admin();
    let quick = sofgate(k, &admin, "cache_secs = 2\n");
    let slow = sofgate(k, &admin, "cache_secs = 3600\n");
    let p = project(k, &admin);
    let u = user(k, &admin, &p, &["admin"]);
    let t = login(k, &u, &p);
    let c = format!("/v1/AUTH_{}/c", p.id);
    assert_eq!(status(as_(&quick, "PUT", &c, &t)), 201);
    assert_eq!(status(as_(&slow, "PUT", &c, &t)), 201);
    k.revoke(&admin, &t);
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        status(as_(&quick, "HEAD", &c, &t)),
        401,
        "revoked token accepted"
    );
    // The node that cached it longer trusts it for its cache time, as
    // authtoken does (that is what the cache is for).
    assert_eq!(status(as_(&slow, "HEAD", &c, &t)), 204);
    // A fresh token of the same user works on both.
    let t2 = login(k, &u, &p);
    assert_eq!(status(as_(&quick, "HEAD", &c, &t2)), 204);
}

/// Stops a Keystone when the test ends, passed or not.
struct StopOnDrop<'a>(&'a Keystone);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        let _ = Command::new(repo().join("scripts/keystone-down.sh"))
            .arg(&self.0.dir)
            .status();
    }
}

fn tempurl(key: &str, path: &str) -> String {
    let expires = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 600;
    let mut m = Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).unwrap();
    m.update(format!("GET\n{expires}\n{path}").as_bytes());
    let sig = hex::encode(m.finalize().into_bytes());
    format!("{path}?temp_url_sig={sig}&temp_url_expires={expires}")
}

#[test]
fn keystone_stopped_mid_run_503_for_tokens_while_anonymous_and_tempurl_work() {
    let dir = std::env::temp_dir().join(format!("sofgate-ks-stop-{}", std::process::id()));
    let started = Keystone::start(&dir);
    let Some(k) = usable(started.as_ref()) else {
        return;
    };
    let _stop = StopOnDrop(k);
    let admin = k.admin();
    let s = sofgate(k, &admin, "cache_secs = 1\n");
    let p = project(k, &admin);
    let u = user(k, &admin, &p, &["admin"]);
    let op = login(k, &u, &p);
    let acct = format!("/v1/AUTH_{}", p.id);
    let put = |path: &str, h: &[(&str, &str)], body: &[u8]| {
        let mut r = as_(&s, "PUT", &format!("{acct}/{path}"), &op).body(body);
        for (k, v) in h {
            r = r.header(k, v);
        }
        let r = r.send();
        assert!(r.status == 201 || r.status == 202, "PUT {path}: {r:?}");
    };
    put("pub", &[("X-Container-Read", ".r:*,.rlistings")], b"");
    put("pub/o", &[], b"public bytes");
    put("site", &[("X-Container-Read", ".r:*,.rlistings")], b"");
    put("site/index.html", &[], b"<p>site</p>");
    put("priv", &[], b"");
    put("priv/o", &[], b"private bytes");
    as_(&s, "POST", &format!("{acct}/site"), &op)
        .header("X-Container-Meta-Web-Index", "index.html")
        .send_expect(204);
    as_(&s, "POST", &acct, &op)
        .header("X-Account-Meta-Temp-URL-Key", "tempkey")
        .send_expect(204);

    let down_at = Instant::now();
    k.stop();
    std::thread::sleep(Duration::from_millis(1200)); // the cached answer ends
                                                     // Keystone tokens: 503, quickly (the token was valid, or is unknown).
    let t0 = Instant::now();
    as_(&s, "GET", &format!("{acct}/priv/o"), &op).send_expect(503);
    assert!(
        t0.elapsed() < Duration::from_secs(4),
        "503 took {:?}",
        t0.elapsed()
    );
    assert_eq!(
        status(as_(&s, "GET", &format!("{acct}/pub/o"), "gAAAAAnever-seen")),
        503
    );
    // Everything that needs no Keystone token still works.
    let r = s.anon("GET", &format!("{acct}/pub/o")).send();
    assert_eq!((r.status, r.body.as_slice()), (200, &b"public bytes"[..]));
    let r = s.anon("GET", &format!("{acct}/pub")).send();
    assert_eq!((r.status, r.text()), (200, "o\n".to_string()), "{r:?}");
    let r = s.anon("GET", &format!("{acct}/site/")).send();
    assert_eq!(
        (r.status, r.text().contains("site")),
        (200, true),
        "staticweb: {r:?}"
    );
    let r = s
        .anon("GET", &tempurl("tempkey", &format!("{acct}/priv/o")))
        .send();
    assert_eq!(
        (r.status, r.body.as_slice()),
        (200, &b"private bytes"[..]),
        "tempurl"
    );
    assert_eq!(status(s.anon("GET", &format!("{acct}/priv/o"))), 401);
    assert_eq!(
        s.req("PUT", "/v1/AUTH_test/still").send().status,
        201,
        "tempauth"
    );
    assert!(s.is_alive());
    eprintln!(
        "Keystone down for {:?} during the checks",
        down_at.elapsed()
    );
}

/// An EC2 credential (S3 key) of `u` on `p`, made by the admin: `(access,
/// secret)`.
fn ec2(k: &Keystone, admin: &str, u: &User, p: &Project) -> (String, String) {
    let r = k.call(
        "POST",
        &format!("/users/{}/credentials/OS-EC2", u.id),
        Some(admin),
        Some(json!({ "tenant_id": p.id })),
    );
    assert_eq!(r.status, 201, "ec2 credential: {r:?}");
    let c = &r.json()["credential"];
    let s = |k: &str| c[k].as_str().expect(k).to_string();
    (s("access"), s("secret"))
}

/// ListBuckets signed with SigV4 by `key`.
fn list_buckets(s: &Server, key: &(String, String)) -> Resp {
    S3 {
        server: s,
        access: &key.0,
        secret: &key.1,
    }
    .get("/")
}

/// ListBuckets with SigV2 header authentication.
fn list_buckets_v2(s: &Server, key: &(String, String)) -> Resp {
    let date = httpdate(SystemTime::now());
    let mut m = Hmac::<sha1::Sha1>::new_from_slice(key.1.as_bytes()).unwrap();
    m.update(format!("GET\n\n\n{date}\n/").as_bytes());
    let sig = base64::engine::general_purpose::STANDARD.encode(m.finalize().into_bytes());
    s.anon("GET", "/")
        .header("Date", &date)
        .header("Authorization", &format!("AWS {}:{sig}", key.0))
        .send()
}

/// An RFC 1123 date, as SigV2 signs it.
fn httpdate(t: SystemTime) -> String {
    let iso = iso(t); // 2026-12-05T21:10:00.000000
    let secs = t.duration_since(UNIX_EPOCH).unwrap().as_secs();
    let day = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][(secs / 86400 % 7) as usize];
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ][iso[5..7].parse::<usize>().unwrap() - 1];
    format!(
        "{day}, {} {month} {} {} GMT",
        &iso[8..10],
        &iso[0..4],
        &iso[11..19]
    )
}

/// ListBuckets with SigV4 and a signed aws-chunked payload (no body): its
/// chunks can only be checked with the key's secret.
fn list_buckets_signed_chunks(s: &Server, key: &(String, String)) -> Resp {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let amz = sofgate::s3::time::format_amz(now);
    let host = s.addr().to_string();
    let payload = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD";
    let names = "host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length";
    let canonical = format!(
        "GET\n/\n\nhost:{host}\nx-amz-content-sha256:{payload}\nx-amz-date:{amz}\n\
         x-amz-decoded-content-length:0\n\n{names}\n{payload}"
    );
    let scope = format!("{}/us-east-1/s3/aws4_request", &amz[..8]);
    let sts = format!(
        "AWS4-HMAC-SHA256\n{amz}\n{scope}\n{}",
        hex::encode(sha2::Sha256::digest(&canonical))
    );
    let mut k = format!("AWS4{}", key.1).into_bytes();
    for p in scope.split('/').chain([sts.as_str()]) {
        let mut m = Hmac::<sha2::Sha256>::new_from_slice(&k).unwrap();
        m.update(p.as_bytes());
        k = m.finalize().into_bytes().to_vec();
    }
    let auth = format!(
        "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={names}, Signature={}",
        key.0,
        hex::encode(k)
    );
    s.anon("GET", "/")
        .header("Host", &host)
        .header("x-amz-content-sha256", payload)
        .header("x-amz-date", &amz)
        .header("x-amz-decoded-content-length", "0")
        .header("Authorization", &auth)
        .send()
}

#[test]
fn s3_keys_act_as_their_user_on_their_project() {
    let Some(k) = shared() else { return };
    let admin = k.admin();
    let s = sofgate(k, &admin, "");
    let (p, q) = (project(k, &admin), project(k, &admin));
    let op_u = user(k, &admin, &p, &["swiftoperator"]);
    let op = login(k, &op_u, &p);
    let op_key = ec2(k, &admin, &op_u, &p);
    let member_key = ec2(k, &admin, &user(k, &admin, &p, &["member"]), &p);
    let ra_u = user(k, &admin, &q, &["ResellerAdmin"]);
    let ra_key = ec2(k, &admin, &ra_u, &q);
    let acct = format!("/v1/AUTH_{}", p.id);
    assert_eq!(status(as_(&s, "PUT", &format!("{acct}/bucket1"), &op)), 201);

    // The operator's key lists its project's account, SigV4 and SigV2.
    for r in [list_buckets(&s, &op_key), list_buckets_v2(&s, &op_key)] {
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(elems(&r, "Name"), ["bucket1"], "{r:?}");
        // The owner as Swift's s3api shows it: project:user, not the key.
        let owner = format!("{}:{}", p.name, op_u.name);
        assert_eq!(elems(&r, "ID"), [owner], "{r:?}");
    }
    // A member without an operator role may not list it.
    assert_s3_error(&list_buckets(&s, &member_key), 403, "AccessDenied");
    // A reseller admin's key lists its own project's account (empty).
    let r = list_buckets(&s, &ra_key);
    assert_eq!((r.status, elems(&r, "Name").len()), (200, 0), "{r:?}");
    // A wrong secret, an unknown key.
    let wrong = (op_key.0.clone(), format!("x{}", op_key.1));
    assert_s3_error(&list_buckets(&s, &wrong), 403, "SignatureDoesNotMatch");
    assert_s3_error(&list_buckets_v2(&s, &wrong), 403, "SignatureDoesNotMatch");
    let unknown = (
        "0123456789abcdef0123456789abcdef".to_string(),
        op_key.1.clone(),
    );
    assert_s3_error(&list_buckets(&s, &unknown), 403, "InvalidAccessKeyId");
    // The service user here may not read secrets: signed chunks cannot be
    // checked, and are refused.
    let r = list_buckets_signed_chunks(&s, &op_key);
    assert_s3_error(&r, 501, "NotImplemented");
    assert!(r.text().contains("secret"), "{r:?}");
    // Tempauth keys work beside Keystone's.
    let r = S3::new(&s, TESTER).get("/");
    assert_eq!(r.status, 200, "{r:?}");
}

/// sofgate whose service user has the `admin` role, so Keystone gives it
/// EC2 secrets.
fn sofgate_reading_secrets(k: &Keystone, admin: &str, extra: &str) -> Server {
    let svc_project = project(k, admin);
    let svc = user(k, admin, &svc_project, &["service", "admin"]);
    Builder::new()
        .toml(&format!(
            "[keystone]\nauth_url = \"{}\"\nusername = \"{}\"\npassword = \"{}\"\n\
             project_name = \"{}\"\ntimeout_secs = 20\n{extra}",
            k.url(),
            svc.name,
            svc.password,
            svc_project.name
        ))
        .start()
}

#[test]
fn s3_keys_with_secrets_cached_survive_keystone_down_others_get_503() {
    let dir = std::env::temp_dir().join(format!("sofgate-ks-s3stop-{}", std::process::id()));
    let started = Keystone::start(&dir);
    let Some(k) = usable(started.as_ref()) else {
        return;
    };
    let _stop = StopOnDrop(k);
    let admin = k.admin();
    let plain = sofgate(k, &admin, "");
    let caching = sofgate_reading_secrets(k, &admin, "secret_cache_secs = 600\n");
    let p = project(k, &admin);
    let op_u = user(k, &admin, &p, &["admin"]);
    let op_key = ec2(k, &admin, &op_u, &p);
    let other_key = ec2(k, &admin, &user(k, &admin, &p, &["admin"]), &p);
    for s in [&plain, &caching] {
        assert_eq!(list_buckets(s, &op_key).status, 200);
    }
    // With the secret, signed chunks are checked, not refused.
    let r = list_buckets_signed_chunks(&caching, &op_key);
    assert_eq!(r.status, 200, "{r:?}");

    k.stop();
    // The cached key: its signature is checked here, Keystone not asked.
    let r = list_buckets(&caching, &op_key);
    assert_eq!(r.status, 200, "{r:?}");
    let wrong = (op_key.0.clone(), format!("x{}", op_key.1));
    assert_s3_error(&list_buckets(&caching, &wrong), 503, "ServiceUnavailable");
    // which did not evict the right one.
    assert_eq!(list_buckets(&caching, &op_key).status, 200);
    // Keys whose answer is not cached: 503, quickly.
    let t0 = Instant::now();
    assert_s3_error(&list_buckets(&plain, &op_key), 503, "ServiceUnavailable");
    assert!(t0.elapsed() < Duration::from_secs(4), "{:?}", t0.elapsed());
    assert_s3_error(
        &list_buckets(&caching, &other_key),
        503,
        "ServiceUnavailable",
    );
    // Tempauth keys never wait for Keystone.
    assert_eq!(S3::new(&plain, TESTER).get("/").status, 200);
}
