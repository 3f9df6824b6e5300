//! GitHub Actions workflow runs for `shipline lock`, driven by a simulation.
//!
//! Each run is a run of one workflow (`deploy.yml`) on a branch or a tag: a `test` job that is
//! `in_progress` for a scripted time and then `completed` (`success` or `failure`), then the
//! lock's job (`deploy` by default), created only once `test` succeeded (as GitHub creates a
//! job when its `needs` are met): `waiting` while its environment awaits approval (the run is
//! then `waiting` too), `queued` for a scripted time, `in_progress` until the harness — which
//! runs `shipline lock` inside that job — calls [`GitHub::finish_run`], then `completed`.
//! A re-run ([`GitHub::rerun`]) starts a new attempt of a run: `run_attempt` and
//! `run_started_at` move, the jobs start again.
//!
//! Endpoints: `GET /repos/{o}/{r}/actions/runs/{id}`,
//! `GET /repos/{o}/{r}/actions/workflows/{workflow}/runs?branch=&status=&per_page=&page=`
//! (newest first, `Link` pagination, `total_count`), `GET /repos/{o}/{r}/actions/runs/{id}/jobs`
//! (`filter=latest`, `per_page`, `page`). A token issued without `actions: read` answers 403
//! `Resource not accessible by integration`.
//!
//! Known divergences: one workflow, no `attempts/{n}/jobs`, no `created`/`event` filters, and
//! `status=waiting` filters exactly (the real filter is unreliable; shipline never uses it).

use std::time::{Duration, SystemTime};

use serde_json::{json, Value};

use super::{error, State, JSON};
use crate::server::{Request, Response};
use crate::util::{after, rfc3339};

/// The repository whose workflow runs are simulated.
pub const REPOSITORY: &str = "acme/shop";
/// The workflow file.
pub const WORKFLOW: &str = "deploy.yml";
const WORKFLOW_ID: u64 = 161_335;

/// A run to start.
#[derive(Clone, Debug)]
pub struct RunSpec {
    /// The branch; `None` with a tag.
    pub branch: Option<String>,
    /// The tag of a tag build.
    pub tag: Option<String>,
    /// How long `test` runs.
    pub tests: Duration,
    /// Whether `test` fails (then the lock's job is never created).
    pub tests_fail: bool,
    /// The lock's job's environment needs an approval.
    pub approval: bool,
    /// How long the lock's job is `queued` before it runs.
    pub queued: Duration,
    /// The lock's job's name.
    pub job: String,
    /// The lock's job is already running, since this long ago.
    pub running_since: Option<Duration>,
}

impl RunSpec {
    /// A run on `branch` whose tests take `tests`.
    pub fn branch(branch: &str, tests: Duration) -> RunSpec {
        RunSpec {
            branch: Some(branch.into()),
            tag: None,
            tests,
            tests_fail: false,
            approval: false,
            queued: Duration::ZERO,
            job: "deploy".into(),
            running_since: None,
        }
    }

    /// A run for a pushed tag.
    pub fn tag(tag: &str, tests: Duration) -> RunSpec {
        RunSpec {
            branch: None,
            tag: Some(tag.into()),
            ..RunSpec::branch("", tests)
        }
    }

    /// Its tests fail.
    pub fn failing(mut self) -> RunSpec {
        self.tests_fail = true;
        self
    }

    /// Its lock job's environment waits for an approval.
    pub fn with_approval(mut self) -> RunSpec {
        self.approval = true;
        self
    }

    /// The lock's job is named `job`.
    pub fn job(mut self, job: &str) -> RunSpec {
        self.job = job.into();
        self
    }

    /// The lock's job is queued for `d` before it runs.
    pub fn queued_for(mut self, d: Duration) -> RunSpec {
        self.queued = d;
        self
    }

    /// The lock's job has been running since `ago`.
    pub fn stuck_running(mut self, ago: Duration) -> RunSpec {
        self.running_since = Some(ago);
        self
    }
}

/// A started run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunRef {
    /// `GITHUB_RUN_ID`.
    pub id: u64,
    /// `GITHUB_RUN_NUMBER`.
    pub number: u64,
}

#[derive(Clone, Debug)]
struct RunRec {
    id: u64,
    number: u64,
    attempt: u64,
    spec: RunSpec,
    created: SystemTime,
    started: SystemTime,
    approved: Option<SystemTime>,
    finished: Option<(SystemTime, bool)>,
    test_job: u64,
    lock_job: u64,
}

