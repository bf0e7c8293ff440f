//! The API's error type and the one place that maps errors to HTTP statuses
//! and Swift-style bodies.

use http::{Response, StatusCode};

use super::body::{self, Body};
use crate::store;

/// The reason of the `PreconditionFailed` of a conditional write that
/// found no object at its name (S3 answers `NoSuchKey`).
pub const IF_MATCH_ABSENT: &str = "If-Match: no such object";

/// Every way a request can fail, by the status the client gets.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Not an error to the client: a write that a newer one of the same
    /// object overtook was dropped (Swift's proxy answers 202 to the 409s
    /// of its object servers).
    #[error("The request is accepted for processing.")]
    Superseded,
    #[error("{0}")]
    BadRequest(String),
    #[error("This server could not verify that you are authorized to access the document you requested.")]
    Unauthorized,
    #[error("Access was denied to this resource.")]
    Forbidden,
    #[error("The resource could not be found.")]
    NotFound,
    #[error("The method is not allowed for this resource.")]
    MethodNotAllowed,
    #[error("{0}")]
    Conflict(String),
    /// A DELETE that found the object newer than itself: the object stays
    /// (Swift's proxy passes its object servers' 409 on).
    #[error("There was a conflict when trying to complete your request.")]
    Newer,
    #[error("The server has waited too long for the request to be sent by the client.")]
    RequestTimeout,
    #[error("The requested Transfer-Encoding is not implemented.")]
    NotImplemented,
    #[error("None of the requested formats is available.")]
    NotAcceptable,
    #[error("Missing Content-Length or Transfer-Encoding: chunked.")]
    LengthRequired,
    #[error("{0}")]
    PreconditionFailed(String),
    #[error("{0}")]
    TooLarge(String),
    #[error("The Range requested is not available.")]
    RangeNotSatisfiable(u64),
    #[error("{0}")]
    Unprocessable(String),
    #[error("{0}")]
    InsufficientStorage(String),
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        use ApiError::*;
        match self {
            Superseded => StatusCode::ACCEPTED,
            BadRequest(_) => StatusCode::BAD_REQUEST,
            Unauthorized => StatusCode::UNAUTHORIZED,
            Forbidden => StatusCode::FORBIDDEN,
            NotFound => StatusCode::NOT_FOUND,
            MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Conflict(_) | Newer => StatusCode::CONFLICT,
            RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            NotAcceptable => StatusCode::NOT_ACCEPTABLE,
            LengthRequired => StatusCode::LENGTH_REQUIRED,
            NotImplemented => StatusCode::NOT_IMPLEMENTED,
            PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
            TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            RangeNotSatisfiable(_) => StatusCode::RANGE_NOT_SATISFIABLE,
            Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            InsufficientStorage(_) => StatusCode::INSUFFICIENT_STORAGE,
            Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// True when the error carries its own explanation, which Swift sends as
    /// the whole body (clients and tests compare it verbatim).
    fn has_message(&self) -> bool {
        use ApiError::*;
        matches!(
            self,
            BadRequest(_)
                | Conflict(_)
                | PreconditionFailed(_)
                | TooLarge(_)
                | Unprocessable(_)
                | InsufficientStorage(_)
        )
    }

    /// The body a client sees: the message, or Swift's short HTML page.
    pub fn body_text(&self) -> String {
        if self.has_message() {
            return self.to_string();
        }
        let title = self.status().canonical_reason().unwrap_or("Error");
        format!(
            "<html><h1>{title}</h1><p>{}</p></html>",
            escape(&self.to_string())
        )
    }

    /// The response a client sees (see [`ApiError::body_text`]).
    pub fn into_response(self, head_only: bool) -> Response<Body> {
        let status = self.status();
        if status.is_server_error() {
            tracing::warn!("{status}: {self}");
        }
        let text = self.body_text();
        let mut b = Response::builder()
            .status(status)
            .header("Content-Type", "text/html; charset=UTF-8");
        if let ApiError::RangeNotSatisfiable(len) = self {
            b = b.header("Content-Range", format!("bytes */{len}"));
        }
        if status == StatusCode::UNAUTHORIZED {
            b = b.header("Www-Authenticate", "Swift realm=\"unknown\"");
        }
        let body = if head_only {
            b = b.header("Content-Length", text.len());
            body::empty()
        } else {
            body::full(text)
        };
        // Every header above is a constant or a number, so the builder
        // accepts them; should it not, the client still gets the status.
        b.body(body).unwrap_or_else(|e| {
            tracing::error!("error response not built: {e}");
            bare(status)
        })
    }
}

