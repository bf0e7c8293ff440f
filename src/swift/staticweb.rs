//! Static web sites from containers, as Swift's staticweb middleware. It
//! serves GET and HEAD of anonymous and temp URL requests (and of token
//! holders that send `X-Web-Mode: true`), driven by container metadata:
//!
//! - `X-Container-Meta-Web-Index`: the object served for a directory
//!   (`<dir>/<index>`);
//! - `X-Container-Meta-Web-Listings: true`: an HTML listing where there is
//!   no index, styled by `X-Container-Meta-Web-Listings-CSS`;
//! - `X-Container-Meta-Web-Error`: error pages, `<status><web-error>`;
//! - `X-Container-Meta-Web-Directory-Type`: the content type of directory
//!   markers (`application/directory`), which read as missing objects.
//!
//! A directory named without its trailing slash is redirected (301) to it.

use std::sync::Arc;

use http::{HeaderValue, Method, Response, StatusCode};
use percent_encoding::utf8_percent_encode;

use super::headers::iso_date;
use super::{blocking, container as api_container, tempurl, App, Ctx};
use crate::http::body::{self, Body};
use crate::http::error::{ApiError, ApiResult, Finish};
use crate::http::request::{decode_path, normalize_object};
use crate::store::container as scont;
use crate::store::listing::{self as slist, Entry, Query};
use crate::store::meta::{Meta, DIR_CONTENT_TYPE};
use crate::store::object as sobj;
use crate::store::ObjPath;

/// Values Swift reads as true.
fn is_true(v: &str) -> bool {
    ["true", "1", "yes", "on", "t", "y"].contains(&v.trim().to_ascii_lowercase().as_str())
}

fn web_mode(ctx: &Ctx) -> bool {
    ctx.header("x-web-mode").ok().flatten().is_some_and(is_true)
}

/// Does staticweb handle this request (before the container or object
/// handler)?
pub fn applies(ctx: &Ctx) -> bool {
    (ctx.method == Method::GET || ctx.method == Method::HEAD)
        && match &ctx.id {
            None => true,
            Some(id) if id.user == tempurl::USER => true,
            Some(_) => web_mode(ctx),
        }
}

/// A container's web settings.
#[derive(Default)]
struct Site {
    index: String,
    error: String,
    listings: String,
    label: String,
    css: String,
    dir_type: String,
    read_acl: Option<String>,
}

impl Site {
    fn from_meta(m: &Meta) -> Site {
        let get = |name: &str| {
            m.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.trim().to_string())
                .unwrap_or_default()
        };
        Site {
            index: get("X-Container-Meta-Web-Index"),
            error: get("X-Container-Meta-Web-Error"),
            listings: get("X-Container-Meta-Web-Listings"),
            label: get("X-Container-Meta-Web-Listings-Label"),
            css: get("X-Container-Meta-Web-Listings-Css"),
            dir_type: get("X-Container-Meta-Web-Directory-Type"),
            read_acl: m.get("X-Container-Read").cloned(),
        }
    }

    fn is_site(&self) -> bool {
        !self.listings.is_empty() || !self.index.is_empty()
    }
}

async fn site(app: &Arc<App>, ctx: &Ctx, container: &str) -> ApiResult<Site> {
    let (account, container) = (ctx.account.clone(), container.to_string());
    blocking(app, move |app| {
        let meta = app
            .locate(&account, &container)
            .and_then(|loc| Ok(scont::container_meta(&loc)?));
        match meta {
            Ok(m) => Ok(Site::from_meta(&m)),
            // A missing container is no site; its absent ACL answers.
            Err(ApiError::NotFound) => Ok(Site::default()),
            Err(e) => Err(e),
        }
    })
    .await
}

/// A handler's answer, errors included, as the client would see it.
fn settle(r: ApiResult<Response<Body>>, head: bool) -> Response<Body> {
    r.unwrap_or_else(|e| e.into_response(head))
}

fn is_ok_or_redirect(s: StatusCode) -> bool {
    s.is_success() || s.is_redirection()
}

