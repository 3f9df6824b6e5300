//! The lock's queue on GitHub Actions: builds are runs of the same workflow on the branch,
//! ordered by run number, a re-run placed by the time its latest attempt started.
//!
//! A full read lists the workflow's runs on the branch (every `Link` page, newest first, down
//! to the oldest that can matter) and reads jobs only where the run alone does not tell
//! enough: earlier runs nearest first until one blocks, newer runs (in `latest` mode) nearest
//! first until one supersedes. Jobs of a finished run are kept until it is re-run. Between
//! full reads, [`GitHubQueue::refresh`] re-reads the jobs of one watched run: one request.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Result;

use super::Queue;
use crate::github::{GitHub, WorkflowJob, WorkflowRun};
use crate::lock::{Build, JobState, OrderKey};
use crate::time::parse_rfc3339;

/// Runs created this long before the own one are not read (GitHub cancels a job after 6 h,
/// a run after 35 days waiting; approval holds do not block unless `--include-on-hold`).
pub const LOOKBACK: Duration = Duration::from_secs(24 * 3600);

fn millis(t: Option<SystemTime>) -> u64 {
    t.and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Whether a job name is the lock's job: the same name, or a matrix instance of it
/// (`deploy (eu)`).
pub fn is_lock_job(name: &str, job: &str) -> bool {
    name == job
        || name
            .strip_prefix(job)
            .is_some_and(|rest| rest.starts_with(" ("))
}

/// How the lock's job of a run stands, from the run and (when read) its jobs.
pub fn run_state(run: &WorkflowRun, jobs: Option<&[WorkflowJob]>, job: &str) -> JobState {
    if let Some(jobs) = jobs {
        let mine: Vec<&WorkflowJob> = jobs.iter().filter(|j| is_lock_job(&j.name, job)).collect();
        if let Some(state) = mine.iter().map(|j| job_state(j)).min_by_key(rank) {
            return state;
        }
        if run.is_over() {
            return JobState::Ended;
        }
        // The job is not created until the jobs it needs are done.
        return match run.status.as_deref() {
            Some("waiting") => JobState::OnHold,
            Some("in_progress") => JobState::Blocked,
            _ => JobState::Pending,
        };
    }
    if run.is_over() {
        return JobState::Ended;
    }
    match run.status.as_deref() {
        Some("waiting") => JobState::OnHold,
        Some("in_progress") => JobState::Blocked,
        Some("requested" | "queued" | "pending") | None => JobState::Pending,
        Some(other) => JobState::Unknown(other.into()),
    }
}

/// The state that matters most among matrix instances: running first, then in flight, then
/// done.
fn rank(state: &JobState) -> u8 {
    match state {
        JobState::Running => 0,
        JobState::Unknown(_) => 1,
        JobState::Queued => 2,
        JobState::Blocked | JobState::Pending => 3,
        JobState::OnHold => 4,
        JobState::Ended => 5,
        JobState::Succeeded => 6,
    }
}

/// How a job stands.
pub fn job_state(job: &WorkflowJob) -> JobState {
    if let Some(conclusion) = &job.conclusion {
        return if conclusion == "success" {
            JobState::Succeeded
        } else {
            JobState::Ended
        };
    }
    match job.status.as_deref() {
        Some("in_progress") => JobState::Running,
        Some("queued" | "pending" | "requested") => JobState::Queued,
        Some("waiting") => JobState::OnHold,
        Some("completed") => JobState::Ended,
        Some(other) => JobState::Unknown(other.into()),
        None => JobState::Unknown("none".into()),
    }
}

/// The order key of a run among `all` (the runs listed): a first attempt by its run number; a
/// re-run after the newest run created before its latest attempt started.
pub fn run_key(run: &WorkflowRun, all: &[WorkflowRun]) -> OrderKey {
    let attempt = run.run_attempt.unwrap_or(1);
    let started = run.run_started_at.as_deref().and_then(parse_rfc3339);
    let (major, minor) = match started {
        Some(started) if attempt > 1 => {
            let major = all
                .iter()
                .filter(|r| parse_rfc3339(&r.created_at).is_some_and(|c| c <= started))
                .map(|r| r.run_number)
                .max()
                .unwrap_or(run.run_number)
                .max(run.run_number);
            (major, millis(Some(started)).max(1))
        }
        _ => (run.run_number, 0),
    };
    OrderKey {
        major,
        minor,
        id: run.id.to_string(),
    }
}

/// The lock's view of a GitHub repository's workflow.
pub struct GitHubQueue {
    api: GitHub,
    owner: String,
    repo: String,
    workflow: String,
    branch: String,
    job: String,
    own: Build,
    own_run: WorkflowRun,
    /// `--stale-after`: a running build older than this does not end the search for a blocker.
    pub stale_after: Option<Duration>,
    /// Jobs of finished runs, with the run's `updated_at` and attempt when read.
    jobs: HashMap<u64, (Option<String>, Vec<WorkflowJob>)>,
}

impl GitHubQueue {
    /// Reads the own run (`GITHUB_RUN_ID`).
    pub fn connect(
        api: GitHub,
        repository: &str,
        workflow: String,
        branch: String,
        job: String,
        run_id: u64,
    ) -> Result<GitHubQueue> {
        let (owner, repo) = repository.split_once('/').unwrap_or((repository, ""));
        let run = api.run(owner, repo, run_id)?;
        let mut queue = GitHubQueue {
            api,
            owner: owner.into(),
            repo: repo.into(),
            workflow,
            branch,
            job,
            own: Build {
                key: run_key(&run, &[]),
                number: run.run_number,
                link: run.html_url.clone(),
                state: JobState::Running,
                started: None,
                created: parse_rfc3339(&run.created_at),
            },
            own_run: run,
            stale_after: None,
            jobs: HashMap::new(),
        };
        if queue.own_run.run_attempt.unwrap_or(1) > 1 {
            // A re-run: its place depends on the runs created before it started again.
            let runs = queue.list()?;
            queue.own.key = run_key(&queue.own_run, &runs);
        }
        Ok(queue)
    }

    fn list(&self) -> Result<Vec<WorkflowRun>> {
        let own_number = self.own_run.run_number;
        let floor = self
            .own
            .created
            .and_then(|t| t.checked_sub(LOOKBACK))
            .unwrap_or(UNIX_EPOCH);
        let too_old = |r: &WorkflowRun| {
            r.run_number < own_number
                && parse_rfc3339(&r.created_at).is_some_and(|created| created < floor)
        };
        let runs = self.api.workflow_runs(
            &self.owner,
            &self.repo,
            &self.workflow,
            &self.branch,
            too_old,
        )?;
        // The branch filter is the server's; checked again here.
        let branch = self.branch.as_str();
        Ok(runs
            .into_iter()
            .filter(|r| !too_old(r))
            .filter(|r| r.head_branch.as_deref().is_none_or(|b| b == branch))
            .collect())
    }

    /// The jobs of a run; those of a run that is over are kept (they do not change until a
    /// re-run, which moves its attempt and `updated_at`).
    fn jobs_of(&mut self, run: &WorkflowRun) -> Result<Vec<WorkflowJob>> {
        let stamp = format!(
            "{}#{}",
            run.updated_at.as_deref().unwrap_or_default(),
            run.run_attempt.unwrap_or(1)
        );
        if let Some((seen, jobs)) = self.jobs.get(&run.id) {
            if run.is_over() && seen.as_deref() == Some(stamp.as_str()) {
                return Ok(jobs.clone());
            }
        }
        let jobs = self.api.run_jobs(&self.owner, &self.repo, run.id)?;
        if run.is_over() {
            self.jobs.insert(run.id, (Some(stamp), jobs.clone()));
        }
        Ok(jobs)
    }

    fn build(&self, run: &WorkflowRun, key: OrderKey, jobs: Option<&[WorkflowJob]>) -> Build {
        let mine = jobs.and_then(|jobs| jobs.iter().find(|j| is_lock_job(&j.name, &self.job)));
        Build {
            key,
            number: run.run_number,
            link: mine
                .and_then(|j| j.html_url.clone())
                .unwrap_or_else(|| run.html_url.clone()),
            state: run_state(run, jobs, &self.job),
            started: mine.and_then(|j| j.started_at.as_deref().and_then(parse_rfc3339)),
            created: parse_rfc3339(&run.created_at),
        }
    }
}

impl Queue for GitHubQueue {
    fn own(&self) -> &Build {
        &self.own
    }

    fn scope(&self) -> String {
        format!(
            "job `{}` on branch {} of {}/{} ({}, GitHub Actions)",
            self.job, self.branch, self.owner, self.repo, self.workflow
        )
    }

    fn read(&mut self, newer: bool) -> Result<Vec<Build>> {
        self.read_runs(newer, false)
    }

    fn read_all(&mut self, newer: bool) -> Result<Vec<Build>> {
        self.read_runs(newer, true)
    }

    fn refresh(&mut self, build: &Build) -> Result<Option<Build>> {
        self.refresh_run(build)
    }
}

impl GitHubQueue {
    /// A full read. Jobs are read for earlier runs nearest first until one blocks; for newer
    /// runs (`newer`) nearest first until one supersedes, and unless `all`, no further than
    /// the nearest one in flight: enough to decide to wait or to skip. Taking the lock is
    /// decided on a read with `all`.
    fn read_runs(&mut self, newer: bool, all: bool) -> Result<Vec<Build>> {
        let runs = self.list()?;
        let own = self.own.key.clone();
        let mut keyed: Vec<(OrderKey, &WorkflowRun)> = runs
            .iter()
            .filter(|r| r.id != self.own_run.id)
            .map(|r| (run_key(r, &runs), r))
            .collect();
        keyed.sort_unstable_by(|a, b| b.0.cmp(&a.0));
        let mut builds = Vec::new();
        // Earlier runs, nearest first: jobs read until one is found blocking; the rest are
        // placed by what the run says (an earlier one in flight blocks either way).
        let mut found_blocker = false;
        for (key, run) in keyed.iter().filter(|(k, _)| *k < own) {
            if run.is_over() {
                continue;
            }
            let build = if !found_blocker && run.status.as_deref() == Some("in_progress") {
                let jobs = self.jobs_of(run)?;
                let build = self.build(run, key.clone(), Some(&jobs));
                found_blocker = build.state.blocks(false)
                    && !build.is_stale(self.stale_after, SystemTime::now());
                build
            } else {
                self.build(run, key.clone(), None)
            };
            builds.push(build);
        }
        if newer {
            // Newer runs, nearest first: jobs read until one supersedes (any one is reason
            // enough to skip).
            let mut found = false;
            for (key, run) in keyed.iter().rev().filter(|(k, _)| *k > own) {
                let needs_jobs =
                    !found && (run.is_over() || run.status.as_deref() == Some("in_progress"));
                let looked = needs_jobs && !run.is_over();
                let build = if needs_jobs {
                    let jobs = self.jobs_of(run)?;
                    self.build(run, key.clone(), Some(&jobs))
                } else if run.is_over() {
                    continue;
                } else {
                    self.build(run, key.clone(), None)
                };
                found |= build.state.supersedes();
                // Without `all`, the nearest newer run in flight is enough to wait on.
                found |= looked && !all;
                builds.push(build);
            }
        }
        Ok(builds)
    }

    fn refresh_run(&mut self, build: &Build) -> Result<Option<Build>> {
        let Ok(id) = build.key.id.parse::<u64>() else {
            return Ok(None);
        };
        let jobs = self.api.run_jobs(&self.owner, &self.repo, id)?;
        self.jobs.remove(&id);
        let mine: Vec<&WorkflowJob> = jobs
            .iter()
            .filter(|j| is_lock_job(&j.name, &self.job))
            .collect();
        let Some(job) = mine.iter().min_by_key(|j| rank(&job_state(j))) else {
            // Not created yet: still blocked while other jobs are in flight; otherwise the run
            // may be over or waiting, which only a full read tells.
            let busy = jobs.iter().any(|j| j.conclusion.is_none());
            if busy && matches!(build.state, JobState::Blocked | JobState::Pending) {
                return Ok(Some(build.clone()));
            }
            return Ok(None);
        };
        let mut fresh = build.clone();
        fresh.state = job_state(job);
        fresh.started = job.started_at.as_deref().and_then(parse_rfc3339);
        if let Some(url) = &job.html_url {
            fresh.link = url.clone();
        }
        Ok(Some(fresh))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(number: u64, status: &str, conclusion: Option<&str>) -> WorkflowRun {
        serde_json::from_value(serde_json::json!({
            "id": 1000 + number, "run_number": number, "run_attempt": 1,
            "status": status, "conclusion": conclusion, "head_branch": "main",
            "created_at": format!("2026-11-27T03:{:02}:00Z", number % 60),
            "run_started_at": format!("2026-11-27T03:{:02}:00Z", number % 60),
            "html_url": format!("https://github.com/a/b/actions/runs/{}", 1000 + number),
        }))
        .unwrap()
    }

    fn job(name: &str, status: &str, conclusion: Option<&str>) -> WorkflowJob {
        serde_json::from_value(serde_json::json!({
            "name": name, "status": status, "conclusion": conclusion,
            "started_at": "2026-11-27T03:00:00Z",
        }))
        .unwrap()
    }

    #[test]
    fn run_and_job_statuses_map_to_lock_states() {
        let r = run(5, "in_progress", None);
        assert_eq!(run_state(&r, None, "deploy"), JobState::Blocked);
        let jobs = [job("test", "in_progress", None)];
        assert_eq!(run_state(&r, Some(&jobs), "deploy"), JobState::Blocked);
        let jobs = [
            job("test", "completed", Some("success")),
            job("deploy", "in_progress", None),
        ];
        assert_eq!(run_state(&r, Some(&jobs), "deploy"), JobState::Running);
        let jobs = [job("deploy", "queued", None)];
        assert_eq!(run_state(&r, Some(&jobs), "deploy"), JobState::Queued);
        let jobs = [job("deploy", "waiting", None)];
        assert_eq!(run_state(&r, Some(&jobs), "deploy"), JobState::OnHold);
        // in_progress with a conclusion is over.
        let jobs = [job("deploy", "in_progress", Some("success"))];
        assert_eq!(run_state(&r, Some(&jobs), "deploy"), JobState::Succeeded);
        let over = run(5, "in_progress", Some("failure"));
        assert!(over.is_over());
        assert_eq!(run_state(&over, None, "deploy"), JobState::Ended);
        assert_eq!(
            run_state(&run(5, "waiting", None), None, "deploy"),
            JobState::OnHold
        );
        assert_eq!(
            run_state(&run(5, "queued", None), None, "deploy"),
            JobState::Pending
        );
        // Matrix instances count; other names do not.
        assert!(is_lock_job("deploy (eu)", "deploy"));
        assert!(!is_lock_job("deploy-docs", "deploy"));
    }

    #[test]
    fn runs_order_by_number_and_reruns_by_their_start() {
        let r99 = run(99, "in_progress", None);
        let r100 = run(100, "in_progress", None);
        let all = [r99.clone(), r100.clone()];
        assert!(run_key(&r99, &all) < run_key(&r100, &all));
        // #98 re-run after #100 was created: it goes after #100.
        let mut rerun = run(98, "in_progress", None);
        rerun.run_attempt = Some(2);
        rerun.run_started_at = Some("2026-11-27T04:30:00Z".into());
        let all = [r99.clone(), r100.clone(), rerun.clone()];
        assert!(run_key(&rerun, &all) > run_key(&r100, &all));
        assert_eq!(run_key(&rerun, &all).major, 100);
    }
}
