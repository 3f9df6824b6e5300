//! `shipline verify`, `rollback` and `promote` through the real binary against the sandbox
//! Heroku and a scriptable HTTP target.

mod common;

use std::time::{Duration, Instant};

use common::{shipline, step_record, Repo, Run};
use serde_json::Value;
use shipline_sandbox::{Answer, DynoBoot, Heroku, Target};

const APP: &str = "demo-app";

/// A repository with two commits, an app whose live release runs the first, and an HTTP target.
struct World {
    heroku: Heroku,
    target: Target,
    repo: Repo,
    first: String,
    second: String,
}

impl World {
    fn new(name: &str) -> World {
        let repo = Repo::new(name);
        repo.write("Procfile", "web: node index.js\n");
        repo.write("index.js", "console.log('v1')\n");
        let first = repo.commit("Initial app");
        repo.write("index.js", "console.log('v2')\n");
        let second = repo.commit("Second");
        let heroku = Heroku::start();
        heroku.create_app(APP);
        heroku.seed_release(APP, &first, None);
        World {
            heroku,
            target: Target::start(),
            repo,
            first,
            second,
        }
    }

    fn run(&self, args: &[&str], extra: &[(&str, &str)]) -> Run {
        let key = self.heroku.api_key().to_string();
        let url = self.heroku.url();
        let mut env = vec![
            ("HEROKU_API_KEY", key.as_str()),
            ("SHIPLINE_HEROKU_API_URL", url.as_str()),
        ];
        env.extend_from_slice(extra);
        shipline(self.repo.path(), args, &env)
    }

    fn verify(&self, args: &[&str]) -> Run {
        let mut all = vec!["verify", "--poll", "50ms"];
        all.extend_from_slice(args);
        self.run(&all, &[])
    }

    fn deploy(&self, args: &[&str]) -> Run {
        let mut all = vec!["deploy", "--app", APP, "--poll", "50ms"];
        all.extend_from_slice(args);
        self.run(&all, &[])
    }

    fn releases(&self, app: &str) -> Vec<Value> {
        self.heroku.releases(app)
    }

    fn current(&self, app: &str) -> Value {
        self.releases(app)
            .into_iter()
            .find(|r| r["current"] == true)
            .expect("a current release")
    }

    fn state(&self) -> Value {
        serde_json::from_str(
            &std::fs::read_to_string(self.repo.path().join(".shipline/state.json")).unwrap(),
        )
        .unwrap()
    }
}

#[test]
fn a_deploy_then_verify_passes_when_dynos_are_up_and_endpoints_answer() {
    let w = World::new("verify-pass");
    w.target.script("/health", vec![Answer::new(200, "ok")]);
    assert_eq!(w.deploy(&[]).code, 0);
    let health = w.target.url("/health");
    let run = w.verify(&["--check", &health]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("Verifying v3 of demo-app"), "{run:?}");
    assert!(run.stdout.contains("All 1 dyno(s) of v3 are up"), "{run:?}");
    assert!(run.stdout.contains("OK http://127.0.0.1"), "{run:?}");
    let state = w.state();
    assert_eq!(step_record(&state, "verify")["outcome"], "done");
    assert_eq!(state["apps"][APP]["verify"]["checks"][0]["passed"], true);
    assert_eq!(
        state["apps"][APP]["verify"]["checks"][0]["last_status"],
        200
    );
}

