//! What `shipline lock` asks the CI while it waits, through the real binary: only what can
//! have changed and can matter, and on GitHub by conditional requests that GitHub answers 304,
//! outside the rate limit, while nothing changed — without ever missing a change.

mod common;

use std::time::Duration;

use common::{shipline, Background, TempDir};
use shipline_sandbox::github::{GitHub, RunSpec};

const POLL: &str = "40ms";

fn pairs(env: &[(String, String)]) -> Vec<(&str, &str)> {
    env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

#[test]
fn a_waiting_github_run_polls_with_conditional_requests_and_still_sees_the_hand_off() {
    let dir = TempDir::new("lockpoll-github");
    let gh = GitHub::start();
    let main = || gh.start_run(RunSpec::branch("main", Duration::ZERO));
    let (ahead, mine) = (main(), main());
    for run in [&ahead, &mine] {
        assert!(gh.wait_at_lock(run, Duration::from_secs(5)));
    }
    let token = gh.issue_token("mine");
    let env = gh.job_env(&mine, &token);
    let args = ["lock", "--poll", POLL, "--timeout", "400ms", "--", "true"];
    let run = shipline(&dir.path, &args, &pairs(&env));
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
    let mut waiting = Background::start(&dir.path, &args, &pairs(&env));
    assert!(waiting.wait_for("Waiting behind #1", Duration::from_secs(20)));
    gh.finish_run(&ahead, true);
    let run = waiting.finish();
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("Lock held by #2"), "{run:?}");
}
