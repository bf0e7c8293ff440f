//! Which S3 operation a request is: one [`Op`] variant per operation,
//! parsed once from the method, whether a bucket and a key are named, the
//! sub-resource keywords of the query (`?acl`, `?uploads`…) and
//! `x-amz-copy-source`, in the order Swift's s3api picks its controllers.
//! Each operation says what it needs of the caller ([`Perm`]).

use super::error::S3Error;

/// What an operation needs: to read (container read ACL or account read
/// grant), to write (container write ACL), or to own the account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Perm {
    Read,
    Write,
    Owner,
}

/// One S3 operation, with the query values that identify it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    ListBuckets,
    CreateBucket,
    HeadBucket,
    DeleteBucket,
    GetBucketLocation,
    ListObjects,
    ListObjectsV2,
    ListObjectVersions,
    ListMultipartUploads,
    GetBucketAcl,
    PutBucketAcl,
    GetBucketVersioning,
    PutBucketVersioning,
    GetBucketCors,
    PutBucketCors,
    DeleteBucketCors,
    GetBucketTagging,
    PutBucketTagging,
    DeleteBucketTagging,
    GetObjectLockConfiguration,
    PutObjectLockConfiguration,
    DeleteObjects,
    PutObject,
    CopyObject,
    GetObject {
        version_id: Option<String>,
        part_number: Option<String>,
    },
    HeadObject {
        version_id: Option<String>,
        part_number: Option<String>,
    },
    DeleteObject {
        version_id: Option<String>,
    },
    GetObjectAcl,
    PutObjectAcl,
    GetObjectTagging,
    PutObjectTagging,
    DeleteObjectTagging,
    CreateMultipartUpload,
    UploadPart {
        upload_id: String,
        part_number: String,
    },
    UploadPartCopy {
        upload_id: String,
        part_number: String,
    },
    ListParts {
        upload_id: String,
    },
    AbortMultipartUpload {
        upload_id: String,
    },
    CompleteMultipartUpload {
        upload_id: String,
    },
}

/// Sub-resources S3 has and sofgate does not serve: 501.
const UNSUPPORTED: [&str; 17] = [
    "notification",
    "policy",
    "publicAccessBlock",
    "requestPayment",
    "torrent",
    "website",
    "restore",
    "lifecycle",
    "logging",
    "replication",
    "encryption",
    "accelerate",
    "analytics",
    "inventory",
    "metrics",
    "ownershipControls",
    "intelligent-tiering",
];

/// The request as the router sees it.
pub struct Route<'a> {
    pub method: &'a str,
    pub has_bucket: bool,
    pub has_key: bool,
    /// Decoded query parameters.
    pub query: &'a [(String, String)],
    /// `x-amz-copy-source` is present.
    pub copy_source: bool,
}

impl Route<'_> {
    fn has(&self, k: &str) -> bool {
        self.query.iter().any(|(n, _)| n == k)
    }
    fn get(&self, k: &str) -> Option<String> {
        self.query
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
    }
    fn not_allowed(&self) -> S3Error {
        let kind = match (self.has_bucket, self.has_key) {
            (false, _) => "SERVICE",
            (true, false) => "BUCKET",
            (true, true) => "OBJECT",
        };
        S3Error::method_not_allowed(self.method, kind)
    }
}

impl Op {
    /// The operation `r` asks for.
    pub fn parse(r: &Route<'_>) -> Result<Op, S3Error> {
        if let Some(sub) = UNSUPPORTED.iter().find(|s| r.has(s)) {
            return Err(S3Error::not_implemented(&format!(
                "The {sub} sub-resource is not implemented."
            )));
        }
        if !r.has_bucket {
            return match r.method {
                "GET" => Ok(Op::ListBuckets),
                _ => Err(r.not_allowed()),
            };
        }
        let m = r.method;
        let op = if r.has_key {
            object_op(r, m)
        } else {
            bucket_op(r, m)
        };
        op.ok_or_else(|| r.not_allowed())
    }

