//! The one error that is the user's to fix: a flag, variable or file that cannot work as given.
//!
//! Any module may return it (the CLI parser, a client reading its credentials, a step checking
//! a path); `main` maps it to exit code 2, apart from the exit code 1 of a failed step, so a CI
//! job tells "shipline was misconfigured" from "the deploy failed".

use std::fmt;

/// Bad usage or configuration: exit code 2. The text names the flag, variable or file involved
/// and what to do.
#[derive(Debug)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}
