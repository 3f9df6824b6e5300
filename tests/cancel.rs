//! Cancelled jobs and re-runs, through the real binary: a CI runner stops `shipline` with
//! SIGINT (GitHub Actions), SIGTERM (CircleCI, GitHub's second signal) or SIGKILL (a dead
//! runner) at each phase of a deploy, and the job is re-run with the same state file. Heroku
//! (the sandbox) goes on with whatever was started; the re-run must pick it up so that the
//! commit is released exactly once.

mod common;

use std::time::Duration;

use common::{step_record, Background, Run, World};
use serde_json::Value;
use shipline_sandbox::{Heroku, Script};

const APP: &str = "demo-app";

/// How long a cancelled step may take to record itself and exit.
const EXIT_WITHIN: Duration = Duration::from_secs(2);

/// Where in a deploy the job is cancelled: the line of the log that says it got there.
#[derive(Clone, Copy, Debug)]
enum Phase {
    /// After the preflight, before the source upload.
    BeforeUpload,
    /// While the build runs on Heroku.
    Build,
    /// While the release phase runs on Heroku.
    Releasing,
}

impl Phase {
    fn marker(self) -> &'static str {
        match self {
            Phase::BeforeUpload => "Live on demo-app",
            Phase::Build => "-----> Installing dependencies",
            Phase::Releasing => "Running release command",
        }
    }
}

/// A job whose repository has two commits, the first live on Heroku, the second to ship;
/// Heroku's builds and release phases are slow enough for a signal to land in them.
struct Job {
    w: World,
    commit: String,
}

impl Job {
    fn new(name: &str) -> Job {
        let w = World::new(name).with_heroku();
        let repo = w.repo();
        repo.write("Procfile", "web: node index.js\nrelease: node migrate.js\n");
        repo.write("index.js", "console.log('v1')\n");
        let first = repo.commit("Initial app");
        repo.write("index.js", "console.log('v2')\n");
        let commit = repo.commit("Ship v2");
        let heroku = w.heroku();
        heroku.create_app(APP);
        heroku.seed_release(APP, &first, None);
        heroku.set_preboot(APP, true);
        // Slow enough that a signal lands in the middle, fast enough for a test.
        heroku.script_every_build(
            APP,
            Some(
                Script::succeed([
                    "-----> Building on the Heroku-24 stack",
                    "-----> Installing dependencies",
                    "       added 212 packages",
                    "-----> Pruning devDependencies",
                    "-----> Compressing slug",
                    "-----> Build succeeded!",
                ])
                .delay(Duration::from_millis(400)),
            ),
        );
        heroku.set_release_phase(
            APP,
            Some(
                Script::succeed([
                    "Running release command...",
                    "Applying migration 20261127_add_orders_index... done",
                    "Migrations complete (1 applied)",
                ])
                .delay(Duration::from_millis(700)),
            ),
        );
        Job { w, commit }
    }

    fn start(&self, args: &[&str]) -> Background {
        self.w.shipline(args).start()
    }

    fn state(&self) -> Value {
        self.w.state()
    }

    fn heroku(&self) -> &Heroku {
        self.w.heroku()
    }

    /// The releases whose slug was built from the commit.
    fn releases_of_commit(&self) -> Vec<Value> {
        let slugs = self.heroku().slugs(APP);
        self.heroku()
            .releases(APP)
            .into_iter()
            .filter(|r| {
                let slug = r["slug"]["id"].as_str().unwrap_or_default();
                slugs
                    .iter()
                    .any(|s| s["id"] == slug && s["commit"] == self.commit.as_str())
            })
            .collect()
    }

    fn builds_of_commit(&self) -> usize {
        self.heroku()
            .builds(APP)
            .iter()
            .filter(|b| b["source_blob"]["version"] == self.commit.as_str())
            .count()
    }

    fn assert_no_secret(&self, run: &Run) {
        assert!(
            !run.log().contains(self.heroku().api_key()),
            "the API key was printed:\n{run:?}"
        );
    }
}

const DEPLOY: &[&str] = &["deploy", "--app", APP, "--poll", "50ms"];

