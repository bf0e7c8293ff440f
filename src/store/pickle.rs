//! Legacy metadata: gluster-swift wrote `user.swift.metadata` as a Python
//! pickle (protocol 2). With `read_pickled_metadata = true` such values are
//! decoded, data only (serde-pickle builds values and never runs code), and
//! only plain values are kept: str, bytes, int, float, bool, None, and the
//! first element of a tuple or list (the `[value, timestamp]` pairs of
//! container and account metadata). The next metadata write stores JSON.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_pickle::{DeOptions, HashableValue, Value};

/// Decoded metadata: the same type as `meta::Meta`, named here so that the
/// decoder needs nothing of the codec that calls it.
type Meta = std::collections::BTreeMap<String, String>;

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

/// Most bytes a pickle may expand to: far beyond any real metadata.
const MAX_EXPANDED: u64 = 4 << 20;
/// Deepest nesting of containers (real metadata: a dict of pairs).
const MAX_DEPTH: u32 = 16;

/// Walks the opcodes (building nothing) and refuses a pickle that would
/// build more than [`MAX_EXPANDED`] bytes or nest deeper than [`MAX_DEPTH`].
/// A Rust value copied by DUP or a memo GET is a deep copy, not a shared
/// reference, so a few hundred bytes of DUP and TUPLE2 can ask for
/// gigabytes: DUP is refused (Python's pickler never writes it) and a GET
/// may copy only a plain value (Python's pickler writes one for a repeated
/// str). Sets and NaN floats are refused too: metadata has none, and
/// serde-pickle sorts set members and dict keys, which panics when a NaN
/// breaks the order (fuzz finding). Stack items: (bytes the item expands to, nesting depth: 0 for a
/// plain value); `None` is a MARK.
fn bounded(buf: &[u8]) -> Option<()> {
    let mut total: u64 = 0;
    let mut stack: Vec<Option<(u64, u32)>> = Vec::new();
    let mut memo: HashMap<u64, (u64, u32)> = HashMap::new();
    let mut i = 0;
    loop {
        let op = *take(buf, &mut i, 1)?.first()?;
        // The item the op pushes, if any; its children are counted already.
        let pushed: Option<(u64, u32)> = match op {
            b'.' => return Some(()),
            b'\x80' => take(buf, &mut i, 1).map(|_| None)?,
            b'\x95' => take(buf, &mut i, 8).map(|_| None)?,
            b'(' => {
                stack.push(None);
                None
            }
            b'N' | b'\x88' | b'\x89' => Some((1, 0)),
            b'K' | b'M' | b'J' => {
                let n = match op {
                    b'K' => 1,
                    b'M' => 2,
                    _ => 4,
                };
                take(buf, &mut i, n)?;
                Some((n as u64, 0))
            }
            b'G' => {
                let b: [u8; 8] = take(buf, &mut i, 8)?.try_into().ok()?;
                (!f64::from_be_bytes(b).is_nan()).then_some(Some((8, 0)))?
            }
            b'F' => {
                let l = line(buf, &mut i)?;
                let nan = std::str::from_utf8(l)
                    .ok()
                    .and_then(|t| t.trim().parse::<f64>().ok())
                    .is_some_and(f64::is_nan);
                (!nan).then_some(Some((l.len() as u64, 0)))?
            }
            b'I' | b'L' | b'S' | b'V' => Some((line(buf, &mut i)?.len() as u64, 0)),
            b'c' => Some((
                (line(buf, &mut i)?.len() + line(buf, &mut i)?.len()) as u64,
                0,
            )),
            b'U' | b'C' | b'\x8c' | b'\x8a' | b'T' | b'X' | b'B' | b'\x8b' | b'\x8d' | b'\x8e' => {
                let width = match op {
                    b'U' | b'C' | b'\x8c' | b'\x8a' => 1,
                    b'\x8d' | b'\x8e' => 8,
                    _ => 4,
                };
                let n = le(take(buf, &mut i, width)?);
                take(buf, &mut i, usize::try_from(n).ok()?)?;
                Some((n + 1, 0))
            }
            b')' | b']' | b'}' => Some((1, 1)),
            b't' | b'l' | b'd' => to_mark(&mut stack).map(|(w, d)| (w + 1, d + 1)),
            b'\x85' | b'\x86' | b'\x87' | b'R' | b'\x93' => {
                let n = match op {
                    b'\x85' => 1,
                    b'\x87' => 3,
                    _ => 2,
                };
                let mut w = 1;
                let mut d = 0;
                for _ in 0..n {
                    let (iw, id) = stack.pop()??;
                    w += iw;
                    d = d.max(id);
                }
                // `R` (only `_codecs.encode`, for bytes, gets past the
                // decoder) and `\x93` (a global) make a plain value.
                Some((
                    w,
                    if matches!(op, b'R' | b'\x93') {
                        0
                    } else {
                        d + 1
                    },
                ))
            }
            b'a' | b's' | b'e' | b'u' => {
                let (w, d) = match op {
                    b'a' => stack.pop()??,
                    b's' => {
                        let (vw, vd) = stack.pop()??;
                        let (kw, kd) = stack.pop()??;
                        (vw + kw, vd.max(kd))
                    }
                    _ => to_mark(&mut stack)?,
                };
                let top = stack.last_mut()?.as_mut()?;
                *top = (top.0 + w, top.1.max(d + 1));
                None
            }
            b'0' => stack.pop().map(|_| None)?,
            b'1' => to_mark(&mut stack).map(|_| None)?,
            b'q' | b'r' | b'p' | b'\x94' => {
                let key = match op {
                    b'q' => le(take(buf, &mut i, 1)?),
                    b'r' => le(take(buf, &mut i, 4)?),
                    b'p' => decimal(line(buf, &mut i)?)?,
                    _ => memo.len() as u64,
                };
                memo.insert(key, (*stack.last()?)?);
                None
            }
            b'h' | b'j' | b'g' => {
                let key = match op {
                    b'h' => le(take(buf, &mut i, 1)?),
                    b'j' => le(take(buf, &mut i, 4)?),
                    _ => decimal(line(buf, &mut i)?)?,
                };
                let (w, d) = *memo.get(&key)?;
                if d != 0 {
                    return None;
                }
                total = total.checked_add(w)?;
                Some((w, 0))
            }
            _ => return None, // DUP, objects, extensions: not metadata
        };
        if let Some((w, d)) = pushed {
            total = total.checked_add(1 + if d == 0 { w } else { 0 })?;
            if total > MAX_EXPANDED || d > MAX_DEPTH {
                return None;
            }
            stack.push(Some((w, d)));
        }
    }
}

