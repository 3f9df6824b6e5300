//! Cancellation: SIGINT and SIGTERM, as CI runners send them when a job is cancelled (GitHub
//! Actions sends SIGINT, then SIGTERM; CircleCI sends SIGTERM), or a runner times a job out.
//!
//! Heroku does not stop when the job does, so a cancelled step must not just die: it stops
//! waiting, starts nothing new, records what it had started and exits 130 (SIGINT) or 143
//! (SIGTERM). The handler only stores the signal's number; every wait of shipline sleeps in
//! short slices through [`sleep`] and asks [`check`] between them, so the main thread notices
//! within [`SLICE`] and records the step itself. A request or upload that blocks longer is cut
//! short by a watchdog thread that ends the process [`GRACE`] after the signal, so a job never
//! outlives its cancellation by more than that.

use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

/// The signal received, 0 while none.
static RECEIVED: AtomicI32 = AtomicI32::new(0);

/// How often a wait looks at the flag.
pub const SLICE: Duration = Duration::from_millis(100);

/// How long the step may take to record itself after the signal before the watchdog ends the
/// process: CI runners allow a few seconds before SIGKILL, and the issue promises 2 s.
pub const GRACE: Duration = Duration::from_millis(1800);

/// SIGINT's number (the same on every Unix).
pub const SIGINT: i32 = 2;
/// SIGTERM's number (the same on every Unix).
pub const SIGTERM: i32 = 15;

/// A step stopped by a signal. It travels up as an error, so every `?` between a wait and the
/// step's runner stops the step; the runner turns it into [`crate::outcome::Outcome::Cancelled`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interrupted(pub i32);

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cancelled by {}", name(self.0))
    }
}

impl std::error::Error for Interrupted {}

/// `SIGINT`, `SIGTERM`, or `signal N`.
pub fn name(signal: i32) -> String {
    match signal {
        SIGINT => "SIGINT".to_string(),
        SIGTERM => "SIGTERM".to_string(),
        n => format!("signal {n}"),
    }
}

/// The exit code of a process ended by `signal`, as shells report it: 128 + its number.
pub fn exit_code(signal: i32) -> u8 {
    u8::try_from(128 + signal).unwrap_or(1)
}

#[cfg(unix)]
mod sys {
    use std::os::raw::c_int;

    extern "C" {
        // The C library's `signal`: on glibc and musl it installs a handler with BSD semantics
        // (SA_RESTART, not reset after delivery), which is what shipline needs; std links the C
        // library already, so this costs no dependency.
        fn signal(signum: c_int, handler: usize) -> usize;
        fn kill(pid: c_int, signum: c_int) -> c_int;
    }

    extern "C" fn on_signal(signum: c_int) {
        // Only an atomic store: the one thing a handler may safely do. The first signal wins,
        // so GitHub's SIGTERM after its SIGINT does not change the exit code.
        let _ = super::RECEIVED.compare_exchange(
            0,
            signum,
            std::sync::atomic::Ordering::SeqCst,
            std::sync::atomic::Ordering::SeqCst,
        );
    }

    pub fn send(pid: u32, signum: i32) -> bool {
        let Ok(pid) = c_int::try_from(pid) else {
            return false;
        };
        // SAFETY: `kill` has no memory-safety preconditions; a pid that is gone gives ESRCH.
        unsafe { kill(pid, signum) == 0 }
    }

    pub fn install(signum: i32) {
        let handler = on_signal as extern "C" fn(c_int) as usize;
        // SAFETY: `on_signal` is async-signal-safe (one atomic operation) and lives as long as
        // the program.
        unsafe {
            signal(signum, handler);
        }
    }
}

/// Installs the handlers for SIGINT and SIGTERM and starts the watchdog. Called once, by the
/// binary, before a step runs.
pub fn install() {
    #[cfg(unix)]
    {
        sys::install(SIGINT);
        sys::install(SIGTERM);
    }
    let _ = std::thread::Builder::new()
        .name("shipline-watchdog".into())
        .spawn(|| loop {
            std::thread::sleep(SLICE);
            let signal = RECEIVED.load(Ordering::SeqCst);
            if signal != 0 {
                std::thread::sleep(GRACE);
                crate::ci::error(&format!(
                    "{}: the step did not finish recording within {} and was ended; what it started on Heroku goes on, and a re-run picks it up",
                    Interrupted(signal),
                    crate::time::human(GRACE)
                ));
                std::process::exit(i32::from(exit_code(signal)));
            }
        });
}

/// Passes `signal` on to the process `pid` (the command `shipline lock -- CMD` runs with the
/// lock held), so a cancelled job stops that command too instead of leaving it running;
/// `false` when it could not be sent.
pub fn forward(pid: u32, signal: i32) -> bool {
    #[cfg(unix)]
    {
        sys::send(pid, signal)
    }
    #[cfg(not(unix))]
    {
        let _ = (pid, signal);
        false
    }
}

/// The signal received, if any.
pub fn received() -> Option<i32> {
    match RECEIVED.load(Ordering::SeqCst) {
        0 => None,
        n => Some(n),
    }
}

/// Fails with [`Interrupted`] once a signal has arrived: called before starting anything new
/// and between the slices of every wait.
pub fn check() -> anyhow::Result<()> {
    match received() {
        Some(signal) => Err(anyhow::Error::new(Interrupted(signal))),
        None => Ok(()),
    }
}

/// Sleeps `duration` in slices of [`SLICE`], failing with [`Interrupted`] as soon as a signal
/// arrives.
pub fn sleep(duration: Duration) -> anyhow::Result<()> {
    let end = Instant::now() + duration;
    loop {
        check()?;
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(());
        }
        std::thread::sleep(left.min(SLICE));
    }
}

/// The signal that stopped a step, when `error` is (or wraps) an [`Interrupted`].
pub fn interrupted(error: &anyhow::Error) -> Option<i32> {
    error
        .chain()
        .find_map(|cause| cause.downcast_ref::<Interrupted>())
        .map(|i| i.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_exit_codes_follow_the_shell() {
        assert_eq!(exit_code(SIGINT), 130);
        assert_eq!(exit_code(SIGTERM), 143);
        assert_eq!(Interrupted(SIGTERM).to_string(), "cancelled by SIGTERM");
        let error = anyhow::Error::new(Interrupted(SIGINT)).context("while following build b1");
        assert_eq!(interrupted(&error), Some(SIGINT));
        assert_eq!(interrupted(&anyhow::anyhow!("other")), None);
    }
}
