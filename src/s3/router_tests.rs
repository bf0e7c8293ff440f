//! Which operation each request shape is, and what each needs.

use super::*;

fn op(method: &str, bucket: bool, key: bool, q: &[&str], copy: bool) -> Result<Op, &'static str> {
    let query: Vec<(String, String)> = q
        .iter()
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (k.to_string(), v.to_string())
        })
        .collect();
    Op::parse(&Route {
        method,
        has_bucket: bucket,
        has_key: key,
        query: &query,
        copy_source: copy,
    })
    .map_err(|e| e.code)
}

#[test]
fn operations_from_method_names_and_sub_resources() {
    use Op::*;
    assert_eq!(op("GET", false, false, &[], false), Ok(ListBuckets));
    assert_eq!(
        op("HEAD", false, false, &[], false),
        Err("MethodNotAllowed")
    );
    assert_eq!(op("PUT", true, false, &[], false), Ok(CreateBucket));
    assert_eq!(
        op("GET", true, false, &["list-type=2", "prefix=a"], false),
        Ok(ListObjectsV2)
    );
    assert_eq!(
        op("GET", true, false, &["prefix=a"], false),
        Ok(ListObjects)
    );
    assert_eq!(
        op("GET", true, false, &["versions"], false),
        Ok(ListObjectVersions)
    );
    assert_eq!(
        op("GET", true, false, &["uploads"], false),
        Ok(ListMultipartUploads)
    );
    assert_eq!(
        op("POST", true, false, &["delete"], false),
        Ok(DeleteObjects)
    );
    assert_eq!(
        op("PUT", true, false, &["versioning"], false),
        Ok(PutBucketVersioning)
    );
    assert_eq!(
        op("GET", true, false, &["object-lock"], false),
        Ok(GetObjectLockConfiguration)
    );
    assert_eq!(op("POST", true, false, &[], false), Err("MethodNotAllowed"));
    assert_eq!(op("PUT", true, true, &[], false), Ok(PutObject));
    assert_eq!(op("PUT", true, true, &[], true), Ok(CopyObject));
    assert_eq!(
        op("POST", true, true, &["uploads"], false),
        Ok(CreateMultipartUpload)
    );
    let (u, p) = ("X".to_string(), "3".to_string());
    assert_eq!(
        op("PUT", true, true, &["partNumber=3", "uploadId=X"], true),
        Ok(UploadPartCopy {
            upload_id: u.clone(),
            part_number: p.clone()
        })
    );
    assert_eq!(
        op("PUT", true, true, &["partNumber=3", "uploadId=X"], false),
        Ok(UploadPart {
            upload_id: u.clone(),
            part_number: p
        })
    );
    assert_eq!(
        op("POST", true, true, &["uploadId=X"], false),
        Ok(CompleteMultipartUpload {
            upload_id: u.clone()
        })
    );
    assert_eq!(
        op("DELETE", true, true, &["uploadId=X"], false),
        Ok(AbortMultipartUpload { upload_id: u })
    );
    assert_eq!(
        op("GET", true, true, &["partNumber=2"], false),
        Ok(GetObject {
            version_id: None,
            part_number: Some("2".into())
        })
    );
    assert_eq!(
        op("DELETE", true, true, &["versionId=v1"], false),
        Ok(DeleteObject {
            version_id: Some("v1".into())
        })
    );
    assert_eq!(
        op("GET", true, false, &["website"], false),
        Err("NotImplemented")
    );
    assert_eq!(
        op("GET", false, false, &["policy"], false),
        Err("NotImplemented")
    );
}

#[test]
fn permissions_and_names() {
    assert_eq!(Op::ListBuckets.perm(), Perm::Read);
    assert_eq!(Op::PutObject.perm(), Perm::Write);
    assert_eq!(Op::PutBucketAcl.perm(), Perm::Owner);
    assert_eq!(Op::ListBuckets.name(), "ListBuckets");
    assert_eq!(Op::DeleteObject { version_id: None }.name(), "DeleteObject");
}
