//! `GET /repos/{owner}/{repo}/commits` and `GET /repos/{owner}/{repo}/commits/{ref}`,
//! answered from a real repository with the `git` command.
//!
//! The listing starts at `sha` (a commit, branch or tag; the checked-out `HEAD` without one)
//! and walks history newest first, as `git log` does, a page at a time (`per_page` 30 by
//! default, 100 at most) with a `Link` header. One commit is named by a SHA, a branch, a tag,
//! or `heads/…` / `tags/…`; it carries `stats` (lines added and deleted), not `files`.
//!
//! Errors as GitHub answers them: a listing from a revision that does not exist is a 404
//! `No commit found for SHA: …`; one commit that does not exist is a 422 with the same
//! message; a repository without any commit is a 409 `Git Repository is empty.`.

use std::path::Path;

use serde_json::json;

use super::actions::{page_params, paged};
use super::compare::{git, log, resolve};
use super::error;
use crate::server::{Request, Response};

fn empty(repo: &Path) -> bool {
    resolve(repo, "HEAD").is_none()
        && git(repo, &["rev-list", "-n", "1", "--all"]).is_none_or(|s| s.is_empty())
}

/// A revision as GitHub takes one in a commits path: also `heads/x` and `tags/x`.
fn resolve_ref(repo: &Path, reference: &str) -> Option<String> {
    resolve(repo, reference).or_else(|| {
        (reference.starts_with("heads/") || reference.starts_with("tags/"))
            .then(|| resolve(repo, &format!("refs/{reference}")))
            .flatten()
    })
}

/// `GET /repos/{owner}/{repo}/commits`.
pub(super) fn list(base_url: &str, web: &str, api: &str, repo: &Path, req: &Request) -> Response {
    if empty(repo) {
        return error(409, "Git Repository is empty.");
    }
    let start = req
        .query_param("sha")
        .map(super::percent_decode)
        .unwrap_or_else(|| "HEAD".into());
    let Some(sha) = resolve_ref(repo, &start) else {
        return error(404, &format!("No commit found for SHA: {start}"));
    };
    let all = log(web, api, repo, &[&sha]);
    let total = all.len();
    let (per_page, page) = page_params(req, 100);
    let slice: Vec<_> = all
        .into_iter()
        .skip((page - 1).saturating_mul(per_page))
        .take(per_page)
        .collect();
    paged(base_url, req, total, per_page, page, json!(slice))
}

/// `GET /repos/{owner}/{repo}/commits/{ref}`.
pub(super) fn one(web: &str, api: &str, repo: &Path, reference: &str) -> Response {
    if empty(repo) {
        return error(409, "Git Repository is empty.");
    }
    let Some(sha) = resolve_ref(repo, reference) else {
        return error(422, &format!("No commit found for SHA: {reference}"));
    };
    let Some(mut commit) = log(web, api, repo, &["-1", &sha]).into_iter().next() else {
        return error(422, &format!("No commit found for SHA: {reference}"));
    };
    let (mut additions, mut deletions) = (0u64, 0u64);
    let numstat = git(repo, &["show", "--numstat", "--format=", &sha]).unwrap_or_default();
    for line in numstat.lines() {
        let mut fields = line.split('\t');
        additions += fields.next().and_then(|n| n.parse().ok()).unwrap_or(0);
        deletions += fields.next().and_then(|n| n.parse().ok()).unwrap_or(0);
    }
    commit["stats"] = json!({
        "additions": additions,
        "deletions": deletions,
        "total": additions + deletions,
    });
    Response::new(200, super::JSON, commit.to_string())
}
