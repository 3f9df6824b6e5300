//! The state file: what one step of a CI job tells the next.
//!
//! Steps of one job run as separate processes (`lock`, `deploy` to staging, `verify`,
//! `notify`, `promote` to production, `verify`, `notify`). The state file is how they talk, and
//! one job often acts on several apps, so it records:
//! - every step in the order it ran, with the apps it acted on, its outcome, reason and timing;
//! - per app, what happened to it: the change (a deploy or a promotion, with the releases
//!   before and after, the commit and the URL), the release notes of what shipped to it, the
//!   verify verdict and any rollback;
//! - the lock's verdict and what was posted to Slack (one message per app).
//!
//! A step acts on the app of the latest deploy or promote unless told another
//! ([`State::latest_change_apps`]), and skips after an earlier skip only when it depends on the
//! step that skipped ([`State::skipped_dependency`]). The file is JSON, versioned, read into
//! typed records (a file of another shape is an error naming it, never silently reset), written
//! atomically (temporary file + rename), and keeps keys it does not know so that an older
//! binary never erases what a newer step wrote.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::notes::Recorded;
use crate::outcome::Outcome;

/// The format version of the state file. A file with a newer version is refused rather than
/// misread; version 1 (one record per step name, one app per job) is refused within the same
/// run, since mixing binaries in one job would misread it.
pub const STATE_VERSION: u64 = 2;

/// What one step recorded about itself, in the order the steps ran.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct StepRecord {
    /// The step: `lock`, `deploy`, `verify`, …
    pub step: String,
    /// The apps it acted on (none for `lock`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub apps: Vec<String>,
    /// `done`, `skipped`, `failed` or `cancelled`.
    pub outcome: String,
    /// Why it skipped, failed or was cancelled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// When the step started, RFC 3339 UTC.
    pub started_at: String,
    /// How long it took.
    pub duration_ms: u64,
    /// Whether it was a `--dry-run`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,
    /// How it ended on each app, when it acted on several (one app of a promotion can fail
    /// while another goes live).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub by_app: BTreeMap<String, AppOutcome>,
}

/// How a step that acted on several apps ended on one of them.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AppOutcome {
    /// `done`, `skipped` or `failed`.
    pub outcome: String,
    /// Why it skipped or failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl StepRecord {
    /// The record as it reads for `app`: with that app's own outcome when the step acted on
    /// several.
    pub fn for_app(&self, app: &str) -> StepRecord {
        let mut record = self.clone();
        if let Some(own) = self.by_app.get(app) {
            record.outcome = own.outcome.clone();
            record.reason = own.reason.clone();
        }
        record
    }

    /// Whether the step acted on `app`, or on no app at all (the lock, which every app of the
    /// job waits behind).
    pub fn concerns(&self, app: &str) -> bool {
        self.apps.is_empty() || self.apps.iter().any(|a| a == app)
    }
}

/// A release as the state file names it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ReleaseRef {
    /// Heroku's release id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `v<version>` in Heroku's words.
    pub version: u64,
    /// The commit it runs, when its slug says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
}

/// How new code reached an app.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    /// `shipline deploy`: a build from source.
    Deploy,
    /// `shipline promote`: another app's slug.
    Promote,
}

/// Where a promotion's slug came from.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PromotedFrom {
    /// The staging app.
    pub app: String,
    /// Its release whose slug shipped.
    pub release: u64,
    /// The slug.
    pub slug: String,
}

/// What a deploy or a promotion did to an app.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Change {
    /// Deploy or promote.
    pub kind: ChangeKind,
    /// The commit shipped (full id).
    pub commit: String,
    /// The revision it was resolved from (`HEAD`, a branch).
    #[serde(rename = "ref")]
    pub git_ref: String,
    /// The release live before, when there was one.
    #[serde(default)]
    pub previous_release: Option<ReleaseRef>,
    /// The release created; `None` for a dry run or before it exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<ReleaseRef>,
    /// Where the app is served.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub web_url: Option<String>,
    /// The build (deploy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_id: Option<String>,
    /// The staging app and release whose slug shipped (promote).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<PromotedFrom>,
    /// `pipeline` (a pipeline promotion) or `slug` (a release of the slug) for a promotion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    /// Whether it was a `--dry-run` (nothing was released).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,
    /// How long each phase took.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timings_ms: Option<Value>,
}

