//! `shipline verify`: the new release's dynos up, its endpoints answering, and a rollback when
//! they are not.
//!
//! A green build only says the code compiled. Verify asks Heroku whether the dynos of the new
//! release booted (failing at once on a crash instead of waiting out the timeout), then asks
//! the app itself, through the checks, whether it serves. Both verdicts are pure functions of
//! what was fetched: [`judge_dynos`] and [`judge_answer`].

use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use serde_json::{json, Value};

use super::Scope;
use crate::ci;
use crate::cli::{StatusSet, VerifyArgs};
use crate::follow::{self, Follow, Tail};
use crate::heroku::HerokuConfig;
use crate::heroku::{Dyno, Formation, Heroku, Release, Status};
use crate::http::{self, Probe};
use crate::outcome::Outcome;
use crate::state::{Dependency, ReleaseRef, RollbackRecord, State, VerifyRecord};
use crate::time::{self, human};
use crate::usage::UsageError;

/// What the dynos say about a release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DynoVerdict {
    /// Every expected dyno of the release is up.
    Up {
        /// Dynos of older releases still listed (preboot keeps them serving for a while).
        old: Vec<String>,
    },
    /// Not yet: what is up and what is not, for the log.
    Waiting(String),
    /// Dynos of the release crashed: named, so the user knows where to look.
    Crashed(Vec<String>),
}

/// Judges the dynos of release `version`. One-off `run` and release-phase dynos are ignored,
/// and so are dynos of other releases; `expected` is how many dynos the formation runs, so a
/// dyno that never appears is still waited for.
pub fn judge_dynos(dynos: &[Dyno], version: u64, expected: u32) -> DynoVerdict {
    let serving: Vec<&Dyno> = dynos
        .iter()
        .filter(|d| d.kind != "run" && d.kind != "release")
        .collect();
    let (new, old): (Vec<&Dyno>, Vec<&Dyno>) =
        serving.iter().partition(|d| d.release.version >= version);
    let crashed: Vec<String> = new
        .iter()
        .filter(|d| d.state == "crashed")
        .map(|d| d.name.clone())
        .collect();
    if !crashed.is_empty() {
        return DynoVerdict::Crashed(crashed);
    }
    let up = new.iter().filter(|d| d.state == "up").count() as u32;
    if up >= expected && new.iter().all(|d| d.state == "up") {
        return DynoVerdict::Up {
            old: old
                .iter()
                .map(|d| format!("{} (v{})", d.name, d.release.version))
                .collect(),
        };
    }
    let mut parts = vec![format!("{up}/{expected} dynos of v{version} up")];
    let not_up: Vec<String> = new
        .iter()
        .filter(|d| d.state != "up")
        .map(|d| format!("{} {}", d.name, d.state))
        .collect();
    if !not_up.is_empty() {
        parts.push(not_up.join(", "));
    }
    if !old.is_empty() {
        let versions: Vec<String> = old
            .iter()
            .map(|d| format!("{} v{} {}", d.name, d.release.version, d.state))
            .collect();
        parts.push(format!(
            "still listed from older releases: {}",
            versions.join(", ")
        ));
    }
    DynoVerdict::Waiting(parts.join("; "))
}

/// How many dynos the formation runs (release-phase entries aside).
pub fn expected_dynos(formation: &[Formation]) -> u32 {
    formation
        .iter()
        .filter(|f| f.kind != "release")
        .map(|f| f.quantity)
        .sum()
}

/// What an endpoint check requires.
#[derive(Debug, Clone)]
pub struct Expectation {
    /// Allowed statuses.
    pub status: StatusSet,
    /// Text the body must contain.
    pub body: Option<String>,
    /// Slowest acceptable answer.
    pub max_latency: Option<Duration>,
}

/// Judges one answer: `Ok(())` when it meets the expectation, else why not, in the words the
/// report uses.
pub fn judge_answer(probe: &Probe, expect: &Expectation) -> Result<(), String> {
    match probe {
        Probe::Unreachable { kind, detail, .. } => Err(format!("{kind}: {detail}")),
        Probe::Answered {
            status,
            latency,
            body,
            location,
        } => {
            if !expect.status.allows(*status) {
                let mut why = format!("answered {status}, expected {}", expect.status);
                if let Some(location) = location.as_deref().filter(|_| (300..400).contains(status))
                {
                    why.push_str(&format!(
                        " (a redirect to {}; pass --follow-redirects to follow it)",
                        http::display_target(location)
                    ));
                }
                return Err(why);
            }
            if let Some(text) = &expect.body {
                if !body.contains(text.as_str()) {
                    return Err(format!(
                        "answered {status} without the expected text {text:?}"
                    ));
                }
            }
            if let Some(max) = expect.max_latency {
                if *latency > max {
                    return Err(format!(
                        "answered {status} in {}, slower than --max-latency {}",
                        human(*latency),
                        human(max)
                    ));
                }
            }
            Ok(())
        }
    }
}

