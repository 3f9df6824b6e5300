//! `shipline lock` on CircleCI through the real binary: concurrent builds of the sandbox's
//! simulation, each running `shipline lock` inside its deploy job as CircleCI would.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{shipline, step_record, Background, Run, TempDir};
use serde_json::Value;
use shipline_sandbox::circleci::{BuildRef, BuildSpec, CircleCi, Config, Failure};

const POLL: &str = "40ms";

struct World {
    circle: CircleCi,
    dir: TempDir,
    /// Where the commands run under the lock write `start N` / `end N` lines.
    log: PathBuf,
}

impl World {
    fn new(name: &str) -> World {
        World::with(name, Config::default())
    }

    fn with(name: &str, config: Config) -> World {
        let dir = TempDir::new(name);
        let log = dir.path.join("lock.log");
        World {
            circle: CircleCi::start_with(config).unwrap(),
            dir,
            log,
        }
    }

    fn start(&self, spec: BuildSpec) -> BuildRef {
        self.circle.start_build(spec)
    }

    fn main(&self, tests_ms: u64) -> BuildRef {
        self.start(BuildSpec::branch("main", Duration::from_millis(tests_ms)))
    }

    /// The build's working directory (its own state file).
    fn cwd(&self, build: &BuildRef) -> PathBuf {
        let cwd = self.dir.path.join(format!("build-{}", build.number));
        std::fs::create_dir_all(&cwd).unwrap();
        cwd
    }

    /// Runs `shipline <args>` inside the build's deploy job.
    fn run(&self, build: &BuildRef, args: &[&str], extra: &[(&str, &str)]) -> Run {
        let env = self.env_of(build);
        let mut env: Vec<(&str, &str)> =
            env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        env.extend_from_slice(extra);
        shipline(&self.cwd(build), args, &env)
    }

    /// The environment of `build`'s deploy job, with a token of its own.
    fn env_of(&self, build: &BuildRef) -> Vec<(String, String)> {
        let token = self.circle.issue_token(&format!("build-{}", build.number));
        self.circle.job_env(build, &token)
    }

