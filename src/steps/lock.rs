//! `shipline lock`: one deploy at a time per branch, and (in `latest` mode) superseded builds
//! skip.
//!
//! The step reads the CI's own record of its builds ([`Queue`]), asks the pure [`decide`] what
//! to do, and acts: waits (saying whom behind, each poll), proceeds after a confirming second
//! read, skips, or gives up at `--timeout` as `--on-timeout` says. There is no lock state of
//! shipline's own: nothing to leak, nothing to go stale.
//!
//! Polling is frugal. Each poll re-reads only the build this one waits behind directly (and, in
//! `latest` mode, the nearest newer build not yet at the lock): while that build blocks,
//! nothing older can let this one go. A read of the queue happens at the start, whenever a
//! watched build changes, and in `latest` mode every [`FULL_READ_EVERY`] polls; each
//! provider's read looks only at what can have changed since the last one and can matter
//! (CircleCI: new pipelines, workflows not over; GitHub: conditional requests that GitHub
//! answers 304, outside the rate limit, while nothing changed). Taking the lock is confirmed
//! a moment later by [`Queue::read_all`], which takes no such shortcut; a skip is confirmed by
//! re-reading the newer build alone.

mod circleci;
mod github;

use std::collections::HashSet;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{anyhow, Result};
use serde_json::json;

use crate::ci::{self, Provider};
use crate::circleci::{CircleCi, ProjectSlug, DEFAULT_API_URL};
use crate::cli::{LockArgs, LockProvider, OnTimeout};
use crate::lock::{decide, Build, JobState, LockVerdict, Mode, Policy};
use crate::outcome::Outcome;
use crate::state::State;
use crate::time::human;
use crate::usage::UsageError;

/// Default poll on CircleCI.
pub const CIRCLECI_POLL: Duration = Duration::from_secs(10);
/// Default poll on GitHub Actions (its token allows 1,000 requests an hour per repository).
pub const GITHUB_POLL: Duration = Duration::from_secs(30);
/// In `latest` mode, a read of the queue at least every this many polls, whatever the watched
/// builds do: it catches what watching cannot see, a newer build other than the watched one
/// reaching the lock. In `queue` mode nothing but the build waited behind can end the wait,
/// and it is re-read every poll.
pub const FULL_READ_EVERY: u32 = 12;

/// The CI's record of the builds of one job on one branch.
pub trait Queue {
    /// The build this step runs in.
    fn own(&self) -> &Build;
    /// What is locked, for messages: job, branch, project, CI.
    fn scope(&self) -> String;
    /// Reads the builds that can matter: the earlier ones, and with `newer` the later ones. A
    /// queue may read only what can have changed since its last read and carry the rest
    /// over, and may stop at the nearest earlier build that blocks (enough to wait).
    fn read(&mut self, newer: bool) -> Result<Vec<Build>>;
    /// A read that may not take shortcuts: the one that confirms taking the lock. A queue
    /// whose [`Queue::read`] looks at newer builds only until the nearest one still in its
    /// tests (enough to wait, not to deploy), or at earlier ones only until one blocks, reads
    /// them all here.
    fn read_all(&mut self, newer: bool) -> Result<Vec<Build>> {
        self.read(newer)
    }
    /// Re-reads one build cheaply; `None` when that cannot be done (then a full read follows).
    fn refresh(&mut self, build: &Build) -> Result<Option<Build>>;
}

/// How the wait is paced.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// Interval between polls.
    pub poll: Duration,
    /// Longest wait.
    pub timeout: Duration,
    /// Pause before the confirming second read: a fraction of the poll, so that the hand-off
    /// from one build to the next stays within a poll interval plus a second.
    pub confirm: Duration,
}

impl Timing {
    /// The timing for a poll interval and a timeout.
    pub fn new(poll: Duration, timeout: Duration) -> Timing {
        Timing {
            poll,
            timeout,
            confirm: (poll / 20).clamp(Duration::from_millis(1), Duration::from_secs(1)),
        }
    }
}

/// How a wait ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// The lock is this build's.
    Proceed,
    /// A newer build supersedes this one.
    Skip(Build),
    /// `--timeout` passed; these builds were still ahead.
    TimedOut(Vec<Build>),
}

