//! `shipline lock` on GitHub Actions through the real binary: concurrent runs of the sandbox's
//! simulation, each running `shipline lock` inside its deploy job as GitHub Actions would.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{shipline, Background, Run, TempDir};
use serde_json::Value;
use shipline_sandbox::github::{GitHub, RunRef, RunSpec};

const POLL: &str = "40ms";

struct World {
    gh: GitHub,
    dir: TempDir,
    log: PathBuf,
}

impl World {
    fn new(name: &str) -> World {
        let dir = TempDir::new(name);
        let log = dir.path.join("lock.log");
        World {
            gh: GitHub::start(),
            dir,
            log,
        }
    }

    fn main(&self, tests_ms: u64) -> RunRef {
        self.gh
            .start_run(RunSpec::branch("main", Duration::from_millis(tests_ms)))
    }

    fn cwd(&self, run: &RunRef) -> PathBuf {
        let cwd = self.dir.path.join(format!("run-{}", run.number));
        std::fs::create_dir_all(&cwd).unwrap();
        cwd
    }

    fn run_with(&self, run: &RunRef, token: &str, args: &[&str]) -> Run {
        let env = self.gh.job_env(run, token);
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        shipline(&self.cwd(run), args, &env)
    }

    fn run(&self, run: &RunRef, args: &[&str]) -> Run {
        let token = self.gh.issue_token(&format!("run-{}", run.number));
        self.run_with(run, &token, args)
    }

    /// `lock <args> -- sh -c '<record start, sleep, record end>'`.
    fn lock_args(&self, run: &RunRef, args: &[&str], hold_ms: u64) -> Vec<String> {
        let script = format!(
            "echo \"start $0\" >> \"$1\"; sleep {}; echo \"end $0\" >> \"$1\"",
            hold_ms as f64 / 1000.0
        );
        let mut all = vec!["lock".to_string(), "--poll".into(), POLL.into()];
        all.extend(args.iter().map(|a| a.to_string()));
        all.extend([
            "--".into(),
            "sh".into(),
            "-c".into(),
            script,
            run.number.to_string(),
            self.log.to_string_lossy().into_owned(),
        ]);
        all
    }

    fn lock_cmd(&self, run: &RunRef, args: &[&str], hold_ms: u64) -> Run {
        let all = self.lock_args(run, args, hold_ms);
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        self.run(run, &all)
    }

    /// The same, in the background, to wait for what it says.
    fn lock_in_background(&self, run: &RunRef, args: &[&str], hold_ms: u64) -> Background {
        let all = self.lock_args(run, args, hold_ms);
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        let token = self.gh.issue_token(&format!("run-{}", run.number));
        let env = self.gh.job_env(run, &token);
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        Background::start(&self.cwd(run), &all, &env)
    }

