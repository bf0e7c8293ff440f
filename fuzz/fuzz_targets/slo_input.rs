//! SLO manifests as clients upload them (`?multipart-manifest=put`): any
//! body is a list of checked segments or a 400 listing the problems.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sofgate::http::error::ApiError;
use sofgate::swift::range::{resolve, Ranges};
use sofgate::swift::slo::{parse_input, Input};

fuzz_target!(|data: &[u8]| {
    match parse_input(data, "c", "m") {
        Err(ApiError::BadRequest(msg)) => assert!(!msg.is_empty()),
        Err(e) => panic!("not a 400: {e:?}"),
        Ok(segs) => {
            let paths = segs
                .iter()
                .filter(|s| matches!(s, Input::Path { .. }))
                .count();
            assert!(segs.is_empty() || paths > 0, "inline data alone accepted");
            for s in &segs {
                match s {
                    Input::Data(d) => assert!(!d.is_empty()),
                    Input::Path { path, range, .. } => {
                        let t = path.trim_start_matches('/');
                        assert_ne!(t.split_once('/'), Some(("c", "m")));
                        if let Some(r) = range {
                            let got = resolve(Some(&format!("bytes={r}")), u64::MAX / 4);
                            assert!(matches!(got, Ranges::Parts(p) if p.len() == 1), "{r:?}");
                        }
                    }
                }
            }
        }
    }
});
