//! `shipline notes` through the real binary: each range case, shallow clones deepened from
//! their remote or answered by the sandbox GitHub, merges and `--first-parent`, each format,
//! and `--app` against the sandbox Heroku. The lists are checked against what `git log`
//! prints on the same clone.

mod common;

use common::{git_command, Repo, Run, TempDir, World};
use serde_json::Value;
use shipline_sandbox::GitHub;

/// `shipline notes ARGS` in the job's working directory, with the world's variables and
/// `env`.
fn notes(w: &World, args: &[&str], env: &[(&str, &str)]) -> Run {
    w.shipline(["notes"])
        .args(args)
        .envs(env.iter().copied())
        .run()
}

fn json(run: &Run) -> Value {
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {run:?}"))
}

fn shas(list: &Value) -> Vec<String> {
    list.as_array()
        .map(|a| {
            a.iter()
                .map(|e| e["sha"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// `git log --reverse <flags> --format=%H range`, as a list.
fn git_log(repo: &Repo, flags: &[&str], range: &str) -> Vec<String> {
    let mut args = vec!["log", "--reverse", "--format=%H"];
    args.extend_from_slice(flags);
    args.push(range);
    repo.git(&args)
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// The commits of [`history`] that tests name.
struct History {
    base: String,
    tip: String,
    merge: String,
}

/// Makes the job's repository main: base ← a ← merge(PR #12: b1 ← b2) ← c (#13); the
/// feature branch's dates are out of order with main's.
fn history(w: &World) -> History {
    let repo = w.repo();
    let base = repo.commit_at("Initial commit", 1_790_000_000);
    repo.commit_at(
        "Add the cart\n\nWith a body\n\n  indented line",
        1_790_000_600,
    );
    repo.git(&["checkout", "-q", "-b", "feature"]);
    // Older than main's last commit: git orders by date, not by branch.
    repo.commit_at("Feature step one", 1_790_000_100);
    repo.commit_at("Feature step two <b>*bold*</b>", 1_790_000_900);
    repo.git(&["checkout", "-q", "main"]);
    repo.git_at(
        1_790_001_200,
        &[
            "merge",
            "-q",
            "--no-ff",
            "feature",
            "-m",
            "Merge pull request #12 from acme/feature\n\nAdd the feature",
        ],
    );
    let merge = repo.git(&["rev-parse", "HEAD"]);
    let tip = repo.commit_at("Fix the total (#13)", 1_790_001_800);
    repo.git(&["remote", "add", "origin", "git@github.com:acme/shop.git"]);
    History { base, tip, merge }
}

#[test]
fn forward_range_equals_git_log_field_by_field() {
    let w = World::new("notes-forward");
    let h = history(&w);
    let run = notes(
        &w,
        &["--from", &h.base, "--to", "main", "--format", "json"],
        &[],
    );
    run.code(0);
    let j = json(&run);
    assert_eq!(j["version"], 1);
    assert_eq!(j["range"], "forward");
    assert_eq!(j["source"], "git");
    assert_eq!(j["first_parent"], false);
    assert_eq!(j["from"], h.base.as_str());
    assert_eq!(j["to"], h.tip.as_str());
    assert!(j.get("removed").is_none());
    assert_eq!(
        j["compare_url"],
        format!(
            "https://github.com/acme/shop/compare/{}...{}",
            h.base, h.tip
        )
        .as_str()
    );
    let range = format!("{}..{}", h.base, h.tip);
    assert_eq!(
        shas(&j["commits"]),
        git_log(w.repo(), &["--no-merges"], &range)
    );
    assert_eq!(
        j["commits"].as_array().unwrap().len(),
        4,
        "the merge is skipped"
    );
    for entry in j["commits"].as_array().unwrap() {
        let sha = entry["sha"].as_str().unwrap();
        let field = |format: &str| {
            let out = git_command(w.path())
                .args(["log", "-1", &format!("--format={format}"), sha])
                .output()
                .unwrap();
            let text = String::from_utf8(out.stdout).unwrap();
            text.strip_suffix('\n').unwrap_or(&text).to_string()
        };
        assert_eq!(entry["short"], &sha[..7]);
        assert_eq!(entry["subject"], field("%s").as_str());
        assert_eq!(entry["body"], field("%b").as_str());
        assert_eq!(entry["author"], field("%an").as_str());
        assert_eq!(entry["email"], field("%ae").as_str());
        assert_eq!(
            entry["url"],
            format!("https://github.com/acme/shop/commit/{sha}").as_str()
        );
    }
    let last = &j["commits"][3];
    assert_eq!(last["subject"], "Fix the total (#13)");
    assert_eq!(last["pr"], 13);
    assert!(j["commits"][0].get("pr").is_none());
}

#[test]
fn text_and_markdown_say_the_case_and_list_oldest_first() {
    let w = World::new("notes-formats");
    let h = history(&w);
    let text = notes(&w, &["--from", &h.base], &[]);
    text.code(0);
    let lines: Vec<&str> = text.stdout.lines().collect();
    assert_eq!(
        lines[0],
        format!("Shipping 4 commits ({}..{})", &h.base[..7], &h.tip[..7])
    );
    let subjects: Vec<String> = w
        .repo()
        .git(&[
            "log",
            "--reverse",
            "--no-merges",
            "--format=%h %s (%an)",
            "--abbrev=7",
            &format!("{}..HEAD", h.base),
        ])
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(lines[1..5], subjects[..]);
    assert_eq!(
        lines[5],
        format!(
            "Compare: https://github.com/acme/shop/compare/{}...{}",
            h.base, h.tip
        )
    );

    let md = notes(&w, &["--from", &h.base, "--format", "markdown"], &[]);
    md.code(0);
    assert!(
        md.stdout.starts_with("**Shipping 4 commits (")
            && md
                .stdout
                .contains("([compare](https://github.com/acme/shop/compare/"),
        "{}",
        md.stdout
    );
    assert!(
        md.stdout
            .contains("Feature step two \\<b\\>\\*bold\\*\\</b\\> — Ada Lovelace\n"),
        "{}",
        md.stdout
    );
    assert!(md.stdout.contains(&format!(
        "- [`{}`](https://github.com/acme/shop/commit/{}) Fix the total (#13) — Ada Lovelace\n",
        &h.tip[..7],
        h.tip
    )));
}

#[test]
fn first_parent_lists_the_merges_of_main() {
    let w = World::new("notes-first-parent");
    let h = history(&w);
    let run = notes(
        &w,
        &["--from", &h.base, "--first-parent", "--format", "json"],
        &[],
    );
    run.code(0);
    let j = json(&run);
    assert_eq!(j["first_parent"], true);
    let range = format!("{}..{}", h.base, h.tip);
    assert_eq!(
        shas(&j["commits"]),
        git_log(w.repo(), &["--first-parent"], &range)
    );
    let merge = j["commits"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["sha"] == h.merge.as_str())
        .expect("the merge is listed");
    assert_eq!(merge["pr"], 12);
    assert_eq!(merge["subject"], "Merge pull request #12 from acme/feature");
    assert_eq!(merge["body"], "Add the feature\n");
}

#[test]
fn same_commit_is_nothing_to_ship() {
    let w = World::new("notes-same");
    let h = history(&w);
    let run = notes(&w, &["--from", "main", "--to", &h.tip], &[]);
    run.code(0);
    assert_eq!(
        run.stdout,
        format!("Nothing to ship: {} is already live\n", &h.tip[..7])
    );
    let j = json(&notes(&w, &["--from", &h.tip, "--format", "json"], &[]));
    assert_eq!(j["range"], "same");
    assert_eq!(j["commits"], serde_json::json!([]));
    assert!(j.get("compare_url").is_none());
}

#[test]
fn going_backwards_lists_what_would_be_removed() {
    let w = World::new("notes-backward");
    let h = history(&w);
    let run = notes(
        &w,
        &["--from", &h.tip, "--to", &h.base, "--format", "json"],
        &[],
    );
    run.code(0);
    let j = json(&run);
    assert_eq!(j["range"], "backward");
    assert_eq!(j["commits"], serde_json::json!([]));
    let range = format!("{}..{}", h.base, h.tip);
    assert_eq!(
        shas(&j["removed"]),
        git_log(w.repo(), &["--no-merges"], &range)
    );
    let text = notes(&w, &["--from", &h.tip, "--to", &h.base], &[]);
    assert!(
        text.stdout.starts_with(&format!(
            "Going backwards: {} is an ancestor of the live {}; 4 commits would be removed\n",
            &h.base[..7],
            &h.tip[..7]
        )),
        "{}",
        text.stdout
    );
}

#[test]
fn diverged_history_lists_both_sides_labelled() {
    let w = World::new("notes-diverged");
    let h = history(&w);
    w.repo()
        .git(&["checkout", "-q", "-b", "rewritten", &h.merge]);
    let rewritten = w
        .repo()
        .commit_at("Fix the total differently", 1_790_002_000);
    let run = notes(
        &w,
        &["--from", &h.tip, "--to", &rewritten, "--format", "json"],
        &[],
    );
    run.code(0);
    let j = json(&run);
    assert_eq!(j["range"], "diverged");
    assert_eq!(shas(&j["commits"]), vec![rewritten.clone()]);
    assert_eq!(shas(&j["removed"]), vec![h.tip.clone()]);
    let text = notes(&w, &["--from", &h.tip, "--to", &rewritten], &[]);
    assert_eq!(
        text.stdout.lines().take(5).collect::<Vec<_>>(),
        vec![
            format!(
                "History diverged (force-push or rebase): 1 commit to ship, 1 commit removed (live {}, shipping {})",
                &h.tip[..7],
                &rewritten[..7]
            ),
            "Shipping:".to_string(),
            format!("  {} Fix the total differently (Ada Lovelace)", &rewritten[..7]),
            "Removed:".to_string(),
            format!("  {} Fix the total (#13) (Ada Lovelace)", &h.tip[..7]),
        ]
    );
}

/// An origin with `n` commits on main (every 10th one a merge of a side branch), cloned at
/// depth 1 into the job's working directory, as CI checkouts are; with the origin and its
/// commits on main.
fn origin_and_shallow_clone(w: &World, n: usize) -> (Repo, Vec<String>) {
    let origin = Repo::new("origin");
    let mut ids = Vec::new();
    for i in 0..n {
        let date = 1_790_000_000 + (i as u64) * 60;
        if i % 10 == 9 {
            origin.git(&["checkout", "-q", "-b", &format!("side{i}")]);
            origin.commit_at(&format!("Side work {i}"), date - 30);
            origin.git(&["checkout", "-q", "main"]);
            origin.git_at(
                date,
                &[
                    "merge",
                    "-q",
                    "--no-ff",
                    &format!("side{i}"),
                    "-m",
                    &format!("Merge pull request #{i} from acme/side{i}"),
                ],
            );
            ids.push(origin.git(&["rev-parse", "HEAD"]));
        } else {
            ids.push(origin.commit_at(&format!("Commit {i} (#{})", 1000 + i), date));
        }
    }
    w.repo().git(&[
        "clone",
        "-q",
        "--depth",
        "1",
        &format!("file://{}", origin.path().display()),
        ".",
    ]);
    (origin, ids)
}

#[test]
fn shallow_clone_is_deepened_from_its_remote() {
    let w = World::without_git("notes-deepen");
    let (origin, ids) = origin_and_shallow_clone(&w, 160);
    let from = &ids[120];
    let run = notes(&w, &["--from", from, "--format", "json"], &[]);
    run.code(0)
        .stderr_has("Deepening the shallow clone by 100 commits from origin");
    let j = json(&run);
    assert_eq!(j["range"], "forward");
    assert_eq!(j["source"], "git");
    let range = format!("{from}..{}", ids[159]);
    let expected = git_log(&origin, &["--no-merges"], &range);
    assert_eq!(expected.len(), 39, "35 on main and 4 side commits");
    assert_eq!(shas(&j["commits"]), expected);
    assert_eq!(
        shas(&j["commits"]),
        git_log(w.repo(), &["--no-merges"], &range)
    );
    assert!(
        w.path().join(".git/shallow").exists(),
        "40 commits back must not download the whole history"
    );
    let fp = json(&notes(
        &w,
        &["--from", from, "--first-parent", "--format", "json"],
        &[],
    ));
    assert_eq!(
        shas(&fp["commits"]),
        git_log(&origin, &["--first-parent"], &range)
    );
}

/// Makes every `git fetch` over https fail at once, as it would offline, without touching
/// the network.
const NO_HTTPS: [(&str, &str); 3] = [
    ("GIT_CONFIG_COUNT", "1"),
    ("GIT_CONFIG_KEY_0", "protocol.https.allow"),
    ("GIT_CONFIG_VALUE_0", "never"),
];

/// Points the clone's `origin` at github.com, as a CI checkout's is: with [`NO_HTTPS`], git
/// cannot deepen from it and only GitHub's API can tell the commits.
fn origin_on_github(w: &World) {
    w.repo().git(&[
        "remote",
        "set-url",
        "origin",
        "https://github.com/acme/shop.git",
    ]);
}

#[test]
fn shallow_clone_that_cannot_be_deepened_asks_github() {
    let w = World::without_git("notes-github");
    let (origin, ids) = origin_and_shallow_clone(&w, 30);
    origin_on_github(&w);
    let github = GitHub::start();
    github.add_repo("acme/shop", origin.path());
    github.set_page_cap(4);
    let url = github.url();
    let mut env = NO_HTTPS.to_vec();
    env.push(("GITHUB_TOKEN", github.token()));
    env.push(("GITHUB_API_URL", &url));
    let from = &ids[5];
    let run = notes(&w, &["--from", from, "--format", "json"], &env);
    run.code(0).stderr_has("Asking GitHub to compare");
    assert!(!run.log().contains(github.token()), "the token never shows");
    let j = json(&run);
    assert_eq!(j["source"], "github");
    assert_eq!(j["range"], "forward");
    let range = format!("{from}..{}", ids[29]);
    assert_eq!(
        shas(&j["commits"]),
        git_log(&origin, &["--no-merges"], &range)
    );
    let first = &j["commits"][0];
    assert_eq!(first["subject"], "Commit 6 (#1006)");
    assert_eq!(first["pr"], 1006);
    assert_eq!(first["author"], "Ada Lovelace");
    assert_eq!(first["email"], "ada@example.com");
    assert_eq!(
        first["url"],
        format!("https://github.com/acme/shop/commit/{}", ids[6]).as_str()
    );

    let requests = github.requests();
    assert!(
        requests.len() >= 7,
        "24 commits at 4 a page: {}",
        requests.len()
    );
    let first_request = &requests[0];
    assert_eq!(
        first_request.path,
        format!("/repos/acme/shop/compare/{from}...{}", ids[29])
    );
    assert_eq!(first_request.query_param("per_page"), Some("250"));
    assert_eq!(
        first_request.header("Authorization"),
        Some(format!("Bearer {}", github.token()).as_str())
    );
    assert_eq!(
        first_request.header("Accept"),
        Some("application/vnd.github+json")
    );
    assert_eq!(
        first_request.header("X-GitHub-Api-Version"),
        Some("2022-11-28")
    );
    assert!(requests[1].query_param("page") == Some("2"));

    // Live is newer than the clone (a later build deployed first): going backwards, from
    // GitHub too.
    let newer = origin.commit_at("Deployed by a later build", 1_790_100_000);
    let back = json(&notes(&w, &["--from", &newer, "--format", "json"], &env));
    assert_eq!(back["source"], "github");
    assert_eq!(back["range"], "backward");
    assert_eq!(shas(&back["removed"]), vec![newer.clone()]);
    let fp = json(&notes(
        &w,
        &["--from", from, "--first-parent", "--format", "json"],
        &env,
    ));
    assert_eq!(
        shas(&fp["commits"]),
        git_log(&origin, &["--first-parent"], &range)
    );
}

#[test]
fn without_history_or_token_the_notes_are_unavailable_with_the_reason() {
    let w = World::without_git("notes-unavailable");
    let (_origin, ids) = origin_and_shallow_clone(&w, 5);
    origin_on_github(&w);
    let run = notes(&w, &["--from", &ids[1]], &NO_HTTPS);
    run.code(1);
    let line = run.stdout.lines().next().unwrap_or_default().to_string();
    assert!(
        line.starts_with("Release notes unavailable: the live commit"),
        "{run:?}"
    );
    for says in [
        "not in this clone",
        "git fetch --deepen=100 origin",
        "GITHUB_TOKEN is not set",
    ] {
        assert!(line.contains(says), "{says}: {line}");
    }
    run.stderr_has("error: release notes unavailable");

    let j = json(&notes(
        &w,
        &["--from", &ids[1], "--format", "json"],
        &NO_HTTPS,
    ));
    assert!(
        j["unavailable"].as_str().unwrap().contains("GITHUB_TOKEN"),
        "{j}"
    );

    // A wrong token: GitHub's answer and what to do.
    let github = GitHub::start();
    let url = github.url();
    let mut env = NO_HTTPS.to_vec();
    env.push(("GITHUB_TOKEN", "ghs_wrongwrongwrong"));
    env.push(("GITHUB_API_URL", &url));
    let run = notes(&w, &["--from", &ids[1]], &env);
    run.code(1)
        .stdout_has("answered 401: Bad credentials")
        .log_lacks("ghs_wrongwrongwrong");
}

#[test]
fn shallow_clone_without_remote_is_unavailable_and_says_so() {
    let w = World::without_git("notes-no-remote");
    let (_origin, ids) = origin_and_shallow_clone(&w, 5);
    w.repo().git(&["remote", "remove", "origin"]);
    let run = notes(&w, &["--from", &ids[1], "--format", "json"], &[]);
    run.code(1);
    let reason = json(&run)["unavailable"].as_str().unwrap().to_string();
    assert!(reason.contains("no `origin` remote"), "{reason}");
    assert!(reason.contains("not a github.com repository"), "{reason}");
}

#[test]
fn app_starts_the_notes_at_the_commit_live_on_heroku() {
    let w = World::new("notes-app").with_heroku();
    let h = history(&w);
    w.heroku().create_app("shop");
    let run = notes(&w, &["--app", "shop"], &[]);
    run.code(1)
        .stdout_has("shop's live release v1 has no commit recorded");

    w.heroku().seed_release("shop", &h.base, None);
    let run = notes(&w, &["--app", "shop", "--format", "json"], &[]);
    run.code(0)
        .stderr_has(&format!("built from {}", &h.base[..7]));
    let j = json(&run);
    assert_eq!(j["from"], h.base.as_str());
    assert_eq!(j["commits"].as_array().unwrap().len(), 4);

    let run = w
        .shipline(["notes", "--app", "shop"])
        .without_env("HEROKU_API_KEY")
        .without_env("SHIPLINE_HEROKU_API_URL")
        .run();
    run.code(2).stderr_has("HEROKU_API_KEY");
}

#[test]
fn bad_revisions_and_folders_are_usage_errors() {
    let w = World::new("notes-usage");
    let h = history(&w);
    let run = notes(&w, &["--from", &h.base, "--to", "no-such-branch"], &[]);
    run.code(2);
    assert!(
        run.stderr.contains("no-such-branch") && run.stderr.contains("--to"),
        "{run:?}"
    );
    let run = notes(&w, &["--from", "nope"], &[]);
    run.code(2);
    assert!(
        run.stderr.contains("--from") && run.stderr.contains("40-character"),
        "{run:?}"
    );
    let elsewhere = TempDir::new("notes-not-a-repo");
    let run = w
        .shipline(["notes", "--from", &h.base])
        .cwd(&elsewhere.path)
        .run();
    run.code(2).stderr_has("--dir");
}
