//! The command line as a user meets it: help, version, usage errors and their exit codes.
//! None of these need a service.

mod common;

use common::World;

#[test]
fn version_and_help() {
    let w = World::without_git("help");
    let run = w.run(["--version"]);
    run.code(0);
    assert_eq!(
        run.stdout,
        format!("shipline {}\n", env!("CARGO_PKG_VERSION"))
    );

    let run = w.run(["--help"]);
    run.code(0).stdout_has("deploy");

    let run = w.run(["deploy", "--help"]);
    run.code(0);
    for flag in [
        "--app",
        "--ref",
        "--subdir",
        "--enabled-by",
        "--force",
        "--dry-run",
        "--timeout",
        "HEROKU_API_KEY",
    ] {
        assert!(
            run.stdout.contains(flag),
            "deploy --help lacks {flag}: {run:?}"
        );
    }

    // notify reads these; its help once forgot to say so.
    let run = w.run(["notify", "--help"]);
    run.code(0);
    for var in ["SHIPLINE_FROM", "SHIPLINE_APP", "SHIPLINE_FIRST_PARENT"] {
        assert!(
            run.stdout.contains(var),
            "notify --help lacks {var}: {run:?}"
        );
    }
}

#[test]
fn usage_errors_exit_2_and_name_the_flag() {
    let w = World::without_git("usage");
    let cases: &[(&[&str], &str)] = &[
        (&["deploy", "--app", "shop", "--frobnicate"], "--frobnicate"),
        (&["deploy", "--app"], "--app needs a value"),
        (
            &["deploy", "--app", "shop", "--timeout", "soon"],
            "--timeout",
        ),
        (&["deploy", "--app", "shop", "--poll", "10x"], "--poll"),
        (&["deploy"], "--app"),
        (&["ship"], "unknown command `ship`"),
        (&[], "no command"),
    ];
    for (args, expected) in cases {
        let run = w.run(*args);
        assert_eq!(run.code, 2, "{args:?}: {run:?}");
        assert!(
            run.stderr.contains(expected),
            "{args:?} should mention {expected}: {run:?}"
        );
        assert!(
            !run.log().contains("panicked") && !run.log().contains("stack backtrace"),
            "{run:?}"
        );
    }
}

#[test]
fn a_duration_too_long_to_wait_is_refused_by_every_step_naming_the_flag_and_the_maximum() {
    let w = World::without_git("huge-duration");
    let huge = "18446744073709551615";
    let steps: &[&[&str]] = &[
        &["deploy", "--app", "shop"],
        &["verify", "--app", "shop"],
        &["rollback", "--app", "shop"],
        &["promote", "--from", "shop-staging", "--app", "shop"],
        &["notify"],
        &["lock"],
    ];
    for step in steps {
        for flag in ["--timeout", "--poll"] {
            if step[0] == "notify" && flag == "--poll" {
                continue;
            }
            let mut args = step.to_vec();
            args.extend_from_slice(&[flag, huge]);
            let run = w.run(&args);
            assert_eq!(run.code, 2, "{args:?}: {run:?}");
            assert!(
                run.stderr.contains(flag) && run.stderr.contains("at most 24h"),
                "{args:?}: {run:?}"
            );
            run.log_lacks("panicked");
        }
        let run = w.shipline(*step).env("SHIPLINE_TIMEOUT", "9999999h").run();
        assert_eq!(run.code, 2, "{step:?}: {run:?}");
        run.stderr_has("SHIPLINE_TIMEOUT");
    }
}

#[test]
fn a_malformed_duration_in_the_environment_names_the_variable() {
    let w = World::without_git("env-duration");
    let run = w
        .shipline(["deploy", "--app", "shop"])
        .env("SHIPLINE_TIMEOUT", "half an hour")
        .run();
    run.code(2).stderr_has("SHIPLINE_TIMEOUT");
}

#[test]
fn a_missing_api_key_is_a_configuration_error() {
    let w = World::new("no-key");
    let repo = w.repo();
    repo.write("index.js", "console.log('hi')\n");
    repo.commit("first");
    let run = w.run(["deploy", "--app", "demo"]);
    run.code(2).stderr_has("HEROKU_API_KEY is not set");
}

#[test]
fn the_kill_switch_skips_in_ci_and_records_why() {
    let w = World::new("kill-switch");
    w.repo().commit("first");
    let run = w
        .shipline(["deploy", "--app", "demo", "--enabled-by", "CD_ENABLED"])
        .envs([("CI", "true"), ("CD_ENABLED", "false")])
        .run();
    run.code(0).stdout_has("$CD_ENABLED is `false`");
    let deploy = run.step("deploy");
    assert_eq!(deploy["outcome"], "skipped");
    assert!(deploy["reason"].as_str().unwrap().contains("CD_ENABLED"));
}

#[test]
fn not_a_repository_is_a_configuration_error_naming_the_path() {
    let w = World::without_git("not-a-repo");
    let run = w
        .shipline(["deploy", "--app", "demo"])
        .env("HEROKU_API_KEY", "k-123456789")
        .run();
    run.code(2).stderr_has("--dir").log_lacks("k-123456789");
}

#[test]
fn an_unknown_ref_is_a_configuration_error_naming_it() {
    let w = World::new("bad-ref");
    w.repo().commit("first");
    let run = w
        .shipline(["deploy", "--app", "demo", "--ref", "no-such-branch"])
        .env("HEROKU_API_KEY", "k-123456789")
        .run();
    run.code(2).stderr_has("no-such-branch");
    for (rev, says) in [
        ("main@{yesterday}", "a reflog, date or upstream form"),
        (":/first", "a commit message search"),
        ("HEAD~3", "the history ends at commit"),
    ] {
        let run = w
            .shipline(["deploy", "--app", "demo", "--ref", rev])
            .env("HEROKU_API_KEY", "k-123456789")
            .run();
        run.code(2)
            .stderr_has(rev)
            .stderr_has(says)
            .stderr_has("--ref");
    }
}