/// The report of one check, recorded in the state file and the step summary.
#[derive(Debug, Clone)]
struct CheckReport {
    url: String,
    passed: bool,
    attempts: u32,
    last: Option<Probe>,
    why: Option<String>,
}

impl CheckReport {
    fn to_json(&self) -> Value {
        let (status, latency, error) = match &self.last {
            Some(Probe::Answered {
                status, latency, ..
            }) => (Some(*status), Some(latency.as_millis() as u64), None),
            Some(Probe::Unreachable { kind, latency, .. }) => (
                None,
                Some(latency.as_millis() as u64),
                Some(kind.to_string()),
            ),
            None => (None, None, None),
        };
        json!({
            "url": http::display_target(&self.url),
            "passed": self.passed,
            "attempts": self.attempts,
            "last_status": status,
            "last_latency_ms": latency,
            "unreachable": error,
            "reason": self.why,
        })
    }

    /// The start of the last answer's body, for the failure report.
    fn body_start(&self) -> Option<String> {
        match &self.last {
            Some(Probe::Answered { body, .. }) if !body.trim().is_empty() => {
                let start: String = body.chars().take(300).collect();
                let start = start.split_whitespace().collect::<Vec<_>>().join(" ");
                Some(if body.chars().count() > 300 {
                    format!("{start}…")
                } else {
                    start
                })
            }
            _ => None,
        }
    }
}

/// Verify acts on the apps given, else on those of the job's latest deploy or promote; it
/// waits behind the lock, and skips when that change skipped (there is nothing new to verify).
pub fn scope(args: &VerifyArgs, state: &State) -> Result<Scope> {
    let apps = super::apps_or_latest(&args.apps, state).ok_or_else(|| {
        anyhow!(UsageError(
            "verify needs the Heroku app: pass --app APP, set SHIPLINE_APP, or run `shipline deploy` or `shipline promote` earlier in the job".into()
        ))
    })?;
    let mut after = vec![Dependency::lock()];
    after.extend(apps.iter().map(|app| Dependency::change_of(app)));
    Ok(Scope { apps, after })
}

/// Runs `shipline verify` on each app in turn; one failing fails the step, naming it.
pub fn run(args: &VerifyArgs, state: &mut State, apps: &[String]) -> Result<Outcome> {
    let started = Instant::now();
    let deadline = started + args.timeout;
    let heroku = HerokuConfig::from_env()?.client(deadline);
    for (_, value) in &args.check_headers {
        ci::register_secret(value);
    }
    let mut failures = Vec::new();
    for app in apps {
        let outcome = verify_app(&heroku, args, state, app, deadline)?;
        state.record_app_outcome(app, &outcome);
        match outcome {
            Outcome::Failed(reason) if apps.len() > 1 => failures.push(format!("{app}: {reason}")),
            Outcome::Failed(reason) => failures.push(reason),
            _ => {}
        }
    }
    if let Some(url) = apps
        .first()
        .and_then(|app| state.app(app)?.change.as_ref()?.web_url.clone())
    {
        ci::write_outputs(&[("web-url", url)])?;
    }
    Ok(if failures.is_empty() {
        Outcome::Done
    } else {
        Outcome::Failed(failures.join("; "))
    })
}

