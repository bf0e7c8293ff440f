//! `Range: bytes=…` parsing and resolution against an object's length, as
//! Swift does: a malformed header is ignored, an unsatisfiable one is 416,
//! and an egregious one (RFC 7233 §6.1: many ranges, overlapping ranges, or
//! many ranges out of order) is ignored too, so that a response is never
//! much larger than the object itself.

/// More satisfiable ranges than this and the header is ignored (swob's
/// `MAX_RANGES`).
const MAX_RANGES: usize = 50;
/// More overlapping pairs than this and the header is ignored (swob's
/// `MAX_RANGE_OVERLAPS`).
const MAX_OVERLAPS: usize = 2;
/// This many ranges or more, not in ascending order, and the header is
/// ignored (swob's `MAX_NONASCENDING_RANGES`).
const MAX_NONASCENDING: usize = 8;

/// A requested range before the length is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Spec {
    /// `a-b` or `a-`.
    From(u64, Option<u64>),
    /// `-n`: the last n bytes.
    Suffix(u64),
}

/// What a Range header asks of an object of a given length.
#[derive(Debug, PartialEq, Eq)]
pub enum Ranges {
    /// No (usable) header: the whole object.
    Whole,
    /// Byte ranges `[start, end)`, in request order.
    Parts(Vec<(u64, u64)>),
    Unsatisfiable,
}

fn parse(h: &str) -> Option<Vec<Spec>> {
    // `BYTES = 0 - 9` is accepted: unit case and spaces do not matter.
    let (unit, rest) = h.split_once('=')?;
    if !unit.trim().eq_ignore_ascii_case("bytes") {
        return None;
    }
    let mut out = Vec::new();
    for item in rest.split(',') {
        let item = item.trim();
        let (a, b) = item.split_once('-')?;
        let (a, b) = (a.trim(), b.trim());
        let spec = match (a.is_empty(), b.is_empty()) {
            (true, true) => return None,
            (true, false) => Spec::Suffix(b.parse().ok()?),
            (false, true) => Spec::From(a.parse().ok()?, None),
            (false, false) => {
                let (s, e) = (a.parse().ok()?, b.parse().ok()?);
                if e < s {
                    return None;
                }
                Spec::From(s, Some(e))
            }
        };
        out.push(spec);
    }
    Some(out)
}

/// The satisfiable ranges of `specs` against `len`, as `[start, end)`.
fn satisfiable(specs: &[Spec], len: u64) -> Vec<(u64, u64)> {
    specs
        .iter()
        .filter_map(|s| match *s {
            Spec::Suffix(0) => None,
            Spec::Suffix(n) => Some((len.saturating_sub(n), len)),
            Spec::From(s, _) if s >= len => None,
            Spec::From(s, None) => Some((s, len)),
            Spec::From(s, Some(e)) => Some((s, e.saturating_add(1).min(len))),
        })
        .collect()
}

/// True when serving `parts` would amplify the object: swob's limits on
/// count, overlaps and order.
///
/// Swift tests overlap with strict comparisons, so identical ranges do not
/// count; here any two ranges sharing a byte do, or fifty copies of `0-`
/// would still send the object fifty times.
fn egregious(parts: &[(u64, u64)]) -> bool {
    if parts.len() > MAX_RANGES {
        return true;
    }
    let mut overlaps = 0;
    for (i, &(s1, e1)) in parts.iter().enumerate() {
        for &(s2, e2) in &parts[i + 1..] {
            if s1 < e2 && s2 < e1 {
                overlaps += 1;
                if overlaps > MAX_OVERLAPS {
                    return true;
                }
            }
        }
    }
    let ascending = parts.windows(2).all(|w| w[0] <= w[1]);
    !ascending && parts.len() >= MAX_NONASCENDING
}

/// Resolves a Range header against `len`.
pub fn resolve(header: Option<&str>, len: u64) -> Ranges {
    let Some(specs) = header.and_then(parse) else {
        return Ranges::Whole;
    };
    if len == 0 {
        return Ranges::Whole;
    }
    let parts = satisfiable(&specs, len);
    if parts.is_empty() {
        Ranges::Unsatisfiable
    } else if egregious(&parts) {
        Ranges::Whole
    } else {
        Ranges::Parts(parts)
    }
}

