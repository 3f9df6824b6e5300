//! An HTTP proxy on loopback, for testing a client's `HTTPS_PROXY` / `HTTP_PROXY` /
//! `ALL_PROXY` / `NO_PROXY` handling against the fakes.
//!
//! It speaks the two forms a client uses:
//! - `CONNECT host:port` (what a client does for `https://`, and may do for `http://`):
//!   answers `200 Connection established` and then relays bytes both ways, so TLS runs end to
//!   end between the client and the fake;
//! - absolute-form requests, `GET http://host:port/path HTTP/1.1` (a forwarding proxy for plain
//!   `http://`): sends the request on in origin-form (`GET /path`), without the
//!   `Proxy-Authorization` and hop-by-hop headers and with `Connection: close`, and relays the
//!   answer.
//!
//! Every request is recorded as a [`ProxyRequest`] (method, `host:port` asked for, path, what
//! the credentials were worth, the proxy's answer), so a test can assert which hosts went
//! through it and which did not. The password itself is never kept: only a SHA-256 of the
//! expected credentials, and for each request whether they matched ([`ProxyAuth`]).
//!
//! Ways to fail, for testing a client's messages:
//! - [`Proxy::start_with_auth`]: answers `407 Proxy Authentication Required` (with
//!   `Proxy-Authenticate: Basic realm="shipline-sandbox"`) to a request without the right
//!   `Proxy-Authorization: Basic …`; a client takes them from the proxy URL,
//!   `http://user:pass@127.0.0.1:PORT`.
//! - [`Proxy::refuse`]: answers every request from now on with a status (e.g. 403, 502).
//! - [`Proxy::refused_url`]: a proxy URL on a loopback port where nothing listens.
//! - A target that is not loopback (`localhost`, `127.0.0.0/8`, `::1`) gets `403`: nothing
//!   leaves the machine. A loopback target where nothing listens gets `502 Bad Gateway`.
//!
//! ```no_run
//! use shipline_sandbox::{Proxy, Target};
//!
//! let proxy = Proxy::start();
//! let app = Target::start();
//! // HTTP_PROXY=<proxy.url()>; the client then reaches app.url("/health") through it.
//! # let _ = app;
//! assert!(proxy.url().starts_with("http://127.0.0.1:"));
//! let hosts = proxy.targets(); // ["127.0.0.1:PORT", ...] in order
//! # let _ = hosts;
//! ```
//!
//! Bounded: at most [`MAX_CONNECTIONS`] connections at once (more get `503`), request heads up
//! to 64 KiB, 30 s of silence ends a connection. Dropping the proxy stops it and cuts every
//! tunnel still open.

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use sha2::{Digest, Sha256};

/// Connections handled at once; more are answered `503` and closed.
pub const MAX_CONNECTIONS: usize = 64;
/// Largest request head (request line plus headers).
const MAX_HEAD: usize = 64 * 1024;
/// Silence after which a connection or tunnel is closed.
const IDLE: Duration = Duration::from_secs(30);
/// The realm sent with `407`.
pub const REALM: &str = "shipline-sandbox";

/// What the `Proxy-Authorization` of a request was worth.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProxyAuth {
    /// No `Proxy-Authorization` header.
    Missing,
    /// `Basic` credentials equal to the ones the proxy was started with.
    Valid,
    /// A header with other credentials, another scheme or a malformed value.
    Invalid,
    /// A header sent to a proxy that asks for none (not checked).
    Unchecked,
}

/// One request the proxy received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxyRequest {
    /// `CONNECT`, `GET`, `POST`, ... as sent.
    pub method: String,
    /// The `host:port` asked for, as sent (`127.0.0.1:4321`, `localhost:4321`,
    /// `api.heroku.com:443`); for absolute-form requests without a port, `:80` is added.
    pub target: String,
    /// For absolute-form requests, the path and query forwarded (`/apps/x?y`); `None` for
    /// `CONNECT`.
    pub path: Option<String>,
    /// What the credentials were worth.
    pub auth: ProxyAuth,
    /// The proxy's own answer: `200` when it reached the target (tunnel established or request
    /// forwarded; the target's own status is not looked at), else the status it answered
    /// (`400`, `403`, `407`, `502`, `503`, or the one given to [`Proxy::refuse`]).
    pub status: u16,
}

