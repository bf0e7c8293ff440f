//! The Swift-on-File metadata codec: a JSON object in `user.swift.metadata`,
//! continued in `user.swift.metadata1`, `…2`, … when longer than one chunk.
//!
//! Objects store plain string values; containers and accounts (gluster-swift
//! layout) store `[value, timestamp]` pairs. Both shapes are accepted on read.

use std::collections::BTreeMap;
use std::io;

use serde_json::Value;

use super::xattr::{self, Target};

/// Name of the first metadata xattr; later chunks append 1, 2, ….
pub const KEY: &str = "user.swift.metadata";

/// Metadata as stored: header-like keys mapped to string values.
pub type Meta = BTreeMap<String, String>;

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
    pub const STORAGE_POLICY: &str = "X-Storage-Policy";
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

/// Parses the stored JSON; `None` when it is not a complete JSON object.
pub fn decode(bytes: &[u8]) -> Option<Meta> {
    let v: Vec<(String, Flex)> = serde_json::from_slice::<Entries>(bytes).ok()?.0;
    Some(
        v.into_iter()
            .filter_map(|(k, f)| f.0.map(|s| (k, s)))
            .collect(),
    )
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
    serde_json::to_vec(meta).expect("string map serializes")
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
    serde_json::to_vec(&m).expect("map serializes")
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
                return Ok(Some(m));
            }
        }
        match xattr::get(t, &chunk_name(i))? {
            Some(more) => buf.extend_from_slice(&more),
            None => return Ok(None),
        }
        i += 1;
    }
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

/// Swift's normalized timestamp: `%016.05f`.
pub fn normalize_timestamp(secs: f64) -> String {
    format!("{secs:016.5}")
}

/// Parses a stored timestamp (a float in text).
pub fn parse_timestamp(s: &str) -> Option<f64> {
    s.trim().parse::<f64>().ok().filter(|v| v.is_finite())
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