/// Verifies one app: its new release's dynos, then the checks, then the rollback when asked.
fn verify_app(
    heroku: &Heroku,
    args: &VerifyArgs,
    state: &mut State,
    app: &str,
    deadline: Instant,
) -> Result<Outcome> {
    let started = Instant::now();
    let change = state
        .app(app)
        .and_then(|a| a.change.clone())
        .filter(|c| !c.dry_run);
    let version = match args
        .release
        .or_else(|| change.as_ref()?.release.as_ref().map(|r| r.version))
    {
        Some(v) => v,
        None => current_release(heroku, app)?.version,
    };
    ci::say(&format!("Verifying v{version} of {app}"));

    let mut record = json!({});
    let verdict = verify(heroku, args, app, version, deadline, &mut record);
    let failure = match verdict {
        Ok(None) => None,
        Ok(Some(reason)) => Some(reason),
        // A cancelled job is not a failed verification: it must not roll back.
        Err(e) if crate::signal::interrupted(&e).is_some() => return Err(e),
        Err(e) => Some(format!("{e:#}")),
    };
    let mut rollback = None;
    let outcome = match &failure {
        None => {
            ci::say(&format!(
                "v{version} of {app} is healthy ({})",
                human(started.elapsed())
            ));
            Outcome::Done
        }
        Some(reason) if args.rollback_on_failure => {
            ci::error(&format!("verification of {app} failed: {reason}"));
            let previous = change
                .as_ref()
                .and_then(|c| c.previous_release.as_ref())
                .and_then(|r| r.id.as_deref());
            let done = roll_back(heroku, app, version, previous, deadline, args.poll)?;
            let line = format!(
                "{reason}; rolled back to v{} as v{}",
                done.to,
                done.release.as_ref().map(|r| r.version).unwrap_or_default()
            );
            rollback = Some(done);
            Outcome::Failed(line)
        }
        Some(reason) => Outcome::Failed(reason.clone()),
    };
    write_summary(app, version, &record, &outcome)?;
    let entry = state.app_mut(app);
    entry.verify = Some(VerifyRecord {
        release: version,
        passed: failure.is_none(),
        reason: failure,
        dynos: record.get("dynos").cloned(),
        checks: record.get("checks").cloned(),
        timings_ms: Some(json!({ "total": started.elapsed().as_millis() as u64 })),
    });
    if let Some(rollback) = rollback {
        entry.rollback = Some(rollback);
    }
    Ok(outcome)
}

/// Dynos, then checks. `Ok(Some(reason))` is a failed verification; `Err` a failure to verify.
fn verify(
    heroku: &Heroku,
    args: &VerifyArgs,
    app: &str,
    version: u64,
    deadline: Instant,
    record: &mut Value,
) -> Result<Option<String>> {
    let expected = expected_dynos(&heroku.formation(app)?);
    let preboot = heroku.preboot(app)?.unwrap_or(false);
    if let Some(reason) = wait_for_dynos(heroku, args, app, version, expected, preboot, deadline)? {
        record["dynos"] = json!({ "passed": false, "reason": reason });
        return Ok(Some(reason));
    }
    record["dynos"] = json!({ "passed": true, "expected": expected });

    let expect = Expectation {
        status: args.expect_status.clone(),
        body: args.expect_body.clone(),
        max_latency: args.max_latency,
    };
    let mut reports = Vec::new();
    for url in &args.checks {
        crate::signal::check()?;
        reports.push(check(url, args, &expect, deadline));
    }
    crate::signal::check()?;
    record["checks"] = Value::Array(reports.iter().map(CheckReport::to_json).collect());
    let failed: Vec<&CheckReport> = reports.iter().filter(|r| !r.passed).collect();
    if failed.is_empty() {
        return Ok(None);
    }
    for report in &failed {
        ci::say(&format!(
            "FAILED {} after {} attempt(s): {}",
            http::display_target(&report.url),
            report.attempts,
            report.why.as_deref().unwrap_or("no answer")
        ));
        if let Some(start) = report.body_start() {
            ci::say(&format!("  last body: {start}"));
        }
    }
    let names: Vec<String> = failed
        .iter()
        .map(|r| {
            format!(
                "{} {}",
                http::display_target(&r.url),
                r.why.as_deref().unwrap_or("no answer")
            )
        })
        .collect();
    Ok(Some(format!(
        "{} of {} endpoint check(s) failed: {}",
        failed.len(),
        reports.len(),
        names.join("; ")
    )))
}

