//! The lock's queue on CircleCI: builds are workflows of the branch's pipelines that contain
//! the job of the lock's name, ordered by pipeline number (then workflow creation, for a
//! rerun workflow in the same pipeline).
//!
//! A read looks only at what can have changed since the last one and can matter now:
//! - pipelines: newest first, only until a page shows one already known (new pipelines only
//!   ever appear on top); the ones below are taken as last seen;
//! - workflows: re-listed only for a pipeline not settled, one still setting up or with a
//!   workflow that is not over (a workflow that is over never changes);
//! - jobs: read only for workflows that are not over;
//! - earlier pipelines nearest first, and only until one holds a build that blocks: while it
//!   does, nothing older can change the verdict. In `latest` mode newer pipelines nearest
//!   first, until one supersedes or (unless reading all) one is in flight.
//!
//! What is not read again is carried over as last seen when it cannot have changed, and left
//! out when it could have (beyond the nearest blocker it cannot change the verdict, and a
//! state read minutes ago would only mislead the log). The read that confirms taking the
//! lock ([`Queue::read_all`]) walks every page and re-lists the workflows of every pipeline
//! in the window except those found settled less than [`RECENT`] before: so a rerun workflow
//! in an old pipeline (CircleCI's reruns add a workflow to the pipeline) is seen before the
//! lock is taken. Between reads, [`CircleQueue::refresh`] re-reads only the jobs of one
//! watched workflow: one request.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Result;

use super::Queue;
use crate::circleci::{CircleCi, Job, JobStatus, Pipeline, ProjectSlug, Workflow};
use crate::lock::{Build, JobState, OrderKey};
use crate::time::parse_rfc3339;

/// Pipelines created this long before the own one are not read: no CircleCI job runs that
/// long, so nothing in them can still be in flight (approval holds aside, which do not block
/// unless `--include-on-hold`).
pub const LOOKBACK: Duration = Duration::from_secs(24 * 3600);

/// A pipeline found settled this recently is not listed again by the read that confirms
/// taking the lock: that read follows the one that listed it by the confirming pause (at
/// most a second), and a rerun appearing in between is no more visible than one appearing
/// just after the lock is taken.
pub const RECENT: Duration = Duration::from_secs(2);

/// How a job of a workflow stands, given all the jobs of the workflow (to tell a job blocked
/// behind a pending approval from one blocked behind running tests).
pub fn job_state(job: &Job, all: &[Job]) -> JobState {
    match &job.status {
        JobStatus::Running => JobState::Running,
        JobStatus::Queued | JobStatus::NotRunning => JobState::Queued,
        JobStatus::OnHold => JobState::OnHold,
        JobStatus::Blocked if behind_approval(job, all) => JobState::OnHold,
        JobStatus::Blocked => JobState::Blocked,
        JobStatus::Success => JobState::Succeeded,
        JobStatus::NotRun
        | JobStatus::Failed
        | JobStatus::Retried
        | JobStatus::InfrastructureFail
        | JobStatus::Timedout
        | JobStatus::TerminatedUnknown
        | JobStatus::Canceled
        | JobStatus::Unauthorized => JobState::Ended,
        JobStatus::Unknown(s) => JobState::Unknown(s.clone()),
    }
}

/// Whether some job `job` requires, directly or not, is an approval still on hold.
fn behind_approval(job: &Job, all: &[Job]) -> bool {
    let mut todo: Vec<&str> = job.dependencies.iter().map(String::as_str).collect();
    let mut seen = Vec::new();
    while let Some(id) = todo.pop() {
        if seen.contains(&id) {
            continue;
        }
        seen.push(id);
        let Some(dep) = all.iter().find(|j| j.id == id) else {
            continue;
        };
        if dep.status == JobStatus::OnHold {
            return true;
        }
        todo.extend(dep.dependencies.iter().map(String::as_str));
    }
    false
}

