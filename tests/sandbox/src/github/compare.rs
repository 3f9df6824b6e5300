//! `GET /repos/{owner}/{repo}/compare/{base}...{head}`, answered from a real repository.
//!
//! GitHub's answer: `status` (`ahead`, `behind`, `diverged`, `identical`), `ahead_by`,
//! `behind_by`, `total_commits`, the commits of `base..head` oldest first (a page of them, per
//! `page` and `per_page`, with a `Link` header to the others), `base_commit`,
//! `merge_base_commit` and the `html_url`, `permalink_url`, `diff_url` and `patch_url` links.
//! A revision that does not exist, or two commits without a common ancestor, is a 404.

use std::path::Path;
use std::process::Command;

use serde_json::{json, Value};

use super::{error, MAX_PER_PAGE};
use crate::server::{Request, Response};

pub(super) fn git(repo: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim_end().to_string())
}

pub(super) fn resolve(repo: &Path, rev: &str) -> Option<String> {
    if rev.starts_with('-') {
        return None;
    }
    git(
        repo,
        &[
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("{rev}^{{commit}}"),
        ],
    )
}

/// The commits of `range` (`git log` arguments) as GitHub renders them, oldest first.
fn commits(web: &str, api: &str, repo: &Path, range: &[&str]) -> Vec<Value> {
    let mut args = vec!["--reverse"];
    args.extend_from_slice(range);
    log(web, api, repo, &args)
}

/// The commits `git log` lists with `args`, in its order, as GitHub renders them.
pub(super) fn log(web: &str, api: &str, repo: &Path, range: &[&str]) -> Vec<Value> {
    let mut args = vec![
        "log",
        "--format=%H%x1f%P%x1f%an%x1f%ae%x1f%aI%x1f%cn%x1f%ce%x1f%cI%x1f%T%x1f%B%x1e",
    ];
    args.extend_from_slice(range);
    let Some(text) = git(repo, &args) else {
        return Vec::new();
    };
    text.split('\x1e')
        .map(|record| record.trim_start_matches('\n'))
        .filter(|record| !record.is_empty())
        .filter_map(|record| {
            let f: Vec<&str> = record.splitn(10, '\x1f').collect();
            let [sha, parents, an, ae, ad, cn, ce, cd, tree, message] = f.as_slice() else {
                return None;
            };
            Some(json!({
                "sha": sha,
                "node_id": format!("C_{sha}"),
                "commit": {
                    "author": {"name": an, "email": ae, "date": ad},
                    "committer": {"name": cn, "email": ce, "date": cd},
                    "message": message.trim_end_matches('\n'),
                    "tree": {"sha": tree, "url": format!("{api}/git/trees/{tree}")},
                    "url": format!("{api}/git/commits/{sha}"),
                    "comment_count": 0,
                },
                "url": format!("{api}/commits/{sha}"),
                "html_url": format!("{web}/commit/{sha}"),
                "comments_url": format!("{api}/commits/{sha}/comments"),
                "author": null,
                "committer": null,
                "parents": parents.split_whitespace().map(|p| json!({
                    "sha": p,
                    "url": format!("{api}/commits/{p}"),
                    "html_url": format!("{web}/commit/{p}"),
                })).collect::<Vec<_>>(),
            }))
        })
        .collect()
}

pub(super) fn compare(
    base_url: &str,
    repo: &Path,
    owner: &str,
    name: &str,
    basehead: &str,
    req: &Request,
    page_cap: usize,
) -> Response {
    let Some((base, head)) = basehead.split_once("...") else {
        return error(404, "Not Found");
    };
    let (Some(base_sha), Some(head_sha)) = (resolve(repo, base), resolve(repo, head)) else {
        return error(404, "Not Found");
    };
    let Some(merge_base) = git(repo, &["merge-base", &base_sha, &head_sha]) else {
        return error(
            404,
            &format!("No common ancestor between {base} and {head}."),
        );
    };
    let status = if base_sha == head_sha {
        "identical"
    } else if merge_base == base_sha {
        "ahead"
    } else if merge_base == head_sha {
        "behind"
    } else {
        "diverged"
    };
    let count = |range: &str| -> u64 {
        git(repo, &["rev-list", "--count", range])
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    let ahead_by = count(&format!("{base_sha}..{head_sha}"));
    let behind_by = count(&format!("{head_sha}..{base_sha}"));

    let web = format!("https://github.com/{owner}/{name}");
    let api = format!("{base_url}/repos/{owner}/{name}");
    let all = commits(&web, &api, repo, &[&format!("{base_sha}..{head_sha}")]);
    let total = all.len();
    let per_page = req
        .query_param("per_page")
        .and_then(|p| p.parse::<usize>().ok())
        .unwrap_or(MAX_PER_PAGE)
        .clamp(1, page_cap);
    let page = req
        .query_param("page")
        .and_then(|p| p.parse::<usize>().ok())
        .unwrap_or(1)
        .max(1);
    let pages = total.div_ceil(per_page).max(1);
    let start = ((page - 1) * per_page).min(total);
    let end = (start + per_page).min(total);
    let one = |sha: &str| {
        commits(&web, &api, repo, &["-1", sha])
            .into_iter()
            .next()
            .unwrap_or(Value::Null)
    };
    let body = json!({
        "url": format!("{api}/compare/{basehead}"),
        "html_url": format!("{web}/compare/{basehead}"),
        "permalink_url": format!("{web}/compare/{owner}:{base_sha}...{owner}:{head_sha}"),
        "diff_url": format!("{web}/compare/{basehead}.diff"),
        "patch_url": format!("{web}/compare/{basehead}.patch"),
        "base_commit": one(&base_sha),
        "merge_base_commit": one(&merge_base),
        "status": status,
        "ahead_by": ahead_by,
        "behind_by": behind_by,
        "total_commits": total,
        "commits": all[start..end],
    });
    let mut response = Response::new(200, super::JSON, body.to_string());
    let link_to = |p: usize| format!("<{api}/compare/{basehead}?per_page={per_page}&page={p}>");
    let mut links = Vec::new();
    if page > 1 {
        links.push(format!("{}; rel=\"prev\"", link_to(page - 1)));
        links.push(format!("{}; rel=\"first\"", link_to(1)));
    }
    if page < pages {
        links.push(format!("{}; rel=\"next\"", link_to(page + 1)));
        links.push(format!("{}; rel=\"last\"", link_to(pages)));
    }
    if !links.is_empty() {
        response = response.with_header("Link", links.join(", "));
    }
    response
}
