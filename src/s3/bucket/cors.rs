//! A `CORSConfiguration` read into what a Swift container can hold: the
//! origins it trusts, the headers it exposes, and how long a preflight may
//! be cached. Swift's CORS answers every method and any request header
//! for a trusted origin, so a rule's `AllowedMethod`s are checked but
//! widened to all, and its `AllowedHeader`s are not kept; the union of the
//! rules' origins and exposed headers is, with the shortest cache time.

use super::super::error::S3Error;
use super::super::xml;

/// S3's limit on rules in one configuration.
const MAX_RULES: usize = 100;
const METHODS: [&str; 5] = ["GET", "PUT", "HEAD", "POST", "DELETE"];

/// The container's CORS settings from a configuration.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Rules {
    pub origins: Vec<String>,
    pub expose: Vec<String>,
    pub max_age: Option<u64>,
}

/// Reads a `CORSConfiguration`: well-formed, 1 to 100 rules, each with
/// an origin and a method of S3's five; origins and header names hold no
/// spaces (Swift keeps them space-separated) and an origin is `*` or
/// names one origin (no partial wildcard: Swift compares exactly).
pub fn parse(body: &[u8]) -> Result<Rules, S3Error> {
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
    let mut out = Rules::default();
    for rule in rules {
        let texts = |name: &str| -> Vec<String> {
            rule.children()
                .filter(|c| c.is_element() && c.tag_name().name() == name)
                .map(|c| c.text().unwrap_or("").trim().to_string())
                .collect()
        };
        let (origins, methods) = (texts("AllowedOrigin"), texts("AllowedMethod"));
        if origins.is_empty() || methods.is_empty() {
            return Err(S3Error::malformed_xml());
        }
        if let Some(m) = methods.iter().find(|m| !METHODS.contains(&m.as_str())) {
            return Err(S3Error::invalid_request(&format!(
                "Found unsupported HTTP method in CORS config. Unsupported method is {m}"
            )));
        }
        for o in origins {
            check_origin(&o)?;
            push_new(&mut out.origins, o);
        }
        for e in texts("ExposeHeader") {
            if e.is_empty() || e.contains(char::is_whitespace) {
                return Err(S3Error::malformed_xml());
            }
            push_new(&mut out.expose, e);
        }
        if let Some(a) = xml::child_text(rule, "MaxAgeSeconds") {
            let a: u64 = a.trim().parse().map_err(|_| S3Error::malformed_xml())?;
            out.max_age = Some(out.max_age.map_or(a, |b| b.min(a)));
        }
    }
    Ok(out)
}

fn check_origin(o: &str) -> Result<(), S3Error> {
    if o.is_empty() || o.contains(char::is_whitespace) || o.contains(char::is_control) {
        return Err(S3Error::invalid_request(&format!(
            "AllowedOrigin \"{o}\" is not valid."
        )));
    }
    if o != "*" && o.contains('*') {
        return Err(S3Error::not_implemented(&format!(
            "AllowedOrigin \"{o}\": a wildcard within an origin is not implemented (only \"*\" \
             or an exact origin)."
        )));
    }
    Ok(())
}

fn push_new(v: &mut Vec<String>, s: String) {
    if !v.contains(&s) {
        v.push(s);
    }
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
    fn rules_merge_into_origins_exposed_headers_and_the_shortest_age() {
        let body = conf(
            "<CORSRule><AllowedOrigin>https://a.example</AllowedOrigin>\
             <AllowedMethod>GET</AllowedMethod><ExposeHeader>ETag</ExposeHeader>\
             <MaxAgeSeconds>600</MaxAgeSeconds></CORSRule>\
             <CORSRule><AllowedOrigin>https://b.example</AllowedOrigin>\
             <AllowedOrigin>https://a.example</AllowedOrigin><AllowedMethod>PUT</AllowedMethod>\
             <AllowedHeader>*</AllowedHeader><ExposeHeader>x-amz-request-id</ExposeHeader>\
             <MaxAgeSeconds>60</MaxAgeSeconds></CORSRule>",
        );
        assert_eq!(
            parse(&body).unwrap(),
            Rules {
                origins: vec!["https://a.example".into(), "https://b.example".into()],
                expose: vec!["ETag".into(), "x-amz-request-id".into()],
                max_age: Some(60),
            }
        );
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
        assert_eq!(code(&rule("https://*.example", "GET")), "NotImplemented");
        assert_eq!(
            parse(&rule("*", "GET")).unwrap().origins,
            vec!["*".to_string()]
        );
    }
}
