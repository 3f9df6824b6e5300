//! GitHub REST client: what the steps ask GitHub — comparing two commits when a shallow CI
//! clone cannot tell what is shipping (notes), and the workflow runs and jobs `shipline lock`
//! queues behind.
//!
//! Requests carry `Authorization: Bearer $GITHUB_TOKEN`, GitHub's JSON media type and the
//! pinned API version; pages are followed through the `Link` header. Errors carry GitHub's
//! own message with what to do: token scope on 401/403/404, when the rate limit resets on
//! 403/429.
//!
//! The lock's reads are conditional: each page of runs or jobs is kept with its `ETag` and
//! asked for again with `If-None-Match`. GitHub answers `304 Not Modified` while nothing in it
//! changed, and such an answer to an authorized request does not count against the rate
//! limit, which `GITHUB_TOKEN` shares with every other action of the repository.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::ci;
use crate::http::{self, Client, Reply, Request};

/// The default API base (`GITHUB_API_URL` overrides it, for GitHub Enterprise Server).
pub const DEFAULT_API_URL: &str = "https://api.github.com";

/// The API version requested.
pub const API_VERSION: &str = "2022-11-28";

/// Commits per page of a comparison: GitHub's largest page.
pub const COMPARE_PAGE: u32 = 250;

/// Pages followed at most, so a server that keeps answering `rel="next"` cannot loop forever.
const MAX_PAGES: usize = 200;

/// How two commits compare on GitHub. Unknown values are kept, never a parse failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CompareStatus {
    /// Head descends from base.
    Ahead,
    /// Base descends from head.
    Behind,
    /// Neither descends from the other.
    Diverged,
    /// The same commit.
    Identical,
    /// A value this version of shipline does not know.
    #[serde(other)]
    Unknown,
}

/// A person in a commit (`commit.author`).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Person {
    /// The name as recorded in the commit.
    #[serde(default)]
    pub name: String,
    /// The email as recorded in the commit.
    #[serde(default)]
    pub email: String,
}

/// The git data of a commit.
#[derive(Debug, Clone, Deserialize)]
pub struct CommitData {
    /// The author as git recorded it.
    #[serde(default)]
    pub author: Option<Person>,
    /// The full message.
    #[serde(default)]
    pub message: String,
}

/// A parent reference.
#[derive(Debug, Clone, Deserialize)]
pub struct Parent {
    /// The parent's id.
    pub sha: String,
}

/// A commit of a comparison.
#[derive(Debug, Clone, Deserialize)]
pub struct Commit {
    /// The full id.
    pub sha: String,
    /// Author and message.
    pub commit: CommitData,
    /// The commit's page on GitHub.
    #[serde(default)]
    pub html_url: Option<String>,
    /// Its parents (a merge has several).
    #[serde(default)]
    pub parents: Vec<Parent>,
}

/// `GET /repos/{owner}/{repo}/compare/{base}...{head}`, all pages joined.
#[derive(Debug, Clone, Deserialize)]
pub struct Comparison {
    /// How head relates to base.
    pub status: CompareStatus,
    /// How many commits `commits` holds once every page is read.
    #[serde(default)]
    pub total_commits: u64,
    /// The commits of head not in base, oldest first.
    #[serde(default)]
    pub commits: Vec<Commit>,
}