/// What `verify` found.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct VerifyRecord {
    /// The release verified.
    pub release: u64,
    /// Whether it passed.
    pub passed: bool,
    /// Why not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The dynos' verdict.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dynos: Option<Value>,
    /// Each endpoint check's report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checks: Option<Value>,
    /// How long it took.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timings_ms: Option<Value>,
}

/// A rollback, by hand or by `verify --rollback-on-failure`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RollbackRecord {
    /// The step that rolled back (`verify`, `rollback`).
    pub by: String,
    /// The version restored.
    pub to: u64,
    /// The release rolled back from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<u64>,
    /// The commit restored, when its slug says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// The rollback release Heroku created (`Rollback to vN`); `None` for a dry run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<ReleaseRef>,
    /// Whether it was a `--dry-run`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,
}

/// Work a step started on Heroku and had not seen finish: a build, a release phase, a
/// promotion or a rollback. Recorded before the step waits on it, cleared once it is done, so a
/// step cancelled mid-wait leaves a record of what goes on without it, and the re-run knows
/// what to pick up (Heroku's own records say the same; this record adds what it cannot, such as
/// a promotion's id).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct InFlight {
    /// The step that started it: `deploy`, `promote` or `rollback`.
    pub step: String,
    /// `build`, `release`, `promotion` or `rollback`.
    pub kind: String,
    /// Heroku's id of the build, release or promotion.
    pub id: String,
    /// The release's version, once there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    /// The commit it ships, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// When the step started it, RFC 3339 UTC.
    pub started_at: String,
    /// The signal that cancelled the step that was following it (`SIGTERM`), once one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancelled_by: Option<String>,
}

impl InFlight {
    /// What it is, in words: `build 1a2b… of 3c4d5e6`, `release v12 (its release phase)`.
    pub fn describe(&self) -> String {
        let commit = self
            .commit
            .as_deref()
            .map(|c| format!(" of {}", crate::text::short(c)))
            .unwrap_or_default();
        match (self.kind.as_str(), self.version) {
            ("build", _) => format!("build {}{commit}", self.id),
            ("promotion", _) => format!("promotion {}{commit}", self.id),
            ("rollback", Some(v)) => format!("rollback release v{v} (its release phase)"),
            (_, Some(v)) => format!("release v{v}{commit} (its release phase)"),
            (kind, None) => format!("{kind} {}{commit}", self.id),
        }
    }

    /// How a person follows it on `app` while no shipline step does.
    pub fn follow_hint(&self, app: &str) -> String {
        match (self.kind.as_str(), self.version) {
            ("build", _) => format!(
                "`heroku builds:info {} -a {app}` (heroku-builds plugin) or the app's Activity tab",
                self.id
            ),
            (_, Some(v)) => format!("`heroku releases:output v{v} -a {app}`"),
            ("promotion", None) => format!(
                "`GET /pipeline-promotions/{}/promotion-targets` or the pipeline's page",
                self.id
            ),
            (_, None) => format!("`heroku releases -a {app}`"),
        }
    }
}

/// Everything the job did to one app.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct AppRecord {
    /// The latest deploy or promotion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<Change>,
    /// The release notes of what shipped to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<Recorded>,
    /// The latest verify verdict.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify: Option<VerifyRecord>,
    /// The latest rollback.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback: Option<RollbackRecord>,
    /// Work started on Heroku that no step has seen finish yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_flight: Option<InFlight>,
    /// What a re-run found of the work a cancelled step left in flight, e.g. `cancelled during
    /// the release phase; the release completed as v12`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adopted: Option<String>,
    /// Fields a newer shipline wrote.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// One Slack message of the run: a webhook cannot update, so it remembers what it posted; the
/// Web API updates one message per app.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlackMessage {
    /// The message's `ts`, which later steps update (Web API).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ts: Option<String>,
    /// The `ts` of the thread reply that carried the failure mention, so it is sent once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_reply_ts: Option<String>,
    /// `status at step` of each message a webhook delivered, so a repeat is not posted twice.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub posted: Vec<String>,
    /// The status the last attempt reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Whether the last attempt reached Slack.
    pub delivered: bool,
    /// Why it did not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What was posted to Slack in this run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlackRecord {
    /// `web_api` or `webhook`.
    pub transport: String,
    /// The channel as `--channel` gave it (Web API), to notice a change of channel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_channel: Option<String>,
    /// The channel's ID, as Slack answered (Web API).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// The messages, by the app they report on (`""` for a run that has no app yet).
    #[serde(default)]
    pub messages: BTreeMap<String, SlackMessage>,
}