#[test]
fn a_crashed_dyno_fails_at_once_naming_it() {
    let w = World::new("verify-crash");
    w.heroku.set_formation(APP, "web", 2);
    w.heroku
        .set_dyno_boot(APP, DynoBoot::crash_one_after(Duration::from_millis(200)));
    w.heroku.seed_release(APP, &w.second, None);
    let started = Instant::now();
    let run = w.verify(&["--app", APP, "--release", "v3", "--timeout", "30s"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(started.elapsed() < Duration::from_secs(10), "{run:?}");
    assert!(run.stderr.contains("web.2 of v3 crashed"), "{run:?}");
}

#[test]
fn only_old_release_dynos_up_is_still_waiting() {
    let w = World::new("verify-old");
    w.heroku.set_dyno_boot(
        APP,
        DynoBoot::up_after(Duration::ZERO).appear_after(Duration::from_millis(600)),
    );
    w.heroku.seed_release(APP, &w.second, None);
    let run = w.verify(&["--app", APP]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("Waiting for dynos"), "{run:?}");
    assert!(run.stdout.contains("0/1 dynos of v3 up"), "{run:?}");
    assert!(run.stdout.contains("web.1 v2 up"), "{run:?}");
}

#[test]
fn the_timeout_ends_a_wait_for_dynos_that_never_come() {
    let w = World::new("verify-never");
    w.heroku
        .set_dyno_boot(APP, DynoBoot::up_after(Duration::from_secs(60)));
    w.heroku.seed_release(APP, &w.second, None);
    let run = w.verify(&["--app", APP, "--timeout", "1s"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("timed out"), "{run:?}");
    assert!(run.stderr.contains("dynos of v3"), "{run:?}");
}

#[test]
fn preboot_overlap_is_said_and_can_be_waited_out() {
    let w = World::new("verify-preboot");
    w.heroku.set_preboot(APP, true);
    w.heroku
        .set_preboot_overlap(APP, Duration::from_millis(700));
    w.heroku.seed_release(APP, &w.second, None);
    let run = w.verify(&["--app", APP]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("Preboot is on"), "{run:?}");

    w.heroku.seed_release(APP, &w.first, None);
    let run = w.verify(&["--app", APP, "--wait-preboot"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout
            .contains("waiting for the old ones to stop serving"),
        "{run:?}"
    );
    assert!(run.stdout.contains("All 1 dyno(s) of v4 are up"), "{run:?}");
}

#[test]
fn one_off_dynos_are_ignored() {
    let w = World::new("verify-one-off");
    w.heroku.seed_release(APP, &w.second, None);
    // On the release being verified, and crashed: counted, it would fail the step.
    let one_off = w.heroku.add_one_off_dyno(APP, "run");
    w.heroku.set_one_off_state(APP, &one_off, "crashed");
    let run = w.verify(&["--app", APP, "--timeout", "5s"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(!run.log().contains(&one_off), "{run:?}");
}

#[test]
fn an_endpoint_that_recovers_passes() {
    let w = World::new("verify-recovers");
    w.target.script(
        "/health",
        vec![
            Answer::new(503, "Application error"),
            Answer::new(503, "Application error"),
            Answer::new(200, "ok"),
        ],
    );
    let run = w.verify(&["--app", APP, "--check", &w.target.url("/health")]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.contains("answered 503, expected 200; retrying"),
        "{run:?}"
    );
    assert_eq!(w.target.hits("/health"), 3);
    assert_eq!(w.state()["apps"][APP]["verify"]["checks"][0]["attempts"], 3);
}

#[test]
fn an_endpoint_never_healthy_fails_with_the_report() {
    let w = World::new("verify-unhealthy");
    w.target.script(
        "/health",
        vec![Answer::new(503, "<html>Application error</html>")],
    );
    let run = w.verify(&[
        "--app",
        APP,
        "--check",
        &w.target.url("/health"),
        "--timeout",
        "1s",
    ]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stdout.contains("FAILED http://127.0.0.1"), "{run:?}");
    assert!(
        run.stdout
            .contains("last body: <html>Application error</html>"),
        "{run:?}"
    );
    assert!(run.stderr.contains("answered 503, expected 200"), "{run:?}");
    assert_eq!(
        w.state()["apps"][APP]["verify"]["checks"][0]["passed"],
        false
    );
}

#[test]
fn a_wrong_body_is_named() {
    let w = World::new("verify-body");
    w.target
        .script("/version", vec![Answer::new(200, "running 1111111")]);
    let run = w.verify(&[
        "--app",
        APP,
        "--check",
        &w.target.url("/version"),
        "--expect-body",
        &w.second[..7],
        "--timeout",
        "1s",
    ]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains(&format!(
            "answered 200 without the expected text \"{}\"",
            &w.second[..7]
        )),
        "{run:?}"
    );
}

#[test]
fn connection_refused_is_reported_as_such() {
    let w = World::new("verify-refused");
    let url = Target::refused_url("/health");
    let run = w.verify(&["--app", APP, "--check", &url, "--timeout", "1s"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr
            .contains("could not connect (connection refused)"),
        "{run:?}"
    );
    assert_eq!(
        w.state()["apps"][APP]["verify"]["checks"][0]["unreachable"],
        "could not connect (connection refused)"
    );
}

#[test]
fn slow_answers_redirects_and_headers() {
    let w = World::new("verify-details");
    w.target.script(
        "/slow",
        vec![Answer::new(200, "ok").after(Duration::from_millis(400))],
    );
    let run = w.verify(&[
        "--app",
        APP,
        "--check",
        &w.target.url("/slow"),
        "--max-latency",
        "100ms",
        "--timeout",
        "1500ms",
    ]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains("no answer within --max-latency 100ms"),
        "{run:?}"
    );

    w.target.redirect("/old", 301, &w.target.url("/new"));
    w.target.script("/new", vec![Answer::new(200, "ok")]);
    let run = w.verify(&[
        "--app",
        APP,
        "--check",
        &w.target.url("/old"),
        "--timeout",
        "1s",
    ]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("--follow-redirects"), "{run:?}");
    let run = w.verify(&[
        "--app",
        APP,
        "--check",
        &w.target.url("/old"),
        "--follow-redirects",
    ]);
    assert_eq!(run.code, 0, "{run:?}");

    w.target.script("/private", vec![Answer::new(200, "ok")]);
    let run = w.verify(&[
        "--app",
        APP,
        "--check",
        &w.target.url("/private"),
        "--check-header",
        "Authorization: Bearer s3cret-health-token",
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    let sent = w
        .target
        .requests()
        .into_iter()
        .find(|r| r.path == "/private")
        .unwrap();
    assert_eq!(
        sent.header("Authorization"),
        Some("Bearer s3cret-health-token")
    );
    assert!(!run.log().contains("s3cret-health-token"), "{run:?}");
}

#[test]
fn rollback_on_failure_restores_the_previous_release_and_pauses_deploys() {
    let w = World::new("verify-rollback");
    w.target.script("/health", vec![Answer::new(500, "boom")]);
    assert_eq!(w.deploy(&[]).code, 0);
    assert_eq!(w.current(APP)["version"], 3);
    let run = w.verify(&[
        "--check",
        &w.target.url("/health"),
        "--timeout",
        "1s",
        "--rollback-on-failure",
    ]);
    assert_eq!(run.code, 1, "{run:?}");
    let current = w.current(APP);
    assert_eq!(current["version"], 4);
    assert_eq!(current["description"], "Rollback to v2");
    assert!(
        run.stdout.contains("Continuous deployment is paused"),
        "{run:?}"
    );
    assert!(run.stderr.contains("rolled back to v2 as v4"), "{run:?}");
    assert_eq!(w.state()["apps"][APP]["rollback"]["release"]["version"], 4);

    w.repo.write("index.js", "console.log('v3')\n");
    w.repo.commit("Third");
    let run = w.deploy(&[]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("is a rollback to v2"), "{run:?}");
    assert_eq!(w.current(APP)["version"], 4);
}

#[test]
fn manual_rollback_to_the_previous_or_a_given_release() {
    let w = World::new("rollback");
    w.heroku.seed_release(APP, &w.second, None);
    let run = w.run(&["rollback", "--app", APP, "--dry-run"], &[]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout
            .contains(&format!("to v2 (Deploy {}", &w.first[..8])),
        "{run:?}"
    );
    assert!(
        run.stdout.contains(&format!("commit {}", &w.first[..7])),
        "{run:?}"
    );
    assert_eq!(w.current(APP)["version"], 3);

    let run = w.run(&["rollback", "--app", APP, "--poll", "50ms"], &[]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(w.current(APP)["description"], "Rollback to v2");

    let run = w.run(&["rollback", "--app", APP, "--to", "v1"], &[]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("does not allow rolling back to v1"),
        "{run:?}"
    );
}

/// A staging app running `commit` and a production app running `prod_commit`.
fn staging_and_production(w: &World, commit: &str, prod_commit: &str) {
    w.heroku.create_app("demo-staging");
    w.heroku.seed_release("demo-staging", commit, None);
    w.heroku.create_app("demo-prod");
    w.heroku.seed_release("demo-prod", prod_commit, None);
}

fn prod_commit(w: &World) -> String {
    let current = w.current("demo-prod");
    let slug = current["slug"]["id"].as_str().unwrap().to_string();
    w.heroku
        .slugs("demo-prod")
        .into_iter()
        .chain(w.heroku.slugs("demo-staging"))
        .find(|s| s["id"] == slug.as_str())
        .map(|s| s["commit"].as_str().unwrap().to_string())
        .expect("the live slug")
}

#[test]
fn promote_ships_the_staging_slug_without_a_build() {
    let w = World::new("promote");
    staging_and_production(&w, &w.second, &w.first);
    let staging_slug = w.current("demo-staging")["slug"]["id"].clone();
    let run = w.run(
        &[
            "promote",
            "--from",
            "demo-staging",
            "--app",
            "demo-prod",
            "--poll",
            "50ms",
        ],
        &[],
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("Promoted v3"), "{run:?}");
    let current = w.current("demo-prod");
    assert_eq!(current["slug"]["id"], staging_slug);
    assert_eq!(prod_commit(&w), w.second);
    assert!(w.heroku.builds("demo-prod").is_empty(), "no second build");
    let state = w.state();
    assert_eq!(
        state["apps"]["demo-prod"]["change"]["release"]["version"],
        3
    );
    assert_eq!(state["apps"]["demo-prod"]["change"]["route"], "slug");

    // The same slug again: already live.
    let run = w.run(
        &["promote", "--from", "demo-staging", "--app", "demo-prod"],
        &[],
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("already live"), "{run:?}");
}

#[test]
fn promote_through_a_shared_pipeline() {
    let w = World::new("promote-pipeline");
    staging_and_production(&w, &w.second, &w.first);
    let pipeline = w.heroku.create_pipeline("demo");
    w.heroku.couple(&pipeline, "demo-staging", "staging");
    w.heroku.couple(&pipeline, "demo-prod", "production");
    let run = w.run(
        &[
            "promote",
            "--from",
            "demo-staging",
            "--app",
            "demo-prod",
            "--poll",
            "50ms",
        ],
        &[],
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("Pipeline promotion"), "{run:?}");
    assert_eq!(prod_commit(&w), w.second);
    assert_eq!(
        w.state()["apps"]["demo-prod"]["change"]["route"],
        "pipeline"
    );
}

#[test]
fn promote_refuses_a_staging_release_of_another_commit() {
    let w = World::new("promote-other");
    w.repo.write("index.js", "console.log('v3')\n");
    let third = w.repo.commit("Third");
    staging_and_production(&w, &w.second, &w.first);
    let run = w.run(
        &["promote", "--from", "demo-staging", "--app", "demo-prod"],
        &[],
    );
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr
            .contains(&format!("runs {}, not {}", &w.second[..7], &third[..7])),
        "{run:?}"
    );
    assert!(run.stderr.contains("--any-commit"), "{run:?}");
    assert_eq!(w.current("demo-prod")["version"], 2);

    let run = w.run(
        &[
            "promote",
            "--from",
            "demo-staging",
            "--app",
            "demo-prod",
            "--any-commit",
            "--poll",
            "50ms",
        ],
        &[],
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(prod_commit(&w), w.second);
}

#[test]
fn promote_applies_the_deploy_guards_to_the_slug_commit() {
    let w = World::new("promote-guards");
    staging_and_production(&w, &w.first, &w.second);
    let run = w.run(
        &[
            "promote",
            "--from",
            "demo-staging",
            "--app",
            "demo-prod",
            "--ref",
            &w.first,
        ],
        &[],
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("older than the live commit"), "{run:?}");
    assert_eq!(w.current("demo-prod")["version"], 2);
}

#[test]
fn a_timeout_shorter_than_the_poll_still_looks_until_the_deadline() {
    let w = World::new("verify-short-timeout");
    w.heroku
        .set_dyno_boot(APP, DynoBoot::up_after(Duration::from_millis(800)));
    assert_eq!(w.deploy(&[]).code, 0);
    // The default poll is 10s: the second look comes at the deadline, not never.
    let started = Instant::now();
    let run = w.run(&["verify", "--app", APP, "--timeout", "3s"], &[]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("All 1 dyno(s) of v3 are up"), "{run:?}");
    assert!(
        started.elapsed() >= Duration::from_secs(3),
        "one look at the deadline"
    );

    w.heroku
        .set_dyno_boot(APP, DynoBoot::up_after(Duration::from_secs(60)));
    w.repo.write("index.js", "console.log('v3')\n");
    w.repo.commit("Third");
    assert_eq!(w.deploy(&[]).code, 0);
    let started = Instant::now();
    let run = w.run(&["verify", "--app", APP, "--timeout", "2s"], &[]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("timed out after 2."), "{run:?}");
    assert!(started.elapsed() >= Duration::from_secs(2), "{run:?}");
}

#[test]
fn check_headers_are_not_sent_to_another_host_a_redirect_points_to() {
    let w = World::new("verify-redirect-headers");
    let elsewhere = Target::start();
    elsewhere.script("/health", vec![Answer::new(200, "ok")]);
    w.target.script("/same", vec![Answer::new(200, "ok")]);
    w.target.redirect("/health", 302, "/same");
    w.target.redirect("/away", 302, &elsewhere.url("/health"));
    for path in ["/health", "/away"] {
        let run = w.verify(&[
            "--app",
            APP,
            "--check",
            &w.target.url(path),
            "--follow-redirects",
            "--check-header",
            "X-Api-Key: s3cret-health-key",
        ]);
        assert_eq!(run.code, 0, "{run:?}");
        assert!(!run.log().contains("s3cret-health-key"), "{run:?}");
    }
    let same = w
        .target
        .requests()
        .into_iter()
        .find(|r| r.path == "/same")
        .expect("the same-origin redirect was followed");
    assert_eq!(same.header("X-Api-Key"), Some("s3cret-health-key"));
    let away = elsewhere
        .requests()
        .into_iter()
        .find(|r| r.path == "/health")
        .expect("the redirect to another port was followed");
    assert_eq!(
        away.header("X-Api-Key"),
        None,
        "the key stays with its origin"
    );
}
