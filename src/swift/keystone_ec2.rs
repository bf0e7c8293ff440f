//! EC2 credentials (S3 access keys) checked by Keystone, as Swift's
//! `s3token` middleware does: the string to sign and the signature go to
//! `POST /v3/s3tokens`, which checks them with the key's secret and answers
//! with a token of the key's user on the key's project.
//!
//! The answer can only be reused for later requests with the secret: then
//! each signature is checked here. So after a success the secret is fetched
//! with the service user's token (`GET /v3/users/{id}/credentials/OS-EC2/
//! {access}`, which needs a service user Keystone lets read credentials:
//! the `admin` role) and kept with the token data per access key, for the
//! earlier of `secret_cache_secs` and the token's expiry. A refusal is never
//! kept. Without the secret nothing is cached (every request asks Keystone)
//! and aws-chunked bodies with signed chunks cannot be checked.
//!
//! Keystone answers 401 both to a wrong signature and to a service token it
//! no longer takes; the two are told apart by checking the service token
//! itself, at most once per [`RECHECK`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use base64::Engine;
use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::Full;
use serde_json::{json, Value};

use super::{Keystone, TokenInfo};

/// A 401 is read as a refused signature without asking again when the
/// service token was last seen working this recently.
const RECHECK: Duration = Duration::from_secs(10);
/// EC2 access keys are 32 hex digits; anything longer is no key.
const MAX_ACCESS: usize = 256;

/// What Keystone says of an S3 request's signature.
#[derive(Debug, Clone)]
pub enum Ec2Checked {
    /// The signature holds: the key's user and project, and the key's
    /// secret when Keystone gives it to the service user.
    Valid {
        info: Arc<TokenInfo>,
        secret: Option<Arc<str>>,
    },
    /// No such access key.
    UnknownKey,
    /// The signature does not hold (or the user or project is disabled).
    Refused,
    /// Keystone could not be asked.
    Unavailable(String),
}

/// A key's token data and secret, trusted until `until`.
pub(super) struct Ec2Cached {
    info: Arc<TokenInfo>,
    secret: Arc<str>,
    until: Instant,
}

