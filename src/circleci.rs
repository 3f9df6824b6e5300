//! CircleCI API v2 client: the build queue as `shipline lock` sees it.
//!
//! Only API v2 is used (v1.1 is stale, truncated and being retired). Four reads are enough:
//! the own workflow (its pipeline number: no environment variable carries it), the pipelines
//! of a branch (newest first, paginated with `page-token`), the workflows of a pipeline and the
//! jobs of a workflow (both paginated too). Every list is read to its end, with a guard
//! against a page token the server hands back twice.
//!
//! Authentication is a personal API token in the `Circle-Token` header. Project tokens are
//! refused by API v2 (401 "You must log in first." or 404 "Project not found"), so both
//! answers say so. Types accept unknown fields and unknown status values: an unknown status
//! is its own variant, never a panic.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::ci;
use crate::http::{self, Client, Reply, Request};

/// The public API base, unless `SHIPLINE_CIRCLECI_API_URL` says otherwise.
pub const DEFAULT_API_URL: &str = "https://circleci.com/api/v2";

/// Most pages of one list read before the listing is declared broken (a loop the token guard
/// did not catch, or a server that never ends a list). At CircleCI's page sizes that is far
/// more than any branch has in flight.
const MAX_PAGES: usize = 200;

/// A project slug in either form CircleCI accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectSlug {
    /// `gh`, `github`, `bb`, `bitbucket` or `circleci`.
    pub vcs: String,
    /// The organization name, or the organization id for `circleci/…`.
    pub org: String,
    /// The repository name, or the project id for `circleci/…`.
    pub repo: String,
}

impl ProjectSlug {
    /// Parses `gh/org/repo`, `bb/org/repo` (or the long `github`/`bitbucket` forms) and
    /// `circleci/<organization-id>/<project-id>`.
    pub fn parse(text: &str) -> Result<ProjectSlug, String> {
        let parts: Vec<&str> = text.trim().trim_matches('/').split('/').collect();
        let [vcs, org, repo] = parts[..] else {
            return Err(format!(
                "`{text}` is not a CircleCI project slug: expected gh/ORG/REPO, bb/ORG/REPO or circleci/ORG-ID/PROJECT-ID"
            ));
        };
        if !matches!(vcs, "gh" | "github" | "bb" | "bitbucket" | "circleci") {
            return Err(format!(
                "`{text}` is not a CircleCI project slug: it starts with `{vcs}`, not gh, bb or circleci"
            ));
        }
        if org.is_empty() || repo.is_empty() {
            return Err(format!("`{text}` has an empty part"));
        }
        Ok(ProjectSlug {
            vcs: vcs.to_string(),
            org: org.to_string(),
            repo: repo.to_string(),
        })
    }

    /// The slug for this job from CircleCI's variables: `gh/…` or `bb/…` from
    /// `CIRCLE_PROJECT_USERNAME`/`CIRCLE_PROJECT_REPONAME` for GitHub OAuth and Bitbucket
    /// Cloud projects, else `circleci/CIRCLE_ORGANIZATION_ID/CIRCLE_PROJECT_ID` (GitHub App,
    /// GitLab and Bitbucket Data Center projects).
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Option<ProjectSlug> {
        let var = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        let url = var("CIRCLE_REPOSITORY_URL").unwrap_or_default();
        let vcs = if url.contains("github.com") {
            Some("gh")
        } else if url.contains("bitbucket.org") {
            Some("bb")
        } else {
            None
        };
        if let (Some(vcs), Some(org), Some(repo)) = (
            vcs,
            var("CIRCLE_PROJECT_USERNAME"),
            var("CIRCLE_PROJECT_REPONAME"),
        ) {
            return Some(ProjectSlug {
                vcs: vcs.into(),
                org,
                repo,
            });
        }
        if let (Some(org), Some(project)) =
            (var("CIRCLE_ORGANIZATION_ID"), var("CIRCLE_PROJECT_ID"))
        {
            return Some(ProjectSlug {
                vcs: "circleci".into(),
                org,
                repo: project,
            });
        }
        None
    }

