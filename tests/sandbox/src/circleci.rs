//! A fake CircleCI API v2 for `shipline lock`, driven by a simulation of builds.
//!
//! Each build is a pipeline on a branch (or a tag) with one workflow: a `test` job that runs
//! for a scripted time and succeeds or fails, optionally a `hold` approval job, and the lock's
//! job (`deploy` by default) that requires them. The lock's job is `blocked` until its
//! requirements succeed (`not_run` when one fails), then optionally `queued`, then `running`
//! until the test harness — which runs `shipline lock` inside that job — calls
//! [`CircleCi::finish`]. A dynamic-config build first shows a pipeline in `setup` with a
//! running setup workflow (`tag: setup`), and its real workflow only appears later. Time runs
//! on the wall clock; tests make it fast by scripting short durations.
//!
//! What the API reproduces (as CircleCI's OpenAPI description documents it, checked by
//! `tests/circleci_schema.rs` when the description is present):
//! - `GET /api/v2/me`, `GET /api/v2/project/{slug}/pipeline?branch=` (newest first),
//!   `GET /api/v2/pipeline/{id}/workflow`, `GET /api/v2/workflow/{id}`,
//!   `GET /api/v2/workflow/{id}/job`;
//! - slugs `gh/org/repo` and `circleci/<org-id>/<project-id>`, plain or with `/` escaped;
//! - `{"items": [...], "next_page_token": ...}` pages with an opaque `page-token`;
//! - `Circle-Token` (or HTTP Basic with the token as user name) authentication: no or a wrong
//!   token answers 401 `You must log in first.`; a project API token answers 404
//!   `Project not found` on project routes, as API v2 does;
//! - injected failures ([`Failure`]): 429 with `Retry-After`, 5xx, any status, for a number of
//!   requests or for ever; a server whose page tokens loop ([`CircleCi::loop_page_tokens`]).
//!
//! Every request is recorded with the label of the token that made it, so tests and the
//! benchmark can count requests per build.
//!
//! Known divergences: one workflow per pipeline (plus the setup workflow), no reruns, no
//! `errors` on pipelines, job numbers assigned at creation, `started_at` is `null` for jobs that
//! have not started (the OpenAPI description marks it required and non-nullable, but a job
//! that has not started has no start time; CircleCI answers `null`).

use std::collections::HashMap;
use std::io;
use std::net::TcpListener;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use serde_json::{json, Value};

use crate::server::{Request, Response, Server};
use crate::tls::ServerCert;
use crate::util::{after, base64_decode, rfc3339, uuid};

const JSON: &str = "application/json";

/// A request the fake received, with the label of the token that sent it.
#[derive(Clone, Debug)]
pub struct Recorded {
    /// The request as it arrived.
    pub request: Request,
    /// The label of the token ([`CircleCi::issue_token`]), `None` when none matched.
    pub token: Option<String>,
    /// When it arrived.
    pub at: Instant,
}

/// How to start a [`CircleCi`].
#[derive(Clone, Debug)]
pub struct Config {
    /// The project slug, `gh/org/repo` or `circleci/<org-id>/<project-id>`.
    pub project: String,
    /// Items per page of every list (CircleCI: about 20).
    pub page_size: usize,
    /// The number of the first pipeline.
    pub first_number: u64,
    /// Port on 127.0.0.1; `0` picks a free one.
    pub port: u16,
    /// Serve HTTPS with this certificate (see [`crate::tls`]); `None`: plain HTTP.
    pub tls: Option<ServerCert>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            project: "gh/acme/shop".into(),
            page_size: 20,
            first_number: 1,
            port: 0,
            tls: None,
        }
    }
}

/// A build to start.
#[derive(Clone, Debug)]
pub struct BuildSpec {
    /// The branch; `None` with a tag.
    pub branch: Option<String>,
    /// The tag of a tag build.
    pub tag: Option<String>,
    /// How long `test` runs.
    pub tests: Duration,
    /// Whether `test` fails (then the lock's job is `not_run`).
    pub tests_fail: bool,
    /// A `hold` approval job between `test` and the lock's job.
    pub approval: bool,
    /// Dynamic configuration: how long the pipeline stays in `setup` before its workflow
    /// appears.
    pub setup: Option<Duration>,
    /// How long the lock's job is `queued` before it runs.
    pub queued: Duration,
    /// The lock's job's name.
    pub job: String,
    /// The lock's job is already running, since this long ago (a build stuck "running").
    pub running_since: Option<Duration>,
}