    fn run_all(&self, runs: &[RunRef], args: &[&str], hold_ms: u64) -> Vec<Run> {
        std::thread::scope(|s| {
            let handles: Vec<_> = runs
                .iter()
                .map(|r| {
                    s.spawn(move || {
                        assert!(
                            self.gh.wait_at_lock(r, Duration::from_secs(30)),
                            "run {} never reached the lock",
                            r.number
                        );
                        let run = self.lock_cmd(r, args, hold_ms);
                        self.gh.finish_run(r, run.code == 0);
                        run
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        })
    }

    fn entries(&self) -> Vec<u64> {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
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
}

fn state(dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join(".shipline/state.json")).unwrap())
        .unwrap()
}

#[test]
fn runs_started_together_never_overlap_and_go_in_order_across_99_100() {
    let w = World::new("ghlock-order");
    w.gh.set_next_run_number(97);
    let runs: Vec<RunRef> = (0..5).map(|_| w.main(50)).collect();
    let out = w.run_all(&runs, &[], 120);
    for run in &out {
        assert_eq!(run.code, 0, "{run:?}");
    }
    assert_eq!(w.entries(), [97, 98, 99, 100, 101]);
    let last = out.last().unwrap();
    assert!(
        last.stdout.contains("Waiting behind #100 (running for"),
        "{last:?}"
    );
    assert!(
        last.stdout
            .contains("https://github.com/acme/shop/actions/runs/"),
        "{last:?}"
    );
    assert!(
        last.stdout.contains("(deploy.yml, GitHub Actions)"),
        "{last:?}"
    );
    assert!(last.stdout.contains("Lock held by #101"), "{last:?}");
}

#[test]
fn run_1000_waits_for_999() {
    let w = World::new("ghlock-1000");
    w.gh.set_next_run_number(998);
    let runs: Vec<RunRef> = (0..3).map(|_| w.main(30)).collect();
    let out = w.run_all(&runs, &[], 100);
    assert!(out.iter().all(|r| r.code == 0), "{out:?}");
    assert_eq!(w.entries(), [998, 999, 1000]);
}

#[test]
fn latest_mode_skips_the_middle_runs_and_runs_the_newest() {
    let w = World::new("ghlock-latest");
    let mut all = vec![w.main(0)];
    all.extend((0..4).map(|i| w.main(150 + 10 * i)));
    let out = w.run_all(&all, &["--mode", "latest"], 600);
    assert!(out.iter().all(|r| r.code == 0), "{out:?}");
    assert_eq!(w.entries(), [1, 5]);
    for run in &out[1..4] {
        assert!(run.stdout.contains("is superseded by #"), "{run:?}");
    }
    let skipped = state(&w.cwd(&all[2]));
    assert_eq!(skipped["lock"]["verdict"], "skipped");
    assert_eq!(skipped["lock"]["provider"], "github");
    assert!(!out[4].stdout.contains("Skipped"), "{:?}", out[4]);
}

#[test]
fn latest_mode_does_not_skip_for_a_newer_run_still_testing() {
    let w = World::new("ghlock-blocked-newer");
    // #2 late enough for a loaded machine to have started #1, and #3 still testing while #2
    // waits behind #1 (see the CircleCI twin of this test).
    let runs = [w.main(0), w.main(1500), w.main(5000)];
    let out = w.run_all(&runs, &["--mode", "latest"], 1500);
    assert!(out.iter().all(|r| r.code == 0), "{out:?}");
    assert_eq!(w.entries(), [1, 2, 3]);
    assert!(!out[1].stdout.contains("Skipped"), "{:?}", out[1]);
    assert!(out[1].stdout.contains("Waiting behind #1"), "{:?}", out[1]);
}

#[test]
fn a_run_waiting_for_an_environment_approval_blocks_only_with_include_on_hold() {
    let w = World::new("ghlock-waiting");
    let held =
        w.gh.start_run(RunSpec::branch("main", Duration::ZERO).with_approval());
    let mine = w.main(0);
    assert!(w.gh.wait_at_lock(&mine, Duration::from_secs(5)));
    assert_eq!(w.gh.lock_job_status(&held), "waiting");
    let run = w.lock_cmd(&mine, &[], 10);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(!run.stdout.contains("Waiting"), "{run:?}");

    let run = w.lock_cmd(&mine, &["--include-on-hold", "--timeout", "300ms"], 10);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stdout
            .contains("Waiting behind #1 (on hold for a manual approval"),
        "{run:?}"
    );
    // Once approved, its deploy runs and blocks like any other.
    w.gh.approve(&held);
    assert!(w.gh.wait_at_lock(&held, Duration::from_secs(5)));
    let run = w.lock_cmd(&mine, &["--timeout", "200ms"], 10);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stdout.contains("Waiting behind #1 (running for"),
        "{run:?}"
    );
}

#[test]
fn every_link_page_is_read_to_find_a_predecessor_many_runs_back() {
    let w = World::new("ghlock-pages");
    w.gh.set_runs_page_cap(3);
    let holder = w.main(0);
    assert!(w.gh.wait_at_lock(&holder, Duration::from_secs(5)));
    let failed: Vec<RunRef> = (0..11)
        .map(|_| {
            w.gh.start_run(RunSpec::branch("main", Duration::ZERO).failing())
        })
        .collect();
    w.gh.start_run(RunSpec::branch("feature/x", Duration::ZERO));
    let mine = w.main(0);
    assert!(w.gh.wait_at_lock(&mine, Duration::from_secs(5)));
    assert_eq!(w.gh.lock_job_status(failed.last().unwrap()), "never");
    let mut waiting = w.lock_in_background(&mine, &[], 10);
    assert!(waiting.wait_for("Waiting behind #1", Duration::from_secs(20)));
    w.gh.finish_run(&holder, true);
    let run = waiting.finish();
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.contains("Waiting behind #1 (running for"),
        "{run:?}"
    );
    let paged =
        w.gh.requests()
            .iter()
            .filter(|r| r.path.ends_with("/runs") && r.query_param("page").is_some())
            .count();
    assert!(paged >= 4, "runs read page by page: {paged}");
}

