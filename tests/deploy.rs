//! `shipline deploy` through the real binary against the sandbox Heroku: what a CI user sees in
//! the log, what the exit code is, what the state file says, and what Heroku received.

mod common;

use std::io::Read;
use std::time::Duration;

use common::{git_command, shipline, step_record, Repo, Run, TempDir};
use serde_json::Value;
use shipline_sandbox::{Failure, Heroku, Script};

const APP: &str = "demo-app";

/// A repository with two commits and a Heroku app whose live release runs the first.
struct World {
    heroku: Heroku,
    repo: Repo,
    first: String,
    second: String,
}

impl World {
    fn new(name: &str) -> World {
        let repo = Repo::new(name);
        repo.write("package.json", "{\"name\": \"demo-app\"}\n");
        repo.write("Procfile", "web: node index.js\n");
        repo.write("index.js", "console.log('v1')\n");
        let first = repo.commit("Initial app");
        repo.write("index.js", "console.log('v2')\n");
        let second = repo.commit("Say \"v2\" & mean it (#42)");
        let heroku = Heroku::start();
        heroku.create_app(APP);
        heroku.seed_release(APP, &first, None);
        heroku.set_preboot(APP, true);
        World {
            heroku,
            repo,
            first,
            second,
        }
    }

    fn env(&self) -> Vec<(&str, String)> {
        vec![
            ("HEROKU_API_KEY", self.heroku.api_key().to_string()),
            ("SHIPLINE_HEROKU_API_URL", self.heroku.url()),
        ]
    }

    /// `shipline deploy --app demo-app --poll 50ms ARGS` in the repository.
    fn deploy(&self, args: &[&str], extra: &[(&str, &str)]) -> Run {
        let mut all = vec!["deploy", "--app", APP, "--poll", "50ms"];
        all.extend_from_slice(args);
        let env = self.env();
        let mut env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        env.extend_from_slice(extra);
        shipline(self.repo.path(), &all, &env)
    }

    fn state(&self) -> Value {
        let text = std::fs::read_to_string(self.repo.path().join(".shipline/state.json"))
            .expect("the state file exists");
        serde_json::from_str(&text).unwrap()
    }

    fn current(&self) -> Value {
        self.heroku
            .releases(APP)
            .into_iter()
            .find(|r| r["current"] == true)
            .expect("a current release")
    }

    fn requests(&self, method: &str, prefix: &str) -> Vec<shipline_sandbox::Recorded> {
        self.heroku
            .requests()
            .into_iter()
            .filter(|r| r.method == method && r.path.starts_with(prefix))
            .collect()
    }

    fn live_commit(&self) -> String {
        let current = self.current();
        let slug_id = current["slug"]["id"].as_str().unwrap().to_string();
        let slug = self
            .heroku
            .slugs(APP)
            .into_iter()
            .find(|s| s["id"] == slug_id.as_str())
            .unwrap();
        slug["commit"].as_str().unwrap().to_string()
    }
}

