//! How a step ended: done, skipped with a reason, or failed with a reason. `main` maps it to
//! the exit code; the state file and the CI outputs record it.

/// How a step ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The step did its work.
    Done,
    /// The step decided not to act, for the reason given; exit code 0.
    Skipped(String),
    /// The step failed, for the reason given; exit code 1.
    Failed(String),
    /// A signal stopped the step (the CI job was cancelled); the reason says what was in
    /// flight on Heroku. Exit code 128 + the signal's number (130 SIGINT, 143 SIGTERM), as a
    /// shell reports a process the signal ended.
    Cancelled {
        /// The signal's number.
        signal: i32,
        /// What was in flight, and how to follow it.
        reason: String,
    },
}

impl Outcome {
    /// The word used in the state file and CI outputs.
    pub fn word(&self) -> &'static str {
        match self {
            Outcome::Done => "done",
            Outcome::Skipped(_) => "skipped",
            Outcome::Failed(_) => "failed",
            Outcome::Cancelled { .. } => "cancelled",
        }
    }

    /// The reason of a skip or failure.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Outcome::Done => None,
            Outcome::Skipped(r) | Outcome::Failed(r) => Some(r),
            Outcome::Cancelled { reason, .. } => Some(reason),
        }
    }
}