/// Polls the dynos until the release's are up (and, with `--wait-preboot`, the old ones gone).
fn wait_for_dynos(
    heroku: &Heroku,
    args: &VerifyArgs,
    app: &str,
    version: u64,
    expected: u32,
    preboot: bool,
    deadline: Instant,
) -> Result<Option<String>> {
    if expected == 0 {
        ci::say("The formation runs no dynos: nothing to wait for");
        return Ok(None);
    }
    let started = Instant::now();
    let mut said_preboot = false;
    loop {
        let dynos = heroku.dynos(app)?;
        match judge_dynos(&dynos, version, expected) {
            DynoVerdict::Crashed(names) => {
                return Ok(Some(format!(
                    "dyno(s) {} of v{version} crashed (see `heroku logs --tail -a {app}`)",
                    names.join(", ")
                )))
            }
            DynoVerdict::Up { old } if old.is_empty() => {
                ci::say(&format!(
                    "All {expected} dyno(s) of v{version} are up ({})",
                    human(started.elapsed())
                ));
                return Ok(None);
            }
            DynoVerdict::Up { old } => {
                if !args.wait_preboot {
                    ci::say(&format!(
                        "All {expected} dyno(s) of v{version} are up; {} still serve{}: {}",
                        old.len(),
                        if old.len() == 1 { "s" } else { "" },
                        old.join(", ")
                    ));
                    if preboot {
                        ci::say("Preboot is on: the old dynos keep serving for a few minutes while traffic moves to the new ones (pass --wait-preboot to wait until they are gone)");
                    }
                    return Ok(None);
                }
                if !said_preboot {
                    ci::say(&format!(
                        "All {expected} dyno(s) of v{version} are up; waiting for the old ones to stop serving (--wait-preboot): {}",
                        old.join(", ")
                    ));
                    said_preboot = true;
                }
            }
            DynoVerdict::Waiting(what) => {
                ci::say(&format!(
                    "Waiting for dynos ({}): {what}",
                    human(started.elapsed())
                ));
            }
        }
        if !time::wait_for_next_look(deadline, args.poll)? {
            return Ok(Some(format!(
                "timed out after {} waiting for the dynos of v{version} to be up (--timeout)",
                human(started.elapsed())
            )));
        }
    }
}

/// Checks one endpoint until it passes or the deadline passes, backing off between attempts.
fn check(url: &str, args: &VerifyArgs, expect: &Expectation, deadline: Instant) -> CheckReport {
    let shown = http::display_target(url);
    let mut report = CheckReport {
        url: url.to_string(),
        passed: false,
        attempts: 0,
        last: None,
        why: None,
    };
    // A slower answer fails the check anyway, so there is no point waiting longer for it.
    let normal_timeout = expect.max_latency.unwrap_or(Duration::from_secs(10));
    let mut delay = Duration::from_secs(1).min(args.poll);
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        let timeout = normal_timeout
            .min(remaining)
            .max(Duration::from_millis(100));
        let cut_short = timeout < normal_timeout;
        let probe = http::probe(url, &args.check_headers, args.follow_redirects, timeout);
        let timed_out = matches!(
            probe,
            Probe::Unreachable {
                kind: http::Unreachable::TimedOut,
                ..
            }
        );
        if timed_out && cut_short && report.why.is_some() {
            // The deadline, not the endpoint, ended this attempt: the previous answer says more.
            return report;
        }
        report.attempts += 1;
        let verdict = match judge_answer(&probe, expect) {
            Err(_) if timed_out && !cut_short && expect.max_latency.is_some() => Err(format!(
                "no answer within --max-latency {}",
                human(normal_timeout)
            )),
            verdict => verdict,
        };
        report.last = Some(probe);
        match verdict {
            Ok(()) => {
                if let Some(Probe::Answered {
                    status, latency, ..
                }) = &report.last
                {
                    ci::say(&format!(
                        "OK {shown}: {status} in {} (attempt {})",
                        human(*latency),
                        report.attempts
                    ));
                }
                report.passed = true;
                report.why = None;
                return report;
            }
            Err(why) => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    report.why = Some(why);
                    return report;
                }
                ci::say(&format!(
                    "{shown}: {why}; retrying in {} (attempt {})",
                    human(delay.min(left)),
                    report.attempts + 1
                ));
                report.why = Some(why);
                if time::wait_for_next_look(deadline, delay).is_err() {
                    // Cancelled: the caller stops at its next look at the signal.
                    return report;
                }
                delay = (delay * 2).min(args.poll.max(Duration::from_millis(1)));
            }
        }
    }
}

/// The live release.
fn current_release(heroku: &Heroku, app: &str) -> Result<Release> {
    heroku
        .recent_releases(app, 25)?
        .into_iter()
        .find(|r| r.current)
        .ok_or_else(|| anyhow!("{app} has no live release to verify"))
}

/// The release to roll back to: the one `deploy` replaced, else the newest succeeded release
/// older than `version` that Heroku allows rolling back to.
pub fn rollback_target(
    releases: &[Release],
    version: u64,
    previous: Option<&str>,
) -> Option<Release> {
    if let Some(id) = previous {
        if let Some(r) = releases.iter().find(|r| r.id == id) {
            return Some(r.clone());
        }
    }
    releases
        .iter()
        .filter(|r| r.version < version && r.status == Status::Succeeded && r.eligible_for_rollback)
        .max_by_key(|r| r.version)
        .cloned()
}

