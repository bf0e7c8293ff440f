//! `Range` headers against any object length: every range lies inside the
//! object, and the response stays near the object's size (Swift's swob
//! limits: at most 50 ranges, at most 2 overlapping pairs, fewer than 8
//! when out of order).
#![no_main]
use libfuzzer_sys::fuzz_target;
use sofgate::swift::range::{resolve, Ranges};

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    // Small lengths most of the time (where the edge cases are), any some.
    let len = match data[0] {
        0..=199 => u64::from(data[0]),
        _ => u64::from_le_bytes({
            let mut b = [0u8; 8];
            let n = data.len().min(9) - 1;
            b[..n].copy_from_slice(&data[1..1 + n]);
            b
        }),
    };
    let Ok(h) = std::str::from_utf8(&data[1..]) else {
        return;
    };
    let Ranges::Parts(p) = resolve(Some(h), len) else {
        return;
    };
    assert!(!p.is_empty());
    assert!(p.len() <= 50, "{} ranges honoured", p.len());
    let mut overlaps = 0;
    for (i, &(s, e)) in p.iter().enumerate() {
        assert!(s < e && e <= len, "{s}-{e} of {len}");
        for &(s2, e2) in &p[i + 1..] {
            // swob's test, on half-open ranges.
            if (s < s2 && s2 < e) || (s < e2 && e2 < e) || (s2 < s && s < e2) || (s2 < e && e < e2)
            {
                overlaps += 1;
            }
        }
    }
    assert!(
        overlaps <= 2,
        "{overlaps} overlapping pairs honoured: {h:?}"
    );
});
