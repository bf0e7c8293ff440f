//! The cryptography of SigV4, apart from what it signs: the signing key of
//! a scope (and a bounded memo of recent ones), HMAC-SHA256 signatures
//! compared in constant time, and the chain of an aws-chunked body's
//! signatures (each chunk's signature signs its SHA-256 and the signature
//! before it, the first the request's own).

use std::sync::{Arc, Mutex};

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// SHA-256 of nothing.
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    #[allow(clippy::expect_used)] // HMAC takes a key of any length: this cannot fail
    let mut m = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
    m.update(data);
    m.finalize().into_bytes().into()
}

/// `hex(sha256(data))`.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// The signing key of `secret` for a scope (`date/region/service/aws4_request`).
pub fn signing_key(secret: &str, scope: &str) -> [u8; 32] {
    let mut key = [b"AWS4", secret.as_bytes()].concat();
    for piece in scope.split('/') {
        key = hmac(&key, piece.as_bytes()).to_vec();
    }
    key.try_into().unwrap_or([0; 32])
}

/// How many signing keys [`cached_signing_key`] keeps: a few keys a day
/// each, and their last day's; a burst of strangers only turns them over.
const KEY_CACHE_SIZE: usize = 64;

/// Signing keys derived lately, by secret and scope, the oldest replaced
/// when full: a pure memo of [`signing_key`], since a client signs every
/// request of a day with the same key and deriving it is four HMACs.
/// Keyed by the secret itself, so a changed secret never finds the old
/// key; every signature is still computed and checked per request.
struct KeyCache {
    entries: Vec<CachedKey>,
    /// The slot replaced next once the cache is full.
    next: usize,
}

struct CachedKey {
    secret: Box<str>,
    scope: Box<str>,
    key: [u8; 32],
}

static KEYS: Mutex<KeyCache> = Mutex::new(KeyCache {
    entries: Vec::new(),
    next: 0,
});

/// [`signing_key`], from the cache when it was derived lately.
pub fn cached_signing_key(secret: &str, scope: &str) -> [u8; 32] {
    // The scope is compared first (the client's, public); the secret in
    // time that does not depend on where it differs.
    let hit = |e: &CachedKey| *e.scope == *scope && same(&e.secret, secret);
    {
        // A poisoned lock only means a panic elsewhere while it was held;
        // entries are written whole, so they are still good.
        let cache = KEYS.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(e) = cache.entries.iter().find(|e| hit(e)) {
            return e.key;
        }
    }
    let key = signing_key(secret, scope);
    let mut cache = KEYS.lock().unwrap_or_else(|e| e.into_inner());
    if cache.entries.iter().any(hit) {
        return key;
    }
    let entry = CachedKey {
        secret: secret.into(),
        scope: scope.into(),
        key,
    };
    if cache.entries.len() < KEY_CACHE_SIZE {
        cache.entries.push(entry);
    } else {
        let i = cache.next % KEY_CACHE_SIZE;
        cache.entries[i] = entry;
        cache.next = (i + 1) % KEY_CACHE_SIZE;
    }
    key
}

/// `hex(hmac(key, sts))`.
pub fn sign(key: &[u8; 32], string_to_sign: &[u8]) -> String {
    hex::encode(hmac(key, string_to_sign))
}

/// Equal strings, in time that does not depend on where they differ.
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The signature chain of an aws-chunked body: each chunk's signature
/// signs its SHA-256 and the signature before it (the seed is the
/// request's own signature). It keeps the request's canonical request too,
/// which the `SignatureDoesNotMatch` of a bad chunk shows, as Swift's
/// s3api's does.
#[derive(Debug, Clone)]
pub struct ChunkChain {
    key: [u8; 32],
    amz_date: String,
    scope: String,
    previous: String,
    canonical_request: Arc<[u8]>,
}

impl ChunkChain {
    /// A chain seeded with a request's signature.
    pub fn new(
        key: [u8; 32],
        amz_date: &str,
        scope: &str,
        seed: &str,
        canonical_request: &[u8],
    ) -> ChunkChain {
        ChunkChain {
            key,
            amz_date: amz_date.to_string(),
            scope: scope.to_string(),
            previous: seed.to_string(),
            canonical_request: canonical_request.into(),
        }
    }

    /// The canonical request of the request that began the chain.
    pub fn canonical_request(&self) -> &[u8] {
        &self.canonical_request
    }

    /// The string to sign of the next chunk, whose data hashes to `sha256`.
    pub fn chunk_string(&self, sha256_hex: &str) -> String {
        format!(
            "AWS4-HMAC-SHA256-PAYLOAD\n{}\n{}\n{}\n{EMPTY_SHA256}\n{sha256_hex}",
            self.amz_date, self.scope, self.previous
        )
    }

    /// The string to sign of the trailer chunk (canonical trailers are
    /// `name:value\n` lines, sorted; `\n` when there are none).
    pub fn trailer_string(&self, canonical_trailers: &[u8]) -> String {
        format!(
            "AWS4-HMAC-SHA256-TRAILER\n{}\n{}\n{}\n{}",
            self.amz_date,
            self.scope,
            self.previous,
            sha256_hex(canonical_trailers)
        )
    }

    /// Checks `provided` against the signature of `string_to_sign` and,
    /// when it holds, makes it the previous signature of the chain.
    pub fn advance(&mut self, string_to_sign: &str, provided: &str) -> bool {
        let ok = same(&sign(&self.key, string_to_sign.as_bytes()), provided);
        if ok {
            self.previous = provided.to_string();
        }
        ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// AWS's "deriving the signing key" example (IAM, 2012-02-15).
    #[test]
    fn signing_key_example() {
        let k = signing_key(
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            "20120215/us-east-1/iam/aws4_request",
        );
        assert_eq!(
            hex::encode(k),
            "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
        );
        assert_eq!(sha256_hex(b""), EMPTY_SHA256);
    }

    #[test]
    fn cached_keys_are_the_derived_ones_and_the_cache_stays_bounded() {
        let scope = "20120215/us-east-1/s3/aws4_request";
        for round in 0..2 {
            for i in 0..(KEY_CACHE_SIZE + 9) {
                let secret = format!("secret-{i}");
                assert_eq!(
                    cached_signing_key(&secret, scope),
                    signing_key(&secret, scope),
                    "round {round}, secret {i}"
                );
            }
        }
        // A changed secret (or scope) is another key, never the cached one.
        let a = cached_signing_key("old-secret", scope);
        assert_ne!(cached_signing_key("old-secreT", scope), a);
        assert_ne!(
            cached_signing_key("old-secret", "20120216/us-east-1/s3/aws4_request"),
            a
        );
        let len = KEYS.lock().map(|c| c.entries.len()).unwrap_or(0);
        assert!(len <= KEY_CACHE_SIZE, "{len}");
    }

    #[test]
    fn comparison_is_exact() {
        assert!(same("abc", "abc"));
        assert!(!same("abc", "abd") && !same("abc", "ab") && !same("", "a"));
    }
}
