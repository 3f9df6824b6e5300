//! Opening the repository and resolving revisions to commits.
//!
//! Everything is read from the object database with gix, never from the working directory, so
//! a dirty or partially checked-out CI workspace cannot leak into a deploy.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context, Result};
use gix::bstr::BStr;
use gix::ObjectId;

use crate::usage::UsageError;

/// A git repository opened for deploying.
///
/// It keeps the directory the user pointed at, because fetching missing history is delegated to
/// the `git` command, which must run in the same place.
pub struct Repository {
    pub(super) repo: gix::Repository,
    pub(super) dir: PathBuf,
}

/// A resolved commit, with what a deploy log, a release description and a Slack message show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commit {
    /// The full 40-hex commit id, the form Heroku's source blob and release record expect.
    pub id: String,
    /// The subject line as `git log --format=%s` prints it (leading blank lines skipped, the
    /// first paragraph's lines right-trimmed and joined with single spaces).
    pub subject: String,
    /// Committer time in unix seconds: it becomes the mtime of every archive entry, which keeps
    /// the tarball reproducible.
    pub time: i64,
}

/// Opens the repository that contains `dir`, as `git -C <dir>` would find it.
///
/// The failure message names the directory and the `--dir` flag because the usual cause is
/// running shipline outside the checkout (for example before the CI checkout step).
pub fn open(dir: &Path) -> Result<Repository> {
    let repo = open_gix(dir)?;
    Ok(Repository {
        repo,
        dir: dir.to_path_buf(),
    })
}

/// Opens the repository that contains `dir` and resolves `rev` in it, for a step about to ship
/// that commit. Both are the user's to give (`--dir`, `--ref`), so a failure is a
/// [`UsageError`]: exit code 2, before anything is asked of a service.
pub fn open_at(dir: &Path, rev: &str) -> Result<(Repository, Commit)> {
    let usage = |e: anyhow::Error| anyhow!(UsageError(format!("{e:#}")));
    let repo = open(dir).map_err(usage)?;
    let commit = repo.resolve(rev).map_err(usage)?;
    Ok((repo, commit))
}

fn open_gix(dir: &Path) -> Result<gix::Repository> {
    let mut repo = gix::discover(dir).map_err(|err| {
        anyhow!(
            "{} is not inside a git repository ({err}). Run shipline in the checkout of the app's \
             repository, or point --dir at it.",
            dir.display()
        )
    })?;
    repo.object_cache_size_if_unset(16 * 1024 * 1024);
    Ok(repo)
}

impl Repository {
    /// Resolves `rev` (a branch, tag or commit id, with `~N` or `^N`: see [`super::revision`])
    /// to a commit.
    ///
    /// Annotated tags are peeled to the commit they point at, because Heroku and the deploy
    /// guard need a commit id, not a tag object id.
    pub fn resolve(&self, rev: &str) -> Result<Commit> {
        let id = self.resolve_id(rev)?;
        let commit = self
            .repo
            .find_commit(id)
            .with_context(|| format!("could not read commit {id} (from {rev:?})"))?;
        let message = commit
            .message_raw()
            .with_context(|| format!("could not read the message of commit {id}"))?;
        let time = commit
            .time()
            .with_context(|| format!("could not read the committer time of commit {id}"))?;
        Ok(Commit {
            id: id.to_string(),
            subject: subject_line(message),
            time: time.seconds,
        })
    }

    pub(super) fn resolve_id(&self, rev: &str) -> Result<ObjectId> {
        let object = super::revision::resolve(&self.repo, rev).map_err(|err| {
            anyhow!(
                "the revision {rev:?} does not resolve to a commit in the repository at {} \
                 ({err:#}). Pass a branch, tag or commit id that exists in this clone with --ref \
                 (in a shallow or single-branch CI clone, fetch it first).",
                self.dir.display()
            )
        })?;
        let kind = object.kind;
        let commit = object.peel_to_commit().with_context(|| {
            format!("the revision {rev:?} names a {kind}, not a commit. Pass a commit with --ref.")
        })?;
        Ok(commit.id)
    }
}

pub(super) fn short(id: ObjectId) -> String {
    id.to_hex_with_len(7).to_string()
}

/// Git's `%s`: skip leading blank lines, then join the lines of the first paragraph, each
/// right-trimmed, with single spaces.
fn subject_line(message: &BStr) -> String {
    let is_space = |b: &u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c);
    let mut lines = message
        .split(|&b| b == b'\n')
        .map(|line| {
            let end = line.iter().rposition(|b| !is_space(b)).map_or(0, |i| i + 1);
            &line[..end]
        })
        .skip_while(|line| line.is_empty());
    let mut subject = Vec::new();
    for line in lines.by_ref() {
        if line.is_empty() {
            break;
        }
        if !subject.is_empty() {
            subject.push(b' ');
        }
        subject.extend_from_slice(line);
    }
    String::from_utf8_lossy(&subject).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::git::testing::*;

    #[test]
    fn resolve_peels_annotated_tags_and_follows_git_subject_rules() {
        let tmp = TempDir::new("resolve");
        init(tmp.path());
        write(tmp.path(), "a", b"a\n");
        git(tmp.path(), &["add", "a"]);
        let message = "\n\n  Fix the thing  \nacross lines\t\n\nBody text\n";
        write(tmp.path(), "../msg", message.as_bytes());
        let msg_path = tmp.path().join("../msg");
        git(
            tmp.path(),
            &[
                "commit",
                "-q",
                "--cleanup=verbatim",
                "-F",
                msg_path.to_str().unwrap(),
            ],
        );
        std::fs::remove_file(msg_path).unwrap();
        let id = git_str(tmp.path(), &["rev-parse", "HEAD"]);
        git(tmp.path(), &["tag", "-a", "v1.0", "-m", "release"]);
        let repo = open(tmp.path()).unwrap();
        let commit = repo.resolve("v1.0").unwrap();
        assert_eq!(commit.id, id);
        let git_subject =
            String::from_utf8(git(tmp.path(), &["log", "-1", "--format=%s"])).unwrap();
        assert_eq!(commit.subject, git_subject.trim_end_matches('\n'));
        assert_eq!(commit.subject, "  Fix the thing across lines");
        assert_eq!(commit.time, 1_700_000_000);
    }

    #[test]
    fn unknown_revision_names_it_and_the_flag() {
        let tmp = TempDir::new("badrev");
        init(tmp.path());
        commit_all(tmp.path(), "one");
        let repo = open(tmp.path()).unwrap();
        let text = format!("{:#}", repo.resolve("no-such-branch").unwrap_err());
        assert!(
            text.contains("no-such-branch") && text.contains("--ref"),
            "{text}"
        );
        let text = format!("{:#}", repo.resolve("HEAD^{tree}").unwrap_err());
        assert!(text.contains("not a commit"), "{text}");
    }

    #[test]
    fn a_directory_outside_any_repository_is_a_clear_error() {
        let tmp = TempDir::new("norepo");
        let text = format!("{:#}", open(tmp.path()).err().unwrap());
        assert!(
            text.contains(&tmp.path().display().to_string()) && text.contains("--dir"),
            "{text}"
        );
    }
}
