//! Temp URL signatures, expiry times and IP ranges: any text parses without
//! a panic; a signature made with the key verifies in every accepted form
//! and not for another message; an accepted expiry can be sent back as an
//! `Expires` date.
#![no_main]
use std::net::IpAddr;

use base64::Engine;
use hmac::{Hmac, Mac};
use libfuzzer_sys::fuzz_target;
use sofgate::swift::headers::http_date;
use sofgate::swift::tempurl::{ip_in_range, parse_expires, signed_by};
use sofgate_fuzz::fields;

fn hmac<M: Mac + hmac::digest::KeyInit>(key: &[u8], msg: &[u8]) -> Vec<u8> {
    let mut m = <M as hmac::digest::KeyInit>::new_from_slice(key).unwrap();
    m.update(msg);
    m.finalize().into_bytes().to_vec()
}

const NOW: u64 = 1_700_000_000;

fuzz_target!(|data: &[u8]| {
    let f = fields(data, b'\n', 4);
    let text = |i: usize| f.get(i).and_then(|b| std::str::from_utf8(b).ok());
    let Some(key) = text(0) else { return };
    let msg = f.get(1).copied().unwrap_or_default();
    let keys = vec![key.to_string()];
    if !key.is_empty() {
        let b64 = base64::engine::general_purpose::STANDARD;
        let url = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        for (name, mac) in [
            ("sha1", hmac::<Hmac<sha1::Sha1>>(key.as_bytes(), msg)),
            ("sha256", hmac::<Hmac<sha2::Sha256>>(key.as_bytes(), msg)),
            ("sha512", hmac::<Hmac<sha2::Sha512>>(key.as_bytes(), msg)),
        ] {
            let forms = [
                hex::encode(&mac),
                format!("{name}:{}", b64.encode(&mac)),
                format!("{name}:{}", url.encode(&mac)),
            ];
            for sig in &forms {
                assert!(signed_by(sig, msg, &keys), "{sig}");
                let mut other = msg.to_vec();
                other.push(b'x');
                assert!(!signed_by(sig, &other, &keys), "{sig}");
            }
        }
    }
    if let Some(sig) = text(2) {
        let _ = signed_by(sig, msg, &keys);
    }
    if let Some(v) = text(3) {
        if let Some(exp) = parse_expires(v, NOW) {
            assert!(exp >= NOW);
            // A GET through the URL answers with `Expires: <this date>`.
            let _ = http_date(exp as f64);
        }
        let ip = match f.get(1).filter(|b| b.len() >= 16) {
            Some(b) if b[0] & 1 == 0 => IpAddr::from(<[u8; 4]>::try_from(&b[1..5]).unwrap()),
            Some(b) => IpAddr::from(<[u8; 16]>::try_from(&b[..16]).unwrap()),
            None => return,
        };
        let _ = ip_in_range(ip, v);
        assert!(ip_in_range(ip, &ip.to_string()), "{ip}");
        let bits = if ip.is_ipv4() { 32 } else { 128 };
        assert!(ip_in_range(ip, &format!("{ip}/{bits}")), "{ip}");
    }
});
