//! `shipline verify`, `rollback` and `promote` through the real binary against the sandbox
//! Heroku and a scriptable HTTP target.

mod common;

use std::time::{Duration, Instant};

use common::{step_record, Run, World};
use shipline_sandbox::{Answer, DynoBoot, Target};

const APP: &str = "demo-app";

/// A repository with two commits, an app whose live release runs the first, and an HTTP
/// target; with the two commits.
fn world(name: &str) -> (World, String, String) {
    let w = World::new(name).with_heroku().with_target();
    let (first, second) = w.repo().web_app_and_change("Second");
    w.heroku().create_app(APP);
    w.heroku().seed_release(APP, &first, None);
    (w, first, second)
}

fn step(w: &World, args: &[&str], extra: &[(&str, &str)]) -> Run {
    w.shipline(args).envs(extra.iter().copied()).run()
}

fn verify(w: &World, args: &[&str]) -> Run {
    w.shipline(["verify", "--poll", "50ms"]).args(args).run()
}

fn deploy(w: &World, args: &[&str]) -> Run {
    w.shipline(["deploy", "--app", APP, "--poll", "50ms"])
        .args(args)
        .run()
}

#[test]
fn a_deploy_then_verify_passes_when_dynos_are_up_and_endpoints_answer() {
    let (w, _, _) = world("verify-pass");
    w.target().script("/health", vec![Answer::new(200, "ok")]);
    assert_eq!(deploy(&w, &[]).code, 0);
    let health = w.target().url("/health");
    let run = verify(&w, &["--check", &health]);
    run.code(0);
    run.stdout_has("Verifying v3 of demo-app");
    run.stdout_has("All 1 dyno(s) of v3 are up");
    run.stdout_has("OK http://127.0.0.1");
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
    let (w, _, second) = world("verify-crash");
    w.heroku().set_formation(APP, "web", 2);
    w.heroku()
        .set_dyno_boot(APP, DynoBoot::crash_one_after(Duration::from_millis(200)));
    w.heroku().seed_release(APP, &second, None);
    let started = Instant::now();
    let run = verify(&w, &["--app", APP, "--release", "v3", "--timeout", "30s"]);
    run.code(1);
    assert!(started.elapsed() < Duration::from_secs(10), "{run:?}");
    run.stderr_has("web.2 of v3 crashed");
}

#[test]
fn only_old_release_dynos_up_is_still_waiting() {
    let (w, _, second) = world("verify-old");
    w.heroku().set_dyno_boot(
        APP,
        DynoBoot::up_after(Duration::ZERO).appear_after(Duration::from_millis(600)),
    );
    w.heroku().seed_release(APP, &second, None);
    let run = verify(&w, &["--app", APP]);
    run.code(0);
    run.stdout_has("Waiting for dynos");
    run.stdout_has("0/1 dynos of v3 up");
    run.stdout_has("web.1 v2 up");
}

#[test]
fn the_timeout_ends_a_wait_for_dynos_that_never_come() {
    let (w, _, second) = world("verify-never");
    w.heroku()
        .set_dyno_boot(APP, DynoBoot::up_after(Duration::from_secs(60)));
    w.heroku().seed_release(APP, &second, None);
    let run = verify(&w, &["--app", APP, "--timeout", "1s"]);
    run.code(1);
    run.stderr_has("timed out");
    run.stderr_has("dynos of v3");
}

#[test]
fn preboot_overlap_is_said_and_can_be_waited_out() {
    let (w, first, second) = world("verify-preboot");
    w.heroku().set_preboot(APP, true);
    w.heroku()
        .set_preboot_overlap(APP, Duration::from_millis(700));
    w.heroku().seed_release(APP, &second, None);
    let run = verify(&w, &["--app", APP]);
    run.code(0);
    run.stdout_has("Preboot is on");

    w.heroku().seed_release(APP, &first, None);
    let run = verify(&w, &["--app", APP, "--wait-preboot"]);
    run.code(0);
    run.stdout_has("waiting for the old ones to stop serving");
    run.stdout_has("All 1 dyno(s) of v4 are up");
}

