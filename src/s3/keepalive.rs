//! Answers that may take longer than a client waits for their first byte
//! (a CompleteMultipartUpload assembling many GiB: botocore gives up after
//! 60 s of silence, then retries). Past a grace period the answer starts
//! as a 200 whose body is the XML declaration, a space every interval, and
//! at last the result's document or the error's, as S3 does; its SDKs read
//! an error out of a 200 answer to CompleteMultipartUpload. An answer ready
//! within the grace period is the plain one, with its own status.

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use http::Response;

use super::error::S3Error;
use super::xml::{self, DECLARATION};
use crate::http::body::{self, Body};

/// Waits `grace` for `job`, whose success `doc` writes as an XML document;
/// then answers with it, or starts the kept-alive 200 (a space every
/// `beat`) and finishes it when `job` is done, which then runs to its end
/// even when the client has gone.
pub async fn answer<T, F>(
    job: F,
    (grace, beat): (Duration, Duration),
    request_id: String,
    doc: impl FnOnce(T) -> String + Send + 'static,
) -> Result<Response<Body>, S3Error>
where
    T: Send + 'static,
    F: Future<Output = Result<T, S3Error>> + Send + 'static,
{
    let mut job = Box::pin(job);
    if let Ok(done) = tokio::time::timeout(grace, &mut job).await {
        return xml::ok(doc(done?));
    }
    let last = move |done: Result<T, S3Error>| {
        let text = match done {
            Ok(v) => doc(v),
            Err(e) => {
                tracing::info!("S3 error {} written into a kept-alive 200", e.code);
                e.xml(&request_id)
            }
        };
        Bytes::from(text.strip_prefix(DECLARATION).unwrap_or(&text).to_string())
    };
    let body = body::heartbeat(DECLARATION.as_bytes(), beat, job, last);
    let mut r = Response::new(body);
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/xml"),
    );
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::StatusCode;
    use http_body_util::BodyExt;

    const QUICK: (Duration, Duration) = (Duration::ZERO, Duration::from_millis(10));

    async fn text(r: Response<Body>) -> String {
        let b = r.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8(b.to_vec()).unwrap()
    }

    fn doc(n: u32) -> String {
        format!("{DECLARATION}<Done>{n}</Done>")
    }

    #[tokio::test]
    async fn an_answer_ready_in_time_is_the_plain_one() {
        let r = answer(
            async { Ok(7) },
            (Duration::from_secs(5), QUICK.1),
            "tx1".into(),
            doc,
        );
        let r = r.await.unwrap();
        assert_eq!(
            r.headers()["content-length"],
            doc(7).len().to_string().as_str()
        );
        assert_eq!(text(r).await, doc(7));
        let failed = answer(
            async { Err::<u32, _>(S3Error::no_such_key("k")) },
            (Duration::from_secs(5), QUICK.1),
            "tx1".into(),
            doc,
        );
        assert_eq!(failed.await.unwrap_err().code, "NoSuchKey");
    }

    #[tokio::test(start_paused = true)]
    async fn a_late_answer_is_a_200_kept_alive_with_its_result_or_error_last() {
        let slow = |out: Result<u32, S3Error>| async move {
            tokio::time::sleep(Duration::from_millis(80)).await;
            out
        };
        let r = answer(slow(Ok(7)), QUICK, "tx1".into(), doc).await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert!(r.headers().get("content-length").is_none());
        let t = text(r).await;
        let rest = t.strip_prefix(DECLARATION).expect("the declaration first");
        let spaces = rest.len() - rest.trim_start().len();
        assert!(spaces >= 2, "kept alive: {t:?}");
        assert_eq!(rest.trim_start(), "<Done>7</Done>");
        let r = answer(
            slow(Err(S3Error::no_such_key("k"))),
            QUICK,
            "tx9".into(),
            doc,
        );
        let t = text(r.await.unwrap()).await;
        assert_eq!(t.matches("<?xml").count(), 1, "{t}");
        assert!(t.trim_end().ends_with("</Error>"), "{t}");
        assert!(t.contains("<Code>NoSuchKey</Code>") && t.contains("<RequestId>tx9</RequestId>"));
    }
}