/// An error answered by the GitHub API.
#[derive(Debug)]
pub struct ApiError {
    /// `METHOD path`.
    pub request: String,
    /// The HTTP status.
    pub status: u16,
    /// GitHub's `message`.
    pub message: Option<String>,
    /// `x-ratelimit-remaining`, when sent.
    pub remaining: Option<u64>,
    /// `x-ratelimit-reset` (unix seconds), when sent.
    pub reset: Option<u64>,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GitHub {} answered {}", self.request, self.status)?;
        if let Some(message) = &self.message {
            write!(f, ": {}", message.trim().replace('\n', " "))?;
        }
        let rate_limited = matches!(self.status, 403 | 429) && self.remaining == Some(0);
        if rate_limited || self.status == 429 {
            let when = self
                .reset
                .map(|reset| {
                    let now = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map(|d| d.as_secs())
                        .unwrap_or(0);
                    format!(
                        "; it resets in {}",
                        crate::time::human(Duration::from_secs(reset.saturating_sub(now)))
                    )
                })
                .unwrap_or_default();
            return write!(
                f,
                " (GITHUB_TOKEN's API rate limit is used up{when}; GitHub Actions' token allows 1,000 requests an hour per repository)"
            );
        }
        if self.request.contains("/actions/") {
            return match self.status {
                401 => write!(
                    f,
                    " (GITHUB_TOKEN is invalid or expired: pass `${{{{ github.token }}}}` to this step as GITHUB_TOKEN)"
                ),
                403 | 404 => write!(
                    f,
                    " (GITHUB_TOKEN cannot read this repository's workflow runs: grant it `actions: read` in the workflow's `permissions`, and check GITHUB_REPOSITORY and the workflow)"
                ),
                _ => Ok(()),
            };
        }
        match self.status {
            401 => write!(
                f,
                " (GITHUB_TOKEN is invalid or expired: pass a valid token, e.g. `${{{{ github.token }}}}`, to this step)"
            ),
            403 => write!(
                f,
                " (GITHUB_TOKEN may not read this repository: grant it `contents: read` in the workflow's `permissions`)"
            ),
            404 => write!(
                f,
                " (the repository or a commit is not on GitHub, or GITHUB_TOKEN cannot see the repository: grant it `contents: read`, and check that both commits were pushed)"
            ),
            _ => Ok(()),
        }
    }
}

impl std::error::Error for ApiError {}

#[derive(Deserialize)]
struct ErrorBody {
    message: Option<String>,
}

/// Pages kept for conditional requests at most; past that the oldest reasons to keep one
/// (finished runs) no longer matter, and all are dropped.
const MAX_KEPT: usize = 64;

/// A page as GitHub last answered it, with the tag it gave.
struct Kept {
    etag: String,
    body: Vec<u8>,
    link: Option<String>,
}

/// The GitHub REST API.
pub struct GitHub {
    client: Client,
    base: String,
    /// Pages of runs and jobs by target, for `If-None-Match`.
    kept: RefCell<HashMap<String, Kept>>,
}

impl GitHub {
    /// A client for the API at `base`, authenticated with `token` (registered as a secret so
    /// it never reaches the log), whose waits end at `deadline`.
    pub fn new(base: &str, token: &str, deadline: Instant) -> GitHub {
        ci::register_secret(token);
        let client = Client::new("GitHub", base, Duration::from_secs(4))
            .with_header("Accept", "application/vnd.github+json")
            .with_header("Authorization", format!("Bearer {token}"))
            .with_header("X-GitHub-Api-Version", API_VERSION)
            .with_deadline(deadline);
        GitHub {
            client,
            base: base.trim_end_matches('/').to_string(),
            kept: RefCell::new(HashMap::new()),
        }
    }

    /// `GET target` as a conditional request when the page was read before: a 304 answers
    /// with the page kept. Returns the body and the `Link` header.
    fn get_conditional(&self, target: &str) -> Result<(Vec<u8>, Option<String>)> {
        let mut request = Request::get(target.to_string());
        if let Some(kept) = self.kept.borrow().get(target) {
            request = request.header("If-None-Match", kept.etag.clone());
        }
        let reply = self.client.send(request)?;
        if reply.status == 304 {
            if let Some(kept) = self.kept.borrow().get(target) {
                return Ok((kept.body.clone(), kept.link.clone()));
            }
        }
        let reply = check(reply)?;
        let link = reply.header("Link").map(str::to_string);
        if let Some(etag) = reply.header("ETag").filter(|t| !t.trim().is_empty()) {
            let mut kept = self.kept.borrow_mut();
            if kept.len() >= MAX_KEPT && !kept.contains_key(target) {
                kept.clear();
            }
            kept.insert(
                target.to_string(),
                Kept {
                    etag: etag.to_string(),
                    body: reply.body.clone(),
                    link: link.clone(),
                },
            );
        }
        Ok((reply.body, link))
    }

