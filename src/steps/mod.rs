//! The steps a CI config calls, one file each. A step fetches what it needs, asks a pure
//! decision function what to do, acts, and returns an [`Outcome`]; [`run_step`] records that
//! outcome in the state file and the CI outputs, whatever happened.

pub mod deploy;
pub mod follow;
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
use crate::outcome::{self, Outcome, State, StepRecord};

/// Runs `body` as step `name`: loads the state file, skips when an earlier step of the run
/// (`after`) skipped, records the outcome (a failure too, with its reason), and writes the
/// `outcome` output on GitHub Actions.
pub fn run_step(
    name: &str,
    after: &[&str],
    state_path: &Path,
    dry_run: bool,
    body: impl FnOnce(&mut State) -> Result<Outcome>,
) -> Result<Outcome> {
    let started = Instant::now();
    let started_at = outcome::rfc3339(SystemTime::now());
    let provider = Provider::detect();
    let mut state = State::load(state_path, provider.run_key().as_deref())?;

    let result = match state.skipped_before(after) {
        Some((step, reason)) => Ok(Outcome::Skipped(format!(
            "the {step} step skipped this run: {reason}"
        ))),
        None => body(&mut state),
    };

    let (word, reason) = match &result {
        Ok(outcome) => (outcome.word(), outcome.reason().map(str::to_string)),
        Err(error) => ("failed", Some(ci::redact(&format!("{error:#}")))),
    };
    if let Ok(Outcome::Skipped(reason)) = &result {
        ci::notice("Skipped", &format!("{name} skipped: {reason}"));
    }
    state.record_step(
        name,
        StepRecord {
            outcome: word.to_string(),
            reason: reason.clone(),
            started_at,
            duration_ms: started.elapsed().as_millis() as u64,
            dry_run,
        },
    );
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