    /// What the caller must be allowed.
    pub fn perm(&self) -> Perm {
        use Op::*;
        match self {
            ListBuckets
            | HeadBucket
            | GetBucketLocation
            | ListObjects
            | ListObjectsV2
            | ListObjectVersions
            | ListMultipartUploads
            | GetObject { .. }
            | HeadObject { .. }
            | GetObjectTagging
            | ListParts { .. } => Perm::Read,
            PutObject
            | CopyObject
            | DeleteObject { .. }
            | DeleteObjects
            | PutObjectTagging
            | DeleteObjectTagging
            | CreateMultipartUpload
            | UploadPart { .. }
            | UploadPartCopy { .. }
            | AbortMultipartUpload { .. }
            | CompleteMultipartUpload { .. } => Perm::Write,
            CreateBucket
            | DeleteBucket
            | GetBucketAcl
            | PutBucketAcl
            | GetBucketVersioning
            | PutBucketVersioning
            | GetBucketCors
            | PutBucketCors
            | DeleteBucketCors
            | GetBucketTagging
            | PutBucketTagging
            | DeleteBucketTagging
            | GetObjectLockConfiguration
            | PutObjectLockConfiguration
            | GetObjectAcl
            | PutObjectAcl => Perm::Owner,
        }
    }

    /// The operation's S3 name (`ListBuckets`), for logs and errors.
    pub fn name(&self) -> String {
        let dbg = format!("{self:?}");
        dbg.split([' ', '{']).next().unwrap_or("").to_string()
    }
}

fn bucket_op(r: &Route<'_>, m: &str) -> Option<Op> {
    use Op::*;
    let sub = |get, put, delete| match m {
        "GET" => get,
        "PUT" => put,
        "DELETE" => delete,
        _ => None,
    };
    if r.has("acl") {
        return sub(Some(GetBucketAcl), Some(PutBucketAcl), None);
    }
    if r.has("delete") {
        return (m == "POST").then_some(DeleteObjects);
    }
    if r.has("location") {
        return (m == "GET").then_some(GetBucketLocation);
    }
    if r.has("uploads") {
        return (m == "GET").then_some(ListMultipartUploads);
    }
    if r.has("versioning") {
        return sub(Some(GetBucketVersioning), Some(PutBucketVersioning), None);
    }
    if r.has("versions") {
        return (m == "GET").then_some(ListObjectVersions);
    }
    if r.has("tagging") {
        return sub(
            Some(GetBucketTagging),
            Some(PutBucketTagging),
            Some(DeleteBucketTagging),
        );
    }
    if r.has("cors") {
        return sub(
            Some(GetBucketCors),
            Some(PutBucketCors),
            Some(DeleteBucketCors),
        );
    }
    if r.has("object-lock") {
        return sub(
            Some(GetObjectLockConfiguration),
            Some(PutObjectLockConfiguration),
            None,
        );
    }
    match m {
        "GET" if r.get("list-type").as_deref() == Some("2") => Some(ListObjectsV2),
        "GET" => Some(ListObjects),
        "HEAD" => Some(HeadBucket),
        "PUT" => Some(CreateBucket),
        "DELETE" => Some(DeleteBucket),
        _ => None,
    }
}

fn object_op(r: &Route<'_>, m: &str) -> Option<Op> {
    use Op::*;
    let version_id = r.get("versionId");
    if r.has("acl") {
        return match m {
            "GET" => Some(GetObjectAcl),
            "PUT" => Some(PutObjectAcl),
            _ => None,
        };
    }
    if r.has("tagging") {
        return match m {
            "GET" => Some(GetObjectTagging),
            "PUT" => Some(PutObjectTagging),
            "DELETE" => Some(DeleteObjectTagging),
            _ => None,
        };
    }
    let part_number = r.get("partNumber");
    if let (Some(part_number), "PUT") = (part_number.clone(), m) {
        let upload_id = r.get("uploadId").unwrap_or_default();
        return Some(if r.copy_source {
            UploadPartCopy {
                upload_id,
                part_number,
            }
        } else {
            UploadPart {
                upload_id,
                part_number,
            }
        });
    }
    if let (Some(upload_id), false) = (r.get("uploadId"), part_number.is_some()) {
        return match m {
            "GET" => Some(ListParts { upload_id }),
            "POST" => Some(CompleteMultipartUpload { upload_id }),
            "DELETE" => Some(AbortMultipartUpload { upload_id }),
            _ => None,
        };
    }
    if r.has("uploads") {
        return (m == "POST").then_some(CreateMultipartUpload);
    }
    match m {
        "GET" => Some(GetObject {
            version_id,
            part_number,
        }),
        "HEAD" => Some(HeadObject {
            version_id,
            part_number,
        }),
        "PUT" if r.copy_source => Some(CopyObject),
        "PUT" => Some(PutObject),
        "DELETE" => Some(DeleteObject { version_id }),
        _ => None,
    }
}

#[cfg(test)]
#[path = "router_tests.rs"]
mod tests;