    /// Compares `base...head` in `owner/repo`, following every page of commits.
    pub fn compare(&self, owner: &str, repo: &str, base: &str, head: &str) -> Result<Comparison> {
        let mut target = format!(
            "/repos/{}/{}/compare/{}...{}?per_page={COMPARE_PAGE}",
            http::segment(owner),
            http::segment(repo),
            http::segment(base),
            http::segment(head)
        );
        let mut all: Option<Comparison> = None;
        for _ in 0..MAX_PAGES {
            let reply = self.client.send(Request::get(target.clone()))?;
            let next = reply.header("Link").and_then(next_link);
            let page: Comparison = parse(reply)?;
            match &mut all {
                None => all = Some(page),
                Some(all) => all.commits.extend(page.commits),
            }
            if let Some(url) = next {
                // Credentials only go to the API base, so the next page must be on it.
                target = url
                    .strip_prefix(&self.base)
                    .filter(|rest| rest.starts_with('/'))
                    .map(str::to_string)
                    .ok_or_else(|| {
                        anyhow!(
                            "GitHub's next page of {base}...{head} is not under GITHUB_API_URL ({}); not following it with the token",
                            self.base
                        )
                    })?;
                continue;
            }
            let all = all.ok_or_else(|| anyhow!("GitHub answered no comparison"))?;
            if (all.commits.len() as u64) < all.total_commits {
                return Err(anyhow!(
                    "GitHub listed {} of the {} commits of {base}...{head}",
                    all.commits.len(),
                    all.total_commits
                ));
            }
            return Ok(all);
        }
        Err(anyhow!(
            "GitHub kept answering more pages of {base}...{head} after {MAX_PAGES} pages; the range is too long for release notes"
        ))
    }
}

/// Where a workflow run or job stands (`status`). GitHub's description lists `requested`,
/// `queued`, `pending`, `waiting`, `in_progress` and `completed` for jobs and leaves a run's
/// `status` an open string; anything else is [`Status::Unknown`], never a parse failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Created, not yet queued.
    Requested,
    /// Waiting for a runner.
    Queued,
    /// Held, e.g. behind a concurrency group.
    Pending,
    /// Waiting for an environment's protection rules (an approval, a wait timer).
    Waiting,
    /// Running.
    InProgress,
    /// Over; the conclusion says how.
    Completed,
    /// A value this version of shipline does not know.
    #[serde(other)]
    Unknown,
}

impl Status {
    /// The status of a `status` field as received (`None` when absent or null).
    pub fn of(text: Option<&str>) -> Option<Status> {
        text.map(|t| {
            serde_json::from_value(serde_json::Value::String(t.to_string()))
                .unwrap_or(Status::Unknown)
        })
    }
}

/// How a workflow run or job ended (`conclusion`, `null` until it has). Jobs list `success`,
/// `failure`, `neutral`, `cancelled`, `skipped`, `timed_out` and `action_required`; runs
/// also end `stale` or `startup_failure`. Anything else is [`Conclusion::Unknown`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Conclusion {
    /// It passed.
    Success,
    /// It failed.
    Failure,
    /// Neither passed nor failed (a check that reports only).
    Neutral,
    /// Someone or something cancelled it.
    Cancelled,
    /// A condition skipped it.
    Skipped,
    /// It ran past its time limit.
    TimedOut,
    /// It waits for a person to act (e.g. approve a first-time contributor's run).
    ActionRequired,
    /// It stayed incomplete too long, and GitHub marked it stale.
    Stale,
    /// The workflow could not start (e.g. an invalid workflow file).
    StartupFailure,
    /// A value this version of shipline does not know.
    #[serde(other)]
    Unknown,
}

impl Conclusion {
    /// The conclusion of a `conclusion` field as received (`None` when absent or null).
    pub fn of(text: Option<&str>) -> Option<Conclusion> {
        text.map(|t| {
            serde_json::from_value(serde_json::Value::String(t.to_string()))
                .unwrap_or(Conclusion::Unknown)
        })
    }
}

