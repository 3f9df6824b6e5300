//! The command line as a user meets it: help, version, usage errors and their exit codes.
//! None of these need a service.

mod common;

use common::{shipline, step_record, Repo, TempDir};

#[test]
fn version_and_help() {
    let dir = TempDir::new("help");
    let run = shipline(&dir.path, &["--version"], &[]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        run.stdout,
        format!("shipline {}\n", env!("CARGO_PKG_VERSION"))
    );

    let run = shipline(&dir.path, &["--help"], &[]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("deploy"), "{run:?}");

    let run = shipline(&dir.path, &["deploy", "--help"], &[]);
    assert_eq!(run.code, 0, "{run:?}");
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
    let run = shipline(&dir.path, &["notify", "--help"], &[]);
    assert_eq!(run.code, 0, "{run:?}");
    for var in ["SHIPLINE_FROM", "SHIPLINE_APP", "SHIPLINE_FIRST_PARENT"] {
        assert!(
            run.stdout.contains(var),
            "notify --help lacks {var}: {run:?}"
        );
    }
}

#[test]
fn usage_errors_exit_2_and_name_the_flag() {
    let dir = TempDir::new("usage");
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
        let run = shipline(&dir.path, args, &[]);
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
    let dir = TempDir::new("huge-duration");
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
            let run = shipline(&dir.path, &args, &[]);
            assert_eq!(run.code, 2, "{args:?}: {run:?}");
            assert!(
                run.stderr.contains(flag) && run.stderr.contains("at most 24h"),
                "{args:?}: {run:?}"
            );
            assert!(!run.log().contains("panicked"), "{run:?}");
        }
        let run = shipline(&dir.path, step, &[("SHIPLINE_TIMEOUT", "9999999h")]);
        assert_eq!(run.code, 2, "{step:?}: {run:?}");
        assert!(run.stderr.contains("SHIPLINE_TIMEOUT"), "{run:?}");
    }
}

#[test]
fn a_malformed_duration_in_the_environment_names_the_variable() {
    let dir = TempDir::new("env-duration");
    let run = shipline(
        &dir.path,
        &["deploy", "--app", "shop"],
        &[("SHIPLINE_TIMEOUT", "half an hour")],
    );
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("SHIPLINE_TIMEOUT"), "{run:?}");
}

#[test]
fn a_missing_api_key_is_a_configuration_error() {
    let repo = Repo::new("no-key");
    repo.write("index.js", "console.log('hi')\n");
    repo.commit("first");
    let run = shipline(repo.path(), &["deploy", "--app", "demo"], &[]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("HEROKU_API_KEY is not set"), "{run:?}");
}

#[test]
fn the_kill_switch_skips_in_ci_and_records_why() {
    let repo = Repo::new("kill-switch");
    repo.commit("first");
    let run = shipline(
        repo.path(),
        &["deploy", "--app", "demo", "--enabled-by", "CD_ENABLED"],
        &[("CI", "true"), ("CD_ENABLED", "false")],
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("$CD_ENABLED is `false`"), "{run:?}");
    let state: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo.path().join(".shipline/state.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(step_record(&state, "deploy")["outcome"], "skipped");
    assert!(step_record(&state, "deploy")["reason"]
        .as_str()
        .unwrap()
        .contains("CD_ENABLED"));
}

#[test]
fn not_a_repository_is_a_configuration_error_naming_the_path() {
    let dir = TempDir::new("not-a-repo");
    let run = shipline(
        &dir.path,
        &["deploy", "--app", "demo"],
        &[("HEROKU_API_KEY", "k-123456789")],
    );
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("--dir"), "{run:?}");
    assert!(!run.log().contains("k-123456789"), "{run:?}");
}

#[test]
fn an_unknown_ref_is_a_configuration_error_naming_it() {
    let repo = Repo::new("bad-ref");
    repo.commit("first");
    let run = shipline(
        repo.path(),
        &["deploy", "--app", "demo", "--ref", "no-such-branch"],
        &[("HEROKU_API_KEY", "k-123456789")],
    );
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("no-such-branch"), "{run:?}");
}

#[test]
fn a_state_file_shipline_did_not_write_is_an_error_and_is_left_as_it_was() {
    let dir = TempDir::new("state-shape");
    let state = dir.path.join(".shipline/state.json");
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
            let run = shipline(
                &dir.path,
                args,
                &[("HEROKU_API_KEY", "k-123456"), ("SLACK_WEBHOOK_URL", "")],
            );
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
    let dir = TempDir::new("cleartext");
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
        let run = shipline(&dir.path, args, &env);
        assert_eq!(run.code, 2, "{var}: {run:?}");
        assert!(
            run.stderr.contains(var) && run.stderr.contains("unencrypted"),
            "{var}: {run:?}"
        );
        assert!(!run.log().contains("sekrit"), "{run:?}");
    }
    // This machine is fine: the sandbox, a local tunnel.
    let run = shipline(
        &dir.path,
        &["notify", "--status", "started", "--dry-run"],
        &[("SLACK_WEBHOOK_URL", "http://127.0.0.1:9/services/T1/B2/x")],
    );
    assert_eq!(run.code, 0, "{run:?}");
}

#[test]
fn an_app_name_that_would_change_a_request_path_is_refused_before_any_request() {
    let dir = TempDir::new("app-names");
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
            let run = shipline(
                &dir.path,
                args,
                &[
                    ("HEROKU_API_KEY", "k-123456"),
                    ("SHIPLINE_HEROKU_API_URL", "http://127.0.0.1:9"),
                ],
            );
            assert_eq!(run.code, 2, "{args:?}: {run:?}");
            assert!(
                run.stderr.contains("is not a Heroku app"),
                "{args:?}: {run:?}"
            );
        }
    }
}
