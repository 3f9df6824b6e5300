//! A scriptable HTTP target on loopback: the app a health check probes.
//!
//! Each path plays a list of [`Answer`]s in order (the last one repeats), each optionally
//! slow (a delay before the status line) and with extra headers; unscripted paths answer 404.
//! Every request is recorded so a test can check what the checker sent (method, headers).
//!
//! ```no_run
//! use std::time::Duration;
//! use shipline_sandbox::{Answer, Target};
//!
//! let app = Target::start();
//! app.script("/health", vec![Answer::new(503, "Application error"), Answer::new(200, "ok v42")]);
//! app.script("/slow", vec![Answer::new(200, "late").after(Duration::from_secs(2))]);
//! app.redirect("/old", 301, "/health");
//! let url = app.url("/health");
//! # let _ = url;
//! ```

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::server::{Request, Response, Server};
use crate::tls::ServerCert;

/// A request the target received, as it arrived.
pub type Recorded = Request;

/// One scripted answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// Body, sent with `Content-Length` (`text/plain` unless a header says otherwise).
    pub body: String,
    /// Time before the status line is sent: a slow answer.
    pub delay: Duration,
    /// Extra headers (a `Content-Type` here replaces the default).
    pub headers: Vec<(String, String)>,
}

impl Answer {
    /// Answers `status` with `body` at once.
    pub fn new(status: u16, body: &str) -> Answer {
        Answer {
            status,
            body: body.into(),
            delay: Duration::ZERO,
            headers: Vec::new(),
        }
    }

    /// Waits `delay` before sending the status line.
    pub fn after(mut self, delay: Duration) -> Answer {
        self.delay = delay;
        self
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Answer {
        self.headers.push((name.into(), value.into()));
        self
    }
}

#[derive(Default)]
struct State {
    scripts: HashMap<String, Vec<Answer>>,
    hits: HashMap<String, usize>,
    /// Answers of the current script already played, per path.
    played: HashMap<String, usize>,
    requests: Vec<Request>,
}

/// A running HTTP target on 127.0.0.1 with a random port. Dropping it stops the server.
pub struct Target {
    state: Arc<Mutex<State>>,
    base: String,
    _server: Server,
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

fn answer(state: &Mutex<State>, req: Request) -> Response {
    let scripted = {
        let mut state = lock(state);
        state.requests.push(req.clone());
        *state.hits.entry(req.path.clone()).or_default() += 1;
        let played = state.played.entry(req.path.clone()).or_default();
        let n = *played;
        *played += 1;
        state
            .scripts
            .get(&req.path)
            .and_then(|answers| answers.get(n).or(answers.last()))
            .cloned()
    };
    let Some(scripted) = scripted else {
        return Response::new(404, "text/plain; charset=utf-8", "Not Found\n");
    };
    if !scripted.delay.is_zero() {
        std::thread::sleep(scripted.delay);
    }
    let mut resp = Response::new(scripted.status, "text/plain; charset=utf-8", scripted.body);
    for (name, value) in &scripted.headers {
        resp = resp.with_header(name, value.as_str());
    }
    resp
}

impl Target {
    /// Starts on 127.0.0.1 with a random port; panics if it cannot bind (tests).
    pub fn start() -> Target {
        Target::start_with(None)
    }

    /// Starts over HTTPS with `cert` on a random port; panics if it cannot bind.
    /// [`Target::url`] is then `https://127.0.0.1:PORT/…`. With a failing certificate
    /// ([`crate::ServerCert::unknown_ca`], [`crate::TestCa::expired_server_cert`],
    /// [`crate::TestCa::server_cert_for`] another name) this is a server whose handshake a
    /// client refuses for that reason.
    pub fn start_tls(cert: &ServerCert) -> Target {
        Target::start_with(Some(cert))
    }

    /// Starts over HTTPS with `tls` when given, plain HTTP otherwise.
    pub fn start_with(tls: Option<&ServerCert>) -> Target {
        let listener =
            TcpListener::bind(("127.0.0.1", 0)).expect("sandbox: cannot bind the target");
        let scheme = if tls.is_some() { "https" } else { "http" };
        let base = format!(
            "{scheme}://{}",
            listener.local_addr().expect("sandbox: target address")
        );
        let state = Arc::new(Mutex::new(State::default()));
        let handler_state = state.clone();
        let server = Server::serve_with(
            listener,
            Arc::new(move |req| answer(&handler_state, req)),
            tls,
        )
        .expect("sandbox: cannot start the target");
        Target {
            state,
            base,
            _server: server,
        }
    }

    /// `http://127.0.0.1:PORT/path` (`https://` when started with TLS; a missing leading `/`
    /// is added).
    ///
    /// A client speaking TLS to a plain-HTTP port is a failure of its own to test: start
    /// without TLS and use this URL with `https://` in place of `http://`
    /// ([`Target::https_url_to_plain_port`]).
    pub fn url(&self, path: &str) -> String {
        join(&self.base, path)
    }

    /// This target's URL for `path` with `https://` although it speaks plain HTTP (when it was
    /// started without TLS): the handshake fails, as when a client is pointed at the wrong
    /// port or scheme.
    pub fn https_url_to_plain_port(&self, path: &str) -> String {
        self.url(path).replacen("http://", "https://", 1)
    }

    /// Scripts `path` (no query string): `answers` in order, the last one repeating. Replaces
    /// an earlier script of the path, starting again from its first answer (the hit count
    /// carries on).
    pub fn script(&self, path: &str, answers: Vec<Answer>) {
        assert!(
            !answers.is_empty(),
            "sandbox: script {path:?} with at least one answer"
        );
        let mut state = lock(&self.state);
        state.played.remove(&normalize(path));
        state.scripts.insert(normalize(path), answers);
    }

    /// Scripts `path` to redirect with `status` (301, 302, 307, ...) to `location`.
    pub fn redirect(&self, path: &str, status: u16, location: &str) {
        self.script(
            path,
            vec![Answer::new(status, "").header("Location", location)],
        );
    }

    /// How many requests `path` received (any method, any query string).
    pub fn hits(&self, path: &str) -> usize {
        lock(&self.state)
            .hits
            .get(&normalize(path))
            .copied()
            .unwrap_or(0)
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<Recorded> {
        lock(&self.state).requests.clone()
    }

    /// A URL on a loopback port where nothing listens (connection refused): a port bound,
    /// noted and released.
    pub fn refused_url(path: &str) -> String {
        let listener = TcpListener::bind(("127.0.0.1", 0)).expect("sandbox: cannot bind");
        let addr = listener.local_addr().expect("sandbox: address");
        drop(listener);
        join(&format!("http://{addr}"), path)
    }
}

fn normalize(path: &str) -> String {
    if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{path}")
    }
}

fn join(base: &str, path: &str) -> String {
    format!("{base}{}", normalize(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_build_up() {
        let a = Answer::new(200, "ok")
            .after(Duration::from_millis(5))
            .header("X-Version", "42");
        assert_eq!(a.status, 200);
        assert_eq!(a.body, "ok");
        assert_eq!(a.delay, Duration::from_millis(5));
        assert_eq!(a.headers, [("X-Version".to_string(), "42".to_string())]);
    }

    #[test]
    fn urls_join_paths() {
        assert_eq!(
            join("http://127.0.0.1:1", "health"),
            "http://127.0.0.1:1/health"
        );
        assert_eq!(join("http://127.0.0.1:1", "/"), "http://127.0.0.1:1/");
        assert!(Target::refused_url("/x").starts_with("http://127.0.0.1:"));
    }
}
