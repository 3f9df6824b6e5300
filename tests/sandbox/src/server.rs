//! A deliberately tiny HTTP/1.1 server on `std::net`.
//!
//! Written by hand instead of pulling in a framework so the fakes see requests exactly as
//! clients send them: a `Transfer-Encoding: chunked` upload, a missing `Content-Length` or an
//! empty `Content-Type` header stays visible to the handler, which is what the S3 stand-in has
//! to judge. One thread per connection; every response closes the connection
//! (`Connection: close`), which every HTTP client handles.
//!
//! [`Server::serve_with`] serves over HTTPS instead, with a [`ServerCert`] from [`crate::tls`]:
//! the handshake runs on the connection's thread, then the same HTTP/1.1 flows inside TLS and
//! the connection ends with a `close_notify`.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use rustls::{ServerConfig, ServerConnection, StreamOwned};

use crate::tls::ServerCert;

/// Largest request body accepted (uploads are held in memory).
const MAX_BODY: usize = 512 * 1024 * 1024;
/// Largest request head (request line plus headers).
const MAX_HEAD: usize = 64 * 1024;

/// A request as it arrived on the wire.
#[derive(Clone, Debug)]
pub struct Request {
    /// `GET`, `POST`, ... as sent.
    pub method: String,
    /// The path part of the request target, without the query string.
    pub path: String,
    /// The query string without `?`, if the target had one.
    pub query: Option<String>,
    /// Headers in arrival order, names as sent.
    pub headers: Vec<(String, String)>,
    /// The body; a chunked body is de-chunked (the `Transfer-Encoding` header stays visible).
    pub body: Vec<u8>,
}

impl Request {
    /// The first header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// One query parameter, not percent-decoded.
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query.as_deref()?.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (k == name).then_some(v)
        })
    }
}

/// Writes a chunked response body; each `line`/`write_chunk` is flushed at once so a client
/// sees output as it is produced.
pub struct ChunkedWriter<'a> {
    out: &'a mut dyn Write,
}

impl ChunkedWriter<'_> {
    /// Sends one chunk (empty input sends nothing: an empty chunk would end the body).
    pub fn write_chunk(&mut self, data: &[u8]) -> io::Result<()> {
        if data.is_empty() {
            return Ok(());
        }
        write!(self.out, "{:x}\r\n", data.len())?;
        self.out.write_all(data)?;
        self.out.write_all(b"\r\n")?;
        self.out.flush()
    }
}

/// A streaming body producer: runs on the connection thread and may sleep between chunks.
pub type Producer = Box<dyn FnOnce(&mut ChunkedWriter<'_>) -> io::Result<()> + Send>;

/// The body of a response.
pub enum Body {
    /// Sent with `Content-Length`.
    Bytes(Vec<u8>),
    /// Sent with `Transfer-Encoding: chunked`, produced while the connection is open.
    Stream(Producer),
}

/// A response to write.
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Body,
}

