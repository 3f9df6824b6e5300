//! Conformance of the fake GitHub with GitHub's own OpenAPI description of its REST API.
//!
//! The description is not part of the repository: CI has the part shipline uses beside the
//! clone at `../shared/github/rest-api-subset.json` (or wherever `SHIPLINE_GITHUB_SCHEMA`
//! points). When it is absent the check says so and passes, except under `CI=true`, where it
//! fails.
//!
//! Workflow runs in every status and with every conclusion, re-runs and their attempts, job
//! pages, comparisons that are ahead, behind, diverged and identical over many commits,
//! commit listings and single commits, the rate limit, and every error the fake gives (401,
//! 403, 404, 409, 422, 429, 500, 503) are read through every endpoint the fake serves. Each
//! answer's status must be one the description lists for the operation (or one GitHub answers
//! on any endpoint: 401, 403, 404, 429 and server errors, checked against `basic-error`), and
//! its body must validate against the schema of that status: `$ref`, `nullable`, `allOf`,
//! `anyOf`, `oneOf`, `enum`, `required`, `additionalProperties`, and the `date-time`, `uri`
//! and `email` formats. Documented headers (`Link`, `X-RateLimit-*`) are checked too, and
//! every `Link` page is followed until the listing is complete.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::schema::{is_email, is_uri, load_description, Dialect, Validator};
use common::{is_date_time, Raw, Resp};
use serde_json::{json, Value};
use shipline_sandbox::github::actions::RUN_CONCLUSIONS;
use shipline_sandbox::github::{GitHub, RunSpec};

/// How GitHub's description reads: OpenAPI 3.0, `additionalProperties` honoured.
fn validator(root: &Value) -> Validator<'_> {
    Validator {
        root,
        dialect: Dialect {
            nullable: &["nullable"],
            null_allowed: &[],
            complete: false,
            additional_properties: true,
            formats: &[
                ("date-time", is_date_time),
                ("uri", is_uri),
                ("email", is_email),
            ],
            dangling: &[],
        },
    }
}

// ------------------------------------------------------------------------------------------
// Operations: method + path → the description's responses.
// ------------------------------------------------------------------------------------------

/// The operation whose path template matches `path` for `method`: a `{parameter}` is one
/// segment, or the rest of the path when the parameter is `x-multi-segment`.
fn operation<'s>(spec: &'s Value, method: &str, path: &str) -> Option<(&'s str, &'s Value)> {
    let v = validator(spec);
    let parts: Vec<&str> = path.split('/').skip(1).collect();
    spec["paths"]
        .as_object()?
        .iter()
        .find_map(|(template, item)| {
            let op = item.get(method.to_ascii_lowercase())?;
            let multi: BTreeSet<String> = op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| v.resolve(p))
                .filter(|p| p.get("x-multi-segment") == Some(&json!(true)))
                .filter_map(|p| p["name"].as_str().map(|n| format!("{{{n}}}")))
                .collect();
            let want: Vec<&str> = template.split('/').skip(1).collect();
            let mut i = 0;
            for (k, seg) in want.iter().enumerate() {
                let last = k + 1 == want.len();
                if seg.starts_with('{') {
                    if multi.contains(*seg) && last {
                        parts.get(i).filter(|p| !p.is_empty())?;
                        i = parts.len();
                        continue;
                    }
                    parts.get(i).filter(|p| !p.is_empty())?;
                } else if parts.get(i) != Some(seg) {
                    return None;
                }
                i += 1;
            }
            (i == parts.len()).then_some((template.as_str(), op))
        })
}

/// Statuses GitHub answers on any endpoint, listed or not: a bad token, a token that may not
/// (or a rate limit used up), a repository the token cannot see, a secondary rate limit, and
/// server errors. Their bodies are GitHub's `basic-error`.
const ANY_ENDPOINT: [u16; 6] = [401, 403, 404, 429, 500, 503];

fn load_spec() -> Option<Value> {
    load_description(
        "GitHub conformance",
        "SHIPLINE_GITHUB_SCHEMA",
        "../../../shared/github/rest-api-subset.json",
    )
}

// ------------------------------------------------------------------------------------------
// The checker: sends, validates, follows `Link`, and keeps count.
// ------------------------------------------------------------------------------------------

/// The `(url, rel)` pairs of a `Link` header; panics on a malformed one.
fn links(header: &str) -> Vec<(String, String)> {
    header
        .split(", ")
        .map(|part| {
            let (url, rel) = part
                .split_once("; rel=")
                .unwrap_or_else(|| panic!("malformed Link part {part:?}"));
            let url = url
                .strip_prefix('<')
                .and_then(|u| u.strip_suffix('>'))
                .unwrap_or_else(|| panic!("malformed Link URL {url:?}"));
            (url.to_string(), rel.trim_matches('"').to_string())
        })
        .collect()
}

