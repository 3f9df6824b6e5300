//! The source tarball Heroku builds from: a commit's tree, or one folder of it, as a tar.gz,
//! with the `.gitattributes` rules `git archive` applies.

use std::io::Write;

use anyhow::{bail, Context, Result};
use gix::bstr::ByteSlice;
use gix::objs::tree::EntryKind;
use gix::ObjectId;

use super::repo::short;
use super::tar::{Kind, TarWriter};
use super::{Commit, Repository};

/// What `write_archive` put in the tarball, for the deploy log and its warnings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveSummary {
    /// Tar entries written (directories, files and symlinks; pax headers not counted).
    pub entries: usize,
    /// A shipped file is tracked by Git LFS (`filter=lfs` in `.gitattributes`). Unless an LFS
    /// smudge filter is configured where shipline runs, Heroku receives the pointer files rather
    /// than their content, which the caller should warn about.
    pub uses_lfs: bool,
}

impl Repository {
    /// Checks that `subdir` is a folder of the commit's tree, so a typo in `--subdir` is
    /// reported before anything is asked of Heroku.
    pub fn check_subdir(&self, commit: &Commit, subdir: &str) -> Result<()> {
        self.locate(commit, Some(subdir)).map(|_| ())
    }

    /// The commit id, its root tree, the tree the archive starts at and that tree's path prefix.
    fn locate(
        &self,
        commit: &Commit,
        subdir: Option<&str>,
    ) -> Result<(ObjectId, ObjectId, ObjectId, String)> {
        let commit_id = ObjectId::from_hex(commit.id.as_bytes())
            .with_context(|| format!("{:?} is not a full commit id", commit.id))?;
        let root_tree = self
            .repo
            .find_commit(commit_id)
            .with_context(|| format!("could not read commit {commit_id}"))?
            .tree()
            .with_context(|| format!("could not read the tree of commit {commit_id}"))?;
        let root_tree_id = root_tree.id;
        let (start_tree, prefix) = match subdir.map(normalize_subdir) {
            None | Some(None) => (root_tree_id, String::new()),
            Some(Some(dir)) => {
                let entry = root_tree.lookup_entry_by_path(&dir).with_context(|| {
                    format!("could not look up {dir:?} in the tree of commit {commit_id}")
                })?;
                match entry {
                    Some(entry) if entry.mode().is_tree() => (entry.object_id(), dir),
                    Some(_) => bail!(
                        "--subdir {dir:?} is not a directory in commit {}. Pass the folder that \
                         holds the app, relative to the repository root.",
                        short(commit_id)
                    ),
                    None => bail!(
                        "--subdir {dir:?} does not exist in commit {}. Pass the folder that holds \
                         the app, relative to the repository root, and check that it is committed.",
                        short(commit_id)
                    ),
                }
            }
        };

        Ok((commit_id, root_tree_id, start_tree, prefix))
    }