#[test]
fn one_off_dynos_are_ignored() {
    let (w, _, second) = world("verify-one-off");
    w.heroku().seed_release(APP, &second, None);
    // On the release being verified, and crashed: counted, it would fail the step.
    let one_off = w.heroku().add_one_off_dyno(APP, "run");
    w.heroku().set_one_off_state(APP, &one_off, "crashed");
    let run = verify(&w, &["--app", APP, "--timeout", "5s"]);
    run.code(0);
    run.log_lacks(&one_off);
}

#[test]
fn an_endpoint_that_recovers_passes() {
    let (w, _, _) = world("verify-recovers");
    w.target().script(
        "/health",
        vec![
            Answer::new(503, "Application error"),
            Answer::new(503, "Application error"),
            Answer::new(200, "ok"),
        ],
    );
    let run = verify(&w, &["--app", APP, "--check", &w.target().url("/health")]);
    run.code(0);
    assert!(
        run.stdout.contains("answered 503, expected 200; retrying"),
        "{run:?}"
    );
    assert_eq!(w.target().hits("/health"), 3);
    assert_eq!(w.state()["apps"][APP]["verify"]["checks"][0]["attempts"], 3);
}

#[test]
fn an_endpoint_never_healthy_fails_with_the_report() {
    let (w, _, _) = world("verify-unhealthy");
    w.target().script(
        "/health",
        vec![Answer::new(503, "<html>Application error</html>")],
    );
    let run = verify(
        &w,
        &[
            "--app",
            APP,
            "--check",
            &w.target().url("/health"),
            "--timeout",
            "1s",
        ],
    );
    run.code(1);
    run.stdout_has("FAILED http://127.0.0.1");
    run.stdout_has("last body: <html>Application error</html>");
    run.stderr_has("answered 503, expected 200");
    assert_eq!(
        w.state()["apps"][APP]["verify"]["checks"][0]["passed"],
        false
    );
}

#[test]
fn a_wrong_body_is_named() {
    let (w, _, second) = world("verify-body");
    w.target()
        .script("/version", vec![Answer::new(200, "running 1111111")]);
    let run = verify(
        &w,
        &[
            "--app",
            APP,
            "--check",
            &w.target().url("/version"),
            "--expect-body",
            &second[..7],
            "--timeout",
            "1s",
        ],
    );
    run.code(1);
    run.stderr_has(&format!(
        "answered 200 without the expected text \"{}\"",
        &second[..7]
    ));
}

#[test]
fn connection_refused_is_reported_as_such() {
    let (w, _, _) = world("verify-refused");
    let url = Target::refused_url("/health");
    let run = verify(&w, &["--app", APP, "--check", &url, "--timeout", "1s"]);
    run.code(1);
    run.stderr_has("could not connect (connection refused)");
    assert_eq!(
        w.state()["apps"][APP]["verify"]["checks"][0]["unreachable"],
        "could not connect (connection refused)"
    );
}

#[test]
fn slow_answers_redirects_and_headers() {
    let (w, _, _) = world("verify-details");
    w.target().script(
        "/slow",
        vec![Answer::new(200, "ok").after(Duration::from_millis(400))],
    );
    let run = verify(
        &w,
        &[
            "--app",
            APP,
            "--check",
            &w.target().url("/slow"),
            "--max-latency",
            "100ms",
            "--timeout",
            "1500ms",
        ],
    );
    run.code(1);
    run.stderr_has("no answer within --max-latency 100ms");

    w.target().redirect("/old", 301, &w.target().url("/new"));
    w.target().script("/new", vec![Answer::new(200, "ok")]);
    let run = verify(
        &w,
        &[
            "--app",
            APP,
            "--check",
            &w.target().url("/old"),
            "--timeout",
            "1s",
        ],
    );
    run.code(1);
    run.stderr_has("--follow-redirects");
    let run = verify(
        &w,
        &[
            "--app",
            APP,
            "--check",
            &w.target().url("/old"),
            "--follow-redirects",
        ],
    );
    run.code(0);

    w.target().script("/private", vec![Answer::new(200, "ok")]);
    let run = verify(
        &w,
        &[
            "--app",
            APP,
            "--check",
            &w.target().url("/private"),
            "--check-header",
            "Authorization: Bearer s3cret-health-token",
        ],
    );
    run.code(0);
    let sent = w
        .target()
        .requests()
        .into_iter()
        .find(|r| r.path == "/private")
        .unwrap();
    assert_eq!(
        sent.header("Authorization"),
        Some("Bearer s3cret-health-token")
    );
    run.log_lacks("s3cret-health-token");
}