#[test]
fn a_tag_run_needs_branch() {
    let w = World::new("ghlock-tag");
    let main = w.main(0);
    let tag = w.gh.start_run(RunSpec::tag("v1.2.0", Duration::ZERO));
    assert!(w.gh.wait_at_lock(&main, Duration::from_secs(5)));
    assert!(w.gh.wait_at_lock(&tag, Duration::from_secs(5)));
    let run = w.run(&tag, &["lock"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("tag build"), "{run:?}");
    assert!(run.stderr.contains("--branch"), "{run:?}");
    let run = w.run(
        &tag,
        &[
            "lock",
            "--branch",
            "main",
            "--poll",
            POLL,
            "--timeout",
            "200ms",
        ],
    );
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stdout.contains("Waiting behind #1"), "{run:?}");
}

#[test]
fn timeout_fails_or_proceeds_as_told() {
    let w = World::new("ghlock-timeout");
    let holder = w.main(0);
    let mine = w.main(0);
    assert!(w.gh.wait_at_lock(&mine, Duration::from_secs(5)));
    assert!(w.gh.wait_at_lock(&holder, Duration::from_secs(5)));
    let run = w.lock_cmd(&mine, &["--timeout", "250ms"], 10);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("timed out after 250ms"), "{run:?}");
    assert!(w.entries().is_empty(), "the command must not run");
    let run = w.lock_cmd(
        &mine,
        &["--timeout", "250ms", "--on-timeout", "proceed"],
        10,
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("--on-timeout proceed"), "{run:?}");
    assert_eq!(w.entries(), [2]);
}

#[test]
fn a_stale_predecessor_is_reported_and_ignored() {
    let w = World::new("ghlock-stale");
    w.gh.start_run(
        RunSpec::branch("main", Duration::ZERO).stuck_running(Duration::from_secs(3 * 3600)),
    );
    let mine = w.main(0);
    assert!(w.gh.wait_at_lock(&mine, Duration::from_secs(5)));
    let run = w.lock_cmd(&mine, &["--timeout", "300ms"], 10);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stdout.contains("running for 3h00m"), "{run:?}");
    let run = w.lock_cmd(&mine, &["--stale-after", "2h"], 10);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout
            .contains("Ignoring #1: its job has been running for 3h00m"),
        "{run:?}"
    );
}

#[test]
fn a_persistent_api_failure_fails_closed_and_rate_limits_are_waited_out() {
    let w = World::new("ghlock-fail");
    let mine = w.main(0);
    assert!(w.gh.wait_at_lock(&mine, Duration::from_secs(5)));
    w.gh.fail_next("/repos/acme/shop/actions/workflows/", 429, 1);
    let run = w.lock_cmd(&mine, &[], 10);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("answered 429; retrying in"), "{run:?}");

    w.gh.fail_next("/repos/acme/shop/actions/workflows/", 502, usize::MAX);
    let started = Instant::now();
    let run = w.lock_cmd(&mine, &["--timeout", "2s", "--on-timeout", "proceed"], 10);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(run.stderr.contains("answered 502"), "{run:?}");
    assert_eq!(w.entries(), [1], "nothing may run on a guess");
}

