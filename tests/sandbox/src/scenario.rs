//! The `pipeline` scenario: everything one CI job that ships staging → production talks to,
//! started together on loopback.
//!
//! A fake Heroku with a staging app and one or more production apps coupled to one pipeline
//! (stages `staging` and `production`), each live at the same commit, with the demo build
//! output and optionally a release phase; a fake Slack (incoming webhook and Web API); and
//! optionally a fake CircleCI and a fake GitHub whose builds of `main` are in their tests
//! until a harness passes them (see [`Scenario::pass_tests`]), so the harness decides in which
//! order and how close together they reach the deploy job's lock.
//!
//! The fakes stay what they are: faithful stand-ins for the real services. Everything a
//! harness does besides what a CI job would do (crash the next boot, finish a build's job,
//! read what the services received) goes through [`crate::control`], on its own port.

use std::io;
use std::time::Duration;

use serde_json::{json, Value};

use crate::circleci::{BuildRef, BuildSpec, CircleCi};
use crate::github::RunSpec;
use crate::heroku::{Config, DynoBoot, Heroku, Script};
use crate::slack::{Slack, DEPLOYS};
use crate::tls::ServerCert;
use crate::GitHub;

/// How long a build's tests "run" when nothing passes them: long enough to be for ever in a
/// test or a demo, short enough that the lock still reads the pipeline (it ignores builds
/// created more than 24 hours before its own).
const TESTS_UNTIL_PASSED: Duration = Duration::from_secs(6 * 3600);

/// Who merged each build, in turn (`CIRCLE_USERNAME`, `GITHUB_ACTOR`), so notifications name
/// someone as they would on a real team.
const MERGERS: [&str; 4] = ["ada", "grace", "linus", "margaret"];

/// What to start.
#[derive(Clone, Debug)]
pub struct Spec {
    /// The staging app (`shop-staging`).
    pub staging: String,
    /// The production apps (`shop`), in the pipeline's `production` stage.
    pub production: Vec<String>,
    /// The Heroku pipeline both stages belong to (`shop`).
    pub pipeline: String,
    /// The commit every app runs at start (a seeded release), as `git rev-parse` prints it.
    pub live_commit: Option<String>,
    /// Every app has a release phase (migrations) that runs and streams on each release.
    pub release_phase: bool,
    /// Preboot is on for every app.
    pub preboot: bool,
    /// CircleCI pipeline numbers of `main` to create (empty: no fake CircleCI).
    pub circleci_builds: Vec<u64>,
    /// GitHub Actions run numbers of `main` to create (empty: no fake GitHub).
    pub github_runs: Vec<u64>,
    /// The accepted `HEROKU_API_KEY`.
    pub api_key: String,
    /// How long a new release's dynos are `starting` before they settle (up, or crashed when
    /// scripted).
    pub boot: Duration,
    /// The Slack workspace's user groups (ID, handle), so a transcript shows a mention the
    /// way Slack does (`<!subteam^S0ONCALL>` as `@oncall`).
    pub usergroups: Vec<(String, String)>,
    /// Serve every service (Heroku, Slack, CircleCI, GitHub, and the apps' URLs of
    /// [`crate::web::Web`]) over HTTPS with this certificate (e.g.
    /// [`crate::TestCa::server_cert`]); `None`: plain HTTP. The control API stays plain HTTP.
    pub tls: Option<ServerCert>,
}

impl Default for Spec {
    fn default() -> Spec {
        Spec {
            staging: "shop-staging".into(),
            production: vec!["shop".into()],
            pipeline: "shop".into(),
            live_commit: None,
            release_phase: false,
            preboot: false,
            circleci_builds: Vec::new(),
            github_runs: Vec::new(),
            api_key: "shipline-demo-key".into(),
            boot: Duration::from_millis(1500),
            usergroups: vec![("S0ONCALL".into(), "oncall".into())],
            tls: None,
        }
    }
}