impl BuildSpec {
    /// A build of `branch` whose tests take `tests`.
    pub fn branch(branch: &str, tests: Duration) -> BuildSpec {
        BuildSpec {
            branch: Some(branch.into()),
            tag: None,
            tests,
            tests_fail: false,
            approval: false,
            setup: None,
            queued: Duration::ZERO,
            job: "deploy".into(),
            running_since: None,
        }
    }

    /// A tag build.
    pub fn tag(tag: &str, tests: Duration) -> BuildSpec {
        BuildSpec {
            branch: None,
            tag: Some(tag.into()),
            ..BuildSpec::branch("", tests)
        }
    }

    /// Its tests fail.
    pub fn failing(mut self) -> BuildSpec {
        self.tests_fail = true;
        self
    }

    /// It waits for a manual approval before the lock's job.
    pub fn with_approval(mut self) -> BuildSpec {
        self.approval = true;
        self
    }

    /// Dynamic configuration: `setup` before its workflow exists.
    pub fn with_setup(mut self, setup: Duration) -> BuildSpec {
        self.setup = Some(setup);
        self
    }

    /// The lock's job is named `job`.
    pub fn job(mut self, job: &str) -> BuildSpec {
        self.job = job.into();
        self
    }

    /// The lock's job is queued for `d` before it runs.
    pub fn queued_for(mut self, d: Duration) -> BuildSpec {
        self.queued = d;
        self
    }

    /// The lock's job has been running since `ago` (and runs until finished).
    pub fn stuck_running(mut self, ago: Duration) -> BuildSpec {
        self.running_since = Some(ago);
        self
    }
}

/// A started build.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildRef {
    /// The pipeline number.
    pub number: u64,
    /// The pipeline id.
    pub pipeline_id: String,
    /// The workflow id (`CIRCLE_WORKFLOW_ID`).
    pub workflow_id: String,
    /// The lock's job's id (`CIRCLE_WORKFLOW_JOB_ID`).
    pub job_id: String,
    /// The lock's job's number (`CIRCLE_BUILD_NUM`).
    pub job_number: u64,
}

/// A failure to inject into matching requests before any other handling.
#[derive(Clone, Debug)]
pub struct Failure {
    /// A path prefix under `/api/v2` (`/workflow/`), or `*` for any.
    pub path: String,
    /// The status to answer.
    pub status: u16,
    /// How many matching requests fail (`usize::MAX`: all).
    pub times: usize,
    /// `Retry-After` seconds.
    pub retry_after: Option<u64>,
}

impl Failure {
    /// Fails the next `times` requests under `path` with `status` (429 gets `Retry-After: 1`).
    pub fn new(path: &str, status: u16, times: usize) -> Failure {
        Failure {
            path: path.into(),
            status,
            times,
            retry_after: (status == 429).then_some(1),
        }
    }

    /// Every request under `path` fails with `status`.
    pub fn always(path: &str, status: u16) -> Failure {
        Failure::new(path, status, usize::MAX)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Plan {
    Timed { run: Duration, succeed: bool },
    Approval,
    Lock { queued: Duration },
    Setup { run: Duration },
}

#[derive(Clone, Debug)]
struct JobRec {
    id: String,
    name: String,
    number: u64,
    deps: Vec<usize>,
    plan: Plan,
    running_since: Option<SystemTime>,
    finished: Option<(Instant, bool)>,
    approved: Option<Instant>,
}

#[derive(Clone, Debug)]
struct WorkflowRec {
    id: String,
    name: String,
    tag: Option<&'static str>,
    /// Offset from the pipeline's creation.
    starts_after: Duration,
    jobs: Vec<JobRec>,
    canceled: Option<Instant>,
}

#[derive(Clone, Debug)]
struct PipelineRec {
    id: String,
    number: u64,
    branch: Option<String>,
    tag: Option<String>,
    revision: String,
    created: Instant,
    created_wall: SystemTime,
    setup: Option<Duration>,
    workflows: Vec<WorkflowRec>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Status {
    Blocked,
    OnHold,
    Queued,
    Running,
    Success,
    Failed,
    NotRun,
    Canceled,
}

impl Status {
    fn word(self) -> &'static str {
        match self {
            Status::Blocked => "blocked",
            Status::OnHold => "on_hold",
            Status::Queued => "queued",
            Status::Running => "running",
            Status::Success => "success",
            Status::Failed => "failed",
            Status::NotRun => "not_run",
            Status::Canceled => "canceled",
        }
    }

    fn done(self) -> bool {
        matches!(
            self,
            Status::Success | Status::Failed | Status::NotRun | Status::Canceled
        )
    }
}

#[derive(Clone, Copy, Debug)]
struct JobView {
    status: Status,
    started: Option<Instant>,
    stopped: Option<Instant>,
}

struct State {
    project: String,
    aliases: Vec<String>,
    page_size: usize,
    next_number: u64,
    next_job_number: u64,
    tokens: HashMap<String, String>,
    project_tokens: Vec<String>,
    pipelines: Vec<PipelineRec>,
    failures: Vec<Failure>,
    requests: Vec<Recorded>,
    loop_tokens: bool,
    epoch: (Instant, SystemTime),
}

type Shared = Arc<Mutex<State>>;

fn lock(shared: &Shared) -> MutexGuard<'_, State> {
    shared.lock().unwrap_or_else(|e| e.into_inner())
}

/// A running fake CircleCI on 127.0.0.1. Dropping it stops the server.
pub struct CircleCi {
    shared: Shared,
    url: String,
    token: String,
    _server: Server,
}

impl CircleCi {
    /// Starts with the default configuration; panics if it cannot bind (tests).
    pub fn start() -> CircleCi {
        CircleCi::start_with(Config::default()).expect("sandbox: cannot start the fake CircleCI")
    }