/// A workflow run, as `shipline lock` reads it. Every field GitHub may send as `null` or
/// leave out is optional here, and `status` and `conclusion` are kept as sent (typed through
/// [`WorkflowRun::state`] and [`WorkflowRun::outcome`]), so no value GitHub adds later can
/// make a listing fail to parse.
#[derive(Debug, Clone, Deserialize)]
pub struct WorkflowRun {
    /// Global id (`GITHUB_RUN_ID`).
    pub id: u64,
    /// Number within the workflow; unchanged by re-runs.
    pub run_number: u64,
    /// Attempt (1, or more after a re-run).
    #[serde(default)]
    pub run_attempt: Option<u64>,
    /// `requested`, `queued`, `pending`, `waiting`, `in_progress`, `completed`.
    #[serde(default)]
    pub status: Option<String>,
    /// Set once the run is over (sometimes while `status` still says `in_progress`).
    #[serde(default)]
    pub conclusion: Option<String>,
    /// The branch it ran on (`null` for some events).
    #[serde(default)]
    pub head_branch: Option<String>,
    /// When the run was created.
    #[serde(default, deserialize_with = "string_or_null")]
    pub created_at: String,
    /// When its latest attempt started (updated on re-run).
    #[serde(default)]
    pub run_started_at: Option<String>,
    /// When anything in it last changed.
    #[serde(default)]
    pub updated_at: Option<String>,
    /// Its page.
    #[serde(default, deserialize_with = "string_or_null")]
    pub html_url: String,
}

impl WorkflowRun {
    /// Whether it is over: `completed`, or a conclusion is set whatever the status says.
    pub fn is_over(&self) -> bool {
        self.state() == Some(Status::Completed) || self.conclusion.is_some()
    }

    /// Its status, typed.
    pub fn state(&self) -> Option<Status> {
        Status::of(self.status.as_deref())
    }

    /// Its conclusion, typed (`None` while it runs).
    pub fn outcome(&self) -> Option<Conclusion> {
        Conclusion::of(self.conclusion.as_deref())
    }
}

/// A string field that GitHub may send as `null`: read as empty.
fn string_or_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(d)?.unwrap_or_default())
}

/// A job of a workflow run.
#[derive(Debug, Clone, Deserialize)]
pub struct WorkflowJob {
    /// Its display name (the job key unless the workflow gives it a `name`).
    #[serde(default, deserialize_with = "string_or_null")]
    pub name: String,
    /// `queued`, `in_progress`, `completed`, `waiting`, `requested`, `pending`.
    #[serde(default)]
    pub status: Option<String>,
    /// Set once it is over.
    #[serde(default)]
    pub conclusion: Option<String>,
    /// When it started.
    #[serde(default)]
    pub started_at: Option<String>,
    /// Its page.
    #[serde(default)]
    pub html_url: Option<String>,
}

impl WorkflowJob {
    /// Its status, typed.
    pub fn state(&self) -> Option<Status> {
        Status::of(self.status.as_deref())
    }

    /// Its conclusion, typed (`None` while it runs).
    pub fn outcome(&self) -> Option<Conclusion> {
        Conclusion::of(self.conclusion.as_deref())
    }
}

#[derive(Deserialize)]
struct RunsPage {
    #[serde(default)]
    workflow_runs: Vec<WorkflowRun>,
}

#[derive(Deserialize)]
struct JobsPage {
    #[serde(default)]
    jobs: Vec<WorkflowJob>,
}

/// Runs or jobs per page: GitHub's largest.
pub const ACTIONS_PAGE: u32 = 100;

impl GitHub {
    /// The target of a `Link` URL, which must be under the API base (credentials only go
    /// there).
    fn under_base(&self, url: &str, what: &str) -> Result<String> {
        url.strip_prefix(&self.base)
            .filter(|rest| rest.starts_with('/'))
            .map(str::to_string)
            .ok_or_else(|| {
                anyhow!(
                    "GitHub's next page of {what} is not under GITHUB_API_URL ({}); not following it with the token",
                    self.base
                )
            })
    }