/// The next `n` bytes of `buf` at `*i`.
fn take<'a>(buf: &'a [u8], i: &mut usize, n: usize) -> Option<&'a [u8]> {
    let s = buf.get(*i..i.checked_add(n)?)?;
    *i += n;
    Some(s)
}

/// The rest of the line at `*i` (its newline dropped).
fn line<'a>(buf: &'a [u8], i: &mut usize) -> Option<&'a [u8]> {
    let n = buf.get(*i..)?.iter().position(|b| *b == b'\n')?;
    let s = take(buf, i, n + 1)?;
    Some(&s[..n])
}

fn le(b: &[u8]) -> u64 {
    b.iter().rev().fold(0, |v, x| v << 8 | u64::from(*x))
}

fn decimal(b: &[u8]) -> Option<u64> {
    std::str::from_utf8(b).ok()?.trim().parse().ok()
}

/// Pops down to the last MARK: the items' total size and deepest nesting.
fn to_mark(stack: &mut Vec<Option<(u64, u32)>>) -> Option<(u64, u32)> {
    let at = stack.iter().rposition(Option::is_none)?;
    Some(
        stack
            .drain(at..)
            .flatten()
            .fold((0, 0), |(w, d), (iw, id)| (w + iw, d.max(id))),
    )
}

/// Decodes a complete pickled dict; `None` if incomplete or not a dict.
pub fn decode(buf: &[u8]) -> Option<Meta> {
    bounded(buf)?;
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
    fn nan_floats_and_sets_are_refused_not_sorted() {
        // Found by fuzzing: serde-pickle sorts set members and dict keys,
        // and NaNs broke the order; Rust's sort panicked.
        let nan = f64::NAN.to_be_bytes();
        let mut set = b"\x80\x02\x8f(G".to_vec();
        set.extend_from_slice(&nan);
        set.push(b'G');
        set.extend_from_slice(&nan);
        set.extend_from_slice(b"\x90.");
        assert_eq!(decode(&set), None);
        let mut dict = b"\x80\x02}(G".to_vec();
        dict.extend_from_slice(&nan);
        dict.extend_from_slice(b"K\x01G");
        dict.extend_from_slice(&nan);
        dict.extend_from_slice(b"K\x02u.");
        assert_eq!(decode(&dict), None);
        assert_eq!(decode(b"\x80\x02}(Fnan\nK\x01Fnan\nK\x02u."), None);
        let crash = include_bytes!("../../fuzz/corpus/pickle/nan-set");
        assert_eq!(decode(crash), None);
        // Finite floats still decode.
        let mut ok = b"\x80\x02}X\x01\x00\x00\x00aG".to_vec();
        ok.extend_from_slice(&1.5f64.to_be_bytes());
        ok.extend_from_slice(b"s.");
        assert_eq!(decode(&ok).expect("decodes")["a"], "1.5");
    }

    #[test]
    fn decodes_plain_values_and_pairs() {
        let m = decode(SAMPLE).expect("decodes");
        assert_eq!(m["X-Type"], "Object");
        assert_eq!(m["Content-Length"], "3");
        assert_eq!(m["X-Object-Meta-T"], "v");
        assert!(decode(&SAMPLE[..SAMPLE.len() - 5]).is_none());
    }

    #[test]
    fn refuses_pickles_that_copy_their_way_to_gigabytes() {
        // Found by fuzzing (pickle): DUP and TUPLE2 in turn double a value
        // each time (a Rust value is a deep copy, not a shared reference):
        // 478 bytes asked for more than 1 GiB. Here 22 doublings: 4M nodes.
        let mut bomb = b"\x80\x02}X\x01\x00\x00\x00aN".to_vec();
        bomb.extend(b"2\x86".repeat(22));
        bomb.extend(b"s.");
        assert!(decode(&bomb).is_none());
        // The same through the memo: BINPUT a tuple, BINGET it twice.
        let mut memo = b"\x80\x02}X\x01\x00\x00\x00aN".to_vec();
        memo.extend(b"q\x00h\x00h\x00\x86".repeat(22));
        memo.extend(b"s.");
        assert!(decode(&memo).is_none());
        // A string shared through the memo, as Python's pickler writes a
        // repeated object, still reads.
        let shared =
            b"\x80\x02}q\x00(X\x01\x00\x00\x00aX\x01\x00\x00\x00vq\x01X\x01\x00\x00\x00bh\x01u.";
        let m = decode(shared).expect("decodes");
        assert_eq!((m["a"].as_str(), m["b"].as_str()), ("v", "v"));
    }

    #[test]
    fn refuses_what_is_not_data() {
        // cos\nsystem\n(S'echo hi'\ntR. : a call of os.system
        let evil = b"\x80\x02cos\nsystem\nq\x00X\x07\x00\x00\x00echo hiq\x01\x85q\x02Rq\x03.";
        assert!(decode(evil).is_none());
    }
}
