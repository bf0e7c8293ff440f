//! If-Match / If-None-Match / If-Modified-Since / If-Unmodified-Since on any
//! values, against an object of any ETag and timestamp.
#![no_main]
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use libfuzzer_sys::fuzz_target;
use sofgate::store::meta::Meta;
use sofgate::store::object::ObjectInfo;
use sofgate::swift::object_core::check_conditions;
use sofgate::swift::Ctx;
use sofgate_fuzz::fields;

const NAMES: [&str; 4] = [
    "if-match",
    "if-none-match",
    "if-modified-since",
    "if-unmodified-since",
];

fuzz_target!(|data: &[u8]| {
    let f = fields(data, b'\n', 6);
    let text = |i: usize| f.get(i).and_then(|b| std::str::from_utf8(b).ok());
    let (Some(etag), Some(ts)) = (text(0), text(1)) else {
        return;
    };
    let mut headers = HeaderMap::new();
    for (i, name) in NAMES.iter().enumerate() {
        if let Some(v) = f.get(i + 2).filter(|v| !v.is_empty()) {
            let Ok(v) = HeaderValue::from_bytes(v) else {
                return;
            };
            headers.insert(*name, v);
        }
    }
    let mut meta = Meta::new();
    meta.insert("ETag".into(), etag.into());
    meta.insert("X-Timestamp".into(), ts.into());
    let info = ObjectInfo { size: 0, meta };
    let ctx = Ctx {
        method: Method::GET,
        headers: headers.clone(),
        query: Default::default(),
        id: None,
        account: "AUTH_a".into(),
        grant: None,
        note: Default::default(),
        etag_is_at: None,
    };
    let got = check_conditions(&ctx, &info);
    let Ok(got) = got else { return }; // a header that is not text: 400
    assert!(
        matches!(
            got,
            None | Some(StatusCode::NOT_MODIFIED) | Some(StatusCode::PRECONDITION_FAILED)
        ),
        "{got:?}"
    );
    if headers.is_empty() {
        assert_eq!(got, None);
    }
    let only = |name: &str| headers.len() == 1 && headers.contains_key(name);
    if !etag.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return; // the list checks below hold for ETags as Swift makes them
    }
    let quoted = format!("\"{etag}\"");
    if only("if-match") && (headers["if-match"] == "*" || headers["if-match"] == quoted.as_str()) {
        assert_eq!(got, None, "{etag:?}");
    }
    if only("if-none-match")
        && (headers["if-none-match"] == "*" || headers["if-none-match"] == quoted.as_str())
    {
        assert_eq!(got, Some(StatusCode::NOT_MODIFIED), "{etag:?}");
    }
});