impl Spec {
    /// Checks names and numbers before anything starts, so a bad flag is a clear error rather
    /// than a half-started sandbox.
    pub fn validate(&self) -> Result<(), String> {
        let mut apps = vec![&self.staging];
        apps.extend(&self.production);
        for app in &apps {
            if !valid_app_name(app) {
                return Err(format!(
                    "{app:?} is not a Heroku app name: 3 to 30 lowercase letters, digits and \
                     dashes, starting with a letter"
                ));
            }
        }
        for (i, app) in apps.iter().enumerate() {
            if apps[..i].contains(app) {
                return Err(format!(
                    "app {app:?} is given twice; staging and production apps must differ"
                ));
            }
        }
        if self.production.is_empty() {
            return Err("at least one production app is needed".into());
        }
        let p = &self.pipeline;
        let pipeline_ok = (3..=30).contains(&p.len())
            && p.starts_with(|c: char| c.is_ascii_lowercase())
            && p.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !pipeline_ok {
            return Err(format!(
                "{p:?} is not a Heroku pipeline name: 3 to 30 lowercase letters, digits and \
                 dashes, starting with a letter"
            ));
        }
        if let Some(commit) = &self.live_commit {
            if commit.len() != 40 || !commit.chars().all(|c| c.is_ascii_hexdigit()) {
                return Err(format!(
                    "--live-commit {commit:?} is not a full commit id; pass 40 hex digits, \
                     as `git rev-parse HEAD` prints them"
                ));
            }
        }
        for (what, numbers) in [
            ("CircleCI build", &self.circleci_builds),
            ("GitHub run", &self.github_runs),
        ] {
            for (i, n) in numbers.iter().enumerate() {
                if *n == 0 {
                    return Err(format!("{what} numbers start at 1, not 0"));
                }
                if numbers[..i].iter().any(|m| m >= n) {
                    return Err(format!(
                        "{what} numbers must increase (each merge makes a newer build): {n} \
                         comes after {}",
                        numbers[i - 1]
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Heroku's rule for app names.
fn valid_app_name(name: &str) -> bool {
    (3..=30).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && !name.ends_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// A build of the scenario on one CI, by the number its CI shows.
#[derive(Clone, Debug)]
pub enum Build {
    /// A CircleCI pipeline.
    CircleCi(BuildRef),
    /// A GitHub Actions run.
    GitHub(crate::github::RunRef),
}

/// The started services. Dropping it stops them.
pub struct Scenario {
    spec: Spec,
    /// The fake Heroku Platform API.
    pub heroku: Heroku,
    /// The fake Slack.
    pub slack: Slack,
    /// The fake CircleCI, when builds were asked for.
    pub circleci: Option<CircleCi>,
    /// Its builds, in the order given.
    pub builds: Vec<BuildRef>,
    /// The fake GitHub, when runs were asked for.
    pub github: Option<GitHub>,
    /// Its runs, in the order given.
    pub runs: Vec<crate::github::RunRef>,
}

impl Scenario {
    /// Starts every service of `spec` (validated first) on free ports.
    pub fn start(spec: Spec) -> Result<Scenario, String> {
        spec.validate()?;
        let heroku = Heroku::start_with(Config {
            api_key: spec.api_key.clone(),
            tls: spec.tls.clone(),
            ..Config::default()
        })
        .map_err(|e| listen_error("Heroku", e))?;
        let pipeline_id = heroku.create_pipeline(&spec.pipeline);
        let stages = std::iter::once((&spec.staging, "staging"))
            .chain(spec.production.iter().map(|app| (app, "production")));
        for (app, stage) in stages {
            heroku.create_app(app);
            heroku.couple(&pipeline_id, app, stage);
            heroku.set_dyno_boot(app, DynoBoot::up_after(spec.boot));
            heroku.set_preboot(app, spec.preboot);
            if spec.release_phase {
                heroku.set_release_phase(app, Some(Script::demo_release_phase()));
            }
            heroku.script_every_build(app, Some(Script::demo_build(spec.release_phase)));
            if let Some(commit) = &spec.live_commit {
                heroku.seed_release(app, commit, None);
            }
        }
        let slack =
            Slack::start_on_with(0, spec.tls.as_ref()).map_err(|e| listen_error("Slack", e))?;

        let (circleci, builds) = if spec.circleci_builds.is_empty() {
            (None, Vec::new())
        } else {
            let circleci = CircleCi::start_with(crate::circleci::Config {
                first_number: spec.circleci_builds[0],
                tls: spec.tls.clone(),
                ..crate::circleci::Config::default()
            })
            .map_err(|e| listen_error("CircleCI", e))?;
            let builds = spec
                .circleci_builds
                .iter()
                .map(|&n| {
                    circleci.set_next_number(n);
                    circleci.start_build(BuildSpec::branch("main", TESTS_UNTIL_PASSED))
                })
                .collect();
            (Some(circleci), builds)
        };
        let (github, runs) = if spec.github_runs.is_empty() {
            (None, Vec::new())
        } else {
            let github = GitHub::start_on_with(0, spec.tls.as_ref())
                .map_err(|e| listen_error("GitHub", e))?;
            let runs = spec
                .github_runs
                .iter()
                .map(|&n| {
                    github.set_next_run_number(n);
                    github.start_run(RunSpec::branch("main", TESTS_UNTIL_PASSED))
                })
                .collect();
            (Some(github), runs)
        };
        Ok(Scenario {
            spec,
            heroku,
            slack,
            circleci,
            builds,
            github,
            runs,
        })
    }

    /// What was started.
    pub fn spec(&self) -> &Spec {
        &self.spec
    }

    /// The environment every step of the job needs (credentials and service URLs) and the
    /// scenario's names, as `KEY=VALUE` pairs; `control` is the control API's base URL.
    pub fn env(&self, control: &str) -> Vec<(String, String)> {
        let mut env = vec![
            ("HEROKU_API_KEY", self.heroku.api_key().to_string()),
            ("SHIPLINE_HEROKU_API_URL", self.heroku.url()),
            ("SLACK_WEBHOOK_URL", self.slack.webhook_url()),
            ("SLACK_BOT_TOKEN", self.slack.bot_token().to_string()),
            ("SHIPLINE_SLACK_API_URL", self.slack.api_url()),
            ("SHIPLINE_SANDBOX_CONTROL", control.to_string()),
            ("SHIPLINE_SANDBOX_STAGING_APP", self.spec.staging.clone()),
            (
                "SHIPLINE_SANDBOX_PRODUCTION_APP",
                self.spec.production[0].clone(),
            ),
            (
                "SHIPLINE_SANDBOX_PRODUCTION_APPS",
                self.spec.production.join(","),
            ),
            ("SHIPLINE_SANDBOX_PIPELINE", self.spec.pipeline.clone()),
            ("SHIPLINE_SANDBOX_SLACK_CHANNEL", DEPLOYS.to_string()),
        ];
        if !self.builds.is_empty() {
            env.push((
                "SHIPLINE_SANDBOX_CIRCLECI_BUILDS",
                join(&self.spec.circleci_builds),
            ));
        }
        if !self.runs.is_empty() {
            env.push(("SHIPLINE_SANDBOX_GITHUB_RUNS", join(&self.spec.github_runs)));
        }
        env.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
    }

    /// The environment CircleCI gives build `number`'s `deploy` job (with `CI`,
    /// `CIRCLE_BUILD_URL` and `CIRCLE_USERNAME`, which real jobs have too), with its own token.
    pub fn circleci_env(&self, number: u64) -> Option<Vec<(String, String)>> {
        let circleci = self.circleci.as_ref()?;
        let i = self.builds.iter().position(|b| b.number == number)?;
        let build = &self.builds[i];
        let token = circleci.issue_token(&format!("#{number}"));
        let mut env = vec![("CI".to_string(), "true".to_string())];
        env.extend(circleci.job_env(build, &token));
        env.push((
            "CIRCLE_BUILD_URL".into(),
            format!(
                "https://circleci.com/{}/{}",
                circleci.project(),
                build.job_number
            ),
        ));
        env.push(("CIRCLE_USERNAME".into(), MERGERS[i % MERGERS.len()].into()));
        Some(env)
    }

    /// The environment GitHub gives run `number`'s `deploy` job, with its own token.
    pub fn github_env(&self, number: u64) -> Option<Vec<(String, String)>> {
        let github = self.github.as_ref()?;
        let i = self.runs.iter().position(|r| r.number == number)?;
        let run = &self.runs[i];
        let token = github.issue_token(&format!("#{number}"));
        let mut env = vec![("CI".to_string(), "true".to_string())];
        env.extend(github.job_env(run, &token));
        env.retain(|(k, _)| k != "GITHUB_ACTOR");
        env.push(("GITHUB_ACTOR".into(), MERGERS[i % MERGERS.len()].into()));
        Some(env)
    }

    /// A build by CI (`circleci` or `github`) and number.
    pub fn build(&self, ci: &str, number: u64) -> Option<Build> {
        match ci {
            "circleci" => self
                .builds
                .iter()
                .find(|b| b.number == number)
                .cloned()
                .map(Build::CircleCi),
            "github" => self
                .runs
                .iter()
                .find(|r| r.number == number)
                .cloned()
                .map(Build::GitHub),
            _ => None,
        }
    }

    /// Ends a build's tests now (passed or failed); when they pass its `deploy` job starts
    /// running, i.e. reaches the lock. Returns whether it got there within `timeout`.
    pub fn pass_tests(&self, build: &Build, passed: bool, timeout: Duration) -> bool {
        match build {
            Build::CircleCi(b) => {
                let Some(ci) = &self.circleci else {
                    return false;
                };
                ci.finish_tests(b, passed);
                passed && ci.wait_at_lock(b, timeout)
            }
            Build::GitHub(r) => {
                let Some(gh) = &self.github else { return false };
                gh.finish_tests(r, passed);
                passed && gh.wait_at_lock(r, timeout)
            }
        }
    }

    /// The `deploy` job's status in its CI's words (`blocked`, `running`, `success`, …;
    /// GitHub: `not created`, `in_progress`, `success`, `failure`, …).
    pub fn job_status(&self, build: &Build) -> String {
        match (build, &self.circleci, &self.github) {
            (Build::CircleCi(b), Some(ci), _) => ci.job_status(b),
            (Build::GitHub(r), _, Some(gh)) => gh.lock_job_status(r),
            _ => "unknown".into(),
        }
    }

    /// Ends a build's `deploy` job (success or failure), releasing the lock it held.
    pub fn finish(&self, build: &Build, success: bool) {
        match (build, &self.circleci, &self.github) {
            (Build::CircleCi(b), Some(ci), _) => ci.finish(b, success),
            (Build::GitHub(r), _, Some(gh)) => gh.finish_run(r, success),
            _ => {}
        }
    }

    /// Cancels a CircleCI build's workflow. GitHub runs cannot be cancelled here (`false`).
    pub fn cancel(&self, build: &Build) -> bool {
        match (build, &self.circleci) {
            (Build::CircleCi(b), Some(ci)) => {
                ci.cancel(b);
                true
            }
            _ => false,
        }
    }

    /// The names Slack shows for IDs: channels, user groups and users, as the control API's
    /// `GET /slack/directory` answers them.
    pub fn slack_directory(&self) -> Value {
        let map = |pairs: Vec<(String, String)>| -> serde_json::Map<String, Value> {
            pairs
                .into_iter()
                .map(|(k, v)| (k, Value::String(v)))
                .collect()
        };
        json!({
            "channels": map(self.slack.channel_names()),
            "usergroups": map(self.spec.usergroups.clone()),
            "users": {},
        })
    }

    /// Every app of the scenario, staging first.
    pub fn apps(&self) -> Vec<String> {
        let mut apps = vec![self.spec.staging.clone()];
        apps.extend(self.spec.production.iter().cloned());
        apps
    }
}

fn join(numbers: &[u64]) -> String {
    numbers
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

fn listen_error(service: &str, e: io::Error) -> String {
    format!("cannot start the fake {service} on 127.0.0.1: {e}")
}
