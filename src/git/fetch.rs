//! Completing a shallow or incomplete CI clone with the `git` command, which honours the
//! credentials a CI checkout configured (such as `http.extraheader`) and never prompts.

use std::path::Path;
use std::process::{Command, Stdio};

/// One `git fetch` of a stepwise completion of the history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deepen {
    /// `--deepen=N`: N more commits behind the shallow boundary.
    By(u32),
    /// `--unshallow`: the whole history.
    Unshallow,
    /// A full clone that lacks a commit: fetch that commit and its history.
    Missing,
}

impl Deepen {
    /// The steps for a clone: a shallow one is deepened a little, then more, then fully,
    /// because most deploys are a few commits ahead of what is live and a full history costs
    /// real time on a big repository.
    pub fn steps(shallow: bool) -> &'static [Deepen] {
        if shallow {
            &[Deepen::By(100), Deepen::By(1000), Deepen::Unshallow]
        } else {
            &[Deepen::Missing]
        }
    }
}

/// Runs `git fetch` in `dir` against `remote` for the step, asking for `ids` too (a commit no
/// branch of the clone contains, like the live one after a force-push, can only be fetched by
/// id). On failure returns the command and git's message, for the user.
pub fn fetch(
    dir: &Path,
    remote: &str,
    step: Deepen,
    ids: &[String],
) -> std::result::Result<(), String> {
    let mut command = Command::new("git");
    command
        .arg("-C")
        .arg(dir)
        .args(["fetch", "--quiet", "--no-tags", "--no-write-fetch-head"]);
    match step {
        Deepen::By(n) => {
            command.arg(format!("--deepen={n}"));
        }
        Deepen::Unshallow => {
            command.arg("--unshallow");
        }
        Deepen::Missing => {}
    }
    command.arg("--").arg(remote).args(ids);
    let shown = format!(
        "git fetch{} {remote} {}",
        match step {
            Deepen::By(n) => format!(" --deepen={n}"),
            Deepen::Unshallow => " --unshallow".to_string(),
            Deepen::Missing => String::new(),
        },
        ids.join(" ")
    );
    command
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_SSH_COMMAND", ssh_command())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let output = command
        .output()
        .map_err(|err| format!("`{shown}` could not run ({err}); is git installed and on PATH?"))?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stderr = stderr.trim();
    Err(if stderr.is_empty() {
        format!("`{shown}` exited with {}", output.status)
    } else {
        format!(
            "`{shown}` failed: {}",
            stderr.lines().collect::<Vec<_>>().join(" / ")
        )
    })
}

/// ssh must never wait for a passphrase or a host-key answer in CI: `BatchMode` makes it fail
/// at once instead. A user's own `GIT_SSH_COMMAND` is kept, with the option added.
fn ssh_command() -> String {
    let base = std::env::var("GIT_SSH_COMMAND")
        .ok()
        .filter(|c| !c.trim().is_empty())
        .unwrap_or_else(|| "ssh".to_string());
    format!("{base} -o BatchMode=yes")
}

/// The remote a fetch goes to, and its URL: `origin`, else the only remote the clone has.
pub fn remote(repo: &gix::Repository) -> Option<(String, String)> {
    let names: Vec<String> = repo
        .remote_names()
        .into_iter()
        .map(|n| n.to_string())
        .collect();
    let name = if names.iter().any(|n| n == "origin") {
        "origin".to_string()
    } else if names.len() == 1 {
        names[0].clone()
    } else {
        return None;
    };
    let url = repo
        .config_snapshot()
        .string(format!("remote.{name}.url").as_str())
        .map(|u| u.to_string())?;
    Some((name, url))
}
