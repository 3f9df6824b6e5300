//! Text shipline does not control — a slug's free-text `commit`, a flag's value — never crashes
//! a step: each step that prints it runs to its end, records its outcome, and says what it saw.

mod common;

use common::{step_record, Run, Shipline, World};
use serde_json::Value;

/// What another tool may record as a slug's commit when it builds through the API; its 8th
/// byte is inside a character, where a byte slice at 7 would abort the step.
const FREE_TEXT: &str = "v1-ünïcødé";

/// A repository with one commit and a sandbox Heroku; every step is told there is no Slack
/// webhook.
fn world(name: &str) -> World {
    let w = World::new(name)
        .with_heroku()
        .with_env("SLACK_WEBHOOK_URL", "");
    w.repo().write("Procfile", "web: node index.js\n");
    w.repo().commit("Initial app");
    w
}

/// No panic: an aborted process has no exit code 0/1/2 and prints Rust's panic message.
fn assert_no_panic(run: &Run) {
    assert!(
        matches!(run.code, 0..=2) && !run.log().contains("panicked"),
        "{run:?}"
    );
}

#[test]
fn a_free_text_live_commit_is_shortened_by_characters_in_deploy_and_rollback() {
    let w = world("hostile-deploy");
    w.heroku().create_app("shop");
    w.heroku().seed_release("shop", FREE_TEXT, None);
    let run = w.run(["deploy", "--app", "shop", "--poll", "50ms"]);
    assert_no_panic(&run);
    run.stdout_has("commit v1-ünïc");
    assert!(step_record(&w.state(), "deploy")["outcome"].is_string());

    // The release before the live one ran the free-text commit.
    w.heroku().create_app("shop-b");
    w.heroku().seed_release("shop-b", FREE_TEXT, None);
    w.heroku()
        .seed_release("shop-b", "0000000000000000000000000000000000000001", None);
    let run = w.run(["rollback", "--app", "shop-b", "--dry-run"]);
    assert_no_panic(&run);
    run.code(0);
    run.stdout_has("commit v1-ünïc");
    assert_eq!(step_record(&w.state(), "rollback")["outcome"], "done");
}

#[test]
fn a_free_text_staging_commit_is_shortened_by_characters_in_promote() {
    let w = world("hostile-promote");
    w.heroku().create_app("shop-staging");
    w.heroku().seed_release("shop-staging", FREE_TEXT, None);
    w.heroku().create_app("shop");
    let run = w.run(["promote", "--from", "shop-staging", "--app", "shop"]);
    assert_no_panic(&run);
    run.code(1);
    assert!(
        run.stderr.contains("runs v1-ünïc, not"),
        "the staging commit is not the one shipped: {run:?}"
    );
    assert_eq!(step_record(&w.state(), "promote")["outcome"], "failed");
}

#[test]
fn a_multibyte_from_is_shortened_by_characters_in_notify_and_notes() {
    let w = world("hostile-from");
    let run = w.run(["notify", "--from", "ß", "--dry-run"]);
    assert_no_panic(&run);
    run.code(0);
    run.stdout_has("Release notes: computing ß..HEAD");
    assert_eq!(step_record(&w.state(), "notify")["outcome"], "done");

    let run = w.run(["notes", "--from", "ßßßßßßßßßßßßßß"]);
    assert_no_panic(&run);
    run.code(2);
}

/// Every workflow command form a line from elsewhere can carry; leading whitespace does not
/// protect, since the runner trims it.
const COMMANDS: &[&str] = &[
    "::set-output name=pwned::yes",
    "  ::add-mask::deadbeef",
    "\t::stop-commands::guess",
    "::error title=fake::the build was fine",
    "::group::fake",
    "text then ##[set-output name=legacy;]yes",
];

/// What the GitHub runner would do with a step's output: the workflow commands it would run
/// (lines starting with `::` after whitespace, or holding `##[`), minding `::stop-commands::`.
fn interpreted(log: &str) -> Vec<String> {
    let mut stopped: Option<String> = None;
    let mut run = Vec::new();
    for line in log.lines() {
        let line = line.trim();
        if let Some(token) = &stopped {
            if line == format!("::{token}::") {
                stopped = None;
            }
            continue;
        }
        if let Some(token) = line.strip_prefix("::stop-commands::") {
            stopped = Some(token.to_string());
            continue;
        }
        if line.starts_with("::") || line.contains("##[") {
            run.push(line.to_string());
        }
    }
    run
}

