//! Who an S3 request speaks for. The access key is tempauth's
//! `account:user`, the secret key that user's `key` in `[[auth.user]]` (as
//! Swift's s3api with tempauth); a request whose signature holds gets the
//! very `Identity` a tempauth token of that user carries, on the account
//! `<reseller_prefix><account>`, so every later decision is the Swift
//! core's (`.admin` owns the account; others get what ACLs grant).
//!
//! With `[keystone]`, a key that names no tempauth user is an EC2
//! credential checked by Keystone, as Swift's `s3token` does
//! ([`crate::swift::keystone::ec2`]): the caller then gets the identity a
//! Keystone token of the key's user on the key's project carries, so
//! keystoneauth's rules decide (operator roles own `AUTH_<project_id>`).

use http::HeaderMap;

use super::error::S3Error;
use super::integrity::Payload;
use super::sigv4::ChunkChain;
use super::{sigv2, sigv4};
use crate::config::UserConfig;
use crate::swift::auth::Identity;
use crate::swift::keystone::{Ec2Checked, Keystone};
use crate::swift::App;

/// The parts of a request that signatures cover.
#[derive(Clone, Copy)]
pub struct ReqView<'a> {
    pub method: &'a str,
    /// The path as sent, still percent-encoded.
    pub raw_path: &'a str,
    /// Query parameters, decoded, in the order sent.
    pub query: &'a [(String, String)],
    pub headers: &'a HeaderMap,
    /// The bucket named by the `Host` (virtual-hosted style), if any.
    pub bucket_in_host: Option<&'a str>,
}

/// Which AWS signature a request carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    V4,
    V2,
}

/// The signature kind of a request, `None` when it carries no AWS
/// authentication (then it is a Swift request). `query_keys` are the raw
/// (still encoded) parameter names.
pub fn kind<'a>(
    headers: &HeaderMap,
    mut query_keys: impl Iterator<Item = &'a str>,
) -> Option<Kind> {
    let auth = headers.get("authorization").map(|v| v.as_bytes());
    if auth.is_some_and(|a| a.starts_with(b"AWS4-HMAC-SHA256 ")) {
        return Some(Kind::V4);
    }
    let mut v2 = auth.is_some_and(|a| a.starts_with(b"AWS "));
    let mut v4 = false;
    for k in query_keys.by_ref() {
        match k {
            "X-Amz-Credential" | "X-Amz-Algorithm" => v4 = true,
            "AWSAccessKeyId" => v2 = true,
            _ => {}
        }
    }
    if v4 {
        Some(Kind::V4)
    } else if v2 {
        Some(Kind::V2)
    } else {
        None
    }
}

/// A signature claim, checked for form and time.
#[derive(Debug, Clone)]
pub enum Claim {
    V4(sigv4::Claim),
    V2(sigv2::Claim),
}

impl Claim {
    pub fn access_key(&self) -> &str {
        match self {
            Claim::V4(c) => &c.access_key,
            Claim::V2(c) => &c.access_key,
        }
    }

    fn string_to_sign(&self) -> &[u8] {
        match self {
            Claim::V4(c) => &c.string_to_sign,
            Claim::V2(c) => &c.string_to_sign,
        }
    }

    fn signature(&self) -> &str {
        match self {
            Claim::V4(c) => &c.signature,
            Claim::V2(c) => &c.signature,
        }
    }

    /// Checks the signature with `secret`; the chain of a SigV4 request
    /// when its body's chunks are signed (`chain`: only they need it).
    fn verify(&self, secret: &str, chain: bool) -> Result<Option<ChunkChain>, S3Error> {
        match self {
            Claim::V4(c) => {
                let key = c.verify(secret)?;
                Ok(chain.then(|| c.chain(key)))
            }
            Claim::V2(c) => c.verify(secret).map(|()| None),
        }
    }

    /// The `SignatureDoesNotMatch` of this claim.
    fn mismatch(&self) -> S3Error {
        S3Error::signature_does_not_match(match self {
            Claim::V4(c) => c.mismatch_details(),
            Claim::V2(c) => c.mismatch_details(),
        })
    }
}

