//! A bucket's `CORSConfiguration`: read, checked, kept and matched.
//!
//! The rules are kept whole in the container's sysmeta ([`SYSMETA_KEY`],
//! JSON), so S3's preflights and requests are answered from them as S3
//! answers (first matching rule; one `*` wildcard in an origin or an
//! allowed header). They are also written where Swift keeps CORS, the
//! container's `Access-Control-*` metadata: every rule's origins
//! (compared exactly by Swift, so a wildcard origin matches nothing
//! there), their exposed headers and the shortest cache time. The sysmeta
//! notes the origins it wrote; once Swift's metadata says otherwise (a
//! Swift POST changed or removed it), the Swift metadata is the bucket's
//! CORS, read as one rule that allows every method and request header as
//! Swift's CORS does (and exposes what Swift's s3api exposes).
//!
//! A configuration is refused whole (`MalformedXML`, `InvalidRequest`)
//! before anything is written: more than 100 rules, an `ID` over 255
//! characters, an origin or header pattern with a space, a control
//! character or two wildcards, a value Swift's metadata cannot hold.
//! Rules read back from disk are trusted only within the same count and
//! size; a pattern there is only ever compared, never used as a path.

use serde::{Deserialize, Serialize};

use super::super::error::S3Error;
use super::super::xml;
use crate::config::Limits;
use crate::store::meta::Meta;
use crate::swift::cors::{Rules as SwiftRules, ALLOW_ORIGIN_KEY, EXPOSE_HEADERS_KEY, MAX_AGE_KEY};

/// Sysmeta: the bucket's CORS rules (see [`Stored`]).
pub const SYSMETA_KEY: &str = "X-Container-Sysmeta-S3api-Cors";
/// S3's limit on rules in one configuration.
const MAX_RULES: usize = 100;
/// The most the sysmeta value may take in the container's metadata JSON
/// (escaped once more there), so that with Swift's bounded user metadata
/// the whole stays well within what the store reads back
/// ([`crate::store::meta::MAX_ENCODED`]).
const MAX_STORED: usize = 128 * 1024;
/// S3's limit on a rule's `ID`.
const MAX_ID: usize = 255;
/// The methods a rule may allow.
pub const METHODS: [&str; 5] = ["GET", "PUT", "HEAD", "POST", "DELETE"];

/// One `CORSRule`.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub origins: Vec<String>,
    pub methods: Vec<String>,
    #[serde(default)]
    pub headers: Vec<String>,
    #[serde(default)]
    pub expose: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age: Option<u64>,
    /// Read from Swift's CORS metadata rather than a `CORSConfiguration`:
    /// a request it grants exposes what Swift's s3api exposes
    /// ([`super::super::cors`]).
    #[serde(skip)]
    pub swift: bool,
}

/// What the sysmeta holds: the rules, and the Swift origins they were
/// written with (the sign that Swift's metadata still agrees).
#[derive(Debug, Serialize, Deserialize)]
struct Stored {
    swift_origins: String,
    rules: Vec<Rule>,
}

/// Does `pattern` (at most one `*`, any run of characters) match `value`,
/// ASCII case aside?
fn glob(pattern: &str, value: &str) -> bool {
    let same = |a: Option<&str>, b: &str| a.is_some_and(|a| a.eq_ignore_ascii_case(b));
    match pattern.split_once('*') {
        None => pattern.eq_ignore_ascii_case(value),
        Some((head, tail)) => {
            value.len() >= head.len() + tail.len()
                && same(value.get(..head.len()), head)
                && same(value.get(value.len() - tail.len()..), tail)
        }
    }
}

impl Rule {
    /// Does the rule allow `origin` to use `method`?
    pub fn allows(&self, origin: &str, method: &str) -> bool {
        self.origins.iter().any(|o| glob(o, origin)) && self.methods.iter().any(|m| m == method)
    }

    /// Does the rule allow a preflight: `origin`, `method`, and every one
    /// of the `headers` the actual request will send?
    pub fn allows_preflight(&self, origin: &str, method: &str, headers: &[String]) -> bool {
        self.allows(origin, method)
            && headers
                .iter()
                .all(|h| self.headers.iter().any(|a| glob(a, h)))
    }