    /// The slug as the API takes it in a path (`gh/org/repo`), each part percent-encoded.
    pub fn path(&self) -> String {
        format!(
            "{}/{}/{}",
            http::segment(&self.vcs),
            http::segment(&self.org),
            http::segment(&self.repo)
        )
    }

    /// The `vcs` part as the web app spells it in URLs (`github`, `bitbucket`, `circleci`).
    fn web_vcs(&self) -> &str {
        match self.vcs.as_str() {
            "gh" | "github" => "github",
            "bb" | "bitbucket" => "bitbucket",
            other => other,
        }
    }
}

impl std::fmt::Display for ProjectSlug {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}/{}", self.vcs, self.org, self.repo)
    }
}

/// A pipeline's state (`created`, `errored`, `setup-pending`, `setup`, `pending`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(from = "String")]
pub enum PipelineState {
    /// Its configuration was compiled and its workflows created.
    Created,
    /// It failed before creating workflows.
    Errored,
    /// Dynamic configuration: the setup workflow has not produced the real one yet.
    SetupPending,
    /// Dynamic configuration: setting up.
    Setup,
    /// Not yet processed.
    Pending,
    /// A state this version does not know.
    Unknown(String),
}

impl From<String> for PipelineState {
    fn from(s: String) -> PipelineState {
        match s.as_str() {
            "created" => PipelineState::Created,
            "errored" => PipelineState::Errored,
            "setup-pending" => PipelineState::SetupPending,
            "setup" => PipelineState::Setup,
            "pending" => PipelineState::Pending,
            _ => PipelineState::Unknown(s),
        }
    }
}

impl PipelineState {
    /// Whether the pipeline may still create the workflows of its configuration.
    pub fn may_still_create_workflows(&self) -> bool {
        matches!(
            self,
            PipelineState::SetupPending | PipelineState::Setup | PipelineState::Pending
        )
    }
}

/// Version-control facts of a pipeline.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Vcs {
    /// The branch, absent on tag pipelines.
    #[serde(default)]
    pub branch: Option<String>,
}

/// A pipeline, as listed.
#[derive(Debug, Clone, Deserialize)]
pub struct Pipeline {
    /// Its id.
    pub id: String,
    /// Its number, per project, increasing.
    pub number: u64,
    /// Its state.
    pub state: PipelineState,
    /// When it was created (RFC 3339).
    pub created_at: String,
    /// Branch, tag and commit.
    #[serde(default)]
    pub vcs: Option<Vcs>,
}

/// A workflow's status.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(from = "String")]
pub enum WorkflowStatus {
    /// All its jobs succeeded.
    Success,
    /// Some job is running.
    Running,
    /// It did not run.
    NotRun,
    /// It failed.
    Failed,
    /// It errored.
    Error,
    /// A job failed and others still run.
    Failing,
    /// Waiting for an approval.
    OnHold,
    /// Canceled.
    Canceled,
    /// Not authorized to run.
    Unauthorized,
    /// A status this version does not know.
    Unknown(String),
}

impl From<String> for WorkflowStatus {
    fn from(s: String) -> WorkflowStatus {
        match s.as_str() {
            "success" => WorkflowStatus::Success,
            "running" => WorkflowStatus::Running,
            "not_run" => WorkflowStatus::NotRun,
            "failed" => WorkflowStatus::Failed,
            "error" => WorkflowStatus::Error,
            "failing" => WorkflowStatus::Failing,
            "on_hold" => WorkflowStatus::OnHold,
            "canceled" => WorkflowStatus::Canceled,
            "unauthorized" => WorkflowStatus::Unauthorized,
            _ => WorkflowStatus::Unknown(s),
        }
    }
}