#[test]
fn a_token_without_actions_read_is_explained() {
    let w = World::new("ghlock-token");
    let mine = w.main(0);
    assert!(w.gh.wait_at_lock(&mine, Duration::from_secs(5)));
    let token = w.gh.issue_token_without_actions("weak");
    let run = w.run_with(&mine, &token, &["lock"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("answered 403"), "{run:?}");
    assert!(run.stderr.contains("actions: read"), "{run:?}");
    // Only the mask registration GitHub Actions needs carries it.
    let log = run.log();
    let shown: Vec<&str> = log
        .lines()
        .filter(|l| !l.starts_with("::add-mask::"))
        .collect();
    assert!(!shown.join("\n").contains(&token), "{run:?}");
    let run = w.run_with(&mine, "", &["lock"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("GITHUB_TOKEN is not set"), "{run:?}");
}

#[test]
fn the_command_and_state_file_forms() {
    let w = World::new("ghlock-forms");
    let mine = w.main(0);
    assert!(w.gh.wait_at_lock(&mine, Duration::from_secs(5)));
    let run = w.run(&mine, &["lock", "--", "sh", "-c", "echo deploying; exit 3"]);
    assert_eq!(run.code, 3, "{run:?}");
    assert!(run.stdout.contains("deploying"), "{run:?}");

    let newer = w.main(0);
    assert!(w.gh.wait_at_lock(&newer, Duration::from_secs(5)));
    let run = w.run(&mine, &["lock", "--mode", "latest", "--poll", POLL]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.contains("Skipped: #1 is superseded by #2"),
        "{run:?}"
    );
    let deploy = w.run(&mine, &["deploy", "--app", "demo-app"]);
    assert_eq!(deploy.code, 0, "{deploy:?}");
    assert!(
        deploy
            .stdout
            .contains("Skipped: the lock step skipped this run"),
        "{deploy:?}"
    );
    w.gh.finish_run(&mine, true);
    let run = w.run(&newer, &["lock", "--mode", "latest", "--poll", POLL]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(state(&w.cwd(&newer))["lock"]["verdict"], "proceed");
}

#[test]
fn a_rerun_is_placed_by_its_start() {
    let w = World::new("ghlock-rerun");
    let old = w.main(0);
    assert!(w.gh.wait_at_lock(&old, Duration::from_secs(5)));
    w.gh.finish_run(&old, false);
    let holder = w.main(0);
    assert!(w.gh.wait_at_lock(&holder, Duration::from_secs(5)));
    // #1 is re-run after #2 was created: it queues behind #2.
    std::thread::sleep(Duration::from_millis(1100));
    w.gh.rerun(&old);
    assert!(w.gh.wait_at_lock(&old, Duration::from_secs(5)));
    let run = w.lock_cmd(&old, &["--timeout", "300ms"], 10);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stdout.contains("Waiting behind #2"), "{run:?}");
}

#[test]
fn a_waiting_run_polls_one_run_between_full_reads() {
    let w = World::new("ghlock-frugal");
    let holder = w.main(0);
    let mine = w.main(0);
    assert!(w.gh.wait_at_lock(&holder, Duration::from_secs(5)));
    assert!(w.gh.wait_at_lock(&mine, Duration::from_secs(5)));
    let run = w.lock_cmd(&mine, &["--timeout", "400ms"], 10);
    assert_eq!(run.code, 1, "{run:?}");
    let polls = run.stdout.matches("Waiting behind #1").count();
    assert!(polls >= 5, "{run:?}");
    // Own run, one full read (runs, 1 job list), then one job list per poll, and a full read
    // every 12 polls.
    let requests = w.gh.request_count("run-2");
    let full_reads = 1 + polls / 12;
    assert!(
        requests <= 1 + 2 * full_reads + polls,
        "{requests} requests for {polls} polls"
    );
}

#[test]
fn a_used_up_rate_limit_is_waited_out_and_a_low_one_slows_down() {
    let w = World::new("ghlock-ratelimit");
    let mine = w.main(0);
    assert!(w.gh.wait_at_lock(&mine, Duration::from_secs(5)));
    // The primary limit is used up (403, nothing remaining) and resets in two seconds.
    w.gh.set_rate_limit_reset_in(2);
    w.gh.fail_next("/repos/acme/shop/actions/", 403, 1);
    let run = w.lock_cmd(&mine, &[], 10);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("answered 403; retrying in"), "{run:?}");
    assert_eq!(w.entries(), [1]);

    // Few requests left: they are spread over the time until the reset.
    w.gh.set_rate_limit_remaining(10);
    w.gh.set_rate_limit_reset_in(1);
    let run = w.lock_cmd(&mine, &[], 10);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.log().contains("rate limit nearly used up"), "{run:?}");
}

#[test]
fn latest_mode_looks_at_every_newer_run_before_taking_the_lock() {
    let w = World::new("ghlock-latest-all");
    let holder = w.main(0);
    assert!(w.gh.wait_at_lock(&holder, Duration::from_secs(5)));
    let mine = w.main(0);
    assert!(w.gh.wait_at_lock(&mine, Duration::from_secs(5)));
    // #3 is still testing; #4, with faster tests, is already at the lock.
    let testing = w.main(5000);
    let newest = w.main(0);
    assert!(w.gh.wait_at_lock(&newest, Duration::from_secs(5)));
    let mut waiting = w.lock_in_background(&mine, &["--mode", "latest"], 10);
    assert!(waiting.wait_for("Waiting behind #1", Duration::from_secs(20)));
    w.gh.finish_run(&holder, true);
    let run = waiting.finish();
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.contains("Skipped: #2 is superseded by #4"),
        "{run:?}"
    );
    assert!(w.entries().is_empty(), "{run:?}");
    assert_eq!(w.gh.lock_job_status(&testing), "not created");
}