/// The simulated runs.
#[derive(Debug)]
pub(super) struct Actions {
    runs: Vec<RunRec>,
    next_number: u64,
    next_id: u64,
    pub(super) page_cap: usize,
}

impl Default for Actions {
    fn default() -> Actions {
        Actions {
            runs: Vec::new(),
            next_number: 1,
            next_id: 7_100_000_000,
            page_cap: 100,
        }
    }
}

#[derive(Clone, Debug)]
struct JobView {
    status: &'static str,
    conclusion: Option<&'static str>,
    started: Option<SystemTime>,
    completed: Option<SystemTime>,
}

impl RunRec {
    fn test_view(&self, now: SystemTime) -> JobView {
        let end = after(self.started, self.spec.tests);
        if self.spec.running_since.is_some() || now >= end {
            JobView {
                status: "completed",
                conclusion: Some(if self.spec.tests_fail {
                    "failure"
                } else {
                    "success"
                }),
                started: Some(self.started),
                completed: Some(end),
            }
        } else {
            JobView {
                status: "in_progress",
                conclusion: None,
                started: Some(self.started),
                completed: None,
            }
        }
    }

    /// The lock's job, `None` until it is created.
    fn lock_view(&self, now: SystemTime) -> Option<JobView> {
        let ready = match self.spec.running_since {
            Some(ago) => self.created.checked_sub(ago).unwrap_or(self.created),
            None => {
                if self.spec.tests_fail {
                    return None;
                }
                let tests_end = after(self.started, self.spec.tests);
                if now < tests_end {
                    return None;
                }
                if self.spec.approval {
                    match self.approved {
                        Some(at) if at <= now => at.max(tests_end),
                        _ => {
                            return Some(JobView {
                                status: "waiting",
                                conclusion: None,
                                started: None,
                                completed: None,
                            })
                        }
                    }
                } else {
                    tests_end
                }
            }
        };
        let queued = if self.spec.running_since.is_some() {
            Duration::ZERO
        } else {
            self.spec.queued
        };
        let running = after(ready, queued);
        if now < running {
            return Some(JobView {
                status: "queued",
                conclusion: None,
                started: None,
                completed: None,
            });
        }
        Some(match self.finished {
            Some((at, ok)) if at <= now => JobView {
                status: "completed",
                conclusion: Some(if ok { "success" } else { "failure" }),
                started: Some(running),
                completed: Some(at),
            },
            _ => JobView {
                status: "in_progress",
                conclusion: None,
                started: Some(running),
                completed: None,
            },
        })
    }

    fn status(&self, now: SystemTime) -> (&'static str, Option<&'static str>, SystemTime) {
        let test = self.test_view(now);
        let mut updated = self.started;
        if let Some(t) = test.completed {
            updated = updated.max(t);
        }
        if test.conclusion == Some("failure") {
            return ("completed", Some("failure"), updated);
        }
        match self.lock_view(now) {
            None => ("in_progress", None, updated),
            Some(job) => {
                for t in [
                    job.started,
                    job.completed,
                    self.approved.filter(|a| *a <= now),
                ]
                .into_iter()
                .flatten()
                {
                    updated = updated.max(t);
                }
                match (job.status, job.conclusion) {
                    ("waiting", _) => ("waiting", None, updated),
                    ("completed", c) => ("completed", c, updated),
                    _ => ("in_progress", None, updated),
                }
            }
        }
    }

    fn head_branch(&self) -> String {
        self.spec
            .branch
            .clone()
            .or_else(|| self.spec.tag.clone())
            .unwrap_or_default()
    }

    fn json(&self, api: &str, now: SystemTime) -> Value {
        let (status, conclusion, updated) = self.status(now);
        json!({
            "id": self.id,
            "name": "Deploy",
            "node_id": format!("WFR_{}", self.id),
            "head_branch": self.head_branch(),
            "head_sha": format!("{:040x}", self.id),
            "path": format!(".github/workflows/{WORKFLOW}"),
            "display_title": format!("Change {}", self.number),
            "run_number": self.number,
            "event": "push",
            "status": status,
            "conclusion": conclusion,
            "workflow_id": WORKFLOW_ID,
            "check_suite_id": self.id + 1,
            "url": format!("{api}/repos/{REPOSITORY}/actions/runs/{}", self.id),
            "html_url": format!("https://github.com/{REPOSITORY}/actions/runs/{}", self.id),
            "jobs_url": format!("{api}/repos/{REPOSITORY}/actions/runs/{}/jobs", self.id),
            "pull_requests": [],
            "created_at": rfc3339(self.created),
            "updated_at": rfc3339(updated),
            "run_attempt": self.attempt,
            "run_started_at": rfc3339(self.started),
        })
    }