/// Sets the Content-Type of a multipart/byteranges response with
/// `boundary`, replacing the object's own rather than adding a second one.
pub fn byteranges_type(mut b: http::response::Builder, boundary: &str) -> http::response::Builder {
    let ct = format!("multipart/byteranges;boundary={boundary}");
    if let (Some(h), Ok(v)) = (b.headers_mut(), http::HeaderValue::from_str(&ct)) {
        h.insert(http::header::CONTENT_TYPE, v);
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_suffix_open_and_several() {
        assert_eq!(resolve(Some("bytes=0-4"), 10), Ranges::Parts(vec![(0, 5)]));
        assert_eq!(resolve(Some("bytes=-3"), 10), Ranges::Parts(vec![(7, 10)]));
        assert_eq!(resolve(Some("bytes=-30"), 10), Ranges::Parts(vec![(0, 10)]));
        assert_eq!(resolve(Some("bytes=8-"), 10), Ranges::Parts(vec![(8, 10)]));
        assert_eq!(
            resolve(Some("BYTES = 0 - 4 "), 10),
            Ranges::Parts(vec![(0, 5)])
        );
        assert_eq!(
            resolve(Some("bytes=5-100"), 10),
            Ranges::Parts(vec![(5, 10)])
        );
        assert_eq!(
            resolve(Some("bytes=0-0,-1"), 10),
            Ranges::Parts(vec![(0, 1), (9, 10)])
        );
    }

    #[test]
    fn unsatisfiable_and_malformed() {
        assert_eq!(resolve(Some("bytes=10-"), 10), Ranges::Unsatisfiable);
        assert_eq!(resolve(Some("bytes=-0"), 10), Ranges::Unsatisfiable);
        assert_eq!(resolve(Some("bytes=5-2"), 10), Ranges::Whole);
        assert_eq!(resolve(Some("items=0-1"), 10), Ranges::Whole);
        assert_eq!(resolve(Some("bytes=a-b"), 10), Ranges::Whole);
        assert_eq!(resolve(Some("bytes=0-1,"), 10), Ranges::Whole);
        assert_eq!(resolve(None, 10), Ranges::Whole);
    }

    fn header(items: &[String]) -> String {
        format!("bytes={}", items.join(","))
    }

    #[test]
    fn more_than_fifty_ranges_are_ignored() {
        let fifty: Vec<String> = (0..50).map(|i| format!("{}-{}", i * 2, i * 2)).collect();
        assert!(matches!(resolve(Some(&header(&fifty)), 1000), Ranges::Parts(p) if p.len() == 50));
        let more: Vec<String> = (0..51).map(|i| format!("{}-{}", i * 2, i * 2)).collect();
        assert_eq!(resolve(Some(&header(&more)), 1000), Ranges::Whole);
        // Only satisfiable ranges count, as in swob.
        let mut past_end = fifty.clone();
        past_end.extend((0..10).map(|i| format!("{}-", 2000 + i)));
        assert!(
            matches!(resolve(Some(&header(&past_end)), 1000), Ranges::Parts(p) if p.len() == 50)
        );
    }

    #[test]
    fn more_than_two_overlaps_are_ignored() {
        // Two overlapping pairs are served.
        assert!(matches!(
            resolve(Some("bytes=0-5,3-6,8-9,7-8"), 10),
            Ranges::Parts(p) if p.len() == 4
        ));
        // Three are not: 0-5/3-8, 0-5/4-9, 3-8/4-9.
        assert_eq!(resolve(Some("bytes=0-5,3-8,4-9"), 10), Ranges::Whole);
        // Identical ranges overlap too (a hundred `0-` would send it 100 times).
        assert_eq!(resolve(Some("bytes=0-,0-,0-"), 10), Ranges::Whole);
        let hundred = vec!["0-".to_string(); 100];
        assert_eq!(resolve(Some(&header(&hundred)), 10 << 20), Ranges::Whole);
        // Adjacent ranges share no byte.
        assert!(matches!(
            resolve(Some("bytes=0-1,2-3,4-5,6-7"), 10),
            Ranges::Parts(p) if p.len() == 4
        ));
    }

    #[test]
    fn eight_ranges_out_of_order_are_ignored() {
        let desc = |n: u64| -> String {
            let items: Vec<String> = (0..n).rev().map(|i| format!("{i}-{i}")).collect();
            header(&items)
        };
        assert!(matches!(resolve(Some(&desc(7)), 100), Ranges::Parts(p) if p.len() == 7));
        assert_eq!(resolve(Some(&desc(8)), 100), Ranges::Whole);
        let asc: Vec<String> = (0..20).map(|i| format!("{i}-{i}")).collect();
        assert!(matches!(resolve(Some(&header(&asc)), 100), Ranges::Parts(p) if p.len() == 20));
    }

    #[test]
    fn what_is_served_stays_near_the_object_size() {
        // Whatever the header, the bytes served are at most about three
        // times the object (two overlapping pairs at most).
        let len = 1000u64;
        for h in [
            header(&vec!["0-".to_string(); 100]),
            header(&vec!["0-".to_string(); 3]),
            "bytes=0-,0-".to_string(),
            "bytes=0-,1-,-999".to_string(),
        ] {
            let served = match resolve(Some(&h), len) {
                Ranges::Parts(p) => p.iter().map(|(s, e)| e - s).sum(),
                _ => len,
            };
            assert!(served <= 3 * len, "{h}: {served}");
        }
    }
}