/// GETs (or HEADs) another object of the container for this request.
async fn fetch(app: &Arc<App>, ctx: &Ctx, container: &str, name: &str) -> Response<Body> {
    let head = ctx.method == Method::HEAD;
    let name = normalize_object(name);
    let Ok(name) = ObjPath::new(&name, &app.store.opts.limits) else {
        return ApiError::NotFound.into_response(head);
    };
    let r = (app.clone())
        .get_object(ctx.clone(), container.to_string(), name)
        .await;
    settle(r, head)
}

/// `resp`, or the container's error page for its status (`<status><web-error>`)
/// served with that status.
async fn error_page(
    app: &Arc<App>,
    ctx: &Ctx,
    container: &str,
    site: &Site,
    resp: Response<Body>,
) -> Response<Body> {
    if site.error.is_empty() {
        return resp;
    }
    let mut sub = ctx.clone();
    for h in [
        "range",
        "if-match",
        "if-none-match",
        "if-modified-since",
        "if-unmodified-since",
    ] {
        sub.headers.remove(h);
    }
    let name = format!("{}{}", resp.status().as_u16(), site.error);
    let mut page = fetch(app, &sub, container, &name).await;
    if !page.status().is_success() {
        return resp;
    }
    *page.status_mut() = resp.status();
    page
}

/// 301 to the same path with a trailing slash.
fn redirect(app: &App, ctx: &Ctx, path: &str) -> Response<Body> {
    let host = ctx.header("host").ok().flatten().unwrap_or("");
    // A remapped host was asked for the path without its /v1/account part.
    let path = super::domain_remap::client_path(&app.cfg, Some(host), path);
    let location = format!(
        "http://{host}{}/",
        utf8_percent_encode(path, tempurl::QUOTE)
    );
    let mut b = super::empty_response(StatusCode::MOVED_PERMANENTLY);
    if let Ok(v) = HeaderValue::from_str(&location) {
        b = b.header("Location", v);
    }
    b.finish_or_500(body::empty())
}

/// GET/HEAD of a container path.
pub async fn container(
    app: Arc<App>,
    ctx: Ctx,
    container: String,
    raw_path: &str,
) -> ApiResult<Response<Body>> {
    let head = ctx.method == Method::HEAD;
    let path = decode_path(raw_path)?;
    let site = site(&app, &ctx, &container).await?;
    if let Err(e) = ctx.authorize(Some(&container), false, false, site.read_acl.as_deref()) {
        return Ok(error_page(&app, &ctx, &container, &site, e.into_response(head)).await);
    }
    if !site.is_site() {
        if web_mode(&ctx) {
            return Err(ApiError::NotFound);
        }
        return api_container::handle(app, ctx, container).await;
    }
    if !path.ends_with('/') {
        return Ok(redirect(&app, &ctx, &path));
    }
    if site.index.is_empty() {
        return listing(&app, &ctx, &container, &site, &path, "").await;
    }
    let r = fetch(&app, &ctx, &container, &site.index).await;
    if r.status() == StatusCode::NOT_FOUND {
        return listing(&app, &ctx, &container, &site, &path, "").await;
    }
    if !is_ok_or_redirect(r.status()) {
        return Ok(error_page(&app, &ctx, &container, &site, r).await);
    }
    Ok(r)
}