#[test]
fn a_state_file_shipline_did_not_write_is_an_error_and_is_left_as_it_was() {
    let w = World::without_git("state-shape");
    let state = w.state_path();
    std::fs::create_dir_all(state.parent().unwrap()).unwrap();
    for text in [
        r#"{"deploy": 5}"#,
        r#"{"steps": 5}"#,
        r#"{"version": 2, "steps": 5}"#,
        r#"{"version": 2, "steps": [{"step": "lock"}]}"#,
        r#"{"version": 2, "apps": {"shop": {"verify": "yes"}}}"#,
        "[]",
        "{\"version\": 2,",
    ] {
        for args in [
            &["verify", "--app", "shop"][..],
            &["notify", "--dry-run"][..],
            &["deploy", "--app", "shop"][..],
        ] {
            std::fs::write(&state, text).unwrap();
            let run = w
                .shipline(args)
                .envs([("HEROKU_API_KEY", "k-123456"), ("SLACK_WEBHOOK_URL", "")])
                .run();
            assert_eq!(run.code, 1, "{text} {args:?}: {run:?}");
            assert!(
                run.stderr.contains(".shipline/state.json")
                    && (run.stderr.contains("--state") || run.stderr.contains("same shipline")),
                "{text} {args:?}: {run:?}"
            );
            assert_eq!(std::fs::read_to_string(&state).unwrap(), text, "{args:?}");
        }
    }
}

#[test]
fn a_credential_is_never_sent_over_plain_http_beyond_this_machine() {
    let w = World::without_git("cleartext");
    let cases: &[(&[&str], &str, &str)] = &[
        (
            &["deploy", "--app", "shop"],
            "SHIPLINE_HEROKU_API_URL",
            "http://api.example.com",
        ),
        (
            &["verify", "--app", "shop"],
            "SHIPLINE_HEROKU_API_URL",
            "http://10.1.2.3:8080/",
        ),
        (
            &[
                "lock",
                "--provider",
                "circleci",
                "--project",
                "gh/a/b",
                "--branch",
                "main",
                "--job",
                "deploy",
            ],
            "SHIPLINE_CIRCLECI_API_URL",
            "http://circleci.internal/api/v2",
        ),
        (
            &[
                "lock",
                "--provider",
                "github",
                "--branch",
                "main",
                "--job",
                "deploy",
            ],
            "GITHUB_API_URL",
            "http://ghe.internal/api/v3",
        ),
        (
            &["notify", "--status", "started"],
            "SLACK_WEBHOOK_URL",
            "http://hooks.slack.com/services/T1/B2/sekrit",
        ),
        (
            &["notify", "--status", "started", "--channel", "C1"],
            "SHIPLINE_SLACK_API_URL",
            "http://slack.internal/api",
        ),
    ];
    for (args, var, url) in cases {
        let env = [
            ("HEROKU_API_KEY", "k-123456"),
            ("CIRCLE_TOKEN", "c-123456"),
            ("GITHUB_TOKEN", "g-123456"),
            ("GITHUB_REPOSITORY", "acme/shop"),
            (
                "GITHUB_WORKFLOW_REF",
                "acme/shop/.github/workflows/deploy.yml@refs/heads/main",
            ),
            ("GITHUB_RUN_ID", "7"),
            ("CIRCLE_WORKFLOW_ID", "wf-1"),
            ("SLACK_BOT_TOKEN", "xoxb-123456"),
            (var, url),
        ];
        let run = w.shipline(*args).envs(env).run();
        assert_eq!(run.code, 2, "{var}: {run:?}");
        assert!(
            run.stderr.contains(var) && run.stderr.contains("unencrypted"),
            "{var}: {run:?}"
        );
        run.log_lacks("sekrit");
    }
    // This machine is fine: the sandbox, a local tunnel.
    let run = w
        .shipline(["notify", "--status", "started", "--dry-run"])
        .env("SLACK_WEBHOOK_URL", "http://127.0.0.1:9/services/T1/B2/x")
        .run();
    run.code(0);
}

#[test]
fn an_app_name_that_would_change_a_request_path_is_refused_before_any_request() {
    let w = World::without_git("app-names");
    for bad in ["..", "a/b", "shop?x=1", "shop#frag", "Shop", "%2e%2e"] {
        for args in [
            &["deploy", "--app", bad][..],
            &["verify", "--app", bad][..],
            &["rollback", "--app", bad][..],
            &["promote", "--from", "shop-staging", "--app", bad][..],
            &["promote", "--from", bad, "--app", "shop"][..],
            &["notify", "--app", bad, "--dry-run"][..],
            &["notes", "--app", bad][..],
        ] {
            // No Heroku to talk to: a request would fail differently (exit 1).
            let run = w
                .shipline(args)
                .envs([
                    ("HEROKU_API_KEY", "k-123456"),
                    ("SHIPLINE_HEROKU_API_URL", "http://127.0.0.1:9"),
                ])
                .run();
            assert_eq!(run.code, 2, "{args:?}: {run:?}");
            assert!(
                run.stderr.contains("is not a Heroku app"),
                "{args:?}: {run:?}"
            );
        }
    }
}