    /// `lock <args> -- sh -c '<record start, sleep, record end>'`.
    fn lock_args(&self, build: &BuildRef, args: &[&str], hold_ms: u64) -> Vec<String> {
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
            build.number.to_string(),
            self.log.to_string_lossy().into_owned(),
        ]);
        all
    }

    /// `shipline lock <args> -- sh -c '<record start, sleep, record end>'`.
    fn lock_cmd(&self, build: &BuildRef, args: &[&str], hold_ms: u64) -> Run {
        let all = self.lock_args(build, args, hold_ms);
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        self.run(build, &all, &[])
    }

    /// The same, in the background, to wait for what it says.
    fn lock_in_background(&self, build: &BuildRef, args: &[&str], hold_ms: u64) -> Background {
        let all = self.lock_args(build, args, hold_ms);
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        let env = self.env_of(build);
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        Background::start(&self.cwd(build), &all, &env)
    }

    /// Runs each build's deploy job when it reaches the lock, concurrently: waits for the job
    /// to run, runs `shipline lock ... -- CMD`, and ends the job with the process's outcome.
    fn run_all(&self, builds: &[BuildRef], args: &[&str], hold_ms: u64) -> Vec<Run> {
        std::thread::scope(|s| {
            let handles: Vec<_> = builds
                .iter()
                .map(|b| {
                    s.spawn(move || {
                        assert!(
                            self.circle.wait_at_lock(b, Duration::from_secs(30)),
                            "build {} never reached the lock",
                            b.number
                        );
                        let run = self.lock_cmd(b, args, hold_ms);
                        self.circle.finish(b, run.code == 0);
                        run
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        })
    }

    /// The builds that ran the command, in order; panics when two overlapped.
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
fn builds_started_together_never_overlap_and_go_in_order_across_99_100() {
    let w = World::new("lock-order");
    w.circle.set_next_number(97);
    let builds: Vec<BuildRef> = (0..5).map(|_| w.main(50)).collect();
    let runs = w.run_all(&builds, &[], 120);
    for run in &runs {
        assert_eq!(run.code, 0, "{run:?}");
    }
    assert_eq!(w.entries(), [97, 98, 99, 100, 101]);
    // The last one waited, saying behind whom, with a link and how long it has run.
    let last = runs.last().unwrap();
    assert!(
        last.stdout.contains("Waiting behind #100 (running for"),
        "{last:?}"
    );
    assert!(
        last.stdout
            .contains("/pipelines/github/acme/shop/100/workflows/"),
        "{last:?}"
    );
    assert!(last.stdout.contains("Lock held by #101"), "{last:?}");
}

#[test]
fn pipeline_1000_waits_for_999() {
    let w = World::new("lock-1000");
    w.circle.set_next_number(998);
    let builds: Vec<BuildRef> = (0..3).map(|_| w.main(30)).collect();
    let runs = w.run_all(&builds, &[], 100);
    assert!(runs.iter().all(|r| r.code == 0), "{runs:?}");
    assert_eq!(w.entries(), [998, 999, 1000]);
}

#[test]
fn latest_mode_skips_the_middle_builds_and_runs_the_newest() {
    let w = World::new("lock-latest");
    let first = w.main(0);
    // The first build takes the lock and deploys for a while; four more arrive meanwhile. The
    // gap leaves a loaded machine time to start the first build's process before the others
    // run (a newer build that is already running would rightly make it skip too).
    let later: Vec<BuildRef> = (0..4).map(|i| w.main(1500 + 10 * i)).collect();
    let mut all = vec![first];
    all.extend(later);
    let runs = w.run_all(&all, &["--mode", "latest"], 2500);
    assert!(runs.iter().all(|r| r.code == 0), "{runs:?}");
    assert_eq!(w.entries(), [1, 5]);
    for run in &runs[1..4] {
        assert!(run.stdout.contains("Skipped: #"), "{run:?}");
        assert!(run.stdout.contains("is superseded by #"), "{run:?}");
    }
    let skipped = state(&w.cwd(&all[2]));
    assert_eq!(step_record(&skipped, "lock")["outcome"], "skipped");
    assert_eq!(skipped["lock"]["verdict"], "skipped");
    assert!(skipped["lock"]["superseded_by"]["number"].as_u64().unwrap() > 3);
    assert!(!runs[4].stdout.contains("Skipped"), "{:?}", runs[4]);
}

#[test]
fn latest_mode_does_not_skip_for_a_newer_build_still_blocked_on_tests() {
    let w = World::new("lock-blocked-newer");
    let first = w.main(0);
    // Late enough for a loaded machine to have started #1 (a newer build already running
    // would rightly make #1 skip), early enough to find #1 holding the lock.
    let second = w.main(1500);
    // Still testing long after #2 reaches the lock: it must not make #2 skip.
    let third = w.main(5000);
    let runs = w.run_all(&[first, second, third], &["--mode", "latest"], 1500);
    assert!(runs.iter().all(|r| r.code == 0), "{runs:?}");
    assert_eq!(w.entries(), [1, 2, 3]);
    assert!(!runs[1].stdout.contains("Skipped"), "{:?}", runs[1]);
    assert!(
        runs[1].stdout.contains("Waiting behind #1"),
        "{:?}",
        runs[1]
    );
}

#[test]
fn an_on_hold_predecessor_blocks_only_with_include_on_hold() {
    let w = World::new("lock-on-hold");
    let held = w.start(BuildSpec::branch("main", Duration::ZERO).with_approval());
    let mine = w.main(0);
    assert!(w.circle.wait_at_lock(&mine, Duration::from_secs(5)));
    assert_eq!(w.circle.job_status(&held), "blocked");
    let started = Instant::now();
    let run = w.lock_cmd(&mine, &[], 10);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(started.elapsed() < Duration::from_secs(5), "{run:?}");
    assert!(!run.stdout.contains("Waiting"), "{run:?}");

    let run = w.lock_cmd(&mine, &["--include-on-hold", "--timeout", "300ms"], 10);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stdout
            .contains("Waiting behind #1 (on hold for a manual approval"),
        "{run:?}"
    );
    assert!(run.stderr.contains("timed out after 300ms"), "{run:?}");
}

#[test]
fn every_page_is_read_to_find_a_predecessor_many_builds_back() {
    let w = World::with(
        "lock-pages",
        Config {
            page_size: 3,
            ..Config::default()
        },
    );
    let holder = w.main(0);
    assert!(w.circle.wait_at_lock(&holder, Duration::from_secs(5)));
    // Eleven builds whose tests fail: finished, never at the lock.
    let failed: Vec<BuildRef> = (0..11)
        .map(|_| w.start(BuildSpec::branch("main", Duration::ZERO).failing()))
        .collect();
    // Builds of another branch are not in the queue.
    w.start(BuildSpec::branch("feature/x", Duration::ZERO));
    let mine = w.main(0);
    assert!(w.circle.wait_at_lock(&mine, Duration::from_secs(5)));
    assert_eq!(w.circle.job_status(failed.last().unwrap()), "not_run");
    let mut waiting = w.lock_in_background(&mine, &[], 10);
    assert!(waiting.wait_for("Waiting behind #1", Duration::from_secs(20)));
    w.circle.finish(&holder, true);
    let run = waiting.finish();
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.contains("Waiting behind #1 (running for"),
        "{run:?}"
    );
    let paged = w
        .circle
        .requests()
        .iter()
        .filter(|r| r.request.path.ends_with("/pipeline"))
        .filter(|r| r.request.query_param("page-token").is_some())
        .count();
    assert!(paged >= 4, "pipelines read page by page: {paged}");
}

#[test]
fn a_tag_build_needs_branch() {
    let w = World::new("lock-tag");
    let main = w.main(0);
    let tag = w.start(BuildSpec::tag("v1.2.0", Duration::ZERO));
    assert!(w.circle.wait_at_lock(&main, Duration::from_secs(5)));
    assert!(w.circle.wait_at_lock(&tag, Duration::from_secs(5)));
    let run = w.run(&tag, &["lock"], &[]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("tag build (CIRCLE_TAG=v1.2.0)"),
        "{run:?}"
    );
    assert!(run.stderr.contains("--branch"), "{run:?}");

    // With --branch it queues behind that branch's earlier builds.
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
        &[],
    );
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stdout.contains("Waiting behind #1"), "{run:?}");
}

