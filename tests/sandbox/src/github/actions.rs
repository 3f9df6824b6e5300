//! GitHub Actions workflow runs for `shipline lock`, driven by a simulation.
//!
//! Each run is a run of one workflow (`deploy.yml`) on a branch or a tag: a `test` job that is
//! `in_progress` for a scripted time and then `completed` (`success` or `failure`), then the
//! lock's job (`deploy` by default), created only once `test` succeeded (as GitHub creates a
//! job when its `needs` are met): `waiting` while its environment awaits approval (the run is
//! then `waiting` too), `queued` for a scripted time, `in_progress` until the harness — which
//! runs `shipline lock` inside that job — calls [`GitHub::finish_run`](super::GitHub::finish_run), then `completed`.
//! A run can be held before its jobs start ([`RunSpec::held`]), ended by the harness with
//! any conclusion GitHub answers ([`GitHub::conclude`](super::GitHub::conclude), [`RUN_CONCLUSIONS`]), or re-run
//! ([`GitHub::rerun`](super::GitHub::rerun)): a new attempt, whose `run_attempt` and `run_started_at` move, whose
//! jobs start again, and whose predecessor's jobs stay readable per attempt.
//!
//! Endpoints: `GET /repos/{o}/{r}/actions/runs` and
//! `GET /repos/{o}/{r}/actions/workflows/{workflow}/runs` (`branch`, `status`, `per_page`,
//! `page`; newest first, `Link` pagination, `total_count`), `GET /repos/{o}/{r}/actions/runs/{id}`,
//! `GET /repos/{o}/{r}/actions/runs/{id}/jobs` (`filter=latest|all`, `per_page`, `page`) and
//! `GET /repos/{o}/{r}/actions/runs/{id}/attempts/{n}/jobs`. A token issued without
//! `actions: read` answers 403 `Resource not accessible by integration`. The module
//! documentation of [`crate::github`] says what the fake does where GitHub's description
//! leaves it open.
//!
//! Known divergences: one workflow, no `created`/`event`/`actor`/`head_sha` filters, and
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
    /// Before its jobs start, the run is `requested`, `queued` or `pending` for this long.
    pub held: Option<(&'static str, Duration)>,
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
            held: None,
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

    /// The run is `status` (`requested`, `queued` or `pending`: not yet picked up, or held
    /// by a concurrency group) for `d` before its first job starts; its first job shows the
    /// same status meanwhile.
    pub fn held(mut self, status: &'static str, d: Duration) -> RunSpec {
        assert!(
            matches!(status, "requested" | "queued" | "pending"),
            "a run is held as requested, queued or pending, not {status}"
        );
        self.held = Some((status, d));
        self
    }
}

/// Run conclusions GitHub answers: every one the `status` filter of run listings documents,
/// and `startup_failure` (a workflow file that could not start a run).
pub const RUN_CONCLUSIONS: [&str; 9] = [
    "action_required",
    "cancelled",
    "failure",
    "neutral",
    "skipped",
    "stale",
    "startup_failure",
    "success",
    "timed_out",
];

/// A started run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunRef {
    /// `GITHUB_RUN_ID`.
    pub id: u64,
    /// `GITHUB_RUN_NUMBER`.
    pub number: u64,
}

/// A job as one attempt shows it: id, name and where it stands.
type JobRec = (u64, String, JobView);