struct Shared {
    stop: AtomicBool,
    /// SHA-256 of the expected `Basic` token, never the credentials themselves.
    expected: Option<[u8; 32]>,
    refuse: Mutex<Option<u16>>,
    requests: Mutex<Vec<ProxyRequest>>,
    /// Open sockets (client and target sides), shut down when the proxy is dropped.
    live: Mutex<HashMap<u64, TcpStream>>,
    next_id: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A running proxy on 127.0.0.1. Dropping it stops it.
pub struct Proxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl Proxy {
    /// Starts a proxy that asks for no credentials, on a free port; panics if it cannot bind.
    pub fn start() -> Proxy {
        Proxy::start_inner(None).expect("sandbox: cannot start the proxy")
    }

    /// Starts a proxy that answers `407` unless a request carries
    /// `Proxy-Authorization: Basic base64(user:pass)`.
    pub fn start_with_auth(user: &str, pass: &str) -> Proxy {
        let token = base64(format!("{user}:{pass}").as_bytes());
        Proxy::start_inner(Some(sha256(token.as_bytes()))).expect("sandbox: cannot start the proxy")
    }

    fn start_inner(expected: Option<[u8; 32]>) -> io::Result<Proxy> {
        let listener = TcpListener::bind(("127.0.0.1", 0))?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            expected,
            refuse: Mutex::new(None),
            requests: Mutex::new(Vec::new()),
            live: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
        });
        let accept_shared = shared.clone();
        let accept = std::thread::Builder::new()
            .name(format!("sandbox-proxy-{}", addr.port()))
            .spawn(move || {
                for conn in listener.incoming() {
                    if accept_shared.stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = conn else { continue };
                    let shared = accept_shared.clone();
                    let _ = std::thread::Builder::new()
                        .name("sandbox-proxy-conn".into())
                        .spawn(move || handle(&shared, stream));
                }
            })?;
        Ok(Proxy {
            addr,
            shared,
            accept: Some(accept),
        })
    }

    /// The proxy URL, `http://127.0.0.1:PORT` (what `HTTPS_PROXY` / `HTTP_PROXY` take). With
    /// credentials: `http://user:pass@127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<ProxyRequest> {
        lock(&self.shared.requests).clone()
    }

    /// The `host:port` of every request so far, in order (repeats kept).
    pub fn targets(&self) -> Vec<String> {
        lock(&self.shared.requests)
            .iter()
            .map(|r| r.target.clone())
            .collect()
    }

    /// Forgets the requests recorded so far.
    pub fn clear(&self) {
        lock(&self.shared.requests).clear();
    }

    /// From now on answers every request with `status` (e.g. 403, 502) and closes; `None`
    /// goes back to proxying.
    pub fn refuse(&self, status: Option<u16>) {
        *lock(&self.shared.refuse) = status;
    }

    /// A proxy URL on a loopback port where nothing listens (connection refused).
    pub fn refused_url() -> String {
        let listener = TcpListener::bind(("127.0.0.1", 0)).expect("sandbox: cannot bind");
        let addr = listener.local_addr().expect("sandbox: address");
        drop(listener);
        format!("http://{addr}")
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(handle) = self.accept.take() {
            let _ = handle.join();
        }
        for (_, socket) in lock(&self.shared.live).drain() {
            let _ = socket.shutdown(Shutdown::Both);
        }
    }
}

/// A socket registered in `live` for as long as this lives.
struct Tracked<'a> {
    shared: &'a Shared,
    id: u64,
}

impl Drop for Tracked<'_> {
    fn drop(&mut self) {
        lock(&self.shared.live).remove(&self.id);
    }
}

fn track<'a>(shared: &'a Shared, socket: &TcpStream) -> io::Result<Tracked<'a>> {
    let id = shared.next_id.fetch_add(1, Ordering::SeqCst);
    let mut live = lock(&shared.live);
    live.insert(id, socket.try_clone()?);
    Ok(Tracked { shared, id })
}

