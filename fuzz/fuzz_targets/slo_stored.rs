//! SLO manifests as stored on disk (untrusted: anyone with the mount can
//! write one): any bytes give segments, an ETag and a size, or a clean error.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sofgate::swift::slo::{annotate, etag_and_size, parse_stored};

fuzz_target!(|data: &[u8]| {
    let Ok(stored) = parse_stored(data) else {
        return;
    };
    let Ok(segs) = annotate(&stored) else { return };
    assert_eq!(segs.len(), stored.len());
    let (etag, _size) = etag_and_size(&stored, &segs);
    assert_eq!(etag.len(), 32);
});
