//! The Swift-on-File metadata codec: a JSON object in `user.swift.metadata`,
//! continued in `user.swift.metadata1`, `…2`, … when longer than one chunk.
//!
//! Objects store plain string values; containers and accounts (gluster-swift
//! layout) store `[value, timestamp]` pairs. Both shapes are accepted on read.
//!
//! What is read is untrusted: anyone with the mount can write these xattrs
//! and sidecars. Decoding bounds the total size and the number of keys, and
//! drops entries that could not be sent as HTTP headers (a key that is not a
//! token, a value with CR, LF, NUL or another control character) and
//! timestamps out of Swift's range, each with a log line. An object whose
//! core keys are dropped is stale, so its metadata is derived afresh.

use std::collections::BTreeMap;
use std::io;

use serde_json::Value;

use super::xattr::{self, Target};

/// Name of the first metadata xattr; later chunks append 1, 2, ….
pub const KEY: &str = "user.swift.metadata";

/// Metadata as stored: header-like keys mapped to string values.
pub type Meta = BTreeMap<String, String>;

/// Most bytes of encoded metadata read (xattr chunks together, or a
/// sidecar): far above what Swift's limits let a client store (4 KiB of user
/// metadata by default, and a few hundred bytes of system keys), so that no
/// response header block built from it can be huge.
pub const MAX_ENCODED: usize = 256 * 1024;
/// Most keys decoded (Swift's `max_meta_count` is 90 by default).
pub const MAX_KEYS: usize = 1024;
/// Timestamps are below 10^10 seconds, as Swift's `Timestamp` requires
/// (November 2286); larger ones, negative ones and non-numbers are refused.
pub const MAX_TIMESTAMP: f64 = 1e10;

/// Well-known keys of the on-disk format.
pub mod keys {
    pub const TIMESTAMP: &str = "X-Timestamp";
    pub const CONTENT_TYPE: &str = "Content-Type";
    pub const ETAG: &str = "ETag";
    pub const CONTENT_LENGTH: &str = "Content-Length";
    pub const TYPE: &str = "X-Type";
    pub const OBJECT_TYPE: &str = "X-Object-Type";
    pub const PUT_MTIME: &str = "X-Object-PUT-Mtime";
    pub const PUT_TIMESTAMP: &str = "X-PUT-Timestamp";
    /// Object versioning: the object's version id (sysmeta).
    pub const VERSION_ID: &str = "X-Object-Sysmeta-Version-Id";
    pub const STORAGE_POLICY: &str = "X-Storage-Policy";
    /// Sysmeta: the ETag the S3 door shows of an object a multipart
    /// upload made (`<md5 of the parts' MD5s>-<N>`; Swift's s3api's key).
    /// Swift listings carry it as `s3_etag`, as with s3api in Swift's
    /// pipeline.
    pub const S3_ETAG: &str = "X-Object-Sysmeta-S3api-Etag";
}

/// Values of `X-Object-Type`.
pub const OBJ_FILE: &str = "file";
pub const OBJ_DIR: &str = "dir";
pub const OBJ_MARKER_DIR: &str = "marker_dir";
pub const DIR_CONTENT_TYPE: &str = "application/directory";

/// True when `m` describes a directory-marker object.
pub fn is_marker(m: &Meta) -> bool {
    m.get(keys::OBJECT_TYPE).map(String::as_str) == Some(OBJ_MARKER_DIR)
}

/// One stored value as text: a string, a number, a bool, or the first item
/// of a gluster-swift `[value, timestamp]` pair. Decoded straight from the
/// JSON (this runs once per object of a listing page, so no detour through
/// `serde_json::Value`).
struct Flex(Option<String>);

impl<'de> serde::Deserialize<'de> for Flex {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Flex;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a metadata value")
            }
            fn visit_str<E>(self, v: &str) -> Result<Flex, E> {
                Ok(Flex(Some(v.to_string())))
            }
            fn visit_string<E>(self, v: String) -> Result<Flex, E> {
                Ok(Flex(Some(v)))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Flex, E> {
                Ok(Flex(Some(v.to_string())))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Flex, E> {
                Ok(Flex(Some(v.to_string())))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Flex, E> {
                Ok(Flex(Some(Value::from(v).to_string())))
            }
            fn visit_bool<E>(self, v: bool) -> Result<Flex, E> {
                Ok(Flex(Some(if v { "True" } else { "False" }.to_string())))
            }
            fn visit_unit<E>(self) -> Result<Flex, E> {
                Ok(Flex(None))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut a: A) -> Result<Flex, A::Error> {
                let first = a.next_element::<Flex>()?.and_then(|f| f.0);
                while a.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(Flex(first))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut a: A) -> Result<Flex, A::Error> {
                while a
                    .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
                    .is_some()
                {}
                Ok(Flex(None))
            }
        }
        d.deserialize_any(V)
    }
}