/// Rolls the app back after a failed verification and waits for the rollback release.
fn roll_back(
    heroku: &Heroku,
    app: &str,
    version: u64,
    previous: Option<&str>,
    deadline: Instant,
    poll: Duration,
) -> Result<RollbackRecord> {
    let releases = heroku.recent_releases(app, 50)?;
    let target = rollback_target(&releases, version, previous).ok_or_else(|| {
        anyhow!("verification failed and there is no earlier release of {app} to roll back to")
    })?;
    ci::say(&format!(
        "Rolling back {app} to v{} ({})",
        target.version, target.description
    ));
    crate::signal::check()?;
    let created = heroku
        .rollback(app, &target.id)
        .with_context(|| format!("could not roll {app} back to v{}", target.version))?;
    let follow = Follow {
        heroku,
        deadline,
        poll,
    };
    let mut tail = Tail::new();
    let done = follow::release(&follow, app, created, &mut tail)?;
    if done.status != Status::Succeeded {
        tail.show("release phase output");
        return Err(anyhow!(
            "the rollback release v{} ({}) {}; check the app now",
            done.version,
            done.id,
            done.status
        ));
    }
    ci::say(&format!(
        "Rolled back: v{} ({}) is live. Continuous deployment is paused: the next `shipline deploy` skips by the rollback guard until someone deploys with --force",
        done.version, done.description
    ));
    Ok(RollbackRecord {
        by: "verify".into(),
        to: target.version,
        from: Some(version),
        commit: None,
        release: Some(ReleaseRef {
            id: Some(done.id),
            version: done.version,
            commit: None,
        }),
        dry_run: false,
    })
}

