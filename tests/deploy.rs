//! `shipline deploy` through the real binary against the sandbox Heroku: what a CI user sees in
//! the log, what the exit code is, what the state file says, and what Heroku received.

mod common;

use std::io::Read;
use std::time::Duration;

use common::{assert_in_order, git_command, step_record, Run, TempDir, World};
use serde_json::Value;
use shipline_sandbox::{Failure, Script};

const APP: &str = "demo-app";

/// A repository with two commits and a Heroku app whose live release runs the first, with
/// preboot on; with the two commits.
fn world(name: &str) -> (World, String, String) {
    let w = World::new(name).with_heroku();
    let repo = w.repo();
    repo.write("package.json", "{\"name\": \"demo-app\"}\n");
    let (first, second) = repo.web_app_and_change("Say \"v2\" & mean it (#42)");
    w.heroku().create_app(APP);
    w.heroku().seed_release(APP, &first, None);
    w.heroku().set_preboot(APP, true);
    (w, first, second)
}

/// `shipline deploy --app demo-app --poll 50ms ARGS` in the repository.
fn deploy(w: &World, args: &[&str], extra: &[(&str, &str)]) -> Run {
    w.shipline(["deploy", "--app", APP, "--poll", "50ms"])
        .args(args)
        .envs(extra.iter().copied())
        .run()
}

/// The entries of a tar (pax headers aside): path, mode, kind, link target and contents.
fn entries(tar: &[u8]) -> Vec<(String, u32, char, String, Vec<u8>)> {
    let mut archive = tar::Archive::new(tar);
    archive
        .entries()
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| !e.header().entry_type().is_pax_global_extensions())
        .map(|mut e| {
            let path = e.path().unwrap().to_string_lossy().into_owned();
            let mode = e.header().mode().unwrap();
            let kind = e.header().entry_type().as_byte() as char;
            let link = e
                .link_name()
                .unwrap()
                .map(|l| l.to_string_lossy().into_owned())
                .unwrap_or_default();
            let mut content = Vec::new();
            e.read_to_end(&mut content).unwrap();
            (path, mode, kind, link, content)
        })
        .collect()
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .unwrap();
    out
}

