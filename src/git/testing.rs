//! Shared fixtures of the git module's tests: throwaway repositories built with the `git`
//! command, so each test compares shipline with what git itself does.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use super::tar::RECORD;
use super::{ArchiveSummary, Commit, Repository};

/// A directory under the system temp dir, removed on drop.
pub(crate) struct TempDir(pub(crate) PathBuf);

impl TempDir {
    pub(crate) fn new(label: &str) -> TempDir {
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

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs git in `dir` with fixed identities and dates; panics with git's stderr on failure.
pub(crate) fn git(dir: &Path, args: &[&str]) -> Vec<u8> {
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

pub(crate) fn git_str(dir: &Path, args: &[&str]) -> String {
    String::from_utf8(git(dir, args))
        .unwrap()
        .trim()
        .to_string()
}

pub(crate) fn init(dir: &Path) {
    git(dir, &["-c", "init.defaultBranch=main", "init", "-q"]);
}

pub(crate) fn write(dir: &Path, path: &str, content: &[u8]) {
    let path = dir.join(path);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
}

pub(crate) fn commit_all(dir: &Path, message: &str) -> String {
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "--allow-empty", "-m", message]);
    git_str(dir, &["rev-parse", "HEAD"])
}

pub(crate) fn archive(
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
pub(crate) fn listing(tar: &[u8]) -> Vec<String> {
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

pub(crate) fn assert_same_tar(ours: &[u8], git: &[u8]) {
    assert_eq!(listing(ours), listing(git), "entry listings differ");
    assert_eq!(ours.len(), git.len(), "tar lengths differ");
    assert!(ours == git, "tar bytes differ");
}

/// A tree with everything `git archive` treats specially.
pub(crate) fn rich_repo(dir: &Path) -> String {
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

/// An origin with commits a..=n on main, and a shallow clone of it at `depth`.
pub(crate) fn origin_and_shallow_clone(
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