impl Response {
    /// A response with a complete body.
    pub fn new(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Response {
        Response {
            status,
            headers: vec![("Content-Type".into(), content_type.into())],
            body: Body::Bytes(body.into()),
        }
    }

    /// An empty response (no `Content-Type`).
    pub fn empty(status: u16) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: Body::Bytes(Vec::new()),
        }
    }

    /// A chunked, streamed response.
    pub fn stream(status: u16, content_type: &str, producer: Producer) -> Response {
        Response {
            status,
            headers: vec![("Content-Type".into(), content_type.into())],
            body: Body::Stream(producer),
        }
    }

    /// Adds (or replaces) a header.
    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Response {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The value of a header already set on the response.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What a server runs for every request.
pub type Handler = Arc<dyn Fn(Request) -> Response + Send + Sync>;

/// A listening server; dropping it stops accepting connections and joins the accept thread.
pub struct Server {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl Server {
    /// Serves `handler` on an already bound listener (bound by the caller so it can learn the
    /// port before building the handler).
    pub fn serve(listener: TcpListener, handler: Handler) -> io::Result<Server> {
        Server::serve_with(listener, handler, None)
    }

    /// Like [`Server::serve`], over HTTPS with `tls` when given (plain HTTP otherwise).
    pub fn serve_with(
        listener: TcpListener,
        handler: Handler,
        tls: Option<&ServerCert>,
    ) -> io::Result<Server> {
        let tls = tls.map(ServerCert::server_config);
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let stop_flag = stop.clone();
        let accept = std::thread::Builder::new()
            .name(format!("sandbox-accept-{}", addr.port()))
            .spawn(move || {
                for conn in listener.incoming() {
                    if stop_flag.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = conn else { continue };
                    let handler = handler.clone();
                    let tls = tls.clone();
                    let _ = std::thread::Builder::new()
                        .name("sandbox-conn".into())
                        .spawn(move || {
                            let _ = handle_connection(stream, &handler, tls);
                        });
                }
            })?;
        Ok(Server {
            addr,
            stop,
            accept: Some(accept),
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept() so the thread sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(handle) = self.accept.take() {
            let _ = handle.join();
        }
    }
}

/// Why a request could not be read.
enum ReadError {
    /// The peer closed before sending anything: not worth an answer.
    Closed,
    /// Malformed: answer 400 with this text.
    Bad(u16, &'static str),
    Io,
}

fn handle_connection(
    stream: TcpStream,
    handler: &Handler,
    tls: Option<Arc<ServerConfig>>,
) -> io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    stream.set_nodelay(true)?;
    let Some(config) = tls else {
        let socket = stream.try_clone()?;
        let result = serve_one(stream, handler);
        let _ = socket.shutdown(Shutdown::Both);
        return result;
    };
    let conn = ServerConnection::new(config).map_err(io::Error::other)?;
    let mut tls = StreamOwned::new(conn, stream);
    let result = serve_one(&mut tls, handler);
    tls.conn.send_close_notify();
    let _ = tls.flush();
    let _ = tls.sock.shutdown(Shutdown::Both);
    result
}

/// Reads one request from `stream` (plain or TLS) and writes the handler's response.
fn serve_one<S: Read + Write>(stream: S, handler: &Handler) -> io::Result<()> {
    let mut reader = BufReader::new(stream);
    let request = match read_request(&mut reader) {
        Ok(r) => r,
        Err(ReadError::Bad(status, text)) => {
            return write_response(reader.get_mut(), Response::new(status, "text/plain", text));
        }
        Err(ReadError::Closed) | Err(ReadError::Io) => return Ok(()),
    };
    let response = handler(request);
    write_response(reader.get_mut(), response)
}

fn read_request<S: Read + Write>(reader: &mut BufReader<S>) -> Result<Request, ReadError> {
    // A TLS handshake record (a client speaking https to a plain-HTTP port) gets the 400 a
    // plain HTTP server answers, which such a client reads as a corrupt TLS record.
    match reader.fill_buf() {
        Ok([]) => return Err(ReadError::Closed),
        Ok([0x16, ..]) => return Err(ReadError::Bad(400, "this port speaks plain HTTP")),
        Ok(_) => {}
        Err(_) => return Err(ReadError::Io),
    }
    let mut head_len = 0usize;
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        let n = reader.read_line(&mut line).map_err(|_| ReadError::Io)?;
        if n == 0 {
            return Err(if lines.is_empty() {
                ReadError::Closed
            } else {
                ReadError::Io
            });
        }
        head_len += n;
        if head_len > MAX_HEAD {
            return Err(ReadError::Bad(431, "request head too large"));
        }
        let line = line.trim_end_matches(['\r', '\n']).to_string();
        if line.is_empty() {
            if lines.is_empty() {
                continue; // tolerate stray CRLF before a request
            }
            break;
        }
        lines.push(line);
    }
    let mut parts = lines[0].split(' ');
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(ReadError::Bad(400, "malformed request line"));
    };
    if !version.starts_with("HTTP/1.") {
        return Err(ReadError::Bad(505, "HTTP version not supported"));
    }
    let mut headers = Vec::new();
    for line in &lines[1..] {
        let Some((name, value)) = line.split_once(':') else {
            return Err(ReadError::Bad(400, "malformed header"));
        };
        headers.push((name.trim().to_string(), value.trim().to_string()));
    }
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_string(), Some(q.to_string())),
        None => (target.to_string(), None),
    };
    let mut request = Request {
        method: method.to_string(),
        path,
        query,
        headers,
        body: Vec::new(),
    };
    if request
        .header("Expect")
        .is_some_and(|e| e.eq_ignore_ascii_case("100-continue"))
    {
        let writer = reader.get_mut();
        writer
            .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
            .and_then(|()| writer.flush())
            .map_err(|_| ReadError::Io)?;
    }
    let chunked = request
        .header("Transfer-Encoding")
        .is_some_and(|te| te.to_ascii_lowercase().contains("chunked"));
    if chunked {
        request.body = read_chunked(reader)?;
    } else if let Some(len) = request.header("Content-Length") {
        let len: usize = len
            .parse()
            .map_err(|_| ReadError::Bad(400, "invalid Content-Length"))?;
        if len > MAX_BODY {
            return Err(ReadError::Bad(413, "request body too large"));
        }
        let mut body = vec![0; len];
        reader.read_exact(&mut body).map_err(|_| ReadError::Io)?;
        request.body = body;
    }
    Ok(request)
}

