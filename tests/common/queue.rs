//! The sandbox's CircleCI and GitHub Actions simulations behind one face, so that one lock
//! scenario runs on both: builds of a branch that test, wait for the lock, and finish.
//!
//! What differs between the two stays visible: the words each CI uses for a job's status,
//! the labels of tokens, and the requests each API is read with are the sandbox's own.

use std::time::Duration;

use shipline_sandbox::circleci::{self, BuildRef, BuildSpec, CircleCi};
use shipline_sandbox::github::{GitHub, RunRef, RunSpec};

/// Which CI a job runs in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Provider {
    /// CircleCI: pipelines, workflows, jobs; the lock reads API v2.
    CircleCi,
    /// GitHub Actions: workflow runs and their jobs; the lock reads the REST API.
    GitHub,
}

/// A started CI simulation.
pub enum Queue {
    /// The sandbox CircleCI.
    CircleCi(CircleCi),
    /// The sandbox GitHub.
    GitHub(GitHub),
}

/// One build (CircleCI pipeline, GitHub workflow run) of the simulation.
#[derive(Clone, Debug)]
pub enum Build {
    /// A CircleCI pipeline.
    CircleCi(BuildRef),
    /// A GitHub workflow run.
    GitHub(RunRef),
}

impl Build {
    /// Its number as the CI shows it (`#42`), which orders the queue.
    pub fn number(&self) -> u64 {
        match self {
            Build::CircleCi(b) => b.number,
            Build::GitHub(r) => r.number,
        }
    }
}

/// What a build does before its deploy job reaches the lock: the parts both CIs simulate.
#[derive(Clone, Debug)]
pub struct Spec {
    branch: Option<String>,
    tag: Option<String>,
    tests: Duration,
    failing: bool,
    approval: bool,
    stuck_running: Option<Duration>,
}

/// A [`Spec`] in the terms of one simulation, whose spec types share these builder methods
/// without a common trait (the sandbox keeps each CI's model its own).
macro_rules! in_terms_of {
    ($spec:expr, $ty:ty) => {{
        let spec = $spec;
        let mut out = match (&spec.branch, &spec.tag) {
            (Some(branch), _) => <$ty>::branch(branch, spec.tests),
            (None, Some(tag)) => <$ty>::tag(tag, spec.tests),
            (None, None) => unreachable!("a spec has a branch or a tag"),
        };
        if spec.failing {
            out = out.failing();
        }
        if spec.approval {
            out = out.with_approval();
        }
        if let Some(ago) = spec.stuck_running {
            out = out.stuck_running(ago);
        }
        out
    }};
}

impl Spec {
    /// A build of `branch` whose tests take `tests`.
    pub fn branch(branch: &str, tests: Duration) -> Spec {
        Spec {
            branch: Some(branch.to_string()),
            tag: None,
            tests,
            failing: false,
            approval: false,
            stuck_running: None,
        }
    }

    /// A build of `tag` whose tests take `tests`.
    pub fn tag(tag: &str, tests: Duration) -> Spec {
        Spec {
            tag: Some(tag.to_string()),
            branch: None,
            ..Spec::branch("", tests)
        }
    }

    /// Its tests fail, so its deploy job never runs.
    pub fn failing(mut self) -> Spec {
        self.failing = true;
        self
    }

    /// Its deploy job waits for a manual approval (CircleCI hold, GitHub environment).
    pub fn with_approval(mut self) -> Spec {
        self.approval = true;
        self
    }

    /// Its deploy job has been running for `ago` and never ends: a ghost holding the lock.
    pub fn stuck_running(mut self, ago: Duration) -> Spec {
        self.stuck_running = Some(ago);
        self
    }

    fn circleci(&self) -> BuildSpec {
        in_terms_of!(self, BuildSpec)
    }

    fn github(&self) -> RunSpec {
        in_terms_of!(self, RunSpec)
    }
}

impl Queue {
    /// Starts the simulation of `provider` with its defaults (project `gh/acme/shop`, or the
    /// repository `acme/shop`).
    pub fn start(provider: Provider) -> Queue {
        match provider {
            Provider::CircleCi => Queue::CircleCi(CircleCi::start()),
            Provider::GitHub => Queue::GitHub(GitHub::start()),
        }
    }

    /// Starts the simulation with lists of at most `size` items a page, so that a few
    /// builds span several pages.
    pub fn paged(provider: Provider, size: usize) -> Queue {
        match provider {
            Provider::CircleCi => Queue::CircleCi(
                CircleCi::start_with(circleci::Config {
                    page_size: size,
                    ..circleci::Config::default()
                })
                .unwrap(),
            ),
            Provider::GitHub => {
                let github = GitHub::start();
                github.set_runs_page_cap(size);
                Queue::GitHub(github)
            }
        }
    }

    /// Which CI this is.
    pub fn provider(&self) -> Provider {
        match self {
            Queue::CircleCi(_) => Provider::CircleCi,
            Queue::GitHub(_) => Provider::GitHub,
        }
    }

