//! Request targets and names: `parse_target` / `parse_query` on any path
//! and query, `normalize_object` and the name checks on any string. A name
//! the checks pass must never reach outside its container.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sofgate::http::request::{normalize_object, parse_query, parse_target, Target};
use sofgate::store::name::{check_account, check_container, check_object};
use sofgate_fuzz::{assert_safe_dir, assert_safe_object, limits};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let l = limits();
    let (path, query) = s.split_once('?').unwrap_or((s, ""));
    let _ = parse_query(Some(query));
    if let Ok(t) = parse_target(path) {
        let (account, container, object) = match &t {
            Target::Account { account } => (Some(account), None, None),
            Target::Container { account, container } => (Some(account), Some(container), None),
            Target::Object {
                account,
                container,
                object,
            } => {
                assert!(!object.is_empty());
                assert_eq!(&normalize_object(object), object, "{path:?}");
                (Some(account), Some(container), Some(object))
            }
            _ => (None, None, None),
        };
        if let Some(a) = account.filter(|a| check_account(a, &l).is_ok()) {
            assert_safe_dir(a);
        }
        if let Some(c) = container.filter(|c| check_container(c, &l).is_ok()) {
            assert_safe_dir(c);
        }
        if let Some(o) = object.filter(|o| check_object(o, &l).is_ok()) {
            assert_safe_object(o);
        }
    }
    // Any string, as a name from a header, a body or a listing parameter.
    let n = normalize_object(s);
    assert_eq!(normalize_object(&n), n);
    if check_object(s, &l).is_ok() {
        assert_safe_object(s);
    }
    if check_container(s, &l).is_ok() {
        assert_safe_dir(s);
    }
});
