//! One run of the real `shipline` binary as a CI step runs it, and what it left behind: the exit
//! code, both output streams, the state file and the GitHub Actions files, read once when the
//! process ends so later steps cannot change what a test looks at.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::repo::TempDir;

/// A `shipline` command line with its working directory and environment, run only when asked:
/// a test says what a CI step would be given, then [`Shipline::run`] or [`Shipline::start`].
///
/// The environment holds only what is given here (plus PATH and HOME): variables of the
/// machine running the tests (CI, GITHUB_ACTIONS, ...) must not leak in and change the step.
pub struct Shipline {
    cwd: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
    /// Holds `$GITHUB_OUTPUT` and `$GITHUB_STEP_SUMMARY` while the run needs them.
    files: Option<TempDir>,
}

impl Shipline {
    /// `shipline` with no arguments, to run in `cwd`.
    pub fn new(cwd: &Path) -> Shipline {
        Shipline {
            cwd: cwd.to_path_buf(),
            args: Vec::new(),
            env: Vec::new(),
            files: None,
        }
    }

    /// Runs in `dir` instead: another checkout of the job's repository, say.
    pub fn cwd(mut self, dir: &Path) -> Shipline {
        self.cwd = dir.to_path_buf();
        self
    }

    /// Adds arguments, in order.
    pub fn args<S: AsRef<str>>(mut self, args: impl IntoIterator<Item = S>) -> Shipline {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_string()));
        self
    }

    /// Sets a variable; a later one of the same name wins, so a test can override what its
    /// world set (an empty value stands for "not set" in the product).
    pub fn env(mut self, name: &str, value: impl AsRef<str>) -> Shipline {
        self.env
            .push((name.to_string(), value.as_ref().to_string()));
        self
    }

    /// Unsets a variable the world gives every step: for a step run without a credential
    /// that the job's other steps have (unset, which is not the same as empty to a user).
    pub fn without_env(mut self, name: &str) -> Shipline {
        self.env.retain(|(k, _)| k != name);
        self
    }

    /// Sets several variables, as [`Shipline::env`] does.
    pub fn envs<K: AsRef<str>, V: AsRef<str>>(
        mut self,
        vars: impl IntoIterator<Item = (K, V)>,
    ) -> Shipline {
        for (k, v) in vars {
            self = self.env(k.as_ref(), v);
        }
        self
    }

    /// Runs as a GitHub Actions step: `GITHUB_ACTIONS=true`, and `$GITHUB_OUTPUT` and
    /// `$GITHUB_STEP_SUMMARY` in a fresh directory, read back into [`Run`] when it ends.
    pub fn github_actions(mut self) -> Shipline {
        let files = TempDir::new("gh-files");
        let output = files.path.join("output");
        let summary = files.path.join("summary");
        self = self
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_OUTPUT", output.to_str().unwrap())
            .env("GITHUB_STEP_SUMMARY", summary.to_str().unwrap());
        self.files = Some(files);
        self
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_shipline"));
        cmd.current_dir(&self.cwd)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", &self.cwd)
            .env("RUST_BACKTRACE", "1")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .args(&self.args);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    fn var(&self, name: &str) -> Option<&str> {
        self.env
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// What the run left behind, read as the process ends.
    fn finished(&self, code: i32, stdout: String, stderr: String) -> Run {
        let state_path = match self.var("SHIPLINE_STATE") {
            Some(path) if !path.is_empty() => self.cwd.join(path),
            _ => self.cwd.join(".shipline/state.json"),
        };
        let read = |var: &str| {
            self.var(var)
                .filter(|p| !p.is_empty())
                .and_then(|p| std::fs::read_to_string(p).ok())
        };
        Run {
            code,
            stdout,
            stderr,
            state: std::fs::read_to_string(&state_path).ok(),
            outputs: read("GITHUB_OUTPUT"),
            summary: read("GITHUB_STEP_SUMMARY"),
        }
    }

    /// Runs `shipline` to its end, as a CI step would.
    pub fn run(self) -> Run {
        let out = self.command().output().unwrap();
        self.finished(
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Starts `shipline` in the background, its output going to files beside `cwd`, so a test
    /// can wait for what it says (with a deadline) instead of sleeping a fixed time that a
    /// loaded machine overruns.
    pub fn start(self) -> Background {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let stdout = self.cwd.join(format!(".shipline-bg-{n}.out"));
        let stderr = self.cwd.join(format!(".shipline-bg-{n}.err"));
        let child = self
            .command()
            .stdout(std::fs::File::create(&stdout).unwrap())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap();
        Background {
            command: self,
            child,
            stdout,
            stderr,
        }
    }
}

/// A `shipline` process still running; see [`Shipline::start`].
pub struct Background {
    command: Shipline,
    child: std::process::Child,
    stdout: PathBuf,
    stderr: PathBuf,
}

impl Background {
    /// Waits until standard output holds `text`; false when `within` passes first or the
    /// process has ended without saying it.
    pub fn wait_for(&mut self, text: &str, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        loop {
            if std::fs::read_to_string(&self.stdout).is_ok_and(|out| out.contains(text)) {
                return true;
            }
            let ended = self.child.try_wait().ok().flatten().is_some();
            if ended || Instant::now() >= deadline {
                return std::fs::read_to_string(&self.stdout).is_ok_and(|out| out.contains(text));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends `signal` (`INT`, `TERM`, `KILL`) to the process, as a CI runner cancelling the
    /// job does.
    pub fn signal(&mut self, signal: &str) {
        if signal == "KILL" {
            self.child.kill().unwrap();
            return;
        }
        let sent = std::process::Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(sent.success(), "kill -{signal} failed");
    }

    /// Waits for the process to end within `within`, and returns what it printed with its exit
    /// code (128 + the signal when a signal ended it); `None` when it is still running then
    /// (and it is killed, so no test leaves a process behind).
    pub fn finish_within(mut self, within: Duration) -> Option<Run> {
        use std::os::unix::process::ExitStatusExt;
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                let code = status
                    .code()
                    .unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
                return Some(self.command.finished(
                    code,
                    std::fs::read_to_string(&self.stdout).unwrap_or_default(),
                    std::fs::read_to_string(&self.stderr).unwrap_or_default(),
                ));
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits for the process to end.
    pub fn finish(mut self) -> Run {
        let status = self.child.wait().unwrap();
        self.command.finished(
            status.code().unwrap_or(-1),
            std::fs::read_to_string(&self.stdout).unwrap_or_default(),
            std::fs::read_to_string(&self.stderr).unwrap_or_default(),
        )
    }
}

/// What one run of the binary produced, with expectations that fail showing the whole run
/// (exit code, stdout, stderr), since a bare "assertion failed" says nothing about why.
///
/// The expectations return the run, so that they chain: `run.code(0).stdout_has("Released")`.
pub struct Run {
    /// The exit code; -1 when a signal ended the process.
    pub code: i32,
    /// Standard output, as the CI log shows it.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
    state: Option<String>,
    outputs: Option<String>,
    summary: Option<String>,
}

impl Run {
    /// Everything the CI log would show.
    pub fn log(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }

    /// Expects the exit code to be `code`.
    #[track_caller]
    pub fn code(&self, code: i32) -> &Run {
        assert_eq!(self.code, code, "{self:?}");
        self
    }

    /// Expects standard output to be exactly `text`: for output that does not depend on timing.
    #[track_caller]
    pub fn stdout_is(&self, text: &str) -> &Run {
        assert_eq!(self.stdout, text, "{self:?}");
        self
    }

    /// Expects `shown` (named `place` in the failure) to contain `text`, or not to when
    /// `present` is false; one check behind the `*_has` and `*_lacks` expectations.
    #[track_caller]
    fn expect_text(&self, shown: &str, place: &str, text: &str, present: bool) -> &Run {
        let what = if present { "expected" } else { "unexpected" };
        assert!(
            shown.contains(text) == present,
            "{what} {text:?} in {place}: {self:?}"
        );
        self
    }

    /// Expects standard output to contain `text`.
    #[track_caller]
    pub fn stdout_has(&self, text: &str) -> &Run {
        self.expect_text(&self.stdout, "stdout", text, true)
    }

    /// Expects standard output not to contain `text`.
    #[track_caller]
    pub fn stdout_lacks(&self, text: &str) -> &Run {
        self.expect_text(&self.stdout, "stdout", text, false)
    }

    /// Expects standard error to contain `text`.
    #[track_caller]
    pub fn stderr_has(&self, text: &str) -> &Run {
        self.expect_text(&self.stderr, "stderr", text, true)
    }

    /// Expects standard error not to contain `text`.
    #[track_caller]
    pub fn stderr_lacks(&self, text: &str) -> &Run {
        self.expect_text(&self.stderr, "stderr", text, false)
    }

    /// Expects the log (both streams) to contain `text`.
    #[track_caller]
    pub fn log_has(&self, text: &str) -> &Run {
        self.expect_text(&self.log(), "the log", text, true)
    }

    /// Expects the log (both streams) not to contain `text`: for secrets above all.
    #[track_caller]
    pub fn log_lacks(&self, text: &str) -> &Run {
        self.expect_text(&self.log(), "the log", text, false)
    }

    /// The state file as the run left it; panics (showing the run) when there is none.
    #[track_caller]
    pub fn state(&self) -> Value {
        let text = self
            .state
            .as_deref()
            .unwrap_or_else(|| panic!("the run left no state file: {self:?}"));
        serde_json::from_str(text).unwrap_or_else(|e| panic!("state file not JSON ({e}): {text}"))
    }

    /// The latest record of `step` in the state file the run left (see [`step_record`]).
    #[track_caller]
    pub fn step(&self, step: &str) -> Value {
        step_record(&self.state(), step).clone()
    }

    /// `$GITHUB_OUTPUT` as written, for checks of its exact lines; empty when nothing was
    /// written (see [`Shipline::github_actions`]).
    pub fn outputs_text(&self) -> &str {
        self.outputs.as_deref().unwrap_or_default()
    }

    /// `$GITHUB_OUTPUT` parsed as GitHub Actions reads it: `name=value` lines and
    /// `name<<DELIMITER` blocks; a later value of a name wins, as in Actions.
    #[track_caller]
    pub fn outputs(&self) -> BTreeMap<String, String> {
        let mut outputs = BTreeMap::new();
        let mut lines = self.outputs_text().lines();
        while let Some(line) = lines.next() {
            if let Some((name, delimiter)) = line.split_once("<<") {
                let mut value = Vec::new();
                for line in lines.by_ref() {
                    if line == delimiter {
                        break;
                    }
                    value.push(line);
                }
                outputs.insert(name.to_string(), value.join("\n"));
            } else if let Some((name, value)) = line.split_once('=') {
                outputs.insert(name.to_string(), value.to_string());
            } else {
                panic!("not an output line {line:?} in:\n{}", self.outputs_text());
            }
        }
        outputs
    }

    /// One output by name; panics, listing them all, when it was not written.
    #[track_caller]
    pub fn output(&self, name: &str) -> String {
        let outputs = self.outputs();
        outputs
            .get(name)
            .unwrap_or_else(|| panic!("no output {name:?} in {outputs:?}: {self:?}"))
            .clone()
    }

    /// `$GITHUB_STEP_SUMMARY` as written; empty when nothing was.
    pub fn summary(&self) -> &str {
        self.summary.as_deref().unwrap_or_default()
    }
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// The latest record of `step` in a state file: steps are listed in the order they ran, and a
/// job may run one step several times (a verify of staging, then of production).
pub fn step_record<'a>(state: &'a Value, step: &str) -> &'a Value {
    state["steps"]
        .as_array()
        .and_then(|steps| steps.iter().rev().find(|s| s["step"] == step))
        .unwrap_or(&Value::Null)
}

/// Expects `parts` to appear in `log` in this order: for streamed output whose exact text
/// depends on timing but whose order must not.
#[track_caller]
pub fn assert_in_order(log: &str, parts: &[&str]) {
    let mut at = 0;
    for part in parts {
        match log[at..].find(part) {
            Some(i) => at += i + part.len(),
            None => panic!("expected `{part}` (in this order) in:\n{log}"),
        }
    }
}