impl WorkflowStatus {
    /// Whether the workflow is over: none of its jobs will change any more (a rerun makes a
    /// new workflow). An unknown status is not over: the lock fails safe.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            WorkflowStatus::Success
                | WorkflowStatus::NotRun
                | WorkflowStatus::Failed
                | WorkflowStatus::Error
                | WorkflowStatus::Canceled
                | WorkflowStatus::Unauthorized
        )
    }
}

/// A workflow.
#[derive(Debug, Clone, Deserialize)]
pub struct Workflow {
    /// Its id (`CIRCLE_WORKFLOW_ID`).
    pub id: String,
    /// Its pipeline.
    pub pipeline_id: String,
    /// Its pipeline's number.
    pub pipeline_number: u64,
    /// Its status.
    pub status: WorkflowStatus,
    /// When it was created (RFC 3339).
    pub created_at: String,
    /// `setup` for the setup workflow of a dynamic configuration.
    #[serde(default)]
    pub tag: Option<String>,
}

/// A job's status.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(from = "String")]
pub enum JobStatus {
    /// Succeeded.
    Success,
    /// Running.
    Running,
    /// Not run (an upstream job failed, or the workflow was canceled first).
    NotRun,
    /// Failed.
    Failed,
    /// Superseded by a rerun.
    Retried,
    /// Waiting for an executor.
    Queued,
    /// Waiting to start.
    NotRunning,
    /// Failed on CircleCI's side.
    InfrastructureFail,
    /// Timed out.
    Timedout,
    /// An approval job waiting for someone to approve.
    OnHold,
    /// Ended in an unknown way.
    TerminatedUnknown,
    /// Waiting for the jobs it requires.
    Blocked,
    /// Canceled.
    Canceled,
    /// Not authorized.
    Unauthorized,
    /// A status this version does not know.
    Unknown(String),
}

impl From<String> for JobStatus {
    fn from(s: String) -> JobStatus {
        match s.as_str() {
            "success" => JobStatus::Success,
            "running" => JobStatus::Running,
            "not_run" => JobStatus::NotRun,
            "failed" => JobStatus::Failed,
            "retried" => JobStatus::Retried,
            "queued" => JobStatus::Queued,
            "not_running" => JobStatus::NotRunning,
            "infrastructure_fail" => JobStatus::InfrastructureFail,
            "timedout" => JobStatus::Timedout,
            "on_hold" => JobStatus::OnHold,
            "terminated-unknown" => JobStatus::TerminatedUnknown,
            "blocked" => JobStatus::Blocked,
            "canceled" => JobStatus::Canceled,
            "unauthorized" => JobStatus::Unauthorized,
            _ => JobStatus::Unknown(s),
        }
    }
}

/// A job of a workflow.
#[derive(Debug, Clone, Deserialize)]
pub struct Job {
    /// Its id.
    pub id: String,
    /// Its name in the workflow (`CIRCLE_JOB`; may contain spaces).
    pub name: String,
    /// Its status.
    pub status: JobStatus,
    /// Its number, once it has started (`CIRCLE_BUILD_NUM`).
    #[serde(default)]
    pub job_number: Option<u64>,
    /// When it started (RFC 3339), once it has.
    #[serde(default)]
    pub started_at: Option<String>,
    /// Ids of the jobs it requires.
    #[serde(default)]
    pub dependencies: Vec<String>,
}

#[derive(Deserialize)]
struct Page<T> {
    items: Vec<T>,
    #[serde(default)]
    next_page_token: Option<String>,
}

/// A CircleCI API v2 client.
pub struct CircleCi {
    client: Client,
    api_url: String,
}

impl CircleCi {
    /// A client for `api_url` with a personal API token; no wait crosses `deadline`.
    pub fn new(api_url: &str, token: &str, deadline: Instant) -> CircleCi {
        ci::register_secret(token);
        let client = Client::new("CircleCI", api_url, Duration::from_millis(500))
            .with_header("Circle-Token", token)
            .with_header("Accept", "application/json")
            .with_deadline(deadline);
        CircleCi {
            client,
            api_url: api_url.trim_end_matches('/').to_string(),
        }
    }

