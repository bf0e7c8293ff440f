//! Legacy metadata: gluster-swift wrote `user.swift.metadata` as a Python
//! pickle (protocol 2). With `read_pickled_metadata = true` such values are
//! decoded, data only (serde-pickle builds values and never runs code), and
//! only plain values are kept: str, bytes, int, float, bool, None, and the
//! first element of a tuple or list (the `[value, timestamp]` pairs of
//! container and account metadata). The next metadata write stores JSON.

use std::sync::atomic::{AtomicBool, Ordering};

use serde_pickle::{DeOptions, HashableValue, Value};

use super::meta::Meta;

static ENABLED: AtomicBool = AtomicBool::new(false);

/// Turns the legacy reader on or off for this process (from config).
pub fn set_enabled(on: bool) {
    ENABLED.store(on, Ordering::Relaxed);
}

pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Does `buf` look like the start of a protocol-2 pickle of a dict?
pub fn looks_pickled(buf: &[u8]) -> bool {
    buf.starts_with(b"\x80\x02")
}

fn plain(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Bytes(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Value::I64(i) => Some(i.to_string()),
        Value::Int(i) => Some(i.to_string()),
        Value::F64(f) => Some(f.to_string()),
        Value::Bool(b) => Some(if *b { "True" } else { "False" }.to_string()),
        Value::Tuple(items) | Value::List(items) => items.first().and_then(plain),
        Value::None | Value::Set(_) | Value::FrozenSet(_) | Value::Dict(_) => None,
    }
}

fn key(k: &HashableValue) -> Option<String> {
    match k {
        HashableValue::String(s) => Some(s.clone()),
        HashableValue::Bytes(b) => String::from_utf8(b.clone()).ok(),
        _ => None,
    }
}

/// Decodes a complete pickled dict; `None` if incomplete or not a dict.
pub fn decode(buf: &[u8]) -> Option<Meta> {
    let v = serde_pickle::value_from_slice(buf, DeOptions::new()).ok()?;
    let Value::Dict(d) = v else { return None };
    Some(
        d.iter()
            .filter_map(|(k, v)| Some((key(k)?, plain(v)?)))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `pickle.dumps({'X-Type': 'Object', 'Content-Length': 3, 'ETag': b'abc',
    /// 'X-Object-Meta-T': ('v', 0)}, 2)` as Python 3 writes it.
    const SAMPLE: &[u8] = b"\x80\x02}q\x00(X\x06\x00\x00\x00X-Typeq\x01X\x06\x00\x00\x00Objectq\x02X\x0e\x00\x00\x00Content-Lengthq\x03K\x03X\x04\x00\x00\x00ETagq\x04c_codecs\nencode\nq\x05X\x03\x00\x00\x00abcq\x06X\x06\x00\x00\x00latin1q\x07\x86q\x08Rq\tX\x0f\x00\x00\x00X-Object-Meta-Tq\nX\x01\x00\x00\x00vq\x0bK\x00\x86q\x0cu.";

    #[test]
    fn decodes_plain_values_and_pairs() {
        let m = decode(SAMPLE).expect("decodes");
        assert_eq!(m["X-Type"], "Object");
        assert_eq!(m["Content-Length"], "3");
        assert_eq!(m["X-Object-Meta-T"], "v");
        assert!(decode(&SAMPLE[..SAMPLE.len() - 5]).is_none());
    }

    #[test]
    fn refuses_what_is_not_data() {
        // cos\nsystem\n(S'echo hi'\ntR. : a call of os.system
        let evil = b"\x80\x02cos\nsystem\nq\x00X\x07\x00\x00\x00echo hiq\x01\x85q\x02Rq\x03.";
        assert!(decode(evil).is_none());
    }
}