/// GET/HEAD of an object path, given the object handler's answer `plain`:
/// that answer, else the directory's index, listing or redirect.
pub async fn object(
    app: Arc<App>,
    ctx: Ctx,
    container: String,
    object: ObjPath,
    raw_path: &str,
    plain: ApiResult<Response<Body>>,
) -> ApiResult<Response<Body>> {
    let head = ctx.method == Method::HEAD;
    let path = decode_path(raw_path)?;
    let r = settle(plain, head);
    let mut site = None;
    if is_ok_or_redirect(r.status()) {
        let len: u64 = r
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        if len > 1 {
            return Ok(r);
        }
        let s = self::site(&app, &ctx, &container).await?;
        let dir_type = if s.dir_type.is_empty() {
            DIR_CONTENT_TYPE
        } else {
            s.dir_type.as_str()
        };
        let ct = r
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        if ct != Some(dir_type) {
            return Ok(r);
        }
        // A directory marker reads as a missing object.
        site = Some(s);
    } else if r.status() != StatusCode::NOT_FOUND {
        return Ok(r);
    }
    let site = match site {
        Some(s) => s,
        None => self::site(&app, &ctx, &container).await?,
    };
    if !site.is_site() {
        // `dir/` names the marker `dir` here; in Swift it names nothing.
        if r.status().is_success() && path.ends_with('/') {
            return Err(ApiError::NotFound);
        }
        return Ok(r);
    }
    if !site.index.is_empty() {
        let name = format!("{}/{}", object.trim_end_matches('/'), site.index);
        let ir = fetch(&app, &ctx, &container, &name).await;
        if is_ok_or_redirect(ir.status()) {
            if !path.ends_with('/') {
                return Ok(redirect(&app, &ctx, &path));
            }
            return Ok(ir);
        }
        if ir.status() != StatusCode::NOT_FOUND {
            return Ok(ir);
        }
    }
    if path.ends_with('/') {
        return listing(&app, &ctx, &container, &site, &path, &object).await;
    }
    // A directory without its slash: redirect if it has anything to show.
    let prefix = format!("{}/", object.trim_end_matches('/'));
    let any = match list(&app, &ctx, &container, &site, &prefix, 2).await {
        Ok(rows) => rows.iter().any(|e| e.name() != prefix),
        Err(_) => false,
    };
    if any {
        return Ok(redirect(&app, &ctx, &path));
    }
    Ok(error_page(
        &app,
        &ctx,
        &container,
        &site,
        ApiError::NotFound.into_response(head),
    )
    .await)
}

/// A listing of `prefix` with `/` as delimiter, after the container's read
/// ACL allowed it; directory markers among the subdirs are also given as
/// objects (named without the slash), as Swift lists them.
async fn list(
    app: &Arc<App>,
    ctx: &Ctx,
    container: &str,
    site: &Site,
    prefix: &str,
    limit: usize,
) -> ApiResult<Vec<Entry>> {
    ctx.authorize(Some(container), false, false, site.read_acl.as_deref())?;
    let (account, container) = (ctx.account.clone(), container.to_string());
    let q = Query {
        prefix: prefix.to_string(),
        delimiter: Some("/".into()),
        limit,
        with_meta: true,
        ..Default::default()
    };
    blocking(app, move |app| {
        let loc = app.locate(&account, &container)?;
        let mut out = slist::list(&app.store, &loc, &q)?;
        out.retain(|e| e.name() != q.prefix);
        let mut markers = Vec::new();
        for e in &out {
            if let Entry::Subdir(d) = e {
                let Ok(name) = ObjPath::from_parts(d.clone()) else {
                    continue;
                };
                if let Ok(info) = sobj::head(&app.store, &loc, &name) {
                    if info.is_dir_marker() {
                        markers.push(Entry::Object {
                            name: d.trim_end_matches('/').to_string(),
                            info: Some(info),
                        });
                    }
                }
            }
        }
        out.extend(markers);
        Ok(out)
    })
    .await
}

/// Python's `html.escape`.
fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#x27;"),
            _ => o.push(c),
        }
    }
    o
}

/// A link target: quoted, with dots quoted too (no `..` tricks).
fn href(name: &str) -> String {
    utf8_percent_encode(name, tempurl::QUOTE)
        .to_string()
        .replace('.', "%2E")
}

/// Sizes as Swift shows them: `512`, `3Ki`, `2Mi`.
fn human_readable(n: u64) -> String {
    let mut v = n as f64;
    let suffixes = ['K', 'M', 'G', 'T', 'P', 'E', 'Z', 'Y'];
    let mut i = None;
    while v >= 1024.0 && i.map_or(0, |x| x + 1) < suffixes.len() {
        i = Some(i.map_or(0, |x| x + 1));
        v = (v / 1024.0).round_ties_even();
    }
    match i {
        None => format!("{}", v as u64),
        Some(i) => format!("{}{}i", v as u64, suffixes[i]),
    }
}

