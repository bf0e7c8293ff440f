//! Archives for `?extract-archive`: any bytes pass through the header guard
//! into the tar reader without a panic or an unbounded allocation (libFuzzer's
//! malloc limit catches those), and every member name that passes its check
//! stays inside the account.
#![no_main]
use std::io::Read;

use libfuzzer_sys::fuzz_target;
use sofgate::swift::bulk::{member_path, member_target, HeaderGuard};
use sofgate_fuzz::{assert_safe_dir, assert_safe_object, limits};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, body)) = data.split_first() else {
        return;
    };
    let l = limits();
    let max_path = l.max_object_name_length + l.max_container_name_length + 2;
    let guard = HeaderGuard::new(body, max_path + 512, 64 * 1024);
    let mut archive = tar::Archive::new(guard);
    let Ok(entries) = archive.entries() else {
        return;
    };
    let base = if mode & 1 == 0 { "" } else { "c/pre" };
    for entry in entries {
        let Ok(mut entry) = entry else { return };
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let path = member_path(base, &entry.path_bytes());
        if let Ok(p) = String::from_utf8(path) {
            if !p.contains('\0') {
                if let Ok(Some((c, o))) = member_target(&p, &l) {
                    assert_safe_dir(c);
                    assert_safe_object(&o);
                }
            }
        }
        if let Ok(Some(pax)) = entry.pax_extensions() {
            for e in pax.flatten() {
                let _ = (e.key(), e.value());
            }
        }
        let mut buf = [0u8; 4096];
        while let Ok(n) = entry.read(&mut buf) {
            if n == 0 {
                break;
            }
        }
    }
});