#[test]
fn rollback_on_failure_restores_the_previous_release_and_pauses_deploys() {
    let (w, _, _) = world("verify-rollback");
    w.target().script("/health", vec![Answer::new(500, "boom")]);
    assert_eq!(deploy(&w, &[]).code, 0);
    assert_eq!(w.current_release(APP)["version"], 3);
    let run = verify(
        &w,
        &[
            "--check",
            &w.target().url("/health"),
            "--timeout",
            "1s",
            "--rollback-on-failure",
        ],
    );
    run.code(1);
    let current = w.current_release(APP);
    assert_eq!(current["version"], 4);
    assert_eq!(current["description"], "Rollback to v2");
    run.stdout_has("Continuous deployment is paused");
    run.stderr_has("rolled back to v2 as v4");
    assert_eq!(w.state()["apps"][APP]["rollback"]["release"]["version"], 4);

    w.repo().write("index.js", "console.log('v3')\n");
    w.repo().commit("Third");
    let run = deploy(&w, &[]);
    run.code(0);
    run.stdout_has("is a rollback to v2");
    assert_eq!(w.current_release(APP)["version"], 4);
}

#[test]
fn manual_rollback_to_the_previous_or_a_given_release() {
    let (w, first, second) = world("rollback");
    w.heroku().seed_release(APP, &second, None);
    let run = step(&w, &["rollback", "--app", APP, "--dry-run"], &[]);
    run.code(0);
    run.stdout_has(&format!("to v2 (Deploy {}", &first[..8]));
    run.stdout_has(&format!("commit {}", &first[..7]));
    assert_eq!(w.current_release(APP)["version"], 3);

    let run = step(&w, &["rollback", "--app", APP, "--poll", "50ms"], &[]);
    run.code(0);
    assert_eq!(w.current_release(APP)["description"], "Rollback to v2");

    let run = step(&w, &["rollback", "--app", APP, "--to", "v1"], &[]);
    run.code(2);
    run.stderr_has("does not allow rolling back to v1");
}

/// A staging app running `commit` and a production app running `prod_commit`.
fn staging_and_production(w: &World, commit: &str, prod_commit: &str) {
    w.heroku().create_app("demo-staging");
    w.heroku().seed_release("demo-staging", commit, None);
    w.heroku().create_app("demo-prod");
    w.heroku().seed_release("demo-prod", prod_commit, None);
}

