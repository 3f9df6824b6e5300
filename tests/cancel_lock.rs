//! The lock and cancelled jobs, on the sandbox's CircleCI: the CI's own record of a job is the
//! lock, so a cancelled holder frees it as soon as the CI marks the job cancelled, and a job
//! cancelled while it waits just exits, recording that it was cancelled.

mod common;

use std::time::{Duration, Instant};

use common::{step_record, Background, Shipline, World};
use serde_json::Value;
use shipline_sandbox::circleci::{BuildRef, BuildSpec, CircleCi};

/// The sandbox's CircleCI and a job directory per build, each with its own state file.
struct Builds {
    circle: CircleCi,
    w: World,
}

impl Builds {
    fn new(name: &str) -> Builds {
        Builds {
            circle: CircleCi::start(),
            w: World::without_git(name),
        }
    }

    /// The working directory of `build`'s deploy job.
    fn dir(&self, build: &BuildRef) -> std::path::PathBuf {
        let cwd = self.w.path().join(format!("build-{}", build.number));
        std::fs::create_dir_all(&cwd).unwrap();
        cwd
    }

    /// A build of main whose deploy job is running (at the lock).
    fn at_lock(&self) -> BuildRef {
        let build = self
            .circle
            .start_build(BuildSpec::branch("main", Duration::ZERO));
        assert!(self.circle.wait_at_lock(&build, Duration::from_secs(10)));
        build
    }

    /// `shipline lock --poll 40ms` in the build's job, in the background.
    fn lock(&self, build: &BuildRef) -> Background {
        let token = self.circle.issue_token(&format!("build-{}", build.number));
        Shipline::new(&self.dir(build))
            .args(["lock", "--poll", "40ms"])
            .envs(self.circle.job_env(build, &token))
            .start()
    }

    fn state(&self, build: &BuildRef) -> Value {
        let path = self.dir(build).join(".shipline/state.json");
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }
}

#[test]
fn a_job_cancelled_while_it_waits_for_the_lock_just_exits() {
    for (signal, code) in [("INT", 130), ("TERM", 143)] {
        let w = Builds::new(&format!("lock-cancel-{signal}"));
        let _holder = w.at_lock();
        let mine = w.at_lock();
        let mut waiting = w.lock(&mine);
        assert!(waiting.wait_for("Waiting behind #", Duration::from_secs(20)));
        waiting.signal(signal);
        let sent = Instant::now();
        let run = waiting
            .finish_within(Duration::from_secs(2))
            .expect("the waiting lock exits within 2 s");
        assert_eq!(run.code, code, "{run:?}");
        assert!(sent.elapsed() < Duration::from_secs(2));
        assert!(
            run.stderr
                .contains(&format!("lock cancelled by SIG{signal}")),
            "{run:?}"
        );
        let state = w.state(&mine);
        assert_eq!(
            step_record(&state, "lock")["outcome"],
            "cancelled",
            "{state:#}"
        );
    }
}

#[test]
fn a_cancelled_holder_frees_the_lock_when_the_ci_marks_it_cancelled() {
    let w = Builds::new("lock-holder-cancelled");
    let holder = w.at_lock();
    let mine = w.at_lock();
    let mut waiting = w.lock(&mine);
    assert!(waiting.wait_for("Waiting behind #", Duration::from_secs(20)));
    // The holder's runner is gone (its shipline got SIGKILL, say); CircleCI marks it cancelled.
    w.circle.cancel(&holder);
    let run = waiting
        .finish_within(Duration::from_secs(20))
        .expect("the lock is taken once the holder is cancelled");
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(step_record(&w.state(&mine), "lock")["outcome"], "done");
}

#[test]
fn the_command_run_under_the_lock_gets_the_signal_too() {
    let w = Builds::new("lock-command-cancelled");
    let build = w.at_lock();
    let cwd = w.dir(&build);
    let marker = cwd.join("stopped");
    let token = w.circle.issue_token("build");
    let env = w.circle.job_env(&build, &token);
    let script =
        "trap 'echo stopped > \"$1\"; exit 143' TERM; echo started; while :; do sleep 0.05; done";
    let mut job = Shipline::new(&cwd)
        .args([
            "lock",
            "--poll",
            "40ms",
            "--",
            "sh",
            "-c",
            script,
            "sh",
            marker.to_str().unwrap(),
        ])
        .envs(env)
        .start();
    assert!(job.wait_for("started", Duration::from_secs(20)));
    job.signal("TERM");
    let run = job
        .finish_within(Duration::from_secs(2))
        .expect("exits within 2 s");
    assert_eq!(run.code, 143, "{run:?}");
    assert_eq!(
        std::fs::read_to_string(&marker).unwrap_or_default().trim(),
        "stopped",
        "the command was not told: {run:?}"
    );
}