/// The commands shipline itself sends: masks, groups, and its own annotations.
fn is_shiplines_own(command: &str) -> bool {
    command.starts_with("::add-mask::")
        || command.starts_with("::group::")
        || command == "::endgroup::"
        || command.starts_with("::warning title=shipline::")
        || command.starts_with("::notice title=Skipped::")
        || command.starts_with("::error title=shipline::")
}

#[test]
fn workflow_commands_in_build_output_descriptions_and_commits_are_never_interpreted() {
    use shipline_sandbox::Script;
    for succeeds in [true, false] {
        let w = world(if succeeds {
            "hostile-gha-ok"
        } else {
            "hostile-gha-fail"
        });
        w.repo().write("index.js", "console.log('v2')\n");
        w.repo()
            .commit("::add-mask::deadbeef\n\n::set-output name=body::yes\ntext ##[error]x");
        w.heroku().create_app("shop");
        let live = w.repo().git(&["rev-parse", "HEAD~1"]);
        w.heroku().seed_release(
            "shop",
            live.trim(),
            Some("Deploy\n::set-output name=desc::yes"),
        );
        let mut lines: Vec<String> = vec!["-----> Building".into()];
        lines.extend(COMMANDS.iter().map(|c| c.to_string()));
        let script = if succeeds {
            Script::succeed(lines)
        } else {
            Script::fail(lines)
        };
        w.heroku().script_next_build("shop", script);
        let output = w.path().join("github-output");
        let summary = w.path().join("github-summary");
        let run = Shipline::new(w.path())
            .args(["deploy", "--app", "shop", "--poll", "50ms"])
            .env("HEROKU_API_KEY", w.heroku().api_key())
            .env("SHIPLINE_HEROKU_API_URL", w.heroku().url())
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_OUTPUT", output.to_str().unwrap())
            .env("GITHUB_STEP_SUMMARY", summary.to_str().unwrap())
            .run();
        assert_eq!(run.code, if succeeds { 0 } else { 1 }, "{run:?}");
        if !succeeds {
            assert!(
                run.stdout.contains("Last "),
                "the tail is replayed: {run:?}"
            );
        }
        for stream in [&run.stdout, &run.stderr] {
            let foreign: Vec<String> = interpreted(stream)
                .into_iter()
                .filter(|c| !is_shiplines_own(c))
                .collect();
            assert!(foreign.is_empty(), "interpreted: {foreign:?}\n{run:?}");
            for own in interpreted(stream) {
                assert!(!own.contains("deadbeef") && !own.contains("pwned"), "{own}");
            }
        }
        let outputs = run.outputs_text();
        for line in outputs.lines() {
            let key = line.split(['=', '<']).next().unwrap_or_default();
            assert!(
                ["outcome", "reason", "release-version", "commit", "web-url"].contains(&key),
                "unexpected output line {line:?} in {outputs}"
            );
        }
    }
}

#[test]
fn notes_on_github_actions_print_hostile_commits_as_written_but_never_as_commands() {
    let w = world("hostile-notes");
    w.repo().write("index.js", "console.log('v2')\n");
    let subject = "::add-mask::deadbeef ##[set-output name=x;]y";
    w.repo()
        .commit(&format!("{subject}\n\n  ::set-output name=body::yes"));
    let output = w.repo().path().join("github-output");
    for format in ["text", "markdown", "json"] {
        std::fs::write(&output, "").unwrap();
        let run = Shipline::new(w.path())
            .args(["notes", "--from", "HEAD~1", "--format", format])
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_OUTPUT", output.to_str().unwrap())
            .run();
        assert_eq!(run.code, 0, "{format}: {run:?}");
        assert_eq!(
            interpreted(&run.stdout),
            Vec::<String>::new(),
            "{format}: {run:?}"
        );
        let shown = run.stdout.replace('\u{200B}', "");
        if format == "json" {
            let doc: Value = serde_json::from_str(&run.stdout).unwrap();
            assert_eq!(doc["commits"][0]["subject"], subject, "the same data");
        } else {
            // Markdown escapes the brackets; the text is otherwise as written.
            assert!(
                shown.contains("::add-mask::deadbeef ##"),
                "{format}: shown as written: {shown}"
            );
        }
        // The output is the data itself, for whatever the workflow does with it.
        let outputs = run.outputs_text();
        assert!(outputs.contains("::add-mask::deadbeef ##"), "{outputs}");
        assert!(!outputs.contains('\u{200B}'), "{outputs}");
    }
}
