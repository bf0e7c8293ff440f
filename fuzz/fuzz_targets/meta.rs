//! Object metadata as JSON (the `user.swift.metadata` xattrs and sidecar
//! files): any bytes decode or are refused without a panic; what decodes can
//! be answered and written back unchanged; any map round-trips.
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
        assert_eq!(meta::decode(&meta::encode(&m)), Some(m.clone()));
        let pairs = meta::encode_pairs(&m);
        assert_eq!(meta::decode(&pairs), Some(m));
    }
});
