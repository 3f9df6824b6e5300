//! The git side of a deploy: which commit ships, how it relates to what is live, and the
//! source tarball Heroku builds from.
//!
//! Everything is read from the object database with gix, never from the working directory, so
//! a dirty or partially checked-out CI workspace cannot leak into a deploy. The only network
//! access is a `git fetch` run through the `git` command when a shallow CI clone lacks the
//! history needed to compare the deploying commit with the live one.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{anyhow, bail, Context, Result};
use gix::bstr::{BStr, ByteSlice};
use gix::objs::tree::EntryKind;
use gix::ObjectId;

/// A git repository opened for deploying.
///
/// It keeps the directory the user pointed at, because fetching missing history is delegated to
/// the `git` command, which must run in the same place.
pub struct Repository {
    repo: gix::Repository,
    dir: PathBuf,
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

/// How the commit being deployed relates to the commit that is live.
///
/// The deploy guard uses it to refuse shipping older code over newer code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Relation {
    /// The deploying commit is the live commit.
    Same,
    /// The deploying commit descends from the live commit: a normal forward deploy.
    Newer,
    /// The deploying commit is an ancestor of the live commit: shipping it would roll code back.
    Older,
    /// Neither descends from the other (a force-push, a deploy from another branch, or
    /// unrelated histories).
    Diverged,
    /// Ancestry could not be decided; the text says why, for the user. The caller fails closed.
    Unknown(String),
}

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
    /// Resolves `rev` (a branch, tag, commit id or any git revision expression) to a commit.
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

    fn resolve_id(&self, rev: &str) -> Result<ObjectId> {
        let not_found = |err: gix::Error| {
            anyhow!(
                "the revision {rev:?} does not resolve to a commit in the repository at {} \
                 ({err}). Pass a branch, tag or commit id that exists in this clone with --ref \
                 (in a shallow or single-branch CI clone, fetch it first).",
                self.dir.display()
            )
        };
        let object = self
            .repo
            .rev_parse_single(rev)
            .map_err(not_found)?
            .object()
            .map_err(not_found)?;
        let kind = object.kind;
        let commit = object.peel_to_commit().with_context(|| {
            format!("the revision {rev:?} names a {kind}, not a commit. Pass a commit with --ref.")
        })?;
        Ok(commit.id)
    }

    /// Decides how the commit being deployed relates to the live one.
    ///
    /// CI clones are often shallow (depth 1 by default on GitHub Actions), and a stale build's
    /// clone may not even contain the newer live commit. When the answer cannot be read from the
    /// local history, the missing history is fetched from `origin` with the `git` command
    /// (unshallowing a shallow clone) and the question is asked again. Whatever still cannot be
    /// decided is `Relation::Unknown` with the reason, never a guess: the guard it feeds must
    /// fail closed.
    ///
    /// In a shallow clone only an ancestry found in local history is trusted; "not an
    /// ancestor" could be wrong because the commits behind the shallow boundary are missing.
    /// Unshallowing downloads the whole history once, which takes a while on a big repository;
    /// a full clone (`fetch-depth: 0` on GitHub Actions) avoids it. `deploying` and `live` may
    /// be any revision; `live` is normally the full id Heroku recorded for the release, which
    /// can be fetched even when no branch of this clone contains it.
    pub fn relation(&self, deploying: &str, live: &str) -> Result<Relation> {
        let deploying_id = self.resolve_id(deploying)?;
        let live_id = match ObjectId::from_hex(live.as_bytes()) {
            Ok(id) => id,
            Err(_) => match self.resolve_id(live) {
                Ok(id) => id,
                Err(err) => {
                    return Ok(Relation::Unknown(format!(
                        "the live commit {live:?} is not a full commit id and does not resolve in \
                         this clone: {err:#}"
                    )))
                }
            },
        };
        if deploying_id == live_id {
            return Ok(Relation::Same);
        }
        let why = match decide(&self.repo, deploying_id, live_id)? {
            Decision::Decided(relation) => return Ok(relation),
            Decision::Undecided(why) => why,
        };
        let shallow = self
            .repo
            .is_shallow()
            .context("could not tell whether this clone is shallow")?;
        let Some((remote, _)) = remote(&self.repo) else {
            return Ok(Relation::Unknown(format!(
                "{why}, and the clone has no `origin` (or single) remote to fetch it from"
            )));
        };
        let mut why = why;
        for &step in Deepen::steps(shallow) {
            let ids: Vec<String> = [deploying_id, live_id]
                .iter()
                .filter(|id| step != Deepen::Missing || !self.repo.has_object(**id))
                .map(|id| id.to_string())
                .collect();
            if let Err(failure) = fetch(&self.dir, &remote, step, &ids) {
                return Ok(Relation::Unknown(format!("{why}, and {failure}")));
            }
            let repo = open_gix(&self.dir)?;
            match decide(&repo, deploying_id, live_id)? {
                Decision::Decided(relation) => return Ok(relation),
                Decision::Undecided(still) => why = still,
            }
        }
        Ok(Relation::Unknown(format!(
            "{why}, even after fetching from {remote}"
        )))
    }

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
    /// commit always gives the same bytes.
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
        let gz = flate2::GzBuilder::new()
            .mtime(0)
            .operating_system(3)
            .write(out, flate2::Compression::default());
        let mut archiver = Archiver {
            repo: &self.repo,
            attributes,
            outcome,
            pipeline,
            tar: TarWriter::new(std::io::BufWriter::with_capacity(64 * 1024, gz), time),
            path: prefix.clone().into_bytes(),
            prefix_len: if prefix.is_empty() {
                0
            } else {
                prefix.len() + 1
            },
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
        let summary = archiver.summary.clone();
        let writer = archiver
            .tar
            .finish()
            .context("could not write the source archive")?;
        writer
            .into_inner()
            .map_err(|err| err.into_error())
            .and_then(|gz| gz.finish())
            .and_then(|out| out.flush())
            .context("could not write the source archive")?;
        Ok(summary)
    }
}