#[test]
fn timeout_fails_or_proceeds_as_told() {
    let w = World::new("lock-timeout");
    let holder = w.main(0);
    let mine = w.main(0);
    assert!(w.circle.wait_at_lock(&mine, Duration::from_secs(5)));
    assert!(w.circle.wait_at_lock(&holder, Duration::from_secs(5)));

    let run = w.lock_cmd(&mine, &["--timeout", "250ms"], 10);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("timed out after 250ms"), "{run:?}");
    assert!(run.stderr.contains("--on-timeout fail"), "{run:?}");
    assert!(w.entries().is_empty(), "the command must not run");
    let failed = state(&w.cwd(&mine));
    assert_eq!(step_record(&failed, "lock")["outcome"], "failed");
    assert_eq!(failed["lock"]["verdict"], "timed-out");

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
    let w = World::new("lock-stale");
    let ghost = w.start(
        BuildSpec::branch("main", Duration::ZERO).stuck_running(Duration::from_secs(3 * 3600)),
    );
    let mine = w.main(0);
    assert!(w.circle.wait_at_lock(&mine, Duration::from_secs(5)));
    assert_eq!(w.circle.job_status(&ghost), "running");
    let run = w.lock_cmd(&mine, &["--timeout", "300ms"], 10);
    assert_eq!(
        run.code, 1,
        "without --stale-after the ghost blocks: {run:?}"
    );
    assert!(run.stdout.contains("running for 3h00m"), "{run:?}");

    let run = w.lock_cmd(&mine, &["--stale-after", "2h"], 10);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.contains(
            "Ignoring #1: its job has been running for 3h00m, longer than --stale-after 2h00m"
        ),
        "{run:?}"
    );
    assert_eq!(state(&w.cwd(&mine))["lock"]["stale_ignored"][0], 1);
}

#[test]
fn a_persistent_api_failure_fails_closed() {
    let w = World::new("lock-fail-closed");
    let mine = w.main(0);
    assert!(w.circle.wait_at_lock(&mine, Duration::from_secs(5)));
    w.circle.fail(Failure::always("/project/", 503));
    let started = Instant::now();
    let run = w.lock_cmd(&mine, &["--timeout", "2s", "--on-timeout", "proceed"], 10);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(run.stderr.contains("answered 503"), "{run:?}");
    assert!(run.stderr.contains("fails closed"), "{run:?}");
    assert!(w.entries().is_empty(), "nothing may run on a guess");
}

#[test]
fn rate_limits_are_waited_out() {
    let w = World::new("lock-429");
    let mine = w.main(0);
    assert!(w.circle.wait_at_lock(&mine, Duration::from_secs(5)));
    w.circle.fail(Failure::new("/pipeline/", 429, 1));
    let run = w.lock_cmd(&mine, &[], 10);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("answered 429; retrying in"), "{run:?}");
}

#[test]
fn a_looping_page_token_fails_closed() {
    let w = World::with(
        "lock-loop",
        Config {
            page_size: 2,
            ..Config::default()
        },
    );
    for _ in 0..6 {
        w.start(BuildSpec::branch("main", Duration::ZERO).failing());
    }
    let mine = w.main(0);
    assert!(w.circle.wait_at_lock(&mine, Duration::from_secs(5)));
    w.circle.loop_page_tokens(true);
    let run = w.lock_cmd(&mine, &[], 10);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("same page token twice"), "{run:?}");
}

#[test]
fn project_tokens_are_explained_and_tokens_never_printed() {
    let w = World::new("lock-token");
    let mine = w.main(0);
    assert!(w.circle.wait_at_lock(&mine, Duration::from_secs(5)));
    let project_token = w.circle.project_token();
    let run = w.run(&mine, &["lock"], &[("CIRCLE_TOKEN", &project_token)]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr
            .contains("project API tokens do not work with CircleCI API v2"),
        "{run:?}"
    );
    assert!(!run.log().contains(&project_token), "{run:?}");
    let run = w.run(&mine, &["lock"], &[("CIRCLE_TOKEN", "")]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("CIRCLE_TOKEN is not set"), "{run:?}");
}