    /// A workflow by id (`GET /workflow/{id}`).
    pub fn workflow(&self, id: &str) -> Result<Workflow> {
        let path = format!("/workflow/{}", http::segment(id));
        self.get(&path, &format!("the workflow {id}"))
    }

    /// The pipelines of `branch`, newest first, page after page until `enough` says a
    /// pipeline is older than anything that can matter (that page is still kept whole).
    pub fn pipelines(
        &self,
        slug: &ProjectSlug,
        branch: &str,
        enough: impl Fn(&Pipeline) -> bool,
    ) -> Result<Vec<Pipeline>> {
        let path = format!(
            "/project/{}/pipeline?branch={}",
            slug.path(),
            http::segment(branch)
        );
        let what = format!("the pipelines of branch {branch} of project {slug}");
        self.walk(&path, &what, |page: &[Pipeline]| page.iter().any(&enough))
    }

    /// Every workflow of a pipeline.
    pub fn workflows(&self, pipeline_id: &str) -> Result<Vec<Workflow>> {
        let path = format!("/pipeline/{}/workflow", http::segment(pipeline_id));
        self.walk(
            &path,
            &format!("the workflows of pipeline {pipeline_id}"),
            |_: &[Workflow]| false,
        )
    }

    /// Every job of a workflow.
    pub fn jobs(&self, workflow_id: &str) -> Result<Vec<Job>> {
        let path = format!("/workflow/{}/job", http::segment(workflow_id));
        self.walk(
            &path,
            &format!("the jobs of workflow {workflow_id}"),
            |_: &[Job]| false,
        )
    }

    /// The web page of a workflow (or of one of its jobs, by number).
    pub fn web_link(
        &self,
        slug: &ProjectSlug,
        pipeline_number: u64,
        workflow_id: &str,
        job_number: Option<u64>,
    ) -> String {
        web_link(
            &self.api_url,
            slug,
            pipeline_number,
            workflow_id,
            job_number,
        )
    }

    /// The web page of a pipeline.
    pub fn pipeline_link(&self, slug: &ProjectSlug, pipeline_number: u64) -> String {
        pipeline_link(&self.api_url, slug, pipeline_number)
    }

    /// Reads a list to its end, following `next_page_token`, until `stop` says a page is
    /// enough. A token seen twice, or more than [`MAX_PAGES`] pages, is an error: the list
    /// cannot be trusted and the lock fails closed.
    fn walk<T: DeserializeOwned>(
        &self,
        path: &str,
        what: &str,
        stop: impl Fn(&[T]) -> bool,
    ) -> Result<Vec<T>> {
        let mut items = Vec::new();
        let mut seen = HashSet::new();
        let mut token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let target = match &token {
                None => path.to_string(),
                Some(t) => {
                    let sep = if path.contains('?') { '&' } else { '?' };
                    format!("{path}{sep}page-token={}", http::segment(t))
                }
            };
            let page: Page<T> = self.get(&target, what)?;
            let done = stop(&page.items);
            items.extend(page.items);
            match page.next_page_token.filter(|t| !t.is_empty()) {
                None => return Ok(items),
                Some(_) if done => return Ok(items),
                Some(next) => {
                    if !seen.insert(next.clone()) {
                        bail!(
                            "CircleCI handed back the same page token twice while listing {what} (GET {}): the listing loops, so the queue cannot be read completely; failing closed rather than deploying on a partial view",
                            http::display_target(path)
                        );
                    }
                    token = Some(next);
                }
            }
        }
        bail!(
            "listing {what} (GET {}) did not end after {MAX_PAGES} pages; failing closed rather than deploying on a partial view",
            http::display_target(path)
        )
    }

    fn get<T: DeserializeOwned>(&self, path: &str, what: &str) -> Result<T> {
        let reply = self
            .client
            .send(Request::get(path))
            .with_context(|| format!("could not read {what} from CircleCI"))?;
        let reply = check(reply, what)?;
        serde_json::from_slice(&reply.body).with_context(|| {
            format!(
                "CircleCI {} answered something that is not {what}: {}",
                reply.request,
                snippet(&reply.body)
            )
        })
    }
}