    /// Starts over HTTPS with `cert` (e.g. [`crate::TestCa::server_cert`]) and the default
    /// configuration; panics if it cannot bind (tests). [`CircleCi::api_url`] is then
    /// `https://127.0.0.1:PORT/api/v2`.
    pub fn start_tls(cert: &ServerCert) -> CircleCi {
        CircleCi::start_with(Config {
            tls: Some(cert.clone()),
            ..Config::default()
        })
        .expect("sandbox: cannot start the fake CircleCI")
    }

    /// Starts with explicit settings.
    pub fn start_with(config: Config) -> io::Result<CircleCi> {
        let listener = TcpListener::bind(("127.0.0.1", config.port))?;
        let scheme = if config.tls.is_some() {
            "https"
        } else {
            "http"
        };
        let url = format!("{scheme}://{}", listener.local_addr()?);
        let token = format!("CCIPAT_{}", uuid().replace('-', ""));
        let mut tokens = HashMap::new();
        tokens.insert(token.clone(), "default".to_string());
        let state = State {
            aliases: slug_aliases(&config.project),
            project: config.project,
            page_size: config.page_size.max(1),
            next_number: config.first_number,
            next_job_number: 1,
            tokens,
            project_tokens: Vec::new(),
            pipelines: Vec::new(),
            failures: Vec::new(),
            requests: Vec::new(),
            loop_tokens: false,
            epoch: (Instant::now(), SystemTime::now()),
        };
        let shared: Shared = Arc::new(Mutex::new(state));
        let handler_state = shared.clone();
        let server = Server::serve_with(
            listener,
            Arc::new(move |req| handle(&handler_state, req)),
            config.tls.as_ref(),
        )?;
        Ok(CircleCi {
            shared,
            url,
            token,
            _server: server,
        })
    }

    /// The API base, what `SHIPLINE_CIRCLECI_API_URL` takes (`http://127.0.0.1:PORT/api/v2`;
    /// `https://` when started with TLS).
    pub fn api_url(&self) -> String {
        format!("{}/api/v2", self.url)
    }

    /// A personal API token the fake accepts (label `default`).
    pub fn token(&self) -> &str {
        &self.token
    }

    /// Issues another accepted personal token; requests made with it are recorded with
    /// `label` (one per build lets a test count requests per build).
    pub fn issue_token(&self, label: &str) -> String {
        let token = format!("CCIPAT_{}", uuid().replace('-', ""));
        lock(&self.shared)
            .tokens
            .insert(token.clone(), label.to_string());
        token
    }

    /// A project API token: API v2 refuses it.
    pub fn project_token(&self) -> String {
        let token = uuid().replace('-', "");
        lock(&self.shared).project_tokens.push(token.clone());
        token
    }

    /// The project slug.
    pub fn project(&self) -> String {
        lock(&self.shared).project.clone()
    }

    /// Sets the number of the next pipeline (e.g. 99, to cross 99 → 100).
    pub fn set_next_number(&self, number: u64) {
        lock(&self.shared).next_number = number;
    }

