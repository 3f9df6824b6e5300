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
//! - `GET /repos/acme/shop/actions/...` ([`actions`]): workflow runs and their jobs, driven by a
//!   simulation of runs that test, wait for an approval, reach the lock's job and finish.
//!
//! Tokens issued with [`GitHub::issue_token`] carry a label; [`GitHub::request_count`] counts
//! the requests made with each, so tests and the benchmark can count requests per build.
//!
//! Known divergences: no `files` or `author`/`committer` user objects (always `null`), no
//! GraphQL, no conditional requests, and the rate limit's window is one hour unless a test
//! sets when it resets ([`GitHub::set_rate_limit_reset_in`]).

pub mod actions;
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

pub use actions::{RunRef, RunSpec};

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
    /// Issued tokens: label, and whether they may read Actions.
    tokens: HashMap<String, (String, bool)>,
    actions: actions::Actions,
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
        GitHub::start_on_with(port, None)
    }

    /// Starts over HTTPS with `cert` (e.g. [`crate::TestCa::server_cert`]) on a random port;
    /// panics if it cannot bind. [`GitHub::url`] is then `https://127.0.0.1:PORT`.
    pub fn start_tls(cert: &crate::tls::ServerCert) -> GitHub {
        GitHub::start_on_with(0, Some(cert)).expect("sandbox: cannot start the fake GitHub")
    }

    /// Starts on `port` (0 picks a free one), over HTTPS with `tls` when given.
    pub fn start_on_with(port: u16, tls: Option<&crate::tls::ServerCert>) -> io::Result<GitHub> {
        let listener = TcpListener::bind(("127.0.0.1", port))?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        let url = format!("{scheme}://{}", listener.local_addr()?);
        let token = format!("ghs_{}", uuid().replace('-', ""));
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let shared: Shared = Arc::new(Mutex::new(State {
            url: url.clone(),
            token: token.clone(),
            tokens: HashMap::new(),
            actions: actions::Actions::default(),
            repos: HashMap::new(),
            rate_limit: 5000,
            rate_remaining: 5000,
            rate_reset: now + 3600,
            page_cap: MAX_PER_PAGE,
            failures: Vec::new(),
            requests: Vec::new(),
        }));
        let handler_state = shared.clone();
        let server = Server::serve_with(
            listener,
            Arc::new(move |req| handle(&handler_state, req)),
            tls,
        )?;
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

    /// The window resets (to the full limit) `secs` seconds from now.
    pub fn set_rate_limit_reset_in(&self, secs: u64) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        lock(&self.shared).rate_reset = now + secs;
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

    /// Issues another accepted token with `actions: read`; its requests count under `label`.
    pub fn issue_token(&self, label: &str) -> String {
        self.issue(label, true)
    }

    /// Issues a token without `actions: read` (Actions routes answer 403).
    pub fn issue_token_without_actions(&self, label: &str) -> String {
        self.issue(label, false)
    }

    fn issue(&self, label: &str, actions: bool) -> String {
        let token = format!("ghs_{}", uuid().replace('-', ""));
        lock(&self.shared)
            .tokens
            .insert(token.clone(), (label.to_string(), actions));
        token
    }

    /// How many requests the token labelled `label` made.
    pub fn request_count(&self, label: &str) -> usize {
        let state = lock(&self.shared);
        state
            .requests
            .iter()
            .filter(|r| {
                bearer(r)
                    .and_then(|t| state.tokens.get(t))
                    .is_some_and(|(l, _)| l == label)
            })
            .count()
    }

    /// Caps `per_page` of run and job lists, so few runs span several pages.
    pub fn set_runs_page_cap(&self, per_page: usize) {
        lock(&self.shared).actions.page_cap = per_page.max(1);
    }

    /// Sets the number of the next run.
    pub fn set_next_run_number(&self, n: u64) {
        lock(&self.shared).actions.set_next_number(n);
    }

    /// Starts a workflow run now.
    pub fn start_run(&self, spec: RunSpec) -> RunRef {
        lock(&self.shared).actions.start(spec)
    }

    /// The lock job's status: `not created`, `waiting`, `queued`, `in_progress`, `success`,
    /// `failure`, or `never` (the run ended without it).
    pub fn lock_job_status(&self, run: &RunRef) -> String {
        lock(&self.shared).actions.lock_status(run)
    }

    /// Blocks until the run's lock job is `in_progress` (true), or can no longer run or
    /// `timeout` passes (false).
    pub fn wait_at_lock(&self, run: &RunRef, timeout: std::time::Duration) -> bool {
        let until = std::time::Instant::now() + timeout;
        loop {
            match self.lock_job_status(run).as_str() {
                "in_progress" => return true,
                "never" | "success" | "failure" => return false,
                _ => {}
            }
            if std::time::Instant::now() >= until {
                return false;
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
    }

    /// Ends the run's `test` job now, as passed or failed, whatever duration it was started
    /// with: a harness decides the moment (and the order) in which runs reach the lock.
    pub fn finish_tests(&self, run: &RunRef, success: bool) {
        lock(&self.shared).actions.finish_tests(run, success);
    }

    /// Ends the run's lock job (and with it the run).
    pub fn finish_run(&self, run: &RunRef, success: bool) {
        lock(&self.shared).actions.finish(run, success);
    }

    /// Approves the environment the run's lock job waits for.
    pub fn approve(&self, run: &RunRef) {
        lock(&self.shared).actions.approve(run);
    }

    /// Re-runs the run: a new attempt starts now.
    pub fn rerun(&self, run: &RunRef) {
        lock(&self.shared).actions.rerun(run);
    }

    /// The environment GitHub gives the run's lock job, with `GITHUB_TOKEN` and
    /// `GITHUB_API_URL` pointing here.
    pub fn job_env(&self, run: &RunRef, token: &str) -> Vec<(String, String)> {
        let mut env = lock(&self.shared).actions.env(run);
        env.push(("GITHUB_TOKEN".into(), token.into()));
        env.push(("GITHUB_API_URL".into(), self.url.clone()));
        env
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
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    if now >= state.rate_reset {
        state.rate_remaining = state.rate_limit;
        state.rate_reset = now + 3600;
    }
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

fn bearer(req: &Request) -> Option<&str> {
    req.header("Authorization").and_then(|auth| {
        auth.strip_prefix("Bearer ")
            .or_else(|| auth.strip_prefix("token "))
            .map(str::trim)
    })
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
    let token = bearer(req);
    let mut may_read_actions = true;
    let authenticated = match token {
        Some(token) if token == state.token => true,
        Some(token) if state.tokens.contains_key(token) => {
            may_read_actions = state.tokens[token].1;
            true
        }
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
        ["repos", owner, repo, "actions", rest] => {
            if !authenticated {
                return error(404, "Not Found");
            }
            if !may_read_actions {
                return error(403, "Resource not accessible by integration");
            }
            actions::route(state, owner, repo, rest, req)
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
