//! S3's XML, both ways: a small writer for response documents (escaping,
//! the S3 namespace) and a bounded reader for request bodies (ACLs,
//! multi-delete, CORS, versioning, multipart completion).
//!
//! The reader takes at most [`MAX_BODY`] bytes (more is `MalformedXML`, as
//! Swift's s3api answers) and parses with roxmltree, which refuses any DTD:
//! no entity can be declared, so none can expand or reach outside the
//! document (XXE). A refused DTD is `MalformedXML` too.

use bytes::{Bytes, BytesMut};
use http_body::Body;
use http_body_util::BodyExt;

use super::error::S3Error;
use crate::http::body::{self, Body as ResponseBody};
use crate::http::error::Finish;

/// The namespace of S3's documents.
pub const NS: &str = "http://s3.amazonaws.com/doc/2006-03-01/";
/// What every response document begins with.
pub const DECLARATION: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
/// The largest XML request body read.
pub const MAX_BODY: usize = 2 << 20;

/// A 200 with `text` as its XML body.
pub fn ok(text: String) -> Result<http::Response<ResponseBody>, S3Error> {
    http::Response::builder()
        .header("Content-Type", "application/xml")
        .header("Content-Length", text.len())
        .finish(body::full(text))
        .map_err(S3Error::from)
}

/// Escapes text for an attribute. Newlines and tabs stay as they are
/// (clients compare `StringToSign` text verbatim); a carriage return
/// becomes a character reference so no parser folds it away; other
/// characters XML 1.0 cannot carry become U+FFFD.
pub fn escape(s: &str) -> String {
    escape_as(s, true)
}

/// Escapes an element's text: as [`escape`], but quotes stay as they are,
/// as S3 and Swift's s3api write them (`<ETag>"…"</ETag>`; the suites
/// compare messages holding `'` verbatim).
pub fn escape_text(s: &str) -> String {
    escape_as(s, false)
}

fn escape_as(s: &str, quotes: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if quotes => out.push_str("&quot;"),
            '\'' if quotes => out.push_str("&apos;"),
            '\r' => out.push_str("&#13;"),
            '\n' | '\t' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// Builds one XML document, element by element.
pub struct Writer {
    out: String,
    open: Vec<&'static str>,
}

impl Writer {
    /// A document whose root element is `root`, in the S3 namespace.
    pub fn new(root: &'static str) -> Writer {
        Writer::with_ns(root, Some(NS))
    }

    /// A document whose root has the namespace `ns` (none: error bodies,
    /// which S3 sends without one).
    pub fn with_ns(root: &'static str, ns: Option<&str>) -> Writer {
        let mut out = format!("{DECLARATION}<");
        out.push_str(root);
        if let Some(ns) = ns {
            out.push_str(" xmlns=\"");
            out.push_str(&escape(ns));
            out.push('"');
        }
        out.push('>');
        Writer {
            out,
            open: vec![root],
        }
    }

    /// Opens a child element.
    pub fn open(&mut self, name: &'static str) -> &mut Self {
        self.out.push('<');
        self.out.push_str(name);
        self.out.push('>');
        self.open.push(name);
        self
    }

    /// Closes the innermost open element.
    pub fn close(&mut self) -> &mut Self {
        if let Some(name) = self.open.pop() {
            self.out.push_str("</");
            self.out.push_str(name);
            self.out.push('>');
        }
        self
    }

    /// A child element holding `text`.
    pub fn elem(&mut self, name: &str, text: &str) -> &mut Self {
        self.out.push('<');
        self.out.push_str(name);
        self.out.push('>');
        self.out.push_str(&escape_text(text));
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push('>');
        self
    }

    /// The document, every open element closed.
    pub fn finish(mut self) -> String {
        while !self.open.is_empty() {
            self.close();
        }
        self.out
    }
}

/// Reads a request body of at most [`MAX_BODY`] bytes; a longer one (by
/// its frames, whatever its Content-Length said) is `MalformedXML`.
pub async fn read_body<B>(body: B) -> Result<Bytes, S3Error>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    let mut body = body;
    let mut buf = BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| S3Error::incomplete_body_terminated(&e.to_string()))?;
        if let Ok(data) = frame.into_data() {
            if buf.len() + data.len() > MAX_BODY {
                return Err(S3Error::malformed_xml());
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(buf.freeze())
}

/// Parses a (bounded) request body. Not UTF-8, not well-formed, or with a
/// DTD: `MalformedXML`.
pub fn parse(body: &[u8]) -> Result<roxmltree::Document<'_>, S3Error> {
    if body.len() > MAX_BODY {
        return Err(S3Error::malformed_xml());
    }
    let text = std::str::from_utf8(body).map_err(|_| S3Error::malformed_xml())?;
    roxmltree::Document::parse(text).map_err(|_| S3Error::malformed_xml())
}

/// The first child element of `node` named `name` (any namespace: clients
/// send S3 documents with and without it).
pub fn child<'a, 'i>(node: roxmltree::Node<'a, 'i>, name: &str) -> Option<roxmltree::Node<'a, 'i>> {
    node.children()
        .find(|c| c.is_element() && c.tag_name().name() == name)
}

/// The text of `node`'s child `name`; "" for an empty one.
pub fn child_text<'a>(node: roxmltree::Node<'a, '_>, name: &str) -> Option<&'a str> {
    child(node, name).map(|c| c.text().unwrap_or(""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writer_escapes_and_names_the_namespace() {
        let mut w = Writer::new("ListAllMyBucketsResult");
        w.open("Owner").elem("ID", "a<b>&\"c'").close();
        w.elem("Text", "line1\nline2\r\u{1}");
        let doc = w.finish();
        assert_eq!(
            doc,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListAllMyBucketsResult \
             xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Owner><ID>a&lt;b&gt;&amp;\
             \"c'</ID></Owner><Text>line1\nline2&#13;\u{FFFD}</Text>\
             </ListAllMyBucketsResult>"
        );
        // What it writes, a parser reads back unchanged.
        let d = roxmltree::Document::parse(&doc).unwrap();
        let owner = child(d.root_element(), "Owner").unwrap();
        assert_eq!(child_text(owner, "ID"), Some("a<b>&\"c'"));
        assert_eq!(
            child_text(d.root_element(), "Text"),
            Some("line1\nline2\r\u{FFFD}")
        );
    }

    #[test]
    fn reader_refuses_dtds_entities_and_garbage() {
        let ok = b"<Delete xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
                   <Object><Key>a</Key></Object></Delete>";
        let d = parse(ok).unwrap();
        let obj = child(d.root_element(), "Object").unwrap();
        assert_eq!(child_text(obj, "Key"), Some("a"));
        let xxe =
            b"<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>\
                    <Delete><Object><Key>&x;</Key></Object></Delete>";
        let bomb = b"<!DOCTYPE r [<!ENTITY a \"aaaa\"><!ENTITY b \"&a;&a;\">]><r>&b;</r>";
        for bad in [&xxe[..], &bomb[..], b"<a><b></a>", b"\xff<a/>", b""] {
            let e = parse(bad).unwrap_err();
            assert_eq!((e.code, e.status.as_u16()), ("MalformedXML", 400));
        }
    }

    #[tokio::test]
    async fn read_body_stops_past_the_cap() {
        let small = http_body_util::Full::new(Bytes::from_static(b"<a/>"));
        assert_eq!(read_body(small).await.unwrap(), Bytes::from_static(b"<a/>"));
        let big = http_body_util::Full::new(Bytes::from(vec![b' '; MAX_BODY + 1]));
        assert_eq!(read_body(big).await.unwrap_err().code, "MalformedXML");
    }
}