    /// Writes the commit's tree, or its `subdir` folder as the archive root, as a tar.gz.
    ///
    /// The uncompressed tar is byte-identical to `git archive --format=tar <commit>` (for a
    /// `subdir`, to `git archive --format=tar --mtime=<commit time> <commit>:<subdir>` behind the
    /// leading pax header, as long as no `.gitattributes` outside the subdir matches inside it):
    /// the pax global header carrying the commit id, git's depth-first entry order, a directory
    /// entry written only once a file, symlink or submodule is found below it, modes 0775/0664/0775/0777 for
    /// directories, files, executables and symlinks, uid/gid 0 and `root`, the commit time as
    /// every mtime, ustar with a prefix split or a pax header for long names, and the tail
    /// padding to 10 KiB records. GitHub's codeload tarballs, which Heroku already builds from,
    /// have the same shape. The gzip layer is deterministic too (header mtime 0, OS unix), so a
    /// commit always gives the same bytes; it runs on a second thread while this one walks the
    /// tree, which packs a large tree in about half the time.
    ///
    /// It walks the tree itself rather than using gix's worktree stream or gix-archive: the
    /// stream is breadth-first, omits directories and silently drops submodules, so matching git
    /// would mean buffering the whole tree. The walk keeps one blob in memory at a time and uses
    /// gix for what must match git: `.gitattributes` read from the commit's tree (never from the
    /// working directory), `export-ignore` on files and directories, and the checkout filters
    /// (`eol`, `text`, `ident`, configured filter drivers) that `git archive` applies too.
    /// `.gitattributes` of the whole tree apply to a `subdir` archive, as they would on checkout;
    /// an `export-ignore` on the subdir itself or a parent is not checked, since the user asked
    /// for that folder explicitly.
    ///
    /// Known differences from `git archive`: `export-subst` is not expanded, the `ident`
    /// expansion is `$Id: <blob>$` where git writes `$Id: <blob> $`, and a `tar.umask` setting
    /// is ignored (git's default, 0002, is always used). A submodule is an error that names it,
    /// where `git archive` writes an empty directory: the app would build without that code.
    pub fn write_archive(
        &self,
        commit: &Commit,
        subdir: Option<&str>,
        out: &mut dyn Write,
    ) -> Result<ArchiveSummary> {
        let (commit_id, root_tree_id, start_tree, prefix) = self.locate(commit, subdir)?;

        let index = self.repo.index_from_tree(&root_tree_id).with_context(|| {
            format!("could not list the tree of commit {commit_id} to read its .gitattributes")
        })?;
        let attribute_stack = || {
            self.repo
                .attributes_only(
                    &index,
                    gix::worktree::stack::state::attributes::Source::IdMapping,
                )
                .context("could not read the .gitattributes of the commit")
        };
        let attributes = attribute_stack()?;
        let mut pipeline = gix::filter::Pipeline::new(&self.repo, attribute_stack()?.detach())
            .context(
            "could not set up the checkout filters (.gitattributes, core.autocrlf, filter drivers)",
        )?;
        pipeline.driver_context_mut().treeish = Some(commit_id);
        let mut outcome = gix::attrs::search::Outcome::default();
        outcome.initialize_with_selection(&Default::default(), ["export-ignore", "filter"]);

        let time = u64::try_from(commit.time).unwrap_or(0);
        let prefix_len = if prefix.is_empty() {
            0
        } else {
            prefix.len() + 1
        };
        super::gzip::compressed_on_a_thread(out, |gz| {
            let mut archiver = Archiver {
                repo: &self.repo,
                attributes,
                outcome,
                pipeline,
                tar: TarWriter::new(gz, time),
                path: prefix.into_bytes(),
                prefix_len,
                pending_dirs: Vec::new(),
                written_dirs: 0,
                summary: ArchiveSummary {
                    entries: 0,
                    uses_lfs: false,
                },
            };
            archiver
                .tar
                .global_header(&commit.id)
                .context("could not write the source archive")?;
            archiver.walk(start_tree)?;
            archiver
                .tar
                .finish()
                .context("could not write the source archive")?;
            Ok(archiver.summary)
        })
    }
}

/// `./app/`, `app/` and `app` name the same folder; the root (`.`, ``) means no subdir.
fn normalize_subdir(subdir: &str) -> Option<String> {
    let parts: Vec<&str> = subdir
        .split('/')
        .filter(|part| !part.is_empty() && *part != ".")
        .collect();
    (!parts.is_empty()).then(|| parts.join("/"))
}

/// One depth-first walk over a tree, writing tar entries in git's order.
struct Archiver<'repo, W: Write> {
    repo: &'repo gix::Repository,
    attributes: gix::AttributeStack<'repo>,
    outcome: gix::attrs::search::Outcome,
    pipeline: gix::filter::Pipeline<'repo>,
    tar: TarWriter<W>,
    /// Repository-relative path of the current entry (attributes match on it).
    path: Vec<u8>,
    /// Bytes of `path` stripped to get the archive path (the subdir and its slash).
    prefix_len: usize,
    /// Directories entered, as (length of `path` for it, tree id), outermost first.
    pending_dirs: Vec<(usize, ObjectId)>,
    /// How many of `pending_dirs` already have their tar entry. Like `git archive`, a
    /// directory is written just before the first non-directory entry inside it, so one that
    /// holds only export-ignored directories does not appear.
    written_dirs: usize,
    summary: ArchiveSummary,
}

