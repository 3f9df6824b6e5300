//! `shipline-sandbox bench-lock`: the lock simulation benchmark.
//!
//! Builds arrive on one branch over a period, run their tests, reach the deploy job and run
//! the real `shipline lock -- <deploy>` there, against the fake CircleCI. Time is scaled: every
//! duration (arrivals, tests, deploys, the poll) is divided by `--scale`, and every measure is
//! multiplied back, so ten builds over a minute at the default 10 s poll take seconds.
//!
//! Measures:
//! - hand-off delay: from one build leaving the lock (its deploy command ends) to the next one
//!   entering it, for every hand-off where the next build was already waiting;
//! - API requests per waiting build per minute: each build's requests (its own token) over the
//!   time its `shipline lock` spent before entering or skipping, for builds that waited.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use shipline_sandbox::circleci::{BuildSpec, CircleCi, Config};

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
    let circle = CircleCi::start_with(Config {
        first_number: 96,
        ..Config::default()
    })
    .map_err(|e| format!("cannot start the fake CircleCI: {e}"))?;
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
                    let build = circle.start_build(BuildSpec::branch(
                        "main",
                        scaled(b.tests.mul_f64(jitter), b.scale),
                    ));
                    if !circle.wait_at_lock(&build, Duration::from_secs(3600)) {
                        panic!("build {} never reached the lock", build.number);
                    }
                    let label = format!("build-{}", build.number);
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
                        .envs(circle.job_env(&build, &token))
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
                            "build {} exited {code}:\n{stdout}{}",
                            build.number,
                            String::from_utf8_lossy(&out.stderr)
                        );
                    }
                    Outcome {
                        number: build.number,
                        lock_started,
                        entered: read_stamp(&enter),
                        left: read_stamp(&leave),
                        ended,
                        skipped: stdout.contains("Skipped:"),
                        code,
                        requests: circle.request_count(&label),
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
    let mut rates = Vec::new();
    for o in &outcomes {
        let waited = o.entered.unwrap_or(o.ended) - o.lock_started;
        if waited > poll {
            rates.push((
                o.number,
                o.requests as f64 / (sim(waited) / 60.0),
                sim(waited),
                o.requests,
            ));
        }
    }
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
        "lock benchmark (CircleCI, --mode {}): {} builds arriving over {:.0}s, tests ~{:.0}s, deploy {:.0}s, --poll {:.0}s; time scaled 1/{}",
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
    println!(
        "  hand-off delay (s): {}  [target <= {:.0} = poll + 1s]",
        stats(&handoffs),
        b.poll.as_secs_f64() + 1.0
    );
    let total_requests: f64 = rates.iter().map(|r| r.3 as f64).sum();
    let total_minutes: f64 = rates.iter().map(|r| r.2).sum::<f64>() / 60.0;
    println!(
        "  requests per waiting build per minute: overall {:.1} ({} requests over {:.1} waiting minutes); per build {}  [target <= 20]",
        if total_minutes > 0.0 { total_requests / total_minutes } else { 0.0 },
        total_requests,
        total_minutes,
        stats(&rates.iter().map(|r| r.1).collect::<Vec<_>>())
    );
    for (number, rate, waited, requests) in &rates {
        println!("    #{number}: waited {waited:.0}s, {requests} requests, {rate:.1}/min");
    }
    if overlaps > 0 || outcomes.iter().any(|o| o.code != 0) {
        return Err("the lock let deploys overlap or a build failed".into());
    }
    Ok(())
}