/// What the wait saw, for the log and the state file.
#[derive(Debug, Clone, Default)]
pub struct Waited {
    /// How long it took.
    pub elapsed: Duration,
    /// How many polls.
    pub polls: u32,
    /// Every build waited behind, by number, in the order first seen.
    pub behind: Vec<u64>,
    /// Builds ignored as stale, by number.
    pub stale: Vec<u64>,
}

/// Waits for this build's turn.
pub fn wait_turn(
    queue: &mut dyn Queue,
    policy: &Policy,
    timing: &Timing,
) -> Result<(Ending, Waited)> {
    let started = Instant::now();
    let deadline = started + timing.timeout;
    let newer = policy.mode == Mode::Latest;
    let own = queue.own().key.clone();
    let mut waited = Waited::default();
    let mut reported_stale = HashSet::new();
    let mut view = queue.read(newer)?;
    let mut since_full = 0;
    // Set when a watched build changed in a way that matters: the view is partly fresh and
    // partly as old as the last full read, good enough to act on only through a full read.
    let mut dirty = false;
    loop {
        let now = SystemTime::now();
        let verdict = decide(&own, &view, policy, now);
        for build in verdict.stale() {
            if reported_stale.insert(build.key.clone()) {
                waited.stale.push(build.number);
                ci::warn(&format!(
                    "Ignoring #{}: its job has been {}, longer than --stale-after {} ({})",
                    build.number,
                    build.situation(now),
                    human(policy.stale_after.unwrap_or_default()),
                    build.link
                ));
            }
        }
        match verdict {
            LockVerdict::Skip { ref by, .. } => {
                // A newer build at the lock (or done) is enough to skip whatever else the API
                // has yet to show, so confirming it means re-reading that build alone.
                crate::signal::sleep(timing.confirm)?;
                if let Some(fresh) = queue.refresh(by)? {
                    if fresh.state.supersedes() {
                        waited.elapsed = started.elapsed();
                        return Ok((Ending::Skip(fresh), waited));
                    }
                }
                view = queue.read(newer)?;
                since_full = 0;
                dirty = false;
            }
            LockVerdict::Proceed { .. } => {
                // Confirm with a full read a moment later: the API may lag behind a build that
                // just started, and two builds deciding at once must both see each other.
                crate::signal::sleep(timing.confirm)?;
                view = queue.read_all(newer)?;
                since_full = 0;
                dirty = false;
                let again = decide(&own, &view, policy, SystemTime::now());
                if !again.agrees_with(&verdict) {
                    continue;
                }
                waited.elapsed = started.elapsed();
                return Ok(match again {
                    LockVerdict::Skip { by, .. } => (Ending::Skip(by), waited),
                    _ => (Ending::Proceed, waited),
                });
            }
            LockVerdict::Wait { behind, .. } => {
                if dirty {
                    view = queue.read(newer)?;
                    since_full = 0;
                    dirty = false;
                    continue;
                }
                for b in &behind {
                    if !waited.behind.contains(&b.number) {
                        waited.behind.push(b.number);
                    }
                }
                let left = deadline.saturating_duration_since(Instant::now());
                say_waiting(&behind, now, started.elapsed(), timing.timeout);
                if left.is_zero() {
                    waited.elapsed = started.elapsed();
                    return Ok((Ending::TimedOut(behind), waited));
                }
                crate::signal::sleep(timing.poll.min(left))?;
                waited.polls += 1;
                since_full += 1;
                if newer && since_full >= FULL_READ_EVERY {
                    view = queue.read(newer)?;
                    since_full = 0;
                    continue;
                }
                // Between full reads, watch the build waited behind directly and, in latest
                // mode, the nearest newer build not yet at the lock.
                let mut watched = vec![(behind[0].clone(), true)];
                if newer {
                    let nearest_newer = view
                        .iter()
                        .filter(|b| b.key > own && !b.state.supersedes())
                        .filter(|b| b.state != JobState::Ended)
                        .min_by(|a, b| a.key.cmp(&b.key));
                    watched.extend(nearest_newer.map(|b| (b.clone(), false)));
                }
                for (old, earlier) in watched {
                    let Some(fresh) = queue.refresh(&old)? else {
                        dirty = true;
                        continue;
                    };
                    let matters = if earlier {
                        !fresh.state.blocks(policy.include_on_hold)
                    } else {
                        fresh.state.supersedes() || fresh.state == JobState::Ended
                    };
                    dirty |= matters;
                    if let Some(slot) = view.iter_mut().find(|b| b.key == fresh.key) {
                        *slot = fresh;
                    }
                }
            }
        }
    }
}

