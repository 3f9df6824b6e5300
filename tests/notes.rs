//! `shipline notes` through the real binary: each range case, shallow clones deepened from
//! their remote or answered by the sandbox GitHub, merges and `--first-parent`, each format,
//! and `--app` against the sandbox Heroku. The lists are checked against what `git log`
//! prints on the same clone.

mod common;

use std::path::Path;

use common::{git_command, shipline, Repo, Run, TempDir};
use serde_json::Value;
use shipline_sandbox::{GitHub, Heroku};

/// Runs git in `dir` and returns its standard output, trimmed.
fn git(dir: &Path, args: &[&str]) -> String {
    let out = git_command(dir).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// Commits in `dir` with the given committer and author date (unix seconds).
fn commit_at(dir: &Path, message: &str, date: u64) -> String {
    let date = format!("{date} +0000");
    let out = git_command(dir)
        .env("GIT_AUTHOR_DATE", &date)
        .env("GIT_COMMITTER_DATE", &date)
        .args(["commit", "-q", "--allow-empty", "-m", message])
        .output()
        .unwrap();
    assert!(out.status.success());
    git(dir, &["rev-parse", "HEAD"])
}

fn notes(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut all = vec!["notes"];
    all.extend_from_slice(args);
    shipline(dir, &all, env)
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
fn git_log(dir: &Path, flags: &[&str], range: &str) -> Vec<String> {
    let mut args = vec!["log", "--reverse", "--format=%H"];
    args.extend_from_slice(flags);
    args.push(range);
    git(dir, &args)
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// main: base ← a ← merge(PR #12: b1 ← b2) ← c (#13); the feature branch's dates are out of
/// order with main's.
struct History {
    repo: Repo,
    base: String,
    tip: String,
    merge: String,
}

fn history(name: &str) -> History {
    let repo = Repo::new(name);
    let dir = repo.path().to_path_buf();
    let base = commit_at(&dir, "Initial commit", 1_790_000_000);
    commit_at(
        &dir,
        "Add the cart\n\nWith a body\n\n  indented line",
        1_790_000_600,
    );
    git(&dir, &["checkout", "-q", "-b", "feature"]);
    // Older than main's last commit: git orders by date, not by branch.
    commit_at(&dir, "Feature step one", 1_790_000_100);
    commit_at(&dir, "Feature step two <b>*bold*</b>", 1_790_000_900);
    git(&dir, &["checkout", "-q", "main"]);
    let date = "1790001200 +0000";
    let out = git_command(&dir)
        .env("GIT_AUTHOR_DATE", date)
        .env("GIT_COMMITTER_DATE", date)
        .args([
            "merge",
            "-q",
            "--no-ff",
            "feature",
            "-m",
            "Merge pull request #12 from acme/feature\n\nAdd the feature",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let merge = git(&dir, &["rev-parse", "HEAD"]);
    let tip = commit_at(&dir, "Fix the total (#13)", 1_790_001_800);
    git(
        &dir,
        &["remote", "add", "origin", "git@github.com:acme/shop.git"],
    );
    History {
        repo,
        base,
        tip,
        merge,
    }
}

#[test]
fn forward_range_equals_git_log_field_by_field() {
    let h = history("notes-forward");
    let dir = h.repo.path();
    let run = notes(
        dir,
        &["--from", &h.base, "--to", "main", "--format", "json"],
        &[],
    );
    assert_eq!(run.code, 0, "{run:?}");
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
    assert_eq!(shas(&j["commits"]), git_log(dir, &["--no-merges"], &range));
    assert_eq!(
        j["commits"].as_array().unwrap().len(),
        4,
        "the merge is skipped"
    );
    for entry in j["commits"].as_array().unwrap() {
        let sha = entry["sha"].as_str().unwrap();
        let field = |format: &str| {
            let out = git_command(dir)
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
    let h = history("notes-formats");
    let dir = h.repo.path();
    let text = notes(dir, &["--from", &h.base], &[]);
    assert_eq!(text.code, 0, "{text:?}");
    let lines: Vec<&str> = text.stdout.lines().collect();
    assert_eq!(
        lines[0],
        format!("Shipping 4 commits ({}..{})", &h.base[..7], &h.tip[..7])
    );
    let subjects: Vec<String> = git(
        dir,
        &[
            "log",
            "--reverse",
            "--no-merges",
            "--format=%h %s (%an)",
            "--abbrev=7",
            &format!("{}..HEAD", h.base),
        ],
    )
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

    let md = notes(dir, &["--from", &h.base, "--format", "markdown"], &[]);
    assert_eq!(md.code, 0, "{md:?}");
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
    let h = history("notes-first-parent");
    let dir = h.repo.path();
    let run = notes(
        dir,
        &["--from", &h.base, "--first-parent", "--format", "json"],
        &[],
    );
    assert_eq!(run.code, 0, "{run:?}");
    let j = json(&run);
    assert_eq!(j["first_parent"], true);
    let range = format!("{}..{}", h.base, h.tip);
    assert_eq!(
        shas(&j["commits"]),
        git_log(dir, &["--first-parent"], &range)
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
    let h = history("notes-same");
    let dir = h.repo.path();
    let run = notes(dir, &["--from", "main", "--to", &h.tip], &[]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        run.stdout,
        format!("Nothing to ship: {} is already live\n", &h.tip[..7])
    );
    let j = json(&notes(dir, &["--from", &h.tip, "--format", "json"], &[]));
    assert_eq!(j["range"], "same");
    assert_eq!(j["commits"], serde_json::json!([]));
    assert!(j.get("compare_url").is_none());
}

#[test]
fn going_backwards_lists_what_would_be_removed() {
    let h = history("notes-backward");
    let dir = h.repo.path();
    let run = notes(
        dir,
        &["--from", &h.tip, "--to", &h.base, "--format", "json"],
        &[],
    );
    assert_eq!(run.code, 0, "{run:?}");
    let j = json(&run);
    assert_eq!(j["range"], "backward");
    assert_eq!(j["commits"], serde_json::json!([]));
    let range = format!("{}..{}", h.base, h.tip);
    assert_eq!(shas(&j["removed"]), git_log(dir, &["--no-merges"], &range));
    let text = notes(dir, &["--from", &h.tip, "--to", &h.base], &[]);
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
    let h = history("notes-diverged");
    let dir = h.repo.path();
    git(dir, &["checkout", "-q", "-b", "rewritten", &h.merge]);
    let rewritten = commit_at(dir, "Fix the total differently", 1_790_002_000);
    let run = notes(
        dir,
        &["--from", &h.tip, "--to", &rewritten, "--format", "json"],
        &[],
    );
    assert_eq!(run.code, 0, "{run:?}");
    let j = json(&run);
    assert_eq!(j["range"], "diverged");
    assert_eq!(shas(&j["commits"]), vec![rewritten.clone()]);
    assert_eq!(shas(&j["removed"]), vec![h.tip.clone()]);
    let text = notes(dir, &["--from", &h.tip, "--to", &rewritten], &[]);
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

/// An origin with `n` commits on main (every 10th one a merge of a side branch), and a
/// clone of it at depth 1.
fn origin_and_shallow_clone(
    tmp: &TempDir,
    n: usize,
) -> (std::path::PathBuf, std::path::PathBuf, Vec<String>) {
    let origin = tmp.path.join("origin");
    std::fs::create_dir_all(&origin).unwrap();
    git(&origin, &["init", "-q", "-b", "main"]);
    let mut ids = Vec::new();
    for i in 0..n {
        let date = 1_790_000_000 + (i as u64) * 60;
        if i % 10 == 9 {
            git(&origin, &["checkout", "-q", "-b", &format!("side{i}")]);
            commit_at(&origin, &format!("Side work {i}"), date - 30);
            git(&origin, &["checkout", "-q", "main"]);
            let stamp = format!("{date} +0000");
            let out = git_command(&origin)
                .env("GIT_AUTHOR_DATE", &stamp)
                .env("GIT_COMMITTER_DATE", &stamp)
                .args([
                    "merge",
                    "-q",
                    "--no-ff",
                    &format!("side{i}"),
                    "-m",
                    &format!("Merge pull request #{i} from acme/side{i}"),
                ])
                .output()
                .unwrap();
            assert!(out.status.success());
            ids.push(git(&origin, &["rev-parse", "HEAD"]));
        } else {
            ids.push(commit_at(
                &origin,
                &format!("Commit {i} (#{})", 1000 + i),
                date,
            ));
        }
    }
    let clone = tmp.path.join("clone");
    git(
        &tmp.path,
        &[
            "clone",
            "-q",
            "--depth",
            "1",
            &format!("file://{}", origin.display()),
            clone.to_str().unwrap(),
        ],
    );
    (origin, clone, ids)
}

#[test]
fn shallow_clone_is_deepened_from_its_remote() {
    let tmp = TempDir::new("notes-deepen");
    let (origin, clone, ids) = origin_and_shallow_clone(&tmp, 160);
    let from = &ids[120];
    let run = notes(&clone, &["--from", from, "--format", "json"], &[]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stderr
            .contains("Deepening the shallow clone by 100 commits from origin"),
        "{run:?}"
    );
    let j = json(&run);
    assert_eq!(j["range"], "forward");
    assert_eq!(j["source"], "git");
    let range = format!("{from}..{}", ids[159]);
    let expected = git_log(&origin, &["--no-merges"], &range);
    assert_eq!(expected.len(), 39, "35 on main and 4 side commits");
    assert_eq!(shas(&j["commits"]), expected);
    assert_eq!(
        shas(&j["commits"]),
        git_log(&clone, &["--no-merges"], &range)
    );
    assert!(
        clone.join(".git/shallow").exists(),
        "40 commits back must not download the whole history"
    );
    let fp = json(&notes(
        &clone,
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

#[test]
fn shallow_clone_that_cannot_be_deepened_asks_github() {
    let tmp = TempDir::new("notes-github");
    let (origin, clone, ids) = origin_and_shallow_clone(&tmp, 30);
    git(
        &clone,
        &[
            "remote",
            "set-url",
            "origin",
            "https://github.com/acme/shop.git",
        ],
    );
    let github = GitHub::start();
    github.add_repo("acme/shop", &origin);
    github.set_page_cap(4);
    let url = github.url();
    let mut env = NO_HTTPS.to_vec();
    env.push(("GITHUB_TOKEN", github.token()));
    env.push(("GITHUB_API_URL", &url));
    let from = &ids[5];
    let run = notes(&clone, &["--from", from, "--format", "json"], &env);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains("Asking GitHub to compare"), "{run:?}");
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
    let newer = commit_at(&origin, "Deployed by a later build", 1_790_100_000);
    let back = json(&notes(
        &clone,
        &["--from", &newer, "--format", "json"],
        &env,
    ));
    assert_eq!(back["source"], "github");
    assert_eq!(back["range"], "backward");
    assert_eq!(shas(&back["removed"]), vec![newer.clone()]);
    let fp = json(&notes(
        &clone,
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
    let tmp = TempDir::new("notes-unavailable");
    let (_origin, clone, ids) = origin_and_shallow_clone(&tmp, 5);
    git(
        &clone,
        &[
            "remote",
            "set-url",
            "origin",
            "https://github.com/acme/shop.git",
        ],
    );
    let run = notes(&clone, &["--from", &ids[1]], &NO_HTTPS);
    assert_eq!(run.code, 1, "{run:?}");
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
    assert!(
        run.stderr.contains("error: release notes unavailable"),
        "{run:?}"
    );

    let j = json(&notes(
        &clone,
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
    let run = notes(&clone, &["--from", &ids[1]], &env);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stdout.contains("answered 401: Bad credentials"),
        "{run:?}"
    );
    assert!(!run.log().contains("ghs_wrongwrongwrong"), "{run:?}");
}

#[test]
fn shallow_clone_without_remote_is_unavailable_and_says_so() {
    let tmp = TempDir::new("notes-no-remote");
    let (_origin, clone, ids) = origin_and_shallow_clone(&tmp, 5);
    git(&clone, &["remote", "remove", "origin"]);
    let run = notes(&clone, &["--from", &ids[1], "--format", "json"], &[]);
    assert_eq!(run.code, 1, "{run:?}");
    let reason = json(&run)["unavailable"].as_str().unwrap().to_string();
    assert!(reason.contains("no `origin` remote"), "{reason}");
    assert!(reason.contains("not a github.com repository"), "{reason}");
}

#[test]
fn app_starts_the_notes_at_the_commit_live_on_heroku() {
    let h = history("notes-app");
    let heroku = Heroku::start();
    heroku.create_app("shop");
    let env = [
        ("HEROKU_API_KEY", heroku.api_key().to_string()),
        ("SHIPLINE_HEROKU_API_URL", heroku.url()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let run = notes(h.repo.path(), &["--app", "shop"], &env);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stdout
            .contains("shop's live release v1 has no commit recorded"),
        "{run:?}"
    );

    heroku.seed_release("shop", &h.base, None);
    let run = notes(h.repo.path(), &["--app", "shop", "--format", "json"], &env);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stderr.contains(&format!("built from {}", &h.base[..7])),
        "{run:?}"
    );
    let j = json(&run);
    assert_eq!(j["from"], h.base.as_str());
    assert_eq!(j["commits"].as_array().unwrap().len(), 4);

    let run = notes(h.repo.path(), &["--app", "shop"], &[]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("HEROKU_API_KEY"), "{run:?}");
}

#[test]
fn bad_revisions_and_folders_are_usage_errors() {
    let h = history("notes-usage");
    let dir = h.repo.path();
    let run = notes(dir, &["--from", &h.base, "--to", "no-such-branch"], &[]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("no-such-branch") && run.stderr.contains("--to"),
        "{run:?}"
    );
    let run = notes(dir, &["--from", "nope"], &[]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("--from") && run.stderr.contains("40-character"),
        "{run:?}"
    );
    let elsewhere = TempDir::new("notes-not-a-repo");
    let run = notes(&elsewhere.path, &["--from", &h.base], &[]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("--dir"), "{run:?}");
}
