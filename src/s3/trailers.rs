//! The trailers of an aws-chunked body (`x-amz-trailer`): `name:value`
//! lines after the final 0-size chunk, only those declared, each once, and
//! with signed chunks an `x-amz-trailer-signature` chained from the final
//! chunk's signature over the other trailers.

use http::{HeaderMap, HeaderName, HeaderValue};

use super::chunked::{mismatch, ChunkError};
use super::sigv4::ChunkChain;

const SIGNATURE: &str = "x-amz-trailer-signature";

/// The trailers expected, and those read so far.
pub struct Trailers {
    expected: Vec<String>,
    got: HeaderMap,
}

impl Trailers {
    /// `names` as declared (lower case); `signed`: a trailer signature
    /// must come too.
    pub fn new(names: Vec<String>, signed: bool) -> Trailers {
        let mut expected = names;
        if signed {
            expected.push(SIGNATURE.to_string());
        }
        Trailers {
            expected,
            got: HeaderMap::new(),
        }
    }

    /// No trailer is expected: the body ends with a CRLF (or nothing).
    pub fn none_expected(&self) -> bool {
        self.expected.is_empty()
    }

    /// One trailer line (its CRLF dropped): a declared name, a value.
    pub fn add_line(&mut self, line: &[u8]) -> Result<(), ChunkError> {
        let text = std::str::from_utf8(line).map_err(|_| ChunkError::MalformedTrailer)?;
        let (k, v) = text.split_once(':').unwrap_or((text, ""));
        let k = k.trim().to_ascii_lowercase();
        if !self.expected.contains(&k) {
            return Err(ChunkError::MalformedTrailer);
        }
        let bad = |_| ChunkError::MalformedTrailer;
        let name =
            HeaderName::from_bytes(k.as_bytes()).map_err(|_| ChunkError::MalformedTrailer)?;
        self.got
            .insert(name, HeaderValue::from_str(v.trim()).map_err(bad)?);
        Ok(())
    }

    /// All trailers are read: each declared one came, and the signature
    /// (if any) holds; then it is dropped, and at least one other must be
    /// left.
    pub fn check(&mut self, chain: Option<&mut ChunkChain>) -> Result<(), ChunkError> {
        let signed = self.expected.iter().any(|t| t == SIGNATURE);
        if signed && !self.got.contains_key(SIGNATURE) {
            return Err(ChunkError::Incomplete);
        }
        if self.got.len() != self.expected.len() {
            return Err(ChunkError::MalformedTrailer);
        }
        let Some(chain) = chain.filter(|_| signed) else {
            return Ok(());
        };
        let mut lines: Vec<String> = self
            .got
            .iter()
            .filter(|(k, _)| k.as_str() != SIGNATURE)
            .map(|(k, v)| format!("{}:{}\n", k, String::from_utf8_lossy(v.as_bytes())))
            .collect();
        lines.sort();
        let canonical = if lines.is_empty() {
            "\n".to_string()
        } else {
            lines.concat()
        };
        let provided = self
            .got
            .get(SIGNATURE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let sts = chain.trailer_string(canonical.as_bytes());
        if !chain.advance(&sts, provided) {
            return Err(mismatch(chain, sts, provided));
        }
        self.got.remove(SIGNATURE);
        if self.got.is_empty() {
            return Err(ChunkError::Incomplete);
        }
        Ok(())
    }

    /// The trailers read, once; `None` when there are none.
    pub fn take(&mut self) -> Option<HeaderMap> {
        let t = std::mem::take(&mut self.got);
        (!t.is_empty()).then_some(t)
    }
}