/// Parses the request's claim (dates, expiry, form of the credential).
pub fn parse(kind: Kind, req: &ReqView<'_>, region: &str, now: i64) -> Result<Claim, S3Error> {
    Ok(match kind {
        Kind::V4 => Claim::V4(sigv4::parse(req, region, now)?),
        Kind::V2 => Claim::V2(sigv2::parse(req, now)?),
    })
}

/// A request whose signature holds.
pub struct Caller {
    pub identity: Identity,
    /// The access key: tempauth's `account:user` (as S3 shows the owner),
    /// or a Keystone EC2 key.
    pub access_key: String,
    /// The chain of an aws-chunked body's signatures (SigV4, signed
    /// chunks only).
    pub chain: Option<ChunkChain>,
}

/// The tempauth user of an access key (`account:user`).
pub fn user<'a>(users: &'a [UserConfig], access_key: &str) -> Option<&'a UserConfig> {
    let (account, name) = access_key.split_once(':')?;
    users
        .iter()
        .find(|u| u.account == account && u.user == name)
}

/// Checks the claim's signature: with its tempauth user's key, else (with
/// `[keystone]`) through Keystone. `payload` says whether the body's chunks
/// are signed (their chain needs the secret).
pub async fn authenticate(app: &App, claim: &Claim, payload: &Payload) -> Result<Caller, S3Error> {
    let key = claim.access_key();
    let Some(u) = user(&app.cfg.auth.users, key) else {
        return match &app.keystone {
            Some(ks) => keystone_caller(ks, claim, payload).await,
            None => Err(S3Error::invalid_access_key_id(key)),
        };
    };
    let chain = claim.verify(&u.key, signed_chunks(payload))?;
    // The same identity a tempauth login gives this user (its token is
    // not used).
    let identity = app
        .auth
        .identity(key, &u.key)
        .ok_or_else(S3Error::internal_error)?;
    Ok(Caller {
        identity,
        access_key: key.to_string(),
        chain,
    })
}

/// An EC2 key's caller: from the cached secret when it checks the
/// signature, else as Keystone answers.
async fn keystone_caller(
    ks: &Keystone,
    claim: &Claim,
    payload: &Payload,
) -> Result<Caller, S3Error> {
    let key = claim.access_key();
    let caller = |info: &crate::swift::keystone::TokenInfo, chain| Caller {
        identity: ks.identity_of(info),
        access_key: key.to_string(),
        chain,
    };
    let signed_chunks = signed_chunks(payload);
    if let Some((info, secret)) = ks.ec2_cached(key) {
        if let Ok(chain) = claim.verify(&secret, signed_chunks) {
            return Ok(caller(&info, chain));
        }
        // As s3token: Keystone has the last word (the secret may have
        // changed). The entry stays: a stranger's wrong signature must not
        // evict it.
    }
    let answer = ks
        .ec2_check(
            key,
            claim.string_to_sign(),
            claim.signature(),
            signed_chunks,
        )
        .await;
    match answer {
        Ec2Checked::Valid { info, secret } => {
            let chain = match &secret {
                Some(s) => claim.verify(s, signed_chunks)?,
                None if signed_chunks => return Err(S3Error::not_implemented(NO_SECRET)),
                None => None,
            };
            Ok(caller(&info, chain))
        }
        Ec2Checked::UnknownKey => Err(S3Error::invalid_access_key_id(key)),
        Ec2Checked::Refused => Err(claim.mismatch()),
        Ec2Checked::Unavailable(e) => {
            tracing::warn!("cannot check an S3 key with Keystone: {e}");
            Err(S3Error::service_unavailable())
        }
    }
}

/// Are the body's chunks signed (aws-chunked with signatures, which the
/// chain checks)?
fn signed_chunks(payload: &Payload) -> bool {
    matches!(payload, Payload::Streaming { signed: true, .. })
}

