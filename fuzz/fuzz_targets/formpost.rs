//! Form uploads (`multipart/form-data`): any Content-Type and body, cut
//! into chunks anywhere, parse into parts or a 400 without a panic; a form
//! built from any field values reads back exactly those values.
#![no_main]
use std::convert::Infallible;

use bytes::Bytes;
use http_body::Frame;
use http_body_util::StreamBody;
use libfuzzer_sys::fuzz_target;
use sofgate::swift::formpost::{read_form, FormPart};
use sofgate_fuzz::block_on;

/// `body` as a stream of chunks of `step` bytes.
fn parse(ct: &str, body: &[u8], step: usize) -> Result<Vec<FormPart>, String> {
    let frames: Vec<Result<Frame<Bytes>, Infallible>> = body
        .chunks(step.max(1))
        .map(|c| Ok(Frame::data(Bytes::copy_from_slice(c))))
        .collect();
    let stream = StreamBody::new(futures_util::stream::iter(frames));
    block_on(read_form(stream, ct, 1 << 20)).map_err(|e| e.to_string())
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let step = usize::from(mode >> 1) + 1;
    if mode & 1 == 0 {
        // Anything: a Content-Type line, then the body.
        let (ct, body) = match rest.iter().position(|b| *b == b'\n') {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, &[][..]),
        };
        let Ok(ct) = std::str::from_utf8(ct) else {
            return;
        };
        if let Ok(parts) = parse(ct, body, step) {
            for (_, d) in &parts {
                assert!(d.len() <= body.len());
            }
        }
        return;
    }
    // A well-formed form of the values separated by 0xff.
    let boundary = "----sofgateFuzzBoundary7MA4YWxk";
    let values: Vec<&[u8]> = rest.split(|b| *b == 0xff).collect();
    if values
        .iter()
        .any(|v| v.windows(boundary.len()).any(|w| w == boundary.as_bytes()))
    {
        return;
    }
    let mut body = Vec::new();
    for (i, v) in values.iter().enumerate() {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"f{i}\"\r\n\r\n")
                .as_bytes(),
        );
        body.extend_from_slice(v);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    let ct = format!("multipart/form-data; boundary={boundary}");
    let parts = parse(&ct, &body, step).unwrap_or_else(|e| panic!("{e}: {body:?}"));
    assert_eq!(parts.len(), values.len());
    for (i, ((h, d), v)) in parts.iter().zip(&values).enumerate() {
        assert_eq!(
            h.get(":name").map(String::as_str),
            Some(format!("f{i}").as_str())
        );
        assert_eq!(d, v, "field {i}");
    }
});