fn say_waiting(behind: &[Build], now: SystemTime, elapsed: Duration, timeout: Duration) {
    let first = &behind[0];
    let mut line = format!("Waiting behind {}", first.describe(now));
    if behind.len() > 1 {
        let others: Vec<String> = behind[1..]
            .iter()
            .map(|b| format!("#{} {}", b.number, short_state(b, now)))
            .collect();
        line.push_str(&format!(
            "; {} earlier builds in flight in all (also {})",
            behind.len(),
            others.join(", ")
        ));
    }
    line.push_str(&format!(
        " · waited {} of {}",
        human(elapsed),
        human(timeout)
    ));
    ci::say(&line);
}

fn short_state(build: &Build, now: SystemTime) -> String {
    match (&build.state, build.running_for(now)) {
        (JobState::Running, Some(d)) => format!("running {}", human(d)),
        (JobState::Running, None) => "running".into(),
        (JobState::Queued, _) => "queued".into(),
        (JobState::Blocked, _) => "blocked".into(),
        (JobState::OnHold, _) => "on hold".into(),
        (JobState::Pending, _) => "setting up".into(),
        (JobState::Unknown(s), _) => s.clone(),
        (JobState::Succeeded | JobState::Ended, _) => "finished".into(),
    }
}

/// What `shipline lock` needs on CircleCI, resolved from flags and CircleCI's variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CircleSetup {
    /// API base.
    pub api_url: String,
    /// Personal API token.
    pub token: String,
    /// The project.
    pub slug: ProjectSlug,
    /// The branch whose deploys queue together.
    pub branch: String,
    /// The job's name.
    pub job: String,
    /// The own workflow (`CIRCLE_WORKFLOW_ID`).
    pub workflow_id: String,
}

/// Resolves the CircleCI setup: flags first, then CircleCI's variables. A tag build has no
/// branch; it must say which branch it queues with (`--branch`) rather than have one guessed.
pub fn circle_setup(
    args: &LockArgs,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<CircleSetup, UsageError> {
    let var = |name: &str| env(name).filter(|v| !v.trim().is_empty());
    let branch = match (&args.branch, var("CIRCLE_BRANCH"), var("CIRCLE_TAG")) {
        (Some(b), _, _) => b.clone(),
        (None, Some(b), _) => b,
        (None, None, Some(tag)) => {
            return Err(UsageError(format!(
                "this is a tag build (CIRCLE_TAG={tag}): it has no branch, and shipline will not guess which branch's deploys it queues with; pass --branch NAME (or set SHIPLINE_BRANCH), e.g. --branch main"
            )))
        }
        (None, None, None) => {
            return Err(UsageError(
                "no branch to lock on: CIRCLE_BRANCH is not set; pass --branch NAME (or set SHIPLINE_BRANCH)".into(),
            ))
        }
    };
    let job = args
        .job
        .clone()
        .or_else(|| var("CIRCLE_JOB"))
        .ok_or_else(|| {
            UsageError(
                "no job to lock on: CIRCLE_JOB is not set; pass --job NAME (or set SHIPLINE_JOB)"
                    .into(),
            )
        })?;
    let workflow_id = var("CIRCLE_WORKFLOW_ID").ok_or_else(|| {
        UsageError(
            "CIRCLE_WORKFLOW_ID is not set: shipline lock finds its own pipeline through it (CircleCI sets it in every job; run the lock inside a CircleCI job)".into(),
        )
    })?;
    let slug = match &args.project {
        Some(text) => ProjectSlug::parse(text).map_err(|why| UsageError(format!("--project: {why}")))?,
        None => ProjectSlug::from_env(var).ok_or_else(|| {
            UsageError(
                "cannot tell the CircleCI project: CIRCLE_PROJECT_USERNAME/CIRCLE_PROJECT_REPONAME and CIRCLE_ORGANIZATION_ID/CIRCLE_PROJECT_ID are not set; pass --project gh/ORG/REPO or circleci/ORG-ID/PROJECT-ID (or set SHIPLINE_PROJECT)".into(),
            )
        })?,
    };
    let token = var("CIRCLE_TOKEN").ok_or_else(|| {
        UsageError(
            "CIRCLE_TOKEN is not set: shipline lock reads the build queue through CircleCI API v2, which needs a personal API token (CircleCI → User Settings → Personal API Tokens; project tokens do not work with API v2); add it to the job's context or project environment variables".into(),
        )
    })?;
    let api_url = var("SHIPLINE_CIRCLECI_API_URL").unwrap_or_else(|| DEFAULT_API_URL.into());
    crate::http::check_credential_url("SHIPLINE_CIRCLECI_API_URL", &api_url).map_err(UsageError)?;
    Ok(CircleSetup {
        api_url,
        token,
        slug,
        branch,
        job,
        workflow_id,
    })
}

/// What `shipline lock` needs on GitHub Actions, resolved from flags and GitHub's variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitHubSetup {
    /// API base (`GITHUB_API_URL`).
    pub api_url: String,
    /// `GITHUB_TOKEN`.
    pub token: String,
    /// `owner/repo` (`GITHUB_REPOSITORY`).
    pub repository: String,
    /// The workflow file name, from `GITHUB_WORKFLOW_REF`.
    pub workflow: String,
    /// The branch whose deploys queue together.
    pub branch: String,
    /// The job's name.
    pub job: String,
    /// The own run (`GITHUB_RUN_ID`).
    pub run_id: u64,
}

