//! What the fuzz targets share: the name limits of the embedded config, the
//! checks every name that reaches the store must pass, and a tiny executor
//! for the async parsers (their bodies are always ready).

use std::future::Future;
use std::path::{Component, Path};
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use sofgate::store::name::{self, Limits};
use sofgate::store::sidecar;

/// Swift's default name limits, as the embedded config has them.
pub fn limits() -> Limits {
    Limits {
        max_account_name_length: 256,
        max_container_name_length: 256,
        max_object_name_length: 1024,
    }
}

/// Asserts what an object name that passed `check_object` must be: no
/// empty, `.` or `..` component (a trailing slash aside), no NUL, and its
/// path under a container stays beneath it, each component within
/// NAME_MAX, its sidecar name too.
pub fn assert_safe_object(obj: &str) {
    assert!(!obj.is_empty() && !obj.contains('\0'), "{obj:?}");
    let body = obj.strip_suffix('/').unwrap_or(obj);
    for c in body.split('/') {
        assert!(!c.is_empty() && c != "." && c != "..", "{obj:?}");
    }
    let p = name::ObjPath::from_parts(obj.to_string())
        .unwrap_or_else(|e| panic!("{obj:?} passed its check, not ObjPath's: {e}"));
    let disk = p.disk_path();
    for c in Path::new(&disk).components() {
        let Component::Normal(c) = c else {
            panic!("{obj:?} is {disk:?} on disk");
        };
        assert!(
            c.len() <= name::NAME_MAX,
            "{obj:?}: component of {} bytes",
            c.len()
        );
    }
    let sc = sidecar::sidecar_name(&p.disk_leaf());
    assert!(
        sc.len() <= name::NAME_MAX && !sc.contains('/'),
        "{obj:?}: sidecar name {sc:?}"
    );
}

/// Asserts what a container (or account) name that passed its check must
/// be: one plain path component.
pub fn assert_safe_dir(n: &str) {
    let mut it = Path::new(n).components();
    assert!(
        matches!((it.next(), it.next()), (Some(Component::Normal(c)), None) if c == n),
        "{n:?}"
    );
    assert!(n.len() <= name::NAME_MAX && !n.contains('\0'), "{n:?}");
}

/// Runs a future whose every await is ready at once (in-memory bodies).
pub fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

/// Splits `data` at `sep` into at most `n` fields (the last keeps the rest).
pub fn fields(data: &[u8], sep: u8, n: usize) -> Vec<&[u8]> {
    data.splitn(n, |b| *b == sep).collect()
}

/// Asserts that an object whose metadata (read from disk) is `m` can be
/// answered: the headers of its response build, whatever the values, and
/// the metadata survives being written back as JSON.
pub fn assert_servable(m: sofgate::store::meta::Meta) {
    use sofgate::store::meta;
    assert_eq!(meta::decode(&meta::encode(&m)).as_ref(), Some(&m));
    let info = sofgate::store::object::ObjectInfo { size: 10, meta: m };
    let b = sofgate::swift::object_core::object_headers(http::Response::builder(), &info)
        .header("Content-Length", info.size);
    if let Err(e) = b.body(()) {
        panic!("no response for metadata {:?}: {e}", info.meta);
    }
}
