//! Object metadata as JSON (the `user.swift.metadata` xattrs and sidecar
//! files): any bytes decode or are refused without a panic; what decodes can
//! be answered and written back unchanged; any map round-trips as what
//! `sanitize` keeps of it.
#![no_main]
use libfuzzer_sys::arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use sofgate::store::meta::{self, Meta};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode & 1 == 0 {
        if let Some(m) = meta::decode(rest) {
            sofgate_fuzz::assert_servable(m);
        }
    } else if let Ok(m) = Meta::arbitrary_take_rest(Unstructured::new(rest)) {
        let kept = meta::sanitize(m.clone());
        assert_eq!(meta::decode(&meta::encode(&m)).as_ref(), Some(&kept));
        assert_eq!(meta::decode(&meta::encode_pairs(&m)), Some(kept));
    }
});