/// The workflow file of `GITHUB_WORKFLOW_REF` (`owner/repo/.github/workflows/deploy.yml@refs/…`
/// → `deploy.yml`), as the API's `workflow_id` takes it.
pub fn workflow_file(workflow_ref: &str, repository: &str) -> Option<String> {
    let path = workflow_ref.split('@').next()?;
    let path = path
        .strip_prefix(repository)
        .and_then(|p| p.strip_prefix('/'))
        .unwrap_or(path);
    let file = path.rsplit('/').next()?.trim();
    (!file.is_empty()).then(|| file.to_string())
}

/// Resolves the GitHub Actions setup: flags first, then GitHub's variables. A tag build has
/// no branch; it must say which branch it queues with (`--branch`).
pub fn github_setup(
    args: &LockArgs,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<GitHubSetup, UsageError> {
    let var = |name: &str| env(name).filter(|v| !v.trim().is_empty());
    let is_tag = var("GITHUB_REF_TYPE").as_deref() == Some("tag")
        || var("GITHUB_REF").is_some_and(|r| r.starts_with("refs/tags/"));
    let branch = match (&args.branch, var("GITHUB_REF_NAME")) {
        (Some(b), _) => b.clone(),
        (None, Some(tag)) if is_tag => {
            return Err(UsageError(format!(
                "this is a tag build (GITHUB_REF_NAME={tag} is a tag): it has no branch, and shipline will not guess which branch's deploys it queues with; pass --branch NAME (or set SHIPLINE_BRANCH), e.g. --branch main"
            )))
        }
        (None, Some(b)) => b,
        (None, None) => {
            return Err(UsageError(
                "no branch to lock on: GITHUB_REF_NAME is not set; pass --branch NAME (or set SHIPLINE_BRANCH)".into(),
            ))
        }
    };
    let job = args
        .job
        .clone()
        .or_else(|| var("GITHUB_JOB"))
        .ok_or_else(|| {
            UsageError(
                "no job to lock on: GITHUB_JOB is not set; pass --job NAME (or set SHIPLINE_JOB)"
                    .into(),
            )
        })?;
    let repository = var("GITHUB_REPOSITORY")
        .filter(|r| r.contains('/'))
        .ok_or_else(|| {
            UsageError(
                "GITHUB_REPOSITORY (owner/repo) is not set: run the lock inside a GitHub Actions job".into(),
            )
        })?;
    let workflow = var("GITHUB_WORKFLOW_REF")
        .and_then(|r| workflow_file(&r, &repository))
        .ok_or_else(|| {
            UsageError(
                "GITHUB_WORKFLOW_REF is not set: shipline lock finds the workflow's runs through it (GitHub sets it in every job; run the lock inside a GitHub Actions job)".into(),
            )
        })?;
    let run_id = var("GITHUB_RUN_ID")
        .and_then(|id| id.trim().parse().ok())
        .ok_or_else(|| {
            UsageError(
                "GITHUB_RUN_ID is not set (or not a number): shipline lock finds its own run through it; run the lock inside a GitHub Actions job".into(),
            )
        })?;
    let token = var("GITHUB_TOKEN").ok_or_else(|| {
        UsageError(
            "GITHUB_TOKEN is not set: shipline lock reads the workflow's runs through the GitHub API; pass `GITHUB_TOKEN: ${{ github.token }}` in the step's env and grant `actions: read` in the workflow's `permissions`".into(),
        )
    })?;
    let api_url = var("GITHUB_API_URL").unwrap_or_else(|| crate::github::DEFAULT_API_URL.into());
    crate::http::check_credential_url("GITHUB_API_URL", &api_url).map_err(UsageError)?;
    Ok(GitHubSetup {
        api_url,
        token,
        repository,
        workflow,
        branch,
        job,
        run_id,
    })
}

/// Runs `shipline lock` (the command after `--`, if any, is run by the caller once this
/// returns [`Outcome::Done`]).
pub fn run(args: &LockArgs, state: &mut State) -> Result<Outcome> {
    let started = Instant::now();
    let provider = match args.provider {
        Some(p) => p,
        None => match Provider::detect() {
            Provider::CircleCi => LockProvider::CircleCi,
            Provider::GitHubActions => LockProvider::GitHub,
            Provider::Other => {
                return Err(anyhow!(UsageError(
                    "cannot tell which CI this is (neither CIRCLECI nor GITHUB_ACTIONS is `true`): pass --provider circleci or --provider github (or set SHIPLINE_PROVIDER)".into()
                )))
            }
        },
    };
    let env = |name: &str| std::env::var(name).ok();
    let (mut queue, poll, provider_word): (Box<dyn Queue>, Duration, &str) = match provider {
        LockProvider::CircleCi => {
            let setup = circle_setup(args, &env)?;
            let api = CircleCi::new(&setup.api_url, &setup.token, started + args.timeout);
            let mut queue = circleci::CircleQueue::connect(
                api,
                setup.slug,
                setup.branch,
                setup.job,
                &setup.workflow_id,
            )?;
            queue.stale_after = args.stale_after;
            (
                Box::new(queue),
                args.poll.unwrap_or(CIRCLECI_POLL),
                "circleci",
            )
        }
        LockProvider::GitHub => {
            let setup = github_setup(args, &env)?;
            let api =
                crate::github::GitHub::new(&setup.api_url, &setup.token, started + args.timeout);
            let mut queue = github::GitHubQueue::connect(
                api,
                &setup.repository,
                setup.workflow,
                setup.branch,
                setup.job,
                setup.run_id,
            )?;
            queue.stale_after = args.stale_after;
            (Box::new(queue), args.poll.unwrap_or(GITHUB_POLL), "github")
        }
    };
    let policy = Policy {
        mode: args.mode,
        include_on_hold: args.include_on_hold,
        stale_after: args.stale_after,
    };
    let own = queue.own().clone();
    ci::say(&format!(
        "Lock for #{} ({}): {}, mode {}, polling every {}",
        own.number,
        own.link,
        queue.scope(),
        policy.mode.word(),
        human(poll)
    ));
    let timing = Timing::new(poll, args.timeout);
    let (ending, waited) = wait_turn(queue.as_mut(), &policy, &timing)?;

    let mut record = json!({
        "provider": provider_word,
        "scope": queue.scope(),
        "mode": policy.mode.word(),
        "build": {"number": own.number, "link": own.link},
        "waited_ms": waited.elapsed.as_millis() as u64,
        "polls": waited.polls,
        "waited_behind": waited.behind,
        "stale_ignored": waited.stale,
    });
    let outcome = match ending {
        Ending::Proceed => {
            record["verdict"] = json!("proceed");
            ci::say(&format!(
                "Lock held by #{}: no earlier build of {} is in flight (waited {})",
                own.number,
                queue.scope(),
                human(waited.elapsed)
            ));
            Outcome::Done
        }
        Ending::Skip(by) => {
            record["verdict"] = json!("skipped");
            record["superseded_by"] = json!({"number": by.number, "link": by.link});
            let what = if by.state == JobState::Succeeded {
                "has already finished its deploy"
            } else {
                "has reached the lock"
            };
            Outcome::Skipped(format!(
                "#{} is superseded by #{} ({}), which {what}; --mode latest ships the newest build only",
                own.number, by.number, by.link
            ))
        }
        Ending::TimedOut(behind) => {
            let now = SystemTime::now();
            let first = behind.first().map(|b| b.describe(now)).unwrap_or_default();
            match args.on_timeout {
                OnTimeout::Fail => {
                    record["verdict"] = json!("timed-out");
                    Outcome::Failed(format!(
                        "timed out after {} (--timeout) still waiting behind {first}; --on-timeout fail: this build does not deploy. Raise --timeout, or pass --stale-after if that build is stuck",
                        human(args.timeout)
                    ))
                }
                OnTimeout::Proceed => {
                    record["verdict"] = json!("timed-out-proceed");
                    ci::warn(&format!(
                        "Timed out after {} (--timeout) still waiting behind {first}; --on-timeout proceed: taking the lock anyway, so two deploys may overlap",
                        human(args.timeout)
                    ));
                    Outcome::Done
                }
            }
        }
    };
    state.set_lock(record);
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lock::OrderKey;
    use std::cell::RefCell;
    use std::rc::Rc;

    fn args() -> LockArgs {
        LockArgs {
            provider: None,
            branch: None,
            job: None,
            project: None,
            mode: Mode::Queue,
            include_on_hold: false,
            poll: None,
            timeout: Duration::from_secs(60),
            on_timeout: OnTimeout::Fail,
            stale_after: None,
            state: State::default_path(),
            command: Vec::new(),
        }
    }

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    const CIRCLE: &[(&str, &str)] = &[
        ("CIRCLE_BRANCH", "main"),
        ("CIRCLE_JOB", "deploy"),
        ("CIRCLE_WORKFLOW_ID", "wf"),
        ("CIRCLE_TOKEN", "personal-token"),
        ("CIRCLE_REPOSITORY_URL", "git@github.com:acme/shop.git"),
        ("CIRCLE_PROJECT_USERNAME", "acme"),
        ("CIRCLE_PROJECT_REPONAME", "shop"),
    ];

    #[test]
    fn circleci_setup_from_the_environment() {
        let setup = circle_setup(&args(), &env(CIRCLE)).unwrap();
        assert_eq!(setup.branch, "main");
        assert_eq!(setup.slug.to_string(), "gh/acme/shop");
        assert_eq!(setup.api_url, DEFAULT_API_URL);
        let mut a = args();
        a.branch = Some("release".into());
        a.job = Some("deploy prod".into());
        let setup = circle_setup(&a, &env(CIRCLE)).unwrap();
        assert_eq!(
            (setup.branch.as_str(), setup.job.as_str()),
            ("release", "deploy prod")
        );
    }

    #[test]
    fn a_tag_build_must_name_its_branch() {
        let tag = env(&[
            ("CIRCLE_TAG", "v1.2.0"),
            ("CIRCLE_BRANCH", ""),
            ("CIRCLE_JOB", "deploy"),
            ("CIRCLE_WORKFLOW_ID", "wf"),
            ("CIRCLE_TOKEN", "t"),
            ("CIRCLE_PROJECT_ID", "p"),
            ("CIRCLE_ORGANIZATION_ID", "o"),
        ]);
        let e = circle_setup(&args(), &tag).unwrap_err().0;
        assert!(
            e.contains("tag build (CIRCLE_TAG=v1.2.0)") && e.contains("--branch"),
            "{e}"
        );
        let mut a = args();
        a.branch = Some("main".into());
        let setup = circle_setup(&a, &tag).unwrap();
        assert_eq!(setup.slug.to_string(), "circleci/o/p");
    }

    #[test]
    fn a_missing_token_says_which_kind() {
        let e = circle_setup(
            &args(),
            &env(&[
                ("CIRCLE_BRANCH", "main"),
                ("CIRCLE_JOB", "deploy"),
                ("CIRCLE_WORKFLOW_ID", "wf"),
                ("CIRCLE_PROJECT_ID", "p"),
                ("CIRCLE_ORGANIZATION_ID", "o"),
            ]),
        )
        .unwrap_err()
        .0;
        assert!(
            e.contains("CIRCLE_TOKEN") && e.contains("personal API token"),
            "{e}"
        );
    }

    const GITHUB: &[(&str, &str)] = &[
        ("GITHUB_ACTIONS", "true"),
        ("GITHUB_REF_NAME", "main"),
        ("GITHUB_REF", "refs/heads/main"),
        ("GITHUB_REF_TYPE", "branch"),
        ("GITHUB_JOB", "deploy"),
        ("GITHUB_RUN_ID", "4242"),
        ("GITHUB_REPOSITORY", "acme/shop"),
        (
            "GITHUB_WORKFLOW_REF",
            "acme/shop/.github/workflows/deploy.yml@refs/heads/main",
        ),
        ("GITHUB_TOKEN", "ghs_x"),
    ];

    #[test]
    fn github_setup_from_the_environment() {
        let setup = github_setup(&args(), &env(GITHUB)).unwrap();
        assert_eq!(setup.branch, "main");
        assert_eq!(setup.workflow, "deploy.yml");
        assert_eq!(setup.run_id, 4242);
        assert_eq!(setup.repository, "acme/shop");
        assert_eq!(setup.api_url, "https://api.github.com");
        let mut a = args();
        a.job = Some("Deploy to production".into());
        assert_eq!(
            github_setup(&a, &env(GITHUB)).unwrap().job,
            "Deploy to production"
        );
        assert_eq!(
            workflow_file("o/r/.github/workflows/ship it.yml@refs/tags/v1", "o/r").as_deref(),
            Some("ship it.yml")
        );
    }

    #[test]
    fn a_github_tag_build_must_name_its_branch() {
        let tag = env(&[
            ("GITHUB_REF_NAME", "v1.2.0"),
            ("GITHUB_REF", "refs/tags/v1.2.0"),
            ("GITHUB_REF_TYPE", "tag"),
            ("GITHUB_JOB", "deploy"),
            ("GITHUB_RUN_ID", "1"),
            ("GITHUB_REPOSITORY", "acme/shop"),
            (
                "GITHUB_WORKFLOW_REF",
                "acme/shop/.github/workflows/deploy.yml@refs/tags/v1.2.0",
            ),
            ("GITHUB_TOKEN", "t"),
        ]);
        let e = github_setup(&args(), &tag).unwrap_err().0;
        assert!(e.contains("tag build") && e.contains("--branch"), "{e}");
        let mut a = args();
        a.branch = Some("main".into());
        assert_eq!(github_setup(&a, &tag).unwrap().branch, "main");
    }

    /// A queue scripted per read: each full read returns the next view (the last repeats);
    /// refreshes return the build as the current view has it.
    struct Scripted {
        own: Build,
        views: Vec<Vec<Build>>,
        /// Answers of refreshes, in order, before they fall back to the current view.
        refreshed: Vec<Build>,
        reads: Rc<RefCell<u32>>,
        refreshes: Rc<RefCell<u32>>,
    }

    impl Queue for Scripted {
        fn own(&self) -> &Build {
            &self.own
        }
        fn scope(&self) -> String {
            "job `deploy` on branch main".into()
        }
        fn read(&mut self, _newer: bool) -> Result<Vec<Build>> {
            *self.reads.borrow_mut() += 1;
            let view = if self.views.len() > 1 {
                self.views.remove(0)
            } else {
                self.views[0].clone()
            };
            Ok(view)
        }
        fn refresh(&mut self, build: &Build) -> Result<Option<Build>> {
            *self.refreshes.borrow_mut() += 1;
            if !self.refreshed.is_empty() {
                return Ok(Some(self.refreshed.remove(0)));
            }
            Ok(self.views[0].iter().find(|b| b.key == build.key).cloned())
        }
    }

    fn b(n: u64, state: JobState) -> Build {
        Build {
            key: OrderKey {
                major: n,
                minor: 0,
                id: format!("wf-{n}"),
            },
            number: n,
            link: format!("https://ci.example/{n}"),
            state,
            started: Some(SystemTime::now()),
            created: Some(SystemTime::now()),
        }
    }

    fn scripted(views: Vec<Vec<Build>>) -> (Scripted, Rc<RefCell<u32>>, Rc<RefCell<u32>>) {
        let reads = Rc::new(RefCell::new(0));
        let refreshes = Rc::new(RefCell::new(0));
        (
            Scripted {
                own: b(10, JobState::Running),
                views,
                refreshed: Vec::new(),
                reads: reads.clone(),
                refreshes: refreshes.clone(),
            },
            reads,
            refreshes,
        )
    }

    const QUEUE: Policy = Policy {
        mode: Mode::Queue,
        include_on_hold: false,
        stale_after: None,
    };

    fn fast(timeout_ms: u64) -> Timing {
        Timing::new(Duration::from_millis(5), Duration::from_millis(timeout_ms))
    }

    #[test]
    fn proceeds_only_after_a_confirming_second_read() {
        let (mut q, reads, _) = scripted(vec![vec![]]);
        let (ending, _) = wait_turn(&mut q, &QUEUE, &fast(1000)).unwrap();
        assert_eq!(ending, Ending::Proceed);
        assert_eq!(*reads.borrow(), 2);

        // The second read sees a build the first missed (API lag): wait for it.
        let (mut q, reads, _) = scripted(vec![
            vec![],
            vec![b(9, JobState::Running)],
            vec![b(9, JobState::Succeeded)],
        ]);
        let (ending, waited) = wait_turn(&mut q, &QUEUE, &fast(1000)).unwrap();
        assert_eq!(ending, Ending::Proceed);
        assert_eq!(waited.behind, [9]);
        // First read, its confirmation (which saw #9), then after #9 left a confirming read.
        assert_eq!(*reads.borrow(), 3);
    }

    #[test]
    fn between_full_reads_only_the_build_ahead_is_watched() {
        // #9 stays running for a while: polls refresh it alone, one request each, and in
        // latest mode the queue is read again every FULL_READ_EVERY polls.
        let mut views = vec![vec![b(8, JobState::Blocked), b(9, JobState::Running)]];
        views.push(views[0].clone());
        let latest = Policy {
            mode: Mode::Latest,
            ..QUEUE
        };
        let (mut q, reads, refreshes) = scripted(views.clone());
        let (ending, waited) = wait_turn(&mut q, &latest, &fast(120)).unwrap();
        assert!(matches!(ending, Ending::TimedOut(ref behind) if behind[0].number == 9));
        assert!(waited.polls >= 3, "{waited:?}");
        assert_eq!(
            *refreshes.borrow(),
            waited.polls - waited.polls / FULL_READ_EVERY
        );
        assert_eq!(*reads.borrow(), 1 + waited.polls / FULL_READ_EVERY);

        // In queue mode only the build ahead can end the wait: no read after the first.
        let (mut q, reads, refreshes) = scripted(views);
        let (ending, waited) = wait_turn(&mut q, &QUEUE, &fast(300)).unwrap();
        assert!(matches!(ending, Ending::TimedOut(ref behind) if behind[0].number == 9));
        assert!(waited.polls > FULL_READ_EVERY, "{waited:?}");
        assert_eq!(*refreshes.borrow(), waited.polls);
        assert_eq!(*reads.borrow(), 1);
    }

    #[test]
    fn a_hand_off_costs_one_full_read_after_the_build_ahead_leaves() {
        let (mut q, reads, refreshes) = scripted(vec![
            vec![b(9, JobState::Blocked)],
            vec![b(9, JobState::Succeeded)],
        ]);
        // #9 reaches the lock (still blocking: no full read), then finishes.
        q.refreshed = vec![b(9, JobState::Running), b(9, JobState::Succeeded)];
        let (ending, waited) = wait_turn(&mut q, &QUEUE, &fast(1000)).unwrap();
        assert_eq!(ending, Ending::Proceed);
        assert_eq!(waited.polls, 2);
        assert_eq!(*refreshes.borrow(), 2);
        assert_eq!(*reads.borrow(), 2, "the first read and the confirming one");
    }

    #[test]
    fn latest_mode_skips_when_confirmed() {
        let (mut q, _, _) = scripted(vec![vec![
            b(9, JobState::Running),
            b(11, JobState::Running),
        ]]);
        let policy = Policy {
            mode: Mode::Latest,
            ..QUEUE
        };
        let (ending, _) = wait_turn(&mut q, &policy, &fast(1000)).unwrap();
        assert!(matches!(ending, Ending::Skip(ref by) if by.number == 11));
    }
}
