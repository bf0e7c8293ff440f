//! DeleteObjects (`POST ?delete`): an XML list of at most 1,000 keys, its
//! body checked by Content-MD5 or an x-amz-checksum-* (one is required, as
//! S3 requires), each key deleted as DeleteObject deletes it (through the
//! core); a key that fails is reported in the answer, not as the answer's
//! status. Quiet mode lists only the failures.

use std::sync::Arc;

use http::{Method, Response, StatusCode};

use super::delete::delete_key;
use super::error::S3Error;
use super::object::s3_error;
use super::{bridge, upload, xml, S3Request};
use crate::http::body::{self, Body};
use crate::swift::{blocking, App};

/// The most keys one request may name.
pub const MAX_KEYS: usize = 1000;

/// The request's document: the keys (with versions) and quiet mode.
#[derive(Debug, PartialEq, Eq)]
struct Delete {
    objects: Vec<(String, Option<String>)>,
    quiet: bool,
}

/// Reads a `<Delete>` document.
fn parse(body: &[u8]) -> Result<Delete, S3Error> {
    let doc = xml::parse(body)?;
    let root = doc.root_element();
    if root.tag_name().name() != "Delete" {
        return Err(S3Error::malformed_xml());
    }
    let quiet =
        xml::child_text(root, "Quiet").is_some_and(|q| q.trim().eq_ignore_ascii_case("true"));
    let mut objects = Vec::new();
    for o in root
        .children()
        .filter(|c| c.is_element() && c.tag_name().name() == "Object")
    {
        let key = xml::child_text(o, "Key").ok_or_else(S3Error::malformed_xml)?;
        if key.is_empty() {
            return Err(s3_error(
                400,
                "UserKeyMustBeSpecified",
                "The bucket POST must contain the specified field name. If it is specified, \
                 please check the order of the fields.",
            ));
        }
        let version = xml::child_text(o, "VersionId").map(str::to_string);
        objects.push((key.to_string(), version));
        if objects.len() > MAX_KEYS {
            return Err(S3Error::malformed_xml());
        }
    }
    if objects.is_empty() {
        return Err(S3Error::malformed_xml());
    }
    Ok(Delete { objects, quiet })
}

/// DeleteObjects.
pub async fn handle(app: Arc<App>, mut req: S3Request) -> Result<Response<Body>, S3Error> {
    let bucket = req
        .target
        .bucket
        .clone()
        .ok_or_else(S3Error::internal_error)?;
    let expect = req.expect.take().unwrap_or_default();
    let summed = expect.md5.is_some() || expect.checksum.is_some();
    let text = upload::read_document(&mut req, expect).await?;
    if text.is_empty() {
        return Err(s3_error(
            400,
            "MissingRequestBodyError",
            "Request body is empty.",
        ));
    }
    if !summed {
        return Err(S3Error::invalid_request(
            "Missing required header for this request: Content-MD5 OR x-amz-checksum-*",
        ));
    }
    let delete = parse(&text)?;
    let ctx = bridge::ctx(
        &app,
        &req,
        Method::HEAD,
        Default::default(),
        Default::default(),
    )
    .await?;
    let (a, b) = (ctx.account.clone(), bucket.clone());
    if !blocking(&app, move |app| Ok(app.locate(&a, &b).is_ok())).await? {
        return Err(S3Error::no_such_bucket(&bucket));
    }
    let mut w = xml::Writer::new("DeleteResult");
    for (key, version) in &delete.objects {
        match delete_key(&app, &req, &bucket, key, version.as_deref()).await {
            Ok(_) if delete.quiet => {}
            Ok(d) => {
                w.open("Deleted").elem("Key", key);
                if let Some(v) = version {
                    w.elem("VersionId", v);
                }
                // A delete marker made (no version named) or deleted.
                if let Some(m) = d.version_id.as_deref().filter(|_| d.marker) {
                    w.elem("DeleteMarker", "true")
                        .elem("DeleteMarkerVersionId", m);
                }
                w.close();
            }
            Err(e) => {
                w.open("Error").elem("Key", key);
                if let Some(v) = version {
                    w.elem("VersionId", v);
                }
                w.elem("Code", e.code).elem("Message", &e.message).close();
            }
        }
    }
    let text = w.finish();
    Response::builder()
        .status(StatusCode::OK)
        .header("Content-Type", "application/xml")
        .header("Content-Length", text.len())
        .body(body::full(text))
        .map_err(|_| S3Error::internal_error())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delete_documents_are_read_and_bounded() {
        let d = parse(
            b"<Delete xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Quiet>true</Quiet>\
              <Object><Key>a</Key></Object><Object><Key>b</Key><VersionId>v</VersionId></Object>\
              </Delete>",
        )
        .unwrap();
        assert!(d.quiet);
        assert_eq!(
            d.objects,
            vec![("a".into(), None), ("b".into(), Some("v".into()))]
        );
        let code = |b: &[u8]| parse(b).unwrap_err().code;
        assert_eq!(
            code(b"<Delete><Object><Key></Key></Object></Delete>"),
            "UserKeyMustBeSpecified"
        );
        assert_eq!(code(b"<Delete><Object></Object></Delete>"), "MalformedXML");
        assert_eq!(code(b"<Other/>"), "MalformedXML");
        assert_eq!(code(b"<Delete"), "MalformedXML");
        let many: String = (0..=MAX_KEYS)
            .map(|i| format!("<Object><Key>{i}</Key></Object>"))
            .collect();
        assert_eq!(
            code(format!("<Delete>{many}</Delete>").as_bytes()),
            "MalformedXML"
        );
    }
}
