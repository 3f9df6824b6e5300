//! `shipline lock` through the real binary on CircleCI and GitHub Actions: concurrent builds of
//! the sandbox's simulations, each running `shipline lock` inside its deploy job as the CI
//! would. A scenario both CIs share is one function of the provider, run for each by
//! [`both!`]; what only one CI has is tested for that one.

mod common;

use std::time::{Duration, Instant};

use common::{Build, Provider, Queue, Run, Spec, World};
use shipline_sandbox::circleci::{self, BuildSpec, CircleCi};

const POLL: &str = "40ms";

/// `#[test]`s `circleci` and `github` in a module named after each scenario.
macro_rules! both {
    ($($scenario:ident),* $(,)?) => {$(
        mod $scenario {
            #[test]
            fn circleci() {
                super::$scenario(super::Provider::CircleCi)
            }

            #[test]
            fn github() {
                super::$scenario(super::Provider::GitHub)
            }
        }
    )*};
}

both!(
    builds_started_together_never_overlap_and_go_in_order_across_99_100,
    build_1000_waits_for_999,
    latest_mode_skips_the_middle_builds_and_runs_the_newest,
    latest_mode_does_not_skip_for_a_newer_build_still_testing,
    an_on_hold_predecessor_blocks_only_with_include_on_hold,
    every_page_is_read_to_find_a_predecessor_many_builds_back,
    a_tag_build_needs_branch,
    timeout_fails_or_proceeds_as_told,
    a_stale_predecessor_is_reported_and_ignored,
    a_waiting_build_polls_one_job_between_full_reads,
);

/// A job directory for the builds' working directories and the log of who held the lock.
fn world(provider: Provider, name: &str) -> World {
    World::without_git(name).with_ci(provider)
}

/// `lock <args> -- sh -c '<record start, sleep, record end>'`, recording in the world's
/// `lock.log` which build held the lock when.
fn lock_args(w: &World, build: &Build, args: &[&str], hold_ms: u64) -> Vec<String> {
    let script = format!(
        "echo \"start $0 $(date +%s%N)\" >> \"$1\"; sleep {}; echo \"end $0 $(date +%s%N)\" >> \"$1\"",
        hold_ms as f64 / 1000.0
    );
    let mut all = vec!["lock".to_string(), "--poll".into(), POLL.into()];
    all.extend(args.iter().map(|a| a.to_string()));
    all.extend([
        "--".into(),
        "sh".into(),
        "-c".into(),
        script,
        build.number().to_string(),
        w.path().join("lock.log").to_string_lossy().into_owned(),
    ]);
    all
}

/// Runs `shipline lock <args> -- <record>` inside `build`'s deploy job.
fn lock_cmd(w: &World, build: &Build, args: &[&str], hold_ms: u64) -> Run {
    w.in_build(build, lock_args(w, build, args, hold_ms)).run()
}

