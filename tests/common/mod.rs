//! The one harness of the integration tests: a [`World`] (a job's repository, the sandbox
//! services it talks to, its CI variables) in which each step runs the real `shipline` binary
//! ([`Shipline`]), giving a [`Run`] to hold expectations on: the exit code, the output, the
//! state file, the GitHub Actions files; what each service received is read from the service.
//!
//! The harness speaks to the sandbox in the sandbox's terms and never uses the product's
//! types, so that a misunderstanding shared by both cannot make a test pass.

#![allow(dead_code, unused_imports, unused_macros)]

mod queue;
mod repo;
mod run;
mod slack;
mod world;

pub use queue::{Build, Provider, Queue, Spec};
pub use repo::{git_command, Repo, TempDir};
pub use run::{assert_in_order, step_record, Background, Run, Shipline};
pub use slack::block_text;
pub use world::World;