    /// Whether the rule lets any origin in (then `*` is the allowed origin
    /// told, as S3 does).
    pub fn any_origin(&self) -> bool {
        self.origins.iter().any(|o| o == "*")
    }
}

/// Reads a `CORSConfiguration`: well-formed, 1 to 100 rules, each with an
/// origin and a method of S3's five; an origin or allowed header holds at
/// most one `*`, no spaces (Swift keeps origins space-separated).
pub fn parse(body: &[u8]) -> Result<Vec<Rule>, S3Error> {
    let doc = xml::parse(body)?;
    let root = doc.root_element();
    if root.tag_name().name() != "CORSConfiguration" {
        return Err(S3Error::malformed_xml());
    }
    let rules: Vec<_> = root
        .children()
        .filter(|c| c.is_element() && c.tag_name().name() == "CORSRule")
        .collect();
    if rules.is_empty() || rules.len() > MAX_RULES {
        return Err(S3Error::malformed_xml());
    }
    rules.into_iter().map(parse_rule).collect()
}

fn parse_rule(rule: roxmltree::Node<'_, '_>) -> Result<Rule, S3Error> {
    let texts = |name: &str| -> Vec<String> {
        rule.children()
            .filter(|c| c.is_element() && c.tag_name().name() == name)
            .map(|c| c.text().unwrap_or("").trim().to_string())
            .collect()
    };
    let r = Rule {
        id: xml::child_text(rule, "ID").map(|s| s.trim().to_string()),
        origins: texts("AllowedOrigin"),
        methods: texts("AllowedMethod"),
        headers: texts("AllowedHeader"),
        expose: texts("ExposeHeader"),
        max_age: match xml::child_text(rule, "MaxAgeSeconds") {
            Some(a) => Some(a.trim().parse().map_err(|_| S3Error::malformed_xml())?),
            None => None,
        },
        swift: false,
    };
    if r.origins.is_empty()
        || r.methods.is_empty()
        || r.id.as_ref().is_some_and(|id| id.chars().count() > MAX_ID)
    {
        return Err(S3Error::malformed_xml());
    }
    if let Some(m) = r.methods.iter().find(|m| !METHODS.contains(&m.as_str())) {
        return Err(S3Error::invalid_request(&format!(
            "Found unsupported HTTP method in CORS config. Unsupported method is {m}"
        )));
    }
    for o in &r.origins {
        check_pattern("AllowedOrigin", o)?;
    }
    for h in &r.headers {
        check_pattern("AllowedHeader", h)?;
    }
    if r.expose.iter().any(|e| e.is_empty() || !plain(e)) {
        return Err(S3Error::malformed_xml());
    }
    Ok(r)
}

/// No space or control character (Swift separates values by spaces, and
/// sysmeta holds no control characters).
fn plain(s: &str) -> bool {
    !s.contains(char::is_whitespace) && !s.contains(char::is_control)
}

fn check_pattern(what: &str, p: &str) -> Result<(), S3Error> {
    if p.is_empty() || !plain(p) {
        return Err(S3Error::invalid_request(&format!(
            "{what} \"{p}\" is not valid."
        )));
    }
    if p.matches('*').count() > 1 {
        return Err(S3Error::invalid_request(&format!(
            "{what} \"{p}\" can not have more than one wildcard."
        )));
    }
    Ok(())
}

/// The `CORSConfiguration` document of `rules`.
pub fn document(rules: &[Rule]) -> String {
    let mut w = xml::Writer::new("CORSConfiguration");
    for r in rules {
        w.open("CORSRule");
        if let Some(id) = &r.id {
            w.elem("ID", id);
        }
        for (name, values) in [
            ("AllowedHeader", &r.headers),
            ("AllowedMethod", &r.methods),
            ("AllowedOrigin", &r.origins),
            ("ExposeHeader", &r.expose),
        ] {
            for v in values {
                w.elem(name, v);
            }
        }
        if let Some(a) = r.max_age {
            w.elem("MaxAgeSeconds", &a.to_string());
        }
        w.close();
    }
    w.finish()
}

