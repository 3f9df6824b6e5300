//! shipline: continuous deployment from CI to Heroku. `main` parses, runs, and maps the outcome
//! to an exit code; everything else lives in the library (`lib.rs`).

use std::process::ExitCode;

use shipline::cli::{self, Command};
use shipline::outcome::Outcome;
use shipline::usage::UsageError;
use shipline::{ci, steps};

fn main() -> ExitCode {
    let args = std::env::args_os().skip(1).collect();
    let command = match cli::parse(args) {
        Ok(command) => command,
        Err(error) => {
            ci::error(&error.to_string());
            return ExitCode::from(2);
        }
    };
    if !matches!(command, Command::Help(_) | Command::Version) {
        // A CA file or proxy URL that cannot be used is a configuration error, found before
        // the step does anything.
        if let Err(why) = shipline::network::get() {
            ci::error(&why);
            return ExitCode::from(2);
        }
    }
    shipline::signal::install();
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
        Command::Notify(args) => steps::run_step(
            "notify",
            &args.state,
            args.dry_run,
            |state| steps::notify::scope(&args, state),
            |state, apps| steps::notify::run(&args, state, apps),
        ),
        Command::Verify(args) => steps::run_step(
            "verify",
            &args.state,
            false,
            |state| steps::verify::scope(&args, state),
            |state, apps| steps::verify::run(&args, state, apps),
        ),
        Command::Rollback(args) => steps::run_step(
            "rollback",
            &args.state,
            args.dry_run,
            |state| steps::rollback::scope(&args, state),
            |state, apps| steps::rollback::run(&args, state, &apps[0]),
        ),
        Command::Promote(args) => steps::run_step(
            "promote",
            &args.state,
            args.dry_run,
            |_| Ok(steps::promote::scope(&args)),
            |state, _| steps::promote::run(&args, state),
        ),
        Command::Lock(args) => {
            let result = steps::run_step(
                "lock",
                &args.state,
                false,
                |_| Ok(steps::Scope::default()),
                |state, _| steps::lock::run(&args, state),
            );
            if matches!(result, Ok(Outcome::Done)) && !args.command.is_empty() {
                return run_command(&args.command);
            }
            result
        }
        Command::Deploy(args) => steps::run_step(
            "deploy",
            &args.state,
            args.dry_run,
            |_| Ok(steps::deploy::scope(&args)),
            |state, _| steps::deploy::run(&args, state),
        ),
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
        Ok(Outcome::Cancelled { signal, reason }) => {
            ci::error(&reason);
            ExitCode::from(shipline::signal::exit_code(signal))
        }
        Err(error) => {
            // `{:#}` prints the chain on one line, what failed first, then why; never a
            // backtrace, whatever RUST_BACKTRACE says.
            ci::error(&format!("{error:#}"));
            if let Some(signal) = shipline::signal::interrupted(&error) {
                ExitCode::from(shipline::signal::exit_code(signal))
            } else if error.chain().any(|cause| cause.is::<UsageError>()) {
                ExitCode::from(2)
            } else {
                ExitCode::from(1)
            }
        }
    }
}

/// Runs the command given after `shipline lock ... --` with the lock held, and exits with its
/// code (128 + the signal's number when a signal ended it, as shells report it).
fn run_command(command: &[std::ffi::OsString]) -> ExitCode {
    let shown = command
        .iter()
        .map(|a| a.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ");
    ci::say(&format!("Running with the lock held: {shown}"));
    let status = std::process::Command::new(&command[0])
        .args(&command[1..])
        .spawn()
        .and_then(|mut child| {
            // Waited for in short looks, so a cancelled job's signal is passed on to the
            // command, which a CI runner may not signal itself.
            let mut forwarded = false;
            loop {
                if let Some(status) = child.try_wait()? {
                    return Ok(status);
                }
                if let Some(signal) = shipline::signal::received().filter(|_| !forwarded) {
                    forwarded = shipline::signal::forward(child.id(), signal);
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        });
    match status {
        Ok(status) => {
            let code = status.code().unwrap_or_else(|| {
                #[cfg(unix)]
                {
                    use std::os::unix::process::ExitStatusExt;
                    128 + status.signal().unwrap_or(0)
                }
                #[cfg(not(unix))]
                {
                    1
                }
            });
            ExitCode::from(code.clamp(0, 255) as u8)
        }
        Err(error) => {
            ci::error(&format!(
                "could not run `{}` after taking the lock: {error}",
                command[0].to_string_lossy()
            ));
            ExitCode::from(1)
        }
    }
}
