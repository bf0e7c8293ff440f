//! S3's errors: one type, AWS's codes and messages (Swift's s3api suites
//! compare them verbatim), the XML body with `RequestId`/`HostId`, and the
//! mapping from the Swift core's [`ApiError`].

use http::{HeaderValue, Response, StatusCode};

use super::xml::Writer;
use crate::http::body::{self, Body};
use crate::http::error::ApiError;

/// An S3 error response: status, code, message and the extra elements
/// some errors carry (`<StringToSign>`, `<ArgumentName>`, `<BucketName>`…).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Error {
    pub code: &'static str,
    pub status: StatusCode,
    pub message: String,
    pub extra: Vec<(&'static str, String)>,
}

fn err(status: u16, code: &'static str, message: &str) -> S3Error {
    S3Error {
        code,
        status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        message: message.to_string(),
        extra: Vec::new(),
    }
}

/// Swift's s3api message for a missing or unreadable date.
pub const NO_DATE: &str = "AWS authentication requires a valid Date or x-amz-date header";

impl S3Error {
    /// Adds an element to the body.
    pub fn with(mut self, name: &'static str, value: impl Into<String>) -> S3Error {
        self.extra.push((name, value.into()));
        self
    }

    pub fn access_denied() -> S3Error {
        err(403, "AccessDenied", "Access Denied.")
    }
    pub fn access_denied_msg(m: &str) -> S3Error {
        err(403, "AccessDenied", m)
    }
    pub fn invalid_access_key_id(key: &str) -> S3Error {
        err(
            403,
            "InvalidAccessKeyId",
            "The AWS Access Key Id you provided does not exist in our records.",
        )
        .with("AWSAccessKeyId", key)
    }
    /// The body's extra elements come from the signature checker.
    pub fn signature_does_not_match(details: Vec<(&'static str, String)>) -> S3Error {
        let mut e = err(
            403,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you \
             provided. Check your key and signing method.",
        );
        e.extra = details;
        e
    }
    pub fn request_time_too_skewed(request_time: i64, server_time: i64) -> S3Error {
        let t = super::time::format_iso;
        err(
            403,
            "RequestTimeTooSkewed",
            "The difference between the request time and the current time is too large.",
        )
        .with("RequestTime", t(request_time))
        .with("ServerTime", t(server_time))
        .with("MaxAllowedSkewMilliseconds", "900000")
    }
    pub fn authorization_header_malformed(m: &str) -> S3Error {
        err(400, "AuthorizationHeaderMalformed", m)
    }
    pub fn header_needs_three_parts() -> S3Error {
        S3Error::authorization_header_malformed(
            "The authorization header is malformed; the authorization header requires \
             three components: Credential, SignedHeaders, and Signature.",
        )
    }
    pub fn authorization_query_parameters_error(m: &str) -> S3Error {
        err(400, "AuthorizationQueryParametersError", m)
    }
    pub fn invalid_argument(name: &str, value: &str, m: &str) -> S3Error {
        err(400, "InvalidArgument", m)
            .with("ArgumentName", name)
            .with("ArgumentValue", value)
    }
    pub fn invalid_request(m: &str) -> S3Error {
        err(400, "InvalidRequest", m)
    }
    pub fn not_implemented(m: &str) -> S3Error {
        err(501, "NotImplemented", m)
    }
    pub fn method_not_allowed(method: &str, resource: &str) -> S3Error {
        err(
            405,
            "MethodNotAllowed",
            "The specified method is not allowed against this resource.",
        )
        .with("Method", method)
        .with("ResourceType", resource)
    }
    pub fn invalid_bucket_name(b: &str) -> S3Error {
        err(
            400,
            "InvalidBucketName",
            "The specified bucket is not valid.",
        )
        .with("BucketName", b)
    }
    pub fn invalid_uri(uri: &str) -> S3Error {
        err(400, "InvalidURI", "Couldn't parse the specified URI.").with("URI", uri)
    }
    pub fn key_too_long(len: usize, max: usize) -> S3Error {
        err(400, "KeyTooLongError", "Your key is too long.")
            .with("Size", len.to_string())
            .with("MaxSizeAllowed", max.to_string())
    }
    pub fn no_such_bucket(b: &str) -> S3Error {
        err(404, "NoSuchBucket", "The specified bucket does not exist.").with("BucketName", b)
    }
    pub fn no_such_key(k: &str) -> S3Error {
        err(404, "NoSuchKey", "The specified key does not exist.").with("Key", k)
    }
    pub fn malformed_xml() -> S3Error {
        err(
            400,
            "MalformedXML",
            "The XML you provided was not well-formed or did not validate against our \
             published schema",
        )
    }
    pub fn malformed_trailer() -> S3Error {
        err(
            400,
            "MalformedTrailerError",
            "The request contained trailing data that was not well-formed or did not \
             conform to our published schema.",
        )
    }
    pub fn missing_content_length() -> S3Error {
        err(
            411,
            "MissingContentLength",
            "You must provide the Content-Length HTTP header.",
        )
    }
    /// The body ended before its framing said it would.
    pub fn incomplete_body_terminated(_why: &str) -> S3Error {
        err(
            400,
            "IncompleteBody",
            "The request body terminated unexpectedly",
        )
    }
    pub fn incomplete_body(expected: u64, provided: u64) -> S3Error {
        err(
            400,
            "IncompleteBody",
            "You did not provide the number of bytes specified by the Content-Length HTTP header",
        )
        .with("NumberBytesExpected", expected.to_string())
        .with("NumberBytesProvided", provided.to_string())
    }
    pub fn invalid_chunk_size(chunk: u64, bad_size: u64) -> S3Error {
        err(
            403,
            "InvalidChunkSizeError",
            "Only the last chunk is allowed to have a size less than 8192 bytes",
        )
        .with("Chunk", chunk.to_string())
        .with("BadChunkSize", bad_size.to_string())
    }
    pub fn sha256_mismatch(client: &str, computed: &str) -> S3Error {
        err(
            400,
            "XAmzContentSHA256Mismatch",
            "The provided 'x-amz-content-sha256' header does not match what was computed.",
        )
        .with("ClientComputedContentSHA256", client)
        .with("S3ComputedContentSHA256", computed)
    }
    pub fn invalid_digest(content_md5: &str) -> S3Error {
        err(
            400,
            "InvalidDigest",
            "The Content-MD5 you specified was invalid.",
        )
        .with("Content-MD5", content_md5)
    }
    /// Content-MD5 mismatch; Swift's s3api (and AWS, at times) sends the
    /// expected digest in hex.
    pub fn bad_digest_md5(expected_hex: &str) -> S3Error {
        err(
            400,
            "BadDigest",
            "The Content-MD5 you specified did not match what we received.",
        )
        .with("ExpectedDigest", expected_hex)
    }
    /// An `x-amz-checksum-*` mismatch (`algo` as `CRC32`, `SHA256`…).
    pub fn bad_digest_checksum(algo: &str) -> S3Error {
        err(
            400,
            "BadDigest",
            &format!("The {algo} you specified did not match the calculated checksum."),
        )
    }
    pub fn internal_error() -> S3Error {
        err(
            500,
            "InternalError",
            "We encountered an internal error. Please try again.",
        )
    }
    /// Something the request needs (Keystone) does not answer.
    pub fn service_unavailable() -> S3Error {
        err(
            503,
            "ServiceUnavailable",
            "Service is unable to handle request.",
        )
    }

    /// The error's XML document (logged when it is the server's fault).
    pub fn xml(&self, request_id: &str) -> String {
        if self.status.is_server_error() {
            tracing::warn!("S3 {} {}: {}", self.status, self.code, self.message);
        }
        let mut w = Writer::with_ns("Error", None);
        w.elem("Code", self.code).elem("Message", &self.message);
        for (k, v) in &self.extra {
            w.elem(k, v);
        }
        w.elem("RequestId", request_id).elem("HostId", request_id);
        w.finish()
    }

    /// The error as a response: XML body (none for HEAD, as S3), the
    /// request id in the body and in `x-amz-request-id`/`x-amz-id-2`.
    pub fn into_response(self, request_id: &str, head: bool) -> Response<Body> {
        let text = self.xml(request_id);
        // A HEAD answer says 0, as Swift's s3api (its suites check it).
        let len = if head { 0 } else { text.len() };
        let mut r = Response::new(if head {
            body::empty()
        } else {
            body::full(text)
        });
        *r.status_mut() = self.status;
        let h = r.headers_mut();
        h.insert("content-type", HeaderValue::from_static("application/xml"));
        h.insert("content-length", HeaderValue::from(len));
        if let Ok(v) = HeaderValue::from_str(request_id) {
            h.insert("x-amz-request-id", v.clone());
            h.insert("x-amz-id-2", v);
        }
        r
    }

    /// The S3 form of an error of the Swift core, for a request on
    /// `bucket`/`key` (a 404 names what is missing).
    pub fn from_api(e: ApiError, bucket: Option<&str>, key: Option<&str>) -> S3Error {
        use ApiError as A;
        match e {
            // A write that a newer one of the key overtook: PutObject and
            // CompleteMultipartUpload turn it into their success (S3
            // answers both writes of a race with 200) before it gets here.
            A::Superseded => err(409, "OperationAborted", "A newer write of this key was made meanwhile."),
            // DeleteObject turns this into its 204 before it gets here.
            A::Newer => err(409, "OperationAborted", "A newer write of this key was made meanwhile."),
            A::BadRequest(m) => S3Error::invalid_request(&m),
            A::Unauthorized | A::Forbidden => S3Error::access_denied(),
            A::NotFound => match (bucket, key) {
                (Some(b), None) => S3Error::no_such_bucket(b),
                (_, Some(k)) => S3Error::no_such_key(k),
                _ => S3Error::internal_error(),
            },
            A::MethodNotAllowed => err(
                405,
                "MethodNotAllowed",
                "The specified method is not allowed against this resource.",
            ),
            // A file where a directory is needed, or the reverse (MinIO
            // answers XMinioParentIsObject to the same clash).
            A::Conflict(m) => err(409, "XSofgateNameConflict", &m),
            A::NotImplemented => S3Error::not_implemented(
                "A header you provided implies functionality that is not implemented",
            )
            .with("Header", "Transfer-Encoding"),
            A::NotAcceptable => S3Error::invalid_request(&e.to_string()),
            A::LengthRequired => S3Error::missing_content_length(),
            A::RequestTimeout => err(
                400,
                "RequestTimeout",
                "Your socket connection to the server was not read from or written to within the timeout period.",
            ),
            A::PreconditionFailed(_) => err(
                412,
                "PreconditionFailed",
                "At least one of the preconditions you specified did not hold.",
            ),
            A::TooLarge(_) => err(
                400,
                "EntityTooLarge",
                "Your proposed upload exceeds the maximum allowed object size.",
            ),
            A::RangeNotSatisfiable(_) => err(
                416,
                "InvalidRange",
                "The requested range cannot be satisfied.",
            ),
            A::Unprocessable(_) => err(
                400,
                "BadDigest",
                "The Content-MD5 you specified did not match what we received.",
            ),
            A::InsufficientStorage(m) => err(507, "InsufficientStorage", &m),
            A::Internal(m) => {
                tracing::warn!("S3 internal error: {m}");
                S3Error::internal_error()
            }
        }
    }
}

/// Bytes as Swift's s3api shows them in `<StringToSignBytes>`: two hex
/// digits each, space-separated.
pub fn hex_bytes(b: &[u8]) -> String {
    let mut out = String::with_capacity(b.len() * 3);
    for (i, x) in b.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(&format!("{x:02x}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn text(r: Response<Body>) -> String {
        let b = r.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8(b.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn errors_are_s3_xml_with_request_ids() {
        let e = S3Error::signature_does_not_match(vec![
            ("AWSAccessKeyId", "test:tester".into()),
            ("StringToSign", "AWS4-HMAC-SHA256\n2013".into()),
        ]);
        let r = e.into_response("tx123", false);
        assert_eq!(r.status(), 403);
        assert_eq!(r.headers()["content-type"], "application/xml");
        assert_eq!(r.headers()["x-amz-request-id"], "tx123");
        assert_eq!(r.headers()["x-amz-id-2"], "tx123");
        let body = text(r).await;
        assert!(
            body.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error>"),
            "{body}"
        );
        assert!(body.contains("<Code>SignatureDoesNotMatch</Code>"));
        assert!(body.contains(
            "<Message>The request signature we calculated does not match the signature \
             you provided. Check your key and signing method.</Message>"
        ));
        assert!(body.contains("<AWSAccessKeyId>test:tester</AWSAccessKeyId>"));
        assert!(body.contains("<StringToSign>AWS4-HMAC-SHA256\n2013</StringToSign>"));
        assert!(body.ends_with("<RequestId>tx123</RequestId><HostId>tx123</HostId></Error>"));
        // HEAD: the status and headers, no body.
        let head = S3Error::no_such_bucket("b").into_response("tx1", true);
        assert_eq!(head.status(), 404);
        assert_eq!(head.headers()["content-length"], "0");
        assert_eq!(text(head).await, "");
    }

    #[test]
    fn core_errors_map_to_s3_codes() {
        let code = |e, b, k| S3Error::from_api(e, b, k).code;
        assert_eq!(code(ApiError::NotFound, Some("b"), None), "NoSuchBucket");
        assert_eq!(code(ApiError::NotFound, Some("b"), Some("k")), "NoSuchKey");
        assert_eq!(code(ApiError::Forbidden, None, None), "AccessDenied");
        assert_eq!(code(ApiError::Unauthorized, None, None), "AccessDenied");
        assert_eq!(
            code(ApiError::BadRequest("x".into()), None, None),
            "InvalidRequest"
        );
        assert_eq!(
            code(ApiError::LengthRequired, None, None),
            "MissingContentLength"
        );
        assert_eq!(
            code(ApiError::Internal("disk".into()), None, None),
            "InternalError"
        );
        let nf = S3Error::from_api(ApiError::NotFound, Some("b"), Some("k"));
        assert_eq!(
            (nf.status.as_u16(), &nf.extra[0]),
            (404, &("Key", "k".to_string()))
        );
    }

    #[test]
    fn bytes_are_shown_as_spaced_hex() {
        assert_eq!(hex_bytes(b"AWS\n"), "41 57 53 0a");
        assert_eq!(hex_bytes(b""), "");
    }
}
