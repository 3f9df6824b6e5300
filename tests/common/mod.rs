//! Helpers for the integration tests: throwaway git repositories and a way to run the real
//! `shipline` binary the way a CI job does, with a controlled environment.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A directory removed when dropped.
pub struct TempDir {
    pub path: PathBuf,
}

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "shipline-test-{name}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TempDir { path }
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// A git repository made with the `git` command, with fixed identities and dates so commit
/// ids are stable across runs.
pub struct Repo {
    pub dir: TempDir,
    tick: std::cell::Cell<u64>,
}

impl Repo {
    pub fn new(name: &str) -> Repo {
        let repo = Repo {
            dir: TempDir::new(name),
            tick: std::cell::Cell::new(0),
        };
        repo.git(&["init", "-q", "-b", "main"]);
        repo
    }

    pub fn path(&self) -> &Path {
        &self.dir.path
    }

    /// Runs git in the repository and returns its trimmed standard output.
    pub fn git(&self, args: &[&str]) -> String {
        let out = git_command(self.path()).args(args).output().unwrap();
        assert!(
            out.status.success(),
            "git {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    /// Writes a file (creating folders).
    pub fn write(&self, path: &str, content: &str) {
        let full = self.path().join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, content).unwrap();
    }

    /// Stages everything and commits; returns the full commit id.
    pub fn commit(&self, message: &str) -> String {
        let t = self.tick.get() + 1;
        self.tick.set(t);
        let date = format!("{} +0000", 1_790_000_000 + t * 60);
        self.git(&["add", "-A"]);
        let out = git_command(self.path())
            .env("GIT_AUTHOR_DATE", &date)
            .env("GIT_COMMITTER_DATE", &date)
            .args(["commit", "-q", "--allow-empty", "-m", message])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        self.git(&["rev-parse", "HEAD"])
    }
}

/// A git command with a fixed identity and no user or system configuration.
pub fn git_command(dir: &Path) -> Command {
    let mut cmd = Command::new("git");
    cmd.current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "Ada Lovelace")
        .env("GIT_AUTHOR_EMAIL", "ada@example.com")
        .env("GIT_COMMITTER_NAME", "Ada Lovelace")
        .env("GIT_COMMITTER_EMAIL", "ada@example.com");
    cmd
}

/// What a run of the binary produced.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Everything the CI log would show.
    pub fn log(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
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

/// The `shipline` command as a CI step runs it: in `cwd`, with only the given environment (plus
/// PATH and HOME); variables of the machine running the tests (CI, GITHUB_ACTIONS, ...) do not
/// leak in.
fn command(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_shipline"));
    cmd.current_dir(cwd)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", cwd)
        .env("RUST_BACKTRACE", "1")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// Runs `shipline` to its end, as a CI step would.
pub fn shipline(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let out: Output = command(cwd, args, env).output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A `shipline` process in the background whose output goes to files, so a test waits for
/// what it says (with a deadline of seconds) instead of sleeping a fixed time that a loaded
/// machine overruns.
pub struct Background {
    child: std::process::Child,
    stdout: std::path::PathBuf,
    stderr: std::path::PathBuf,
}

impl Background {
    /// Starts `shipline` like [`shipline`], writing its output beside `cwd`.
    pub fn start(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Background {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let stdout = cwd.join(format!(".shipline-bg-{n}.out"));
        let stderr = cwd.join(format!(".shipline-bg-{n}.err"));
        let child = command(cwd, args, env)
            .stdout(std::fs::File::create(&stdout).unwrap())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap();
        Background {
            child,
            stdout,
            stderr,
        }
    }

    /// Waits until standard output holds `text`; false when `within` passes first or the
    /// process has ended without saying it.
    pub fn wait_for(&mut self, text: &str, within: std::time::Duration) -> bool {
        let deadline = std::time::Instant::now() + within;
        loop {
            if std::fs::read_to_string(&self.stdout).is_ok_and(|out| out.contains(text)) {
                return true;
            }
            let ended = self.child.try_wait().ok().flatten().is_some();
            if ended || std::time::Instant::now() >= deadline {
                return std::fs::read_to_string(&self.stdout).is_ok_and(|out| out.contains(text));
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// Sends `signal` (`INT`, `TERM`, `KILL`) to the process, as a CI runner cancelling the
    /// job does.
    pub fn signal(&mut self, signal: &str) {
        if signal == "KILL" {
            self.child.kill().unwrap();
            return;
        }
        let sent = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(sent.success(), "kill -{signal} failed");
    }

    /// Waits for the process to end within `within`, and returns what it printed with its exit
    /// code (128 + the signal when a signal ended it); `None` when it is still running then.
    pub fn finish_within(mut self, within: std::time::Duration) -> Option<Run> {
        let deadline = std::time::Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                use std::os::unix::process::ExitStatusExt;
                return Some(Run {
                    code: status
                        .code()
                        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0)),
                    stdout: std::fs::read_to_string(&self.stdout).unwrap_or_default(),
                    stderr: std::fs::read_to_string(&self.stderr).unwrap_or_default(),
                });
            }
            if std::time::Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return None;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }

    /// Waits for the process to end.
    pub fn finish(mut self) -> Run {
        let status = self.child.wait().unwrap();
        Run {
            code: status.code().unwrap_or(-1),
            stdout: std::fs::read_to_string(&self.stdout).unwrap_or_default(),
            stderr: std::fs::read_to_string(&self.stderr).unwrap_or_default(),
        }
    }
}

/// The latest record of `step` in a state file: steps are listed in the order they ran, and a
/// job may run one step several times (a verify of staging, then of production).
pub fn step_record<'a>(state: &'a serde_json::Value, step: &str) -> &'a serde_json::Value {
    state["steps"]
        .as_array()
        .and_then(|steps| steps.iter().rev().find(|s| s["step"] == step))
        .unwrap_or(&serde_json::Value::Null)
}