/// The web page of a workflow, or of one of its jobs. `api_url` decides the host: the public
/// API's web app is `app.circleci.com`; a CircleCI server (or the sandbox) serves both.
pub fn web_link(
    api_url: &str,
    slug: &ProjectSlug,
    pipeline_number: u64,
    workflow_id: &str,
    job_number: Option<u64>,
) -> String {
    let mut link = format!(
        "{}/workflows/{workflow_id}",
        pipeline_link(api_url, slug, pipeline_number)
    );
    if let Some(n) = job_number {
        link.push_str(&format!("/jobs/{n}"));
    }
    link
}

/// The web page of a pipeline.
pub fn pipeline_link(api_url: &str, slug: &ProjectSlug, pipeline_number: u64) -> String {
    let api_url = api_url.trim_end_matches('/');
    let host = if api_url == DEFAULT_API_URL {
        "https://app.circleci.com".to_string()
    } else {
        api_url.trim_end_matches("/api/v2").to_string()
    };
    format!(
        "{host}/pipelines/{}/{}/{}/{pipeline_number}",
        slug.web_vcs(),
        slug.org,
        slug.repo
    )
}

/// Turns an error answer into an error that says what to do.
fn check(reply: Reply, what: &str) -> Result<Reply> {
    if reply.is_success() {
        return Ok(reply);
    }
    let message = serde_json::from_slice::<serde_json::Value>(&reply.body)
        .ok()
        .and_then(|v| v["message"].as_str().map(str::to_string))
        .unwrap_or_else(|| snippet(&reply.body));
    let head = format!(
        "CircleCI {} answered {} ({message:?})",
        reply.request, reply.status
    );
    const TOKEN_HELP: &str = "CIRCLE_TOKEN must be a personal API token (CircleCI → User Settings → Personal API Tokens) of a user who can see the project: project API tokens do not work with CircleCI API v2";
    Err(match reply.status {
        401 => anyhow!("{head}: CircleCI did not accept CIRCLE_TOKEN while reading {what}. {TOKEN_HELP}"),
        403 => anyhow!("{head}: CIRCLE_TOKEN may not read {what}. {TOKEN_HELP}"),
        404 => anyhow!(
            "{head}: {what} was not found, or CIRCLE_TOKEN cannot see it. Check the project slug (--project, SHIPLINE_PROJECT) and the token: {TOKEN_HELP}"
        ),
        429 => anyhow!(
            "{head}: still rate limited after retries while reading {what}; failing closed (raise --poll to make fewer requests)"
        ),
        500..=599 => anyhow!(
            "{head}: CircleCI kept failing while reading {what}; the lock fails closed rather than deploy on a guess (see https://status.circleci.com)"
        ),
        _ => anyhow!("{head} while reading {what}"),
    })
}

fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.chars().count() > 200 {
        format!("{}…", text.chars().take(200).collect::<String>())
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_of_both_forms() {
        let s = ProjectSlug::parse("gh/acme/shop").unwrap();
        assert_eq!(s.path(), "gh/acme/shop");
        let s = ProjectSlug::parse("circleci/6f1a0c3e-org/9b2d-project").unwrap();
        assert_eq!(s.vcs, "circleci");
        assert!(ProjectSlug::parse("acme/shop").is_err());
        assert!(ProjectSlug::parse("gl/acme/shop")
            .unwrap_err()
            .contains("gl"));

        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        let github = ProjectSlug::from_env(env(&[
            ("CIRCLE_REPOSITORY_URL", "git@github.com:acme/shop.git"),
            ("CIRCLE_PROJECT_USERNAME", "acme"),
            ("CIRCLE_PROJECT_REPONAME", "shop"),
        ]));
        assert_eq!(github.unwrap().to_string(), "gh/acme/shop");
        let bitbucket = ProjectSlug::from_env(env(&[
            ("CIRCLE_REPOSITORY_URL", "https://bitbucket.org/acme/shop"),
            ("CIRCLE_PROJECT_USERNAME", "acme"),
            ("CIRCLE_PROJECT_REPONAME", "shop"),
        ]));
        assert_eq!(bitbucket.unwrap().to_string(), "bb/acme/shop");
        let gitlab = ProjectSlug::from_env(env(&[
            ("CIRCLE_REPOSITORY_URL", "https://gitlab.com/acme/shop"),
            ("CIRCLE_ORGANIZATION_ID", "org-1"),
            ("CIRCLE_PROJECT_ID", "proj-2"),
        ]));
        assert_eq!(gitlab.unwrap().to_string(), "circleci/org-1/proj-2");
        assert_eq!(ProjectSlug::from_env(env(&[])), None);
    }

    #[test]
    fn every_documented_status_parses_and_unknown_ones_are_kept() {
        for s in [
            "success",
            "running",
            "not_run",
            "failed",
            "retried",
            "queued",
            "not_running",
            "infrastructure_fail",
            "timedout",
            "on_hold",
            "terminated-unknown",
            "blocked",
            "canceled",
            "unauthorized",
        ] {
            assert!(
                !matches!(JobStatus::from(s.to_string()), JobStatus::Unknown(_)),
                "{s}"
            );
        }
        for s in [
            "success",
            "running",
            "not_run",
            "failed",
            "error",
            "failing",
            "on_hold",
            "canceled",
            "unauthorized",
        ] {
            assert!(
                !matches!(
                    WorkflowStatus::from(s.to_string()),
                    WorkflowStatus::Unknown(_)
                ),
                "{s}"
            );
        }
        for s in ["created", "errored", "setup-pending", "setup", "pending"] {
            assert!(
                !matches!(
                    PipelineState::from(s.to_string()),
                    PipelineState::Unknown(_)
                ),
                "{s}"
            );
        }
        let job: Job = serde_json::from_str(
            r#"{"id":"j","name":"deploy prod","status":"teleporting","started_at":null,"type":"build","dependencies":[],"project_slug":"gh/a/b","extra":1}"#,
        )
        .unwrap();
        assert_eq!(job.status, JobStatus::Unknown("teleporting".into()));
        assert!(!WorkflowStatus::Unknown("x".into()).is_terminal());
        assert!(WorkflowStatus::Canceled.is_terminal());
        assert!(!WorkflowStatus::Failing.is_terminal());
    }

    #[test]
    fn links_and_encoding() {
        let slug = ProjectSlug::parse("gh/acme/shop").unwrap();
        assert_eq!(
            web_link(DEFAULT_API_URL, &slug, 100, "wf", Some(7)),
            "https://app.circleci.com/pipelines/github/acme/shop/100/workflows/wf/jobs/7"
        );
        assert_eq!(
            web_link("http://127.0.0.1:9/api/v2", &slug, 99, "wf", None),
            "http://127.0.0.1:9/pipelines/github/acme/shop/99/workflows/wf"
        );
    }

    #[test]
    fn errors_explain_personal_tokens() {
        let reply = Reply::for_test(
            404,
            br#"{"message":"Project not found"}"#,
            "GET /project/gh/a/b/pipeline",
        );
        let text = check(reply, "the pipelines").unwrap_err().to_string();
        assert!(
            text.contains("404") && text.contains("Project not found"),
            "{text}"
        );
        assert!(
            text.contains("project API tokens do not work with CircleCI API v2"),
            "{text}"
        );
        assert!(text.contains("--project"), "{text}");
        let reply = Reply::for_test(401, br#"{"message":"You must log in first."}"#, "GET /me");
        let text = check(reply, "x").unwrap_err().to_string();
        assert!(text.contains("personal API token"), "{text}");
    }
}
