//! Completing a shallow or incomplete CI clone with the `git` command, which honours the
//! credentials a CI checkout configured (such as `http.extraheader`) and never prompts.

use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::Result;
use gix::ObjectId;

use super::history::GitDag;

/// What one look at the local history gave a caller of [`complete`].
pub enum Look<T> {
    /// The history answered.
    Answered(T),
    /// The history is not enough, for this reason (phrased for the user, to be followed by
    /// what was tried).
    Missing(String),
}

/// Why [`complete`] ended without an answer: the last reason the history gave, and what
/// fetching did. Each caller words it for its own output.
pub struct Unanswered {
    /// The last [`Look::Missing`] reason.
    pub why: String,
    /// What stopped the fetching.
    pub failure: Failure,
}

/// What stopped [`complete`] from fetching more.
pub enum Failure {
    /// The clone has no `origin` remote, nor a single other one.
    NoRemote,
    /// A `git fetch` failed: the command and git's message.
    Fetch(String),
    /// Every step ran; the history fetched from this remote still did not answer.
    Exhausted(String),
}

/// The one deepen loop: asks `look` of the local history and, while it cannot answer,
/// completes the clone from its own remote ([`Deepen::steps`]: a shallow clone by 100, then
/// 1000 commits, then unshallowed; a full clone by fetching the missing `ids`) and asks again
/// on the reopened repository, left in `dag`.
///
/// Most deploys are a few commits ahead of what is live, so the first small step usually
/// answers and the whole history of a big repository is fetched only when it must be.
/// `progress` is told each step before it runs, with the remote's name. An error of `look`
/// or of reopening the repository ends the loop as an error.
pub fn complete<T>(
    dag: &mut GitDag,
    ids: [ObjectId; 2],
    mut look: impl FnMut(&mut GitDag) -> Result<Look<T>>,
    progress: &mut dyn FnMut(&str, Deepen),
) -> Result<std::result::Result<T, Unanswered>> {
    let mut why = match look(dag)? {
        Look::Answered(answer) => return Ok(Ok(answer)),
        Look::Missing(why) => why,
    };
    let Some((remote, _)) = remote(dag.repo()) else {
        return Ok(Err(Unanswered {
            why,
            failure: Failure::NoRemote,
        }));
    };
    for &step in Deepen::steps(dag.shallow()) {
        progress(&remote, step);
        let wanted: Vec<String> = ids
            .iter()
            .filter(|id| step != Deepen::Missing || !dag.has_commit(**id))
            .map(|id| id.to_string())
            .collect();
        if let Err(failed) = fetch(dag.dir(), &remote, step, &wanted) {
            return Ok(Err(Unanswered {
                why,
                failure: Failure::Fetch(failed),
            }));
        }
        *dag = GitDag::open(dag.dir())?;
        match look(dag)? {
            Look::Answered(answer) => return Ok(Ok(answer)),
            Look::Missing(still) => why = still,
        }
        if !dag.shallow() && step != Deepen::Missing {
            break;
        }
    }
    Ok(Err(Unanswered {
        why,
        failure: Failure::Exhausted(remote),
    }))
}

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
/// id). On failure returns the command and git's message, for the user. Only [`complete`]
/// runs it, so every caller deepens a clone the same way.
fn fetch(
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