    /// Starts a build now.
    pub fn start_build(&self, spec: BuildSpec) -> BuildRef {
        let mut state = lock(&self.shared);
        let number = state.next_number;
        state.next_number += 1;
        let mut job_number = || {
            let n = state.next_job_number;
            state.next_job_number += 1;
            n
        };
        let job = |name: &str, deps: Vec<usize>, plan: Plan, number: u64| JobRec {
            id: uuid(),
            name: name.into(),
            number,
            deps,
            plan,
            running_since: None,
            finished: None,
            approved: None,
        };
        let mut jobs = vec![job(
            "test",
            vec![],
            Plan::Timed {
                run: spec.tests,
                succeed: !spec.tests_fail,
            },
            job_number(),
        )];
        if spec.approval {
            jobs.push(job("hold", vec![0], Plan::Approval, 0));
        }
        let last = jobs.len() - 1;
        let mut lock_job = job(
            &spec.job,
            vec![last],
            Plan::Lock {
                queued: spec.queued,
            },
            job_number(),
        );
        if let Some(ago) = spec.running_since {
            lock_job.deps.clear();
            lock_job.plan = Plan::Lock {
                queued: Duration::ZERO,
            };
            lock_job.running_since = Some(SystemTime::now() - ago);
        }
        let lock_ref = (lock_job.id.clone(), lock_job.number);
        jobs.push(lock_job);
        let workflow_id = uuid();
        let mut workflows = Vec::new();
        if let Some(setup) = spec.setup {
            workflows.push(WorkflowRec {
                id: uuid(),
                name: "setup".into(),
                tag: Some("setup"),
                starts_after: Duration::ZERO,
                jobs: vec![job(
                    "setup",
                    vec![],
                    Plan::Setup { run: setup },
                    job_number(),
                )],
                canceled: None,
            });
        }
        workflows.push(WorkflowRec {
            id: workflow_id.clone(),
            name: "build-test-deploy".into(),
            tag: None,
            starts_after: spec.setup.unwrap_or_default(),
            jobs,
            canceled: None,
        });
        let pipeline_id = uuid();
        state.pipelines.push(PipelineRec {
            id: pipeline_id.clone(),
            number,
            branch: spec.branch.clone(),
            tag: spec.tag.clone(),
            revision: crate::util::sha256_hex(pipeline_id.as_bytes())[..40].to_string(),
            created: Instant::now(),
            created_wall: SystemTime::now(),
            setup: spec.setup,
            workflows,
        });
        BuildRef {
            number,
            pipeline_id,
            workflow_id,
            job_id: lock_ref.0,
            job_number: lock_ref.1,
        }
    }

    /// The environment CircleCI gives the build's lock job, for `shipline lock` to run in:
    /// `CIRCLECI`, `CIRCLE_BRANCH` or `CIRCLE_TAG`, `CIRCLE_JOB`, `CIRCLE_WORKFLOW_ID`,
    /// `CIRCLE_BUILD_NUM`, the project variables, `CIRCLE_TOKEN` and
    /// `SHIPLINE_CIRCLECI_API_URL`.
    pub fn job_env(&self, build: &BuildRef, token: &str) -> Vec<(String, String)> {
        let state = lock(&self.shared);
        let pipeline = state
            .pipeline(&build.pipeline_id)
            .expect("a build of this sandbox");
        let workflow = pipeline.workflows.last().expect("a workflow");
        let job = workflow
            .jobs
            .iter()
            .find(|j| j.id == build.job_id)
            .expect("the lock's job");
        let mut env = vec![
            ("CIRCLECI".to_string(), "true".to_string()),
            ("CIRCLE_JOB".into(), job.name.clone()),
            ("CIRCLE_WORKFLOW_ID".into(), build.workflow_id.clone()),
            ("CIRCLE_WORKFLOW_JOB_ID".into(), build.job_id.clone()),
            ("CIRCLE_BUILD_NUM".into(), build.job_number.to_string()),
            ("CIRCLE_SHA1".into(), pipeline.revision.clone()),
            ("CIRCLE_TOKEN".into(), token.to_string()),
            (
                "SHIPLINE_CIRCLECI_API_URL".into(),
                format!("{}/api/v2", self.url),
            ),
        ];
        match (&pipeline.branch, &pipeline.tag) {
            (Some(branch), _) => env.push(("CIRCLE_BRANCH".into(), branch.clone())),
            (None, Some(tag)) => env.push(("CIRCLE_TAG".into(), tag.clone())),
            _ => {}
        }
        let parts: Vec<&str> = state.project.split('/').collect();
        if parts[0] == "circleci" {
            env.push(("CIRCLE_ORGANIZATION_ID".into(), parts[1].into()));
            env.push(("CIRCLE_PROJECT_ID".into(), parts[2].into()));
            env.push((
                "CIRCLE_REPOSITORY_URL".into(),
                "https://gitlab.com/acme/shop".into(),
            ));
        } else {
            env.push(("CIRCLE_PROJECT_USERNAME".into(), parts[1].into()));
            env.push(("CIRCLE_PROJECT_REPONAME".into(), parts[2].into()));
            env.push((
                "CIRCLE_REPOSITORY_URL".into(),
                format!("git@github.com:{}/{}.git", parts[1], parts[2]),
            ));
        }
        env
    }