/// Parses the stored JSON; `None` when it is not a complete JSON object, or
/// is larger than [`MAX_ENCODED`] or holds more than [`MAX_KEYS`] keys
/// (treated as no metadata: an object's is derived again). Entries that
/// cannot be trusted are dropped (see [`sanitize`]).
pub fn decode(bytes: &[u8]) -> Option<Meta> {
    if bytes.len() > MAX_ENCODED {
        tracing::warn!(
            "ignoring stored metadata of {} bytes (more than {MAX_ENCODED})",
            bytes.len()
        );
        return None;
    }
    let v: Vec<(String, Flex)> = match serde_json::from_slice::<Entries>(bytes) {
        Ok(e) => e.0,
        Err(e) => {
            if e.to_string().contains(TOO_MANY_KEYS) {
                tracing::warn!("ignoring stored metadata with more than {MAX_KEYS} keys");
            }
            return None;
        }
    };
    Some(sanitize(
        v.into_iter()
            .filter_map(|(k, f)| f.0.map(|s| (k, s)))
            .collect(),
    ))
}

/// The error a JSON object with more than [`MAX_KEYS`] keys stops with.
const TOO_MANY_KEYS: &str = "too many metadata keys";

/// Keys holding a Swift timestamp that is served (Last-Modified, listings).
const TIMESTAMP_KEYS: [&str; 2] = [keys::TIMESTAMP, keys::PUT_TIMESTAMP];

/// Drops what stored metadata must not carry into a response: keys that are
/// not HTTP tokens, values with bytes a header cannot hold, and timestamps
/// out of range. Dropping `X-Timestamp` or `ETag` makes an object's
/// metadata stale, so it is derived again from the file.
pub fn sanitize(mut m: Meta) -> Meta {
    m.retain(|k, v| {
        let why = if !is_token(k) {
            "a key that is not an HTTP token"
        } else if !is_header_text(v) {
            "a control character"
        } else if TIMESTAMP_KEYS.contains(&k.as_str()) && parse_timestamp(v).is_none() {
            "a timestamp out of range"
        } else {
            return true;
        };
        tracing::warn!("dropping stored metadata {k:?}: {why}");
        false
    });
    m
}

/// True for an HTTP token (RFC 9110 `tchar`s), as header names must be.
fn is_token(k: &str) -> bool {
    !k.is_empty()
        && k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// True when `v` can be a header value: no control character but tab.
pub fn is_header_text(v: &str) -> bool {
    v.bytes().all(|b| (b >= 0x20 && b != 0x7f) || b == b'\t')
}

/// A JSON object read as its entries in order.
struct Entries(Vec<(String, Flex)>);

impl<'de> serde::Deserialize<'de> for Entries {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Entries;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut a: A,
            ) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(e) = a.next_entry::<String, Flex>()? {
                    if out.len() == MAX_KEYS {
                        return Err(serde::de::Error::custom(TOO_MANY_KEYS));
                    }
                    out.push(e);
                }
                Ok(Entries(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// Compact JSON with plain string values (object layout).
pub fn encode(meta: &Meta) -> Vec<u8> {
    // A map of strings always serializes; the fallback is never taken.
    serde_json::to_vec(meta).unwrap_or_else(|_| b"{}".to_vec())
}

/// Compact JSON with `[value, 0]` pairs (gluster-swift container/account layout).
pub fn encode_pairs(meta: &Meta) -> Vec<u8> {
    let m: serde_json::Map<String, Value> = meta
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                Value::Array(vec![Value::String(v.clone()), 0.into()]),
            )
        })
        .collect();
    // A map of strings and numbers always serializes.
    serde_json::to_vec(&m).unwrap_or_else(|_| b"{}".to_vec())
}

fn chunk_name(i: usize) -> String {
    if i == 0 {
        KEY.to_string()
    } else {
        format!("{KEY}{i}")
    }
}

/// Reads metadata, concatenating chunks until a full JSON object (or, when
/// enabled, a legacy pickle) parses.
/// `Ok(None)` when there is none, or it is unreadable (treated as absent).
pub fn read(t: Target<'_>) -> io::Result<Option<Meta>> {
    let Some(mut buf) = xattr::get(t, KEY)? else {
        return Ok(None);
    };
    let mut i = 1;
    loop {
        if buf.first() == Some(&b'{') && buf.last() == Some(&b'}') {
            if let Some(m) = decode(&buf) {
                return Ok(Some(m));
            }
        } else if super::pickle::enabled()
            && super::pickle::looks_pickled(&buf)
            && buf.last() == Some(&b'.')
        {
            if let Some(m) = super::pickle::decode(&buf) {
                return Ok(bounded(m));
            }
        }
        // Chunks go on only while the value could still be one we accept.
        if buf.len() > MAX_ENCODED || i > MAX_ENCODED / 64 {
            tracing::warn!("ignoring stored metadata longer than {MAX_ENCODED} bytes");
            return Ok(None);
        }
        match xattr::get(t, &chunk_name(i))? {
            Some(more) => buf.extend_from_slice(&more),
            None => return Ok(None),
        }
        i += 1;
    }
}

