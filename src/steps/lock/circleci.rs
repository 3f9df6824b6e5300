//! The lock's queue on CircleCI: builds are workflows of the branch's pipelines that contain
//! the job of the lock's name, ordered by pipeline number (then workflow creation, for a
//! rerun workflow in the same pipeline).
//!
//! A full read walks the branch's pipelines newest first down to the oldest that can matter,
//! lists each pipeline's workflows and the jobs of every workflow that is not over. Between
//! full reads, [`CircleQueue::refresh`] re-reads only the jobs of one watched workflow: one
//! request instead of dozens.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Result;

use super::Queue;
use crate::circleci::{CircleCi, Job, JobStatus, Pipeline, ProjectSlug, Workflow};
use crate::lock::{Build, JobState, OrderKey};
use crate::time::parse_rfc3339;

/// Pipelines created this long before the own one are not read: no CircleCI job runs that
/// long, so nothing in them can still be in flight (approval holds aside, which do not block
/// unless `--include-on-hold`).
pub const LOOKBACK: Duration = Duration::from_secs(24 * 3600);

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

/// The lock's view of a CircleCI project.
pub struct CircleQueue {
    api: CircleCi,
    slug: ProjectSlug,
    branch: String,
    job: String,
    own: Build,
    own_pipeline: String,
    /// Builds of workflows that are over (they never change), by workflow id; `None` for a
    /// finished workflow without the job.
    finished: HashMap<String, Option<Build>>,
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
            finished: HashMap::new(),
        })
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
        let pipelines = self.api.pipelines(&self.slug, &self.branch, too_old)?;
        // The branch filter is the server's; checked again here, as the lock must not queue
        // behind another branch's builds.
        let branch = self.branch.as_str();
        let mut pipelines: Vec<Pipeline> = pipelines
            .into_iter()
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
        let mut builds = Vec::new();
        for pipeline in pipelines {
            if pipeline.number > own_number && !newer {
                continue;
            }
            let workflows = self.api.workflows(&pipeline.id)?;
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
                builds.push(pending_build(&pipeline, link));
            }
        }
        Ok(builds)
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