    /// `GET /repos/{owner}/{repo}/actions/runs/{id}`.
    pub fn run(&self, owner: &str, repo: &str, id: u64) -> Result<WorkflowRun> {
        let target = format!(
            "/repos/{}/{}/actions/runs/{id}",
            http::segment(owner),
            http::segment(repo)
        );
        parse(self.client.send(Request::get(target))?)
    }

    /// The runs of `workflow` (file name or id) on `branch`, newest first, page after page
    /// until a page ends with a run for which `enough` says older ones cannot matter.
    pub fn workflow_runs(
        &self,
        owner: &str,
        repo: &str,
        workflow: &str,
        branch: &str,
        enough: impl Fn(&WorkflowRun) -> bool,
    ) -> Result<Vec<WorkflowRun>> {
        let mut target = format!(
            "/repos/{}/{}/actions/workflows/{}/runs?branch={}&per_page={ACTIONS_PAGE}",
            http::segment(owner),
            http::segment(repo),
            http::segment(workflow),
            http::segment(branch)
        );
        let what = format!("the runs of {workflow} on {branch}");
        let mut seen = std::collections::HashSet::new();
        let mut all = Vec::new();
        for _ in 0..MAX_PAGES {
            if !seen.insert(target.clone()) {
                return Err(anyhow!(
                    "GitHub answered the same next page of {what} twice ({target}); the listing loops, and the lock does not decide on a partial view"
                ));
            }
            let (body, link) = self.get_conditional(&target)?;
            let next = link.as_deref().and_then(next_link);
            let page: RunsPage = from_body(&body, &target)?;
            let done = page.workflow_runs.last().is_some_and(&enough);
            let empty = page.workflow_runs.is_empty();
            all.extend(page.workflow_runs);
            match next {
                Some(url) if !done && !empty => target = self.under_base(&url, &what)?,
                _ => return Ok(all),
            }
        }
        Err(anyhow!(
            "GitHub kept answering more pages of {what} after {MAX_PAGES} pages"
        ))
    }

    /// The jobs of the latest attempt of run `id`, every page.
    pub fn run_jobs(&self, owner: &str, repo: &str, id: u64) -> Result<Vec<WorkflowJob>> {
        let mut target = format!(
            "/repos/{}/{}/actions/runs/{id}/jobs?filter=latest&per_page={ACTIONS_PAGE}",
            http::segment(owner),
            http::segment(repo)
        );
        let what = format!("the jobs of run {id}");
        let mut seen = std::collections::HashSet::new();
        let mut all = Vec::new();
        for _ in 0..MAX_PAGES {
            if !seen.insert(target.clone()) {
                return Err(anyhow!(
                    "GitHub answered the same next page of {what} twice; the listing loops"
                ));
            }
            let (body, link) = self.get_conditional(&target)?;
            let next = link.as_deref().and_then(next_link);
            let page: JobsPage = from_body(&body, &target)?;
            let empty = page.jobs.is_empty();
            all.extend(page.jobs);
            match next {
                Some(url) if !empty => target = self.under_base(&url, &what)?,
                _ => return Ok(all),
            }
        }
        Err(anyhow!(
            "GitHub kept answering more pages of {what} after {MAX_PAGES} pages"
        ))
    }
}

/// The `rel="next"` URL of a `Link` header; an empty `<>` is no page (a client following it
/// would ask for the page it has).
pub fn next_link(link: &str) -> Option<String> {
    link.split(',').find_map(|part| {
        let (url, params) = part.split_once(';')?;
        let is_next = params
            .split(';')
            .any(|p| p.trim().replace(' ', "") == "rel=\"next\"");
        let url = url.trim().strip_prefix('<')?.strip_suffix('>')?.trim();
        (is_next && !url.is_empty()).then(|| url.to_string())
    })
}

/// The reply if it is a success, else an [`ApiError`] carrying GitHub's message.
fn check(reply: Reply) -> Result<Reply> {
    if reply.is_success() {
        return Ok(reply);
    }
    let body: Option<ErrorBody> = serde_json::from_slice(&reply.body).ok();
    let number = |name: &str| reply.header(name).and_then(|v| v.trim().parse().ok());
    Err(anyhow!(ApiError {
        status: reply.status,
        message: body.and_then(|b| b.message),
        remaining: number("x-ratelimit-remaining"),
        reset: number("x-ratelimit-reset"),
        request: reply.request,
    }))
}

