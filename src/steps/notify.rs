//! `shipline notify` (being written).

use anyhow::{bail, Result};

use crate::cli::NotifyArgs;
use crate::outcome::{Outcome, State};

/// Runs `shipline notify`.
pub fn run(_args: &NotifyArgs, _state: &mut State) -> Result<Outcome> {
    bail!("shipline notify is not available in this build yet")
}