fn read_chunked<S: Read>(reader: &mut BufReader<S>) -> Result<Vec<u8>, ReadError> {
    let mut body = Vec::new();
    loop {
        let mut size_line = String::new();
        reader
            .read_line(&mut size_line)
            .map_err(|_| ReadError::Io)?;
        let size_text = size_line.trim().split(';').next().unwrap_or("");
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| ReadError::Bad(400, "malformed chunk size"))?;
        if body.len() + size > MAX_BODY {
            return Err(ReadError::Bad(413, "request body too large"));
        }
        if size == 0 {
            // Trailers until the empty line.
            loop {
                let mut trailer = String::new();
                let n = reader.read_line(&mut trailer).map_err(|_| ReadError::Io)?;
                if n == 0 || trailer.trim().is_empty() {
                    return Ok(body);
                }
            }
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader
            .read_exact(&mut body[start..])
            .map_err(|_| ReadError::Io)?;
        let mut crlf = [0u8; 2];
        reader.read_exact(&mut crlf).map_err(|_| ReadError::Io)?;
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        206 => "Partial Content",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        413 => "Payload Too Large",
        416 => "Range Not Satisfiable",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}

fn write_response<W: Write>(out: &mut W, response: Response) -> io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {} {}\r\n",
        response.status,
        reason(response.status)
    );
    for (name, value) in &response.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("Connection: close\r\n");
    match response.body {
        // A 304 has no body, and a Content-Length would have to be the one of the 200 it
        // stands for, so none is sent.
        Body::Bytes(_) if response.status == 304 => {
            head.push_str("\r\n");
            out.write_all(head.as_bytes())?;
            out.flush()
        }
        Body::Bytes(bytes) => {
            head.push_str(&format!("Content-Length: {}\r\n\r\n", bytes.len()));
            out.write_all(head.as_bytes())?;
            out.write_all(&bytes)?;
            out.flush()
        }
        Body::Stream(producer) => {
            head.push_str("Transfer-Encoding: chunked\r\n\r\n");
            out.write_all(head.as_bytes())?;
            out.flush()?;
            let mut chunked = ChunkedWriter { out };
            producer(&mut chunked)?;
            out.write_all(b"0\r\n\r\n")?;
            out.flush()
        }
    }
}