/// A response with nothing but a status: built without the builder, so it
/// cannot fail.
fn bare(status: StatusCode) -> Response<Body> {
    let mut r = Response::new(body::empty());
    *r.status_mut() = status;
    r
}

/// Finishing a response without a panic. Header values that come from disk
/// (metadata, names) are checked when read, but should one still be refused
/// by the builder, the request gets a logged 500 instead of a dropped
/// connection.
pub trait Finish {
    /// The response with `body`, or [`ApiError::Internal`].
    fn finish(self, body: Body) -> ApiResult<Response<Body>>;
    /// The response with `body`, or a 500 response, where the caller returns
    /// a response rather than a result.
    fn finish_or_500(self, body: Body) -> Response<Body>;
}

impl Finish for http::response::Builder {
    fn finish(self, body: Body) -> ApiResult<Response<Body>> {
        self.body(body)
            .map_err(|e| ApiError::Internal(format!("response header refused: {e}")))
    }

    fn finish_or_500(self, body: Body) -> Response<Body> {
        self.finish(body).unwrap_or_else(|e| e.into_response(false))
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

impl From<store::Error> for ApiError {
    fn from(e: store::Error) -> Self {
        use store::Error as S;
        match e {
            S::NotFound => ApiError::NotFound,
            S::Conflict(m) => ApiError::Conflict(m),
            S::NotEmpty => ApiError::Conflict(
                "There was a conflict when trying to complete your request.".into(),
            ),
            S::BadName(m) => ApiError::BadRequest(m),
            S::NotMounted(p) => ApiError::InsufficientStorage(format!(
                "The storage device of policy {p} is not mounted."
            )),
            S::NoSpace => {
                ApiError::InsufficientStorage("No space left on the storage device.".into())
            }
            S::EtagMismatch => {
                ApiError::Unprocessable("The ETag given does not match the MD5 of the data.".into())
            }
            S::UnknownPolicy(p) => ApiError::BadRequest(format!("Invalid X-Storage-Policy {p:?}")),
            S::Superseded => ApiError::Superseded,
            S::Newer => ApiError::Newer,
            S::Exists => {
                ApiError::PreconditionFailed("The object exists (If-None-Match: *).".into())
            }
            S::NotMatched { absent } => ApiError::PreconditionFailed(
                match absent {
                    true => IF_MATCH_ABSENT,
                    false => "The object does not match the write's condition.",
                }
                .into(),
            ),
            S::Truncated => {
                ApiError::BadRequest("The request body was shorter than its Content-Length.".into())
            }
            S::Io(e) => match e.raw_os_error() {
                Some(libc::ENAMETOOLONG) => {
                    ApiError::BadRequest("Object name too long for the filesystem.".into())
                }
                Some(libc::E2BIG) => ApiError::InsufficientStorage(
                    "Metadata does not fit in the filesystem's extended attributes.".into(),
                ),
                // A file on the mount that sofgate's user may not read or
                // change (another uid's mode 0600, say): this request only.
                Some(libc::EACCES) => ApiError::Forbidden,
                _ => {
                    crate::metrics::fs_error(&e, "request");
                    ApiError::Internal(format!("storage error: {e}"))
                }
            },
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_header_is_a_500_not_a_panic() {
        let bad = || Response::builder().header("X-Stored", "a\r\nX-Evil: 1");
        let err = bad().finish(body::empty()).unwrap_err();
        assert_eq!(err.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let r = bad().finish_or_500(body::empty());
        assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(r.headers().get("x-evil").is_none() && r.headers().get("x-stored").is_none());
        let ok = Response::builder()
            .header("X-Stored", "fine")
            .finish(body::empty());
        assert_eq!(ok.unwrap().status(), StatusCode::OK);
    }
}