impl<W: Write> Archiver<'_, W> {
    fn walk(&mut self, tree_id: ObjectId) -> Result<()> {
        let tree = self
            .repo
            .find_tree(tree_id)
            .with_context(|| format!("could not read tree {tree_id} of the commit"))?;
        for entry in tree.iter() {
            let entry = entry.with_context(|| format!("could not decode tree {tree_id}"))?;
            let (name, oid, kind) = (
                entry.inner.filename,
                entry.inner.oid.to_owned(),
                entry.inner.mode.kind(),
            );
            let parent_len = self.path.len();
            if !self.path.is_empty() {
                self.path.push(b'/');
            }
            self.path.extend_from_slice(name);
            let result = self.visit(oid, kind);
            self.path.truncate(parent_len);
            result?;
        }
        Ok(())
    }

    fn visit(&mut self, oid: ObjectId, kind: EntryKind) -> Result<()> {
        let index_mode = match kind {
            EntryKind::Tree => Some(gix::index::entry::Mode::DIR),
            EntryKind::Commit => Some(gix::index::entry::Mode::COMMIT),
            _ => None,
        };
        if kind != EntryKind::Tree {
            // `git archive` writes the enclosing directories before it looks at a file's
            // attributes, so a directory whose files are all export-ignored still appears.
            self.write_pending_dirs()?;
        }
        let (ignored, lfs) = self.attributes_at_path(index_mode)?;
        if ignored {
            return Ok(());
        }
        match kind {
            EntryKind::Tree => {
                self.pending_dirs.push((self.path.len(), oid));
                let result = self.walk(oid);
                self.pending_dirs.pop();
                self.written_dirs = self.written_dirs.min(self.pending_dirs.len());
                result
            }
            EntryKind::Commit => bail!(
                "{} is a git submodule (commit {}); the source archive cannot include \
                 submodules, and the app would build without that code. Vendor its files into \
                 the repository, or mark it `export-ignore` in .gitattributes if the app does \
                 not need it.",
                self.path.as_bstr(),
                short(oid)
            ),
            EntryKind::Blob | EntryKind::BlobExecutable | EntryKind::Link => {
                self.summary.uses_lfs |= lfs;
                self.write_blob(oid, kind)
            }
        }
    }

    /// Returns whether the current path is export-ignored and whether it is LFS-tracked.
    fn attributes_at_path(
        &mut self,
        mode: Option<gix::index::entry::Mode>,
    ) -> Result<(bool, bool)> {
        let platform = self
            .attributes
            .at_entry(self.path.as_bstr(), mode)
            .with_context(|| {
                format!("could not read .gitattributes for {}", self.path.as_bstr())
            })?;
        platform.matching_attributes(&mut self.outcome);
        let mut ignored = false;
        let mut lfs = false;
        for matched in self.outcome.iter_selected() {
            match matched.assignment.name.as_str() {
                "export-ignore" => ignored = matched.assignment.state.is_set(),
                "filter" => {
                    lfs = matches!(matched.assignment.state,
                        gix::attrs::StateRef::Value(value) if value.as_bstr() == "lfs")
                }
                _ => {}
            }
        }
        Ok((ignored, lfs))
    }

    fn write_pending_dirs(&mut self) -> Result<()> {
        while self.written_dirs < self.pending_dirs.len() {
            let (len, oid) = self.pending_dirs[self.written_dirs];
            let mut name = self.path[self.prefix_len..len].to_vec();
            name.push(b'/');
            self.tar
                .entry(&name, oid, Kind::Dir, &[])
                .context("could not write the source archive")?;
            self.summary.entries += 1;
            self.written_dirs += 1;
        }
        Ok(())
    }

    fn write_blob(&mut self, oid: ObjectId, kind: EntryKind) -> Result<()> {
        let blob = self
            .repo
            .find_blob(oid)
            .with_context(|| format!("could not read {} (blob {oid})", self.path.as_bstr()))?;
        let name = &self.path[self.prefix_len..];
        let written = if kind == EntryKind::Link {
            self.tar.entry(name, oid, Kind::Symlink, &blob.data)
        } else {
            let tar_kind = if kind == EntryKind::BlobExecutable {
                Kind::Executable
            } else {
                Kind::File
            };
            self.pipeline.driver_context_mut().blob = Some(oid);
            let converted = self
                .pipeline
                .convert_to_worktree(
                    &blob.data,
                    self.path.as_bstr(),
                    gix::filter::plumbing::pipeline::convert::to_worktree::Options {
                        can_delay: gix::filter::plumbing::driver::apply::Delay::Forbid,
                        unknown_encoding:
                            gix::filter::plumbing::pipeline::convert::to_worktree::UnknownEncoding::Fail,
                    },
                )
                .with_context(|| {
                    format!(
                        "could not apply the checkout filters of .gitattributes to {}",
                        self.path.as_bstr()
                    )
                })?;
            use gix::filter::plumbing::driver::apply::MaybeDelayed;
            use gix::filter::plumbing::pipeline::convert::ToWorktreeOutcome;
            match converted {
                ToWorktreeOutcome::Unchanged(data) | ToWorktreeOutcome::Buffer(data) => {
                    self.tar.entry(name, oid, tar_kind, data)
                }
                ToWorktreeOutcome::Process(MaybeDelayed::Immediate(mut read)) => {
                    let mut data = Vec::new();
                    read.read_to_end(&mut data).with_context(|| {
                        format!(
                            "the filter driver configured for {} failed",
                            self.path.as_bstr()
                        )
                    })?;
                    self.tar.entry(name, oid, tar_kind, &data)
                }
                ToWorktreeOutcome::Process(MaybeDelayed::Delayed(_)) => {
                    unreachable!("delayed filtering was forbidden")
                }
            }
        };
        written.context("could not write the source archive")?;
        self.summary.entries += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::git::open;
    use crate::git::testing::*;

    #[test]
    fn same_commit_gives_identical_gzip_bytes() {
        let tmp = TempDir::new("determinism");
        rich_repo(tmp.path());
        let repo = open(tmp.path()).unwrap();
        let commit = repo.resolve("HEAD").unwrap();
        let (mut first, mut second) = (Vec::new(), Vec::new());
        repo.write_archive(&commit, None, &mut first).unwrap();
        repo.write_archive(&commit, None, &mut second).unwrap();
        assert!(first == second);
        assert_eq!(&first[4..8], &[0, 0, 0, 0], "gzip header mtime is zero");
        assert_eq!(first[9], 3, "gzip header OS is unix");
    }

    #[test]
    fn subdir_archive_matches_git_archive_of_the_subtree() {
        let tmp = TempDir::new("subdir");
        init(tmp.path());
        write(tmp.path(), "README.md", b"root\n");
        write(tmp.path(), "apps/web/Procfile", b"web: bin/web\n");
        write(tmp.path(), "apps/web/bin/web", b"#!/bin/sh\n");
        std::fs::set_permissions(
            tmp.path().join("apps/web/bin/web"),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        write(tmp.path(), "apps/web/lib/x/y.rb", b"y\n");
        write(tmp.path(), "apps/api/other.txt", b"other\n");
        let id = commit_all(tmp.path(), "monorepo");
        let repo = open(tmp.path()).unwrap();
        let commit = repo.resolve(&id).unwrap();
        let theirs = git(
            tmp.path(),
            &[
                "archive",
                "--format=tar",
                "--mtime=@1700000000",
                &format!("{id}:apps/web"),
            ],
        );
        for subdir in ["apps/web", "./apps/web/", "apps//web"] {
            let (ours, summary) = archive(&repo, &commit, Some(subdir));
            assert_eq!(&ours[..17], b"pax_global_header");
            let trim = |t: &[u8]| t[..t.iter().rposition(|&b| b != 0).unwrap() + 1].to_vec();
            assert_eq!(listing(&ours[1024..]), listing(&theirs));
            assert!(
                trim(&ours[1024..]) == trim(&theirs),
                "subdir {subdir:?} differs"
            );
            assert_eq!(summary.entries, 6);
        }
        let (whole, _) = archive(&repo, &commit, Some("."));
        assert_same_tar(&whole, &git(tmp.path(), &["archive", "--format=tar", &id]));
    }

    #[test]
    fn subdir_applies_gitattributes_of_the_whole_tree() {
        let tmp = TempDir::new("subdir-attrs");
        init(tmp.path());
        write(
            tmp.path(),
            ".gitattributes",
            b"apps/web/spec export-ignore\n",
        );
        write(tmp.path(), "apps/web/app.rb", b"app\n");
        write(tmp.path(), "apps/web/spec/app_spec.rb", b"spec\n");
        commit_all(tmp.path(), "attrs");
        let repo = open(tmp.path()).unwrap();
        let commit = repo.resolve("HEAD").unwrap();
        let (tar, summary) = archive(&repo, &commit, Some("apps/web"));
        let names = listing(&tar);
        assert_eq!(summary.entries, 1, "{names:?}");
        assert!(names[1].starts_with("|app.rb|0|"), "{names:?}");
    }

    #[test]
    fn missing_or_non_directory_subdir_is_an_error_naming_it() {
        let tmp = TempDir::new("subdir-missing");
        init(tmp.path());
        write(tmp.path(), "app/file.txt", b"x\n");
        commit_all(tmp.path(), "one");
        let repo = open(tmp.path()).unwrap();
        let commit = repo.resolve("HEAD").unwrap();
        for (subdir, says) in [
            ("nope", "does not exist"),
            ("app/file.txt", "is not a directory"),
        ] {
            let err = repo
                .write_archive(&commit, Some(subdir), &mut Vec::new())
                .unwrap_err();
            let text = format!("{err:#}");
            assert!(
                text.contains(subdir) && text.contains("--subdir") && text.contains(says),
                "{text}"
            );
        }
    }

    #[test]
    fn submodule_is_an_error_naming_its_path_unless_export_ignored() {
        let tmp = TempDir::new("submodule");
        init(tmp.path());
        write(tmp.path(), "app.rb", b"app\n");
        let id = commit_all(tmp.path(), "one");
        git(
            tmp.path(),
            &[
                "update-index",
                "--add",
                "--cacheinfo",
                &format!("160000,{id},vendor/lib"),
            ],
        );
        git(tmp.path(), &["commit", "-q", "-m", "add submodule"]);
        let repo = open(tmp.path()).unwrap();
        let commit = repo.resolve("HEAD").unwrap();
        let err = repo
            .write_archive(&commit, None, &mut Vec::new())
            .unwrap_err();
        let text = format!("{err:#}");
        assert!(
            text.contains("vendor/lib") && text.contains("submodule"),
            "{text}"
        );

        write(tmp.path(), ".gitattributes", b"vendor/lib export-ignore\n");
        git(tmp.path(), &["add", ".gitattributes"]);
        git(tmp.path(), &["commit", "-q", "-m", "ignore it"]);
        let repo = open(tmp.path()).unwrap();
        let commit = repo.resolve("HEAD").unwrap();
        let (ours, summary) = archive(&repo, &commit, None);
        assert_eq!(summary.entries, 3, "vendor/ stays, as in git archive");
        assert_same_tar(
            &ours,
            &git(tmp.path(), &["archive", "--format=tar", "HEAD"]),
        );
    }

    /// The byte-identity check of `scripts/bench pack`, on a large real tree: the repository
    /// named by SHIPLINE_BENCH_REPO, at HEAD. Ignored by `cargo test`, which has no such tree.
    #[test]
    #[ignore = "needs SHIPLINE_BENCH_REPO; run by scripts/bench pack"]
    fn tar_of_a_given_repository_is_byte_identical_to_git_archive() {
        let dir = std::env::var_os("SHIPLINE_BENCH_REPO").expect("SHIPLINE_BENCH_REPO is set");
        let dir = std::path::Path::new(&dir);
        let repo = open(dir).unwrap();
        let commit = repo.resolve("HEAD").unwrap();
        let (ours, _) = archive(&repo, &commit, None);
        assert_same_tar(&ours, &git(dir, &["archive", "--format=tar", &commit.id]));
    }

    #[test]
    fn lfs_tracked_files_are_reported() {
        let tmp = TempDir::new("lfs");
        init(tmp.path());
        write(
            tmp.path(),
            ".gitattributes",
            b"*.psd filter=lfs diff=lfs merge=lfs -text\n",
        );
        write(tmp.path(), "app.rb", b"app\n");
        commit_all(tmp.path(), "attributes only");
        let repo = open(tmp.path()).unwrap();
        let (_, summary) = archive(&repo, &repo.resolve("HEAD").unwrap(), None);
        assert!(!summary.uses_lfs, "no LFS file ships yet");

        write(
            tmp.path(),
            "logo.psd",
            b"version https://git-lfs.github.com/spec/v1\noid sha256:00\nsize 1\n",
        );
        commit_all(tmp.path(), "add a pointer");
        let repo = open(tmp.path()).unwrap();
        let (_, summary) = archive(&repo, &repo.resolve("HEAD").unwrap(), None);
        assert!(summary.uses_lfs);
    }
}