fn write_summary(app: &str, version: u64, record: &Value, outcome: &Outcome) -> Result<()> {
    let mut md = format!(
        "### Verify {app} v{version}: {}\n\n",
        match outcome {
            Outcome::Done => "healthy",
            Outcome::Skipped(_) => "skipped",
            Outcome::Failed(_) => "failed",
            Outcome::Cancelled { .. } => "cancelled",
        }
    );
    if let Some(checks) = record["checks"].as_array().filter(|c| !c.is_empty()) {
        md.push_str(
            "| endpoint | result | attempts | last status | latency |\n|---|---|---|---|---|\n",
        );
        for c in checks {
            md.push_str(&format!(
                "| {} | {} | {} | {} | {} |\n",
                c["url"].as_str().unwrap_or_default(),
                if c["passed"] == true { "ok" } else { "failed" },
                c["attempts"],
                c["last_status"]
                    .as_u64()
                    .map(|s| s.to_string())
                    .or_else(|| c["unreachable"].as_str().map(str::to_string))
                    .unwrap_or_default(),
                c["last_latency_ms"]
                    .as_u64()
                    .map(|ms| format!("{ms} ms"))
                    .unwrap_or_default()
            ));
        }
        md.push('\n');
    }
    if let Some(reason) = outcome.reason() {
        md.push_str(&format!("{reason}\n\n"));
    }
    ci::write_summary(&md)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::heroku::ReleaseRef;

    fn dyno(name: &str, kind: &str, state: &str, version: u64) -> Dyno {
        Dyno {
            name: name.into(),
            kind: kind.into(),
            state: state.into(),
            release: ReleaseRef { version },
        }
    }

    /// What verify waits for, given `dynos` and `wanted` web dynos of v13; panics when the
    /// verdict is not to wait.
    fn waiting(dynos: &[Dyno], wanted: u32) -> String {
        match judge_dynos(dynos, 13, wanted) {
            DynoVerdict::Waiting(what) => what,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn all_new_dynos_up_passes_and_ignores_one_offs() {
        let dynos = [
            dyno("web.1", "web", "up", 13),
            dyno("web.2", "web", "up", 13),
            dyno("run.4821", "run", "crashed", 12),
            dyno("release.1", "release", "up", 13),
        ];
        assert_eq!(judge_dynos(&dynos, 13, 2), DynoVerdict::Up { old: vec![] });
    }

    #[test]
    fn a_crash_on_the_new_release_is_named_at_once() {
        let dynos = [
            dyno("web.1", "web", "up", 13),
            dyno("web.2", "web", "crashed", 13),
        ];
        assert_eq!(
            judge_dynos(&dynos, 13, 2),
            DynoVerdict::Crashed(vec!["web.2".into()])
        );
        waiting(&[dyno("web.1", "web", "crashed", 12)], 1);
    }

    #[test]
    fn only_old_dynos_up_is_still_waiting() {
        let what = waiting(&[dyno("web.1", "web", "up", 12)], 1);
        assert!(what.contains("0/1 dynos of v13 up"), "{what}");
        assert!(what.contains("web.1 v12 up"), "{what}");
        let what = waiting(&[dyno("web.1", "web", "starting", 13)], 1);
        assert!(what.contains("web.1 starting"), "{what}");
        waiting(&[dyno("web.1", "web", "up", 13)], 2);
    }

    #[test]
    fn preboot_overlap_is_reported() {
        let dynos = [
            dyno("web.1", "web", "up", 13),
            dyno("web.1", "web", "up", 12),
        ];
        assert_eq!(
            judge_dynos(&dynos, 13, 1),
            DynoVerdict::Up {
                old: vec!["web.1 (v12)".into()]
            }
        );
    }

    fn answered(status: u16, body: &str, ms: u64) -> Probe {
        Probe::Answered {
            status,
            latency: Duration::from_millis(ms),
            body: body.into(),
            location: None,
        }
    }

    fn expect(status: &str, body: Option<&str>, max_ms: Option<u64>) -> Expectation {
        Expectation {
            status: StatusSet::parse(status).unwrap(),
            body: body.map(Into::into),
            max_latency: max_ms.map(Duration::from_millis),
        }
    }

    #[test]
    fn answers_are_judged_on_status_body_and_latency() {
        assert_eq!(
            judge_answer(&answered(200, "ok", 5), &expect("200", None, None)),
            Ok(())
        );
        assert_eq!(
            judge_answer(
                &answered(503, "Application error", 5),
                &expect("2xx", None, None)
            ),
            Err("answered 503, expected 2xx".into())
        );
        assert_eq!(
            judge_answer(
                &answered(200, "old build", 5),
                &expect("200", Some("abc1234"), None)
            ),
            Err("answered 200 without the expected text \"abc1234\"".into())
        );
        assert!(
            judge_answer(&answered(204, "", 900), &expect("200,204", None, Some(500)))
                .unwrap_err()
                .contains("slower than --max-latency 500ms")
        );
        let refused = Probe::Unreachable {
            kind: http::Unreachable::Refused,
            detail: "Connection refused".into(),
            latency: Duration::ZERO,
        };
        assert!(judge_answer(&refused, &expect("200", None, None))
            .unwrap_err()
            .starts_with("could not connect (connection refused)"));
        let redirect = Probe::Answered {
            status: 302,
            latency: Duration::ZERO,
            body: String::new(),
            location: Some("https://login.example/?token=secret".into()),
        };
        let why = judge_answer(&redirect, &expect("200", None, None)).unwrap_err();
        assert!(
            why.contains("--follow-redirects") && !why.contains("secret"),
            "{why}"
        );
    }

    #[test]
    fn status_sets() {
        let set = StatusSet::parse("200,204, 3xx, 418-420").unwrap();
        for ok in [200, 204, 301, 399, 419] {
            assert!(set.allows(ok), "{ok}");
        }
        for bad in [201, 404, 500] {
            assert!(!set.allows(bad), "{bad}");
        }
        assert!(StatusSet::parse("9xx").is_err());
        assert!(StatusSet::parse("abc").is_err());
        assert!(StatusSet::parse("299-200").is_err());
    }

    fn release(version: u64, status: Status, eligible: bool) -> Release {
        Release {
            id: format!("r{version}"),
            version,
            description: format!("Deploy {version}"),
            status,
            current: false,
            eligible_for_rollback: eligible,
            output_stream_url: None,
            slug: None,
        }
    }

    #[test]
    fn the_rollback_target_is_the_release_deploy_replaced() {
        let releases = [
            release(14, Status::Succeeded, true),
            release(13, Status::Failed, false),
            release(12, Status::Succeeded, true),
            release(11, Status::Succeeded, true),
        ];
        assert_eq!(
            rollback_target(&releases, 14, Some("r11")).unwrap().version,
            11
        );
        assert_eq!(rollback_target(&releases, 14, None).unwrap().version, 12);
        assert_eq!(
            rollback_target(&releases, 14, Some("gone"))
                .unwrap()
                .version,
            12
        );
        assert!(rollback_target(&releases, 11, None).is_none());
    }
}
