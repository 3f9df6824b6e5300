//! A fake GitHub REST API that answers like GitHub's REST reference describes it, scriptable
//! per test. `tests/github_schema.rs` holds every answer to GitHub's own OpenAPI description
//! (API version 2022-11-28).
//!
//! What it reproduces: `Authorization: Bearer|token` checks (401 `Bad credentials` for a wrong
//! token; repositories are private, so no token reads as 404 `Not Found`), the required
//! `User-Agent` (403 without one), the primary rate limit with its `X-RateLimit-Limit`,
//! `-Remaining`, `-Reset`, `-Used` and `-Resource` headers on every answer (403 once used
//! up), injected failures such as a secondary rate limit (429 with `Retry-After`), error
//! bodies `{"message", "documentation_url", "status"}`, `Link` pagination with `page` and
//! `per_page`, and every request recorded.
//!
//! Endpoints (all `GET`; anything else is a 404):
//! - `/repos/{owner}/{repo}/compare/{base}...{head}` (`compare`), and
//!   `/repos/{owner}/{repo}/commits` and `/repos/{owner}/{repo}/commits/{ref}` (`commits`),
//!   computed with the `git` command from a real repository the test registers with
//!   [`GitHub::add_repo`].
//! - `/repos/acme/shop/actions/runs`, `.../workflows/{workflow}/runs`, `.../runs/{id}`,
//!   `.../runs/{id}/jobs` and `.../runs/{id}/attempts/{n}/jobs` ([`actions`]): workflow runs
//!   and their jobs, driven by a simulation of runs that are held, test, wait for an approval,
//!   reach the lock's job and finish, or that the harness ends with any conclusion
//!   ([`GitHub::conclude`]) or re-runs ([`GitHub::rerun`]).
//! - `/rate_limit`: the primary limit as it stands, under `resources.core` and `rate`.
//!
//! Where GitHub's description does not settle a behaviour, the fake does this:
//! - **Order of runs**: newest first by creation, which is by id. A re-run keeps its place:
//!   it keeps its id, `run_number` and `created_at`, as on GitHub, where a listing does not
//!   move a re-run to the top.
//! - **A re-run**: a new attempt of the whole run. `run_attempt` goes up by one,
//!   `run_started_at` becomes now, `previous_attempt_url` points at `attempts/{n-1}`,
//!   `conclusion` is `null` again and every job starts over under a new id (re-running only
//!   the failed jobs is not modelled). The jobs of the replaced attempt are kept as they stood
//!   when it was replaced: `attempts/{n}/jobs` serves them, `jobs?filter=all` lists every
//!   attempt's jobs (oldest attempt first), `filter=latest` (the default) only the current
//!   one; an attempt that does not exist is a 404.
//! - **Statuses**: a run is `requested`, `queued` or `pending` while held (its first job shows
//!   the same status), `in_progress` while any job runs, `waiting` while the lock's job waits
//!   for an approval, then `completed`. A job that has not started answers its creation time
//!   as `started_at` (the description requires one; GitHub does the same). A run ended with
//!   `startup_failure` has no jobs; with `stale`, its unfinished jobs end `cancelled`; with any
//!   other conclusion, its unfinished jobs end with that conclusion. The `status` filter
//!   matches a run's `status` or its `conclusion`, exactly.
//! - **Pagination**: `per_page` defaults to 30 and is clamped to 1..=100 (to 1..=250 on a
//!   comparison, whose default is 250; [`GitHub::set_runs_page_cap`] and
//!   [`GitHub::set_page_cap`] lower the caps); a `per_page` or `page` that is not a number
//!   reads as its default, and a `page` below 1 as 1. A page past the last is an empty list,
//!   `total_count` unchanged, with only `prev` and `first` links. `total_count` counts what the
//!   filters select. A listing that fits one page has no `Link` header.
//! - **`Link`**: absolute URLs on the fake's own base (what `GITHUB_API_URL` points at), with
//!   the request's path and its other query parameters kept as sent and in order, then
//!   `per_page` and `page` (a comparison's links carry only `per_page` and `page`); the
//!   relations come in the order `prev`, `first`, `next`, `last`.
//!   Clients are meant to follow `rel="next"` verbatim, which is all this settles.
//! - **Rate limit**: every request that gets past the token and `User-Agent` checks counts
//!   against the primary limit (5,000 an hour; a 401, the 403 for a missing `User-Agent`,
//!   an injected failure and a conditional request answered 304 with a token do not count),
//!   and every answer, errors included, carries the headers of the token's
//!   window with `X-RateLimit-Resource: core`. `GET /rate_limit` does not count and still
//!   answers once the limit is used up, as GitHub documents; without a token its body shows
//!   the 60 requests an hour of anonymous callers.
//! - **Conditional requests**: every `GET` answered 200 carries `ETag: W/"…"`, a weak tag
//!   over the body (the SHA-256 of its bytes), with `Cache-Control: private, max-age=60,
//!   s-maxage=60` and `Vary: Accept, Authorization, Cookie, X-GitHub-OTP`. A request whose
//!   `If-None-Match` names that tag (weak comparison, a list of tags, or `*`) is answered
//!   `304 Not Modified` with the same `ETag`, no body and no `Content-Length`; with a token
//!   it leaves `X-RateLimit-Remaining` as it was, as GitHub documents. `max-age` is not
//!   honoured by the fake (a client always asks again), nor `If-Modified-Since`.
//! - **Errors**: a revision a listing starts from that does not exist is a 404
//!   `No commit found for SHA: …`, one commit that does not exist a 422 with the same message,
//!   a repository without commits a 409 `Git Repository is empty.`, and two commits without a
//!   common ancestor a 404. [`GitHub::fail_next`] answers with GitHub's messages for the
//!   status (`Validation Failed` for 422, `Server Error` for 500, ...).
//!
//! Tokens issued with [`GitHub::issue_token`] carry a label; [`GitHub::request_count`] counts
//! the requests made with each, so tests and the benchmark can count requests per build.
//!
//! Known divergences: no deployments (a 404), no `files` in commits and comparisons, commit
//! `author`/`committer` user objects always `null`, no GraphQL, no `Last-Modified`, and the
//! rate limit's window is one hour unless a test sets when it resets
//! ([`GitHub::set_rate_limit_reset_in`]).