/// The EC2 side of the validator: the secret cache and what is known of
/// the service token and of Keystone's willingness to give secrets.
#[derive(Default)]
pub(super) struct Ec2State {
    cache: Mutex<HashMap<String, Ec2Cached>>,
    /// When the service token last got an answer other than 401.
    service_ok_at: Mutex<Option<Instant>>,
    /// Keystone refused to give a secret: do not ask again before this.
    no_secrets_until: Mutex<Option<Instant>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Keystone {
    /// The cached token data and secret of `access`, if still trusted.
    pub fn ec2_cached(&self, access: &str) -> Option<(Arc<TokenInfo>, Arc<str>)> {
        let cache = lock(&self.ec2.cache);
        let hit = cache.get(access).filter(|c| c.until > Instant::now())?;
        Some((hit.info.clone(), hit.secret.clone()))
    }

    /// Asks Keystone whether `signature` signs `string_to_sign` with the
    /// secret of `access`. On success the secret is fetched when caching is
    /// on or `want_secret` (signed aws-chunked bodies need it).
    pub async fn ec2_check(
        &self,
        access: &str,
        string_to_sign: &[u8],
        signature: &str,
        want_secret: bool,
    ) -> Ec2Checked {
        if access.is_empty() || access.len() > MAX_ACCESS {
            return Ec2Checked::UnknownKey;
        }
        let answer = self.s3tokens(access, string_to_sign, signature).await;
        let Ec2Checked::Valid { info, .. } = &answer else {
            return answer;
        };
        let caching = self.cfg.secret_cache_secs > 0;
        if !(caching || want_secret) {
            return answer;
        }
        let secret = match self.ec2_secret(info, access).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("cannot fetch the secret of an EC2 credential: {e}");
                None
            }
        };
        if let (Some(s), true) = (&secret, caching) {
            self.ec2_remember(access, info.clone(), s.clone());
        }
        Ec2Checked::Valid {
            info: info.clone(),
            secret,
        }
    }

    /// `POST /v3/s3tokens`; a 401 is a refusal unless the service token is
    /// what Keystone refused, which is then renewed once.
    async fn s3tokens(&self, access: &str, sts: &[u8], signature: &str) -> Ec2Checked {
        let body = json!({"credentials": {
            "access": access,
            "token": base64::engine::general_purpose::URL_SAFE.encode(sts),
            "signature": signature,
        }})
        .to_string();
        for renew in [false, true] {
            let service = match self.service_token(renew).await {
                Ok(s) => s,
                Err(e) => return Ec2Checked::Unavailable(e),
            };
            let Ok(req) = Request::post(format!("{}/s3tokens", self.url))
                .header("X-Auth-Token", &service)
                .header("Content-Type", "application/json")
                .header("Accept", "application/json")
                .body(Full::new(Bytes::from(body.clone())))
            else {
                return Ec2Checked::Unavailable("the service token is no header value".into());
            };
            let (status, _, answer) = match self.call(req).await {
                Ok(r) => r,
                Err(e) => return Ec2Checked::Unavailable(e),
            };
            // These answers come only after Keystone took the service token.
            if [StatusCode::OK, StatusCode::NOT_FOUND, StatusCode::FORBIDDEN].contains(&status) {
                *lock(&self.ec2.service_ok_at) = Some(Instant::now());
            }
            match status {
                StatusCode::OK => {
                    return match super::parse_token(&answer) {
                        Some(info) if info.project_id.is_some() => Ec2Checked::Valid {
                            info: Arc::new(info),
                            secret: None,
                        },
                        _ => Ec2Checked::Unavailable(
                            "Keystone's s3tokens answer is not a project token".into(),
                        ),
                    }
                }
                StatusCode::NOT_FOUND => return Ec2Checked::UnknownKey,
                StatusCode::BAD_REQUEST => return Ec2Checked::Refused,
                StatusCode::UNAUTHORIZED => match self.service_token_holds(&service).await {
                    Ok(true) => return Ec2Checked::Refused,
                    Ok(false) if !renew => continue,
                    Ok(false) => break,
                    Err(e) => return Ec2Checked::Unavailable(e),
                },
                s => return Ec2Checked::Unavailable(format!("Keystone answered {s} to s3tokens")),
            }
        }
        Ec2Checked::Unavailable("Keystone refuses the service user's token".into())
    }

    /// Is the service token still good? Taken as yes when it recently got
    /// an answer; else Keystone is asked to validate it (a token may
    /// validate itself).
    async fn service_token_holds(&self, service: &str) -> Result<bool, String> {
        let recent = lock(&self.ec2.service_ok_at).is_some_and(|t| t.elapsed() < RECHECK);
        if recent {
            return Ok(true);
        }
        let req = Request::get(format!("{}/auth/tokens?nocatalog", self.url))
            .header("X-Auth-Token", service)
            .header("X-Subject-Token", service)
            .header("Accept", "application/json")
            .body(Full::new(Bytes::new()))
            .map_err(|e| e.to_string())?;
        let (status, _, _) = self.call(req).await?;
        let ok = status == StatusCode::OK;
        if ok {
            *lock(&self.ec2.service_ok_at) = Some(Instant::now());
        }
        Ok(ok)
    }

    /// The secret of `access`, when Keystone gives it to the service user
    /// (`None` when it does not: no role for it). Such a refusal (403) is
    /// remembered for `cache_secs`, so each request does not ask twice; a
    /// stale service token (401) is renewed by the next s3tokens call.
    async fn ec2_secret(&self, info: &TokenInfo, access: &str) -> Result<Option<Arc<str>>, String> {
        let refused = lock(&self.ec2.no_secrets_until).is_some_and(|t| t > Instant::now());
        if refused {
            return Ok(None);
        }
        let service = self.service_token(false).await?;
        let path_ok = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        if !path_ok(&info.user_id) || !path_ok(access) {
            return Ok(None);
        }
        let req = Request::get(format!(
            "{}/users/{}/credentials/OS-EC2/{access}",
            self.url, info.user_id
        ))
        .header("X-Auth-Token", &service)
        .header("Accept", "application/json")
        .body(Full::new(Bytes::new()))
        .map_err(|e| e.to_string())?;
        let (status, _, body) = self.call(req).await?;
        if status == StatusCode::FORBIDDEN {
            tracing::warn!(
                "Keystone does not give EC2 secrets to the service user {} ({status}): S3 \
                 answers are not cached and signed aws-chunked uploads are refused",
                self.cfg.username
            );
            *lock(&self.ec2.no_secrets_until) = Some(Instant::now() + self.ttl());
            return Ok(None);
        }
        if status != StatusCode::OK {
            return Err(format!(
                "Keystone answered {status} to an EC2 credential read"
            ));
        }
        Ok(parse_secret(&body, info, access))
    }

    /// Keeps a key's token data and secret; a full cache first drops what
    /// is stale, then the entries closest to their end.
    fn ec2_remember(&self, access: &str, info: Arc<TokenInfo>, secret: Arc<str>) {
        let left = info
            .expires
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO);
        let life = left.min(Duration::from_secs(self.cfg.secret_cache_secs));
        let now = Instant::now();
        let mut cache = lock(&self.ec2.cache);
        if cache.len() >= self.cfg.cache_size && !cache.contains_key(access) {
            cache.retain(|_, c| c.until > now);
            while cache.len() >= self.cfg.cache_size {
                let Some(k) = cache
                    .iter()
                    .min_by_key(|(_, c)| c.until)
                    .map(|(k, _)| k.clone())
                else {
                    break;
                };
                cache.remove(&k);
            }
        }
        let until = now + life;
        cache.insert(
            access.to_string(),
            Ec2Cached {
                info,
                secret,
                until,
            },
        );
    }
}

