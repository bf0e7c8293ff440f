//! Keystone token validation, as keystonemiddleware's `authtoken` does it:
//! sofgate holds a token of its own service user and asks Keystone about each
//! client token (`GET /v3/auth/tokens` with `X-Subject-Token`). Answers are
//! cached per token until the earlier of the token's expiry and
//! `cache_secs`, in a bounded map kept by this node alone: every node asks
//! Keystone itself, so a token works on all of them.
//!
//! A request whose token cannot be checked because Keystone does not answer
//! gets a 503; requests without a Keystone token (temp URLs, form posts,
//! public containers) never wait for Keystone (authtoken's
//! `delay_auth_decision`). A token Keystone refuses makes the request
//! anonymous, as there: public reads still work, anything else is 401.
//!
//! S3 access keys (EC2 credentials) are checked in [`ec2`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::auth::{Identity, TOKEN_PREFIX};
pub use super::keystone_auth::TokenInfo;
use super::keystone_auth::{self, KeystoneIdentity};
use super::App;
use crate::config::keystone::PrefixRules;
use crate::config::KeystoneConfig;
use crate::http::body::{self, Body};
use crate::http::date::days_from_civil;

#[path = "keystone_ec2.rs"]
pub mod ec2;
pub use ec2::Ec2Checked;

/// Keystone's answers can carry a service catalog; nothing sane is bigger.
const MAX_ANSWER: usize = 1 << 20;
/// Fernet tokens are under 300 bytes, PKI tokens of old were a few KiB.
const MAX_TOKEN: usize = 8192;
/// The service token is renewed this long before it expires.
const RENEW_BEFORE: Duration = Duration::from_secs(120);

/// The outcome of checking a token.
#[derive(Debug, Clone)]
pub enum Checked {
    Valid(Arc<TokenInfo>),
    /// Unknown, expired or revoked.
    Invalid,
    /// Keystone could not be asked (down, slow, or refusing our service user).
    Unavailable(String),
}

/// Who the caller of a request is, as far as Keystone goes.
pub enum Caller {
    /// Not a Keystone token (or Keystone is off): tempauth decides.
    Tempauth,
    /// A Keystone token: the caller, or `None` (anonymous) when refused.
    Keystone(Option<Identity>),
    /// Keystone did not answer: the request gets a 503.
    Unavailable,
}

struct Cached {
    answer: Option<Arc<TokenInfo>>,
    until: Instant,
}

struct ServiceToken {
    token: String,
    renew_at: Instant,
}

/// The validator: config, an HTTP client, the service token and the cache.
pub struct Keystone {
    cfg: KeystoneConfig,
    rules: Vec<PrefixRules>,
    url: String,
    client: Client<HttpConnector, Full<Bytes>>,
    service: tokio::sync::Mutex<Option<ServiceToken>>,
    cache: Mutex<HashMap<[u8; 32], Cached>>,
    ec2: ec2::Ec2State,
}

impl Keystone {
    pub fn new(cfg: KeystoneConfig) -> Keystone {
        let timeout = Duration::from_secs(cfg.timeout_secs);
        let mut conn = HttpConnector::new();
        conn.set_connect_timeout(Some(timeout));
        conn.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(8)
            .build(conn);
        Keystone {
            rules: cfg.prefixes(),
            url: cfg.v3_url(),
            cfg,
            client,
            service: tokio::sync::Mutex::new(None),
            cache: Mutex::new(HashMap::new()),
            ec2: ec2::Ec2State::default(),
        }
    }

    pub fn config(&self) -> &KeystoneConfig {
        &self.cfg
    }

    /// Is `account` under one of Keystone's prefixes?
    pub fn serves(&self, account: &str) -> bool {
        self.rules.iter().any(|r| account.starts_with(&r.prefix))
    }