struct Checker<'a> {
    spec: &'a Value,
    gh: &'a GitHub,
    errors: Vec<String>,
    /// `(METHOD template, status)` → answers validated.
    seen: BTreeMap<(String, u16), usize>,
    /// Statuses answered that the description does not list for the operation.
    undocumented: BTreeSet<(String, u16)>,
    run_statuses: BTreeSet<String>,
    run_conclusions: BTreeSet<String>,
    job_statuses: BTreeSet<String>,
    job_conclusions: BTreeSet<String>,
    compare_statuses: BTreeSet<String>,
}

impl<'a> Checker<'a> {
    fn new(spec: &'a Value, gh: &'a GitHub) -> Checker<'a> {
        Checker {
            spec,
            gh,
            errors: Vec::new(),
            seen: BTreeMap::new(),
            undocumented: BTreeSet::new(),
            run_statuses: BTreeSet::new(),
            run_conclusions: BTreeSet::new(),
            job_statuses: BTreeSet::new(),
            job_conclusions: BTreeSet::new(),
            compare_statuses: BTreeSet::new(),
        }
    }

    fn answers(&self) -> usize {
        self.seen.values().sum()
    }

    /// Sends `GET target` (a path, or a full URL on the fake) with `token` and a User-Agent,
    /// and validates the answer.
    fn get_as(&mut self, target: &str, token: Option<&str>, agent: bool) -> Resp {
        let url = if target.starts_with("http") {
            target.to_string()
        } else {
            format!("{}{target}", self.gh.url())
        };
        let mut raw = Raw::new("GET", &url)
            .header("Accept", "application/vnd.github+json")
            .header("X-GitHub-Api-Version", "2022-11-28");
        if agent {
            raw = raw.header("User-Agent", "shipline-conformance");
        }
        if let Some(t) = token {
            raw = raw.header("Authorization", format!("Bearer {t}"));
        }
        let resp = raw.send();
        let path = url
            .strip_prefix(&self.gh.url())
            .unwrap_or(&url)
            .split('?')
            .next()
            .unwrap()
            .to_string();
        self.check("GET", &path, &resp);
        resp
    }

    fn get(&mut self, target: &str) -> Resp {
        let token = self.gh.token().to_string();
        self.get_as(target, Some(&token), true)
    }

    /// GETs a 200 answer.
    fn ok(&mut self, target: &str) -> Value {
        let resp = self.get(target);
        assert_eq!(resp.status, 200, "GET {target}: {}", resp.text());
        resp.json()
    }

    /// GETs a listing and every following page through `Link`; returns the items under
    /// `key.0` (the body itself when it is an array) and checks their number against the
    /// count under `key.1`.
    fn all_pages(&mut self, target: &str, key: Option<(&str, &str)>) -> Vec<Value> {
        let mut items = Vec::new();
        let mut next = Some(target.to_string());
        let mut total = None;
        let mut pages = 0;
        let mut visited = BTreeSet::new();
        while let Some(target) = next.take() {
            assert!(
                visited.insert(target.clone()),
                "Link loops back to {target}"
            );
            pages += 1;
            let resp = self.get(&target);
            assert_eq!(resp.status, 200, "GET {target}: {}", resp.text());
            let body = resp.json();
            let page = match key {
                Some((items, count)) => {
                    total = body[count].as_u64();
                    body[items].as_array().cloned().unwrap_or_default()
                }
                None => body.as_array().cloned().unwrap_or_default(),
            };
            items.extend(page);
            if let Some(link) = resp.header("Link") {
                let rels = links(link);
                for (url, rel) in &rels {
                    assert!(
                        url.starts_with(&self.gh.url()),
                        "{rel} link {url} not on the API base"
                    );
                    assert!(
                        ["next", "last", "prev", "first"].contains(&rel.as_str()),
                        "unknown rel {rel}"
                    );
                }
                next = rels.into_iter().find(|(_, r)| r == "next").map(|(u, _)| u);
            }
        }
        if let Some(total) = total {
            assert_eq!(
                items.len() as u64,
                total,
                "{target}: {pages} pages hold {} of total_count {total}",
                items.len()
            );
        }
        items
    }

    fn check(&mut self, method: &str, path: &str, resp: &Resp) {
        let Some((template, op)) = operation(self.spec, method, path) else {
            // Paths the description does not hold (the fake answers them 404).
            let key = (format!("{method} (not in the description)"), resp.status);
            *self.seen.entry(key).or_default() += 1;
            if resp.status != 404 {
                self.errors.push(format!(
                    "{method} {path}: {} for an unknown path",
                    resp.status
                ));
            }
            self.check_error_body(method, path, resp);
            return;
        };
        let name = format!("{method} {template}");
        *self.seen.entry((name.clone(), resp.status)).or_default() += 1;
        let v = validator(self.spec);
        let listed = op["responses"]
            .get(resp.status.to_string())
            .map(|r| v.resolve(r));
        let response = match listed {
            Some(r) => r,
            None if ANY_ENDPOINT.contains(&resp.status) => {
                self.undocumented.insert((name.clone(), resp.status));
                self.check_error_body(method, path, resp);
                self.check_rate_headers(&name, resp);
                return;
            }
            None => {
                self.errors.push(format!(
                    "{name}: status {} is not in the description ({})",
                    resp.status,
                    resp.text()
                ));
                return;
            }
        };
        self.check_rate_headers(&name, resp);
        for (header, spec) in response
            .get("headers")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            let spec = v.resolve(spec);
            match resp.header(header) {
                Some(value) if spec["schema"]["type"] == "integer" => {
                    if value.trim().parse::<u64>().is_err() {
                        self.errors
                            .push(format!("{name}: header {header}: {value:?} not an integer"));
                    }
                }
                Some(_) => {}
                // `Link` only when there are other pages.
                None if header.eq_ignore_ascii_case("link") => {}
                None => self
                    .errors
                    .push(format!("{name} {}: no {header} header", resp.status)),
            }
        }
        let Some(content) = response.get("content") else {
            if !resp.body.is_empty() {
                self.errors.push(format!(
                    "{name} {}: a body where none is described",
                    resp.status
                ));
            }
            return;
        };
        let Some(schema) = content.get("application/json").map(|c| &c["schema"]) else {
            self.errors
                .push(format!("{name} {}: no JSON answer described", resp.status));
            return;
        };
        let body: Value = match serde_json::from_slice(&resp.body) {
            Ok(b) => b,
            Err(e) => {
                self.errors
                    .push(format!("{name} {}: body is not JSON: {e}", resp.status));
                return;
            }
        };
        if !resp
            .header("Content-Type")
            .is_some_and(|t| t.starts_with("application/json"))
        {
            self.errors
                .push(format!("{name}: Content-Type is not JSON"));
        }
        for e in v.errors(schema, &body) {
            self.errors
                .push(format!("{name} {} {path}: {e}", resp.status));
        }
        self.note_values(&body);
    }

    /// Every answer carries the primary rate limit's headers, as integers (the reference
    /// documents them for every endpoint; the description only for `/rate_limit`).
    fn check_rate_headers(&mut self, name: &str, resp: &Resp) {
        for header in [
            "X-RateLimit-Limit",
            "X-RateLimit-Remaining",
            "X-RateLimit-Reset",
            "X-RateLimit-Used",
        ] {
            if resp
                .header(header)
                .and_then(|v| v.parse::<u64>().ok())
                .is_none()
            {
                self.errors.push(format!(
                    "{name} {}: {header} missing or not an integer",
                    resp.status
                ));
            }
        }
    }

    /// An error answer: GitHub's `basic-error`, with `message` and `documentation_url`.
    fn check_error_body(&mut self, method: &str, path: &str, resp: &Resp) {
        let v = validator(self.spec);
        let body: Value = serde_json::from_slice(&resp.body).unwrap_or(Value::Null);
        let schema = json!({"$ref": "#/components/schemas/basic-error"});
        for e in v.errors(&schema, &body) {
            self.errors
                .push(format!("{method} {path} {}: {e}", resp.status));
        }
        for field in ["message", "documentation_url"] {
            if !body[field].is_string() {
                self.errors
                    .push(format!("{method} {path} {}: no {field}", resp.status));
            }
        }
    }

    /// Records the statuses and conclusions of runs, jobs and comparisons seen.
    fn note_values(&mut self, body: &Value) {
        fn note(
            items: Option<&Vec<Value>>,
            statuses: &mut BTreeSet<String>,
            conclusions: &mut BTreeSet<String>,
        ) {
            for item in items.into_iter().flatten() {
                if let Some(s) = item["status"].as_str() {
                    statuses.insert(s.into());
                }
                if let Some(c) = item["conclusion"].as_str() {
                    conclusions.insert(c.into());
                }
            }
        }
        if body.get("run_number").is_some() {
            note(
                Some(&vec![body.clone()]),
                &mut self.run_statuses,
                &mut self.run_conclusions,
            );
        }
        note(
            body["workflow_runs"].as_array(),
            &mut self.run_statuses,
            &mut self.run_conclusions,
        );
        note(
            body["jobs"].as_array(),
            &mut self.job_statuses,
            &mut self.job_conclusions,
        );
        if body.get("ahead_by").is_some() {
            if let Some(s) = body["status"].as_str() {
                self.compare_statuses.insert(s.into());
            }
        }
    }
}