/// The secret of Keystone's EC2 credential document, when it is the
/// credential of this access key, user and project.
fn parse_secret(body: &[u8], info: &TokenInfo, access: &str) -> Option<Arc<str>> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let c = v.get("credential")?;
    let s = |k: &str| c.get(k).and_then(Value::as_str);
    let matches = s("access") == Some(access)
        && s("user_id") == Some(info.user_id.as_str())
        && s("tenant_id") == info.project_id.as_deref();
    matches
        .then(|| s("secret").filter(|x| !x.is_empty()).map(Arc::from))
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::KeystoneConfig;

    fn ks(cache_size: usize) -> Keystone {
        Keystone::new(KeystoneConfig {
            auth_url: "http://127.0.0.1:9".into(),
            username: "u".into(),
            password: "p".into(),
            cache_size,
            ..Default::default()
        })
    }

    fn info(expires: SystemTime) -> Arc<TokenInfo> {
        Arc::new(TokenInfo {
            user_id: "u1".into(),
            user_name: "bob".into(),
            user_domain_id: "default".into(),
            project_id: Some("p1".into()),
            project_name: "proj".into(),
            project_domain_id: "default".into(),
            roles: Vec::new(),
            expires,
        })
    }

    #[test]
    fn secrets_are_kept_until_expiry_or_ttl_and_stay_bounded() {
        let k = ks(2);
        let later = SystemTime::now() + Duration::from_secs(3600);
        k.ec2_remember("a", info(later), "s".into());
        assert_eq!(&*k.ec2_cached("a").unwrap().1, "s");
        // An expired token is never served from the cache.
        k.ec2_remember("b", info(SystemTime::now()), "s".into());
        assert!(k.ec2_cached("b").is_none());
        k.ec2_remember("c", info(later), "s".into());
        k.ec2_remember("d", info(later), "s".into());
        assert!(lock(&k.ec2.cache).len() <= 2);
        assert!(k.ec2_cached("d").is_some());
    }

    #[test]
    fn a_secret_is_taken_only_for_its_own_key_user_and_project() {
        let i = info(SystemTime::now());
        let doc = |access: &str, user: &str, project: &str| {
            json!({"credential": {"access": access, "user_id": user,
                "tenant_id": project, "secret": "sec"}})
            .to_string()
        };
        assert_eq!(
            parse_secret(doc("k", "u1", "p1").as_bytes(), &i, "k").as_deref(),
            Some("sec")
        );
        for (a, u, p) in [("x", "u1", "p1"), ("k", "u2", "p1"), ("k", "u1", "p2")] {
            assert!(parse_secret(doc(a, u, p).as_bytes(), &i, "k").is_none());
        }
        assert!(parse_secret(b"{}", &i, "k").is_none());
    }

    #[tokio::test]
    async fn unreachable_keystone_is_unavailable_and_nothing_is_kept() {
        let k = ks(10);
        let got = k.ec2_check("key", b"sts", "sig", true).await;
        assert!(matches!(got, Ec2Checked::Unavailable(_)), "{got:?}");
        assert!(matches!(
            k.ec2_check("", b"sts", "sig", false).await,
            Ec2Checked::UnknownKey
        ));
        assert!(lock(&k.ec2.cache).is_empty());
    }

    /// A Keystone that answers logins with tokens `t1`, `t2`…, validates
    /// the tokens in `good`, and answers s3tokens with 200 for a service
    /// token in `s3_ok` and 401 otherwise; it counts logins.
    async fn fake_keystone(
        good: &'static [&'static str],
        s3_ok: &'static [&'static str],
    ) -> (String, Arc<std::sync::atomic::AtomicUsize>) {
        use hyper::service::service_fn;
        use std::sync::atomic::{AtomicUsize, Ordering};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/v3", listener.local_addr().unwrap());
        let logins = Arc::new(AtomicUsize::new(0));
        let counter = logins.clone();
        let token = json!({"token": {"user": {"id": "u1", "name": "bob"},
            "project": {"id": "p1", "name": "proj"}, "roles": [{"name": "admin"}],
            "expires_at": "2099-01-01T00:00:00Z"}})
        .to_string();
        tokio::spawn(async move {
            loop {
                let Ok((conn, _)) = listener.accept().await else {
                    return;
                };
                let (logins, token) = (counter.clone(), token.clone());
                let svc = service_fn(move |req: Request<hyper::body::Incoming>| {
                    let h = |n: &str| {
                        let v = req.headers().get(n).and_then(|v| v.to_str().ok());
                        v.unwrap_or("").to_string()
                    };
                    let (auth, subject) = (h("x-auth-token"), h("x-subject-token"));
                    let path = req.uri().path().to_string();
                    let (status, subject_out, body) = match (req.method().as_str(), path.as_str()) {
                        ("POST", "/v3/auth/tokens") => {
                            let n = logins.fetch_add(1, Ordering::SeqCst) + 1;
                            (201, format!("t{n}"), token.clone())
                        }
                        ("GET", "/v3/auth/tokens") if good.contains(&subject.as_str()) => {
                            (200, String::new(), token.clone())
                        }
                        ("GET", "/v3/auth/tokens") => (404, String::new(), "{}".into()),
                        ("POST", "/v3/s3tokens") if s3_ok.contains(&auth.as_str()) => {
                            (200, String::new(), token.clone())
                        }
                        ("POST", "/v3/s3tokens") => (401, String::new(), "{}".into()),
                        _ => (403, String::new(), "{}".into()),
                    };
                    let mut resp = http::Response::builder().status(status);
                    if !subject_out.is_empty() {
                        resp = resp.header("X-Subject-Token", subject_out);
                    }
                    std::future::ready(resp.body(Full::new(Bytes::from(body))))
                });
                tokio::spawn(
                    hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(conn), svc),
                );
            }
        });
        (url, logins)
    }

    fn ks_at(url: &str) -> Keystone {
        Keystone::new(KeystoneConfig {
            auth_url: url.into(),
            username: "u".into(),
            password: "p".into(),
            ..Default::default()
        })
    }

    #[tokio::test]
    async fn a_401_with_a_good_service_token_is_a_refused_signature() {
        use std::sync::atomic::Ordering;
        let (url, logins) = fake_keystone(&["t1"], &[]).await;
        let k = ks_at(&url);
        let got = k.ec2_check("key", b"sts", "sig", false).await;
        assert!(matches!(got, Ec2Checked::Refused), "{got:?}");
        assert_eq!(logins.load(Ordering::SeqCst), 1, "no second login");
    }

    #[tokio::test]
    async fn a_401_for_a_stale_service_token_logs_in_again() {
        use std::sync::atomic::Ordering;
        // t1 is no longer valid; t2 is.
        let (url, logins) = fake_keystone(&["t2"], &["t2"]).await;
        let k = ks_at(&url);
        let got = k.ec2_check("key", b"sts", "sig", false).await;
        assert!(matches!(got, Ec2Checked::Valid { .. }), "{got:?}");
        assert_eq!(logins.load(Ordering::SeqCst), 2);
    }
}
