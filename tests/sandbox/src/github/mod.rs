//! A fake GitHub REST API that answers like GitHub's REST reference describes it, scriptable
//! per test.
//!
//! What it reproduces: `Authorization: Bearer|token` checks (401 `Bad credentials` for a wrong
//! token; repositories are private, so no token reads as 404 `Not Found`), the required
//! `User-Agent` (403 without one), the primary rate limit with its `X-RateLimit-Limit`,
//! `-Remaining`, `-Reset`, `-Used` and `-Resource` headers on every answer (403 once used
//! up), injected failures such as a secondary rate limit (429 with `Retry-After`), error
//! bodies `{"message", "documentation_url"}`, `Link` pagination with `page` and `per_page`,
//! and every request recorded.
//!
//! Endpoints:
//! - `GET /repos/{owner}/{repo}/compare/{base}...{head}` ([`compare`]), computed with the `git`
//!   command from a real repository the test registers with [`GitHub::add_repo`].
//!
//! Known divergences: no `files` or `author`/`committer` user objects (always `null`), no
//! GraphQL, no conditional requests, and the rate limit does not reset over time.

mod compare;

use std::collections::HashMap;
use std::io;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::json;

use crate::server::{Request, Response, Server};
use crate::util::uuid;

/// A request the fake received, as it arrived.
pub type Recorded = Request;

const JSON: &str = "application/json; charset=utf-8";
const DOCS: &str = "https://docs.github.com/rest";

/// The largest `per_page` GitHub accepts for a comparison's commits.
pub const MAX_PER_PAGE: usize = 250;

/// A failure to answer matching requests with, before any other handling.
#[derive(Clone, Debug)]
struct Failure {
    path_prefix: String,
    status: u16,
    remaining: usize,
}

struct State {
    url: String,
    token: String,
    repos: HashMap<String, PathBuf>,
    rate_limit: u64,
    rate_remaining: u64,
    rate_reset: u64,
    page_cap: usize,
    failures: Vec<Failure>,
    requests: Vec<Request>,
}

type Shared = Arc<Mutex<State>>;

fn lock(shared: &Shared) -> MutexGuard<'_, State> {
    shared.lock().unwrap_or_else(|e| e.into_inner())
}

/// A running fake GitHub API on 127.0.0.1. Dropping it stops the server.
pub struct GitHub {
    shared: Shared,
    url: String,
    token: String,
    server: Option<Server>,
}

impl GitHub {
    /// Starts on a random port with a random token; panics if it cannot bind (tests).
    pub fn start() -> GitHub {
        GitHub::start_on(0).expect("sandbox: cannot start the fake GitHub")
    }

    /// Starts on `port` (0 picks a free one).
    pub fn start_on(port: u16) -> io::Result<GitHub> {
        let listener = TcpListener::bind(("127.0.0.1", port))?;
        let url = format!("http://{}", listener.local_addr()?);
        let token = format!("ghs_{}", uuid().replace('-', ""));
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let shared: Shared = Arc::new(Mutex::new(State {
            url: url.clone(),
            token: token.clone(),
            repos: HashMap::new(),
            rate_limit: 5000,
            rate_remaining: 5000,
            rate_reset: now + 3600,
            page_cap: MAX_PER_PAGE,
            failures: Vec::new(),
            requests: Vec::new(),
        }));
        let handler_state = shared.clone();
        let server = Server::serve(listener, Arc::new(move |req| handle(&handler_state, req)))?;
        Ok(GitHub {
            shared,
            url,
            token,
            server: Some(server),
        })
    }

    /// The API base URL, `http://127.0.0.1:PORT` (what `GITHUB_API_URL` takes).
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// The accepted token (what `GITHUB_TOKEN` takes).
    pub fn token(&self) -> &str {
        &self.token
    }

    /// Serves `owner/repo` from the git repository at `path` (read with the `git` command at
    /// each request, so commits added later are seen).
    pub fn add_repo(&self, full_name: &str, path: &Path) {
        lock(&self.shared)
            .repos
            .insert(full_name.to_ascii_lowercase(), path.to_path_buf());
    }