/// The whole file, typed.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
struct Doc {
    version: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    run: Option<String>,
    #[serde(default)]
    steps: Vec<StepRecord>,
    #[serde(default)]
    apps: BTreeMap<String, AppRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    lock: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    slack: Option<SlackRecord>,
    #[serde(flatten)]
    other: Map<String, Value>,
}

/// An earlier step this one depends on: when the latest run of one of `steps` (on `app`, when
/// given) skipped, this one skips too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependency {
    /// The steps' names (`deploy` and `promote` both change an app).
    pub steps: &'static [&'static str],
    /// The app it must have acted on; `None` for any.
    pub app: Option<String>,
    /// What this step would do with it, for the skip's reason (`nothing new to promote`).
    pub because: Option<String>,
}

impl Dependency {
    /// A dependency on the lock, which every step of the job waits behind.
    pub fn lock() -> Dependency {
        Dependency {
            steps: &["lock"],
            app: None,
            because: None,
        }
    }

    /// A dependency on the deploy of `app`.
    pub fn deploy_of(app: &str) -> Dependency {
        Dependency {
            steps: &["deploy"],
            app: Some(app.to_string()),
            because: None,
        }
    }

    /// A dependency on the latest change (deploy or promote) of `app`.
    pub fn change_of(app: &str) -> Dependency {
        Dependency {
            steps: &["deploy", "promote"],
            app: Some(app.to_string()),
            because: None,
        }
    }

    /// Adds what the skip means for the dependent step.
    pub fn because(mut self, why: impl Into<String>) -> Dependency {
        self.because = Some(why.into());
        self
    }
}

/// The state file of one CI run.
#[derive(Debug, Clone, Default)]
pub struct State {
    path: PathBuf,
    doc: Doc,
    /// How the running step ended on each of its apps, until it is recorded.
    app_outcomes: BTreeMap<String, AppOutcome>,
}

impl State {
    /// The state file's path: `--state`/`SHIPLINE_STATE`, else `.shipline/state.json`.
    pub fn default_path() -> PathBuf {
        PathBuf::from(".shipline/state.json")
    }