/// The container metadata that keeps `rules`: Swift's view of them (the
/// origins and exposed headers, each once, space-separated, and the
/// shortest cache time; a value Swift's `max_meta_value_length` cannot
/// hold is refused) and the rules whole in sysmeta (refused past
/// [`MAX_STORED`]). Nothing is written when this fails.
pub fn to_meta(rules: &[Rule], limits: &Limits) -> Result<Meta, S3Error> {
    let union = |each: fn(&Rule) -> &[String]| {
        let mut seen: Vec<&str> = Vec::new();
        for v in rules.iter().flat_map(each) {
            if !seen.contains(&v.as_str()) {
                seen.push(v);
            }
        }
        seen.join(" ")
    };
    let origins = union(|r| &r.origins);
    let max_age = rules.iter().filter_map(|r| r.max_age).min();
    let swift = [
        (ALLOW_ORIGIN_KEY, origins.clone()),
        (EXPOSE_HEADERS_KEY, union(|r| &r.expose)),
        (
            MAX_AGE_KEY,
            max_age.map(|a| a.to_string()).unwrap_or_default(),
        ),
    ];
    if let Some((key, _)) = swift
        .iter()
        .find(|(_, v)| v.len() > limits.max_meta_value_length)
    {
        return Err(S3Error::invalid_request(&format!(
            "The rules' {} would be longer than the {} bytes Swift's CORS metadata holds.",
            key.trim_start_matches("X-Container-Meta-"),
            limits.max_meta_value_length
        )));
    }
    let stored = serde_json::to_string(&Stored {
        swift_origins: origins,
        rules: rules.to_vec(),
    })
    .map_err(|_| S3Error::internal_error())?;
    if escaped_len(&stored) > MAX_STORED {
        return Err(S3Error::malformed_xml());
    }
    let mut m: Meta = swift.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    m.insert(SYSMETA_KEY.into(), stored);
    Ok(m)
}

/// The length of `s` as a JSON string.
fn escaped_len(s: &str) -> usize {
    serde_json::to_string(s).map_or(usize::MAX, |e| e.len())
}

/// The metadata change that removes a bucket's CORS, Swift's and S3's.
pub fn removal() -> Meta {
    [
        ALLOW_ORIGIN_KEY,
        EXPOSE_HEADERS_KEY,
        MAX_AGE_KEY,
        SYSMETA_KEY,
    ]
    .into_iter()
    .map(|k| (k.to_string(), String::new()))
    .collect()
}