    /// Checks a token, from the cache when it is there.
    pub async fn check(&self, token: &str) -> Checked {
        // Not worth a question (an empty subject token would even make
        // Keystone answer 401, which reads as a refused service token).
        if token.is_empty()
            || token.len() > MAX_TOKEN
            || !token.bytes().all(|b| b.is_ascii_graphic())
        {
            return Checked::Invalid;
        }
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some(hit) = self.cached(&key) {
            return hit;
        }
        let answer = self.ask(token).await;
        match &answer {
            Checked::Valid(info) => self.remember(key, Some(info.clone()), info.expires),
            Checked::Invalid => self.remember(key, None, SystemTime::now() + self.ttl()),
            Checked::Unavailable(_) => {}
        }
        answer
    }

    fn ttl(&self) -> Duration {
        Duration::from_secs(self.cfg.cache_secs)
    }

    fn cached(&self, key: &[u8; 32]) -> Option<Checked> {
        let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        let hit = cache.get(key).filter(|c| c.until > Instant::now())?;
        Some(match &hit.answer {
            Some(info) => Checked::Valid(info.clone()),
            None => Checked::Invalid,
        })
    }

    /// Keeps an answer until the earlier of `expires` and the TTL. A full
    /// cache first drops what is stale, then the entries closest to their end.
    fn remember(&self, key: [u8; 32], answer: Option<Arc<TokenInfo>>, expires: SystemTime) {
        let left = expires
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO);
        let until = Instant::now() + left.min(self.ttl());
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= self.cfg.cache_size && !cache.contains_key(&key) {
            let now = Instant::now();
            cache.retain(|_, c| c.until > now);
            while cache.len() >= self.cfg.cache_size {
                let Some(k) = cache.iter().min_by_key(|(_, c)| c.until).map(|(k, _)| *k) else {
                    break;
                };
                cache.remove(&k);
            }
        }
        cache.insert(key, Cached { answer, until });
    }

    /// Asks Keystone; a refused service token is renewed once.
    async fn ask(&self, token: &str) -> Checked {
        for renew in [false, true] {
            let service = match self.service_token(renew).await {
                Ok(s) => s,
                Err(e) => return Checked::Unavailable(e),
            };
            let req = Request::get(format!("{}/auth/tokens?nocatalog", self.url))
                .header("X-Auth-Token", &service)
                .header("X-Subject-Token", token)
                .header("Accept", "application/json")
                .body(Full::new(Bytes::new()));
            let Ok(req) = req else {
                // A token that is no valid header value is no token.
                return Checked::Invalid;
            };
            let (status, _, body) = match self.call(req).await {
                Ok(r) => r,
                Err(e) => return Checked::Unavailable(e),
            };
            match status {
                StatusCode::OK => {
                    return match parse_token(&body) {
                        Some(info) if info.expires > SystemTime::now() => {
                            Checked::Valid(Arc::new(info))
                        }
                        Some(_) => Checked::Invalid,
                        None => Checked::Unavailable("Keystone's answer is not a token".into()),
                    }
                }
                StatusCode::NOT_FOUND | StatusCode::BAD_REQUEST => return Checked::Invalid,
                StatusCode::UNAUTHORIZED if !renew => continue,
                s => return Checked::Unavailable(format!("Keystone answered {s} to a validation")),
            }
        }
        Checked::Unavailable("Keystone refuses the service user's token".into())
    }

    /// The service user's token, fetched when missing, near its end, or
    /// when `renew` says Keystone refused it.
    async fn service_token(&self, renew: bool) -> Result<String, String> {
        // One login at a time; while Keystone is slow the others wait, but
        // never longer than one call may take.
        let wait = Duration::from_secs(self.cfg.timeout_secs);
        let mut held = tokio::time::timeout(wait, self.service.lock())
            .await
            .map_err(|_| "waited too long for the service user's login".to_string())?;
        if let Some(s) = held
            .as_ref()
            .filter(|s| !renew && s.renew_at > Instant::now())
        {
            return Ok(s.token.clone());
        }
        let c = &self.cfg;
        let body = json!({"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": c.username, "password": c.password,
                "domain": {"name": c.user_domain_name}}}},
            "scope": {"project": {"name": c.project_name,
                "domain": {"name": c.project_domain_name}}}}});
        let req = Request::post(format!("{}/auth/tokens?nocatalog", self.url))
            .header("Content-Type", "application/json")
            .header("Accept", "application/json")
            .body(Full::new(Bytes::from(body.to_string())))
            .map_err(|e| e.to_string())?;
        let (status, headers, answer) = self.call(req).await?;
        if status != StatusCode::CREATED {
            return Err(format!(
                "Keystone answered {status} to the service user's login ({})",
                c.username
            ));
        }
        let token = headers
            .get("x-subject-token")
            .and_then(|v| v.to_str().ok())
            .ok_or("Keystone's login answer has no X-Subject-Token")?
            .to_string();
        let expires = parse_token(&answer)
            .map(|t| t.expires)
            .ok_or("Keystone's login answer is not a token")?;
        let life = expires
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO);
        // Renew well before the end; a short-lived token at half its life.
        let renew_in = life.checked_sub(RENEW_BEFORE).unwrap_or(life / 2);
        *held = Some(ServiceToken {
            token: token.clone(),
            renew_at: Instant::now() + renew_in,
        });
        Ok(token)
    }

    /// One bounded HTTP exchange with Keystone.
    async fn call(
        &self,
        req: Request<Full<Bytes>>,
    ) -> Result<(StatusCode, HeaderMap, Bytes), String> {
        let exchange = async {
            let resp = self
                .client
                .request(req)
                .await
                .map_err(|e| format!("{e:?}"))?;
            let (parts, body) = resp.into_parts();
            let body = Limited::new(body, MAX_ANSWER)
                .collect()
                .await
                .map_err(|e| e.to_string())?
                .to_bytes();
            Ok((parts.status, parts.headers, body))
        };
        match tokio::time::timeout(Duration::from_secs(self.cfg.timeout_secs), exchange).await {
            Ok(r) => r.map_err(|e: String| format!("Keystone at {}: {e}", self.url)),
            Err(_) => Err(format!("Keystone at {} did not answer in time", self.url)),
        }
    }

    /// The caller for `token` (plus an `X-Service-Token`), as keystoneauth
    /// sees it: both tokens must be valid, else the request is anonymous.
    pub async fn caller(&self, token: &str, service: Option<&str>) -> Caller {
        let user = match self.check(token).await {
            Checked::Valid(info) => info,
            Checked::Invalid => return Caller::Keystone(None),
            Checked::Unavailable(e) => {
                tracing::warn!("cannot validate a token: {e}");
                return Caller::Unavailable;
            }
        };
        let service = match service {
            None => None,
            Some(s) => match self.check(s).await {
                Checked::Valid(info) => Some(info),
                Checked::Invalid => return Caller::Keystone(None),
                Checked::Unavailable(e) => {
                    tracing::warn!("cannot validate a service token: {e}");
                    return Caller::Unavailable;
                }
            },
        };
        let k = keystone_auth::compose(&self.cfg, &self.rules, &user, service.as_deref());
        Caller::Keystone(Some(identity(k)))
    }

    /// The identity of a user Keystone vouched for (as a token without
    /// `X-Service-Token`): what an S3 request with an EC2 key gets.
    pub fn identity_of(&self, user: &TokenInfo) -> Identity {
        identity(keystone_auth::compose(&self.cfg, &self.rules, user, None))
    }
}

