//! Legacy pickled metadata (gluster-swift): any bytes decode to plain values
//! or are refused, never run code or panic; what decodes can be answered
//! once sanitized, as `meta::read` does.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(m) = sofgate::store::pickle::decode(data) {
        sofgate_fuzz::assert_servable(sofgate::store::meta::sanitize(m));
    }
});