    /// The sandbox CircleCI, for what only it simulates; panics on GitHub.
    #[track_caller]
    pub fn circleci(&self) -> &CircleCi {
        match self {
            Queue::CircleCi(c) => c,
            Queue::GitHub(_) => panic!("a CircleCI test on GitHub"),
        }
    }

    /// The sandbox GitHub, for what only it simulates; panics on CircleCI.
    #[track_caller]
    pub fn github(&self) -> &GitHub {
        match self {
            Queue::GitHub(g) => g,
            Queue::CircleCi(_) => panic!("a GitHub test on CircleCI"),
        }
    }

    /// Starts a build now.
    pub fn start_build(&self, spec: Spec) -> Build {
        match self {
            Queue::CircleCi(c) => Build::CircleCi(c.start_build(spec.circleci())),
            Queue::GitHub(g) => Build::GitHub(g.start_run(spec.github())),
        }
    }

    /// Starts a build of `main` whose tests take `tests_ms` milliseconds.
    pub fn main(&self, tests_ms: u64) -> Build {
        self.start_build(Spec::branch("main", Duration::from_millis(tests_ms)))
    }

    /// Sets the number of the next build.
    pub fn set_next_number(&self, number: u64) {
        match self {
            Queue::CircleCi(c) => c.set_next_number(number),
            Queue::GitHub(g) => g.set_next_run_number(number),
        }
    }

    /// Blocks until `build`'s deploy job runs (true), or can no longer run or `timeout`
    /// passes (false).
    pub fn wait_at_lock(&self, build: &Build, timeout: Duration) -> bool {
        match (self, build) {
            (Queue::CircleCi(c), Build::CircleCi(b)) => c.wait_at_lock(b, timeout),
            (Queue::GitHub(g), Build::GitHub(r)) => g.wait_at_lock(r, timeout),
            _ => panic!("a build of another CI"),
        }
    }

    /// Expects `build`'s deploy job to run within five seconds.
    #[track_caller]
    pub fn at_lock(&self, build: &Build) {
        assert!(
            self.wait_at_lock(build, Duration::from_secs(5)),
            "#{} never reached the lock: {}",
            build.number(),
            self.lock_status(build)
        );
    }

    /// The deploy job's status in the CI's own words (CircleCI `blocked`, GitHub `waiting`,
    /// ...).
    pub fn lock_status(&self, build: &Build) -> String {
        match (self, build) {
            (Queue::CircleCi(c), Build::CircleCi(b)) => c.job_status(b),
            (Queue::GitHub(g), Build::GitHub(r)) => g.lock_job_status(r),
            _ => panic!("a build of another CI"),
        }
    }

    /// Ends `build`'s deploy job, and with it the build.
    pub fn finish(&self, build: &Build, success: bool) {
        match (self, build) {
            (Queue::CircleCi(c), Build::CircleCi(b)) => c.finish(b, success),
            (Queue::GitHub(g), Build::GitHub(r)) => g.finish_run(r, success),
            _ => panic!("a build of another CI"),
        }
    }

    /// The label of `build`'s own token, under which the CI counts its requests; also the
    /// name of the build's working directory.
    pub fn label(&self, build: &Build) -> String {
        match build {
            Build::CircleCi(b) => format!("build-{}", b.number),
            Build::GitHub(r) => format!("run-{}", r.number),
        }
    }

    /// Issues an accepted token of `build`'s own.
    pub fn issue_token(&self, build: &Build) -> String {
        let label = self.label(build);
        match self {
            Queue::CircleCi(c) => c.issue_token(&label),
            Queue::GitHub(g) => g.issue_token(&label),
        }
    }

    /// How many requests `build`'s token made.
    pub fn request_count(&self, build: &Build) -> usize {
        let label = self.label(build);
        match self {
            Queue::CircleCi(c) => c.request_count(&label),
            Queue::GitHub(g) => g.request_count(&label),
        }
    }

    /// How many requests asked for a later page of the build list (CircleCI `page-token`,
    /// GitHub `page`).
    pub fn later_pages_read(&self) -> usize {
        match self {
            Queue::CircleCi(c) => c
                .requests()
                .iter()
                .filter(|r| r.request.path.ends_with("/pipeline"))
                .filter(|r| r.request.query_param("page-token").is_some())
                .count(),
            Queue::GitHub(g) => g
                .requests()
                .iter()
                .filter(|r| r.path.ends_with("/runs") && r.query_param("page").is_some())
                .count(),
        }
    }

    /// The variables the CI gives `build`'s deploy job, with `token` as its CI token.
    pub fn job_env(&self, build: &Build, token: &str) -> Vec<(String, String)> {
        match (self, build) {
            (Queue::CircleCi(c), Build::CircleCi(b)) => c.job_env(b, token),
            (Queue::GitHub(g), Build::GitHub(r)) => g.job_env(r, token),
            _ => panic!("a build of another CI"),
        }
    }
}
