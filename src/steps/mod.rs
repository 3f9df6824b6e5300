//! The steps a CI config calls, one file each. A step says what it acts on ([`Scope`]),
//! fetches what it needs, asks a pure decision function what to do, acts, and returns an
//! [`Outcome`]; [`run_step`] records that outcome in the state file and the CI outputs,
//! whatever happened.

pub mod deploy;
pub mod lock;
pub mod notes;
pub mod notify;
pub mod promote;
pub mod rollback;
pub mod verify;

use std::path::Path;
use std::time::{Instant, SystemTime};

use anyhow::Result;

use crate::ci::{self, Provider};
use crate::outcome::Outcome;
use crate::state::{Dependency, State, StepRecord};
use crate::time;

/// What a step acts on and which earlier steps it depends on, decided from its flags and the
/// state file before it acts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    /// The apps it acts on, in the order given (none for the lock).
    pub apps: Vec<String>,
    /// Earlier steps whose skip makes this one skip.
    pub after: Vec<Dependency>,
}

/// Runs `body` as step `name`: loads the state file, decides the step's [`Scope`], skips when
/// a step it depends on skipped earlier in the run, records the outcome (a failure too, with
/// its reason), and writes the `outcome` output on GitHub Actions.
pub fn run_step(
    name: &str,
    state_path: &Path,
    dry_run: bool,
    scope: impl FnOnce(&State) -> Result<Scope>,
    body: impl FnOnce(&mut State, &[String]) -> Result<Outcome>,
) -> Result<Outcome> {
    let started = Instant::now();
    let started_at = time::rfc3339(SystemTime::now());
    let provider = Provider::detect();
    let mut state = State::load(state_path, provider.run_key().as_deref())?;

    let (apps, result) = match scope(&state) {
        Err(error) => (Vec::new(), Err(error)),
        Ok(scope) => {
            let result = match state.skipped_dependency(&scope.after) {
                Some(reason) => Ok(Outcome::Skipped(reason)),
                None => body(&mut state, &scope.apps),
            };
            (scope.apps, result)
        }
    };
    let result = match result {
        Err(error) => match crate::signal::interrupted(&error) {
            Some(signal) => Ok(cancelled(name, &mut state, &apps, signal)),
            None => Err(error),
        },
        ok => ok,
    };

    let (word, reason) = match &result {
        Ok(outcome) => (outcome.word(), outcome.reason().map(str::to_string)),
        Err(error) => ("failed", Some(ci::redact(&format!("{error:#}")))),
    };
    if let Ok(Outcome::Skipped(reason)) = &result {
        ci::notice("Skipped", &format!("{name} skipped: {reason}"));
    }
    state.record_step(StepRecord {
        step: name.to_string(),
        apps,
        outcome: word.to_string(),
        reason: reason.clone(),
        started_at,
        duration_ms: started.elapsed().as_millis() as u64,
        dry_run,
        by_app: Default::default(),
    });
    let saved = state.save();
    let mut outputs = vec![("outcome", word.to_string())];
    if let Some(reason) = reason {
        outputs.push(("reason", reason));
    }
    let written = ci::write_outputs(&outputs);
    let outcome = result?;
    saved?;
    written?;
    Ok(outcome)
}

/// The outcome of a step a signal stopped: what it had started on Heroku and had not seen
/// finish (each app's [`crate::state::InFlight`]), marked as cancelled, with how to follow it.
fn cancelled(name: &str, state: &mut State, apps: &[String], signal: i32) -> Outcome {
    let by = crate::signal::name(signal);
    let mut in_flight = Vec::new();
    for app in apps {
        if let Some(work) = state.app_mut(app).in_flight.as_mut() {
            work.cancelled_by = Some(by.clone());
            ci::say(&format!(
                "In flight on {app}: {} (started {}); Heroku goes on with it. Follow it with {}, or re-run this job: shipline picks it up instead of starting another",
                work.describe(),
                work.started_at,
                work.follow_hint(app)
            ));
            in_flight.push(format!("{} on {app}", work.describe()));
        }
    }
    let reason = if in_flight.is_empty() {
        format!("{name} cancelled by {by} before it started anything on Heroku")
    } else {
        format!(
            "{name} cancelled by {by} while {} was in flight; a re-run picks it up",
            in_flight.join(" and ")
        )
    };
    Outcome::Cancelled { signal, reason }
}

/// What a step is about to wait on: which step, which kind of work (`build`, `release`,
/// `promotion`, `rollback`), Heroku's id and version, and the commit it ships.
pub struct Work<'a> {
    /// The step waiting on it.
    pub step: &'a str,
    /// `build`, `release`, `promotion` or `rollback`.
    pub kind: &'a str,
    /// Heroku's id of it.
    pub id: &'a str,
    /// The release's version, once there is one.
    pub version: Option<u64>,
    /// The commit it ships, when known.
    pub commit: Option<&'a str>,
}

/// Records the work a step is about to wait on ([`crate::state::InFlight`]) and saves the state
/// file at once, so a step cancelled (or killed) in the wait leaves a record of it. The same
/// work recorded again keeps the time it was first recorded.
pub fn record_in_flight(state: &mut State, app: &str, work: Work<'_>) {
    let started_at = state
        .app(app)
        .and_then(|a| a.in_flight.as_ref())
        .filter(|w| w.id == work.id)
        .map(|w| w.started_at.clone())
        .unwrap_or_else(|| time::rfc3339(SystemTime::now()));
    state.app_mut(app).in_flight = Some(crate::state::InFlight {
        step: work.step.into(),
        kind: work.kind.into(),
        id: work.id.into(),
        version: work.version,
        commit: work.commit.map(str::to_string),
        started_at,
        cancelled_by: None,
    });
    if let Err(e) = state.save() {
        ci::warn(&format!(
            "could not record the {} in flight: {e:#}",
            work.kind
        ));
    }
}

/// The apps a step that follows a change acts on: the ones given, else those of the latest
/// deploy or promote of the run; `None` when there are neither.
pub fn apps_or_latest(given: &[String], state: &State) -> Option<Vec<String>> {
    let apps = if given.is_empty() {
        state.latest_change_apps()
    } else {
        given.to_vec()
    };
    (!apps.is_empty()).then_some(apps)
}