#[test]
fn the_command_form_exits_with_the_commands_code_and_skips_it_when_superseded() {
    let w = World::new("lock-cmd");
    let mine = w.main(0);
    assert!(w.circle.wait_at_lock(&mine, Duration::from_secs(5)));
    let run = w.run(
        &mine,
        &["lock", "--", "sh", "-c", "echo deploying; exit 3"],
        &[],
    );
    assert_eq!(run.code, 3, "{run:?}");
    assert!(
        run.stdout.contains("Running with the lock held: sh -c"),
        "{run:?}"
    );
    assert!(run.stdout.contains("deploying"), "{run:?}");

    let newer = w.main(0);
    assert!(w.circle.wait_at_lock(&newer, Duration::from_secs(5)));
    let marker = w.dir.path.join("ran");
    let touch = format!("touch {}", marker.display());
    let run = w.run(
        &mine,
        &[
            "lock", "--mode", "latest", "--poll", POLL, "--", "sh", "-c", &touch,
        ],
        &[],
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.contains("Skipped: #1 is superseded by #2"),
        "{run:?}"
    );
    assert!(!marker.exists(), "a skipped lock must not run the command");
}

#[test]
fn the_state_file_form_makes_later_steps_skip() {
    let w = World::new("lock-state");
    let mine = w.main(0);
    let newer = w.main(0);
    assert!(w.circle.wait_at_lock(&mine, Duration::from_secs(5)));
    assert!(w.circle.wait_at_lock(&newer, Duration::from_secs(5)));
    let run = w.run(&mine, &["lock", "--mode", "latest", "--poll", POLL], &[]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("Skipped:"), "{run:?}");
    let deploy = w.run(&mine, &["deploy", "--app", "demo-app"], &[]);
    assert_eq!(deploy.code, 0, "{deploy:?}");
    assert!(
        deploy
            .stdout
            .contains("Skipped: the lock step skipped this run: #1 is superseded by #2"),
        "{deploy:?}"
    );
    // The skipped build's job ends; the newest build holds the lock and records it.
    w.circle.finish(&mine, true);
    let run = w.run(&newer, &["lock", "--mode", "latest", "--poll", POLL], &[]);
    assert_eq!(run.code, 0, "{run:?}");
    let recorded = state(&w.cwd(&newer));
    assert_eq!(step_record(&recorded, "lock")["outcome"], "done");
    assert_eq!(recorded["lock"]["verdict"], "proceed");
    assert_eq!(recorded["lock"]["build"]["number"], 2);
}

#[test]
fn a_pipeline_still_setting_up_counts_and_the_circleci_slug_form_works() {
    let w = World::with(
        "lock-setup",
        Config {
            project:
                "circleci/6b3f2a1e-0c1d-4e5f-8a9b-0c1d2e3f4a5b/2e4c6a8b-1d3f-4a5c-9e7b-3d5f7a9c1e2b"
                    .into(),
            ..Config::default()
        },
    );
    w.start(BuildSpec::branch("main", Duration::ZERO).with_setup(Duration::from_secs(30)));
    let mine = w.main(0);
    assert!(w.circle.wait_at_lock(&mine, Duration::from_secs(5)));
    let run = w.lock_cmd(&mine, &["--timeout", "200ms"], 10);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stdout
            .contains("Waiting behind #1 (still setting up its configuration"),
        "{run:?}"
    );
    assert!(
        run.stdout.contains("/pipelines/circleci/6b3f2a1e"),
        "{run:?}"
    );
}

#[test]
fn a_waiting_build_polls_one_workflow_between_full_reads() {
    let w = World::new("lock-frugal");
    let holder = w.main(0);
    let mine = w.main(0);
    assert!(w.circle.wait_at_lock(&holder, Duration::from_secs(5)));
    assert!(w.circle.wait_at_lock(&mine, Duration::from_secs(5)));
    let run = w.lock_cmd(&mine, &["--timeout", "400ms"], 10);
    assert_eq!(run.code, 1, "{run:?}");
    let polls = run.stdout.matches("Waiting behind #1").count();
    assert!(polls >= 5, "{run:?}");
    // Own workflow, one full read (pipelines, 2 workflow lists, 1 job list), then one job
    // list per poll, and a full read every 12 polls.
    let requests = w.circle.request_count("build-2");
    let full_reads = 1 + polls / 12;
    assert!(
        requests <= 1 + 4 * full_reads + polls,
        "{requests} requests for {polls} polls"
    );
}