/// Cancels a deploy with `signal` at `phase`, checks how the cancelled step ended, re-runs it
/// with the same state file and checks the commit was released exactly once.
fn cancel_and_rerun(name: &str, phase: Phase, signal: &str) {
    let w = Job::new(name);
    let cancelled = cancel(&w, DEPLOY, "deploy", phase.marker(), signal);
    let in_flight_before = w.builds_of_commit();
    if signal != "KILL" {
        let state = w.state();
        let record = step_record(&state, "deploy");
        assert_eq!(record["outcome"], "cancelled", "{state:#}");
        let reason = record["reason"].as_str().unwrap();
        assert!(reason.contains(&format!("SIG{signal}")), "{reason}");
        match phase {
            Phase::Build => {
                let build = &state["apps"][APP]["in_flight"];
                assert_eq!(build["kind"], "build", "{state:#}");
                assert_eq!(build["cancelled_by"], format!("SIG{signal}"));
                assert!(cancelled.stdout.contains("In flight on demo-app: build "));
                assert!(cancelled.stdout.contains("heroku builds:info"));
            }
            Phase::Releasing => {
                let release = &state["apps"][APP]["in_flight"];
                assert_eq!(release["kind"], "release", "{state:#}");
                assert!(
                    cancelled.stdout.contains("heroku releases:output v"),
                    "{cancelled:?}"
                );
            }
            Phase::BeforeUpload => {}
        }
    }

    let rerun = w.start(DEPLOY).finish_within(Duration::from_secs(30));
    let rerun = rerun.expect("the re-run finishes");
    w.assert_no_secret(&rerun);
    assert_eq!(rerun.code, 0, "{rerun:?}");
    match phase {
        Phase::Build => assert!(
            rerun.stdout.contains("Adopting build "),
            "the re-run did not say it adopted the build:\n{rerun:?}"
        ),
        Phase::Releasing => assert!(
            rerun.stdout.contains("Adopting release v") || rerun.stdout.contains("Adopting build "),
            "the re-run did not say it adopted the release:\n{rerun:?}"
        ),
        // Cancelled before or just after the build was created: a build in flight is adopted,
        // none is started afresh.
        Phase::BeforeUpload if in_flight_before == 1 => {
            assert!(rerun.stdout.contains("Adopting build "), "{rerun:?}")
        }
        Phase::BeforeUpload => assert!(rerun.stdout.contains("Build "), "{rerun:?}"),
    }

    let releases = w.releases_of_commit();
    assert_eq!(
        releases.len(),
        1,
        "the commit must be released exactly once: {releases:#?}"
    );
    assert_eq!(w.builds_of_commit(), 1, "one build of the commit");
    assert_eq!(releases[0]["status"], "succeeded");
    let state = w.state();
    assert_eq!(
        step_record(&state, "deploy")["outcome"],
        "done",
        "{state:#}"
    );
    let change = &state["apps"][APP]["change"];
    assert_eq!(change["release"]["version"], releases[0]["version"]);
    assert_eq!(change["commit"], w.commit.as_str());
    assert!(state["apps"][APP].get("in_flight").is_none(), "{state:#}");
    if signal != "KILL" && matches!(phase, Phase::Releasing) {
        assert_eq!(
            state["apps"][APP]["adopted"],
            format!(
                "cancelled during the release phase; the release completed as v{}",
                releases[0]["version"]
            ),
            "{state:#}"
        );
    }
}

#[test]
fn sigint_before_the_upload() {
    cancel_and_rerun("int-upload", Phase::BeforeUpload, "INT");
}

#[test]
fn sigterm_before_the_upload() {
    cancel_and_rerun("term-upload", Phase::BeforeUpload, "TERM");
}

#[test]
fn sigkill_before_the_upload() {
    cancel_and_rerun("kill-upload", Phase::BeforeUpload, "KILL");
}

#[test]
fn sigint_during_the_build() {
    cancel_and_rerun("int-build", Phase::Build, "INT");
}

#[test]
fn sigterm_during_the_build() {
    cancel_and_rerun("term-build", Phase::Build, "TERM");
}

#[test]
fn sigkill_during_the_build() {
    cancel_and_rerun("kill-build", Phase::Build, "KILL");
}

#[test]
fn sigint_during_the_release_phase() {
    cancel_and_rerun("int-release", Phase::Releasing, "INT");
}

#[test]
fn sigterm_during_the_release_phase() {
    cancel_and_rerun("term-release", Phase::Releasing, "TERM");
}

#[test]
fn sigkill_during_the_release_phase() {
    cancel_and_rerun("kill-release", Phase::Releasing, "KILL");
}

