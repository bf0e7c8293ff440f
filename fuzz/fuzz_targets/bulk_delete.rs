//! Bulk delete bodies: any body gives at most 10,000 names, each line
//! bounded, and a name that passes its check names a container and an
//! object that stay inside the account.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sofgate::swift::bulk::{delete_target, read_names, MAX_DELETES_PER_REQUEST};
use sofgate_fuzz::{assert_safe_dir, assert_safe_object, limits};

fuzz_target!(|data: &[u8]| {
    let l = limits();
    let max_path = l.max_object_name_length + l.max_container_name_length + 2;
    let Ok(names) = read_names(&mut &data[..], max_path) else {
        return;
    };
    assert!(names.len() <= MAX_DELETES_PER_REQUEST);
    for raw in &names {
        let Ok(n) = std::str::from_utf8(raw) else {
            continue;
        };
        if n.contains('\0') {
            continue; // answered 412, as the handler does
        }
        if let Ok((container, obj)) = delete_target(n, &l) {
            assert_safe_dir(container);
            if let Some(obj) = obj {
                assert_safe_object(&obj);
            }
        }
    }
});