/// A page's body as `T`.
fn from_body<T: DeserializeOwned>(body: &[u8], target: &str) -> Result<T> {
    serde_json::from_slice(body).with_context(|| {
        format!(
            "GitHub GET {} answered a body that is not the expected JSON ({} bytes)",
            http::display_target(target),
            body.len()
        )
    })
}

/// Turns a reply into `T`, or into an [`ApiError`] carrying GitHub's message.
fn parse<T: DeserializeOwned>(reply: Reply) -> Result<T> {
    let reply = check(reply)?;
    serde_json::from_slice(&reply.body).with_context(|| {
        format!(
            "GitHub {} answered {} with a body that is not the expected JSON ({} bytes)",
            reply.request,
            reply.status,
            reply.body.len()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_next_page_in_a_link_header() {
        let link = "<https://api.github.com/repos/o/r/compare/a...b?per_page=250&page=2>; rel=\"next\", \
                    <https://api.github.com/repos/o/r/compare/a...b?per_page=250&page=3>; rel=\"last\"";
        assert_eq!(
            next_link(link).as_deref(),
            Some("https://api.github.com/repos/o/r/compare/a...b?per_page=250&page=2")
        );
        assert_eq!(next_link("<https://x/?page=1>; rel=\"prev\""), None);
        assert_eq!(next_link("garbage"), None);
        // Found by fuzzing (fuzz/seeds/api_answers/empty-next-link): an empty target.
        assert_eq!(next_link("<>; rel=\"next\", Dep"), None);
        assert_eq!(next_link("< >; rel=\"next\""), None);
    }

    #[test]
    fn errors_say_what_to_do() {
        let reply = Reply::for_test(
            404,
            br#"{"message":"Not Found","documentation_url":"https://docs.github.com/rest"}"#,
            "GET /repos/o/r/compare/a...b",
        );
        let text = parse::<Comparison>(reply).unwrap_err().to_string();
        assert!(
            text.starts_with("GitHub GET /repos/o/r/compare/a...b answered 404: Not Found"),
            "{text}"
        );
        assert!(text.contains("contents: read"), "{text}");
        let reply = Reply::for_test(401, br#"{"message":"Bad credentials"}"#, "GET /x");
        let text = parse::<Comparison>(reply).unwrap_err().to_string();
        assert!(
            text.contains("Bad credentials") && text.contains("GITHUB_TOKEN"),
            "{text}"
        );
    }

    #[test]
    fn next_pages_are_followed_only_under_the_api_base() {
        let api = GitHub::new(
            "https://ghe.example/api/v3/",
            "t",
            Instant::now() + Duration::from_secs(5),
        );
        assert_eq!(
            api.under_base(
                "https://ghe.example/api/v3/repos/o/r/actions/workflows/d.yml/runs?page=2",
                "runs"
            )
            .unwrap(),
            "/repos/o/r/actions/workflows/d.yml/runs?page=2"
        );
        let e = api
            .under_base("https://elsewhere.example/api/v3/repos?page=2", "runs")
            .unwrap_err()
            .to_string();
        assert!(e.contains("not under GITHUB_API_URL"), "{e}");
        assert!(api
            .under_base("https://ghe.example/api/v3.evil/x", "runs")
            .is_err());
    }

    #[test]
    fn actions_errors_ask_for_actions_read() {
        let reply = Reply::for_test(
            403,
            br#"{"message":"Resource not accessible by integration"}"#,
            "GET /repos/o/r/actions/runs/1",
        );
        let text = parse::<WorkflowRun>(reply).unwrap_err().to_string();
        assert!(text.contains("actions: read"), "{text}");
        let run: WorkflowRun = serde_json::from_str(
            r#"{"id":1,"run_number":7,"status":"in_progress","conclusion":"success"}"#,
        )
        .unwrap();
        assert!(
            run.is_over(),
            "a conclusion means over, whatever the status says"
        );
    }

    /// Every `status` GitHub documents for a run or a job (the run listings' `status` filter
    /// and the job schema's enum).
    const STATUSES: [&str; 6] = [
        "requested",
        "queued",
        "pending",
        "waiting",
        "in_progress",
        "completed",
    ];

    /// Every `conclusion` GitHub documents for a job (its schema's enum) or a run (the
    /// listings' `status` filter), and `startup_failure`, which runs end with too.
    const CONCLUSIONS: [&str; 9] = [
        "success",
        "failure",
        "neutral",
        "cancelled",
        "skipped",
        "timed_out",
        "action_required",
        "stale",
        "startup_failure",
    ];

    /// A run as GitHub answers it, with the fields shipline does not read.
    fn run_json(status: &str, conclusion: Option<&str>) -> String {
        serde_json::json!({
            "id": 30433642, "name": "Deploy", "node_id": "MDEyOldvcmtmbG93IFJ1bjI2OTI4OQ==",
            "head_branch": "main", "head_sha": "acb5820ced9479c074f688cc328bf03f341a511d",
            "path": ".github/workflows/deploy.yml@main", "display_title": "Update README.md",
            "run_number": 562, "run_attempt": 1, "event": "push", "status": status,
            "conclusion": conclusion, "workflow_id": 159038,
            "url": "https://api.github.com/repos/o/r/actions/runs/30433642",
            "html_url": "https://github.com/o/r/actions/runs/30433642",
            "pull_requests": [], "referenced_workflows": [],
            "created_at": "2026-11-27T03:00:00Z", "updated_at": "2026-11-27T03:01:00Z",
            "run_started_at": "2026-11-27T03:00:00Z", "previous_attempt_url": null,
            "actor": {"login": "octocat", "id": 1}, "head_commit": null,
            "repository": {"id": 1, "full_name": "o/r"}, "head_repository": {"id": 1},
        })
        .to_string()
    }

    #[test]
    fn every_documented_status_and_conclusion_is_read_and_known() {
        for status in STATUSES {
            for conclusion in CONCLUSIONS.iter().map(Some).chain([None]) {
                let text = run_json(status, conclusion.copied());
                let run: WorkflowRun = serde_json::from_str(&text)
                    .unwrap_or_else(|e| panic!("run {status}/{conclusion:?}: {e}"));
                assert_ne!(run.state(), Some(Status::Unknown), "{status}");
                assert_ne!(run.outcome(), Some(Conclusion::Unknown), "{conclusion:?}");
                assert_eq!(run.outcome().is_some(), conclusion.is_some());
                assert_eq!(
                    run.is_over(),
                    status == "completed" || conclusion.is_some(),
                    "{status}/{conclusion:?}"
                );
                let job: WorkflowJob = serde_json::from_value(serde_json::json!({
                    "id": 399444496, "run_id": 30433642, "name": "deploy", "status": status,
                    "conclusion": conclusion, "started_at": "2026-11-27T03:00:00Z",
                    "completed_at": null, "html_url": "https://github.com/o/r/runs/399444496",
                    "steps": [], "labels": ["ubuntu-latest"], "runner_id": null,
                }))
                .unwrap_or_else(|e| panic!("job {status}/{conclusion:?}: {e}"));
                assert_ne!(job.state(), Some(Status::Unknown), "{status}");
                assert_ne!(job.outcome(), Some(Conclusion::Unknown), "{conclusion:?}");
            }
        }
        assert_eq!(Status::of(Some("in_progress")), Some(Status::InProgress));
        assert_eq!(
            Conclusion::of(Some("timed_out")),
            Some(Conclusion::TimedOut)
        );
        assert_eq!(
            Conclusion::of(Some("startup_failure")),
            Some(Conclusion::StartupFailure)
        );
        // Values GitHub may add later: kept, typed as unknown, never a failure.
        let run: WorkflowRun =
            serde_json::from_str(&run_json("deferred", Some("superseded"))).unwrap();
        assert_eq!(run.state(), Some(Status::Unknown));
        assert_eq!(run.outcome(), Some(Conclusion::Unknown));
        assert_eq!(run.status.as_deref(), Some("deferred"));
    }

    #[test]
    fn every_nullable_field_may_be_null_or_absent() {
        let run: WorkflowRun = serde_json::from_str(
            r#"{"id":1,"run_number":7,"run_attempt":null,"status":null,"conclusion":null,
                "head_branch":null,"created_at":null,"run_started_at":null,"updated_at":null,
                "html_url":null,"name":null,"head_commit":null,"pull_requests":null,
                "previous_attempt_url":null,"referenced_workflows":null}"#,
        )
        .unwrap();
        assert_eq!((run.id, run.run_number), (1, 7));
        assert!(run.status.is_none() && run.conclusion.is_none() && run.head_branch.is_none());
        assert!(run.run_started_at.is_none() && run.run_attempt.is_none());
        assert!(!run.is_over(), "no status and no conclusion is not over");
        let bare: WorkflowRun = serde_json::from_str(r#"{"id":2,"run_number":8}"#).unwrap();
        assert!(bare.created_at.is_empty() && bare.html_url.is_empty());
        let job: WorkflowJob = serde_json::from_str(
            r#"{"name":null,"status":null,"conclusion":null,"started_at":null,
                "completed_at":null,"html_url":null,"runner_id":null,"runner_name":null,
                "runner_group_id":null,"runner_group_name":null,"workflow_name":null,
                "head_branch":null}"#,
        )
        .unwrap();
        assert!(job.state().is_none() && job.outcome().is_none() && job.started_at.is_none());
        let page: RunsPage = serde_json::from_str(
            r#"{"total_count":0,"workflow_runs":[{"id":3,"run_number":9,"conclusion":null}]}"#,
        )
        .unwrap();
        assert_eq!(page.workflow_runs.len(), 1);
        let comparison: Comparison = serde_json::from_str(
            r#"{"status":"ahead","total_commits":1,"commits":[{"sha":"a","author":null,
                "committer":null,"html_url":null,"parents":[],
                "commit":{"author":null,"committer":null,"message":"m"}}]}"#,
        )
        .unwrap();
        assert!(comparison.commits[0].commit.author.is_none());
    }

    /// GitHub's own description, when it is beside the clone (it is never committed): every
    /// status and conclusion it lists for runs and jobs is one of those above.
    #[test]
    fn the_lists_above_hold_every_value_githubs_description_documents() {
        let path = std::env::var_os("SHIPLINE_GITHUB_SCHEMA")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| {
                std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("../shared/github/rest-api-subset.json")
            });
        let spec: serde_json::Value = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).expect("the description is JSON"),
            Err(e) if std::env::var("CI").as_deref() == Ok("true") => panic!(
                "cannot read GitHub's description under CI=true: {} ({e}); set SHIPLINE_GITHUB_SCHEMA to its path",
                path.display()
            ),
            Err(e) => {
                eprintln!(
                    "SKIPPED: GitHub's description not read: {} ({e}); set SHIPLINE_GITHUB_SCHEMA to its path",
                    path.display()
                );
                return;
            }
        };
        let values = |pointer: &str| -> Vec<String> {
            spec.pointer(pointer)
                .and_then(|v| v.as_array())
                .unwrap_or_else(|| panic!("{pointer} is not in the description"))
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        };
        let job = "/components/schemas/job/properties";
        for status in values(&format!("{job}/status/enum")) {
            assert!(STATUSES.contains(&status.as_str()), "job status {status}");
        }
        for conclusion in values(&format!("{job}/conclusion/enum")) {
            assert!(
                CONCLUSIONS.contains(&conclusion.as_str()),
                "job conclusion {conclusion}"
            );
        }
        // The run listings' filter takes a run's statuses and conclusions alike.
        for value in values("/components/parameters/workflow-run-status/schema/enum") {
            assert!(
                STATUSES.contains(&value.as_str()) || CONCLUSIONS.contains(&value.as_str()),
                "run status or conclusion {value}"
            );
        }
    }

    #[test]
    fn unknown_statuses_are_kept() {
        let c: Comparison =
            serde_json::from_str(r#"{"status":"sideways","commits":[],"extra":1}"#).unwrap();
        assert_eq!(c.status, CompareStatus::Unknown);
    }
}
