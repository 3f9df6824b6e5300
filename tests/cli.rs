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
}

#[test]
fn usage_errors_exit_2_and_name_the_flag() {
    let dir = TempDir::new("usage");
    let cases: &[(&[&str], &str)] = &[
        (&["deploy", "--app", "a", "--frobnicate"], "--frobnicate"),
        (&["deploy", "--app"], "--app needs a value"),
        (&["deploy", "--app", "a", "--timeout", "soon"], "--timeout"),
        (&["deploy", "--app", "a", "--poll", "10x"], "--poll"),
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
fn a_malformed_duration_in_the_environment_names_the_variable() {
    let dir = TempDir::new("env-duration");
    let run = shipline(
        &dir.path,
        &["deploy", "--app", "a"],
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
