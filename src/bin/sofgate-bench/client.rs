//! A minimal HTTP/1.1 client over one keep-alive `TcpStream`: just enough of
//! the protocol for the benchmark (Content-Length and chunked bodies), so
//! that one thread per connection drives tens of thousands of requests per
//! second without spending much of the CPU the server needs.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use md5::{Digest, Md5};

/// No single socket call may block longer than this.
const IO_TIMEOUT: Duration = Duration::from_secs(120);
/// Read buffer; bodies larger than what is buffered are read straight into
/// the caller's scratch buffer.
const BUF: usize = 64 * 1024;
/// Request bodies up to this size go out in the same write as the head.
const INLINE_BODY: usize = 64 * 1024;
/// Longest response head accepted.
const MAX_HEAD: usize = 60 * 1024;

/// What to do with a response body.
pub enum Sink<'a> {
    /// Keep it in [`Response::body`].
    Keep,
    /// Count it and drop it.
    Discard,
    /// Feed it to an MD5 and drop it.
    Hash(&'a mut Md5),
}

/// A response: status, the few headers the benchmark looks at, the body when kept.
#[derive(Debug, Default)]
pub struct Response {
    pub status: u16,
    pub etag: Option<String>,
    pub body: Vec<u8>,
    pub body_len: u64,
}

pub struct Conn {
    addr: SocketAddr,
    host: String,
    stream: TcpStream,
    buf: Box<[u8]>,
    pos: usize,
    end: usize,
    /// The server announced it closes after this response.
    closing: bool,
    /// Bound on each socket call.
    timeout: Duration,
}

fn bad(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

fn open(addr: SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(10))?;
    s.set_nodelay(true)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    Ok(s)
}