/// Runs each build's deploy job when it reaches the lock, concurrently: waits for the job to
/// run, runs `shipline lock ... -- CMD`, and ends the job with the process's outcome.
fn run_all(w: &World, builds: &[Build], args: &[&str], hold_ms: u64) -> Vec<Run> {
    let queue = w.queue();
    std::thread::scope(|s| {
        let handles: Vec<_> = builds
            .iter()
            .map(|b| {
                s.spawn(move || {
                    assert!(
                        queue.wait_at_lock(b, Duration::from_secs(30)),
                        "#{} never reached the lock",
                        b.number()
                    );
                    let run = lock_cmd(w, b, args, hold_ms);
                    queue.finish(b, run.code == 0);
                    run
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

/// The builds that ran the command, in order; panics when two overlapped.
fn entries(w: &World) -> Vec<u64> {
    let text = std::fs::read_to_string(w.path().join("lock.log")).unwrap_or_default();
    let mut order = Vec::new();
    let mut inside: Option<u64> = None;
    for line in text.lines() {
        let parts: Vec<&str> = line.split_whitespace().collect();
        let n: u64 = parts[1].parse().unwrap();
        match parts[0] {
            "start" => {
                assert_eq!(
                    inside, None,
                    "#{n} entered while another held the lock:\n{text}"
                );
                inside = Some(n);
                order.push(n);
            }
            "end" => {
                assert_eq!(inside, Some(n), "{text}");
                inside = None;
            }
            other => panic!("{other}"),
        }
    }
    order
}

fn builds_started_together_never_overlap_and_go_in_order_across_99_100(provider: Provider) {
    let w = world(provider, "lock-order");
    w.queue().set_next_number(97);
    let builds: Vec<Build> = (0..5).map(|_| w.queue().main(50)).collect();
    let runs = run_all(&w, &builds, &[], 120);
    for run in &runs {
        run.code(0);
    }
    assert_eq!(entries(&w), [97, 98, 99, 100, 101]);
    // The last one waited, saying behind whom, with a link and how long it has run.
    let last = runs.last().unwrap();
    last.stdout_has("Waiting behind #100 (running for")
        .stdout_has("Lock held by #101");
    match provider {
        Provider::CircleCi => last.stdout_has("/pipelines/github/acme/shop/100/workflows/"),
        Provider::GitHub => last
            .stdout_has("https://github.com/acme/shop/actions/runs/")
            .stdout_has("(deploy.yml, GitHub Actions)"),
    };
}

fn build_1000_waits_for_999(provider: Provider) {
    let w = world(provider, "lock-1000");
    w.queue().set_next_number(998);
    let builds: Vec<Build> = (0..3).map(|_| w.queue().main(30)).collect();
    let runs = run_all(&w, &builds, &[], 100);
    assert!(runs.iter().all(|r| r.code == 0), "{runs:?}");
    assert_eq!(entries(&w), [998, 999, 1000]);
}

fn latest_mode_skips_the_middle_builds_and_runs_the_newest(provider: Provider) {
    let w = world(provider, "lock-latest");
    let first = w.queue().main(0);
    // The first build takes the lock and deploys for a while; four more arrive meanwhile. The
    // gap leaves a loaded machine time to start the first build's process before the others
    // run (a newer build that is already running would rightly make it skip too).
    let mut all = vec![first];
    all.extend((0..4).map(|i| w.queue().main(1500 + 10 * i)));
    let runs = run_all(&w, &all, &["--mode", "latest"], 2500);
    assert!(runs.iter().all(|r| r.code == 0), "{runs:?}");
    assert_eq!(entries(&w), [1, 5]);
    for run in &runs[1..4] {
        run.stdout_has("is superseded by #");
        if provider == Provider::CircleCi {
            run.stdout_has("Skipped: #");
        }
    }
    let skipped = runs[2].state();
    assert_eq!(skipped["lock"]["verdict"], "skipped");
    match provider {
        Provider::CircleCi => {
            assert_eq!(runs[2].step("lock")["outcome"], "skipped");
            assert!(skipped["lock"]["superseded_by"]["number"].as_u64().unwrap() > 3);
        }
        Provider::GitHub => assert_eq!(skipped["lock"]["provider"], "github"),
    }
    runs[4].stdout_lacks("Skipped");
}

fn latest_mode_does_not_skip_for_a_newer_build_still_testing(provider: Provider) {
    let w = world(provider, "lock-blocked-newer");
    // #2 late enough for a loaded machine to have started #1 (a newer build already running
    // would rightly make #1 skip), early enough to find #1 holding the lock; #3 still testing
    // long after #2 reaches the lock: it must not make #2 skip.
    let builds = [
        w.queue().main(0),
        w.queue().main(1500),
        w.queue().main(5000),
    ];
    let runs = run_all(&w, &builds, &["--mode", "latest"], 1500);
    assert!(runs.iter().all(|r| r.code == 0), "{runs:?}");
    assert_eq!(entries(&w), [1, 2, 3]);
    runs[1]
        .stdout_lacks("Skipped")
        .stdout_has("Waiting behind #1");
}

fn an_on_hold_predecessor_blocks_only_with_include_on_hold(provider: Provider) {
    let w = world(provider, "lock-on-hold");
    let queue = w.queue();
    let held = queue.start_build(Spec::branch("main", Duration::ZERO).with_approval());
    let mine = queue.main(0);
    queue.at_lock(&mine);
    let on_hold = match provider {
        Provider::CircleCi => "blocked",
        Provider::GitHub => "waiting",
    };
    assert_eq!(queue.lock_status(&held), on_hold);
    let started = Instant::now();
    let run = lock_cmd(&w, &mine, &[], 10);
    run.code(0).stdout_lacks("Waiting");
    if provider == Provider::CircleCi {
        assert!(started.elapsed() < Duration::from_secs(5), "{run:?}");
    }

    let run = lock_cmd(&w, &mine, &["--include-on-hold", "--timeout", "300ms"], 10);
    run.code(1)
        .stdout_has("Waiting behind #1 (on hold for a manual approval");
    if provider == Provider::CircleCi {
        run.stderr_has("timed out after 300ms");
    }

    if provider == Provider::GitHub {
        // Once approved, its deploy runs and blocks like any other.
        let Build::GitHub(held_run) = &held else {
            unreachable!()
        };
        queue.github().approve(held_run);
        queue.at_lock(&held);
        lock_cmd(&w, &mine, &["--timeout", "200ms"], 10)
            .code(1)
            .stdout_has("Waiting behind #1 (running for");
    }
}

fn every_page_is_read_to_find_a_predecessor_many_builds_back(provider: Provider) {
    let w = World::without_git("lock-pages").with_queue(Queue::paged(provider, 3));
    let queue = w.queue();
    let holder = queue.main(0);
    queue.at_lock(&holder);
    // Eleven builds whose tests fail: finished, never at the lock.
    let failed: Vec<Build> = (0..11)
        .map(|_| queue.start_build(Spec::branch("main", Duration::ZERO).failing()))
        .collect();
    // Builds of another branch are not in the queue.
    queue.start_build(Spec::branch("feature/x", Duration::ZERO));
    let mine = queue.main(0);
    queue.at_lock(&mine);
    let never = match provider {
        Provider::CircleCi => "not_run",
        Provider::GitHub => "never",
    };
    assert_eq!(queue.lock_status(failed.last().unwrap()), never);
    let mut waiting = w.in_build(&mine, lock_args(&w, &mine, &[], 10)).start();
    assert!(waiting.wait_for("Waiting behind #1", Duration::from_secs(20)));
    queue.finish(&holder, true);
    waiting
        .finish()
        .code(0)
        .stdout_has("Waiting behind #1 (running for");
    let paged = queue.later_pages_read();
    assert!(paged >= 4, "builds read page by page: {paged}");
}

fn a_tag_build_needs_branch(provider: Provider) {
    let w = world(provider, "lock-tag");
    let queue = w.queue();
    let main = queue.main(0);
    let tag = queue.start_build(Spec::tag("v1.2.0", Duration::ZERO));
    queue.at_lock(&main);
    queue.at_lock(&tag);
    let run = w.in_build(&tag, ["lock"]).run();
    run.code(2).stderr_has("tag build").stderr_has("--branch");
    if provider == Provider::CircleCi {
        run.stderr_has("tag build (CIRCLE_TAG=v1.2.0)");
    }

    // With --branch it queues behind that branch's earlier builds.
    w.in_build(
        &tag,
        [
            "lock",
            "--branch",
            "main",
            "--poll",
            POLL,
            "--timeout",
            "200ms",
        ],
    )
    .run()
    .code(1)
    .stdout_has("Waiting behind #1");
}

fn timeout_fails_or_proceeds_as_told(provider: Provider) {
    let w = world(provider, "lock-timeout");
    let queue = w.queue();
    let holder = queue.main(0);
    let mine = queue.main(0);
    queue.at_lock(&mine);
    queue.at_lock(&holder);

    let run = lock_cmd(&w, &mine, &["--timeout", "250ms"], 10);
    run.code(1).stderr_has("timed out after 250ms");
    assert!(entries(&w).is_empty(), "the command must not run");
    if provider == Provider::CircleCi {
        run.stderr_has("--on-timeout fail");
        assert_eq!(run.step("lock")["outcome"], "failed");
        assert_eq!(run.state()["lock"]["verdict"], "timed-out");
    }

    lock_cmd(
        &w,
        &mine,
        &["--timeout", "250ms", "--on-timeout", "proceed"],
        10,
    )
    .code(0)
    .stdout_has("--on-timeout proceed");
    assert_eq!(entries(&w), [2]);
}

fn a_stale_predecessor_is_reported_and_ignored(provider: Provider) {
    let w = world(provider, "lock-stale");
    let queue = w.queue();
    let ghost = queue.start_build(
        Spec::branch("main", Duration::ZERO).stuck_running(Duration::from_secs(3 * 3600)),
    );
    let mine = queue.main(0);
    queue.at_lock(&mine);
    if provider == Provider::CircleCi {
        assert_eq!(queue.lock_status(&ghost), "running");
    }
    // Without --stale-after the ghost blocks.
    lock_cmd(&w, &mine, &["--timeout", "300ms"], 10)
        .code(1)
        .stdout_has("running for 3h00m");

    let run = lock_cmd(&w, &mine, &["--stale-after", "2h"], 10);
    run.code(0)
        .stdout_has("Ignoring #1: its job has been running for 3h00m");
    if provider == Provider::CircleCi {
        run.stdout_has(
            "Ignoring #1: its job has been running for 3h00m, longer than --stale-after 2h00m",
        );
        assert_eq!(run.state()["lock"]["stale_ignored"][0], 1);
    }
}

fn a_waiting_build_polls_one_job_between_full_reads(provider: Provider) {
    let w = world(provider, "lock-frugal");
    let queue = w.queue();
    let holder = queue.main(0);
    let mine = queue.main(0);
    queue.at_lock(&holder);
    queue.at_lock(&mine);
    let run = lock_cmd(&w, &mine, &["--timeout", "400ms"], 10);
    run.code(1);
    let polls = run.stdout.matches("Waiting behind #1").count();
    assert!(polls >= 5, "{run:?}");
    // Own build, one full read, then one job list per poll, and a full read every 12 polls. A
    // full read is, on CircleCI, the pipelines, 2 workflow lists and 1 job list; on GitHub,
    // the runs and 1 job list.
    let per_full_read = match provider {
        Provider::CircleCi => 4,
        Provider::GitHub => 2,
    };
    let requests = queue.request_count(&mine);
    let full_reads = 1 + polls / 12;
    assert!(
        requests <= 1 + per_full_read * full_reads + polls,
        "{requests} requests for {polls} polls"
    );
}

// CircleCI only.

#[test]
fn circleci_a_persistent_api_failure_fails_closed() {
    let w = world(Provider::CircleCi, "lock-fail-closed");
    let mine = w.queue().main(0);
    w.queue().at_lock(&mine);
    w.queue()
        .circleci()
        .fail(circleci::Failure::always("/project/", 503));
    let started = Instant::now();
    lock_cmd(
        &w,
        &mine,
        &["--timeout", "2s", "--on-timeout", "proceed"],
        10,
    )
    .code(1)
    .stderr_has("answered 503")
    .stderr_has("fails closed");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(entries(&w).is_empty(), "nothing may run on a guess");
}

#[test]
fn circleci_rate_limits_are_waited_out() {
    let w = world(Provider::CircleCi, "lock-429");
    let mine = w.queue().main(0);
    w.queue().at_lock(&mine);
    w.queue()
        .circleci()
        .fail(circleci::Failure::new("/pipeline/", 429, 1));
    lock_cmd(&w, &mine, &[], 10)
        .code(0)
        .stdout_has("answered 429; retrying in");
}

#[test]
fn circleci_a_looping_page_token_fails_closed() {
    let w = World::without_git("lock-loop").with_queue(Queue::paged(Provider::CircleCi, 2));
    let queue = w.queue();
    for _ in 0..6 {
        queue.start_build(Spec::branch("main", Duration::ZERO).failing());
    }
    let mine = queue.main(0);
    queue.at_lock(&mine);
    queue.circleci().loop_page_tokens(true);
    lock_cmd(&w, &mine, &[], 10)
        .code(1)
        .stderr_has("same page token twice");
}

#[test]
fn circleci_project_tokens_are_explained_and_tokens_never_printed() {
    let w = world(Provider::CircleCi, "lock-token");
    let mine = w.queue().main(0);
    w.queue().at_lock(&mine);
    let project_token = w.queue().circleci().project_token();
    w.in_build_with_token(&mine, &project_token, ["lock"])
        .run()
        .code(1)
        .stderr_has("project API tokens do not work with CircleCI API v2")
        .log_lacks(&project_token);
    w.in_build_with_token(&mine, "", ["lock"])
        .run()
        .code(2)
        .stderr_has("CIRCLE_TOKEN is not set");
}

#[test]
fn circleci_the_command_form_exits_with_the_commands_code_and_skips_it_when_superseded() {
    let w = world(Provider::CircleCi, "lock-cmd");
    let mine = w.queue().main(0);
    w.queue().at_lock(&mine);
    w.in_build(&mine, ["lock", "--", "sh", "-c", "echo deploying; exit 3"])
        .run()
        .code(3)
        .stdout_has("Running with the lock held: sh -c")
        .stdout_has("deploying");

    let newer = w.queue().main(0);
    w.queue().at_lock(&newer);
    let marker = w.path().join("ran");
    let touch = format!("touch {}", marker.display());
    w.in_build(
        &mine,
        [
            "lock", "--mode", "latest", "--poll", POLL, "--", "sh", "-c", &touch,
        ],
    )
    .run()
    .code(0)
    .stdout_has("Skipped: #1 is superseded by #2");
    assert!(!marker.exists(), "a skipped lock must not run the command");
}

#[test]
fn circleci_the_state_file_form_makes_later_steps_skip() {
    let w = world(Provider::CircleCi, "lock-state");
    let mine = w.queue().main(0);
    let newer = w.queue().main(0);
    w.queue().at_lock(&mine);
    w.queue().at_lock(&newer);
    the_state_file_form_makes_later_steps_skip(&w, &mine, &newer);
}

/// `#1` runs `lock --mode latest` without a command while `#2` is at the lock: it skips, and
/// so does its deploy, reading the state file; once `#1` ends, `#2` takes the lock.
fn the_state_file_form_makes_later_steps_skip(w: &World, mine: &Build, newer: &Build) {
    let latest = ["lock", "--mode", "latest", "--poll", POLL];
    w.in_build(mine, latest)
        .run()
        .code(0)
        .stdout_has("Skipped: #1 is superseded by #2");
    w.in_build(mine, ["deploy", "--app", "demo-app"])
        .run()
        .code(0)
        .stdout_has("Skipped: the lock step skipped this run: #1 is superseded by #2");
    // The skipped build's job ends; the newest build holds the lock and records it.
    w.queue().finish(mine, true);
    let run = w.in_build(newer, latest).run();
    run.code(0);
    assert_eq!(run.step("lock")["outcome"], "done");
    let recorded = run.state();
    assert_eq!(recorded["lock"]["verdict"], "proceed");
    assert_eq!(recorded["lock"]["build"]["number"], 2);
}

#[test]
fn circleci_a_pipeline_still_setting_up_counts_and_the_circleci_slug_form_works() {
    let circle = CircleCi::start_with(circleci::Config {
        project:
            "circleci/6b3f2a1e-0c1d-4e5f-8a9b-0c1d2e3f4a5b/2e4c6a8b-1d3f-4a5c-9e7b-3d5f7a9c1e2b"
                .into(),
        ..circleci::Config::default()
    })
    .unwrap();
    circle
        .start_build(BuildSpec::branch("main", Duration::ZERO).with_setup(Duration::from_secs(30)));
    let w = World::without_git("lock-setup").with_queue(Queue::CircleCi(circle));
    let mine = w.queue().main(0);
    w.queue().at_lock(&mine);
    lock_cmd(&w, &mine, &["--timeout", "200ms"], 10)
        .code(1)
        .stdout_has("Waiting behind #1 (still setting up its configuration")
        .stdout_has("/pipelines/circleci/6b3f2a1e");
}

// GitHub Actions only.

#[test]
fn github_a_persistent_api_failure_fails_closed_and_rate_limits_are_waited_out() {
    let w = world(Provider::GitHub, "ghlock-fail");
    let mine = w.queue().main(0);
    w.queue().at_lock(&mine);
    let github = w.queue().github();
    github.fail_next("/repos/acme/shop/actions/workflows/", 429, 1);
    lock_cmd(&w, &mine, &[], 10)
        .code(0)
        .stdout_has("answered 429; retrying in");

    github.fail_next("/repos/acme/shop/actions/workflows/", 502, usize::MAX);
    let started = Instant::now();
    lock_cmd(
        &w,
        &mine,
        &["--timeout", "2s", "--on-timeout", "proceed"],
        10,
    )
    .code(1)
    .stderr_has("answered 502");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(entries(&w), [1], "nothing may run on a guess");
}

#[test]
fn github_a_token_without_actions_read_is_explained() {
    let w = world(Provider::GitHub, "ghlock-token");
    let mine = w.queue().main(0);
    w.queue().at_lock(&mine);
    let token = w.queue().github().issue_token_without_actions("weak");
    let run = w.in_build_with_token(&mine, &token, ["lock"]).run();
    run.code(1)
        .stderr_has("answered 403")
        .stderr_has("actions: read");
    // Only the mask registration GitHub Actions needs carries it.
    let log = run.log();
    let shown: Vec<&str> = log
        .lines()
        .filter(|l| !l.starts_with("::add-mask::"))
        .collect();
    assert!(!shown.join("\n").contains(&token), "{run:?}");
    w.in_build_with_token(&mine, "", ["lock"])
        .run()
        .code(2)
        .stderr_has("GITHUB_TOKEN is not set");
}

#[test]
fn github_the_command_and_state_file_forms() {
    let w = world(Provider::GitHub, "ghlock-forms");
    let queue = w.queue();
    let mine = queue.main(0);
    queue.at_lock(&mine);
    w.in_build(&mine, ["lock", "--", "sh", "-c", "echo deploying; exit 3"])
        .run()
        .code(3)
        .stdout_has("deploying");

    let newer = queue.main(0);
    queue.at_lock(&newer);
    the_state_file_form_makes_later_steps_skip(&w, &mine, &newer);
}

#[test]
fn github_a_rerun_is_placed_by_its_start() {
    let w = world(Provider::GitHub, "ghlock-rerun");
    let queue = w.queue();
    let old = queue.main(0);
    queue.at_lock(&old);
    queue.finish(&old, false);
    let holder = queue.main(0);
    queue.at_lock(&holder);
    // #1 is re-run after #2 was created: it queues behind #2.
    std::thread::sleep(Duration::from_millis(1100));
    let Build::GitHub(old_run) = &old else {
        unreachable!()
    };
    queue.github().rerun(old_run);
    queue.at_lock(&old);
    lock_cmd(&w, &old, &["--timeout", "300ms"], 10)
        .code(1)
        .stdout_has("Waiting behind #2");
}

#[test]
fn github_a_used_up_rate_limit_is_waited_out_and_a_low_one_slows_down() {
    let w = world(Provider::GitHub, "ghlock-ratelimit");
    let mine = w.queue().main(0);
    w.queue().at_lock(&mine);
    let github = w.queue().github();
    // The primary limit is used up (403, nothing remaining) and resets in two seconds.
    github.set_rate_limit_reset_in(2);
    github.fail_next("/repos/acme/shop/actions/", 403, 1);
    lock_cmd(&w, &mine, &[], 10)
        .code(0)
        .stdout_has("answered 403; retrying in");
    assert_eq!(entries(&w), [1]);

    // Few requests left: they are spread over the time until the reset.
    github.set_rate_limit_remaining(10);
    github.set_rate_limit_reset_in(1);
    lock_cmd(&w, &mine, &[], 10)
        .code(0)
        .log_has("rate limit nearly used up");
}

#[test]
fn github_latest_mode_looks_at_every_newer_run_before_taking_the_lock() {
    let w = world(Provider::GitHub, "ghlock-latest-all");
    let queue = w.queue();
    let holder = queue.main(0);
    queue.at_lock(&holder);
    let mine = queue.main(0);
    queue.at_lock(&mine);
    // #3 is still testing; #4, with faster tests, is already at the lock.
    let testing = queue.main(5000);
    let newest = queue.main(0);
    queue.at_lock(&newest);
    let mut waiting = w
        .in_build(&mine, lock_args(&w, &mine, &["--mode", "latest"], 10))
        .start();
    assert!(waiting.wait_for("Waiting behind #1", Duration::from_secs(20)));
    queue.finish(&holder, true);
    let run = waiting.finish();
    run.code(0).stdout_has("Skipped: #2 is superseded by #4");
    assert!(entries(&w).is_empty(), "{run:?}");
    assert_eq!(queue.lock_status(&testing), "not created");
}