/// [`sanitize`]d legacy metadata, or `None` with more than [`MAX_KEYS`] keys.
fn bounded(m: Meta) -> Option<Meta> {
    if m.len() > MAX_KEYS {
        tracing::warn!("ignoring stored metadata with more than {MAX_KEYS} keys");
        return None;
    }
    Some(sanitize(m))
}

/// The bytes of a metadata file (a sidecar), at most [`MAX_ENCODED`] + 1 of
/// them: enough for [`decode`] to refuse a larger one without holding it all
/// in memory.
pub fn read_file_bounded(path: &std::path::Path) -> io::Result<Vec<u8>> {
    use std::io::Read;
    let mut buf = Vec::new();
    std::fs::File::open(path)?
        .take(MAX_ENCODED as u64 + 1)
        .read_to_end(&mut buf)?;
    Ok(buf)
}

/// Writes `bytes` in chunks of `chunk` bytes and removes one stale chunk after
/// the last (a shrinking value must not be extended by an old tail).
pub fn write_raw(t: Target<'_>, bytes: &[u8], chunk: usize) -> io::Result<()> {
    let mut n = 0;
    for (i, part) in bytes.chunks(chunk.max(1)).enumerate() {
        xattr::set(t, &chunk_name(i), part)?;
        n = i + 1;
    }
    if n == 0 {
        xattr::set(t, KEY, b"{}")?;
        n = 1;
    }
    // A previous, longer value may have left a next chunk behind; the reader
    // stops at the first complete JSON object anyway, so one removal suffices
    // for correctness and keeps the common case to a single failed call.
    if bytes.len() > chunk {
        xattr::remove(t, &chunk_name(n))?;
    }
    Ok(())
}

/// Removes every metadata chunk.
pub fn clear(t: Target<'_>) -> io::Result<()> {
    let mut i = 0;
    while xattr::get(t, &chunk_name(i))?.is_some() {
        xattr::remove(t, &chunk_name(i))?;
        i += 1;
    }
    Ok(())
}

/// Swift's normalized timestamp: `%016.05f`, for a time within
/// `0..MAX_TIMESTAMP` (anything else, a file's mtime of the year 3000 say,
/// is clamped, so what is written is always read back).
pub fn normalize_timestamp(secs: f64) -> String {
    let secs = if secs.is_nan() {
        0.0
    } else {
        secs.clamp(0.0, 9_999_999_999.999_99)
    };
    format!("{secs:016.5}")
}

/// Parses a stored timestamp (a float in text); `None` unless it is a
/// number in `0..MAX_TIMESTAMP`.
pub fn parse_timestamp(s: &str) -> Option<f64> {
    s.trim()
        .parse::<f64>()
        .ok()
        .filter(|v| (0.0..MAX_TIMESTAMP).contains(v))
}

/// A timestamp (seconds) as whole seconds and nanoseconds, to the 10 µs
/// of a normalized timestamp (a negative one as 0).
pub fn timestamp_parts(ts: f64) -> (i64, i64) {
    let hundred_k = (ts.max(0.0) * 100_000.0).round() as i64;
    (hundred_k / 100_000, (hundred_k % 100_000) * 10_000)
}

/// Now, in seconds, to the 10 µs of a normalized timestamp.
pub fn now_secs() -> f64 {
    let t = now_timestamp();
    parse_timestamp(&t).unwrap_or(0.0)
}