/// The request-wide identity for a Keystone caller: no tempauth groups or
/// flags but reseller admin (which quotas look at); the rules live in `k`.
fn identity(k: KeystoneIdentity) -> Identity {
    Identity {
        account: k.main_account().unwrap_or_default(),
        user: format!("{}:{}", k.project_name, k.user_name),
        admin: false,
        reseller_admin: k.reseller_admin,
        only_container: None,
        groups: Vec::new(),
        also_owns: Vec::new(),
        keystone: Some(Arc::new(k)),
    }
}

impl App {
    /// The caller of a request with `token`, when Keystone is on and the
    /// token is not one of tempauth's.
    pub async fn keystone_caller(&self, token: &str, service: Option<&str>) -> Caller {
        match &self.keystone {
            Some(k) if !token.starts_with(TOKEN_PREFIX) => k.caller(token, service).await,
            _ => Caller::Tempauth,
        }
    }

    /// Is `account` under a prefix of tempauth or of Keystone?
    pub fn serves_account(&self, account: &str) -> bool {
        self.auth.serves(account) || self.keystone.as_ref().is_some_and(|k| k.serves(account))
    }
}

/// authtoken's answer when Keystone cannot be asked.
pub fn unavailable(method: &Method) -> Response<Body> {
    let text = "The server is currently unavailable. Please try again at a later time.";
    let b = Response::builder()
        .status(StatusCode::SERVICE_UNAVAILABLE)
        .header("Content-Type", "text/plain; charset=UTF-8")
        .header("Content-Length", text.len())
        .header("Retry-After", "5");
    let body = if method == Method::HEAD {
        body::empty()
    } else {
        body::full(text)
    };
    b.body(body)
        .unwrap_or_else(|_| Response::new(body::empty()))
}