/// The bucket's CORS rules from its container metadata: the S3 rules
/// while Swift's origins are the ones they wrote, else Swift's settings
/// as one rule, with `server` origins added (the config's `[cors]`
/// origins, which Swift trusts on every container); none when no origin
/// is trusted.
pub fn rules(m: &Meta, server: &[String]) -> Option<Vec<Rule>> {
    let swift = SwiftRules::from_meta(m);
    let kept = m
        .get(SYSMETA_KEY)
        .filter(|v| escaped_len(v) <= MAX_STORED)
        .and_then(|v| serde_json::from_str::<Stored>(v).ok())
        .filter(|s| s.swift_origins == swift.allow_origin())
        .filter(|s| (1..=MAX_RULES).contains(&s.rules.len()));
    if let Some(s) = kept {
        return Some(s.rules);
    }
    let origins: Vec<String> = swift
        .own_origins()
        .chain(server.iter().map(String::as_str))
        .map(str::to_string)
        .collect();
    if origins.is_empty() {
        return None;
    }
    Some(vec![Rule {
        id: None,
        origins,
        methods: METHODS.iter().map(|m| m.to_string()).collect(),
        headers: vec!["*".into()],
        expose: swift.expose_headers().map(str::to_string).collect(),
        max_age: swift.max_age().and_then(|a| a.trim().parse().ok()),
        swift: true,
    }])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf(rules: &str) -> Vec<u8> {
        format!(
            "<CORSConfiguration xmlns=\"{}\">{rules}</CORSConfiguration>",
            xml::NS
        )
        .into_bytes()
    }

    #[test]
    fn rules_are_kept_whole_and_swift_gets_their_union() {
        let body = conf(
            "<CORSRule><ID>a</ID><AllowedOrigin>https://a.example</AllowedOrigin>\
             <AllowedMethod>GET</AllowedMethod><ExposeHeader>ETag</ExposeHeader>\
             <MaxAgeSeconds>600</MaxAgeSeconds></CORSRule>\
             <CORSRule><AllowedOrigin>https://*.b.example</AllowedOrigin>\
             <AllowedOrigin>https://a.example</AllowedOrigin><AllowedMethod>PUT</AllowedMethod>\
             <AllowedHeader>x-amz-*</AllowedHeader><ExposeHeader>x-amz-request-id</ExposeHeader>\
             <MaxAgeSeconds>60</MaxAgeSeconds></CORSRule>",
        );
        let rules = parse(&body).unwrap();
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[0].id.as_deref(), Some("a"));
        assert_eq!(rules[1].headers, ["x-amz-*"]);
        let m = to_meta(&rules, &Limits::default()).unwrap();
        assert_eq!(m[ALLOW_ORIGIN_KEY], "https://a.example https://*.b.example");
        assert_eq!(m[EXPOSE_HEADERS_KEY], "ETag x-amz-request-id");
        assert_eq!(m[MAX_AGE_KEY], "60");
        assert_eq!(self::rules(&m, &[]).unwrap(), rules);
        assert_eq!(parse(document(&rules).as_bytes()).unwrap(), rules);
    }

    #[test]
    fn swift_metadata_changed_since_is_read_as_one_rule() {
        let rules = parse(&conf(
            "<CORSRule><AllowedOrigin>https://a.example</AllowedOrigin>\
             <AllowedMethod>GET</AllowedMethod></CORSRule>",
        ))
        .unwrap();
        let mut m = to_meta(&rules, &Limits::default()).unwrap();
        m.insert(ALLOW_ORIGIN_KEY.into(), "https://swift.example".into());
        let got = self::rules(&m, &["https://server.example".into()]).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(
            got[0].origins,
            ["https://swift.example", "https://server.example"]
        );
        assert_eq!(got[0].methods, METHODS);
        assert!(got[0].allows_preflight("https://swift.example", "DELETE", &["x-any".into()]));
        // Removed everywhere: no configuration.
        let mut m = to_meta(&rules, &Limits::default()).unwrap();
        crate::store::container::apply_user_meta(&mut m, removal());
        assert!(m.is_empty());
        assert_eq!(self::rules(&m, &[]), None);
    }

    #[test]
    fn stored_rules_that_could_not_have_been_written_are_not_trusted() {
        let rule = Rule {
            origins: vec!["*".into()],
            methods: vec!["GET".into()],
            ..Rule::default()
        };
        let mut m = Meta::new();
        let keep = |m: &mut Meta, n: usize| {
            let s = Stored {
                swift_origins: String::new(),
                rules: vec![rule.clone(); n],
            };
            m.insert(SYSMETA_KEY.into(), serde_json::to_string(&s).unwrap());
        };
        keep(&mut m, MAX_RULES);
        assert_eq!(self::rules(&m, &[]).map(|r| r.len()), Some(MAX_RULES));
        for n in [0, MAX_RULES + 1] {
            keep(&mut m, n);
            assert_eq!(self::rules(&m, &[]), None, "{n} rules");
        }
        m.insert(SYSMETA_KEY.into(), "{not json".into());
        assert_eq!(self::rules(&m, &[]), None);
    }

    #[test]
    fn what_swift_metadata_cannot_hold_is_refused_before_any_write() {
        let long = |n: usize| Rule {
            origins: (0..n).map(|i| format!("https://host{i}.example")).collect(),
            methods: vec!["GET".into()],
            ..Rule::default()
        };
        let l = Limits::default();
        assert!(to_meta(&[long(10)], &l).is_ok());
        let e = to_meta(&[long(20)], &l).unwrap_err();
        assert_eq!(e.code, "InvalidRequest");
        assert!(
            e.message.contains("Access-Control-Allow-Origin"),
            "{}",
            e.message
        );
        // The rules whole, past what the sysmeta may take.
        let quoted = Rule {
            headers: vec!["\"".repeat(600)],
            ..long(1)
        };
        let e = to_meta(&vec![quoted; MAX_RULES], &l).unwrap_err();
        assert_eq!(e.code, "MalformedXML");
    }

    #[test]
    fn a_rule_matches_origin_method_and_every_requested_header() {
        let r = Rule {
            origins: vec!["https://*.example.com".into()],
            methods: vec!["GET".into(), "PUT".into()],
            headers: vec!["x-amz-*".into(), "Content-Type".into()],
            ..Rule::default()
        };
        assert!(r.allows("https://app.example.com", "PUT"));
        assert!(!r.allows("https://example.com", "PUT"));
        assert!(!r.allows("http://app.example.com", "GET"));
        assert!(!r.allows("https://app.example.com", "DELETE"));
        let h = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let o = "https://a.example.com";
        assert!(r.allows_preflight(o, "PUT", &h(&["x-amz-date", "content-type"])));
        assert!(!r.allows_preflight(o, "PUT", &h(&["x-amz-date", "x-other"])));
        assert!(r.allows_preflight(o, "GET", &[]));
        // Case aside, and never a slice through a character.
        assert!(glob("X-AMZ-*", "x-amz-date"));
        assert!(!glob("a*", "é") && !glob("*a", "é") && glob("*é", "aé"));
    }

    #[test]
    fn bad_configurations_are_refused() {
        let rule = |o: &str, m: &str| {
            conf(&format!(
                "<CORSRule><AllowedOrigin>{o}</AllowedOrigin><AllowedMethod>{m}</AllowedMethod>\
                 </CORSRule>"
            ))
        };
        let code = |b: &[u8]| parse(b).unwrap_err().code;
        assert_eq!(code(&conf("")), "MalformedXML");
        assert_eq!(code(b"<Other/>"), "MalformedXML");
        assert_eq!(
            code(&conf(
                "<CORSRule><AllowedMethod>GET</AllowedMethod></CORSRule>"
            )),
            "MalformedXML"
        );
        assert_eq!(code(&rule("*", "PATCH")), "InvalidRequest");
        assert_eq!(code(&rule("a b", "GET")), "InvalidRequest");
        assert_eq!(code(&rule("https://*.*.example", "GET")), "InvalidRequest");
        assert_eq!(parse(&rule("*", "GET")).unwrap()[0].origins, ["*"]);
        let one = "<CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod>\
                   </CORSRule>";
        assert!(parse(&conf(&one.repeat(MAX_RULES))).is_ok());
        assert_eq!(code(&conf(&one.repeat(MAX_RULES + 1))), "MalformedXML");
        let id = |n: usize| {
            conf(&format!(
                "<CORSRule><ID>{}</ID><AllowedOrigin>*</AllowedOrigin>\
                 <AllowedMethod>GET</AllowedMethod></CORSRule>",
                "i".repeat(n)
            ))
        };
        assert!(parse(&id(MAX_ID)).is_ok());
        assert_eq!(code(&id(MAX_ID + 1)), "MalformedXML");
    }

    #[test]
    fn hostile_documents_are_malformed_not_a_panic() {
        let code = |b: &[u8]| parse(b).unwrap_err().code;
        let entity =
            b"<?xml version=\"1.0\"?><!DOCTYPE c [<!ENTITY e SYSTEM \"file:///etc/passwd\">]>\
            <CORSConfiguration><CORSRule><AllowedOrigin>&e;</AllowedOrigin>\
            <AllowedMethod>GET</AllowedMethod></CORSRule></CORSConfiguration>";
        assert_eq!(code(entity), "MalformedXML");
        let deep = format!("{}{}", "<a>".repeat(100_000), "</a>".repeat(100_000));
        assert_eq!(code(&conf(&deep)), "MalformedXML");
        assert_eq!(code(b"<CORSConfiguration><CORSRule>"), "MalformedXML");
        assert_eq!(code(&[0xff, 0xfe, 0x00]), "MalformedXML");
        let age = "<CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod>\
                   <MaxAgeSeconds>99999999999999999999999</MaxAgeSeconds></CORSRule>";
        assert_eq!(code(&conf(age)), "MalformedXML");
    }
}
