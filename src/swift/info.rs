//! `GET /info`: the limits and features this endpoint really supports.

use http::{Method, Response};
use serde_json::json;

use super::App;
use crate::http::body::{self, Body};
use crate::http::error::{ApiError, ApiResult, Finish};

pub fn get(app: &App, method: &Method) -> ApiResult<Response<Body>> {
    if method == Method::OPTIONS {
        return Response::builder()
            .header("Allow", "HEAD, GET, OPTIONS")
            .header("Content-Length", "0")
            .finish(body::empty());
    }
    if method != Method::GET && method != Method::HEAD {
        return Err(ApiError::MethodNotAllowed);
    }
    let l = &app.cfg.limits;
    let policies: Vec<_> = app
        .store
        .policies
        .iter()
        .map(|p| {
            if p.default {
                json!({ "name": p.name, "default": true })
            } else {
                json!({ "name": p.name })
            }
        })
        .collect();
    let mut v = json!({
        "swift": {
            "version": env!("CARGO_PKG_VERSION"),
            "max_file_size": l.max_file_size,
            "max_meta_name_length": l.max_meta_name_length,
            "max_meta_value_length": l.max_meta_value_length,
            "max_meta_count": l.max_meta_count,
            "max_meta_overall_size": l.max_meta_overall_size,
            "max_header_size": l.max_header_size,
            "max_object_name_length": l.max_object_name_length,
            "container_listing_limit": l.container_listing_limit,
            "account_listing_limit": l.account_listing_limit,
            "max_account_name_length": l.max_account_name_length,
            "max_container_name_length": l.max_container_name_length,
            "strict_cors_mode": app.cfg.cors.strict,
            "extra_header_count": 0,
            "valid_api_versions": ["v1"],
            "policies": policies,
        },
        "tempauth": { "account_acls": true },
    });
    for (k, f) in app.features.info(app) {
        v[k] = f;
    }
    if app.keystone.is_some() {
        v["keystoneauth"] = json!({});
    }
    if app.cfg.storage.allow_open_expired {
        v["swift"]["allow_open_expired"] = true.into();
    }
    let mut v = v;
    if !app.cfg.domain_remap.storage_domain.is_empty() {
        v["domain_remap"] = json!({ "default_reseller_prefix": app.cfg.auth.reseller_prefix.trim_end_matches('_') });
    }
    if let Some(s3) = crate::s3::info(&app.cfg) {
        v["s3api"] = s3;
    }
    let text = v.to_string();
    let b = Response::builder()
        .header("Content-Type", "application/json; charset=UTF-8")
        .header("Content-Length", text.len());
    b.finish(if method == Method::HEAD {
        body::empty()
    } else {
        body::full(text)
    })
}
