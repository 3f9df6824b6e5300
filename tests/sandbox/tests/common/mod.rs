//! A minimal HTTP/1.1 client over `TcpStream` for exercising the sandbox from tests, plus
//! helpers that talk to the fake Heroku the way a Platform API client does.

#![allow(dead_code)]

pub mod schema;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::Value;
use shipline_sandbox::Heroku;

pub const ACCEPT: &str = "application/vnd.heroku+json; version=3";

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A streamed answer: each chunk with the instant it arrived.
pub struct Streamed {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub chunks: Vec<(Instant, Vec<u8>)>,
}

impl Streamed {
    pub fn text(&self) -> String {
        self.chunks
            .iter()
            .map(|(_, c)| String::from_utf8_lossy(c).into_owned())
            .collect()
    }
}

/// A request to send as raw as needed: the caller controls every header.
pub struct Raw<'a> {
    pub method: &'a str,
    pub url: &'a str,
    pub headers: Vec<(&'a str, String)>,
    pub body: Option<&'a [u8]>,
    /// Send the body with `Transfer-Encoding: chunked` instead of `Content-Length`.
    pub chunked: bool,
    /// Omit `Content-Length` (when not chunked).
    pub no_length: bool,
}

impl<'a> Raw<'a> {
    pub fn new(method: &'a str, url: &'a str) -> Raw<'a> {
        Raw {
            method,
            url,
            headers: Vec::new(),
            body: None,
            chunked: false,
            no_length: false,
        }
    }

    pub fn header(mut self, name: &'a str, value: impl Into<String>) -> Raw<'a> {
        self.headers.push((name, value.into()));
        self
    }

    pub fn body(mut self, body: &'a [u8]) -> Raw<'a> {
        self.body = Some(body);
        self
    }

    fn connect(&self) -> TcpStream {
        let rest = self.url.strip_prefix("http://").expect("http URL");
        let (host, target) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let mut stream = TcpStream::connect(host).expect("connect to sandbox");
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let mut head = format!("{} {target} HTTP/1.1\r\nHost: {host}\r\n", self.method);
        for (name, value) in &self.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        if let Some(body) = self.body {
            if self.chunked {
                head.push_str("Transfer-Encoding: chunked\r\n");
            } else if !self.no_length {
                head.push_str(&format!("Content-Length: {}\r\n", body.len()));
            }
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes()).unwrap();
        if let Some(body) = self.body {
            if self.chunked {
                for piece in body.chunks(7) {
                    write!(stream, "{:x}\r\n", piece.len()).unwrap();
                    stream.write_all(piece).unwrap();
                    stream.write_all(b"\r\n").unwrap();
                }
                stream.write_all(b"0\r\n\r\n").unwrap();
            } else {
                stream.write_all(body).unwrap();
            }
        }
        stream.flush().unwrap();
        stream
    }

    /// Sends and reads the whole response.
    pub fn send(self) -> Resp {
        let stream = self.connect();
        let mut reader = BufReader::new(stream);
        let (status, headers) = read_head(&mut reader);
        let chunked = headers.iter().any(|(n, v)| {
            n.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
        });
        let body = if chunked {
            let mut body = Vec::new();
            while let Some(chunk) = read_chunk(&mut reader) {
                body.extend(chunk);
            }
            body
        } else {
            let mut body = Vec::new();
            reader.read_to_end(&mut body).unwrap();
            body
        };
        Resp {
            status,
            headers,
            body,
        }
    }

    /// Sends and reads a chunked body chunk by chunk, noting when each arrived.
    pub fn stream(self) -> Streamed {
        let stream = self.connect();
        let mut reader = BufReader::new(stream);
        let (status, headers) = read_head(&mut reader);
        let mut chunks = Vec::new();
        let chunked = headers.iter().any(|(n, v)| {
            n.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
        });
        if chunked {
            while let Some(chunk) = read_chunk(&mut reader) {
                chunks.push((Instant::now(), chunk));
            }
        } else {
            let mut body = Vec::new();
            reader.read_to_end(&mut body).unwrap();
            chunks.push((Instant::now(), body));
        }
        Streamed {
            status,
            headers,
            chunks,
        }
    }
}

fn read_head(reader: &mut BufReader<TcpStream>) -> (u16, Vec<(String, String)>) {
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let status: u16 = line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {line:?}"));
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (n, v) = line.split_once(':').expect("header");
        headers.push((n.trim().to_string(), v.trim().to_string()));
    }
    (status, headers)
}