    fn jobs_json(&self, api: &str, now: SystemTime) -> Vec<Value> {
        let job = |id: u64, name: &str, v: JobView| {
            json!({
                "id": id,
                "run_id": self.id,
                "run_attempt": self.attempt,
                "name": name,
                "status": v.status,
                "conclusion": v.conclusion,
                "created_at": rfc3339(self.started),
                "started_at": v.started.map(rfc3339),
                "completed_at": v.completed.map(rfc3339),
                "url": format!("{api}/repos/{REPOSITORY}/actions/jobs/{id}"),
                "html_url": format!("https://github.com/{REPOSITORY}/actions/runs/{}/job/{id}", self.id),
                "steps": [],
                "labels": ["ubuntu-latest"],
            })
        };
        let mut jobs = vec![job(self.test_job, "test", self.test_view(now))];
        if let Some(v) = self.lock_view(now) {
            jobs.push(job(self.lock_job, &self.spec.job, v));
        }
        jobs
    }
}

impl Actions {
    pub(super) fn start(&mut self, spec: RunSpec) -> RunRef {
        let number = self.next_number;
        self.next_number += 1;
        let id = self.next_id;
        self.next_id += 1000;
        let now = SystemTime::now();
        self.runs.push(RunRec {
            id,
            number,
            attempt: 1,
            spec,
            created: now,
            started: now,
            approved: None,
            finished: None,
            test_job: id + 1,
            lock_job: id + 2,
        });
        RunRef { id, number }
    }

    pub(super) fn set_next_number(&mut self, n: u64) {
        self.next_number = n;
    }

    fn run_mut(&mut self, r: &RunRef) -> &mut RunRec {
        self.runs
            .iter_mut()
            .find(|x| x.id == r.id)
            .expect("a run of this sandbox")
    }

    pub(super) fn finish(&mut self, r: &RunRef, success: bool) {
        self.run_mut(r).finished = Some((SystemTime::now(), success));
    }

    pub(super) fn finish_tests(&mut self, r: &RunRef, success: bool) {
        let run = self.run_mut(r);
        let elapsed = SystemTime::now()
            .duration_since(run.started)
            .unwrap_or_default();
        run.spec.tests = run.spec.tests.min(elapsed);
        run.spec.tests_fail = !success;
    }

    pub(super) fn approve(&mut self, r: &RunRef) {
        self.run_mut(r).approved = Some(SystemTime::now());
    }

    pub(super) fn rerun(&mut self, r: &RunRef) {
        let run = self.run_mut(r);
        run.attempt += 1;
        run.started = SystemTime::now();
        run.finished = None;
        run.approved = None;
        run.spec.running_since = None;
        run.test_job += 10;
        run.lock_job += 10;
    }

    pub(super) fn lock_status(&self, r: &RunRef) -> String {
        let run = self
            .runs
            .iter()
            .find(|x| x.id == r.id)
            .expect("a run of this sandbox");
        run.lock_view(SystemTime::now())
            .map(|v| v.conclusion.unwrap_or(v.status).to_string())
            .unwrap_or_else(|| match run.status(SystemTime::now()) {
                ("completed", _, _) => "never".into(),
                _ => "not created".into(),
            })
    }

    pub(super) fn env(&self, r: &RunRef) -> Vec<(String, String)> {
        let run = self
            .runs
            .iter()
            .find(|x| x.id == r.id)
            .expect("a run of this sandbox");
        let (reference, kind) = match (&run.spec.branch, &run.spec.tag) {
            (Some(b), _) => (format!("refs/heads/{b}"), "branch"),
            (None, Some(t)) => (format!("refs/tags/{t}"), "tag"),
            _ => (String::new(), "branch"),
        };
        vec![
            ("GITHUB_ACTIONS".into(), "true".into()),
            ("GITHUB_REPOSITORY".into(), REPOSITORY.into()),
            ("GITHUB_RUN_ID".into(), run.id.to_string()),
            ("GITHUB_RUN_NUMBER".into(), run.number.to_string()),
            ("GITHUB_RUN_ATTEMPT".into(), run.attempt.to_string()),
            ("GITHUB_WORKFLOW".into(), "Deploy".into()),
            (
                "GITHUB_WORKFLOW_REF".into(),
                format!("{REPOSITORY}/.github/workflows/{WORKFLOW}@{reference}"),
            ),
            ("GITHUB_REF".into(), reference),
            ("GITHUB_REF_NAME".into(), run.head_branch()),
            ("GITHUB_REF_TYPE".into(), kind.into()),
            ("GITHUB_JOB".into(), run.spec.job.clone()),
            ("GITHUB_EVENT_NAME".into(), "push".into()),
            ("GITHUB_SERVER_URL".into(), "https://github.com".into()),
        ]
    }
}