#[test]
fn deploys_a_new_commit_with_streamed_output_and_records_it() {
    let (w, first, second) = world("deploy-ok");
    w.heroku()
        .set_release_phase(APP, Some(Script::release_phase()));
    let run = deploy(&w, &[], &[]);
    run.code(0);
    assert_in_order(
        &run.stdout,
        &[
            &format!("Deploying {}", &second[..7]),
            "Live on demo-app: v2",
            "Packed",
            "Uploaded the source",
            "Build ",
            "-----> Building on the Heroku-24 stack",
            "-----> Using buildpack: heroku/nodejs",
            "-----> Build succeeded!",
            "Build succeeded in",
            "Release v3",
            "Running release command...",
            "Migrations complete (1 applied)",
            "Released v3",
        ],
    );
    assert_eq!(w.live_commit(APP, &[]), second);
    assert_eq!(w.current_release(APP)["version"], 3);

    let state = w.state();
    assert_eq!(step_record(&state, "deploy")["outcome"], "done");
    assert_eq!(state["apps"][APP]["change"]["commit"], second.as_str());
    assert_eq!(state["apps"][APP]["change"]["release"]["version"], 3);
    assert_eq!(
        state["apps"][APP]["change"]["previous_release"]["version"],
        2
    );
    assert_eq!(
        state["apps"][APP]["change"]["previous_release"]["commit"],
        first.as_str()
    );
    assert!(state["apps"][APP]["change"]["timings_ms"]["total"]
        .as_u64()
        .is_some());
    // The release notes of the deploy, for notify: live commit → deployed commit.
    assert_eq!(state["apps"][APP]["notes"]["range"], "forward");
    assert_eq!(state["apps"][APP]["notes"]["from"], first.as_str());
    assert_eq!(
        state["apps"][APP]["notes"]["commits"][0]["sha"],
        second.as_str()
    );
    assert_eq!(
        state["apps"][APP]["notes"]["commits"][0]["subject"],
        "Say \"v2\" & mean it (#42)"
    );
    assert_eq!(state["apps"][APP]["notes"]["commits"][0]["pr"], 42);
    run.stdout_has("Release notes: 1 commit(s) shipping");

    // What Heroku received: the v3 Accept header, the bearer key, our user agent everywhere.
    for request in w.heroku_requests("GET", "/apps") {
        assert_eq!(
            request.header("Accept"),
            Some("application/vnd.heroku+json; version=3")
        );
        assert_eq!(
            request.header("Authorization"),
            Some(format!("Bearer {}", w.heroku().api_key()).as_str())
        );
        assert!(request
            .header("User-Agent")
            .unwrap()
            .starts_with("shipline/"));
    }
    let builds = w.heroku_requests("POST", &format!("/apps/{APP}/builds"));
    assert_eq!(builds.len(), 1);
    let body: Value = serde_json::from_slice(&builds[0].body).unwrap();
    assert_eq!(body["source_blob"]["version"], second.as_str());
    let blob = &w.heroku().blobs()[0];
    let sha = {
        let digest = ring::digest::digest(&ring::digest::SHA256, blob);
        digest
            .as_ref()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    assert_eq!(body["source_blob"]["checksum"], format!("SHA256:{sha}"));

    // The upload: exact length, no content type, no credentials.
    let put = w
        .heroku()
        .requests()
        .into_iter()
        .find(|r| r.method == "PUT")
        .unwrap();
    assert_eq!(
        put.header("Content-Length"),
        Some(blob.len().to_string().as_str())
    );
    assert_eq!(put.header("Content-Type"), None);
    assert_eq!(put.header("Authorization"), None);
    assert_eq!(put.header("Transfer-Encoding"), None);

    // The key and the pre-signed query string never reach the log.
    run.log_lacks(w.heroku().api_key());
    let query = put.query.unwrap();
    run.log_lacks(&query);
}

#[test]
fn the_tarball_is_git_archive_of_the_commit() {
    let (w, _, _) = world("tarball");
    w.repo()
        .write("bin/start", "#!/bin/sh\nexec node index.js\n");
    w.repo().write(
        ".gitattributes",
        "secrets/ export-ignore\nnotes.txt export-ignore\n",
    );
    w.repo().write("secrets/token", "do-not-ship\n");
    w.repo().write("notes.txt", "internal\n");
    w.repo().write(
        "deep/very/long/path/that/goes/on/and/on/beyond/the/hundred/characters/of/a/ustar/name/field/file.txt",
        "deep\n",
    );
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        w.repo().path().join("bin/start"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    std::os::unix::fs::symlink("index.js", w.repo().path().join("main.js")).unwrap();
    let commit = w
        .repo()
        .commit("Add start script, symlink and ignored files");
    std::fs::write(w.repo().path().join("dirty.txt"), "not committed\n").unwrap();

    let run = deploy(&w, &[], &[]);
    run.code(0);
    let tar = gunzip(&w.heroku().blobs()[0]);
    let expected = git_command(w.repo().path())
        .args(["archive", "--format=tar", &commit])
        .output()
        .unwrap()
        .stdout;
    assert!(!expected.is_empty());
    assert!(
        tar == expected,
        "the uploaded tar differs from `git archive` of {commit}"
    );
    let entries = entries(&tar);
    let find = |path: &str| entries.iter().find(|e| e.0 == path);
    assert_eq!(find("bin/start").map(|e| e.1), Some(0o775));
    assert_eq!(find("index.js").map(|e| e.1), Some(0o664));
    assert_eq!(
        find("main.js").map(|e| (e.2, e.3.as_str())),
        Some(('2', "index.js"))
    );
    assert!(find("secrets/token").is_none() && find("notes.txt").is_none());
    assert!(find("dirty.txt").is_none());
}

#[test]
fn subdir_deploys_one_folder_of_the_tree_as_the_app_root() {
    let (w, _, _) = world("subdir");
    w.repo().write("apps/web/Procfile", "web: node server.js\n");
    w.repo().write("apps/web/server.js", "require('http')\n");
    w.repo().write("apps/api/main.go", "package main\n");
    let commit = w.repo().commit("Monorepo");
    let run = deploy(&w, &["--subdir", "apps/web"], &[]);
    run.code(0);
    let ours = entries(&gunzip(&w.heroku().blobs()[0]));
    let paths: Vec<&str> = ours.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(paths, ["Procfile", "server.js"], "{run:?}");
    let git = git_command(w.repo().path())
        .args(["archive", "--format=tar", &format!("{commit}:apps/web")])
        .output()
        .unwrap()
        .stdout;
    assert_eq!(ours, entries(&git));
    assert_eq!(w.live_commit(APP, &[]), commit);

    w.repo().write("apps/web/server.js", "require('https')\n");
    w.repo().commit("Use https");
    w.heroku().clear_requests();
    let run = deploy(&w, &["--subdir", "apps/nope"], &[]);
    run.code(2);
    assert!(
        run.stderr.contains("apps/nope") && run.stderr.contains("--subdir"),
        "{run:?}"
    );
    assert!(
        w.heroku().requests().is_empty(),
        "checked before asking Heroku"
    );
}

#[test]
fn the_rollback_guard_pauses_until_forced() {
    let (w, first, second) = world("rollback-guard");
    w.heroku().seed_release(APP, &first, Some("Rollback to v1"));
    let run = deploy(&w, &[], &[]);
    run.code(0);
    run.stdout_has("is a rollback to v1");
    run.stdout_has("--force");
    assert_eq!(step_record(&w.state(), "deploy")["outcome"], "skipped");
    assert!(w.heroku_requests("POST", "/sources").is_empty());

    let run = deploy(&w, &["--force"], &[]);
    run.code(0);
    assert_eq!(w.live_commit(APP, &[]), second);
}

#[test]
fn a_commit_already_live_is_not_rebuilt() {
    let (w, _, second) = world("already-live");
    w.heroku().seed_release(APP, &second, None);
    let run = deploy(&w, &[], &[]);
    run.code(0);
    run.stdout_has("is already live as v3");
    assert!(w
        .heroku_requests("POST", &format!("/apps/{APP}/builds"))
        .is_empty());
}

#[test]
fn an_older_commit_never_goes_over_a_newer_one_unless_forced() {
    let (w, first, second) = world("older");
    w.heroku().seed_release(APP, &second, None);
    let run = deploy(&w, &["--ref", &first], &[]);
    run.code(0);
    run.stdout_has("older than the live commit");
    assert_eq!(step_record(&w.state(), "deploy")["outcome"], "skipped");
    assert_eq!(w.live_commit(APP, &[]), second);

    let run = deploy(&w, &["--ref", &first, "--force"], &[]);
    run.code(0);
    assert_eq!(w.live_commit(APP, &[]), first);
}

#[test]
fn a_stale_shallow_clone_fetches_the_newer_live_commit_and_skips() {
    // CI checked out the first commit with depth 1; meanwhile the second went live.
    let (w, first, second) = world("shallow-origin");
    w.heroku().seed_release(APP, &second, None);
    let clone_dir = TempDir::new("shallow-clone");
    let clone = clone_dir.path.join("c");
    let out = git_command(&clone_dir.path)
        .args([
            "clone",
            "-q",
            "--depth",
            "1",
            &format!("file://{}", w.repo().path().display()),
            clone.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let out = git_command(&clone)
        .args(["fetch", "-q", "--depth", "1", "origin", &first])
        .output()
        .unwrap();
    assert!(out.status.success());
    let run = w
        .shipline(["deploy", "--app", APP, "--ref", &first, "--poll", "50ms"])
        .cwd(&clone)
        .run();
    run.code(0);
    run.stdout_has("older than the live commit");
}

#[test]
fn the_kill_switch_is_checked_before_anything_else() {
    let (w, _, second) = world("kill");
    let run = deploy(
        &w,
        &["--enabled-by", "DEPLOYS_ON"],
        &[("CI", "true"), ("DEPLOYS_ON", "no")],
    );
    run.code(0);
    run.stdout_has("$DEPLOYS_ON is `no`");
    assert!(
        w.heroku().requests().is_empty(),
        "nothing was asked of Heroku"
    );
    let run = deploy(
        &w,
        &["--enabled-by", "DEPLOYS_ON"],
        &[("CI", "true"), ("DEPLOYS_ON", "true")],
    );
    run.code(0);
    assert_eq!(w.live_commit(APP, &[]), second);
}

#[test]
fn a_failed_build_fails_the_step_with_the_tail_and_the_build_id() {
    let (w, first, _) = world("build-fails");
    w.heroku().script_next_build(APP, Script::failing_build());
    let run = deploy(&w, &[], &[]);
    run.code(1);
    let build_id = w.heroku().builds(APP)[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    run.stderr_has(&build_id);
    run.stderr_has("failed");
    assert_in_order(
        &run.stdout,
        &[
            "Build output",
            "Build failed: npm ERR!",
            "Last 3 lines of the build output",
            "Build failed: npm ERR!",
        ],
    );
    assert_eq!(w.live_commit(APP, &[]), first);
    let state = w.state();
    assert_eq!(step_record(&state, "deploy")["outcome"], "failed");
    assert!(step_record(&state, "deploy")["reason"]
        .as_str()
        .unwrap()
        .contains(&build_id));
}

#[test]
fn a_failed_release_phase_fails_the_step_and_keeps_the_previous_release() {
    let (w, _, _) = world("release-fails");
    w.heroku()
        .set_release_phase(APP, Some(Script::failing_release_phase()));
    let run = deploy(&w, &[], &[]);
    run.code(1);
    let failed = w
        .heroku()
        .releases(APP)
        .into_iter()
        .find(|r| r["status"] == "failed")
        .expect("a failed release");
    run.stderr_has(failed["id"].as_str().unwrap());
    run.stderr_has("stays v2");
    run.stdout_has("relation \"orders\" does not exist");
    assert_eq!(w.current_release(APP)["version"], 2);
}

#[test]
fn server_errors_and_rate_limits_are_retried() {
    let (w, _, second) = world("retries");
    w.heroku().fail_next("GET", &format!("/apps/{APP}"), 503, 2);
    w.heroku().fail_next("POST", "/sources", 429, 1);
    let run = deploy(&w, &[], &[]);
    run.code(0);
    assert!(
        run.stdout
            .contains(&format!("GET /apps/{APP} answered 503; retrying")),
        "{run:?}"
    );
    assert!(
        run.stdout.contains("POST /sources answered 429; retrying"),
        "{run:?}"
    );
    assert_eq!(w.live_commit(APP, &[]), second);
}

#[test]
fn a_build_creation_that_may_have_happened_is_not_repeated() {
    let (w, _, _) = world("no-double-build");
    w.heroku()
        .fail_next("POST", &format!("/apps/{APP}/builds"), 503, 1);
    let run = deploy(&w, &[], &[]);
    run.code(1);
    assert_eq!(
        w.heroku_requests("POST", &format!("/apps/{APP}/builds"))
            .len(),
        1
    );
    run.stderr_has("could not start the build");
    run.stderr_has("503");
}

#[test]
fn a_persistent_rate_limit_fails_with_herokus_message() {
    let (w, _, _) = world("rate-limited");
    w.heroku()
        .inject(Failure::new("*", "/apps/*", 429, 100).retry_after(Some(0)));
    let run = deploy(&w, &[], &[]);
    run.code(1);
    run.stderr_has("429 rate_limit");
}

#[test]
fn a_rejected_key_says_which_variable_and_never_prints_it() {
    let (w, _, _) = world("bad-key");
    let bad = "0123abcd-bad-key-never-print-me";
    let run = deploy(&w, &[], &[("HEROKU_API_KEY", bad)]);
    run.code(1);
    run.stderr_has("HEROKU_API_KEY");
    run.stderr_has("401 unauthorized");
    run.log_lacks(bad);
    run.log_lacks("stack backtrace");
}

#[test]
fn a_missing_app_is_named() {
    let (w, _, _) = world("no-app");
    let run = w.run(["deploy", "--app", "no-such-app"]);
    run.code(1);
    run.stderr_has("app `no-such-app` was not found");
    run.stderr_has("--app");
}

#[test]
fn dry_run_runs_the_guards_and_creates_nothing() {
    let (w, _, _) = world("dry-run");
    let run = deploy(&w, &["--dry-run"], &[]);
    run.code(0);
    run.stdout_has("Dry run: would upload");
    run.stdout_has("release v3");
    assert!(w.heroku_requests("POST", "/").is_empty(), "{run:?}");
    assert!(w.heroku_requests("PUT", "/").is_empty(), "{run:?}");
    assert_eq!(w.heroku().releases(APP).len(), 2);
    assert_eq!(step_record(&w.state(), "deploy")["dry_run"], true);
}

#[test]
fn preboot_off_warns_and_can_be_required() {
    let (w, _, _) = world("preboot");
    w.heroku().set_preboot(APP, false);
    let run = deploy(&w, &["--require-preboot"], &[]);
    run.code(1);
    run.stderr_has("preboot is off");
    assert!(w.heroku_requests("POST", "/").is_empty());
    let run = deploy(&w, &[], &[]);
    run.code(0);
    run.stdout_has("warning: preboot is off");
}

#[test]
fn the_timeout_bounds_the_step_and_says_what_it_waited_for() {
    let (w, _, _) = world("timeout");
    w.heroku().script_next_build(
        APP,
        Script::succeed(["-----> Building", "-----> still building"]).delay(Duration::from_secs(3)),
    );
    let started = std::time::Instant::now();
    let run = deploy(&w, &["--timeout", "1s"], &[]);
    run.code(1);
    assert!(started.elapsed() < Duration::from_secs(3), "{run:?}");
    run.stderr_has("timed out waiting for");
    run.stderr_has("build");
}

#[test]
fn github_actions_gets_outputs_a_summary_and_a_mask() {
    let (w, _, second) = world("github");
    let out = TempDir::new("gh-files");
    let output = out.path.join("output");
    let summary = out.path.join("summary");
    let run = deploy(
        &w,
        &[],
        &[
            ("GITHUB_ACTIONS", "true"),
            ("CI", "true"),
            ("GITHUB_RUN_ID", "77"),
            ("GITHUB_RUN_ATTEMPT", "1"),
            ("GITHUB_JOB", "deploy"),
            ("GITHUB_OUTPUT", output.to_str().unwrap()),
            ("GITHUB_STEP_SUMMARY", summary.to_str().unwrap()),
        ],
    );
    run.code(0);
    assert!(run.stdout.starts_with("::add-mask::"), "{run:?}");
    run.stdout_has("::group::Build output");
    // Build output cannot run workflow commands: it is fenced by stop-commands.
    let fence = run
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("::stop-commands::"))
        .expect("build output is fenced");
    assert_in_order(
        &run.stdout,
        &[
            "::stop-commands::",
            "-----> Building",
            &format!("::{fence}::"),
            "::endgroup::",
        ],
    );
    run.stdout_has("::endgroup::");
    let outputs = std::fs::read_to_string(&output).unwrap();
    assert!(outputs.contains("release-version=3\n"), "{outputs}");
    assert!(
        outputs.contains(&format!("commit={}\n", second)),
        "{outputs}"
    );
    assert!(outputs.contains("outcome=done\n"), "{outputs}");
    let summary = std::fs::read_to_string(&summary).unwrap();
    assert!(summary.contains("Deployed demo-app v3"), "{summary}");
    // Escaped for Markdown (`\&` renders as `&`: no entity can form), so it shows as written.
    assert!(
        summary.contains("Say \"v2\" \\& mean it (#42)"),
        "{summary}"
    );
    assert_eq!(w.state()["run"], "github:77:1:deploy");
}

#[test]
fn a_skipped_lock_makes_the_deploy_skip() {
    let (w, _, _) = world("after-lock");
    let state_dir = w.repo().path().join(".shipline");
    std::fs::create_dir_all(&state_dir).unwrap();
    std::fs::write(
        state_dir.join("state.json"),
        r#"{"version":2,"steps":[{"step":"lock","outcome":"skipped","reason":"superseded by build #12","started_at":"2026-11-27T00:00:00Z","duration_ms":3}]}"#,
    )
    .unwrap();
    let run = deploy(&w, &[], &[]);
    run.code(0);
    run.stdout_has("superseded by build #12");
    assert!(w.heroku().requests().is_empty());
}

#[test]
fn a_422_from_heroku_prints_its_message() {
    let (w, _, _) = world("invalid-params");
    w.heroku().inject(
        Failure::new("POST", &format!("/apps/{APP}/builds"), 422, 1).body(
            "invalid_params",
            "source_blob.checksum must be of the form SHA256:<hex>",
        ),
    );
    let run = deploy(&w, &[], &[]);
    run.code(1);
    run.stderr_has(&format!(
            "could not start the build: Heroku POST /apps/{APP}/builds answered 422 invalid_params: source_blob.checksum must be of the form SHA256:<hex>"
        ));
}

#[test]
fn a_low_rate_limit_slows_requests_down_with_a_warning() {
    let (w, _, _) = world("rate-low");
    // Three tokens left, one back every 800 ms (Heroku's pace): a dry run needs more requests
    // than that, so only requests spaced out by the refill time stay clear of 429s.
    w.heroku().set_rate_limit_remaining(3);
    w.heroku().clear_requests();
    let run = deploy(&w, &["--dry-run"], &[]);
    run.code(0);
    run.stdout_has("warning: Heroku rate limit nearly used up");
    let sent = w.heroku().requests().len();
    assert!(
        sent > 3,
        "the dry run needs more requests than tokens left: {sent}"
    );
    assert!(
        !run.stdout.contains("answered 429"),
        "paced, never refused: {run:?}"
    );
}
