//! shipline: continuous deployment from CI to Heroku. `main` parses, runs, and maps the outcome
//! to an exit code; everything else lives in the modules below.

mod ci;
mod cli;
mod git;
mod github;
mod heroku;
mod http;
mod message;
mod notes;
mod outcome;
mod slack;
mod steps;

use std::process::ExitCode;

use cli::{Command, UsageError};
use outcome::Outcome;

fn main() -> ExitCode {
    let args = std::env::args_os().skip(1).collect();
    let command = match cli::parse(args) {
        Ok(command) => command,
        Err(error) => {
            ci::error(&error.to_string());
            return ExitCode::from(2);
        }
    };
    let result = match command {
        Command::Help(text) => {
            print!("{text}");
            return ExitCode::SUCCESS;
        }
        Command::Version => {
            println!("shipline {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Command::Notes(args) => steps::notes::run(&args),
        Command::Notify(args) => {
            steps::run_step("notify", &[], &args.state, args.dry_run, |state| {
                steps::notify::run(&args, state)
            })
        }
        Command::Verify(args) => steps::run_step(
            "verify",
            &["lock", "deploy", "promote"],
            &args.state,
            false,
            |state| steps::verify::run(&args, state),
        ),
        Command::Rollback(args) => {
            steps::run_step("rollback", &[], &args.state, args.dry_run, |state| {
                steps::rollback::run(&args, state)
            })
        }
        Command::Promote(args) => {
            steps::run_step("promote", &["lock"], &args.state, args.dry_run, |state| {
                steps::promote::run(&args, state)
            })
        }
        Command::Deploy(args) => {
            steps::run_step("deploy", &["lock"], &args.state, args.dry_run, |state| {
                steps::deploy::run(&args, state)
            })
        }
    };
    match result {
        Ok(Outcome::Done) => ExitCode::SUCCESS,
        Ok(Outcome::Skipped(reason)) => {
            ci::say(&format!("Skipped: {reason}"));
            ExitCode::SUCCESS
        }
        Ok(Outcome::Failed(reason)) => {
            ci::error(&reason);
            ExitCode::from(1)
        }
        Err(error) => {
            // `{:#}` prints the chain on one line, what failed first, then why; never a
            // backtrace, whatever RUST_BACKTRACE says.
            ci::error(&format!("{error:#}"));
            if error.chain().any(|cause| cause.is::<UsageError>()) {
                ExitCode::from(2)
            } else {
                ExitCode::from(1)
            }
        }
    }
}