/// Reads Keystone's token document (`{"token": {...}}`).
pub fn parse_token(body: &[u8]) -> Option<TokenInfo> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let t = v.get("token")?;
    let s = |v: &Value, path: &[&str]| {
        let mut v = v;
        for p in path {
            v = v.get(p)?;
        }
        v.as_str().map(str::to_string)
    };
    let project = t.get("project");
    Some(TokenInfo {
        user_id: s(t, &["user", "id"])?,
        user_name: s(t, &["user", "name"]).unwrap_or_default(),
        user_domain_id: s(t, &["user", "domain", "id"]).unwrap_or_default(),
        project_id: project.and_then(|p| s(p, &["id"])),
        project_name: project.and_then(|p| s(p, &["name"])).unwrap_or_default(),
        project_domain_id: project
            .and_then(|p| s(p, &["domain", "id"]))
            .unwrap_or_default(),
        roles: t
            .get("roles")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|r| r.get("name")?.as_str())
                    .map(str::to_lowercase)
                    .collect()
            })
            .unwrap_or_default(),
        expires: parse_time(t.get("expires_at")?.as_str()?)?,
    })
}

/// An ISO 8601 UTC time as Keystone writes it (`2026-12-05T09:10:44.000000Z`;
/// an offset `+HH:MM` is honoured too).
pub fn parse_time(s: &str) -> Option<SystemTime> {
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        t.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| t.parse().ok())?
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let seps = [(4, b'-'), (7, b'-'), (13, b':'), (16, b':')];
    if seps.iter().any(|&(i, c)| s.as_bytes().get(i) != Some(&c))
        || !matches!(s.as_bytes().get(10), Some(b'T' | b't' | b' '))
        || !(1..=12).contains(&mo)
        || !(1..=31).contains(&d)
        || h > 23
        || mi > 59
        || sec > 60
    {
        return None;
    }
    let mut rest = &s[19..];
    if let Some(r) = rest.strip_prefix('.') {
        let digits = r.bytes().take_while(u8::is_ascii_digit).count();
        rest = &r[digits..];
    }
    let offset = match rest {
        "Z" | "z" | "" => 0,
        _ => {
            let sign = match rest.as_bytes().first() {
                Some(b'+') => 1,
                Some(b'-') => -1,
                _ => return None,
            };
            let (oh, om) = rest[1..].split_once(':')?;
            let (oh, om): (i64, i64) = (oh.parse().ok()?, om.parse().ok()?);
            sign * (oh * 3600 + om * 60)
        }
    };
    let secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - offset;
    let secs = u64::try_from(secs).ok()?;
    SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn keystone_times_parse() {
        assert_eq!(parse_time("1970-01-01T00:00:00Z"), Some(at(0)));
        assert_eq!(
            parse_time("2026-12-05T09:10:44.000000Z"),
            Some(at(1_796_461_844))
        );
        assert_eq!(
            parse_time("2000-03-01T00:00:00+01:00"),
            Some(at(951_865_200))
        );
        for bad in [
            "",
            "2026-12-05",
            "2026-13-05T00:00:00Z",
            "2026-12-05T00:00:00Q",
            "x",
        ] {
            assert_eq!(parse_time(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn token_documents_parse() {
        let doc = br#"{"token": {"user": {"id": "u1", "name": "bob",
            "domain": {"id": "default"}}, "project": {"id": "p1", "name": "proj",
            "domain": {"id": "d2"}}, "roles": [{"name": "Admin"}, {"name": "reader"}],
            "expires_at": "2030-01-01T00:00:00.000000Z"}}"#;
        let t = parse_token(doc).unwrap();
        assert_eq!(t.user_id, "u1");
        assert_eq!(t.project_id.as_deref(), Some("p1"));
        assert_eq!(t.project_domain_id, "d2");
        assert_eq!(t.roles, ["admin", "reader"]);
        // Domain-scoped: no project.
        let doc = br#"{"token": {"user": {"id": "u1"}, "roles": [],
            "expires_at": "2030-01-01T00:00:00Z"}}"#;
        assert_eq!(parse_token(doc).unwrap().project_id, None);
        assert!(parse_token(b"{}").is_none());
        assert!(parse_token(b"not json").is_none());
        assert!(parse_token(br#"{"token": {"user": {"id": "u"}}}"#).is_none());
    }

    fn ks(cache_size: usize) -> Keystone {
        Keystone::new(KeystoneConfig {
            auth_url: "http://127.0.0.1:9".into(),
            username: "u".into(),
            password: "p".into(),
            cache_size,
            cache_secs: 60,
            ..Default::default()
        })
    }

    fn info(expires: SystemTime) -> Arc<TokenInfo> {
        Arc::new(TokenInfo {
            user_id: "u".into(),
            user_name: "u".into(),
            user_domain_id: "default".into(),
            project_id: Some("p".into()),
            project_name: "p".into(),
            project_domain_id: "default".into(),
            roles: Vec::new(),
            expires,
        })
    }

    #[test]
    fn cache_keeps_until_expiry_or_ttl_and_stays_bounded() {
        let k = ks(3);
        let now = SystemTime::now();
        k.remember(
            [1; 32],
            Some(info(now + Duration::from_secs(3600))),
            now + Duration::from_secs(3600),
        );
        assert!(matches!(k.cached(&[1; 32]), Some(Checked::Valid(_))));
        // Already expired: never served from the cache.
        k.remember([2; 32], Some(info(now)), now - Duration::from_secs(1));
        assert!(k.cached(&[2; 32]).is_none());
        // The TTL bounds a long-lived token.
        let until = k.cache.lock().unwrap()[&[1; 32]].until;
        assert!(until <= Instant::now() + Duration::from_secs(60));
        for i in 3..20u8 {
            k.remember([i; 32], None, now + Duration::from_secs(i as u64));
        }
        assert!(k.cache.lock().unwrap().len() <= 3);
        assert!(matches!(k.cached(&[19; 32]), Some(Checked::Invalid)));
    }

    #[tokio::test]
    async fn unreachable_keystone_is_unavailable_not_invalid() {
        let k = ks(10);
        // Tokens that cannot be tokens are refused without asking.
        for t in ["", "a b", "x\u{e9}"] {
            assert!(matches!(k.check(t).await, Checked::Invalid), "{t:?}");
        }
        assert!(matches!(
            k.check("sometoken").await,
            Checked::Unavailable(_)
        ));
        // And nothing was cached: the next request asks again.
        assert!(k.cache.lock().unwrap().is_empty());
    }
}
