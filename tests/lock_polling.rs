//! What `shipline lock` asks the CI while it waits, through the real binary: only what can
//! have changed and can matter, and on GitHub by conditional requests that GitHub answers 304,
//! outside the rate limit, while nothing changed — without ever missing a change.

mod common;

use std::time::{Duration, Instant};

use common::{Shipline, World};
use shipline_sandbox::circleci::{BuildSpec, CircleCi};
use shipline_sandbox::github::{GitHub, RunSpec};

const POLL: &str = "40ms";

/// `shipline <args>` in the job directory `w`, with the job's CI variables `env`.
fn lock(w: &World, args: &[&str], env: &[(String, String)]) -> Shipline {
    w.shipline(args).envs(env.iter().cloned())
}

#[test]
fn a_waiting_circleci_build_reads_down_to_the_build_ahead_then_watches_it_alone() {
    let w = World::without_git("lockpoll-circle");
    let circle = CircleCi::start();
    let main = || circle.start_build(BuildSpec::branch("main", Duration::ZERO));
    let (oldest, ahead, mine) = (main(), main(), main());
    for build in [&oldest, &ahead, &mine] {
        assert!(circle.wait_at_lock(build, Duration::from_secs(5)));
    }
    let token = circle.issue_token("mine");
    let env = circle.job_env(&mine, &token);
    let args = ["lock", "--poll", POLL, "--timeout", "30s", "--", "true"];
    let mut waiting = lock(&w, &args, &env).start();
    assert!(waiting.wait_for("Waiting behind #2", Duration::from_secs(20)));
    std::thread::sleep(Duration::from_millis(400));

    // While #2 blocks, nothing older can let #3 go: #1's pipeline is not even listed, and
    // each poll reads #2's jobs, one request.
    let handed = Instant::now();
    circle.finish(&ahead, true);
    let mine_before: Vec<String> = circle
        .requests()
        .into_iter()
        .filter(|r| r.token.as_deref() == Some("mine") && r.at < handed)
        .map(|r| r.request.path)
        .collect();
    let listed = |pipeline: &str, paths: &[String]| {
        paths
            .iter()
            .filter(|p| p.ends_with(&format!("/pipeline/{pipeline}/workflow")))
            .count()
    };
    assert_eq!(
        listed(&oldest.pipeline_id, &mine_before),
        0,
        "{mine_before:#?}"
    );
    let polls = mine_before
        .iter()
        .filter(|p| p.ends_with(&format!("/workflow/{}/job", ahead.workflow_id)))
        .count();
    assert!(polls >= 5, "{mine_before:#?}");
    // Own workflow, then one read: pipelines, two workflow lists, #2's jobs.
    assert_eq!(mine_before.len() - polls, 4, "{mine_before:#?}");

    // #2 leaves: the read that follows goes further back and finds #1 still at the lock.
    assert!(waiting.wait_for("Waiting behind #1", Duration::from_secs(20)));
    circle.finish(&oldest, true);
    let run = waiting.finish();
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("Lock held by #3"), "{run:?}");
    let all: Vec<String> = circle
        .requests()
        .into_iter()
        .filter(|r| r.token.as_deref() == Some("mine"))
        .map(|r| r.request.path)
        .collect();
    assert!(listed(&oldest.pipeline_id, &all) >= 1, "{all:#?}");
}

#[test]
fn a_waiting_github_run_polls_with_conditional_requests_and_still_sees_the_hand_off() {
    let w = World::without_git("lockpoll-github");
    let gh = GitHub::start();
    let main = || gh.start_run(RunSpec::branch("main", Duration::ZERO));
    let (ahead, mine) = (main(), main());
    for run in [&ahead, &mine] {
        assert!(gh.wait_at_lock(run, Duration::from_secs(5)));
    }
    let token = gh.issue_token("mine");
    let env = gh.job_env(&mine, &token);
    let args = ["lock", "--poll", POLL, "--timeout", "400ms", "--", "true"];
    let run = lock(&w, &args, &env).run();
    assert_eq!(run.code, 1, "{run:?}");
    let polls = run.stdout.matches("Waiting behind #1").count();
    assert!(polls >= 5, "{run:?}");

    // Own run, the runs of the workflow and #1's jobs count against the rate limit; every
    // poll after that asks with the tag it got and is answered 304, which does not.
    assert_eq!(gh.rate_limited_count("mine"), 3, "{run:?}");
    let bearer = format!("Bearer {token}");
    let conditional = gh
        .requests()
        .iter()
        .filter(|r| r.header("Authorization") == Some(bearer.as_str()))
        .filter(|r| {
            r.header("If-None-Match")
                .is_some_and(|t| t.starts_with("W/\""))
        })
        .count();
    assert!(conditional >= polls - 1, "{conditional} for {polls} polls");
    assert!(gh.request_count("mine") >= 3 + polls - 1);

    // A change is never hidden behind a kept answer: #1 finishes, and #2 takes the lock.
    let token = gh.issue_token("mine-again");
    let env = gh.job_env(&mine, &token);
    let args = ["lock", "--poll", POLL, "--timeout", "30s", "--", "true"];
    let mut waiting = lock(&w, &args, &env).start();
    assert!(waiting.wait_for("Waiting behind #1", Duration::from_secs(20)));
    gh.finish_run(&ahead, true);
    let run = waiting.finish();
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("Lock held by #2"), "{run:?}");
}