/// The temp URL query a listing's links carry, and the prefix it covers.
fn temp_url_query(ctx: &Ctx) -> (String, String) {
    if ctx.id.as_ref().is_none_or(|id| id.user != tempurl::USER) {
        return (String::new(), String::new());
    }
    let Some(prefix) = ctx.query.get("temp_url_prefix") else {
        return (String::new(), String::new());
    };
    let q = |k: &str| ctx.query.get(k).map(String::as_str).unwrap_or("");
    let mut parts = vec![
        format!(
            "temp_url_prefix={}",
            utf8_percent_encode(prefix, tempurl::QUOTE)
        ),
        format!(
            "temp_url_expires={}",
            utf8_percent_encode(q("temp_url_expires"), tempurl::QUOTE)
        ),
        format!("temp_url_sig={}", q("temp_url_sig")),
    ];
    if ctx.query.contains_key("inline") {
        parts.push("inline".into());
    }
    (format!("?{}", parts.join("&amp;")), prefix.clone())
}

fn css_href(site: &Site, prefix: &str) -> String {
    let css = &site.css;
    if css.starts_with('/') || css.starts_with("http://") || css.starts_with("https://") {
        const KEEP_COLON: &percent_encoding::AsciiSet = &tempurl::QUOTE.remove(b':');
        utf8_percent_encode(css, KEEP_COLON).to_string()
    } else {
        format!(
            "{}{}",
            "../".repeat(prefix.matches('/').count()),
            utf8_percent_encode(css, tempurl::QUOTE)
        )
    }
}

fn html_response(status: StatusCode, text: String, head: bool, generated: bool) -> Response<Body> {
    let mut r = Response::builder()
        .status(status)
        .header("Content-Type", "text/html; charset=UTF-8")
        .header("Content-Length", text.len())
        .finish_or_500(if head {
            body::empty()
        } else {
            body::full(text)
        });
    if generated {
        r.extensions_mut().insert(tempurl::Generated);
    }
    r
}

