//! `shipline notes` (being written).

use anyhow::{bail, Result};

use crate::cli::NotesArgs;
use crate::outcome::Outcome;

/// Runs `shipline notes`.
pub fn run(_args: &NotesArgs) -> Result<Outcome> {
    bail!("shipline notes is not available in this build yet")
}
