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
    } else {
        Ranges::Parts(parts)
    }
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
        assert_eq!(resolve(None, 10), Ranges::Whole);
    }
}