    /// Loads the state file, or starts an empty one. A file from another CI run (`run_key`
    /// differs) is set aside: its verdicts belong to another job. A file that is not what
    /// shipline writes is an error naming it, and it is left as it was.
    pub fn load(path: &Path, run_key: Option<&str>) -> Result<State> {
        let fresh = State {
            path: path.to_path_buf(),
            doc: Doc {
                version: STATE_VERSION,
                run: run_key.map(str::to_string),
                ..Doc::default()
            },
            app_outcomes: BTreeMap::new(),
        };
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(fresh),
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("could not read the state file {}", path.display()))
            }
        };
        let fix = "delete it or point --state (SHIPLINE_STATE) at another file";
        // The header first, loosely, to set aside another run's file whatever its shape; then
        // the whole file, typed, straight from the text (not through the `Value`: that would
        // link a second deserializer of every record type).
        let value: Value = serde_json::from_slice(text.as_bytes()).with_context(|| {
            format!("the state file {} is not valid JSON; {fix}", path.display())
        })?;
        let Value::Object(object) = &value else {
            bail!(
                "the state file {} does not hold a JSON object; {fix}",
                path.display()
            );
        };
        if object.get("run").and_then(Value::as_str) != run_key {
            return Ok(fresh);
        }
        let version = object.get("version").and_then(Value::as_u64).unwrap_or(0);
        if version > STATE_VERSION {
            bail!(
                "the state file {} has format version {version}, newer than this shipline understands ({STATE_VERSION}); use the same shipline version in every step",
                path.display()
            );
        }
        if version < STATE_VERSION {
            bail!(
                "the state file {} has format version {version}, written by an older shipline in this same run; use the same shipline version in every step, or {fix}",
                path.display()
            );
        }
        let doc: Doc = serde_json::from_slice(text.as_bytes()).map_err(|e| {
            anyhow::anyhow!(
                "the state file {} is not a shipline state file ({e}); {fix}",
                path.display()
            )
        })?;
        Ok(State {
            path: path.to_path_buf(),
            doc,
            app_outcomes: BTreeMap::new(),
        })
    }

    /// The run's steps, in the order they ran.
    pub fn steps(&self) -> &[StepRecord] {
        &self.doc.steps
    }

    /// Records how a step ended, after the steps before it; a step that acted on several apps
    /// gets how it ended on each, as the step said with [`State::record_app_outcome`].
    pub fn record_step(&mut self, mut record: StepRecord) {
        let by_app = std::mem::take(&mut self.app_outcomes);
        if record.apps.len() > 1 {
            record.by_app = by_app;
        }
        self.doc.steps.push(record);
    }

    /// Says how the running step ended on one of its apps.
    pub fn record_app_outcome(&mut self, app: &str, outcome: &Outcome) {
        self.app_outcomes.insert(
            app.to_string(),
            AppOutcome {
                outcome: outcome.word().to_string(),
                reason: outcome.reason().map(str::to_string),
            },
        );
    }

    /// The apps of the latest deploy or promote of the run (even one that skipped or failed):
    /// what `verify`, `rollback` and `notify` act on unless told another.
    pub fn latest_change_apps(&self) -> Vec<String> {
        self.doc
            .steps
            .iter()
            .rev()
            .find(|s| matches!(s.step.as_str(), "deploy" | "promote") && !s.apps.is_empty())
            .map(|s| s.apps.clone())
            .unwrap_or_default()
    }

    /// The latest run of one of `steps` on `app` (or on any app).
    pub fn latest_step(&self, steps: &[&str], app: Option<&str>) -> Option<&StepRecord> {
        self.doc.steps.iter().rev().find(|s| {
            steps.contains(&s.step.as_str()) && app.is_none_or(|a| s.apps.iter().any(|x| x == a))
        })
    }

    /// The reason to skip when one of `dependencies` skipped in this run: a superseded build
    /// must not deploy, a skipped deploy must not be verified or promoted. A step acting on
    /// another app than an earlier skip does not inherit it.
    pub fn skipped_dependency(&self, dependencies: &[Dependency]) -> Option<String> {
        dependencies.iter().find_map(|dep| {
            let record = self.latest_step(dep.steps, dep.app.as_deref())?;
            (record.outcome == "skipped").then(|| {
                let which = match &dep.app {
                    Some(app) => format!("the {} of {app}", record.step),
                    None => format!("the {} step", record.step),
                };
                let reason = record.reason.as_deref().unwrap_or("no reason recorded");
                match &dep.because {
                    Some(because) => format!("{which} skipped this run ({reason}), so {because}"),
                    None => format!("{which} skipped this run: {reason}"),
                }
            })
        })
    }

    /// What the job did to `app`, if anything.
    pub fn app(&self, app: &str) -> Option<&AppRecord> {
        self.doc.apps.get(app)
    }

    /// What the job did to `app`, to record more.
    pub fn app_mut(&mut self, app: &str) -> &mut AppRecord {
        self.doc.apps.entry(app.to_string()).or_default()
    }

    /// Records the lock's verdict.
    pub fn set_lock(&mut self, record: Value) {
        self.doc.lock = Some(record);
    }

    /// What was posted to Slack.
    pub fn slack(&self) -> Option<&SlackRecord> {
        self.doc.slack.as_ref()
    }

    /// Records what was posted to Slack.
    pub fn set_slack(&mut self, record: SlackRecord) {
        self.doc.slack = Some(record);
    }

    /// Writes the file atomically: a temporary file beside it, then a rename, so a reader never
    /// sees half a file and a crash never leaves one.
    pub fn save(&self) -> Result<()> {
        let path = &self.path;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| {
                format!("could not create the state directory {}", dir.display())
            })?;
        }
        let mut text = serde_json::to_string_pretty(&self.doc)
            .context("could not serialize the state file")?;
        text.push('\n');
        let tmp = path.with_extension(format!("json.tmp-{}", std::process::id()));
        std::fs::write(&tmp, text)
            .with_context(|| format!("could not write the state file {}", tmp.display()))?;
        std::fs::rename(&tmp, path).with_context(|| {
            let _ = std::fs::remove_file(&tmp);
            format!("could not replace the state file {}", path.display())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{SystemTime, UNIX_EPOCH};

    fn temp_path(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "shipline-state-{}-{name}-{}",
            std::process::id(),
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        dir.join("state.json")
    }

    fn record(step: &str, apps: &[&str], outcome: &str, reason: Option<&str>) -> StepRecord {
        StepRecord {
            step: step.into(),
            apps: apps.iter().map(|a| a.to_string()).collect(),
            outcome: outcome.into(),
            reason: reason.map(Into::into),
            started_at: "2026-11-27T00:00:00Z".into(),
            duration_ms: 5,
            dry_run: false,
            by_app: BTreeMap::new(),
        }
    }

    #[test]
    fn round_trips_and_keeps_unknown_keys() {
        let path = temp_path("roundtrip");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(
            &path,
            r#"{"version": 2, "run": "run-1", "future": {"kept": true},
                "apps": {"shop": {"canary": 3}}}"#,
        )
        .unwrap();
        let mut state = State::load(&path, Some("run-1")).unwrap();
        state.record_step(record("lock", &[], "skipped", Some("superseded by #12")));
        state.save().unwrap();

        let state = State::load(&path, Some("run-1")).unwrap();
        assert_eq!(
            state.skipped_dependency(&[Dependency::lock()]),
            Some("the lock step skipped this run: superseded by #12".into())
        );
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(doc["future"]["kept"], true);
        assert_eq!(doc["apps"]["shop"]["canary"], 3);
        assert_eq!(doc["version"], STATE_VERSION);
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }

    #[test]
    fn a_file_from_another_run_is_set_aside() {
        let path = temp_path("other-run");
        let mut state = State::load(&path, Some("run-1")).unwrap();
        state.record_step(record("lock", &[], "skipped", Some("superseded")));
        state.save().unwrap();
        let state = State::load(&path, Some("run-2")).unwrap();
        assert!(state.steps().is_empty());
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }

    #[test]
    fn refuses_what_shipline_did_not_write_and_leaves_it_as_it_was() {
        let path = temp_path("garbage");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        for (text, expected) in [
            ("{not json", "not valid JSON"),
            ("[1, 2]", "does not hold a JSON object"),
            (r#"{"version": 99}"#, "format version 99"),
            (
                r#"{"version": 1, "deploy": {}}"#,
                "written by an older shipline",
            ),
            (r#"{"version": 2, "steps": 5}"#, "not a shipline state file"),
            (
                r#"{"version": 2, "apps": {"shop": {"change": 5}}}"#,
                "not a shipline state file",
            ),
        ] {
            std::fs::write(&path, text).unwrap();
            let err = format!("{:#}", State::load(&path, None).unwrap_err());
            assert!(
                err.contains(expected) && err.contains("state.json"),
                "{text}: {err}"
            );
            assert!(
                err.contains("--state") || err.contains("same shipline version"),
                "{text}: {err}"
            );
            assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
        }
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }

    #[test]
    fn a_step_follows_the_latest_change_and_inherits_only_the_skips_it_depends_on() {
        let mut state = State::default();
        assert!(state.latest_change_apps().is_empty());
        state.record_step(record("lock", &[], "done", None));
        state.record_step(record(
            "deploy",
            &["shop-staging"],
            "skipped",
            Some("commit abc1234 is already live"),
        ));
        assert_eq!(state.latest_change_apps(), ["shop-staging"]);
        assert_eq!(state.skipped_dependency(&[Dependency::lock()]), None);
        assert_eq!(
            state.skipped_dependency(&[Dependency::change_of("shop")]),
            None,
            "a deploy of another app does not skip"
        );
        assert_eq!(
            state.skipped_dependency(&[Dependency::deploy_of("shop-staging")
                .because("there is nothing new to promote")]),
            Some("the deploy of shop-staging skipped this run (commit abc1234 is already live), so there is nothing new to promote".into())
        );
        state.record_step(record("promote", &["shop", "shop-eu"], "done", None));
        assert_eq!(state.latest_change_apps(), ["shop", "shop-eu"]);
        assert!(state.latest_step(&["promote"], Some("shop-eu")).is_some());
        assert!(state
            .latest_step(&["promote"], Some("shop-staging"))
            .is_none());
    }
}