fn page_params(req: &Request, cap: usize) -> (usize, usize) {
    let per_page = req
        .query_param("per_page")
        .and_then(|v| v.parse().ok())
        .unwrap_or(30usize)
        .clamp(1, cap.clamp(1, 100));
    let page = req
        .query_param("page")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1usize)
        .max(1);
    (per_page, page)
}

fn paged(
    url: &str,
    req: &Request,
    total: usize,
    per_page: usize,
    page: usize,
    body: Value,
) -> Response {
    let pages = total.div_ceil(per_page).max(1);
    let others: Vec<String> = req
        .query
        .as_deref()
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty() && !p.starts_with("page=") && !p.starts_with("per_page="))
        .map(str::to_string)
        .collect();
    let link_to = |p: usize| {
        let mut q = others.clone();
        q.push(format!("per_page={per_page}"));
        q.push(format!("page={p}"));
        format!("<{url}{}?{}>", req.path, q.join("&"))
    };
    let mut links = Vec::new();
    if page > 1 {
        links.push(format!("{}; rel=\"prev\"", link_to(page - 1)));
        links.push(format!("{}; rel=\"first\"", link_to(1)));
    }
    if page < pages {
        links.push(format!("{}; rel=\"next\"", link_to(page + 1)));
        links.push(format!("{}; rel=\"last\"", link_to(pages)));
    }
    let mut response = Response::new(200, JSON, body.to_string());
    if !links.is_empty() {
        response = response.with_header("Link", links.join(", "));
    }
    response
}

/// Answers `/repos/{owner}/{repo}/actions/{rest}`.
pub(super) fn route(state: &State, owner: &str, repo: &str, rest: &str, req: &Request) -> Response {
    if !format!("{owner}/{repo}").eq_ignore_ascii_case(REPOSITORY) {
        return error(404, "Not Found");
    }
    let now = SystemTime::now();
    let actions = &state.actions;
    let api = state.url.as_str();
    let parts: Vec<&str> = rest.split('/').collect();
    match parts.as_slice() {
        ["runs", id] => match actions.runs.iter().find(|r| id.parse() == Ok(r.id)) {
            Some(run) => Response::new(200, JSON, run.json(api, now).to_string()),
            None => error(404, "Not Found"),
        },
        ["runs", id, "jobs"] => match actions.runs.iter().find(|r| id.parse() == Ok(r.id)) {
            Some(run) => {
                let jobs = run.jobs_json(api, now);
                let (per_page, page) = page_params(req, actions.page_cap);
                let total = jobs.len();
                let slice: Vec<Value> = jobs
                    .into_iter()
                    .skip((page - 1) * per_page)
                    .take(per_page)
                    .collect();
                paged(
                    api,
                    req,
                    total,
                    per_page,
                    page,
                    json!({"total_count": total, "jobs": slice}),
                )
            }
            None => error(404, "Not Found"),
        },
        ["workflows", workflow, "runs"] => {
            if *workflow != WORKFLOW && *workflow != WORKFLOW_ID.to_string() {
                return error(404, "Not Found");
            }
            let branch = req.query_param("branch").map(super::percent_decode);
            let status = req.query_param("status");
            let mut runs: Vec<Value> = actions
                .runs
                .iter()
                .rev()
                .filter(|r| branch.as_deref().is_none_or(|b| r.head_branch() == b))
                .map(|r| r.json(api, now))
                .filter(|r| status.is_none_or(|s| r["status"] == s || r["conclusion"] == s))
                .collect();
            let total = runs.len();
            let (per_page, page) = page_params(req, actions.page_cap);
            let slice: Vec<Value> = runs
                .drain(..)
                .skip((page - 1) * per_page)
                .take(per_page)
                .collect();
            paged(
                api,
                req,
                total,
                per_page,
                page,
                json!({"total_count": total, "workflow_runs": slice}),
            )
        }
        _ => error(404, "Not Found"),
    }
}