pub mod actions;
mod commits;
mod compare;

use std::collections::HashMap;
use std::io;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::json;

use crate::server::{Body, Request, Response, Server};
use crate::util::{sha256_hex, uuid};

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
    /// Per request received, in order: whether it counted against the primary rate limit.
    charged: Vec<bool>,
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
            charged: Vec::new(),
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

    /// How many requests the token labelled `label` made, 304s included.
    pub fn request_count(&self, label: &str) -> usize {
        self.count(label, false)
    }

    /// How many of the requests of the token labelled `label` counted against the primary
    /// rate limit: all but the conditional ones answered 304 (and those the limit never
    /// counts: 401s, injected failures, `GET /rate_limit`).
    pub fn rate_limited_count(&self, label: &str) -> usize {
        self.count(label, true)
    }

    fn count(&self, label: &str, charged_only: bool) -> usize {
        let state = lock(&self.shared);
        state
            .requests
            .iter()
            .zip(&state.charged)
            .filter(|(_, charged)| **charged || !charged_only)
            .filter(|(r, _)| {
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
                "not created" | "waiting" | "queued" | "pending" | "requested" => {}
                _ => return false,
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

    /// Ends the run now with `conclusion`, one of [`actions::RUN_CONCLUSIONS`] (as when it is
    /// cancelled, times out or goes stale): jobs still in flight end with the same conclusion
    /// (`cancelled` for `stale`); after `startup_failure` the run shows no jobs, as none
    /// ever started.
    pub fn conclude(&self, run: &RunRef, conclusion: &'static str) {
        lock(&self.shared).actions.conclude(run, conclusion);
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

/// A user as GitHub's `simple-user` renders one.
pub(crate) fn user(api: &str, login: &str) -> serde_json::Value {
    let id = login.bytes().fold(1_000u64, |h, b| h * 31 + u64::from(b)) % 100_000_000;
    let url = format!("{api}/users/{login}");
    json!({
        "login": login,
        "id": id,
        "node_id": format!("U_{id}"),
        "avatar_url": format!("https://avatars.githubusercontent.com/u/{id}?v=4"),
        "gravatar_id": "",
        "url": url,
        "html_url": format!("https://github.com/{login}"),
        "followers_url": format!("{url}/followers"),
        "following_url": format!("{url}/following{{/other_user}}"),
        "gists_url": format!("{url}/gists{{/gist_id}}"),
        "starred_url": format!("{url}/starred{{/owner}}{{/repo}}"),
        "subscriptions_url": format!("{url}/subscriptions"),
        "organizations_url": format!("{url}/orgs"),
        "repos_url": format!("{url}/repos"),
        "events_url": format!("{url}/events{{/privacy}}"),
        "received_events_url": format!("{url}/received_events"),
        "type": "User",
        "site_admin": false,
    })
}

/// A repository as GitHub's `minimal-repository` renders one (private, as the fake's are).
pub(crate) fn repository(api: &str, full_name: &str) -> serde_json::Value {
    let (owner, name) = full_name.split_once('/').unwrap_or((full_name, full_name));
    let id = full_name.bytes().fold(7u64, |h, b| h * 31 + u64::from(b)) % 1_000_000_000;
    let url = format!("{api}/repos/{full_name}");
    let mut repo = json!({
        "id": id,
        "node_id": format!("R_{id}"),
        "name": name,
        "full_name": full_name,
        "owner": user(api, owner),
        "private": true,
        "html_url": format!("https://github.com/{full_name}"),
        "description": null,
        "fork": false,
        "url": url,
    });
    let templates = [
        ("archive_url", "/{archive_format}{/ref}"),
        ("assignees_url", "/assignees{/user}"),
        ("blobs_url", "/git/blobs{/sha}"),
        ("branches_url", "/branches{/branch}"),
        ("collaborators_url", "/collaborators{/collaborator}"),
        ("comments_url", "/comments{/number}"),
        ("commits_url", "/commits{/sha}"),
        ("compare_url", "/compare/{base}...{head}"),
        ("contents_url", "/contents/{+path}"),
        ("contributors_url", "/contributors"),
        ("deployments_url", "/deployments"),
        ("downloads_url", "/downloads"),
        ("events_url", "/events"),
        ("forks_url", "/forks"),
        ("git_commits_url", "/git/commits{/sha}"),
        ("git_refs_url", "/git/refs{/sha}"),
        ("git_tags_url", "/git/tags{/sha}"),
        ("hooks_url", "/hooks"),
        ("issue_comment_url", "/issues/comments{/number}"),
        ("issue_events_url", "/issues/events{/number}"),
        ("issues_url", "/issues{/number}"),
        ("keys_url", "/keys{/key_id}"),
        ("labels_url", "/labels{/name}"),
        ("languages_url", "/languages"),
        ("merges_url", "/merges"),
        ("milestones_url", "/milestones{/number}"),
        (
            "notifications_url",
            "/notifications{?since,all,participating}",
        ),
        ("pulls_url", "/pulls{/number}"),
        ("releases_url", "/releases{/id}"),
        ("stargazers_url", "/stargazers"),
        ("statuses_url", "/statuses/{sha}"),
        ("subscribers_url", "/subscribers"),
        ("subscription_url", "/subscription"),
        ("tags_url", "/tags"),
        ("teams_url", "/teams"),
        ("trees_url", "/git/trees{/sha}"),
    ];
    for (key, tail) in templates {
        repo[key] = json!(format!("{url}{tail}"));
    }
    repo
}

/// The message GitHub answers an injected failure of `status` with.
fn failure_message(status: u16) -> &'static str {
    match status {
        401 => "Bad credentials",
        404 => "Not Found",
        409 => "Conflict",
        422 => "Validation Failed",
        500 => "Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Error",
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
    state.charged.push(false);
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
            status => error(status, failure_message(status)),
        };
    }
    if req.method == "GET" && req.path == "/rate_limit" {
        // Reading the rate limit does not count against it.
        return conditional(req, rate_limit(state, authenticated));
    }
    if state.rate_remaining == 0 {
        return error(403, "API rate limit exceeded for installation ID 1.");
    }
    let response = dispatch(state, req, authenticated, may_read_actions);
    let response = conditional(req, response);
    // A 304 to an authorized request does not count against the primary rate limit.
    if response.status != 304 || !authenticated {
        state.rate_remaining -= 1;
        if let Some(charged) = state.charged.last_mut() {
            *charged = true;
        }
    }
    response
}

/// A `GET` answered 200 carries a weak `ETag` over its representation, as GitHub's do; when
/// the request's `If-None-Match` names it (or is `*`), the answer is `304 Not Modified` with
/// the same `ETag` and caching headers and no body.
fn conditional(req: &Request, response: Response) -> Response {
    let body = match &response.body {
        Body::Bytes(bytes) if req.method == "GET" && response.status == 200 => bytes,
        _ => return response,
    };
    let etag = format!("W/\"{}\"", sha256_hex(body));
    let opaque = |tag: &str| tag.trim().trim_start_matches("W/").to_string();
    let matches = req.header("If-None-Match").is_some_and(|tags| {
        tags.split(',')
            .any(|tag| tag.trim() == "*" || opaque(tag) == opaque(&etag))
    });
    let response = if matches {
        Response::empty(304)
    } else {
        response
    };
    response
        .with_header("ETag", etag)
        .with_header("Cache-Control", "private, max-age=60, s-maxage=60")
        .with_header("Vary", "Accept, Authorization, Cookie, X-GitHub-OTP")
}

fn dispatch(
    state: &mut State,
    req: &Request,
    authenticated: bool,
    may_read_actions: bool,
) -> Response {
    if req.method != "GET" {
        return error(404, "Not Found");
    }
    let parts: Vec<&str> = req.path.trim_start_matches('/').splitn(5, '/').collect();
    match parts.as_slice() {
        ["repos", owner, repo, "commits", rest @ ..] if rest.len() <= 1 => {
            let full_name = format!("{owner}/{repo}").to_ascii_lowercase();
            match (authenticated, state.repos.get(&full_name)) {
                (true, Some(path)) => {
                    let web = format!("https://github.com/{owner}/{repo}");
                    let api = format!("{}/repos/{owner}/{repo}", state.url);
                    match rest.first() {
                        None => commits::list(&state.url, &web, &api, path, req),
                        Some(reference) => {
                            commits::one(&web, &api, path, &percent_decode(reference))
                        }
                    }
                }
                _ => error(404, "Not Found"),
            }
        }
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

/// `GET /rate_limit`: the primary limit as it stands (`core`), and GitHub's fixed limits
/// for the other resources. Without a token, the 60 requests an hour of anonymous callers.
fn rate_limit(state: &State, authenticated: bool) -> Response {
    let core = if authenticated {
        json!({
            "limit": state.rate_limit,
            "remaining": state.rate_remaining,
            "reset": state.rate_reset,
            "used": state.rate_limit - state.rate_remaining,
            "resource": "core",
        })
    } else {
        json!({"limit": 60, "remaining": 60, "reset": state.rate_reset, "used": 0, "resource": "core"})
    };
    let fixed = |limit: u64, secs: u64| {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        json!({"limit": limit, "remaining": limit, "reset": now + secs, "used": 0})
    };
    let body = json!({
        "resources": {
            "core": core,
            "search": fixed(30, 60),
            "graphql": fixed(5000, 3600),
            "code_search": fixed(10, 60),
            "integration_manifest": fixed(5000, 3600),
            "actions_runner_registration": fixed(10000, 3600),
        },
        "rate": core,
    });
    Response::new(200, JSON, body.to_string())
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