/// An attempt a re-run replaced: its jobs as they stood when it was replaced.
#[derive(Clone, Debug)]
struct PastAttempt {
    attempt: u64,
    jobs: Vec<JobRec>,
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
    /// Ended by the harness with this run conclusion (cancelled, timed out, ...).
    ended: Option<(SystemTime, &'static str)>,
    test_job: u64,
    lock_job: u64,
    past: Vec<PastAttempt>,
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
    created: SystemTime,
    started: Option<SystemTime>,
    completed: Option<SystemTime>,
}

impl JobView {
    fn pending(status: &'static str, created: SystemTime) -> JobView {
        JobView {
            status,
            conclusion: None,
            created,
            started: None,
            completed: None,
        }
    }
}

/// The job conclusion that a run conclusion leaves on a job still in flight; `None` when the
/// run never started any job.
fn job_conclusion(run_conclusion: &'static str) -> Option<&'static str> {
    match run_conclusion {
        "startup_failure" => None,
        // A stale run's jobs never finished on their own.
        "stale" => Some("cancelled"),
        other => Some(other),
    }
}

impl RunRec {
    /// When `test` starts: after the hold, if any.
    fn tests_start(&self) -> SystemTime {
        after(
            self.started,
            self.spec.held.map(|(_, d)| d).unwrap_or_default(),
        )
    }

    fn tests_end(&self) -> SystemTime {
        after(self.tests_start(), self.spec.tests)
    }

    fn test_view(&self, now: SystemTime) -> JobView {
        let start = self.tests_start();
        let end = self.tests_end();
        if self.spec.running_since.is_some() || now >= end {
            JobView {
                status: "completed",
                conclusion: Some(if self.spec.tests_fail {
                    "failure"
                } else {
                    "success"
                }),
                created: self.started,
                started: Some(start),
                completed: Some(end),
            }
        } else if now < start {
            let status = self.spec.held.map(|(s, _)| s).unwrap_or("queued");
            JobView::pending(status, self.started)
        } else {
            JobView {
                status: "in_progress",
                conclusion: None,
                created: self.started,
                started: Some(start),
                completed: None,
            }
        }
    }

    /// The lock's job, `None` until it is created.
    fn lock_view(&self, now: SystemTime) -> Option<JobView> {
        let tests_end = self.tests_end();
        let ready = match self.spec.running_since {
            Some(ago) => self.created.checked_sub(ago).unwrap_or(self.created),
            None => {
                if self.spec.tests_fail || now < tests_end {
                    return None;
                }
                if self.spec.approval {
                    match self.approved {
                        Some(at) if at <= now => at.max(tests_end),
                        _ => return Some(JobView::pending("waiting", tests_end)),
                    }
                } else {
                    tests_end
                }
            }
        };
        let created = if self.spec.running_since.is_some() {
            ready
        } else {
            tests_end
        };
        let queued = if self.spec.running_since.is_some() {
            Duration::ZERO
        } else {
            self.spec.queued
        };
        let running = after(ready, queued);
        if now < running {
            return Some(JobView::pending("queued", created));
        }
        Some(match self.finished {
            Some((at, ok)) if at <= now => JobView {
                status: "completed",
                conclusion: Some(if ok { "success" } else { "failure" }),
                created,
                started: Some(running),
                completed: Some(at),
            },
            _ => JobView {
                status: "in_progress",
                conclusion: None,
                created,
                started: Some(running),
                completed: None,
            },
        })
    }

    /// The current attempt's jobs at `now`, as the harness's endings leave them.
    fn jobs(&self, now: SystemTime) -> Vec<JobRec> {
        let ended = self.ended.filter(|(at, _)| *at <= now);
        let at = ended.map(|(at, _)| at.min(now)).unwrap_or(now);
        if let Some((_, c)) = ended {
            if job_conclusion(c).is_none() {
                return Vec::new();
            }
        }
        let mut jobs = vec![(self.test_job, "test".to_string(), self.test_view(at))];
        if let Some(v) = self.lock_view(at) {
            jobs.push((self.lock_job, self.spec.job.clone(), v));
        }
        if let Some((end, c)) = ended {
            for (_, _, v) in &mut jobs {
                if v.status != "completed" {
                    v.status = "completed";
                    v.conclusion = job_conclusion(c);
                    v.completed = Some(end);
                }
            }
        }
        jobs
    }

    fn status(&self, now: SystemTime) -> (&'static str, Option<&'static str>, SystemTime) {
        let mut updated = self.started;
        if let Some((at, c)) = self.ended.filter(|(at, _)| *at <= now) {
            return ("completed", Some(c), updated.max(at));
        }
        let test = self.test_view(now);
        if let Some(t) = test.completed {
            updated = updated.max(t);
        }
        if now < self.tests_start() {
            return (test.status, None, updated);
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

    /// The branch, or the tag of a tag build; `null` when it has neither.
    fn head_branch(&self) -> Option<String> {
        self.spec
            .branch
            .clone()
            .filter(|b| !b.is_empty())
            .or_else(|| self.spec.tag.clone())
    }

    fn head_sha(&self) -> String {
        format!("{:040x}", self.id)
    }

    fn json(&self, api: &str, now: SystemTime) -> Value {
        let (status, conclusion, updated) = self.status(now);
        let run_url = format!("{api}/repos/{REPOSITORY}/actions/runs/{}", self.id);
        let actor = super::user(api, "ada");
        let repository = super::repository(api, REPOSITORY);
        let author = json!({"name": "Ada", "email": "ada@example.com"});
        json!({
            "id": self.id,
            "name": "Deploy",
            "node_id": format!("WFR_{}", self.id),
            "check_suite_id": self.id + 1,
            "check_suite_node_id": format!("CS_{}", self.id + 1),
            "head_branch": self.head_branch(),
            "head_sha": self.head_sha(),
            "path": format!(".github/workflows/{WORKFLOW}"),
            "display_title": format!("Change {}", self.number),
            "run_number": self.number,
            "run_attempt": self.attempt,
            "referenced_workflows": [],
            "event": "push",
            "status": status,
            "conclusion": conclusion,
            "workflow_id": WORKFLOW_ID,
            "url": run_url,
            "html_url": format!("https://github.com/{REPOSITORY}/actions/runs/{}", self.id),
            "pull_requests": [],
            "created_at": rfc3339(self.created),
            "updated_at": rfc3339(updated),
            "actor": actor,
            "triggering_actor": actor,
            "run_started_at": rfc3339(self.started),
            "jobs_url": format!("{run_url}/jobs"),
            "logs_url": format!("{run_url}/logs"),
            "check_suite_url": format!("{api}/repos/{REPOSITORY}/check-suites/{}", self.id + 1),
            "artifacts_url": format!("{run_url}/artifacts"),
            "cancel_url": format!("{run_url}/cancel"),
            "rerun_url": format!("{run_url}/rerun"),
            "previous_attempt_url": (self.attempt > 1)
                .then(|| format!("{run_url}/attempts/{}", self.attempt - 1)),
            "workflow_url": format!("{api}/repos/{REPOSITORY}/actions/workflows/{WORKFLOW_ID}"),
            "head_commit": {
                "id": self.head_sha(),
                "tree_id": format!("{:040x}", self.id + 7),
                "message": format!("Change {}", self.number),
                "timestamp": rfc3339(self.created),
                "author": author,
                "committer": author,
            },
            "repository": repository,
            "head_repository": repository,
            "head_repository_id": repository["id"],
        })
    }

    fn job_json(&self, api: &str, attempt: u64, (id, name, v): &JobRec) -> Value {
        let started = v.started.is_some();
        // GitHub gives a job that has not started its creation time as `started_at`.
        let started_at = v.started.unwrap_or(v.created);
        let steps = match (v.started, v.status) {
            (Some(s), "completed") => json!([{
                "name": "Set up job", "status": "completed", "conclusion": v.conclusion,
                "number": 1, "started_at": rfc3339(s),
                "completed_at": v.completed.map(rfc3339),
            }]),
            (Some(s), _) => json!([{
                "name": "Set up job", "status": "in_progress", "conclusion": null,
                "number": 1, "started_at": rfc3339(s), "completed_at": null,
            }]),
            (None, _) => json!([]),
        };
        json!({
            "id": id,
            "run_id": self.id,
            "run_url": format!("{api}/repos/{REPOSITORY}/actions/runs/{}", self.id),
            "run_attempt": attempt,
            "node_id": format!("CR_{id}"),
            "head_sha": self.head_sha(),
            "url": format!("{api}/repos/{REPOSITORY}/actions/jobs/{id}"),
            "html_url": format!("https://github.com/{REPOSITORY}/actions/runs/{}/job/{id}", self.id),
            "status": v.status,
            "conclusion": v.conclusion,
            "created_at": rfc3339(v.created),
            "started_at": rfc3339(started_at),
            "completed_at": v.completed.map(rfc3339),
            "name": name,
            "steps": steps,
            "check_run_url": format!("{api}/repos/{REPOSITORY}/check-runs/{id}"),
            "labels": ["ubuntu-latest"],
            "runner_id": started.then_some(id % 1000 + 1),
            "runner_name": started.then(|| format!("GitHub Actions {}", id % 1000 + 1)),
            "runner_group_id": started.then_some(1),
            "runner_group_name": started.then_some("GitHub Actions"),
            "workflow_name": "Deploy",
            "head_branch": self.head_branch(),
        })
    }

    /// The jobs of the latest attempt (`all`: of every attempt, oldest attempt first).
    fn jobs_json(&self, api: &str, now: SystemTime, all: bool) -> Vec<Value> {
        let mut out = Vec::new();
        if all {
            for past in &self.past {
                out.extend(
                    past.jobs
                        .iter()
                        .map(|j| self.job_json(api, past.attempt, j)),
                );
            }
        }
        out.extend(
            self.jobs(now)
                .iter()
                .map(|j| self.job_json(api, self.attempt, j)),
        );
        out
    }

    /// The jobs of attempt `n`, `None` when there is no such attempt.
    fn attempt_jobs_json(&self, api: &str, now: SystemTime, n: u64) -> Option<Vec<Value>> {
        if n == self.attempt {
            return Some(self.jobs_json(api, now, false));
        }
        let past = self.past.iter().find(|p| p.attempt == n)?;
        Some(past.jobs.iter().map(|j| self.job_json(api, n, j)).collect())
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
            ended: None,
            test_job: id + 1,
            lock_job: id + 2,
            past: Vec::new(),
        });
        RunRef { id, number }
    }

    pub(super) fn set_next_number(&mut self, n: u64) {
        self.next_number = n;
    }

    fn run(&self, r: &RunRef) -> &RunRec {
        self.runs
            .iter()
            .find(|x| x.id == r.id)
            .expect("a run of this sandbox")
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

    pub(super) fn conclude(&mut self, r: &RunRef, conclusion: &'static str) {
        assert!(
            RUN_CONCLUSIONS.contains(&conclusion),
            "{conclusion} is not a run conclusion GitHub answers"
        );
        self.run_mut(r).ended = Some((SystemTime::now(), conclusion));
    }

    pub(super) fn finish_tests(&mut self, r: &RunRef, success: bool) {
        let run = self.run_mut(r);
        let elapsed = SystemTime::now()
            .duration_since(run.tests_start())
            .unwrap_or_default();
        run.spec.tests = run.spec.tests.min(elapsed);
        run.spec.tests_fail = !success;
    }

    pub(super) fn approve(&mut self, r: &RunRef) {
        self.run_mut(r).approved = Some(SystemTime::now());
    }

    pub(super) fn rerun(&mut self, r: &RunRef) {
        let now = SystemTime::now();
        let run = self.run_mut(r);
        let jobs = run.jobs(now);
        run.past.push(PastAttempt {
            attempt: run.attempt,
            jobs,
        });
        run.attempt += 1;
        run.started = now;
        run.finished = None;
        run.approved = None;
        run.ended = None;
        run.spec.running_since = None;
        run.spec.held = None;
        run.test_job += 10;
        run.lock_job += 10;
    }

    pub(super) fn lock_status(&self, r: &RunRef) -> String {
        let run = self.run(r);
        let now = SystemTime::now();
        run.jobs(now)
            .into_iter()
            .find(|(id, _, _)| *id == run.lock_job)
            .map(|(_, _, v)| v.conclusion.unwrap_or(v.status).to_string())
            .unwrap_or_else(|| match run.status(now) {
                ("completed", _, _) => "never".into(),
                _ => "not created".into(),
            })
    }

    pub(super) fn env(&self, r: &RunRef) -> Vec<(String, String)> {
        let run = self.run(r);
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
            (
                "GITHUB_REF_NAME".into(),
                run.head_branch().unwrap_or_default(),
            ),
            ("GITHUB_REF_TYPE".into(), kind.into()),
            ("GITHUB_JOB".into(), run.spec.job.clone()),
            ("GITHUB_EVENT_NAME".into(), "push".into()),
            ("GITHUB_SERVER_URL".into(), "https://github.com".into()),
        ]
    }
}

pub(super) fn page_params(req: &Request, cap: usize) -> (usize, usize) {
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

pub(super) fn paged(
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

/// One page of `items`, under `key`, with `total_count` and the `Link` header.
fn listing(api: &str, req: &Request, cap: usize, key: &str, items: Vec<Value>) -> Response {
    let total = items.len();
    let (per_page, page) = page_params(req, cap);
    let slice: Vec<Value> = items
        .into_iter()
        .skip((page - 1).saturating_mul(per_page))
        .take(per_page)
        .collect();
    paged(
        api,
        req,
        total,
        per_page,
        page,
        json!({"total_count": total, key: slice}),
    )
}

/// Answers `/repos/{owner}/{repo}/actions/{rest}`.
pub(super) fn route(state: &State, owner: &str, repo: &str, rest: &str, req: &Request) -> Response {
    if !format!("{owner}/{repo}").eq_ignore_ascii_case(REPOSITORY) {
        return error(404, "Not Found");
    }
    let now = SystemTime::now();
    let actions = &state.actions;
    let api = state.url.as_str();
    let cap = actions.page_cap;
    let find = |id: &str| actions.runs.iter().find(|r| id.parse() == Ok(r.id));
    let parts: Vec<&str> = rest.split('/').collect();
    match parts.as_slice() {
        ["runs", id] => match find(id) {
            Some(run) => Response::new(200, JSON, run.json(api, now).to_string()),
            None => error(404, "Not Found"),
        },
        ["runs", id, "jobs"] => match find(id) {
            Some(run) => {
                let all = req.query_param("filter") == Some("all");
                listing(api, req, cap, "jobs", run.jobs_json(api, now, all))
            }
            None => error(404, "Not Found"),
        },
        ["runs", id, "attempts", n, "jobs"] => {
            match find(id).and_then(|run| run.attempt_jobs_json(api, now, n.parse().ok()?)) {
                Some(jobs) => listing(api, req, cap, "jobs", jobs),
                None => error(404, "Not Found"),
            }
        }
        ["runs"] => listing(api, req, cap, "workflow_runs", runs(actions, api, now, req)),
        ["workflows", workflow, "runs"] => {
            if *workflow != WORKFLOW && *workflow != WORKFLOW_ID.to_string() {
                return error(404, "Not Found");
            }
            listing(api, req, cap, "workflow_runs", runs(actions, api, now, req))
        }
        _ => error(404, "Not Found"),
    }
}

/// The runs the query's `branch` and `status` select (a status filter matches a run's
/// `status` or its `conclusion`), newest first.
fn runs(actions: &Actions, api: &str, now: SystemTime, req: &Request) -> Vec<Value> {
    let branch = req.query_param("branch").map(super::percent_decode);
    let status = req.query_param("status");
    actions
        .runs
        .iter()
        .rev()
        .filter(|r| branch.is_none() || r.head_branch() == branch)
        .map(|r| r.json(api, now))
        .filter(|r| status.is_none_or(|s| r["status"] == s || r["conclusion"] == s))
        .collect()
}