/// Why a signed aws-chunked body of a Keystone key is refused.
const NO_SECRET: &str = "Signed aws-chunked bodies (STREAMING-AWS4-HMAC-SHA256-PAYLOAD) need \
     this key's secret, which Keystone does not give this server; send UNSIGNED-PAYLOAD, \
     STREAMING-UNSIGNED-PAYLOAD-TRAILER or the body's SHA-256.";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn app() -> App {
        let mut cfg = Config::embedded();
        cfg.auth.secret = "s".repeat(32);
        cfg.policies[0].device = std::env::temp_dir();
        App::new(cfg).unwrap()
    }

    #[test]
    fn requests_are_classified_by_their_authentication() {
        let h = |v: &str| {
            let mut m = HeaderMap::new();
            m.insert("authorization", v.parse().unwrap());
            m
        };
        let none = HeaderMap::new();
        let no_q = || std::iter::empty::<&str>();
        assert_eq!(
            kind(&h("AWS4-HMAC-SHA256 Credential=x"), no_q()),
            Some(Kind::V4)
        );
        assert_eq!(kind(&h("AWS test:tester:sig"), no_q()), Some(Kind::V2));
        assert_eq!(
            kind(&none, ["X-Amz-Credential"].into_iter()),
            Some(Kind::V4)
        );
        assert_eq!(kind(&none, ["X-Amz-Algorithm"].into_iter()), Some(Kind::V4));
        assert_eq!(kind(&none, ["AWSAccessKeyId"].into_iter()), Some(Kind::V2));
        // Swift's own ways stay Swift.
        assert_eq!(kind(&h("Bearer x"), no_q()), None);
        assert_eq!(kind(&h("AWS4-HMAC-SHA256"), no_q()), None);
        assert_eq!(kind(&none, ["temp_url_sig", "format"].into_iter()), None);
    }

    #[tokio::test]
    async fn keys_name_tempauth_users_and_their_identity() {
        let app = app();
        let claim = |key: &str, secret: &str| {
            Claim::V2(sigv2::Claim {
                access_key: key.into(),
                signature: sigv2::sign(secret, b"sts"),
                string_to_sign: b"sts".to_vec(),
            })
        };
        let c = authenticate(&app, &claim("test:tester", "testing"), &Payload::Absent)
            .await
            .unwrap();
        assert_eq!(c.identity.account, "AUTH_test");
        assert_eq!(c.identity.user, "test:tester");
        assert!(c.identity.admin && c.identity.owns("AUTH_test"));
        let c3 = authenticate(&app, &claim("test:tester3", "testing3"), &Payload::Absent)
            .await
            .unwrap();
        assert!(!c3.identity.owns("AUTH_test"));
        let e = authenticate(&app, &claim("test:nobody", "x"), &Payload::Absent)
            .await
            .err()
            .unwrap();
        assert_eq!((e.code, e.status.as_u16()), ("InvalidAccessKeyId", 403));
        let e = authenticate(&app, &claim("test", "testing"), &Payload::Absent)
            .await
            .err()
            .unwrap();
        assert_eq!(e.code, "InvalidAccessKeyId");
        let e = authenticate(&app, &claim("test:tester", "testing2"), &Payload::Absent)
            .await
            .err()
            .unwrap();
        assert_eq!(e.code, "SignatureDoesNotMatch");
    }

    #[tokio::test]
    async fn other_keys_go_to_keystone_and_tempauth_keys_never_wait_for_it() {
        let mut cfg = Config::embedded();
        cfg.auth.secret = "s".repeat(32);
        cfg.policies[0].device = std::env::temp_dir();
        cfg.keystone = Some(crate::config::KeystoneConfig {
            auth_url: "http://127.0.0.1:9".into(),
            username: "u".into(),
            password: "p".into(),
            ..Default::default()
        });
        let app = App::new(cfg).unwrap();
        let claim = |key: &str| {
            Claim::V2(sigv2::Claim {
                access_key: key.into(),
                signature: sigv2::sign("testing", b"sts"),
                string_to_sign: b"sts".to_vec(),
            })
        };
        // Keystone does not answer: 503, not a refusal.
        let e = authenticate(&app, &claim("0123abcd"), &Payload::Absent)
            .await
            .err()
            .unwrap();
        assert_eq!((e.code, e.status.as_u16()), ("ServiceUnavailable", 503));
        let c = authenticate(&app, &claim("test:tester"), &Payload::Absent).await;
        assert_eq!(c.unwrap().identity.account, "AUTH_test");
    }
}