fn millis(t: Option<SystemTime>) -> u64 {
    t.and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The order key of a workflow.
pub fn workflow_key(workflow: &Workflow) -> OrderKey {
    OrderKey {
        major: workflow.pipeline_number,
        minor: millis(parse_rfc3339(&workflow.created_at)),
        id: workflow.id.clone(),
    }
}

/// The build a workflow is for the lock, or `None` when it has no job named `job_name`.
pub fn workflow_build(
    workflow: &Workflow,
    jobs: &[Job],
    job_name: &str,
    link: String,
) -> Option<Build> {
    let job = jobs.iter().find(|j| j.name == job_name)?;
    Some(Build {
        key: workflow_key(workflow),
        number: workflow.pipeline_number,
        link,
        state: job_state(job, jobs),
        started: job.started_at.as_deref().and_then(parse_rfc3339),
        created: parse_rfc3339(&workflow.created_at),
    })
}

/// The placeholder build of a pipeline that may still create the workflow with the job: a
/// dynamic configuration still being set up. It blocks later builds like any build in flight.
pub fn pending_build(pipeline: &Pipeline, link: String) -> Build {
    Build {
        key: OrderKey {
            major: pipeline.number,
            minor: 0,
            id: format!("pipeline:{}", pipeline.id),
        },
        number: pipeline.number,
        link,
        state: JobState::Pending,
        started: None,
        created: parse_rfc3339(&pipeline.created_at),
    }
}

/// A pipeline as last seen.
struct Seen {
    pipeline: Pipeline,
    /// Its workflows when last listed; `None` before they were.
    workflows: Option<Vec<Workflow>>,
    /// When they were listed.
    listed_at: Instant,
    /// The builds it held then.
    builds: Vec<Build>,
}

/// The lock's view of a CircleCI project.
pub struct CircleQueue {
    api: CircleCi,
    slug: ProjectSlug,
    branch: String,
    job: String,
    own: Build,
    own_pipeline: String,
    /// `--stale-after`: a running build older than this does not end the search for a blocker.
    pub stale_after: Option<Duration>,
    /// Builds of workflows that are over (they never change), by workflow id; `None` for a
    /// finished workflow without the job.
    finished: HashMap<String, Option<Build>>,
    /// Pipelines seen, by id.
    seen: HashMap<String, Seen>,
}

impl CircleQueue {
    /// Finds the own workflow (`CIRCLE_WORKFLOW_ID`) and with it the own pipeline number.
    pub fn connect(
        api: CircleCi,
        slug: ProjectSlug,
        branch: String,
        job: String,
        workflow_id: &str,
    ) -> Result<CircleQueue> {
        let workflow = api.workflow(workflow_id)?;
        let link = api.web_link(&slug, workflow.pipeline_number, &workflow.id, None);
        let own = Build {
            key: workflow_key(&workflow),
            number: workflow.pipeline_number,
            link,
            state: JobState::Running,
            started: None,
            created: parse_rfc3339(&workflow.created_at),
        };
        Ok(CircleQueue {
            api,
            slug,
            branch,
            job,
            own,
            own_pipeline: workflow.pipeline_id,
            stale_after: None,
            finished: HashMap::new(),
            seen: HashMap::new(),
        })
    }

    /// Whether a pipeline seen before can no longer change: its configuration is resolved and
    /// every workflow but the own one is over. Only a rerun (a new workflow) can add to it.
    fn settled(&self, seen: &Seen) -> bool {
        !seen.pipeline.state.may_still_create_workflows()
            && seen.workflows.as_ref().is_some_and(|workflows| {
                workflows
                    .iter()
                    .all(|w| w.id == self.own.key.id || w.status.is_terminal())
            })
    }

    /// Whether a read must list a pipeline's workflows again: one not yet listed or not
    /// settled; with `all`, any but those found settled less than [`RECENT`] ago.
    fn must_list(&self, id: &str, all: bool) -> bool {
        match self.seen.get(id) {
            None => true,
            Some(seen) if all => !(self.settled(seen) && seen.listed_at.elapsed() < RECENT),
            Some(seen) => !self.settled(seen),
        }
    }

    /// Lists a pipeline's workflows and reads the jobs of those not over; remembers them.
    fn read_pipeline(&mut self, pipeline: &Pipeline) -> Result<Vec<Build>> {
        let workflows = self.api.workflows(&pipeline.id)?;
        let mut builds = Vec::new();
        let mut has_job = false;
        let mut setting_up = pipeline.state.may_still_create_workflows();
        for workflow in &workflows {
            if workflow.id == self.own.key.id {
                has_job = true;
                continue;
            }
            if let Some(known) = self.finished.get(&workflow.id) {
                has_job |= known.is_some();
                builds.extend(known.clone());
                continue;
            }
            let over = workflow.status.is_terminal();
            if workflow.tag.as_deref() == Some("setup") {
                setting_up |= !over;
            }
            let later = workflow_key(workflow) > self.own.key;
            if over && !later {
                // Nothing in it will run again, and an earlier build never supersedes.
                continue;
            }
            let jobs = self.api.jobs(&workflow.id)?;
            let link = self.link(workflow, &jobs);
            let build = workflow_build(workflow, &jobs, &self.job, link);
            has_job |= build.is_some();
            if over {
                self.finished.insert(workflow.id.clone(), build.clone());
            }
            builds.extend(build);
        }
        if !has_job && setting_up {
            let link = self.api.pipeline_link(&self.slug, pipeline.number);
            builds.push(pending_build(pipeline, link));
        }
        self.seen.insert(
            pipeline.id.clone(),
            Seen {
                pipeline: pipeline.clone(),
                workflows: Some(workflows),
                listed_at: Instant::now(),
                builds: builds.clone(),
            },
        );
        Ok(builds)
    }

    /// The builds of a pipeline, and whether they were read now: read again when
    /// [`CircleQueue::must_list`] says so and `look` allows; else those of a settled pipeline
    /// as last seen (they cannot have changed) and none of one that is not (what it was
    /// once is no news worth showing or deciding on).
    fn builds_of(
        &mut self,
        pipeline: &Pipeline,
        look: bool,
        all: bool,
    ) -> Result<(Vec<Build>, bool)> {
        if look && self.must_list(&pipeline.id, all) {
            return Ok((self.read_pipeline(pipeline)?, true));
        }
        let carried = self
            .seen
            .get(&pipeline.id)
            .filter(|seen| self.settled(seen))
            .map(|seen| seen.builds.clone())
            .unwrap_or_default();
        Ok((carried, false))
    }

    /// The pipelines of the window (within [`LOOKBACK`] of the own one, on the branch),
    /// newest first. Unless `all`, pages are read only until one shows a pipeline already
    /// seen; the older ones are taken as last seen.
    fn pipelines(&mut self, all: bool) -> Result<Vec<Pipeline>> {
        let own_number = self.own.number;
        let floor = self
            .own
            .created
            .and_then(|t| t.checked_sub(LOOKBACK))
            .unwrap_or(UNIX_EPOCH);
        let too_old = |p: &Pipeline| {
            p.number < own_number
                && parse_rfc3339(&p.created_at).is_some_and(|created| created < floor)
        };
        let known: HashSet<u64> = if all {
            HashSet::new()
        } else {
            self.seen.values().map(|s| s.pipeline.number).collect()
        };
        let listed = self.api.pipelines(&self.slug, &self.branch, |p| {
            too_old(p) || known.contains(&p.number)
        })?;
        let mut pipelines: HashMap<String, Pipeline> = HashMap::new();
        if !all {
            for seen in self.seen.values() {
                pipelines.insert(seen.pipeline.id.clone(), seen.pipeline.clone());
            }
        }
        for pipeline in listed {
            // Remembered even before its workflows are listed, so that the next read knows
            // where the pipelines it has seen begin.
            self.seen
                .entry(pipeline.id.clone())
                .and_modify(|seen| seen.pipeline = pipeline.clone())
                .or_insert_with(|| Seen {
                    pipeline: pipeline.clone(),
                    workflows: None,
                    listed_at: Instant::now(),
                    builds: Vec::new(),
                });
            pipelines.insert(pipeline.id.clone(), pipeline);
        }
        // The branch filter is the server's; checked again here, as the lock must not queue
        // behind another branch's builds.
        let branch = self.branch.as_str();
        let mut pipelines: Vec<Pipeline> = pipelines
            .into_values()
            .filter(|p| !too_old(p))
            .filter(|p| {
                p.vcs
                    .as_ref()
                    .and_then(|v| v.branch.as_deref())
                    .is_none_or(|b| b == branch)
            })
            .collect();
        if !pipelines.iter().any(|p| p.id == self.own_pipeline) {
            // A tag build locking with --branch: its pipeline is not on the branch, but other
            // workflows of it still count.
            pipelines.push(Pipeline {
                id: self.own_pipeline.clone(),
                number: own_number,
                state: crate::circleci::PipelineState::Created,
                created_at: String::new(),
                vcs: None,
            });
        }
        pipelines.sort_unstable_by_key(|p| std::cmp::Reverse(p.number));
        Ok(pipelines)
    }

    /// A read: of every pipeline and workflow that can have changed with `all`, else only of
    /// what can change the verdict (see the module's documentation).
    fn read_view(&mut self, newer: bool, all: bool) -> Result<Vec<Build>> {
        let own_number = self.own.number;
        let pipelines = self.pipelines(all)?;
        let own = self.own.key.clone();
        let mut builds = Vec::new();
        // Earlier pipelines (and the own one) nearest first, until one blocks.
        let mut found_blocker = false;
        for pipeline in pipelines.iter().filter(|p| p.number <= own_number) {
            let (found, _) = self.builds_of(pipeline, all || !found_blocker, all)?;
            let now = SystemTime::now();
            found_blocker |= found.iter().any(|b| {
                b.key < own && b.state.blocks(false) && !b.is_stale(self.stale_after, now)
            });
            builds.extend(found);
        }
        if newer {
            // Newer pipelines nearest first, until one supersedes (reason enough to skip) or,
            // unless reading all, one is in flight (enough to wait on).
            let mut found_enough = false;
            for pipeline in pipelines.iter().rev().filter(|p| p.number > own_number) {
                let (found, read) = self.builds_of(pipeline, all || !found_enough, all)?;
                found_enough |= found.iter().any(|b| b.state.supersedes());
                found_enough |= read
                    && !all
                    && found
                        .iter()
                        .any(|b| !matches!(b.state, JobState::Succeeded | JobState::Ended));
                builds.extend(found);
            }
        }
        Ok(builds)
    }

    fn link(&self, workflow: &Workflow, jobs: &[Job]) -> String {
        let number = jobs
            .iter()
            .find(|j| j.name == self.job)
            .and_then(|j| j.job_number);
        self.api
            .web_link(&self.slug, workflow.pipeline_number, &workflow.id, number)
    }
}

impl Queue for CircleQueue {
    fn own(&self) -> &Build {
        &self.own
    }

    fn scope(&self) -> String {
        format!(
            "job `{}` on branch {} of {} (CircleCI)",
            self.job, self.branch, self.slug
        )
    }

    fn read(&mut self, newer: bool) -> Result<Vec<Build>> {
        self.read_view(newer, false)
    }

    fn read_all(&mut self, newer: bool) -> Result<Vec<Build>> {
        self.read_view(newer, true)
    }

    fn refresh(&mut self, build: &Build) -> Result<Option<Build>> {
        if build.key.id.starts_with("pipeline:") {
            return Ok(None);
        }
        let jobs = self.api.jobs(&build.key.id)?;
        let Some(job) = jobs.iter().find(|j| j.name == self.job) else {
            return Ok(None);
        };
        let mut fresh = build.clone();
        fresh.state = job_state(job, &jobs);
        fresh.started = job.started_at.as_deref().and_then(parse_rfc3339);
        if let Some(number) = job.job_number {
            if !fresh.link.contains("/jobs/") {
                fresh.link = format!("{}/jobs/{number}", fresh.link);
            }
        }
        Ok(Some(fresh))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(id: &str, name: &str, status: &str, kind: &str, deps: &[&str]) -> Job {
        serde_json::from_value(serde_json::json!({
            "id": id, "name": name, "status": status, "type": kind,
            "dependencies": deps, "started_at": null, "project_slug": "gh/a/b",
        }))
        .unwrap()
    }

    fn workflow(number: u64, created: &str) -> Workflow {
        serde_json::from_value(serde_json::json!({
            "id": format!("wf-{number}"), "name": "build-deploy", "status": "running",
            "pipeline_id": "p", "pipeline_number": number, "created_at": created,
            "stopped_at": null, "project_slug": "gh/a/b", "started_by": "u",
        }))
        .unwrap()
    }

    #[test]
    fn a_job_behind_a_pending_approval_is_on_hold_not_blocked() {
        let jobs = [
            job("t", "test", "success", "build", &[]),
            job("a", "hold", "on_hold", "approval", &["t"]),
            job("d", "deploy", "blocked", "build", &["a"]),
        ];
        assert_eq!(job_state(&jobs[2], &jobs), JobState::OnHold);
        let jobs = [
            job("t", "test", "running", "build", &[]),
            job("d", "deploy", "blocked", "build", &["t"]),
        ];
        assert_eq!(job_state(&jobs[1], &jobs), JobState::Blocked);
        // Transitively: test waits for the approval, deploy waits for test.
        let jobs = [
            job("a", "hold", "on_hold", "approval", &[]),
            job("t", "test", "blocked", "build", &["a"]),
            job("d", "deploy", "blocked", "build", &["t"]),
        ];
        assert_eq!(job_state(&jobs[2], &jobs), JobState::OnHold);
    }

    #[test]
    fn statuses_map_to_lock_states() {
        let cases = [
            ("running", JobState::Running),
            ("queued", JobState::Queued),
            ("not_running", JobState::Queued),
            ("success", JobState::Succeeded),
            ("failed", JobState::Ended),
            ("canceled", JobState::Ended),
            ("not_run", JobState::Ended),
            ("infrastructure_fail", JobState::Ended),
            ("warping", JobState::Unknown("warping".into())),
        ];
        for (status, state) in cases {
            let j = job("d", "deploy", status, "build", &[]);
            assert_eq!(job_state(&j, std::slice::from_ref(&j)), state, "{status}");
        }
    }

    #[test]
    fn builds_match_the_job_name_exactly() {
        let wf = workflow(100, "2026-11-27T02:30:00Z");
        let jobs = [
            job("t", "test", "success", "build", &[]),
            job("d", "deploy prod", "running", "build", &["t"]),
        ];
        let b = workflow_build(&wf, &jobs, "deploy prod", "l".into()).unwrap();
        assert_eq!(b.number, 100);
        assert_eq!(b.state, JobState::Running);
        assert!(workflow_build(&wf, &jobs, "deploy", "l".into()).is_none());
        // Numeric order, reruns of one pipeline by creation time.
        let rerun = workflow(100, "2026-11-27T02:40:00Z");
        let mut rerun = rerun;
        rerun.id = "wf-100-rerun".into();
        assert!(workflow_key(&workflow(99, "2026-11-27T03:00:00Z")) < workflow_key(&wf));
        assert!(workflow_key(&wf) < workflow_key(&rerun));
    }
}