fn handle(shared: &Shared, client: TcpStream) {
    if shared.stop.load(Ordering::SeqCst) {
        return;
    }
    let _ = client.set_read_timeout(Some(IDLE));
    let _ = client.set_nodelay(true);
    let too_many = lock(&shared.live).len() >= MAX_CONNECTIONS * 2;
    let Ok(_tracked) = track(shared, &client) else {
        return;
    };
    let mut reader = BufReader::new(client);
    let Some(head) = read_head(&mut reader) else {
        return;
    };
    let client = reader.get_ref();
    let Some(parsed) = parse(&head) else {
        let _ = answer(client, 400, "sandbox proxy: malformed request");
        return;
    };
    let auth = match (&shared.expected, header(&head, "Proxy-Authorization")) {
        (_, None) => ProxyAuth::Missing,
        (None, Some(_)) => ProxyAuth::Unchecked,
        (Some(expected), Some(value)) => match value.split_once(' ') {
            Some((scheme, token))
                if scheme.eq_ignore_ascii_case("basic")
                    && sha256(token.trim().as_bytes()) == *expected =>
            {
                ProxyAuth::Valid
            }
            _ => ProxyAuth::Invalid,
        },
    };
    let mut record = ProxyRequest {
        method: parsed.method.clone(),
        target: parsed.target.clone(),
        path: parsed.path.clone(),
        auth,
        status: 200,
    };
    let verdict = if too_many {
        Some((503, "sandbox proxy: too many connections"))
    } else if let Some(status) = *lock(&shared.refuse) {
        Some((status, "sandbox proxy: refusing every request, as told"))
    } else if parsed.bad_form {
        Some((
            400,
            "sandbox proxy: expects CONNECT host:port or an absolute http:// URL",
        ))
    } else if shared.expected.is_some() && auth != ProxyAuth::Valid {
        Some((407, "sandbox proxy: proxy credentials required"))
    } else {
        None
    };
    if let Some((status, text)) = verdict {
        record.status = status;
        lock(&shared.requests).push(record);
        let _ = answer(client, status, text);
        return;
    }
    let upstream = match connect(&parsed.target) {
        Ok(s) => s,
        Err((status, text)) => {
            record.status = status;
            lock(&shared.requests).push(record);
            let _ = answer(client, status, &text);
            return;
        }
    };
    lock(&shared.requests).push(record);
    let Ok(_tracked_upstream) = track(shared, &upstream) else {
        return;
    };
    let mut upstream_w = upstream;
    if parsed.method == "CONNECT" {
        let mut c = client;
        if c.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
            .and_then(|()| c.flush())
            .is_err()
        {
            return;
        }
    } else {
        let mut out = format!(
            "{} {} HTTP/1.1\r\n",
            parsed.method,
            parsed.path.as_deref().unwrap_or("/")
        );
        for line in head.lines().skip(1) {
            let name = line.split(':').next().unwrap_or("").trim();
            if [
                "proxy-authorization",
                "proxy-connection",
                "connection",
                "keep-alive",
            ]
            .iter()
            .any(|h| name.eq_ignore_ascii_case(h))
            {
                continue;
            }
            out.push_str(line);
            out.push_str("\r\n");
        }
        out.push_str("Connection: close\r\n\r\n");
        if upstream_w.write_all(out.as_bytes()).is_err() {
            return;
        }
    }
    // Bytes the client sent after the head (a request body, or early TLS data).
    let leftover = reader.buffer().to_vec();
    if !leftover.is_empty() && upstream_w.write_all(&leftover).is_err() {
        return;
    }
    let client = reader.into_inner();
    relay(client, upstream_w);
}

/// Copies both ways until both directions end; an end of input half-closes the other side,
/// an error or [`IDLE`] silence closes both.
fn relay(client: TcpStream, upstream: TcpStream) {
    let _ = upstream.set_read_timeout(Some(IDLE));
    let _ = upstream.set_nodelay(true);
    let (Ok(client2), Ok(upstream2)) = (client.try_clone(), upstream.try_clone()) else {
        return;
    };
    let up = std::thread::Builder::new()
        .name("sandbox-proxy-up".into())
        .spawn(move || pipe(client2, upstream2));
    pipe(upstream, client);
    if let Ok(up) = up {
        let _ = up.join();
    }
}

fn pipe(mut from: TcpStream, mut to: TcpStream) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) => {
                let _ = to.shutdown(Shutdown::Write);
                return;
            }
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}

struct Parsed {
    method: String,
    target: String,
    path: Option<String>,
    /// Neither `CONNECT host:port` nor an absolute `http://` URL.
    bad_form: bool,
}

fn parse(head: &str) -> Option<Parsed> {
    let line = head.lines().next()?;
    let mut parts = line.split(' ');
    let (method, target, version) = (parts.next()?, parts.next()?, parts.next()?);
    if !version.starts_with("HTTP/1.") || method.is_empty() {
        return None;
    }
    if method.eq_ignore_ascii_case("CONNECT") {
        let ok = target
            .rsplit_once(':')
            .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok());
        return Some(Parsed {
            method: "CONNECT".into(),
            target: target.into(),
            path: None,
            bad_form: !ok,
        });
    }
    let Some(rest) = target.strip_prefix("http://") else {
        return Some(Parsed {
            method: method.into(),
            target: target.into(),
            path: None,
            bad_form: true,
        });
    };
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) if rest[i..].starts_with('/') => (&rest[..i], rest[i..].to_string()),
        Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
        None => (rest, "/".to_string()),
    };
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let has_port = if authority.starts_with('[') {
        authority.contains("]:")
    } else {
        authority.contains(':')
    };
    let target = if has_port {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    Some(Parsed {
        method: method.into(),
        target,
        path: Some(path),
        bad_form: authority.is_empty(),
    })
}