// ------------------------------------------------------------------------------------------
// A repository to compare and list.
// ------------------------------------------------------------------------------------------

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "Ada Lovelace")
        .env("GIT_AUTHOR_EMAIL", "ada@example.com")
        .env("GIT_COMMITTER_NAME", "Ada Lovelace")
        .env("GIT_COMMITTER_EMAIL", "ada@example.com")
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("shipline-ghschema-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `main` with 40 commits (a merge among them, a tag `v1` at the 10th), `feature` branched
/// at the 30th with 3 of its own, and `orphan` without a common ancestor.
fn history() -> PathBuf {
    let dir = temp_dir("repo");
    git(&dir, &["init", "-q", "-b", "main"]);
    for i in 1..=40 {
        std::fs::write(dir.join("file.txt"), format!("line {i}\n")).unwrap();
        git(&dir, &["add", "file.txt"]);
        let message = format!("Change {i}\n\nWith a body: \"quoted\", 'single', tab\there.");
        git(&dir, &["commit", "-q", "-m", &message]);
        if i == 10 {
            git(&dir, &["tag", "v1"]);
        }
        if i == 20 {
            git(&dir, &["checkout", "-q", "-b", "side"]);
            git(&dir, &["commit", "-q", "--allow-empty", "-m", "Side work"]);
            git(&dir, &["checkout", "-q", "main"]);
            git(
                &dir,
                &["merge", "-q", "--no-ff", "-m", "Merge side", "side"],
            );
        }
        if i == 30 {
            git(&dir, &["branch", "feature"]);
        }
    }
    git(&dir, &["checkout", "-q", "feature"]);
    for i in 1..=3 {
        git(
            &dir,
            &[
                "commit",
                "-q",
                "--allow-empty",
                "-m",
                &format!("Feature {i}"),
            ],
        );
    }
    git(&dir, &["checkout", "-q", "--orphan", "orphan"]);
    git(&dir, &["commit", "-q", "--allow-empty", "-m", "Unrelated"]);
    git(&dir, &["checkout", "-q", "main"]);
    dir
}

/// Who asks, for the error answers.
enum Caller {
    Token,
    WrongToken,
    NoToken,
    NoAgent,
    NoActions,
}

const RUNS: Option<(&str, &str)> = Some(("workflow_runs", "total_count"));
const JOBS: Option<(&str, &str)> = Some(("jobs", "total_count"));

// ------------------------------------------------------------------------------------------
// The scenario.
// ------------------------------------------------------------------------------------------

#[test]
fn sandbox_answers_match_githubs_openapi_description() {
    let Some(spec) = load_spec() else { return };
    let gh = GitHub::start();
    gh.set_runs_page_cap(3);
    gh.set_page_cap(7);
    let repo = history();
    gh.add_repo("acme/shop", &repo);
    let empty = temp_dir("empty");
    git(&empty, &["init", "-q", "-b", "main"]);
    gh.add_repo("acme/empty", &empty);

    // Runs in every state.
    let ms = Duration::from_millis;
    let long = Duration::from_secs(600);
    let mut runs = Vec::new();
    let done = gh.start_run(RunSpec::branch("main", ms(0)));
    assert!(gh.wait_at_lock(&done, Duration::from_secs(5)));
    gh.finish_run(&done, true);
    runs.push(done);
    runs.push(gh.start_run(RunSpec::branch("main", ms(0)).failing()));
    runs.push(gh.start_run(RunSpec::branch("main", ms(0)).with_approval()));
    runs.push(gh.start_run(RunSpec::branch("main", ms(0)).queued_for(long)));
    runs.push(gh.start_run(RunSpec::branch("main", long)));
    for status in ["requested", "queued", "pending"] {
        runs.push(gh.start_run(RunSpec::branch("main", ms(0)).held(status, long)));
    }
    runs.push(gh.start_run(RunSpec::tag("v1.0.0", ms(0))));
    runs.push(gh.start_run(RunSpec {
        branch: None,
        ..RunSpec::branch("main", long)
    }));
    runs.push(
        gh.start_run(RunSpec::branch("main", ms(0)).stuck_running(Duration::from_secs(3 * 3600))),
    );
    // Every conclusion but success and failure, each on a run in its tests and on one whose
    // lock job runs.
    for conclusion in RUN_CONCLUSIONS
        .into_iter()
        .filter(|c| !["success", "failure"].contains(c))
    {
        let testing = gh.start_run(RunSpec::branch("main", long));
        gh.conclude(&testing, conclusion);
        let at_lock = gh.start_run(RunSpec::branch("main", ms(0)).job("deploy prod"));
        assert!(gh.wait_at_lock(&at_lock, Duration::from_secs(5)));
        gh.conclude(&at_lock, conclusion);
        runs.extend([testing, at_lock]);
    }
    // Re-runs: a failed run re-run twice, its third attempt at the lock.
    let rerun = gh.start_run(RunSpec::branch("main", ms(0)));
    assert!(gh.wait_at_lock(&rerun, Duration::from_secs(5)));
    gh.finish_run(&rerun, false);
    gh.rerun(&rerun);
    assert!(gh.wait_at_lock(&rerun, Duration::from_secs(5)));
    gh.conclude(&rerun, "cancelled");
    gh.rerun(&rerun);
    assert!(gh.wait_at_lock(&rerun, Duration::from_secs(5)));
    runs.push(rerun.clone());
    let at_lock = gh.start_run(RunSpec::branch("main", ms(0)));
    assert!(gh.wait_at_lock(&at_lock, Duration::from_secs(5)));
    runs.push(at_lock);
    std::thread::sleep(ms(20));

    let mut c = Checker::new(&spec, &gh);
    let base = "/repos/acme/shop/actions";

    // Listings, page by page, whole and filtered.
    let listed = c.all_pages(&format!("{base}/workflows/deploy.yml/runs"), RUNS);
    assert_eq!(listed.len(), runs.len());
    let ids: Vec<u64> = listed.iter().map(|r| r["id"].as_u64().unwrap()).collect();
    let mut newest_first = ids.clone();
    newest_first.sort_by(|a, b| b.cmp(a));
    assert_eq!(ids, newest_first, "runs are listed newest first");
    c.all_pages(&format!("{base}/workflows/161335/runs?per_page=100"), RUNS);
    c.all_pages(&format!("{base}/runs?per_page=4"), RUNS);
    let on_main = c.all_pages(
        &format!("{base}/workflows/deploy.yml/runs?branch=main&per_page=2"),
        RUNS,
    );
    assert!(on_main.iter().all(|r| r["head_branch"] == "main"));
    // Every value the description lists for the `status` filter, and `startup_failure`.
    let mut filters: Vec<&str> = spec
        .pointer("/components/parameters/workflow-run-status/schema/enum")
        .and_then(Value::as_array)
        .expect("the runs' status filter is described")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(filters.len() >= 14, "{filters:?}");
    filters.push("startup_failure");
    for status in filters {
        let found = c.all_pages(&format!("{base}/runs?status={status}"), RUNS);
        assert!(!found.is_empty(), "no run answers status={status}");
        assert!(found
            .iter()
            .all(|r| r["status"] == status || r["conclusion"] == status));
    }
    // Beyond the last page: an empty page, the count unchanged.
    let beyond = c.ok(&format!("{base}/runs?per_page=3&page=999"));
    assert_eq!(beyond["workflow_runs"], json!([]));
    assert_eq!(beyond["total_count"].as_u64(), Some(runs.len() as u64));

    // Each run, its jobs (latest and every attempt), page by page.
    for run in &runs {
        let one = c.ok(&format!("{base}/runs/{}", run.id));
        assert_eq!(one["run_number"].as_u64(), Some(run.number));
        let latest = c.all_pages(
            &format!("{base}/runs/{}/jobs?filter=latest&per_page=1", run.id),
            JOBS,
        );
        let every = c.all_pages(&format!("{base}/runs/{}/jobs?filter=all", run.id), JOBS);
        assert!(every.len() >= latest.len());
        let attempt = one["run_attempt"].as_u64().unwrap();
        let current = c.all_pages(
            &format!("{base}/runs/{}/attempts/{attempt}/jobs", run.id),
            JOBS,
        );
        assert_eq!(
            current, latest,
            "attempt {attempt} of #{} is the latest",
            run.number
        );
    }
    let third = c.ok(&format!("{base}/runs/{}", rerun.id));
    assert_eq!(third["run_attempt"], 3);
    assert!(third["previous_attempt_url"]
        .as_str()
        .is_some_and(|u| u.ends_with(&format!("/runs/{}/attempts/2", rerun.id))));
    let mut all_jobs = 0;
    for n in 1..=3 {
        let jobs = c.all_pages(
            &format!("{base}/runs/{}/attempts/{n}/jobs?per_page=1", rerun.id),
            JOBS,
        );
        assert!(jobs.iter().all(|j| j["run_attempt"] == n), "{jobs:?}");
        all_jobs += jobs.len();
    }
    let every = c.all_pages(
        &format!("{base}/runs/{}/jobs?filter=all&per_page=2", rerun.id),
        JOBS,
    );
    assert_eq!(every.len(), all_jobs);
    assert_eq!(
        c.get(&format!("{base}/runs/{}/attempts/4/jobs", rerun.id))
            .status,
        404
    );
    assert_eq!(
        c.get(&format!("{base}/runs/{}/attempts/0/jobs", rerun.id))
            .status,
        404
    );

    // Comparisons over many commits, page by page.
    for (basehead, status, ahead) in [
        ("v1...main", "ahead", 32),
        ("main...v1", "behind", 0),
        ("main...feature", "diverged", 3),
        ("feature...feature", "identical", 0),
        ("heads%2Fmain...main", "identical", 0),
    ] {
        let first = c.ok(&format!("/repos/acme/shop/compare/{basehead}"));
        assert_eq!(first["status"], status, "{basehead}");
        assert_eq!(first["ahead_by"], ahead, "{basehead}");
        // Each page repeats the comparison with a page of its commits, oldest first.
        let commits = c.all_pages(
            &format!("/repos/acme/shop/compare/{basehead}?per_page=5"),
            Some(("commits", "total_commits")),
        );
        assert_eq!(commits.len() as u64, first["ahead_by"].as_u64().unwrap());
    }

    // Commits: listed from a branch, a tag and HEAD, page by page; one by SHA, branch, tag and
    // `heads/…`.
    let listed = c.all_pages("/repos/acme/shop/commits?per_page=9", None);
    // 40 on main, the side branch's commit and the merge.
    assert_eq!(listed.len(), 42);
    c.all_pages("/repos/acme/shop/commits?sha=feature", None);
    c.all_pages("/repos/acme/shop/commits?sha=v1&per_page=100", None);
    let head = git(&repo, &["rev-parse", "HEAD"]);
    for reference in [
        head.as_str(),
        "main",
        "v1",
        "heads/feature",
        "tags/v1",
        &head[..7],
    ] {
        let commit = c.ok(&format!("/repos/acme/shop/commits/{reference}"));
        assert!(commit["sha"].as_str().is_some_and(|s| s.len() == 40));
    }

    // Rate limit: with a token, without, and once used up (reading it does not count).
    let limit = c.ok("/rate_limit");
    assert_eq!(limit["resources"]["core"]["limit"], 5000);
    assert_eq!(c.get_as("/rate_limit", None, true).status, 200);

    // Every error the fake gives, to the caller it answers so.
    use Caller::*;
    let no_actions = gh.issue_token_without_actions("no-actions");
    let run = format!("{base}/runs/{}", rerun.id);
    let errors = [
        (WrongToken, "/repos/acme/shop/actions/runs", 401),
        (WrongToken, "/repos/acme/shop/compare/main...v1", 401),
        (WrongToken, "/repos/acme/shop/commits", 401),
        (WrongToken, "/rate_limit", 401),
        (NoToken, "{run}", 404),
        (NoToken, "/repos/acme/shop/compare/main...v1", 404),
        (NoToken, "/repos/acme/shop/commits/main", 404),
        (NoAgent, "/repos/acme/shop/actions/runs", 403),
        (NoActions, "{run}/jobs", 403),
        (
            NoActions,
            "/repos/acme/shop/actions/workflows/deploy.yml/runs",
            403,
        ),
        (Token, "/repos/acme/shop/actions/runs/1", 404),
        (Token, "/repos/acme/shop/actions/runs/1/jobs", 404),
        (
            Token,
            "/repos/acme/shop/actions/workflows/other.yml/runs",
            404,
        ),
        (Token, "/repos/acme/other/actions/runs", 404),
        (Token, "/repos/acme/shop/compare/main...nope", 404),
        (Token, "/repos/acme/shop/compare/main...orphan", 404),
        (Token, "/repos/acme/shop/compare/main", 404),
        (Token, "/repos/acme/other/compare/a...b", 404),
        (Token, "/repos/acme/shop/commits?sha=nope", 404),
        (Token, "/repos/acme/shop/commits/nope", 422),
        (Token, "/repos/acme/empty/commits", 409),
        (Token, "/repos/acme/empty/commits/main", 409),
        (Token, "/repos/acme/shop/deployments", 404),
        (Token, "/nothing/here", 404),
    ];
    for (caller, target, status) in errors {
        let target = target.replace("{run}", &run);
        let (token, agent) = match caller {
            Token => (Some(gh.token()), true),
            WrongToken => (Some("ghs_wrong"), true),
            NoToken => (None, true),
            NoAgent => (Some(gh.token()), false),
            NoActions => (Some(no_actions.as_str()), true),
        };
        let resp = c.get_as(&target, token, agent);
        assert_eq!(resp.status, status, "GET {target}: {}", resp.text());
    }
    // Injected: a secondary rate limit, server errors, a validation failure, then the primary
    // rate limit used up.
    for (prefix, status, target) in [
        ("/repos/acme/shop/actions/runs", 429, "{run}"),
        (
            "/repos/acme/shop/compare",
            500,
            "/repos/acme/shop/compare/v1...main",
        ),
        (
            "/repos/acme/shop/compare",
            503,
            "/repos/acme/shop/compare/v1...main",
        ),
        (
            "/repos/acme/shop/commits",
            422,
            "/repos/acme/shop/commits/main",
        ),
        ("/repos/acme/shop/commits", 500, "/repos/acme/shop/commits"),
        (
            "/repos/acme/shop/actions/runs",
            403,
            "/repos/acme/shop/actions/runs",
        ),
    ] {
        gh.fail_next(prefix, status, 1);
        let target = target.replace("{run}", &run);
        let resp = c.get(&target);
        assert_eq!(resp.status, status, "GET {target}: {}", resp.text());
        if status == 429 {
            assert_eq!(resp.header("Retry-After"), Some("1"));
        }
    }
    let used_up = c.get("/repos/acme/shop/commits");
    assert_eq!(used_up.status, 403);
    assert_eq!(used_up.header("X-RateLimit-Remaining"), Some("0"));
    let limit = c.ok("/rate_limit");
    assert_eq!(limit["resources"]["core"]["remaining"], 0);
    assert_eq!(limit["rate"]["remaining"], 0);

    // Verdict.
    assert!(
        c.errors.is_empty(),
        "{} answers that do not match the description:\n{}",
        c.errors.len(),
        c.errors.join("\n")
    );
    // Endpoints that answered 200: the fake serves these (deployments it does not).
    let served: BTreeSet<&str> = c
        .seen
        .keys()
        .filter(|(_, status)| *status == 200)
        .map(|(name, _)| name.as_str())
        .collect();
    let expected: BTreeSet<&str> = [
        "GET /repos/{owner}/{repo}/actions/runs",
        "GET /repos/{owner}/{repo}/actions/runs/{run_id}",
        "GET /repos/{owner}/{repo}/actions/runs/{run_id}/jobs",
        "GET /repos/{owner}/{repo}/actions/runs/{run_id}/attempts/{attempt_number}/jobs",
        "GET /repos/{owner}/{repo}/actions/workflows/{workflow_id}/runs",
        "GET /repos/{owner}/{repo}/compare/{basehead}",
        "GET /repos/{owner}/{repo}/commits",
        "GET /repos/{owner}/{repo}/commits/{ref}",
        "GET /rate_limit",
    ]
    .into();
    assert_eq!(
        served, expected,
        "every endpoint of the fake, and only those"
    );
    let want = |seen: &BTreeSet<String>, all: &[&str], what: &str| {
        for value in all {
            assert!(seen.contains(*value), "no {what} {value} seen: {seen:?}");
        }
    };
    want(
        &c.run_statuses,
        &[
            "requested",
            "queued",
            "pending",
            "waiting",
            "in_progress",
            "completed",
        ],
        "run status",
    );
    want(&c.run_conclusions, &RUN_CONCLUSIONS, "run conclusion");
    let job = &spec["components"]["schemas"]["job"]["properties"];
    let listed = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .filter_map(|s| s.as_str().map(str::to_string))
            .collect()
    };
    let job_statuses = listed(&job["status"]["enum"]);
    let job_conclusions = listed(&job["conclusion"]["enum"]);
    want(
        &c.job_statuses,
        &job_statuses.iter().map(String::as_str).collect::<Vec<_>>(),
        "job status",
    );
    want(
        &c.job_conclusions,
        &job_conclusions
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        "job conclusion",
    );
    want(
        &c.compare_statuses,
        &["ahead", "behind", "diverged", "identical"],
        "comparison status",
    );
    let table: Vec<String> = c
        .seen
        .iter()
        .map(|((name, status), n)| format!("  {name} {status}: {n}"))
        .collect();
    eprintln!(
        "validated {} answers:\n{}\nstatuses GitHub answers on any endpoint though the description does not list them there (checked against basic-error):\n{}",
        c.answers(),
        table.join("\n"),
        c.undocumented
            .iter()
            .map(|(n, s)| format!("  {n} {s}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    drop(gh);
    let _ = std::fs::remove_dir_all(&repo);
    let _ = std::fs::remove_dir_all(&empty);
}

// ------------------------------------------------------------------------------------------
// The checker's own parts, without the description.
// ------------------------------------------------------------------------------------------

#[test]
fn the_validator_catches_what_it_should() {
    let root = json!({"components": {"schemas": {
        "job": {
            "type": "object",
            "required": ["id", "status", "conclusion"],
            "properties": {
                "id": {"type": "integer"},
                "status": {"type": "string", "enum": ["queued", "completed"]},
                "conclusion": {"type": "string", "nullable": true, "enum": ["success"]},
                "started_at": {"type": "string", "format": "date-time"},
                "url": {"type": "string", "format": "uri"},
                "author": {"nullable": true, "oneOf": [
                    {"$ref": "#/components/schemas/user"},
                    {"$ref": "#/components/schemas/empty"}
                ]},
                "both": {"allOf": [{"required": ["a"]}, {"required": ["b"]}]},
                "any": {"anyOf": [{"type": "integer"}, {"type": "string"}]}
            }
        },
        "user": {"type": "object", "required": ["login"], "properties": {"login": {"type": "string"}}},
        "empty": {"type": "object", "properties": {}, "additionalProperties": false}
    }}});
    let v = validator(&root);
    let schema = json!({"$ref": "#/components/schemas/job"});
    let good = json!({
        "id": 1, "status": "queued", "conclusion": null, "started_at": "2026-11-27T03:00:00Z",
        "url": "http://127.0.0.1:8080/x", "author": {}, "both": {"a": 1, "b": 2}, "any": "x",
        "extra": true
    });
    assert_eq!(v.errors(&schema, &good), Vec::<String>::new());
    let user = json!({"id": 1, "status": "completed", "conclusion": "success", "author": {"login": "ada"}});
    assert_eq!(v.errors(&schema, &user), Vec::<String>::new());
    let bad = json!({
        "id": "1", "status": "flying", "started_at": null, "url": "not a uri",
        "author": {"login": 3}, "both": {"a": 1}, "any": true
    });
    let errors = v.errors(&schema, &bad);
    for expected in [
        "missing required property \"conclusion\"",
        "body.id: expected integer",
        "body.status: \"flying\" is not one of",
        "body.started_at: null, but not nullable",
        "body.url: \"not a uri\" is not a uri",
        "body.author: matches 0 of the oneOf options",
        "body.both: missing required property \"b\"",
        "body.any: matches 0 of the anyOf options",
    ] {
        assert!(
            errors.iter().any(|e| e.contains(expected)),
            "{expected} not caught: {errors:#?}"
        );
    }
    assert_eq!(errors.len(), 8, "{errors:#?}");
    let extra = json!({"id": 1, "status": "queued", "conclusion": null, "author": {"x": 1}});
    assert_eq!(
        v.errors(&schema, &extra).len(),
        1,
        "{:?}",
        v.errors(&schema, &extra)
    );
    assert!(is_uri("https://api.github.com/repos/o/r") && !is_uri("/repos/o/r"));
    assert!(is_email("ada@example.com") && !is_email("ada"));
}

#[test]
fn operations_are_matched_by_method_and_template() {
    let spec = json!({
        "paths": {
            "/repos/{owner}/{repo}/actions/runs/{run_id}": {"get": {"parameters": []}},
            "/repos/{owner}/{repo}/actions/runs/{run_id}/jobs": {"get": {"parameters": []}},
            "/repos/{owner}/{repo}/commits/{ref}": {"get": {"parameters": [
                {"$ref": "#/components/parameters/commit-ref"}
            ]}},
            "/repos/{owner}/{repo}/deployments": {"post": {"parameters": []}}
        },
        "components": {"parameters": {"commit-ref": {
            "name": "ref", "in": "path", "x-multi-segment": true
        }}}
    });
    let t = |m: &str, p: &str| operation(&spec, m, p).map(|(t, _)| t);
    assert_eq!(
        t("GET", "/repos/a/b/actions/runs/5"),
        Some("/repos/{owner}/{repo}/actions/runs/{run_id}")
    );
    assert_eq!(
        t("GET", "/repos/a/b/actions/runs/5/jobs"),
        Some("/repos/{owner}/{repo}/actions/runs/{run_id}/jobs")
    );
    assert_eq!(
        t("GET", "/repos/a/b/commits/heads/main"),
        Some("/repos/{owner}/{repo}/commits/{ref}")
    );
    assert_eq!(t("GET", "/repos/a/b/commits/"), None);
    assert_eq!(t("GET", "/repos/a/b/actions/runs/5/logs"), None);
    assert_eq!(t("GET", "/repos/a/b/deployments"), None);
    assert_eq!(
        t("POST", "/repos/a/b/deployments"),
        Some("/repos/{owner}/{repo}/deployments")
    );
    assert_eq!(
        links("<http://h/x?page=2>; rel=\"next\", <http://h/x?page=5>; rel=\"last\""),
        vec![
            ("http://h/x?page=2".to_string(), "next".to_string()),
            ("http://h/x?page=5".to_string(), "last".to_string())
        ]
    );
}