/// Now, as a normalized Swift timestamp.
pub fn now_timestamp() -> String {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    normalize_timestamp(d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamp_has_swift_format() {
        assert_eq!(normalize_timestamp(1.5), "0000000001.50000");
        assert_eq!(normalize_timestamp(1732563763.123456), "1732563763.12346");
    }

    #[test]
    fn decode_accepts_strings_numbers_and_pairs() {
        let m = decode(br#"{"X-Type":["container",0],"Content-Length":12,"ETag":"abc"}"#).unwrap();
        assert_eq!(m["X-Type"], "container");
        assert_eq!(m["Content-Length"], "12");
        assert_eq!(m["ETag"], "abc");
        assert!(decode(br#"{"a":"b""#).is_none());
    }

    #[test]
    fn decode_refuses_too_large_or_too_many_keys() {
        let keys = |n: usize| {
            let body: Vec<String> = (0..n)
                .map(|i| format!("\"X-Object-Meta-K{i}\":\"v\""))
                .collect();
            format!("{{{}}}", body.join(","))
        };
        assert_eq!(decode(keys(MAX_KEYS).as_bytes()).unwrap().len(), MAX_KEYS);
        assert!(decode(keys(MAX_KEYS + 1).as_bytes()).is_none());
        assert!(decode(keys(40_000).as_bytes()).is_none());
        let big = |n: usize| format!("{{\"X-Object-Meta-Big\":\"{}\"}}", "v".repeat(n));
        let fits = big(MAX_ENCODED - 30);
        assert!(fits.len() <= MAX_ENCODED && decode(fits.as_bytes()).is_some());
        assert!(decode(big(MAX_ENCODED).as_bytes()).is_none());
    }

    #[test]
    fn decode_drops_what_a_header_cannot_carry() {
        let m = decode(
            br#"{"ETag":"abc\r\nX-Evil: 1","Content-Type":"text/plain\n","X-Object-Meta-Nul":"a\u0000b",
                "X-Object-Meta-Ok":"caf\u00e9\tok","Bad Key":"v","X-Object-Meta-Del":"x\u007f",
                "X-Type":"Object"}"#,
        )
        .unwrap();
        assert_eq!(
            m.keys().collect::<Vec<_>>(),
            ["X-Object-Meta-Ok", "X-Type"],
            "{m:?}"
        );
    }

    #[test]
    fn timestamps_out_of_range_are_dropped() {
        for bad in [
            "253402300800",
            "1e12",
            "1e300",
            "-1",
            "NaN",
            "inf",
            "10000000000",
            "x",
        ] {
            let json = format!("{{\"X-Timestamp\":\"{bad}\",\"X-PUT-Timestamp\":[\"{bad}\",0]}}");
            let m = decode(json.as_bytes()).unwrap();
            assert!(m.is_empty(), "{bad}: {m:?}");
            assert_eq!(parse_timestamp(bad), None, "{bad}");
        }
        // A number in JSON is range-checked as well.
        assert!(decode(br#"{"X-Timestamp":1e300}"#).unwrap().is_empty());
        let m = decode(br#"{"X-Timestamp":"1732563763.12346"}"#).unwrap();
        assert_eq!(parse_timestamp(&m["X-Timestamp"]), Some(1732563763.12346));
        assert_eq!(parse_timestamp("0"), Some(0.0));
        assert_eq!(parse_timestamp("9999999999.99999"), Some(9999999999.99999));
    }

    #[test]
    fn normalized_timestamps_always_parse_back() {
        for t in [
            -5.0,
            0.0,
            1.5,
            1e12,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ] {
            let n = normalize_timestamp(t);
            assert!(parse_timestamp(&n).is_some(), "{t}: {n}");
        }
        assert_eq!(normalize_timestamp(1e12), "9999999999.99999");
    }

    #[test]
    fn a_large_file_is_read_only_up_to_the_cap() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sc");
        std::fs::write(&p, vec![b' '; MAX_ENCODED * 3]).unwrap();
        let bytes = read_file_bounded(&p).unwrap();
        assert_eq!(bytes.len(), MAX_ENCODED + 1);
        assert!(decode(&bytes).is_none());
    }

    #[test]
    fn encode_is_compact_json() {
        let mut m = Meta::new();
        m.insert("ETag".into(), "x".into());
        m.insert("X-Timestamp".into(), "0000000001.00000".into());
        assert_eq!(
            String::from_utf8(encode(&m)).unwrap(),
            r#"{"ETag":"x","X-Timestamp":"0000000001.00000"}"#
        );
        assert_eq!(
            String::from_utf8(encode_pairs(&m)).unwrap(),
            r#"{"ETag":["x",0],"X-Timestamp":["0000000001.00000",0]}"#
        );
    }

    #[test]
    fn chunks_round_trip_through_real_xattrs() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, b"").unwrap();
        let f = std::fs::File::open(&p).unwrap();
        let t = || Target::Fd(std::os::fd::AsFd::as_fd(&f));
        let mut m = Meta::new();
        m.insert("X-Object-Meta-Long".into(), "v".repeat(300));
        write_raw(t(), &encode(&m), 100).unwrap();
        assert!(xattr::get(t(), "user.swift.metadata3").unwrap().is_some());
        assert_eq!(read(t()).unwrap().unwrap(), m);
        // Shrinking rewrites the first chunk and drops the stale tail.
        let mut small = Meta::new();
        small.insert("a".into(), "b".into());
        write_raw(t(), &encode(&small), 100).unwrap();
        assert_eq!(read(t()).unwrap().unwrap(), small);
    }
}
