//! `shipline-sandbox bench-lock`: the lock simulation benchmark.
//!
//! Builds arrive on one branch over a period, run their tests, reach the deploy job and run
//! the real `shipline lock -- <deploy>` there, against the fake CircleCI or (with `--provider
//! github`) the fake GitHub Actions. Time is scaled: every duration (arrivals, tests, deploys,
//! the poll) is divided by `--scale`, and every measure is multiplied back, so ten builds over
//! a minute at the default poll (10 s CircleCI, 30 s GitHub) take seconds.
//!
//! Measures:
//! - hand-off delay: from one build leaving the lock (its deploy command ends) to the next one
//!   entering it, for every hand-off where the next build was already waiting;
//! - API requests per waiting build per minute: each build's requests (its own token) over the
//!   time its `shipline lock` spent before entering or skipping, for builds that waited. On
//!   GitHub both all requests and those that count against the rate limit (all but the
//!   conditional ones answered 304), the figure GitHub's limit and the target are about; on
//!   CircleCI every request counts.
//!
//! Targets ([`CIRCLECI_TARGET`], [`GITHUB_TARGET`], hand-off within one poll plus 1 s): a
//! missed one makes the run fail. The request rate is checked at the default poll and in
//! `queue` mode only: in `latest` mode a waiting build skips about one poll after it starts,
//! so its rate per minute is the fixed cost of starting and confirming a skip spread over a
//! few seconds, and is shown (with the requests per build) without a target.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use shipline_sandbox::circleci::{BuildRef, BuildSpec, CircleCi, Config};
use shipline_sandbox::github::{GitHub, RunRef, RunSpec};

/// Most requests per waiting build per minute on CircleCI at its default 10 s poll.
pub const CIRCLECI_TARGET: f64 = 10.0;
/// Most requests counted against the rate limit per waiting build per minute on GitHub at its
/// default 30 s poll.
pub const GITHUB_TARGET: f64 = 2.0;

/// The fake CI the builds run on.
enum Fake {
    Circle(CircleCi),
    GitHub(GitHub),
}

enum Handle {
    Circle(BuildRef),
    GitHub(RunRef),
}

impl Fake {
    fn start(&self, tests: Duration) -> Handle {
        match self {
            Fake::Circle(c) => Handle::Circle(c.start_build(BuildSpec::branch("main", tests))),
            Fake::GitHub(g) => Handle::GitHub(g.start_run(RunSpec::branch("main", tests))),
        }
    }

    fn number(&self, h: &Handle) -> u64 {
        match h {
            Handle::Circle(b) => b.number,
            Handle::GitHub(r) => r.number,
        }
    }

    fn wait_at_lock(&self, h: &Handle, timeout: Duration) -> bool {
        match (self, h) {
            (Fake::Circle(c), Handle::Circle(b)) => c.wait_at_lock(b, timeout),
            (Fake::GitHub(g), Handle::GitHub(r)) => g.wait_at_lock(r, timeout),
            _ => unreachable!(),
        }
    }

    fn issue_token(&self, label: &str) -> String {
        match self {
            Fake::Circle(c) => c.issue_token(label),
            Fake::GitHub(g) => g.issue_token(label),
        }
    }

    fn env(&self, h: &Handle, token: &str) -> Vec<(String, String)> {
        match (self, h) {
            (Fake::Circle(c), Handle::Circle(b)) => c.job_env(b, token),
            (Fake::GitHub(g), Handle::GitHub(r)) => g.job_env(r, token),
            _ => unreachable!(),
        }
    }

    fn finish(&self, h: &Handle, ok: bool) {
        match (self, h) {
            (Fake::Circle(c), Handle::Circle(b)) => c.finish(b, ok),
            (Fake::GitHub(g), Handle::GitHub(r)) => g.finish_run(r, ok),
            _ => unreachable!(),
        }
    }

    fn request_count(&self, label: &str) -> usize {
        match self {
            Fake::Circle(c) => c.request_count(label),
            Fake::GitHub(g) => g.request_count(label),
        }
    }

    /// Requests that count against the rate limit: on CircleCI, all.
    fn rate_limited_count(&self, label: &str) -> usize {
        match self {
            Fake::Circle(c) => c.request_count(label),
            Fake::GitHub(g) => g.rate_limited_count(label),
        }
    }
}

/// Options of the benchmark.
pub struct Bench {
    pub shipline: PathBuf,
    pub builds: usize,
    pub over: Duration,
    pub tests: Duration,
    pub deploy: Duration,
    pub poll: Duration,
    pub scale: f64,
    pub mode: String,
    /// `circleci` or `github`.
    pub provider: String,
}

struct Outcome {
    number: u64,
    lock_started: Instant,
    entered: Option<Instant>,
    left: Option<Instant>,
    ended: Instant,
    skipped: bool,
    code: i32,
    requests: usize,
    /// Of `requests`, those counted against the rate limit.
    limited: usize,
}