impl Conn {
    /// Connects to `addr` (`host:port`, loopback in practice).
    pub fn connect(addr: &str) -> io::Result<Conn> {
        let sa = addr
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| bad(format!("no address for {addr}")))?;
        Ok(Conn {
            addr: sa,
            host: addr.to_string(),
            stream: open(sa, IO_TIMEOUT)?,
            timeout: IO_TIMEOUT,
            buf: vec![0u8; BUF].into_boxed_slice(),
            pos: 0,
            end: 0,
            closing: false,
        })
    }

    /// Bounds every later socket call by `d` instead of the default.
    pub fn set_timeout(&mut self, d: Duration) -> io::Result<()> {
        self.timeout = d;
        self.stream.set_read_timeout(Some(d))?;
        self.stream.set_write_timeout(Some(d))
    }

    /// Replaces the socket with a fresh one (after an error or a close).
    pub fn reconnect(&mut self) -> io::Result<()> {
        self.stream = open(self.addr, self.timeout)?;
        self.pos = 0;
        self.end = 0;
        self.closing = false;
        Ok(())
    }

    fn head(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        len: Option<u64>,
    ) -> Vec<u8> {
        let mut h = Vec::with_capacity(256);
        let _ = write!(h, "{method} {path} HTTP/1.1\r\nHost: {}\r\n", self.host);
        for (k, v) in headers {
            let _ = write!(h, "{k}: {v}\r\n");
        }
        if let Some(n) = len {
            let _ = write!(h, "Content-Length: {n}\r\n");
        }
        h.extend_from_slice(b"\r\n");
        h
    }

    /// Sends a whole request (head and body); `body` is None for no body at all.
    pub fn send(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> io::Result<()> {
        let mut req = self.head(method, path, headers, body.map(|b| b.len() as u64));
        match body {
            Some(b) if b.len() <= INLINE_BODY => {
                req.extend_from_slice(b);
                self.stream.write_all(&req)
            }
            Some(b) => {
                self.stream.write_all(&req)?;
                self.stream.write_all(b)
            }
            None => self.stream.write_all(&req),
        }
    }

    /// Sends a request head announcing `len` body bytes; the caller then
    /// writes them with [`Conn::write_body`].
    pub fn send_head(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        len: u64,
    ) -> io::Result<()> {
        let req = self.head(method, path, headers, Some(len));
        self.stream.write_all(&req)
    }

    pub fn write_body(&mut self, data: &[u8]) -> io::Result<()> {
        self.stream.write_all(data)
    }

    /// One request and its response, the body kept.
    pub fn call(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> io::Result<Response> {
        self.send(method, path, headers, body)?;
        self.read_response(method == "HEAD", Sink::Keep)
    }

    fn fill(&mut self) -> io::Result<usize> {
        if self.pos == self.end {
            self.pos = 0;
            self.end = 0;
        } else if self.end == self.buf.len() {
            self.buf.copy_within(self.pos..self.end, 0);
            self.end -= self.pos;
            self.pos = 0;
        }
        if self.end == self.buf.len() {
            return Err(bad("response head too long"));
        }
        let n = self.stream.read(&mut self.buf[self.end..])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed by the server",
            ));
        }
        self.end += n;
        Ok(n)
    }

    /// Reads one line (without CRLF) from the buffer.
    fn line(&mut self) -> io::Result<String> {
        loop {
            if let Some(i) = self.buf[self.pos..self.end]
                .windows(2)
                .position(|w| w == b"\r\n")
            {
                let s = String::from_utf8_lossy(&self.buf[self.pos..self.pos + i]).into_owned();
                self.pos += i + 2;
                return Ok(s);
            }
            if self.end - self.pos > MAX_HEAD {
                return Err(bad("header line too long"));
            }
            self.fill()?;
        }
    }

    /// Consumes `n` body bytes into `sink`.
    fn body_bytes(&mut self, mut n: u64, sink: &mut Sink, out: &mut Response) -> io::Result<()> {
        let mut scratch: Vec<u8> = Vec::new();
        while n > 0 {
            let chunk: &[u8] = if self.pos < self.end {
                let k = ((self.end - self.pos) as u64).min(n) as usize;
                let s = self.pos;
                self.pos += k;
                &self.buf[s..s + k]
            } else if n >= BUF as u64 {
                // Large remainder: read past the buffer, straight into scratch.
                if scratch.is_empty() {
                    scratch = vec![0u8; 1 << 20];
                }
                let want = (n.min(scratch.len() as u64)) as usize;
                let k = self.stream.read(&mut scratch[..want])?;
                if k == 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "body cut short",
                    ));
                }
                &scratch[..k]
            } else {
                self.fill()?;
                continue;
            };
            n -= chunk.len() as u64;
            out.body_len += chunk.len() as u64;
            match sink {
                Sink::Keep => out.body.extend_from_slice(chunk),
                Sink::Discard => {}
                Sink::Hash(h) => h.update(chunk),
            }
        }
        Ok(())
    }

    /// Reads a response; `head_request` says it answers a HEAD (no body).
    pub fn read_response(&mut self, head_request: bool, mut sink: Sink) -> io::Result<Response> {
        let status_line = self.line()?;
        let mut parts = status_line.splitn(3, ' ');
        let version = parts.next().unwrap_or("");
        let status: u16 = parts
            .next()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad(format!("bad status line {status_line:?}")))?;
        let mut resp = Response {
            status,
            ..Response::default()
        };
        let mut length: Option<u64> = None;
        let mut chunked = false;
        self.closing = version == "HTTP/1.0";
        loop {
            let l = self.line()?;
            if l.is_empty() {
                break;
            }
            let Some((k, v)) = l.split_once(':') else {
                return Err(bad(format!("bad header line {l:?}")));
            };
            let v = v.trim();
            match k.trim().to_ascii_lowercase().as_str() {
                "content-length" => length = v.parse().ok(),
                "transfer-encoding" => chunked = v.to_ascii_lowercase().contains("chunked"),
                "etag" => resp.etag = Some(v.trim_matches('"').to_string()),
                "connection" => {
                    let v = v.to_ascii_lowercase();
                    if v.contains("close") {
                        self.closing = true;
                    } else if v.contains("keep-alive") {
                        self.closing = false;
                    }
                }
                _ => {}
            }
        }
        let no_body =
            head_request || status == 204 || status == 304 || (100..200).contains(&status);
        if no_body {
        } else if chunked {
            loop {
                let l = self.line()?;
                let size_hex = l.split(';').next().unwrap_or("").trim();
                let size = u64::from_str_radix(size_hex, 16)
                    .map_err(|_| bad(format!("bad chunk size {l:?}")))?;
                if size == 0 {
                    while !self.line()?.is_empty() {}
                    break;
                }
                self.body_bytes(size, &mut sink, &mut resp)?;
                if !self.line()?.is_empty() {
                    return Err(bad("chunk not followed by CRLF"));
                }
            }
        } else if let Some(n) = length {
            self.body_bytes(n, &mut sink, &mut resp)?;
        } else {
            // Delimited by close.
            loop {
                match self.fill() {
                    Ok(_) => {
                        let n = (self.end - self.pos) as u64;
                        self.body_bytes(n, &mut sink, &mut resp)?;
                    }
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break,
                    Err(e) => return Err(e),
                }
            }
            self.closing = true;
        }
        if self.closing {
            self.reconnect()?;
        }
        Ok(resp)
    }
}