    /// Caps the page size below GitHub's 250, so short histories span several pages.
    pub fn set_page_cap(&self, per_page: usize) {
        lock(&self.shared).page_cap = per_page.clamp(1, MAX_PER_PAGE);
    }

    /// Sets the requests left in the primary rate limit; at 0 every request answers 403.
    pub fn set_rate_limit_remaining(&self, n: u64) {
        lock(&self.shared).rate_remaining = n;
    }

    /// Answers the next `times` requests whose path starts with `path_prefix` with `status`
    /// in GitHub's shape: 429 is a secondary rate limit with `Retry-After: 1`, 403 the
    /// primary one used up, others a plain `{"message"}`.
    pub fn fail_next(&self, path_prefix: &str, status: u16, times: usize) {
        lock(&self.shared).failures.push(Failure {
            path_prefix: path_prefix.into(),
            status,
            remaining: times,
        });
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<Recorded> {
        lock(&self.shared).requests.clone()
    }
}

impl Drop for GitHub {
    fn drop(&mut self) {
        self.server.take();
    }
}

/// An error in GitHub's shape.
pub(crate) fn error(status: u16, message: &str) -> Response {
    Response::new(
        status,
        JSON,
        json!({"message": message, "documentation_url": DOCS, "status": status.to_string()})
            .to_string(),
    )
}

fn handle(shared: &Shared, req: Request) -> Response {
    let mut state = lock(shared);
    state.requests.push(req.clone());
    let response = route(&mut state, &req);
    let used = state.rate_limit - state.rate_remaining;
    response
        .with_header("X-GitHub-Request-Id", uuid().to_uppercase())
        .with_header("X-RateLimit-Limit", state.rate_limit.to_string())
        .with_header("X-RateLimit-Remaining", state.rate_remaining.to_string())
        .with_header("X-RateLimit-Reset", state.rate_reset.to_string())
        .with_header("X-RateLimit-Used", used.to_string())
        .with_header("X-RateLimit-Resource", "core")
}

fn route(state: &mut State, req: &Request) -> Response {
    if req
        .header("User-Agent")
        .is_none_or(|ua| ua.trim().is_empty())
    {
        return error(
            403,
            "Request forbidden by administrative rules. Please make sure your request has a User-Agent header",
        );
    }
    let token = req.header("Authorization").and_then(|auth| {
        auth.strip_prefix("Bearer ")
            .or_else(|| auth.strip_prefix("token "))
            .map(str::trim)
    });
    let authenticated = match token {
        Some(token) if token == state.token => true,
        Some(_) => return error(401, "Bad credentials"),
        None => false,
    };
    if let Some(failure) = state
        .failures
        .iter_mut()
        .find(|f| f.remaining > 0 && req.path.starts_with(&f.path_prefix))
    {
        failure.remaining -= 1;
        return match failure.status {
            429 => error(
                429,
                "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
            )
            .with_header("Retry-After", "1"),
            403 => {
                state.rate_remaining = 0;
                error(403, "API rate limit exceeded for installation ID 1.")
            }
            status => error(status, "Server Error"),
        };
    }
    if state.rate_remaining == 0 {
        return error(403, "API rate limit exceeded for installation ID 1.");
    }
    state.rate_remaining -= 1;
    if req.method != "GET" {
        return error(404, "Not Found");
    }
    let parts: Vec<&str> = req.path.trim_start_matches('/').splitn(5, '/').collect();
    match parts.as_slice() {
        ["repos", owner, repo, "compare", basehead] => {
            let full_name = format!("{owner}/{repo}").to_ascii_lowercase();
            match (authenticated, state.repos.get(&full_name)) {
                (true, Some(path)) => compare::compare(
                    &state.url,
                    path,
                    owner,
                    repo,
                    &percent_decode(basehead),
                    req,
                    state.page_cap,
                ),
                _ => error(404, "Not Found"),
            }
        }
        _ => error(404, "Not Found"),
    }
}

/// Decodes `%XX` escapes (GitHub accepts escaped revision names in paths).
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&text[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_percent_escapes() {
        assert_eq!(percent_decode("a%2Fb...c"), "a/b...c");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
    }
}