fn scaled(d: Duration, scale: f64) -> Duration {
    d.div_f64(scale)
}

fn read_stamp(path: &Path) -> Option<Instant> {
    // The command writes the wall-clock nanoseconds; map them onto Instant through now.
    let text = std::fs::read_to_string(path).ok()?;
    let nanos: u128 = text.trim().parse().ok()?;
    let now_wall = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_nanos();
    let ago = Duration::from_nanos(now_wall.checked_sub(nanos)? as u64);
    Instant::now().checked_sub(ago)
}

/// Runs the benchmark and prints its report; `Err` with a reason when it could not run.
pub fn run(b: &Bench) -> Result<(), String> {
    let github = b.provider == "github";
    let circle = if github {
        let g = GitHub::start_on(0).map_err(|e| format!("cannot start the fake GitHub: {e}"))?;
        g.set_next_run_number(96);
        Fake::GitHub(g)
    } else {
        Fake::Circle(
            CircleCi::start_with(Config {
                first_number: 96,
                ..Config::default()
            })
            .map_err(|e| format!("cannot start the fake CircleCI: {e}"))?,
        )
    };
    let dir = std::env::temp_dir().join(format!("shipline-bench-lock-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let poll = scaled(b.poll, b.scale);
    let deploy = scaled(b.deploy, b.scale);
    let t0 = Instant::now();
    let outcomes: Vec<Outcome> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..b.builds)
            .map(|i| {
                let circle = &circle;
                let dir = &dir;
                s.spawn(move || {
                    let arrival = if b.builds > 1 {
                        b.over.mul_f64(i as f64 / (b.builds - 1) as f64)
                    } else {
                        Duration::ZERO
                    };
                    std::thread::sleep(scaled(arrival, b.scale).saturating_sub(t0.elapsed()));
                    // Tests vary by ±10 % so arrivals at the lock are not in lockstep.
                    let jitter = 0.9 + 0.2 * ((i * 7919) % 11) as f64 / 10.0;
                    let build = circle.start(scaled(b.tests.mul_f64(jitter), b.scale));
                    let number = circle.number(&build);
                    if !circle.wait_at_lock(&build, Duration::from_secs(3600)) {
                        panic!("build {number} never reached the lock");
                    }
                    let label = format!("build-{number}");
                    let token = circle.issue_token(&label);
                    let cwd = dir.join(&label);
                    std::fs::create_dir_all(&cwd).unwrap();
                    let enter = cwd.join("enter");
                    let leave = cwd.join("leave");
                    let script = format!(
                        "date +%s%N > {}; sleep {:.3}; date +%s%N > {}",
                        enter.display(),
                        deploy.as_secs_f64(),
                        leave.display()
                    );
                    let lock_started = Instant::now();
                    let out = Command::new(&b.shipline)
                        .current_dir(&cwd)
                        .env_clear()
                        .env("PATH", std::env::var("PATH").unwrap_or_default())
                        .envs(circle.env(&build, &token))
                        .args([
                            "lock",
                            "--mode",
                            &b.mode,
                            "--poll",
                            &format!("{}ms", poll.as_millis().max(1)),
                            "--timeout",
                            "1h",
                            "--",
                            "sh",
                            "-c",
                            &script,
                        ])
                        .output()
                        .expect("cannot run shipline");
                    let ended = Instant::now();
                    let code = out.status.code().unwrap_or(-1);
                    circle.finish(&build, code == 0);
                    let stdout = String::from_utf8_lossy(&out.stdout);
                    if code != 0 {
                        eprintln!(
                            "build {number} exited {code}:\n{stdout}{}",
                            String::from_utf8_lossy(&out.stderr)
                        );
                    }
                    Outcome {
                        number,
                        lock_started,
                        entered: read_stamp(&enter),
                        left: read_stamp(&leave),
                        ended,
                        skipped: stdout.contains("Skipped:"),
                        code,
                        requests: circle.request_count(&label),
                        limited: circle.rate_limited_count(&label),
                    }
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let _ = std::fs::remove_dir_all(&dir);

    let sim = |d: Duration| d.mul_f64(b.scale).as_secs_f64();
    let mut entries: Vec<&Outcome> = outcomes.iter().filter(|o| o.entered.is_some()).collect();
    entries.sort_by_key(|o| o.entered);
    let mut overlaps = 0;
    let mut handoffs = Vec::new();
    for pair in entries.windows(2) {
        let (prev, next) = (pair[0], pair[1]);
        let (left, entered) = (prev.left.unwrap_or(prev.ended), next.entered.unwrap());
        if entered < left {
            overlaps += 1;
            continue;
        }
        if next.lock_started < left {
            handoffs.push(sim(entered - left));
        }
    }
    let in_order = entries.windows(2).all(|p| p[0].number < p[1].number);
    struct Rate {
        number: u64,
        waited: f64,
        requests: usize,
        limited: usize,
    }
    let mut rates = Vec::new();
    for o in &outcomes {
        let waited = o.entered.unwrap_or(o.ended) - o.lock_started;
        if waited > poll {
            rates.push(Rate {
                number: o.number,
                waited: sim(waited),
                requests: o.requests,
                limited: o.limited,
            });
        }
    }
    let per_minute = |n: usize, waited: f64| n as f64 / (waited / 60.0);
    let stats = |v: &[f64]| {
        if v.is_empty() {
            return "n/a".to_string();
        }
        let mut v = v.to_vec();
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        format!(
            "mean {mean:.1}, median {:.1}, max {:.1} (n={})",
            v[v.len() / 2],
            v[v.len() - 1],
            v.len()
        )
    };
    println!(
        "lock benchmark ({}, --mode {}): {} builds arriving over {:.0}s, tests ~{:.0}s, deploy {:.0}s, --poll {:.0}s; time scaled 1/{}",
        if github { "GitHub Actions" } else { "CircleCI" },
        b.mode,
        b.builds,
        b.over.as_secs_f64(),
        b.tests.as_secs_f64(),
        b.deploy.as_secs_f64(),
        b.poll.as_secs_f64(),
        b.scale
    );
    println!(
        "  deployed: {:?}; skipped: {:?}; failed: {:?}",
        entries.iter().map(|o| o.number).collect::<Vec<_>>(),
        outcomes
            .iter()
            .filter(|o| o.skipped)
            .map(|o| o.number)
            .collect::<Vec<_>>(),
        outcomes
            .iter()
            .filter(|o| o.code != 0)
            .map(|o| o.number)
            .collect::<Vec<_>>()
    );
    println!("  overlaps inside the lock: {overlaps}; deploys in build order: {in_order}");
    let mut missed = Vec::new();
    let handoff_target = b.poll.as_secs_f64() + 1.0;
    let worst_handoff = handoffs.iter().copied().fold(0.0, f64::max);
    if worst_handoff > handoff_target {
        missed.push(format!(
            "a hand-off took {worst_handoff:.1}s, more than one poll plus 1s ({handoff_target:.0}s)"
        ));
    }
    println!(
        "  hand-off delay (s): {}  [target <= {handoff_target:.0} = poll + 1s]",
        stats(&handoffs),
    );
    let total_minutes: f64 = rates.iter().map(|r| r.waited).sum::<f64>() / 60.0;
    let overall = |n: usize| {
        if total_minutes > 0.0 {
            n as f64 / total_minutes
        } else {
            0.0
        }
    };
    let total_requests: usize = rates.iter().map(|r| r.requests).sum();
    let total_limited: usize = rates.iter().map(|r| r.limited).sum();
    let (target, checked) = if github {
        (GITHUB_TARGET, overall(total_limited))
    } else {
        (CIRCLECI_TARGET, overall(total_requests))
    };
    let default_poll = Duration::from_secs(if github { 30 } else { 10 });
    let verdict = if b.mode != "queue" {
        "not checked in latest mode: builds skip about a poll after starting".to_string()
    } else if b.poll != default_poll {
        format!("not checked: the target is for the default --poll {default_poll:?}")
    } else if checked > target {
        missed.push(format!(
            "{checked:.1} requests per waiting build per minute, more than {target}"
        ));
        format!("target <= {target}: MISSED")
    } else {
        format!("target <= {target}: met")
    };
    println!(
        "  requests per waiting build per minute: overall {:.1} ({} requests over {:.1} waiting minutes); per build {}{}",
        overall(total_requests),
        total_requests,
        total_minutes,
        stats(&rates.iter().map(|r| per_minute(r.requests, r.waited)).collect::<Vec<_>>()),
        if github { "" } else { "  [every request counts against CircleCI's limits]" },
    );
    if github {
        println!(
            "  of which counted against the rate limit (all but 304s): overall {:.1} ({} requests); per build {}",
            overall(total_limited),
            total_limited,
            stats(&rates.iter().map(|r| per_minute(r.limited, r.waited)).collect::<Vec<_>>()),
        );
    }
    println!(
        "  {} per waiting build per minute: {checked:.1}  [{verdict}]",
        if github {
            "rate-limited requests"
        } else {
            "requests"
        }
    );
    for r in &rates {
        let counted = if github {
            format!(" ({} counted)", r.limited)
        } else {
            String::new()
        };
        println!(
            "    #{}: waited {:.0}s, {} requests{counted}, {:.1}/min",
            r.number,
            r.waited,
            r.requests,
            per_minute(if github { r.limited } else { r.requests }, r.waited)
        );
    }
    if overlaps > 0 || outcomes.iter().any(|o| o.code != 0) {
        return Err("the lock let deploys overlap or a build failed".into());
    }
    if !missed.is_empty() {
        return Err(format!("target missed: {}", missed.join("; ")));
    }
    Ok(())
}
