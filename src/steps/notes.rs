//! `shipline notes`: the commits between what is live and what is shipping, printed as text,
//! Markdown or JSON on standard output (progress and errors go to standard error).
//!
//! Exit codes: 0 when the notes were computed, whatever the case (nothing to ship and going
//! backwards are answers, not failures); 1 when they are unavailable (the reason is printed in
//! the chosen format, and again as the error); 2 when the repository, a revision or the
//! configuration is wrong.

use std::io::Write;

use anyhow::{anyhow, Result};

use crate::ci;
use crate::cli::{NotesArgs, NotesFrom};
use crate::git::history::GitDag;
use crate::guard;
use crate::notes::{self, NotesFormat, Range, Recorded};
use crate::outcome::Outcome;
use crate::usage::UsageError;

/// Runs `shipline notes`, and on GitHub Actions hands the notes and the outcome on as the
/// step's `notes`, `outcome` and `reason` outputs (the binary writes them, so nothing that
/// captures standard output is needed, and no workflow command can end up in them).
pub fn run(args: &NotesArgs) -> Result<Outcome> {
    ci::stdout_is_data();
    let result = notes(args);
    let mut outputs = Vec::new();
    match &result {
        Ok((outcome, text)) => {
            if matches!(outcome, Outcome::Done) {
                outputs.push(("notes", text.clone()));
            }
            outputs.push(("outcome", outcome.word().to_string()));
            if let Some(reason) = outcome.reason() {
                outputs.push(("reason", reason.to_string()));
            }
        }
        Err(error) => {
            outputs.push(("outcome", "failed".to_string()));
            outputs.push(("reason", ci::redact(&format!("{error:#}"))));
        }
    }
    ci::write_outputs(&outputs)?;
    result.map(|(outcome, _)| outcome)
}

/// Resolves where the range starts, computes, prints; returns the outcome and what was
/// printed.
fn notes(args: &NotesArgs) -> Result<(Outcome, String)> {
    // Mistakes in the command line are told apart from notes that cannot be computed: the
    // repository and `--to` must be right, and `--from` too unless it is a full commit id
    // (which a shallow clone may not have yet).
    let dag = GitDag::open(&args.dir).map_err(|e| anyhow!(UsageError(format!("{e:#}"))))?;
    dag.resolve(&args.to).map_err(|e| {
        anyhow!(UsageError(format!(
            "{e:#}; pass a branch, tag or commit of this clone with --to (SHIPLINE_TO)"
        )))
    })?;
    let from = match &args.from {
        NotesFrom::Rev(rev) => {
            if !is_full_id(rev) {
                dag.resolve(rev).map_err(|e| {
                    anyhow!(UsageError(format!(
                        "{e:#}; pass a revision of this clone with --from (SHIPLINE_FROM), or the full 40-character commit id when the commit is not in this clone"
                    )))
                })?;
            }
            rev.clone()
        }
        NotesFrom::App(app) => match guard::live_commit(app)? {
            Ok(commit) => commit,
            Err(reason) => {
                return Ok(print(
                    &Recorded::Unavailable {
                        unavailable: reason,
                    },
                    args,
                ))
            }
        },
    };
    drop(dag);
    let recorded = notes::compute(&Range {
        dir: &args.dir,
        from: &from,
        to: &args.to,
        first_parent: args.first_parent,
        known: None,
    });
    Ok(print(&recorded, args))
}

/// The notes as printed: on GitHub Actions standard output may be the step's log, where a
/// commit message must not act as a workflow command. Text and Markdown are neutralised; JSON
/// stays the same data, with `[` after `##` written as `\u005b`.
fn for_the_log(text: &str, format: NotesFormat) -> std::borrow::Cow<'_, str> {
    if crate::ci::Provider::detect() != crate::ci::Provider::GitHubActions {
        return text.into();
    }
    match format {
        NotesFormat::Json => text.replace("##[", "##\\u005b").into(),
        NotesFormat::Text | NotesFormat::Markdown => ci::neutralise(text).into(),
    }
}

/// Prints the notes and turns them into the outcome.
fn print(recorded: &Recorded, args: &NotesArgs) -> (Outcome, String) {
    let text = ci::redact(&notes::render(recorded, args.format));
    let mut stdout = std::io::stdout().lock();
    // A closed standard output (`| head`) is not worth a panic or a failure.
    let _ = stdout.write_all(for_the_log(&text, args.format).as_bytes());
    let _ = stdout.flush();
    let outcome = match recorded {
        Recorded::Notes(_) => Outcome::Done,
        Recorded::Unavailable { unavailable } => {
            Outcome::Failed(format!("release notes unavailable: {unavailable}"))
        }
    };
    (outcome, text)
}

fn is_full_id(rev: &str) -> bool {
    rev.len() == 40 && rev.bytes().all(|b| b.is_ascii_hexdigit())
}
