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