fn short(id: ObjectId) -> String {
    id.to_hex_with_len(7).to_string()
}

/// `./app/`, `app/` and `app` name the same folder; the root (`.`, ``) means no subdir.
fn normalize_subdir(subdir: &str) -> Option<String> {
    let parts: Vec<&str> = subdir
        .split('/')
        .filter(|part| !part.is_empty() && *part != ".")
        .collect();
    (!parts.is_empty()).then(|| parts.join("/"))
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

/// What local history alone can say.
enum Decision {
    /// The relation is known.
    Decided(Relation),
    /// Why the local history cannot answer, phrased to be followed by what was tried.
    Undecided(String),
}

/// Answers from local history only. In a shallow clone only a found ancestry is trusted: a
/// commit beyond the shallow boundary could still connect the two.
fn decide(repo: &gix::Repository, deploying: ObjectId, live: ObjectId) -> Result<Decision> {
    if !repo.has_object(live) {
        return Ok(Decision::Undecided(format!(
            "live commit {} is not in this clone's history",
            short(live)
        )));
    }
    let shallow = repo
        .is_shallow()
        .context("could not tell whether this clone is shallow")?;
    let base = match repo.merge_base(deploying, live) {
        Ok(base) => base.map(|id| id.detach()),
        Err(_) if shallow => None,
        Err(err) => {
            return Err(err).with_context(|| {
                format!(
                    "could not compare commits {} and {} in the repository",
                    short(deploying),
                    short(live)
                )
            })
        }
    };
    Ok(match base {
        Some(base) if base == live => Decision::Decided(Relation::Newer),
        Some(base) if base == deploying => Decision::Decided(Relation::Older),
        _ if shallow => Decision::Undecided(format!(
            "this clone is shallow and its history does not show how {} (deploying) relates to \
             live commit {}",
            short(deploying),
            short(live)
        )),
        _ => Decision::Decided(Relation::Diverged),
    })
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

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Dir,
    File,
    Executable,
    Symlink,
}

const RECORD: usize = 512;
/// `git archive` writes in blocks of 20 records, so its output length is a multiple of this.
const BLOCK: u64 = 20 * RECORD as u64;
const USTAR_MAX_SIZE: u64 = 0o77777777777;
const USTAR_MAX_MTIME: u64 = 0o77777777777;

/// A tar writer that reproduces `git archive`'s tar format (archive-tar.c) byte for byte.
struct TarWriter<W: Write> {
    out: W,
    written: u64,
    mtime: u64,
}

impl<W: Write> TarWriter<W> {
    fn new(out: W, mtime: u64) -> Self {
        TarWriter {
            out,
            written: 0,
            mtime,
        }
    }

    fn global_header(&mut self, commit_id: &str) -> std::io::Result<()> {
        let mut records = Vec::new();
        pax_record(&mut records, "comment", commit_id.as_bytes());
        if self.mtime > USTAR_MAX_MTIME {
            pax_record(&mut records, "mtime", self.mtime.to_string().as_bytes());
            self.mtime = USTAR_MAX_MTIME;
        }
        let mut header = [0u8; RECORD];
        put(&mut header[0..100], b"pax_global_header");
        header[156] = b'g';
        self.finish_header(&mut header, 0o666, records.len() as u64);
        self.write_padded(&header)?;
        self.write_padded(&records)
    }

    fn entry(
        &mut self,
        path: &[u8],
        oid: ObjectId,
        kind: Kind,
        data: &[u8],
    ) -> std::io::Result<()> {
        let mut header = [0u8; RECORD];
        let mut pax = Vec::new();
        let (typeflag, mode) = match kind {
            Kind::Dir => (b'5', 0o775),
            Kind::File => (b'0', 0o664),
            Kind::Executable => (b'0', 0o775),
            Kind::Symlink => (b'2', 0o777),
        };
        header[156] = typeflag;
        if path.len() > 100 {
            let split = path_prefix_len(path, 155);
            let rest = path.len() - split - 1;
            if split > 0 && rest <= 100 {
                put(&mut header[345..500], &path[..split]);
                put(&mut header[0..100], &path[split + 1..]);
            } else {
                put(&mut header[0..100], format!("{oid}.data").as_bytes());
                pax_record(&mut pax, "path", path);
            }
        } else {
            put(&mut header[0..100], path);
        }
        if kind == Kind::Symlink {
            if data.len() > 100 {
                put(
                    &mut header[157..257],
                    format!("see {oid}.paxheader").as_bytes(),
                );
                pax_record(&mut pax, "linkpath", data);
            } else {
                put(&mut header[157..257], data);
            }
        }
        let regular = matches!(kind, Kind::File | Kind::Executable);
        let mut size = if regular { data.len() as u64 } else { 0 };
        if size > USTAR_MAX_SIZE {
            pax_record(&mut pax, "size", size.to_string().as_bytes());
            size = 0;
        }
        self.finish_header(&mut header, mode, size);
        if !pax.is_empty() {
            let mut pax_header = [0u8; RECORD];
            put(
                &mut pax_header[0..100],
                format!("{oid}.paxheader").as_bytes(),
            );
            pax_header[156] = b'x';
            self.finish_header(&mut pax_header, 0o666, pax.len() as u64);
            self.write_padded(&pax_header)?;
            self.write_padded(&pax)?;
        }
        self.write_padded(&header)?;
        if regular {
            self.write_padded(data)?;
        }
        Ok(())
    }

    /// Fills the fields `prepare_header()` in git's archive-tar.c sets, checksum last.
    fn finish_header(&self, header: &mut [u8; RECORD], mode: u32, size: u64) {
        put(&mut header[100..108], format!("{mode:07o}").as_bytes());
        put(&mut header[108..116], b"0000000");
        put(&mut header[116..124], b"0000000");
        put(&mut header[124..136], format!("{size:011o}").as_bytes());
        put(
            &mut header[136..148],
            format!("{:011o}", self.mtime).as_bytes(),
        );
        put(&mut header[257..263], b"ustar\0");
        put(&mut header[263..265], b"00");
        put(&mut header[265..297], b"root");
        put(&mut header[297..329], b"root");
        put(&mut header[329..337], b"0000000");
        put(&mut header[337..345], b"0000000");
        header[148..156].fill(b' ');
        let checksum: u32 = header.iter().map(|&b| u32::from(b)).sum();
        header[148..156].fill(0);
        put(&mut header[148..156], format!("{checksum:07o}").as_bytes());
    }

    fn write_padded(&mut self, data: &[u8]) -> std::io::Result<()> {
        self.out.write_all(data)?;
        let tail = data.len() % RECORD;
        if tail != 0 {
            self.out.write_all(&[0u8; RECORD][..RECORD - tail])?;
        }
        self.written += data.len().div_ceil(RECORD) as u64 * RECORD as u64;
        Ok(())
    }

    /// Git's trailer: zeros to the end of the 10 KiB block, and one more block when fewer than
    /// the two end-of-archive records fit.
    fn finish(mut self) -> std::io::Result<W> {
        let mut tail = BLOCK - self.written % BLOCK;
        if tail < 2 * RECORD as u64 {
            tail += BLOCK;
        }
        let zeros = [0u8; RECORD];
        for _ in 0..tail / RECORD as u64 {
            self.out.write_all(&zeros)?;
        }
        Ok(self.out)
    }
}

fn put(field: &mut [u8], value: &[u8]) {
    let len = value.len().min(field.len());
    field[..len].copy_from_slice(&value[..len]);
}

/// Where git's `get_path_prefix()` splits a long path between the ustar prefix and name fields:
/// the last `/` before `max`, ignoring a trailing one.
fn path_prefix_len(path: &[u8], max: usize) -> usize {
    let mut i = path.len();
    if i > 1 && path[i - 1] == b'/' {
        i -= 1;
    }
    i = i.min(max);
    loop {
        i -= 1;
        if i == 0 || path[i] == b'/' {
            return i;
        }
    }
}

/// Appends a pax record, `"<len> <key>=<value>\n"` where `<len>` counts its own digits.
fn pax_record(out: &mut Vec<u8>, key: &str, value: &[u8]) {
    let mut len = 1 + 1 + key.len() + 1 + value.len() + 1;
    let mut tmp = 1;
    while len / 10 >= tmp {
        len += 1;
        tmp *= 10;
    }
    out.extend_from_slice(format!("{len} {key}=").as_bytes());
    out.extend_from_slice(value);
    out.push(b'\n');
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A directory under the system temp dir, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(label: &str) -> TempDir {
            static COUNTER: AtomicUsize = AtomicUsize::new(0);
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos());
            let dir = std::env::temp_dir().join(format!(
                "shipline-git-{label}-{}-{}-{nanos}",
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::SeqCst)
            ));
            std::fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }

        fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// Runs git in `dir` with fixed identities and dates; panics with git's stderr on failure.
    fn git(dir: &Path, args: &[&str]) -> Vec<u8> {
        let output = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .env("GIT_AUTHOR_NAME", "Ada")
            .env("GIT_AUTHOR_EMAIL", "ada@example.com")
            .env("GIT_AUTHOR_DATE", "@1700000000 +0000")
            .env("GIT_COMMITTER_NAME", "Ada")
            .env("GIT_COMMITTER_EMAIL", "ada@example.com")
            .env("GIT_COMMITTER_DATE", "@1700000000 +0000")
            .stdin(Stdio::null())
            .output()
            .expect("git runs");
        assert!(
            output.status.success(),
            "git {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        output.stdout
    }

    fn git_str(dir: &Path, args: &[&str]) -> String {
        String::from_utf8(git(dir, args))
            .unwrap()
            .trim()
            .to_string()
    }

    fn init(dir: &Path) {
        git(dir, &["-c", "init.defaultBranch=main", "init", "-q"]);
    }

    fn write(dir: &Path, path: &str, content: &[u8]) {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }

    fn commit_all(dir: &Path, message: &str) -> String {
        git(dir, &["add", "-A"]);
        git(dir, &["commit", "-q", "--allow-empty", "-m", message]);
        git_str(dir, &["rev-parse", "HEAD"])
    }

    fn archive(
        repo: &Repository,
        commit: &Commit,
        subdir: Option<&str>,
    ) -> (Vec<u8>, ArchiveSummary) {
        let mut gz = Vec::new();
        let summary = repo.write_archive(commit, subdir, &mut gz).unwrap();
        let mut tar = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut tar)
            .unwrap();
        (tar, summary)
    }

    /// (path, typeflag, mode, size, link) of each header, for readable assertion failures.
    fn listing(tar: &[u8]) -> Vec<String> {
        let field = |h: &[u8], r: std::ops::Range<usize>| {
            let f = &h[r];
            String::from_utf8_lossy(&f[..f.iter().position(|&b| b == 0).unwrap_or(f.len())])
                .into_owned()
        };
        let mut out = Vec::new();
        let mut pos = 0;
        while pos + RECORD <= tar.len() && tar[pos] != 0 {
            let h = &tar[pos..pos + RECORD];
            let size = u64::from_str_radix(&field(h, 124..136), 8).unwrap_or(0) as usize;
            out.push(format!(
                "{}|{}|{}|{}|{}|{}|{}",
                field(h, 345..500),
                field(h, 0..100),
                h[156] as char,
                field(h, 100..108),
                size,
                field(h, 157..257),
                field(h, 136..148),
            ));
            pos += RECORD + size.div_ceil(RECORD) * RECORD;
        }
        out
    }

    fn assert_same_tar(ours: &[u8], git: &[u8]) {
        assert_eq!(listing(ours), listing(git), "entry listings differ");
        assert_eq!(ours.len(), git.len(), "tar lengths differ");
        assert!(ours == git, "tar bytes differ");
    }

    /// A tree with everything `git archive` treats specially.
    fn rich_repo(dir: &Path) -> String {
        init(dir);
        write(dir, "README.md", b"# app\n");
        write(dir, "empty", b"");
        write(dir, "with space.txt", b"spaced\n");
        write(dir, "src/a/b/c/deep.txt", b"deep\n");
        write(dir, "src/main.rb", b"puts 1\n");
        write(dir, "bin/web", b"#!/bin/sh\nexec ruby src/main.rb\n");
        std::fs::set_permissions(
            dir.join("bin/web"),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        std::os::unix::fs::symlink("src/main.rb", dir.join("link")).unwrap();
        let long_target = format!("{}/target.txt", "t".repeat(110));
        std::os::unix::fs::symlink(&long_target, dir.join("long-link")).unwrap();
        write(
            dir,
            &format!("{}/{}.txt", "d".repeat(60), "f".repeat(60)),
            b"split\n",
        );
        write(dir, &format!("{}.txt", "x".repeat(120)), b"pax path\n");
        let deep = vec!["e".repeat(50); 6].join("/");
        write(
            dir,
            &format!("{deep}/{}.txt", "g".repeat(90)),
            b"very deep\n",
        );
        write(dir, "ünïcødé/файл.txt", "контент\n".as_bytes());
        write(dir, "crlf.txt", b"one\ntwo\n");
        write(dir, "secret.txt", b"nope\n");
        write(dir, "docs/guide.md", b"ignored dir\n");
        write(dir, "tests/fixtures/a.txt", b"ignored by slash pattern\n");
        write(
            dir,
            "only-ignored/secret.txt",
            b"its directory entry still ships\n",
        );
        write(dir, "src/a/.gitattributes", b"*.tmp export-ignore\n");
        write(
            dir,
            "src/a/scratch.tmp",
            b"ignored by a nested .gitattributes\n",
        );
        write(
            dir,
            ".gitattributes",
            b"secret.txt export-ignore\ndocs export-ignore\ntests/ export-ignore\ncrlf.txt text eol=crlf\n",
        );
        commit_all(dir, "rich tree")
    }

    #[test]
    fn archive_is_byte_identical_to_git_archive() {
        let tmp = TempDir::new("rich");
        let id = rich_repo(tmp.path());
        let repo = open(tmp.path()).unwrap();
        let commit = repo.resolve("HEAD").unwrap();
        assert_eq!(commit.id, id);
        let (ours, summary) = archive(&repo, &commit, None);
        let theirs = git(tmp.path(), &["archive", "--format=tar", &id]);
        assert_same_tar(&ours, &theirs);
        let pax_headers = listing(&ours)
            .iter()
            .filter(|e| e.contains("|g|") || e.contains("|x|"))
            .count();
        assert_eq!(summary.entries, listing(&ours).len() - pax_headers);
        assert!(!summary.uses_lfs);
        let names = listing(&ours).join("\n");
        for ignored in ["secret.txt", "docs", "fixtures", "scratch.tmp"] {
            assert!(!names.contains(ignored), "{ignored} ships: {names}");
        }
        assert!(names.contains("|bin/web|0|0000775|"), "{names}");
        assert!(names.contains("|link|2|0000777|0|src/main.rb|"), "{names}");
    }

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

    #[test]
    fn relation_in_a_full_clone() {
        let tmp = TempDir::new("relation");
        init(tmp.path());
        let a = commit_all(tmp.path(), "a");
        let b = commit_all(tmp.path(), "b");
        let c = commit_all(tmp.path(), "c");
        git(tmp.path(), &["checkout", "-q", "-b", "side", &b]);
        let d = commit_all(tmp.path(), "d");
        git(tmp.path(), &["tag", "-a", "v-c", "-m", "tag", &c]);
        let repo = open(tmp.path()).unwrap();
        assert_eq!(repo.relation(&c, &a).unwrap(), Relation::Newer);
        assert_eq!(repo.relation(&a, &c).unwrap(), Relation::Older);
        assert_eq!(repo.relation(&b, &b).unwrap(), Relation::Same);
        assert_eq!(repo.relation("v-c", &c).unwrap(), Relation::Same);
        assert_eq!(repo.relation(&c, &d).unwrap(), Relation::Diverged);
        assert_eq!(repo.relation(&d, &a).unwrap(), Relation::Newer);
    }

    /// An origin with commits a..=n on main, and a shallow clone of it at `depth`.
    fn origin_and_shallow_clone(
        tmp: &TempDir,
        commits: usize,
        depth: &str,
    ) -> (PathBuf, PathBuf, Vec<String>) {
        let origin = tmp.path().join("origin");
        std::fs::create_dir_all(&origin).unwrap();
        init(&origin);
        let ids: Vec<String> = (0..commits)
            .map(|i| {
                write(&origin, "n", i.to_string().as_bytes());
                commit_all(&origin, &format!("commit {i}"))
            })
            .collect();
        let clone = tmp.path().join("clone");
        let url = format!("file://{}", origin.display());
        git(
            tmp.path(),
            &[
                "clone",
                "-q",
                "--depth",
                depth,
                &url,
                clone.to_str().unwrap(),
            ],
        );
        (origin, clone, ids)
    }

    #[test]
    fn relation_in_a_shallow_clone_deepens_step_by_step_instead_of_unshallowing() {
        let tmp = TempDir::new("shallow-deepen");
        let (_origin, clone, ids) = origin_and_shallow_clone(&tmp, 150, "1");
        let live = &ids[ids.len() - 40];
        let repo = open(&clone).unwrap();
        assert_eq!(
            repo.relation(ids.last().unwrap(), live).unwrap(),
            Relation::Newer
        );
        let reopened = open(&clone).unwrap();
        assert!(
            reopened.repo.is_shallow().unwrap(),
            "a deploy 40 commits ahead must not download the whole history"
        );
    }

    #[test]
    fn relation_in_a_shallow_clone_fetches_a_missing_newer_live_commit() {
        let tmp = TempDir::new("shallow-older");
        let (origin, clone, ids) = origin_and_shallow_clone(&tmp, 3, "1");
        let live = {
            write(&origin, "n", b"live");
            commit_all(&origin, "live")
        };
        let repo = open(&clone).unwrap();
        assert!(!repo
            .repo
            .has_object(ObjectId::from_hex(live.as_bytes()).unwrap()));
        assert_eq!(repo.relation(&ids[2], &live).unwrap(), Relation::Older);
    }

    #[test]
    fn relation_in_a_shallow_clone_deepens_to_find_an_older_live_commit() {
        let tmp = TempDir::new("shallow-newer");
        let (_origin, clone, ids) = origin_and_shallow_clone(&tmp, 5, "1");
        let repo = open(&clone).unwrap();
        assert_eq!(repo.relation(&ids[4], &ids[1]).unwrap(), Relation::Newer);
        assert!(!open(&clone).unwrap().repo.is_shallow().unwrap());
    }

    #[test]
    fn relation_in_a_shallow_clone_decides_locally_when_history_suffices() {
        let tmp = TempDir::new("shallow-local");
        let (_origin, clone, ids) = origin_and_shallow_clone(&tmp, 5, "3");
        git(&clone, &["remote", "remove", "origin"]);
        let repo = open(&clone).unwrap();
        assert_eq!(repo.relation(&ids[4], &ids[2]).unwrap(), Relation::Newer);
        assert_eq!(repo.relation(&ids[2], &ids[4]).unwrap(), Relation::Older);
    }

    #[test]
    fn relation_is_unknown_with_a_reason_when_origin_lacks_the_live_commit() {
        let tmp = TempDir::new("unknown");
        let (_origin, clone, ids) = origin_and_shallow_clone(&tmp, 2, "1");
        let missing = "0123456789abcdef0123456789abcdef01234567";
        let repo = open(&clone).unwrap();
        let Relation::Unknown(reason) = repo.relation(&ids[1], missing).unwrap() else {
            panic!("expected Unknown");
        };
        assert!(
            reason.contains("0123456") && reason.contains("not in this clone"),
            "{reason}"
        );
        assert!(
            reason.contains("fatal") || reason.contains("error"),
            "git's stderr is kept: {reason}"
        );
    }
}