fn assert_in_order(log: &str, parts: &[&str]) {
    let mut at = 0;
    for part in parts {
        match log[at..].find(part) {
            Some(i) => at += i + part.len(),
            None => panic!("expected `{part}` (in this order) in:\n{log}"),
        }
    }
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
    let w = World::new("deploy-ok");
    w.heroku
        .set_release_phase(APP, Some(Script::release_phase()));
    let run = w.deploy(&[], &[]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_in_order(
        &run.stdout,
        &[
            &format!("Deploying {}", &w.second[..7]),
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
    assert_eq!(w.live_commit(), w.second);
    assert_eq!(w.current()["version"], 3);

    let state = w.state();
    assert_eq!(step_record(&state, "deploy")["outcome"], "done");
    assert_eq!(state["apps"][APP]["change"]["commit"], w.second.as_str());
    assert_eq!(state["apps"][APP]["change"]["release"]["version"], 3);
    assert_eq!(
        state["apps"][APP]["change"]["previous_release"]["version"],
        2
    );
    assert_eq!(
        state["apps"][APP]["change"]["previous_release"]["commit"],
        w.first.as_str()
    );
    assert!(state["apps"][APP]["change"]["timings_ms"]["total"]
        .as_u64()
        .is_some());
    // The release notes of the deploy, for notify: live commit → deployed commit.
    assert_eq!(state["apps"][APP]["notes"]["range"], "forward");
    assert_eq!(state["apps"][APP]["notes"]["from"], w.first.as_str());
    assert_eq!(
        state["apps"][APP]["notes"]["commits"][0]["sha"],
        w.second.as_str()
    );
    assert_eq!(
        state["apps"][APP]["notes"]["commits"][0]["subject"],
        "Say \"v2\" & mean it (#42)"
    );
    assert_eq!(state["apps"][APP]["notes"]["commits"][0]["pr"], 42);
    assert!(
        run.stdout.contains("Release notes: 1 commit(s) shipping"),
        "{run:?}"
    );

    // What Heroku received: the v3 Accept header, the bearer key, our user agent everywhere.
    for request in w.requests("GET", "/apps") {
        assert_eq!(
            request.header("Accept"),
            Some("application/vnd.heroku+json; version=3")
        );
        assert_eq!(
            request.header("Authorization"),
            Some(format!("Bearer {}", w.heroku.api_key()).as_str())
        );
        assert!(request
            .header("User-Agent")
            .unwrap()
            .starts_with("shipline/"));
    }
    let builds = w.requests("POST", &format!("/apps/{APP}/builds"));
    assert_eq!(builds.len(), 1);
    let body: Value = serde_json::from_slice(&builds[0].body).unwrap();
    assert_eq!(body["source_blob"]["version"], w.second.as_str());
    let blob = &w.heroku.blobs()[0];
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
        .heroku
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
    assert!(!run.log().contains(w.heroku.api_key()), "{run:?}");
    let query = put.query.unwrap();
    assert!(!run.log().contains(&query), "{run:?}");
}

#[test]
fn the_tarball_is_git_archive_of_the_commit() {
    let w = World::new("tarball");
    w.repo.write("bin/start", "#!/bin/sh\nexec node index.js\n");
    w.repo.write(
        ".gitattributes",
        "secrets/ export-ignore\nnotes.txt export-ignore\n",
    );
    w.repo.write("secrets/token", "do-not-ship\n");
    w.repo.write("notes.txt", "internal\n");
    w.repo.write(
        "deep/very/long/path/that/goes/on/and/on/beyond/the/hundred/characters/of/a/ustar/name/field/file.txt",
        "deep\n",
    );
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        w.repo.path().join("bin/start"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    std::os::unix::fs::symlink("index.js", w.repo.path().join("main.js")).unwrap();
    let commit = w.repo.commit("Add start script, symlink and ignored files");
    std::fs::write(w.repo.path().join("dirty.txt"), "not committed\n").unwrap();

    let run = w.deploy(&[], &[]);
    assert_eq!(run.code, 0, "{run:?}");
    let tar = gunzip(&w.heroku.blobs()[0]);
    let expected = git_command(w.repo.path())
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
    let w = World::new("subdir");
    w.repo.write("apps/web/Procfile", "web: node server.js\n");
    w.repo.write("apps/web/server.js", "require('http')\n");
    w.repo.write("apps/api/main.go", "package main\n");
    let commit = w.repo.commit("Monorepo");
    let run = w.deploy(&["--subdir", "apps/web"], &[]);
    assert_eq!(run.code, 0, "{run:?}");
    let ours = entries(&gunzip(&w.heroku.blobs()[0]));
    let paths: Vec<&str> = ours.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(paths, ["Procfile", "server.js"], "{run:?}");
    let git = git_command(w.repo.path())
        .args(["archive", "--format=tar", &format!("{commit}:apps/web")])
        .output()
        .unwrap()
        .stdout;
    assert_eq!(ours, entries(&git));
    assert_eq!(w.live_commit(), commit);

    w.repo.write("apps/web/server.js", "require('https')\n");
    w.repo.commit("Use https");
    w.heroku.clear_requests();
    let run = w.deploy(&["--subdir", "apps/nope"], &[]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("apps/nope") && run.stderr.contains("--subdir"),
        "{run:?}"
    );
    assert!(
        w.heroku.requests().is_empty(),
        "checked before asking Heroku"
    );
}

#[test]
fn the_rollback_guard_pauses_until_forced() {
    let w = World::new("rollback-guard");
    w.heroku.seed_release(APP, &w.first, Some("Rollback to v1"));
    let run = w.deploy(&[], &[]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("is a rollback to v1"), "{run:?}");
    assert!(run.stdout.contains("--force"), "{run:?}");
    assert_eq!(step_record(&w.state(), "deploy")["outcome"], "skipped");
    assert!(w.requests("POST", "/sources").is_empty());

    let run = w.deploy(&["--force"], &[]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(w.live_commit(), w.second);
}

#[test]
fn a_commit_already_live_is_not_rebuilt() {
    let w = World::new("already-live");
    w.heroku.seed_release(APP, &w.second, None);
    let run = w.deploy(&[], &[]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("is already live as v3"), "{run:?}");
    assert!(w
        .requests("POST", &format!("/apps/{APP}/builds"))
        .is_empty());
}

#[test]
fn an_older_commit_never_goes_over_a_newer_one_unless_forced() {
    let w = World::new("older");
    w.heroku.seed_release(APP, &w.second, None);
    let run = w.deploy(&["--ref", &w.first], &[]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("older than the live commit"), "{run:?}");
    assert_eq!(step_record(&w.state(), "deploy")["outcome"], "skipped");
    assert_eq!(w.live_commit(), w.second);

    let run = w.deploy(&["--ref", &w.first, "--force"], &[]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(w.live_commit(), w.first);
}

#[test]
fn a_stale_shallow_clone_fetches_the_newer_live_commit_and_skips() {
    // CI checked out the first commit with depth 1; meanwhile the second went live.
    let w = World::new("shallow-origin");
    w.heroku.seed_release(APP, &w.second, None);
    let clone_dir = TempDir::new("shallow-clone");
    let clone = clone_dir.path.join("c");
    let out = git_command(&clone_dir.path)
        .args([
            "clone",
            "-q",
            "--depth",
            "1",
            &format!("file://{}", w.repo.path().display()),
            clone.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let out = git_command(&clone)
        .args(["fetch", "-q", "--depth", "1", "origin", &w.first])
        .output()
        .unwrap();
    assert!(out.status.success());
    let env = w.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let run = shipline(
        &clone,
        &["deploy", "--app", APP, "--ref", &w.first, "--poll", "50ms"],
        &env,
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("older than the live commit"), "{run:?}");
}

#[test]
fn the_kill_switch_is_checked_before_anything_else() {
    let w = World::new("kill");
    let run = w.deploy(
        &["--enabled-by", "DEPLOYS_ON"],
        &[("CI", "true"), ("DEPLOYS_ON", "no")],
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("$DEPLOYS_ON is `no`"), "{run:?}");
    assert!(
        w.heroku.requests().is_empty(),
        "nothing was asked of Heroku"
    );
    let run = w.deploy(
        &["--enabled-by", "DEPLOYS_ON"],
        &[("CI", "true"), ("DEPLOYS_ON", "true")],
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(w.live_commit(), w.second);
}

#[test]
fn a_failed_build_fails_the_step_with_the_tail_and_the_build_id() {
    let w = World::new("build-fails");
    w.heroku.script_next_build(APP, Script::failing_build());
    let run = w.deploy(&[], &[]);
    assert_eq!(run.code, 1, "{run:?}");
    let build_id = w.heroku.builds(APP)[0]["id"].as_str().unwrap().to_string();
    assert!(run.stderr.contains(&build_id), "{run:?}");
    assert!(run.stderr.contains("failed"), "{run:?}");
    assert_in_order(
        &run.stdout,
        &[
            "Build output",
            "Build failed: npm ERR!",
            "Last 3 lines of the build output",
            "Build failed: npm ERR!",
        ],
    );
    assert_eq!(w.live_commit(), w.first);
    let state = w.state();
    assert_eq!(step_record(&state, "deploy")["outcome"], "failed");
    assert!(step_record(&state, "deploy")["reason"]
        .as_str()
        .unwrap()
        .contains(&build_id));
}

#[test]
fn a_failed_release_phase_fails_the_step_and_keeps_the_previous_release() {
    let w = World::new("release-fails");
    w.heroku
        .set_release_phase(APP, Some(Script::failing_release_phase()));
    let run = w.deploy(&[], &[]);
    assert_eq!(run.code, 1, "{run:?}");
    let failed = w
        .heroku
        .releases(APP)
        .into_iter()
        .find(|r| r["status"] == "failed")
        .expect("a failed release");
    assert!(
        run.stderr.contains(failed["id"].as_str().unwrap()),
        "{run:?}"
    );
    assert!(run.stderr.contains("stays v2"), "{run:?}");
    assert!(
        run.stdout.contains("relation \"orders\" does not exist"),
        "{run:?}"
    );
    assert_eq!(w.current()["version"], 2);
}

#[test]
fn server_errors_and_rate_limits_are_retried() {
    let w = World::new("retries");
    w.heroku.fail_next("GET", &format!("/apps/{APP}"), 503, 2);
    w.heroku.fail_next("POST", "/sources", 429, 1);
    let run = w.deploy(&[], &[]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout
            .contains(&format!("GET /apps/{APP} answered 503; retrying")),
        "{run:?}"
    );
    assert!(
        run.stdout.contains("POST /sources answered 429; retrying"),
        "{run:?}"
    );
    assert_eq!(w.live_commit(), w.second);
}

#[test]
fn a_build_creation_that_may_have_happened_is_not_repeated() {
    let w = World::new("no-double-build");
    w.heroku
        .fail_next("POST", &format!("/apps/{APP}/builds"), 503, 1);
    let run = w.deploy(&[], &[]);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(w.requests("POST", &format!("/apps/{APP}/builds")).len(), 1);
    assert!(run.stderr.contains("could not start the build"), "{run:?}");
    assert!(run.stderr.contains("503"), "{run:?}");
}

#[test]
fn a_persistent_rate_limit_fails_with_herokus_message() {
    let w = World::new("rate-limited");
    w.heroku
        .inject(Failure::new("*", "/apps/*", 429, 100).retry_after(Some(0)));
    let run = w.deploy(&[], &[]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("429 rate_limit"), "{run:?}");
}

#[test]
fn a_rejected_key_says_which_variable_and_never_prints_it() {
    let w = World::new("bad-key");
    let bad = "0123abcd-bad-key-never-print-me";
    let run = w.deploy(&[], &[("HEROKU_API_KEY", bad)]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("HEROKU_API_KEY"), "{run:?}");
    assert!(run.stderr.contains("401 unauthorized"), "{run:?}");
    assert!(!run.log().contains(bad), "{run:?}");
    assert!(!run.log().contains("stack backtrace"), "{run:?}");
}

#[test]
fn a_missing_app_is_named() {
    let w = World::new("no-app");
    let env = w.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let run = shipline(w.repo.path(), &["deploy", "--app", "no-such-app"], &env);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains("app `no-such-app` was not found"),
        "{run:?}"
    );
    assert!(run.stderr.contains("--app"), "{run:?}");
}

#[test]
fn dry_run_runs_the_guards_and_creates_nothing() {
    let w = World::new("dry-run");
    let run = w.deploy(&["--dry-run"], &[]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("Dry run: would upload"), "{run:?}");
    assert!(run.stdout.contains("release v3"), "{run:?}");
    assert!(w.requests("POST", "/").is_empty(), "{run:?}");
    assert!(w.requests("PUT", "/").is_empty(), "{run:?}");
    assert_eq!(w.heroku.releases(APP).len(), 2);
    assert_eq!(step_record(&w.state(), "deploy")["dry_run"], true);
}

#[test]
fn preboot_off_warns_and_can_be_required() {
    let w = World::new("preboot");
    w.heroku.set_preboot(APP, false);
    let run = w.deploy(&["--require-preboot"], &[]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("preboot is off"), "{run:?}");
    assert!(w.requests("POST", "/").is_empty());
    let run = w.deploy(&[], &[]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("warning: preboot is off"), "{run:?}");
}

#[test]
fn the_timeout_bounds_the_step_and_says_what_it_waited_for() {
    let w = World::new("timeout");
    w.heroku.script_next_build(
        APP,
        Script::succeed(["-----> Building", "-----> still building"]).delay(Duration::from_secs(3)),
    );
    let started = std::time::Instant::now();
    let run = w.deploy(&["--timeout", "1s"], &[]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(started.elapsed() < Duration::from_secs(3), "{run:?}");
    assert!(run.stderr.contains("timed out waiting for"), "{run:?}");
    assert!(run.stderr.contains("build"), "{run:?}");
}

#[test]
fn github_actions_gets_outputs_a_summary_and_a_mask() {
    let w = World::new("github");
    let out = TempDir::new("gh-files");
    let output = out.path.join("output");
    let summary = out.path.join("summary");
    let run = w.deploy(
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
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.starts_with("::add-mask::"), "{run:?}");
    assert!(run.stdout.contains("::group::Build output"), "{run:?}");
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
    assert!(run.stdout.contains("::endgroup::"), "{run:?}");
    let outputs = std::fs::read_to_string(&output).unwrap();
    assert!(outputs.contains("release-version=3\n"), "{outputs}");
    assert!(
        outputs.contains(&format!("commit={}\n", w.second)),
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
    let w = World::new("after-lock");
    let state_dir = w.repo.path().join(".shipline");
    std::fs::create_dir_all(&state_dir).unwrap();
    std::fs::write(
        state_dir.join("state.json"),
        r#"{"version":2,"steps":[{"step":"lock","outcome":"skipped","reason":"superseded by build #12","started_at":"2026-11-27T00:00:00Z","duration_ms":3}]}"#,
    )
    .unwrap();
    let run = w.deploy(&[], &[]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("superseded by build #12"), "{run:?}");
    assert!(w.heroku.requests().is_empty());
}

#[test]
fn a_422_from_heroku_prints_its_message() {
    let w = World::new("invalid-params");
    w.heroku.inject(
        Failure::new("POST", &format!("/apps/{APP}/builds"), 422, 1).body(
            "invalid_params",
            "source_blob.checksum must be of the form SHA256:<hex>",
        ),
    );
    let run = w.deploy(&[], &[]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains(&format!(
            "could not start the build: Heroku POST /apps/{APP}/builds answered 422 invalid_params: source_blob.checksum must be of the form SHA256:<hex>"
        )),
        "{run:?}"
    );
}

#[test]
fn a_low_rate_limit_slows_requests_down_with_a_warning() {
    let w = World::new("rate-low");
    // Three tokens left, one back every 800 ms (Heroku's pace): a dry run needs more requests
    // than that, so only requests spaced out by the refill time stay clear of 429s.
    w.heroku.set_rate_limit_remaining(3);
    w.heroku.clear_requests();
    let run = w.deploy(&["--dry-run"], &[]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout
            .contains("warning: Heroku rate limit nearly used up"),
        "{run:?}"
    );
    let sent = w.heroku.requests().len();
    assert!(
        sent > 3,
        "the dry run needs more requests than tokens left: {sent}"
    );
    assert!(
        !run.stdout.contains("answered 429"),
        "paced, never refused: {run:?}"
    );
}