#[test]
fn promote_ships_the_staging_slug_without_a_build() {
    let (w, first, second) = world("promote");
    staging_and_production(&w, &second, &first);
    let staging_slug = w.current_release("demo-staging")["slug"]["id"].clone();
    let run = step(
        &w,
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
    run.code(0);
    run.stdout_has("Promoted v3");
    let current = w.current_release("demo-prod");
    assert_eq!(current["slug"]["id"], staging_slug);
    assert_eq!(w.live_commit("demo-prod", &["demo-staging"]), second);
    assert!(w.heroku().builds("demo-prod").is_empty(), "no second build");
    let state = w.state();
    assert_eq!(
        state["apps"]["demo-prod"]["change"]["release"]["version"],
        3
    );
    assert_eq!(state["apps"]["demo-prod"]["change"]["route"], "slug");

    // The same slug again: already live.
    let run = step(
        &w,
        &["promote", "--from", "demo-staging", "--app", "demo-prod"],
        &[],
    );
    run.code(0);
    run.stdout_has("already live");
}

#[test]
fn promote_through_a_shared_pipeline() {
    let (w, first, second) = world("promote-pipeline");
    staging_and_production(&w, &second, &first);
    let pipeline = w.heroku().create_pipeline("demo");
    w.heroku().couple(&pipeline, "demo-staging", "staging");
    w.heroku().couple(&pipeline, "demo-prod", "production");
    let run = step(
        &w,
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
    run.code(0);
    run.stdout_has("Pipeline promotion");
    assert_eq!(w.live_commit("demo-prod", &["demo-staging"]), second);
    assert_eq!(
        w.state()["apps"]["demo-prod"]["change"]["route"],
        "pipeline"
    );
}

#[test]
fn promote_refuses_a_staging_release_of_another_commit() {
    let (w, first, second) = world("promote-other");
    w.repo().write("index.js", "console.log('v3')\n");
    let third = w.repo().commit("Third");
    staging_and_production(&w, &second, &first);
    let run = step(
        &w,
        &["promote", "--from", "demo-staging", "--app", "demo-prod"],
        &[],
    );
    run.code(1);
    run.stderr_has(&format!("runs {}, not {}", &second[..7], &third[..7]));
    run.stderr_has("--any-commit");
    assert_eq!(w.current_release("demo-prod")["version"], 2);

    let run = step(
        &w,
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
    run.code(0);
    assert_eq!(w.live_commit("demo-prod", &["demo-staging"]), second);
}

#[test]
fn promote_applies_the_deploy_guards_to_the_slug_commit() {
    let (w, first, second) = world("promote-guards");
    staging_and_production(&w, &first, &second);
    let run = step(
        &w,
        &[
            "promote",
            "--from",
            "demo-staging",
            "--app",
            "demo-prod",
            "--ref",
            &first,
        ],
        &[],
    );
    run.code(0);
    run.stdout_has("older than the live commit");
    assert_eq!(w.current_release("demo-prod")["version"], 2);
}

#[test]
fn a_timeout_shorter_than_the_poll_still_looks_until_the_deadline() {
    let (w, _, _) = world("verify-short-timeout");
    w.heroku()
        .set_dyno_boot(APP, DynoBoot::up_after(Duration::from_millis(800)));
    assert_eq!(deploy(&w, &[]).code, 0);
    // The default poll is 10s: the second look comes at the deadline, not never.
    let started = Instant::now();
    let run = step(&w, &["verify", "--app", APP, "--timeout", "3s"], &[]);
    run.code(0);
    run.stdout_has("All 1 dyno(s) of v3 are up");
    assert!(
        started.elapsed() >= Duration::from_secs(3),
        "one look at the deadline"
    );

    w.heroku()
        .set_dyno_boot(APP, DynoBoot::up_after(Duration::from_secs(60)));
    w.repo().write("index.js", "console.log('v3')\n");
    w.repo().commit("Third");
    assert_eq!(deploy(&w, &[]).code, 0);
    let started = Instant::now();
    let run = step(&w, &["verify", "--app", APP, "--timeout", "2s"], &[]);
    run.code(1);
    run.stderr_has("timed out after 2.");
    assert!(started.elapsed() >= Duration::from_secs(2), "{run:?}");
}

#[test]
fn check_headers_are_not_sent_to_another_host_a_redirect_points_to() {
    let (w, _, _) = world("verify-redirect-headers");
    let elsewhere = Target::start();
    elsewhere.script("/health", vec![Answer::new(200, "ok")]);
    w.target().script("/same", vec![Answer::new(200, "ok")]);
    w.target().redirect("/health", 302, "/same");
    w.target().redirect("/away", 302, &elsewhere.url("/health"));
    for path in ["/health", "/away"] {
        let run = verify(
            &w,
            &[
                "--app",
                APP,
                "--check",
                &w.target().url(path),
                "--follow-redirects",
                "--check-header",
                "X-Api-Key: s3cret-health-key",
            ],
        );
        run.code(0);
        run.log_lacks("s3cret-health-key");
    }
    let same = w
        .target()
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
