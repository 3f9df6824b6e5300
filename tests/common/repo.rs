//! Throwaway directories and git repositories with pinned identities and dates, so that commit
//! ids, and with them every expected output, are the same on every machine.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A directory removed when dropped, so a test leaves nothing behind however it ends.
pub struct TempDir {
    /// Where it is; unique per process and call, so parallel tests never share one.
    pub path: PathBuf,
}

impl TempDir {
    /// A fresh, empty directory whose name starts with `name`, to find it when a test fails.
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
    /// The working tree; removed with the repository.
    pub dir: TempDir,
    tick: std::sync::atomic::AtomicU64,
}

impl Repo {
    /// A new repository on `main`, without commits.
    pub fn new(name: &str) -> Repo {
        let repo = Repo::empty(name);
        repo.git(&["init", "-q", "-b", "main"]);
        repo
    }

    /// A directory that is not (yet) a repository: for steps that must not find one, and
    /// for jobs whose working directories hold nothing but a state file.
    pub fn empty(name: &str) -> Repo {
        Repo {
            dir: TempDir::new(name),
            tick: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// The working tree, where a CI step runs.
    pub fn path(&self) -> &Path {
        &self.dir.path
    }

    /// Runs git in the repository and returns its trimmed standard output.
    pub fn git(&self, args: &[&str]) -> String {
        checked(git_command(self.path()), args)
    }

    /// Writes a file (creating folders).
    pub fn write(&self, path: &str, content: &str) {
        let full = self.path().join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, content).unwrap();
    }

    /// Stages everything and commits, a minute after the previous commit; returns the full
    /// commit id.
    pub fn commit(&self, message: &str) -> String {
        let t = self.tick.fetch_add(1, Ordering::SeqCst) + 1;
        self.git(&["add", "-A"]);
        self.commit_at(message, 1_790_000_000 + t * 60)
    }

    /// Commits a minimal web app (a Procfile and an index.js, with whatever else is written
    /// already), then a change to its code with `change` as message: the history deploy tests
    /// start from, one commit live and one to ship. Returns both commit ids.
    pub fn web_app_and_change(&self, change: &str) -> (String, String) {
        self.write("Procfile", "web: node index.js\n");
        self.write("index.js", "console.log('v1')\n");
        let live = self.commit("Initial app");
        self.write("index.js", "console.log('v2')\n");
        (live, self.commit(change))
    }

    /// Commits what is staged (perhaps nothing) with `date` (unix seconds) as author and
    /// committer date; returns the full commit id. For histories whose dates matter: git
    /// orders commits by date, so a branch's commits older than main's test the ordering.
    pub fn commit_at(&self, message: &str, date: u64) -> String {
        self.git_at(date, &["commit", "-q", "--allow-empty", "-m", message]);
        self.git(&["rev-parse", "HEAD"])
    }

    /// Runs git as [`Repo::git`] does, with `date` (unix seconds) as the date of any commit
    /// it makes (a merge, say).
    pub fn git_at(&self, date: u64, args: &[&str]) -> String {
        let date = format!("{date} +0000");
        let mut git = git_command(self.path());
        git.env("GIT_AUTHOR_DATE", &date)
            .env("GIT_COMMITTER_DATE", &date);
        checked(git, args)
    }
}

/// Runs `git` with `args`, failing with git's own error when it fails (a test whose fixture
/// did not build must not go on to check a wrong one); returns its trimmed standard output.
fn checked(mut git: Command, args: &[&str]) -> String {
    let out = git.args(args).output().unwrap();
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
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