fn read_chunk(reader: &mut BufReader<TcpStream>) -> Option<Vec<u8>> {
    let mut size = String::new();
    reader.read_line(&mut size).unwrap();
    let size = usize::from_str_radix(size.trim(), 16).expect("chunk size");
    if size == 0 {
        let mut end = String::new();
        reader.read_line(&mut end).unwrap();
        return None;
    }
    let mut chunk = vec![0; size + 2];
    reader.read_exact(&mut chunk).unwrap();
    chunk.truncate(size);
    Some(chunk)
}

/// A Platform API client bound to one sandbox.
pub struct Api {
    pub base: String,
    pub key: String,
}

impl Api {
    pub fn new(heroku: &Heroku) -> Api {
        Api {
            base: heroku.url(),
            key: heroku.api_key().to_string(),
        }
    }

    pub fn raw<'a>(&self, method: &'a str, url: &'a str) -> Raw<'a> {
        Raw::new(method, url)
            .header("Accept", ACCEPT)
            .header("Authorization", format!("Bearer {}", self.key))
            .header("User-Agent", "sandbox-tests")
    }

    pub fn get(&self, path: &str) -> Resp {
        let url = format!("{}{path}", self.base);
        self.raw("GET", &url).send()
    }

    pub fn get_range(&self, path: &str, range: &str) -> Resp {
        let url = format!("{}{path}", self.base);
        self.raw("GET", &url).header("Range", range).send()
    }

    pub fn send_json(&self, method: &str, path: &str, body: &Value) -> Resp {
        let url = format!("{}{path}", self.base);
        let bytes = body.to_string().into_bytes();
        self.raw(method, &url)
            .header("Content-Type", "application/json")
            .body(&bytes)
            .send()
    }

    pub fn post(&self, path: &str, body: &Value) -> Resp {
        self.send_json("POST", path, body)
    }

    /// `POST /sources` then an S3-style `PUT`; returns the `get_url`.
    pub fn upload(&self, tgz: &[u8]) -> String {
        let source = self.post("/sources", &serde_json::json!({}));
        assert_eq!(source.status, 201, "{}", source.text());
        let source = source.json();
        let put_url = source["source_blob"]["put_url"]
            .as_str()
            .unwrap()
            .to_string();
        let put = Raw::new("PUT", &put_url)
            .header("Content-Type", "")
            .body(tgz)
            .send();
        assert_eq!(put.status, 200, "{}", put.text());
        source["source_blob"]["get_url"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Polls a URL path until `done` says so (at most 10 s).
    pub fn poll(&self, path: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let resp = self.get(path);
            assert_eq!(resp.status, 200, "{path}: {}", resp.text());
            let value = resp.json();
            if done(&value) {
                return value;
            }
            assert!(
                Instant::now() < deadline,
                "timed out polling {path}: {value}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// A gzipped tarball of `files` (path, contents, mode).
pub fn tarball(files: &[(&str, &[u8], u32)]) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut builder = tar::Builder::new(gz);
    for (path, data, mode) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(*mode);
        header.set_cksum();
        builder.append_data(&mut header, path, *data).unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap()
}

/// A small app source: a Procfile and a server.
pub fn app_source() -> Vec<u8> {
    tarball(&[
        ("app/Procfile", b"web: node server.js\n", 0o644),
        (
            "app/server.js",
            b"require('http').createServer().listen(process.env.PORT)\n",
            0o644,
        ),
        ("app/bin/start", b"#!/bin/sh\nexec node server.js\n", 0o755),
    ])
}

pub fn sha256_checksum(bytes: &[u8]) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(bytes);
    format!(
        "SHA256:{}",
        digest
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    )
}

pub const COMMIT: &str = "4f4f592c3b7e9a67951e1d7ee8c66772b57c2601";
pub const LIVE_COMMIT: &str = "d31fba524ee2977519c5187bbf565e699f05b25c";

/// The `uuid` format of the services' schemas: 8-4-4-4-12 hex digits.
pub fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// The `date-time` format (RFC 3339), as the services write it.
pub fn is_date_time(s: &str) -> bool {
    let b = s.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| r.clone().all(|i| b.get(i).is_some_and(u8::is_ascii_digit));
    b.len() >= 20
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19)
        && (s.ends_with('Z') || s[19..].contains(['+', '-']))
}