    /// The lock's job's status now (`blocked`, `running`, ...).
    pub fn job_status(&self, build: &BuildRef) -> String {
        let state = lock(&self.shared);
        let (p, w, j) = state.locate(build);
        let workflow = &state.pipelines[p].workflows[w];
        job_view(&state.pipelines[p], workflow, j, Instant::now())
            .status
            .word()
            .to_string()
    }

    /// Blocks until the build's lock job runs (true), or can no longer run or `timeout`
    /// passes (false). The harness then runs `shipline lock` "inside" the job.
    pub fn wait_at_lock(&self, build: &BuildRef, timeout: Duration) -> bool {
        let until = Instant::now() + timeout;
        loop {
            match self.job_status(build).as_str() {
                "running" => return true,
                "not_run" | "canceled" | "failed" | "success" => return false,
                _ => {}
            }
            if Instant::now() >= until {
                return false;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Ends the build's `test` job now, as passed or failed, whatever duration it was
    /// started with: a build started with long tests waits for this, so a harness decides
    /// the moment (and the order) in which builds reach the lock.
    pub fn finish_tests(&self, build: &BuildRef, success: bool) {
        let mut state = lock(&self.shared);
        let (p, w, _) = state.locate(build);
        let now = Instant::now();
        let pipeline = &mut state.pipelines[p];
        let start = pipeline.created + pipeline.workflows[w].starts_after;
        for job in &mut pipeline.workflows[w].jobs {
            if let Plan::Timed { run, .. } = job.plan {
                let elapsed = now.saturating_duration_since(start);
                job.plan = Plan::Timed {
                    run: run.min(elapsed),
                    succeed: success,
                };
            }
        }
    }

    /// Ends the build's lock job (it must be running): `success` or `failed`.
    pub fn finish(&self, build: &BuildRef, success: bool) {
        let mut state = lock(&self.shared);
        let (p, w, j) = state.locate(build);
        state.pipelines[p].workflows[w].jobs[j].finished = Some((Instant::now(), success));
    }

    /// Approves the build's `hold` job.
    pub fn approve(&self, build: &BuildRef) {
        let mut state = lock(&self.shared);
        let (p, w, _) = state.locate(build);
        for job in &mut state.pipelines[p].workflows[w].jobs {
            if job.plan == Plan::Approval {
                job.approved = Some(Instant::now());
            }
        }
    }

    /// Cancels the build's workflow.
    pub fn cancel(&self, build: &BuildRef) {
        let mut state = lock(&self.shared);
        let (p, w, _) = state.locate(build);
        state.pipelines[p].workflows[w].canceled = Some(Instant::now());
    }

    /// Injects a failure.
    pub fn fail(&self, failure: Failure) {
        lock(&self.shared).failures.push(failure);
    }

    /// From now on every page token handed out points back at the second page: a listing
    /// that loops.
    pub fn loop_page_tokens(&self, on: bool) {
        lock(&self.shared).loop_tokens = on;
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Recorded> {
        lock(&self.shared).requests.clone()
    }

    /// How many requests the token labelled `label` made.
    pub fn request_count(&self, label: &str) -> usize {
        lock(&self.shared)
            .requests
            .iter()
            .filter(|r| r.token.as_deref() == Some(label))
            .count()
    }

    /// A pipeline as the API shows it (for schema checks).
    pub fn pipeline_json(&self, build: &BuildRef) -> Value {
        let state = lock(&self.shared);
        let p = state.pipeline(&build.pipeline_id).expect("a pipeline");
        state.pipeline_json(p)
    }
}

fn slug_aliases(project: &str) -> Vec<String> {
    let mut out = vec![project.to_string()];
    let parts: Vec<&str> = project.split('/').collect();
    if parts.len() == 3 {
        let long = match parts[0] {
            "gh" => Some("github"),
            "bb" => Some("bitbucket"),
            _ => None,
        };
        if let Some(long) = long {
            out.push(format!("{long}/{}/{}", parts[1], parts[2]));
        }
    }
    out
}

impl State {
    fn pipeline(&self, id: &str) -> Option<&PipelineRec> {
        self.pipelines.iter().find(|p| p.id == id)
    }

    fn locate(&self, build: &BuildRef) -> (usize, usize, usize) {
        for (p, pipeline) in self.pipelines.iter().enumerate() {
            for (w, workflow) in pipeline.workflows.iter().enumerate() {
                if let Some(j) = workflow.jobs.iter().position(|j| j.id == build.job_id) {
                    return (p, w, j);
                }
            }
        }
        panic!("sandbox: no build {build:?}");
    }

    fn wall(&self, t: Instant) -> SystemTime {
        let (i0, w0) = self.epoch;
        match t.checked_duration_since(i0) {
            Some(d) => after(w0, d),
            None => w0 - i0.duration_since(t),
        }
    }

    fn visible_workflows<'a>(
        &self,
        p: &'a PipelineRec,
        now: Instant,
    ) -> impl Iterator<Item = &'a WorkflowRec> {
        p.workflows
            .iter()
            .filter(move |w| p.created + w.starts_after <= now)
    }

    fn pipeline_state(&self, p: &PipelineRec, now: Instant) -> &'static str {
        match p.setup {
            Some(setup) if p.created + setup > now => "setup",
            _ => "created",
        }
    }

    fn pipeline_json(&self, p: &PipelineRec) -> Value {
        let now = Instant::now();
        let mut vcs = json!({
            "provider_name": "GitHub",
            "origin_repository_url": "https://github.com/acme/shop",
            "target_repository_url": "https://github.com/acme/shop",
            "revision": p.revision,
            "commit": {"subject": format!("Change {}", p.number), "body": ""},
        });
        if let Some(b) = &p.branch {
            vcs["branch"] = json!(b);
        }
        if let Some(t) = &p.tag {
            vcs["tag"] = json!(t);
        }
        json!({
            "id": p.id,
            "errors": [],
            "project_slug": self.project,
            "updated_at": rfc3339(self.wall(now.min(p.created + Duration::from_secs(1)).max(p.created))),
            "number": p.number,
            "trigger_parameters": {},
            "state": self.pipeline_state(p, now),
            "created_at": rfc3339(p.created_wall),
            "trigger": {
                "type": "webhook",
                "received_at": rfc3339(p.created_wall),
                "actor": {"login": "ada", "avatar_url": null},
            },
            "vcs": vcs,
        })
    }

    fn workflow_json(&self, p: &PipelineRec, w: &WorkflowRec, now: Instant) -> Value {
        let views: Vec<JobView> = (0..w.jobs.len()).map(|j| job_view(p, w, j, now)).collect();
        let statuses: Vec<Status> = views.iter().map(|v| v.status).collect();
        let any = |s: Status| statuses.contains(&s);
        let active = any(Status::Running) || any(Status::Queued);
        let status = if w.canceled.is_some_and(|c| c <= now) {
            "canceled"
        } else if any(Status::Failed) {
            if active {
                "failing"
            } else {
                "failed"
            }
        } else if active {
            "running"
        } else if any(Status::OnHold) {
            "on_hold"
        } else if statuses.iter().all(|s| *s == Status::Success) {
            "success"
        } else if statuses.iter().all(|s| s.done()) {
            "failed"
        } else {
            "running"
        };
        let stopped = if matches!(status, "success" | "failed" | "canceled") {
            views
                .iter()
                .filter_map(|v| v.stopped)
                .max()
                .or(w.canceled)
                .map(|t| json!(rfc3339(self.wall(t))))
                .unwrap_or(Value::Null)
        } else {
            Value::Null
        };
        let mut out = json!({
            "pipeline_id": p.id,
            "id": w.id,
            "name": w.name,
            "project_slug": self.project,
            "status": status,
            "started_by": "8d7c2a4e-4b4e-4f2e-9d2f-4b1f3c6a9e10",
            "pipeline_number": p.number,
            "created_at": rfc3339(self.wall(p.created + w.starts_after)),
            "stopped_at": stopped,
        });
        if let Some(tag) = w.tag {
            out["tag"] = json!(tag);
        }
        out
    }

    fn jobs_json(&self, p: &PipelineRec, w: &WorkflowRec, now: Instant) -> Vec<Value> {
        w.jobs
            .iter()
            .enumerate()
            .map(|(j, job)| {
                let view = job_view(p, w, j, now);
                let approval = job.plan == Plan::Approval;
                let mut out = json!({
                    "dependencies": job.deps.iter().map(|d| w.jobs[*d].id.clone()).collect::<Vec<_>>(),
                    "id": job.id,
                    "started_at": view.started.map(|t| json!(rfc3339(self.wall(t)))).unwrap_or(Value::Null),
                    "name": job.name,
                    "project_slug": self.project,
                    "status": view.status.word(),
                    "type": if approval { "approval" } else { "build" },
                    "stopped_at": view.stopped.map(|t| json!(rfc3339(self.wall(t)))).unwrap_or(Value::Null),
                });
                if let (Some(since), Status::Running) = (job.running_since, view.status) {
                    out["started_at"] = json!(rfc3339(since));
                }
                if approval {
                    out["approval_request_id"] = json!(job.id);
                } else if view.started.is_some() || job.running_since.is_some() {
                    out["job_number"] = json!(job.number);
                }
                out
            })
            .collect()
    }
}

/// A job's status at `now`, from its plan, its requirements and what the harness did.
fn job_view(p: &PipelineRec, w: &WorkflowRec, j: usize, now: Instant) -> JobView {
    let job = &w.jobs[j];
    let start = p.created + w.starts_after;
    let canceled = w.canceled.filter(|c| *c <= now);
    let mut ready = start;
    for &d in &job.deps {
        let dep = job_view(p, w, d, now);
        match dep.status {
            Status::Success => ready = ready.max(dep.stopped.unwrap_or(start)),
            Status::Failed | Status::NotRun | Status::Canceled => {
                return JobView {
                    status: if canceled.is_some() {
                        Status::Canceled
                    } else {
                        Status::NotRun
                    },
                    started: None,
                    stopped: None,
                }
            }
            _ => {
                return JobView {
                    status: if canceled.is_some() {
                        Status::Canceled
                    } else {
                        Status::Blocked
                    },
                    started: None,
                    stopped: None,
                }
            }
        }
    }
    let view = |status, started, stopped| JobView {
        status,
        started,
        stopped,
    };
    let timed = |run: Duration, succeed: bool| {
        let ends = ready + run;
        if now < ends {
            (Status::Running, Some(ready), None)
        } else if succeed {
            (Status::Success, Some(ready), Some(ends))
        } else {
            (Status::Failed, Some(ready), Some(ends))
        }
    };
    let (status, started, stopped) = match job.plan {
        Plan::Timed { run, succeed } => timed(run, succeed),
        Plan::Setup { run } => timed(run, true),
        Plan::Approval => match job.approved {
            Some(at) if at.max(ready) <= now => (Status::Success, None, Some(at.max(ready))),
            _ => (Status::OnHold, None, None),
        },
        Plan::Lock { queued } => {
            let runs_at = ready + queued;
            match job.finished {
                Some((at, ok)) if at <= now => (
                    if ok { Status::Success } else { Status::Failed },
                    Some(runs_at.min(at)),
                    Some(at),
                ),
                _ if now < runs_at && job.running_since.is_none() => (Status::Queued, None, None),
                _ => (Status::Running, Some(runs_at), None),
            }
        }
    };
    if let Some(c) = canceled {
        if !status.done() {
            return view(Status::Canceled, started, Some(c));
        }
    }
    view(status, started, stopped)
}

fn error(status: u16, message: &str) -> Response {
    Response::new(status, JSON, json!({ "message": message }).to_string())
}

fn ok(value: Value) -> Response {
    Response::new(200, JSON, value.to_string())
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A page token: the offset of the next item, made opaque.
fn page_token(offset: usize) -> String {
    crate::util::hex(format!("page:{offset}").as_bytes())
}

fn page_offset(token: &str) -> Option<usize> {
    let bytes: Vec<u8> = (0..token.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(token.get(i..i + 2)?, 16).ok())
        .collect::<Option<_>>()?;
    String::from_utf8(bytes)
        .ok()?
        .strip_prefix("page:")?
        .parse()
        .ok()
}

fn handle(shared: &Shared, request: Request) -> Response {
    let mut state = lock(shared);
    let now = Instant::now();
    let token = request
        .header("Circle-Token")
        .map(str::to_string)
        .or_else(|| {
            let basic = request.header("Authorization")?.strip_prefix("Basic ")?;
            let decoded = String::from_utf8(base64_decode(basic)?).ok()?;
            Some(decoded.split(':').next()?.to_string())
        });
    let label = token.as_ref().and_then(|t| state.tokens.get(t).cloned());
    state.requests.push(Recorded {
        request: request.clone(),
        token: label.clone(),
        at: now,
    });
    let Some(path) = request.path.strip_prefix("/api/v2") else {
        return error(404, "Not found");
    };
    let path = path.to_string();
    if let Some(f) = state
        .failures
        .iter_mut()
        .find(|f| f.times > 0 && (f.path == "*" || path.starts_with(&f.path)))
    {
        if f.times != usize::MAX {
            f.times -= 1;
        }
        let (status, retry_after) = (f.status, f.retry_after);
        let message = match status {
            429 => "Rate limit exceeded",
            500..=599 => "Internal Server Error",
            _ => "Error",
        };
        let mut response = error(status, message);
        if let Some(s) = retry_after {
            response = response.with_header("Retry-After", s.to_string());
        }
        return response;
    }
    if request.method != "GET" {
        return error(405, "Method Not Allowed");
    }
    let is_project_route = path.starts_with("/project/");
    if label.is_none() {
        if is_project_route
            && token
                .as_ref()
                .is_some_and(|t| state.project_tokens.contains(t))
        {
            return error(404, "Project not found");
        }
        return error(401, "You must log in first.");
    }
    let page_token = request.query_param("page-token").map(percent_decode);
    let offset = match page_token.as_deref().filter(|t| !t.is_empty()) {
        None => 0,
        Some(t) => match page_offset(t) {
            Some(o) => o,
            None => return error(404, "Not Found"),
        },
    };
    let segments: Vec<String> = path.split('/').skip(1).map(percent_decode).collect();
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    match segments.as_slice() {
        ["me"] => ok(json!({
            "id": "8d7c2a4e-4b4e-4f2e-9d2f-4b1f3c6a9e10",
            "login": "ada",
            "name": "Ada Lovelace",
        })),
        ["project", rest @ ..] if rest.last() == Some(&"pipeline") => {
            let slug = rest[..rest.len() - 1].join("/");
            if !state.aliases.contains(&slug) {
                return error(404, "Project not found");
            }
            let branch = request.query_param("branch").map(percent_decode);
            let items: Vec<Value> = state
                .pipelines
                .iter()
                .rev()
                .filter(|p| branch.is_none() || p.branch == branch)
                .map(|p| state.pipeline_json(p))
                .collect();
            state.page(items, offset)
        }
        ["pipeline", id, "workflow"] => {
            let Some(p) = state.pipeline(id) else {
                return error(404, "Pipeline not found");
            };
            let items: Vec<Value> = state
                .visible_workflows(p, now)
                .map(|w| state.workflow_json(p, w, now))
                .collect();
            state.page(items, offset)
        }
        ["workflow", id] => match state.find_workflow(id, now) {
            Some((p, w)) => ok(state.workflow_json(p, w, now)),
            None => error(404, "Workflow not found"),
        },
        ["workflow", id, "job"] => match state.find_workflow(id, now) {
            Some((p, w)) => {
                let items = state.jobs_json(p, w, now);
                state.page(items, offset)
            }
            None => error(404, "Workflow not found"),
        },
        _ => error(404, "Not found"),
    }
}

impl State {
    fn find_workflow(&self, id: &str, now: Instant) -> Option<(&PipelineRec, &WorkflowRec)> {
        self.pipelines.iter().find_map(|p| {
            self.visible_workflows(p, now)
                .find(|w| w.id == id)
                .map(|w| (p, w))
        })
    }

    fn page(&self, items: Vec<Value>, offset: usize) -> Response {
        let end = (offset + self.page_size).min(items.len());
        let page: Vec<Value> = items.get(offset..end).unwrap_or_default().to_vec();
        let next = if end < items.len() {
            let next = if self.loop_tokens && offset > 0 {
                offset
            } else {
                end
            };
            json!(page_token(next))
        } else {
            Value::Null
        };
        ok(json!({ "items": page, "next_page_token": next }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_tokens_round_trip() {
        assert_eq!(page_offset(&page_token(40)), Some(40));
        assert_eq!(page_offset("zz"), None);
        assert_eq!(percent_decode("gh%2Facme%2Fshop"), "gh/acme/shop");
    }
}
