//! `Range: bytes=…` parsing and resolution against an object's length, as
//! Swift does: a malformed header is ignored, an unsatisfiable one is 416.

/// Most ranges honoured in one request; more and the header is ignored.
const MAX_RANGES: usize = 100;

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
    if out.is_empty() || out.len() > MAX_RANGES {
        return None;
    }
    Some(out)
}

/// Resolves a Range header against `len`.
pub fn resolve(header: Option<&str>, len: u64) -> Ranges {
    let Some(specs) = header.and_then(parse) else {
        return Ranges::Whole;
    };
    if len == 0 {
        return Ranges::Whole;
    }
    let parts: Vec<(u64, u64)> = specs
        .iter()
        .filter_map(|s| match *s {
            Spec::Suffix(0) => None,
            Spec::Suffix(n) => Some((len.saturating_sub(n), len)),
            Spec::From(s, _) if s >= len => None,
            Spec::From(s, None) => Some((s, len)),
            Spec::From(s, Some(e)) => Some((s, e.saturating_add(1).min(len))),
        })
        .collect();
    if parts.is_empty() {
        Ranges::Unsatisfiable
    } else if egregious(&parts) {
        Ranges::Whole
    } else {
        Ranges::Parts(parts)
    }
}

/// swob's answer to RFC 7233's warning about range sets built to amplify a
/// response: more than 50 ranges, more than 2 overlapping pairs, or 8 or
/// more ranges not in ascending order make the header ignored.
fn egregious(parts: &[(u64, u64)]) -> bool {
    const MAX_SWOB_RANGES: usize = 50;
    const MAX_OVERLAPS: usize = 2;
    const MAX_NONASCENDING: usize = 8;
    if parts.len() > MAX_SWOB_RANGES {
        return true;
    }
    let mut overlaps = 0;
    for (i, &(s1, e1)) in parts.iter().enumerate() {
        for &(s2, e2) in &parts[i + 1..] {
            if (s1 < s2 && s2 < e1)
                || (s1 < e2 && e2 < e1)
                || (s2 < s1 && s1 < e2)
                || (s2 < e1 && e1 < e2)
            {
                overlaps += 1;
            }
        }
    }
    let ascending = parts.windows(2).all(|w| w[0] <= w[1]);
    overlaps > MAX_OVERLAPS || (!ascending && parts.len() >= MAX_NONASCENDING)
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
    fn egregious_range_sets_are_ignored_as_swift_does() {
        // Found by fuzzing (range): 100 copies of `0-` made a response 100
        // times the object. swob ignores more than 50 ranges, more than 2
        // overlapping pairs, and 8 or more ranges out of order.
        let big = 10 << 20;
        let h = |v: Vec<&str>| format!("bytes={}", v.join(","));
        assert_eq!(resolve(Some(&h(vec!["0-"; 100])), big), Ranges::Whole);
        assert_eq!(resolve(Some(&h(vec!["0-0"; 51])), big), Ranges::Whole);
        assert!(
            matches!(resolve(Some(&h(vec!["0-0"; 50])), big), Ranges::Parts(p) if p.len() == 50)
        );
        assert_eq!(resolve(Some("bytes=0-1,1-2,2-3,0-3"), 10), Ranges::Whole);
        assert!(matches!(resolve(Some("bytes=0-3,2-5,4-7"), 10), Ranges::Parts(p) if p.len() == 3));
        let desc: Vec<String> = (0..8).rev().map(|i| format!("{i}-{i}")).collect();
        let desc: Vec<&str> = desc.iter().map(String::as_str).collect();
        assert_eq!(resolve(Some(&h(desc.clone())), 10), Ranges::Whole);
        assert!(
            matches!(resolve(Some(&h(desc[1..].to_vec())), 10), Ranges::Parts(p) if p.len() == 7)
        );
    }

    #[test]
    fn unsatisfiable_and_malformed() {
        assert_eq!(resolve(Some("bytes=10-"), 10), Ranges::Unsatisfiable);
        assert_eq!(resolve(Some("bytes=-0"), 10), Ranges::Unsatisfiable);
        assert_eq!(resolve(Some("bytes=5-2"), 10), Ranges::Whole);
        assert_eq!(resolve(Some("items=0-1"), 10), Ranges::Whole);
        assert_eq!(resolve(Some("bytes=a-b"), 10), Ranges::Whole);
        assert_eq!(resolve(None, 10), Ranges::Whole);
    }
}