/// The HTML listing of a directory (`prefix`, `""` for the container).
async fn listing(
    app: &Arc<App>,
    ctx: &Ctx,
    container: &str,
    site: &Site,
    path: &str,
    prefix: &str,
) -> ApiResult<Response<Body>> {
    let head = ctx.method == Method::HEAD;
    let label = if site.label.is_empty() {
        path.to_string()
    } else {
        let rest: Vec<&str> = path.split('/').skip(4).collect();
        format!("{}/{}", site.label, rest.join("/"))
    };
    let style = if site.css.is_empty() {
        "  <style type=\"text/css\">\n   h1 {font-size: 1em; font-weight: bold;}\n   th {text-align: left; padding: 0px 1em 0px 1em;}\n   td {padding: 0px 1em 0px 1em;}\n   a {text-decoration: none;}\n  </style>\n".to_string()
    } else {
        format!(
            "  <link rel=\"stylesheet\" type=\"text/css\" href=\"{}\" />\n",
            css_href(site, prefix)
        )
    };
    if !is_true(&site.listings) {
        let mut text = format!(
            "<!DOCTYPE html>\n<html>\n<head>\n<title>Listing of {}</title>\n{style}</head>\n<body>\n <h1>Web Listing Disabled</h1>\n <p>Listings of this site are turned off (X-Container-Meta-Web-Listings).</p>\n",
            escape(&label)
        );
        if !site.index.is_empty() {
            text.push_str(&format!(
                " <h1>Index File Not Found</h1>\n <p>The index file <b>{}</b> set by X-Container-Meta-Web-Index is missing.</p>\n",
                escape(&site.index)
            ));
        }
        text.push_str("</body>\n</html>\n");
        let r = html_response(StatusCode::NOT_FOUND, text, head, false);
        return Ok(error_page(app, ctx, container, site, r).await);
    }
    let limit = app.cfg.limits.container_listing_limit;
    let mut entries = match list(app, ctx, container, site, prefix, limit).await {
        Ok(e) => e,
        Err(e) => return Ok(error_page(app, ctx, container, site, e.into_response(head)).await),
    };
    if !prefix.is_empty() && entries.is_empty() {
        let r = ApiError::NotFound.into_response(head);
        return Ok(error_page(app, ctx, container, site, r).await);
    }
    entries.sort_by(|a, b| a.name().as_bytes().cmp(b.name().as_bytes()));
    let (qs, temp_prefix) = temp_url_query(ctx);
    let title = escape(&label);
    let mut t = format!(
        "<!DOCTYPE html>\n<html>\n <head>\n  <title>Listing of {title}</title>\n{style} </head>\n <body>\n  <h1 id=\"title\">Listing of {title}</h1>\n  <table id=\"listing\">\n   <tr id=\"heading\">\n    <th class=\"colname\">Name</th>\n    <th class=\"colsize\">Size</th>\n    <th class=\"coldate\">Date</th>\n   </tr>\n"
    );
    let row = |class: &str, link: &str, text: &str, size: &str, date: &str| {
        format!(
            "   <tr class=\"{class}\">\n    <td class=\"colname\"><a href=\"{link}\">{text}</a></td>\n    <td class=\"colsize\">{size}</td>\n    <td class=\"coldate\">{date}</td>\n   </tr>\n"
        )
    };
    if prefix.len() > temp_prefix.len() {
        t.push_str(
            &row("item", &format!("../{qs}"), "../", "&nbsp;", "&nbsp;").replacen(
                "<tr class",
                "<tr id=\"parent\" class",
                1,
            ),
        );
    }
    for e in &entries {
        if let Entry::Subdir(d) = e {
            let d = d.strip_prefix(prefix).unwrap_or(d);
            let link = format!("./{}{qs}", href(d));
            t.push_str(&row("item subdir", &link, &escape(d), "&nbsp;", "&nbsp;"));
        }
    }
    for e in &entries {
        if let Entry::Object { name, info } = e {
            let n = name.strip_prefix(prefix).unwrap_or(name);
            let (ct, size, ts) = info
                .as_ref()
                .map(|i| (i.content_type().to_string(), i.size, i.timestamp()))
                .unwrap_or_default();
            let class = std::iter::once("item".to_string())
                .chain(
                    ct.split('/')
                        .map(|p| format!("type-{}", escape(&p.to_lowercase()))),
                )
                .collect::<Vec<_>>()
                .join(" ");
            let date = iso_date(ts);
            let date = date.split('.').next().unwrap_or("").replace('T', " ");
            let link = format!("./{}{qs}", href(n));
            t.push_str(&row(
                &class,
                &link,
                &escape(n),
                &human_readable(size),
                &escape(&date),
            ));
        }
    }
    t.push_str("  </table>\n </body>\n</html>\n");
    Ok(html_response(StatusCode::OK, t, head, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_swift_shows_them() {
        assert_eq!(human_readable(0), "0");
        assert_eq!(human_readable(1023), "1023");
        assert_eq!(human_readable(1024), "1Ki");
        assert_eq!(human_readable(1536), "2Ki");
        assert_eq!(human_readable(2560), "2Ki");
        assert_eq!(human_readable(5 * 1024 * 1024), "5Mi");
    }

    #[test]
    fn links_and_text_are_escaped() {
        assert_eq!(href("a b/c.d"), "a%20b/c%2Ed");
        assert_eq!(
            escape("<a href='x'>&\"</a>"),
            "&lt;a href=&#x27;x&#x27;&gt;&amp;&quot;&lt;/a&gt;"
        );
    }

    #[test]
    fn css_paths_climb_out_of_directories() {
        let site = Site {
            css: "style.css".into(),
            ..Default::default()
        };
        assert_eq!(css_href(&site, ""), "style.css");
        assert_eq!(css_href(&site, "a/b/"), "../../style.css");
        let site = Site {
            css: "http://cdn.example.com/s.css".into(),
            ..Default::default()
        };
        assert_eq!(css_href(&site, "a/"), "http://cdn.example.com/s.css");
    }
}
