//! Text shipline does not control — a slug's free-text `commit`, a flag's value — never crashes
//! a step: each step that prints it runs to its end, records its outcome, and says what it saw.

mod common;

use common::{shipline, step_record, Repo, Run};
use serde_json::Value;
use shipline_sandbox::Heroku;

/// What another tool may record as a slug's commit when it builds through the API; its 8th
/// byte is inside a character, where a byte slice at 7 would abort the step.
const FREE_TEXT: &str = "v1-ünïcødé";

struct World {
    heroku: Heroku,
    repo: Repo,
}

impl World {
    fn new(name: &str) -> World {
        let repo = Repo::new(name);
        repo.write("Procfile", "web: node index.js\n");
        repo.commit("Initial app");
        World {
            heroku: Heroku::start(),
            repo,
        }
    }

    fn run(&self, args: &[&str]) -> Run {
        let key = self.heroku.api_key().to_string();
        let url = self.heroku.url();
        shipline(
            self.repo.path(),
            args,
            &[
                ("HEROKU_API_KEY", key.as_str()),
                ("SHIPLINE_HEROKU_API_URL", url.as_str()),
                ("SLACK_WEBHOOK_URL", ""),
            ],
        )
    }

    fn state(&self) -> Value {
        let text = std::fs::read_to_string(self.repo.path().join(".shipline/state.json"))
            .expect("the step recorded its outcome");
        serde_json::from_str(&text).unwrap()
    }
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
    let w = World::new("hostile-deploy");
    w.heroku.create_app("shop");
    w.heroku.seed_release("shop", FREE_TEXT, None);
    let run = w.run(&["deploy", "--app", "shop", "--poll", "50ms"]);
    assert_no_panic(&run);
    assert!(run.stdout.contains("commit v1-ünïc"), "{run:?}");
    assert!(step_record(&w.state(), "deploy")["outcome"].is_string());

    // The release before the live one ran the free-text commit.
    w.heroku.create_app("shop-b");
    w.heroku.seed_release("shop-b", FREE_TEXT, None);
    w.heroku
        .seed_release("shop-b", "0000000000000000000000000000000000000001", None);
    let run = w.run(&["rollback", "--app", "shop-b", "--dry-run"]);
    assert_no_panic(&run);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("commit v1-ünïc"), "{run:?}");
    assert_eq!(step_record(&w.state(), "rollback")["outcome"], "done");
}

#[test]
fn a_free_text_staging_commit_is_shortened_by_characters_in_promote() {
    let w = World::new("hostile-promote");
    w.heroku.create_app("shop-staging");
    w.heroku.seed_release("shop-staging", FREE_TEXT, None);
    w.heroku.create_app("shop");
    let run = w.run(&["promote", "--from", "shop-staging", "--app", "shop"]);
    assert_no_panic(&run);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains("runs v1-ünïc, not"),
        "the staging commit is not the one shipped: {run:?}"
    );
    assert_eq!(step_record(&w.state(), "promote")["outcome"], "failed");
}

#[test]
fn a_multibyte_from_is_shortened_by_characters_in_notify_and_notes() {
    let w = World::new("hostile-from");
    let run = w.run(&["notify", "--from", "ß", "--dry-run"]);
    assert_no_panic(&run);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.contains("Release notes: computing ß..HEAD"),
        "{run:?}"
    );
    assert_eq!(step_record(&w.state(), "notify")["outcome"], "done");

    let run = w.run(&["notes", "--from", "ßßßßßßßßßßßßßß"]);
    assert_no_panic(&run);
    assert_eq!(run.code, 2, "{run:?}");
}
