//! The fake GitHub answers conditional requests as GitHub does: a weak `ETag` on every `GET`
//! answered 200, `304 Not Modified` without a body when `If-None-Match` names it, and a 304
//! to an authorized request leaves the primary rate limit untouched. `shipline lock` polls
//! with these, so the fake must not answer 304 when anything in the representation changed.

mod common;

use std::time::Duration;

use common::{Raw, Resp};
use shipline_sandbox::github::{GitHub, RunSpec};

const RUNS: &str = "/repos/acme/shop/actions/workflows/deploy.yml/runs?branch=main&per_page=100";

fn get(gh: &GitHub, target: &str, token: &str, if_none_match: Option<&str>) -> Resp {
    let url = format!("{}{target}", gh.url());
    let mut raw = Raw::new("GET", &url)
        .header("Accept", "application/vnd.github+json")
        .header("User-Agent", "shipline-conditional-test")
        .header("Authorization", format!("Bearer {token}"));
    if let Some(tags) = if_none_match {
        raw = raw.header("If-None-Match", tags);
    }
    raw.send()
}

fn remaining(resp: &Resp) -> u64 {
    resp.header("X-RateLimit-Remaining")
        .and_then(|v| v.parse().ok())
        .expect("X-RateLimit-Remaining")
}

fn etag(resp: &Resp) -> String {
    resp.header("ETag").expect("an ETag").to_string()
}

#[test]
fn an_unchanged_representation_is_a_304_that_does_not_count() {
    let gh = GitHub::start();
    let token = gh.issue_token("poller");
    let run = gh.start_run(RunSpec::branch("main", Duration::from_secs(3600)));

    let first = get(&gh, RUNS, &token, None);
    assert_eq!(first.status, 200, "{}", first.text());
    let tag = etag(&first);
    let opaque = tag
        .strip_prefix("W/\"")
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or_else(|| panic!("a weak ETag, as GitHub sends: {tag}"));
    assert!(
        opaque.len() == 64 && opaque.bytes().all(|b| b.is_ascii_hexdigit()),
        "{tag}"
    );
    assert!(first
        .header("Vary")
        .is_some_and(|v| v.contains("Authorization")));

    // Asked again with the tag: nothing changed, so 304, no body, the same tag, and the
    // rate limit as it was.
    let again = get(&gh, RUNS, &token, Some(&tag));
    assert_eq!(again.status, 304);
    assert!(again.body.is_empty(), "{}", again.text());
    assert_eq!(again.header("Content-Length"), None);
    assert_eq!(etag(&again), tag);
    assert_eq!(remaining(&again), remaining(&first));
    assert_eq!(gh.request_count("poller"), 2);
    assert_eq!(gh.rate_limited_count("poller"), 1);

    // Weak comparison, lists of tags, and `*` all match.
    for tags in [
        format!("\"{opaque}\""),
        format!("W/\"other\", {tag}"),
        "*".to_string(),
    ] {
        assert_eq!(get(&gh, RUNS, &token, Some(&tags)).status, 304, "{tags}");
    }
    assert_eq!(gh.rate_limited_count("poller"), 1);

    // Another tag is not a match: a full answer, counted.
    let other = get(&gh, RUNS, &token, Some("W/\"0123\""));
    assert_eq!(other.status, 200);
    assert_eq!(remaining(&other), remaining(&first) - 1);

    // The jobs of a run have their own tag, which moves when a job does.
    let jobs = format!("/repos/acme/shop/actions/runs/{}/jobs", run.id);
    let before = get(&gh, &jobs, &token, None);
    assert_eq!(before.status, 200);
    assert_ne!(etag(&before), tag);
    assert_eq!(get(&gh, &jobs, &token, Some(&etag(&before))).status, 304);
    gh.finish_tests(&run, true);
    let after = get(&gh, &jobs, &token, Some(&etag(&before)));
    assert_eq!(
        after.status, 200,
        "the test job finished: a new representation"
    );
    assert_ne!(etag(&after), etag(&before));
    // And so does the listing's: the run's status and `updated_at` moved.
    gh.finish_run(&run, true);
    let changed = get(&gh, RUNS, &token, Some(&tag));
    assert_eq!(changed.status, 200);
    assert_ne!(etag(&changed), tag);
    assert_eq!(changed.json()["workflow_runs"][0]["status"], "completed");
}

#[test]
fn errors_carry_no_etag_and_always_count() {
    let gh = GitHub::start();
    let token = gh.issue_token("poller");
    let missing = get(
        &gh,
        "/repos/acme/shop/actions/runs/999999",
        &token,
        Some("*"),
    );
    assert_eq!(missing.status, 404);
    assert_eq!(missing.header("ETag"), None);
    assert_eq!(gh.rate_limited_count("poller"), 1);
}