/// Connects to a loopback `host:port`; anything else is refused (403), a failed connection is
/// a 502.
fn connect(target: &str) -> Result<TcpStream, (u16, String)> {
    let Some((host, port)) = target.rsplit_once(':') else {
        return Err((400, format!("sandbox proxy: {target:?} is not host:port")));
    };
    let port: u16 = port
        .parse()
        .map_err(|_| (400, format!("sandbox proxy: bad port in {target:?}")))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let ip: IpAddr = if host.eq_ignore_ascii_case("localhost") {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    } else {
        match host.parse::<IpAddr>() {
            Ok(ip) if ip.is_loopback() => ip,
            _ => {
                return Err((
                    403,
                    format!("sandbox proxy: {host} is not loopback; nothing leaves the machine"),
                ))
            }
        }
    };
    let addr = (ip, port)
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or((502, format!("sandbox proxy: cannot resolve {target}")))?;
    TcpStream::connect_timeout(&addr, Duration::from_secs(5)).map_err(|e| {
        (
            502,
            format!("sandbox proxy: cannot connect to {target}: {e}"),
        )
    })
}

/// Reads the request head (up to the empty line); `None` when the client closed, went
/// silent or sent too much.
fn read_head(reader: &mut BufReader<TcpStream>) -> Option<String> {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        let n = reader.read_line(&mut line).ok()?;
        if n == 0 || head.len() + n > MAX_HEAD {
            return None;
        }
        let trimmed = line.trim_end_matches(['\r', '\n']);
        if trimmed.is_empty() {
            if head.is_empty() {
                continue;
            }
            return Some(head);
        }
        head.push_str(trimmed);
        head.push('\n');
    }
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().skip(1).find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then_some(v.trim())
    })
}

fn answer(mut client: &TcpStream, status: u16, text: &str) -> io::Result<()> {
    let reason = match status {
        400 => "Bad Request",
        403 => "Forbidden",
        407 => "Proxy Authentication Required",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Refused",
    };
    let mut head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\
         Connection: close\r\n",
        text.len() + 1
    );
    if status == 407 {
        head.push_str(&format!("Proxy-Authenticate: Basic realm=\"{REALM}\"\r\n"));
    }
    head.push_str("\r\n");
    client.write_all(head.as_bytes())?;
    client.write_all(text.as_bytes())?;
    client.write_all(b"\n")?;
    client.flush()?;
    let _ = client.shutdown(Shutdown::Write);
    // Let the client read the answer before the socket goes: drain what it still sends.
    let mut sink = [0u8; 4096];
    let _ = client.set_read_timeout(Some(Duration::from_secs(1)));
    while matches!(client.read(&mut sink), Ok(n) if n > 0) {}
    Ok(())
}

fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// Standard base64 with padding (RFC 4648), as `Basic` credentials use it.
pub fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc_4648_vectors() {
        let cases = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, encoded) in cases {
            assert_eq!(base64(plain.as_bytes()), encoded);
        }
    }

    #[test]
    fn request_lines_parse_in_both_forms() {
        let p = parse("CONNECT 127.0.0.1:443 HTTP/1.1\n").unwrap();
        assert_eq!(
            (p.target.as_str(), p.path, p.bad_form),
            ("127.0.0.1:443", None, false)
        );
        let p = parse("GET http://localhost:8080/a/b?c=1 HTTP/1.1\n").unwrap();
        assert_eq!(p.target, "localhost:8080");
        assert_eq!(p.path.as_deref(), Some("/a/b?c=1"));
        let p = parse("GET http://example.com?x HTTP/1.1\n").unwrap();
        assert_eq!(p.target, "example.com:80");
        assert_eq!(p.path.as_deref(), Some("/?x"));
        assert!(parse("GET /origin-form HTTP/1.1\n").unwrap().bad_form);
        assert!(parse("CONNECT nohost HTTP/1.1\n").unwrap().bad_form);
        assert!(parse("garbage\n").is_none());
    }

    #[test]
    fn only_loopback_targets_are_reached() {
        assert_eq!(connect("example.com:443").unwrap_err().0, 403);
        assert_eq!(connect("10.0.0.1:80").unwrap_err().0, 403);
        let refused = Proxy::refused_url();
        let port = refused.rsplit(':').next().unwrap();
        assert_eq!(connect(&format!("127.0.0.1:{port}")).unwrap_err().0, 502);
    }
}