/// A re-run that comes after the release phase ended still reports what happened.
#[test]
fn a_rerun_after_the_release_completed_reports_it() {
    let w = Job::new("late-rerun");
    let mut job = w.start(DEPLOY);
    assert!(job.wait_for(Phase::Releasing.marker(), Duration::from_secs(20)));
    job.signal("TERM");
    let cancelled = job.finish_within(EXIT_WITHIN).expect("exits");
    assert_eq!(cancelled.code, 143, "{cancelled:?}");
    // Let Heroku finish the release phase before the re-run looks.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while w.releases_of_commit().first().map(|r| r["status"].clone()) != Some("succeeded".into()) {
        assert!(
            std::time::Instant::now() < deadline,
            "the release never finished"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let rerun = w
        .start(DEPLOY)
        .finish_within(Duration::from_secs(30))
        .unwrap();
    assert_eq!(rerun.code, 0, "{rerun:?}");
    assert!(
        rerun
            .stdout
            .contains("cancelled during the release phase; the release completed as v3"),
        "{rerun:?}"
    );
    assert_eq!(w.releases_of_commit().len(), 1);
    let state = w.state();
    assert_eq!(step_record(&state, "deploy")["outcome"], "done");
    assert_eq!(state["apps"][APP]["change"]["release"]["version"], 3);
}

/// Cancels `args` with `signal` once the log says `marker`, and checks it exits within
/// [`EXIT_WITHIN`] with 128 + the signal, printing no secret.
fn cancel(w: &Job, args: &[&str], step: &str, marker: &str, signal: &str) -> Run {
    let mut job = w.start(args);
    assert!(
        job.wait_for(marker, Duration::from_secs(20)),
        "`{step}` never reached `{marker}`"
    );
    job.signal(signal);
    let cancelled = job
        .finish_within(EXIT_WITHIN)
        .unwrap_or_else(|| panic!("shipline did not exit within {EXIT_WITHIN:?} of SIG{signal}"));
    w.assert_no_secret(&cancelled);
    let expected = match signal {
        "INT" => 130,
        "TERM" => 143,
        _ => 137,
    };
    assert_eq!(cancelled.code, expected, "{cancelled:?}");
    cancelled
}

/// [`cancel`], then checks that the state file records the step as cancelled (SIGKILL leaves
/// no record) and re-runs it to a success.
fn cancel_step(w: &Job, args: &[&str], step: &str, marker: &str, signal: &str) -> Run {
    cancel(w, args, step, marker, signal);
    if signal != "KILL" {
        let state = w.state();
        assert_eq!(
            step_record(&state, step)["outcome"],
            "cancelled",
            "{state:#}"
        );
    }
    let rerun = w
        .start(args)
        .finish_within(Duration::from_secs(30))
        .expect("the re-run finishes");
    w.assert_no_secret(&rerun);
    assert_eq!(rerun.code, 0, "{rerun:?}");
    assert_eq!(step_record(&w.state(), step)["outcome"], "done");
    rerun
}

/// A deploy that went through, then `verify` cancelled while it waits for the dynos: the re-run
/// verifies the same release, and nothing is released again.
fn cancel_verify(name: &str, signal: &str) {
    let w = Job::new(name);
    w.heroku().set_dyno_boot(
        APP,
        shipline_sandbox::DynoBoot::up_after(Duration::from_secs(3)),
    );
    let deployed = w
        .start(DEPLOY)
        .finish_within(Duration::from_secs(30))
        .unwrap();
    assert_eq!(deployed.code, 0, "{deployed:?}");
    let args = ["verify", "--app", APP, "--poll", "50ms"];
    let rerun = cancel_step(&w, &args, "verify", "Waiting for dynos", signal);
    assert!(rerun.stdout.contains("up"), "{rerun:?}");
    assert_eq!(w.releases_of_commit().len(), 1);
    assert_eq!(w.builds_of_commit(), 1);
}

#[test]
fn sigint_during_verify() {
    cancel_verify("int-verify", "INT");
}

#[test]
fn sigterm_during_verify() {
    cancel_verify("term-verify", "TERM");
}

#[test]
fn sigkill_during_verify() {
    cancel_verify("kill-verify", "KILL");
}

/// `shipline rollback` cancelled during the rollback release's release phase: the re-run
/// follows that release instead of rolling back again (which, from a rollback, would put the
/// bad release back).
fn cancel_rollback(name: &str, signal: &str) {
    let w = Job::new(name);
    let deployed = w
        .start(DEPLOY)
        .finish_within(Duration::from_secs(30))
        .unwrap();
    assert_eq!(deployed.code, 0, "{deployed:?}");
    let args = ["rollback", "--app", APP, "--poll", "50ms"];
    let rerun = cancel_step(&w, &args, "rollback", "Running release command", signal);
    assert!(
        rerun.stdout.contains("Adopting rollback release v4"),
        "{rerun:?}"
    );
    let rollbacks: Vec<Value> = w
        .heroku()
        .releases(APP)
        .into_iter()
        .filter(|r| {
            r["description"]
                .as_str()
                .unwrap_or_default()
                .starts_with("Rollback")
        })
        .collect();
    assert_eq!(rollbacks.len(), 1, "one rollback release: {rollbacks:#?}");
    assert_eq!(rollbacks[0]["status"], "succeeded");
    assert_eq!(rollbacks[0]["current"], true);
    let state = w.state();
    assert_eq!(
        state["apps"][APP]["rollback"]["release"]["version"], 4,
        "{state:#}"
    );
}

#[test]
fn sigint_during_a_rollback() {
    cancel_rollback("int-rollback", "INT");
}

#[test]
fn sigterm_during_a_rollback() {
    cancel_rollback("term-rollback", "TERM");
}

#[test]
fn sigkill_during_a_rollback() {
    cancel_rollback("kill-rollback", "KILL");
}

const PRODUCTION: &str = "demo-prod";

/// Staging (`demo-app`) runs the commit; production, in the same pipeline, runs the first one
/// and has a slow release phase.
fn promotion_world(name: &str) -> Job {
    let w = Job::new(name);
    let pipeline = w.heroku().create_pipeline("shop");
    w.heroku().create_app(PRODUCTION);
    let first = w.w.repo().git(&["rev-parse", "HEAD~1"]);
    w.heroku().seed_release(PRODUCTION, &first, None);
    w.heroku().couple(&pipeline, APP, "staging");
    w.heroku().couple(&pipeline, PRODUCTION, "production");
    w.heroku().set_release_phase(
        PRODUCTION,
        Some(
            Script::succeed(["Running release command...", "Migrations complete"])
                .delay(Duration::from_millis(1200)),
        ),
    );
    let deployed = w
        .start(DEPLOY)
        .finish_within(Duration::from_secs(30))
        .unwrap();
    assert_eq!(deployed.code, 0, "{deployed:?}");
    w
}

fn releases_on_production(w: &Job) -> Vec<Value> {
    w.heroku()
        .releases(PRODUCTION)
        .into_iter()
        .filter(|r| {
            r["description"]
                .as_str()
                .unwrap_or_default()
                .starts_with("Promote")
        })
        .collect()
}

const PROMOTE: &[&str] = &[
    "promote", "--from", APP, "--app", PRODUCTION, "--poll", "50ms",
];

/// `shipline promote` cancelled during production's release phase: the re-run follows that
/// release (found on Heroku, so after SIGKILL too) instead of promoting again.
fn cancel_promote(name: &str, signal: &str) {
    let w = promotion_world(name);
    let rerun = cancel_step(&w, PROMOTE, "promote", "Running release command", signal);
    assert!(
        rerun.stdout.contains("demo-prod: adopting release v"),
        "{rerun:?}"
    );
    let releases = releases_on_production(&w);
    assert_eq!(releases.len(), 1, "one promotion release: {releases:#?}");
    assert_eq!(releases[0]["status"], "succeeded");
    assert_eq!(w.heroku().promotions().len(), 1, "one pipeline promotion");
    let state = w.state();
    assert_eq!(
        state["apps"][PRODUCTION]["change"]["release"]["version"], releases[0]["version"],
        "{state:#}"
    );
}

#[test]
fn sigint_during_a_promotion() {
    cancel_promote("int-promote", "INT");
}

#[test]
fn sigterm_during_a_promotion() {
    cancel_promote("term-promote", "TERM");
}

#[test]
fn sigkill_during_a_promotion() {
    cancel_promote("kill-promote", "KILL");
}

/// Cancelled while the pipeline promotion has not created production's release yet: the state
/// file's record of the promotion is what the re-run follows (Heroku lists no promotions).
#[test]
fn sigterm_before_the_promotion_created_its_release() {
    let w = promotion_world("term-promotion-started");
    w.heroku().set_promotion_delay(Duration::from_secs(2));
    let rerun = cancel_step(&w, PROMOTE, "promote", "Pipeline promotion ", "TERM");
    assert!(
        rerun.stdout.contains("Adopting pipeline promotion "),
        "{rerun:?}"
    );
    assert_eq!(w.heroku().promotions().len(), 1, "one pipeline promotion");
    assert_eq!(releases_on_production(&w).len(), 1);
}
