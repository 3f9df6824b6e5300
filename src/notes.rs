//! Release notes: the commits between what is live and what is shipping, and which case the
//! range is. The data here is what `deploy` records in the state file, what `notify` puts in a
//! Slack message, and what `shipline notes --format json` prints; its JSON form is stable.

use std::path::Path;

use gix::ObjectId;
use serde::{Deserialize, Serialize};

use crate::ci;
use crate::git::history::{self, GitDag};
use crate::git::{self, Deepen, Failure, Look, Relation, Unanswered};
use crate::github::{self, CompareStatus, GitHub};
use crate::text;

/// The format version of the JSON form. Fields may be added; none is removed or renamed
/// without a new version.
pub const NOTES_VERSION: u64 = 1;

/// How the commit being shipped relates to the one that is live. Never guessed: each case is
/// told apart from the history and says what the listed commits mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RangeKind {
    /// `from` is an ancestor of `to`: `commits` are what ships, oldest first.
    Forward,
    /// `from` and `to` are the same commit: nothing to ship.
    Same,
    /// `to` is an ancestor of `from`: going backwards; `removed` are the commits that stop
    /// being live, oldest first, and `commits` is empty.
    Backward,
    /// Neither is an ancestor of the other (a force-push or a rebase): `commits` are on the
    /// shipping side only, `removed` on the live side only.
    Diverged,
}

/// Where the notes were computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotesSource {
    /// The local git history (deepened from the clone's remote when it was shallow).
    Git,
    /// GitHub's compare API, when the local history could not be completed.
    Github,
}

/// One commit of the notes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The full commit id.
    pub sha: String,
    /// The first 7 characters of the id: a fixed length, so output is stable across clones.
    pub short: String,
    /// The author's name, as `git log --format=%an` shows it.
    pub author: String,
    /// The author's email.
    pub email: String,
    /// The subject, as `%s` shows it.
    pub subject: String,
    /// The body, as `%b` shows it (may be empty).
    pub body: String,
    /// The pull request number the subject names (`(#123)` of a squash merge, `Merge pull
    /// request #123` of a merge commit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pr: Option<u64>,
    /// A link to the commit, when the remote is a known host (GitHub, GitLab, Bitbucket).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// Release notes for one range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notes {
    /// [`NOTES_VERSION`].
    pub version: u64,
    /// The live commit (full id).
    pub from: String,
    /// The commit being shipped (full id).
    pub to: String,
    /// Which case the range is.
    pub range: RangeKind,
    /// Where the notes were computed.
    pub source: NotesSource,
    /// Whether the list follows first parents only (the merges of the main branch) instead of
    /// skipping merge commits.
    pub first_parent: bool,
    /// The commits that ship, oldest first (see [`RangeKind`]).
    pub commits: Vec<Entry>,
    /// The commits that stop being live, oldest first (backward and diverged ranges).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub removed: Vec<Entry>,
    /// A link to the host's compare view of the range, when the remote is a known host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compare_url: Option<String>,
}

/// How `shipline notes` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotesFormat {
    /// One line per commit, for a terminal or a CI log.
    Text,
    /// A Markdown list, for a PR comment, a step summary or release notes.
    Markdown,
    /// The stable JSON form (see `notes::Notes`).
    Json,
}

impl NotesFormat {
    /// `--format`'s words, the default first.
    pub const WORDS: &[(&str, NotesFormat)] = &[
        ("text", NotesFormat::Text),
        ("markdown", NotesFormat::Markdown),
        ("md", NotesFormat::Markdown),
        ("json", NotesFormat::Json),
    ];
}

/// What `deploy` records under `notes` in the state file: the notes, or why there are none.
/// Notes never fail a deploy, so their absence is data, not an error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Recorded {
    /// The notes were computed.
    Notes(Notes),
    /// They could not be, for this reason.
    Unavailable {
        /// Why, for the log and the Slack message.
        unavailable: String,
    },
}

/// What to compute notes for.
pub struct Range<'a> {
    /// The repository (any folder inside it).
    pub dir: &'a Path,
    /// The live commit: a full commit id (which may be missing from a shallow clone) or a
    /// revision of the clone.
    pub from: &'a str,
    /// The commit being shipped, a revision of the clone (`HEAD` in CI).
    pub to: &'a str,
    /// List the first parents (the merges of the main branch) instead of skipping merges.
    pub first_parent: bool,
    /// How `to` relates to `from` when the caller has already decided it (the deploy guard
    /// has), so the history is not walked a second time to find it.
    pub known: Option<&'a Relation>,
}

/// Computes the notes, deepening a shallow clone or asking GitHub when needed; never fails:
/// what cannot be computed is `Recorded::Unavailable` with the reason.
///
/// The GitHub fallback reads `GITHUB_TOKEN` and `GITHUB_API_URL` from the environment; its
/// requests end within two minutes. Progress (each `git fetch`, the GitHub request) is told
/// on standard error, so standard output stays the notes.
pub fn compute(range: &Range<'_>) -> Recorded {
    let github = GithubAccess::from_env();
    match compute_notes(range, &github) {
        Ok(notes) => Recorded::Notes(notes),
        Err(reason) => Recorded::Unavailable {
            unavailable: ci::redact(&reason),
        },
    }
}

/// How many release-note entries the deploy log lists (all of them are in the state file).
const NOTES_IN_LOG: usize = 20;

/// The notes of a release about to be made (live commit → shipping commit), told in the log
/// and returned for the state file and `notify`. `known` is how the shipping commit relates to
/// the live one when the deploy guard has already decided it, so the history is walked once.
/// Never an error: notes that cannot be computed are recorded as unavailable, with the reason,
/// and the deploy goes on.
pub fn for_release(
    dir: &Path,
    live_commit: Option<&str>,
    shipping: &str,
    known: Option<&Relation>,
) -> Recorded {
    let recorded = match live_commit {
        Some(from) => compute(&Range {
            dir,
            from,
            to: shipping,
            first_parent: false,
            known,
        }),
        None => Recorded::Unavailable {
            unavailable: "nothing with a recorded commit is live on the app yet".into(),
        },
    };
    match &recorded {
        Recorded::Notes(n) => ci::say(&format!(
            "Release notes: {} commit(s) {}",
            if n.range == RangeKind::Backward {
                n.removed.len()
            } else {
                n.commits.len()
            },
            match n.range {
                RangeKind::Forward => "shipping",
                RangeKind::Same => "(nothing new)",
                RangeKind::Backward => "being removed",
                RangeKind::Diverged => "shipping, on rewritten history",
            }
        )),
        Recorded::Unavailable { unavailable } => {
            ci::say(&format!("Release notes unavailable: {unavailable}"))
        }
    }
    if let Recorded::Notes(n) = &recorded {
        let listed = if n.range == RangeKind::Backward {
            &n.removed
        } else {
            &n.commits
        };
        for entry in listed.iter().take(NOTES_IN_LOG) {
            ci::say(&format!(
                "  {} {} ({})",
                entry.short, entry.subject, entry.author
            ));
        }
        if listed.len() > NOTES_IN_LOG {
            ci::say(&format!("  …and {} more", listed.len() - NOTES_IN_LOG));
        }
    }
    recorded
}

/// Where and how to ask GitHub's compare API.
struct GithubAccess {
    api_url: String,
    token: Option<String>,
}

impl GithubAccess {
    fn from_env() -> GithubAccess {
        let api_url = std::env::var("GITHUB_API_URL")
            .ok()
            .map(|u| u.trim().trim_end_matches('/').to_string())
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| github::DEFAULT_API_URL.to_string());
        let token = std::env::var("GITHUB_TOKEN")
            .ok()
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty());
        GithubAccess { api_url, token }
    }
}

/// Tells progress on standard error, with secrets masked.
fn progress(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{}", ci::redact(line));
}

fn compute_notes(range: &Range<'_>, github: &GithubAccess) -> Result<Notes, String> {
    let mut dag = GitDag::open(range.dir).map_err(|e| format!("{e:#}"))?;
    let to = dag
        .resolve(range.to)
        .map_err(|e| format!("{e:#}; pass a revision of this clone with --to"))?;
    let host = git::remote(dag.repo()).and_then(|(_, url)| Host::from_remote_url(&url));
    let from = match ObjectId::from_hex(range.from.as_bytes()) {
        Ok(id) => id,
        Err(_) => dag.resolve(range.from).map_err(|e| {
            format!(
                "{e:#}; pass the live commit's full 40-character id when it is not in this clone"
            )
        })?,
    };
    let base = Base {
        from: from.to_string(),
        to: to.to_string(),
        first_parent: range.first_parent,
        compare_url: host
            .as_ref()
            .map(|h| h.compare_url(&from.to_string(), &to.to_string())),
    };
    if from == to {
        return Ok(base.notes(RangeKind::Same, NotesSource::Git, Vec::new(), Vec::new()));
    }

    let first_parent = range.first_parent;
    let known = range.known.and_then(range_kind);
    let look = |dag: &mut GitDag| {
        Ok(
            match local(dag, from, to, first_parent, known, host.as_ref()) {
                Ok(Local::Done(kind, commits, removed)) => Look::Answered((kind, commits, removed)),
                Ok(Local::Incomplete(why)) => Look::Missing(why),
                Err(err) => Look::Missing(format!("{err:#}")),
            },
        )
    };
    let mut tell = |remote: &str, step: Deepen| {
        progress(&match step {
            Deepen::By(n) => format!(
                "Deepening the shallow clone by {n} commits from {remote} to find how {} relates to {}",
                short(&from),
                short(&to)
            ),
            Deepen::Unshallow => format!(
                "Fetching the whole history from {remote} (unshallowing the clone) to find how {} relates to {}",
                short(&from),
                short(&to)
            ),
            Deepen::Missing => format!(
                "Fetching commit {} and its history from {remote}",
                short(&from)
            ),
        })
    };
    let (why, failure) = match git::complete(&mut dag, [from, to], look, &mut tell) {
        Ok(Ok((kind, commits, removed))) => {
            return Ok(base.notes(kind, NotesSource::Git, commits, removed))
        }
        Ok(Err(Unanswered { why, failure })) => (why, failure),
        Err(err) => return Err(format!("{err:#}")),
    };
    let mut tried = vec![match failure {
        Failure::NoRemote => {
            "the clone has no `origin` remote (nor a single other one) to fetch the history from"
                .to_string()
        }
        Failure::Fetch(failed) => failed,
        Failure::Exhausted(remote) => format!("fetching from {remote} did not complete it"),
    }];

    match (host.as_ref().and_then(Host::github_repo), github) {
        (Some((owner, repo)), GithubAccess { api_url, token: Some(token) }) => {
            progress(&format!(
                "Asking GitHub to compare {}...{} in {owner}/{repo}",
                short(&from),
                short(&to)
            ));
            match from_github(api_url, token, owner, repo, &base, host.as_ref()) {
                Ok(notes) => return Ok(notes),
                Err(err) => tried.push(format!("{err:#}")),
            }
        }
        (Some(_), _) => tried.push(
            "GitHub's compare API was not asked: GITHUB_TOKEN is not set (pass the workflow's token with `contents: read`)"
                .to_string(),
        ),
        (None, _) => tried.push(
            "GitHub's compare API does not apply: the remote is not a github.com repository"
                .to_string(),
        ),
    }
    Err(format!("{why}; {}", tried.join("; ")))
}

/// The parts every set of notes of one range shares.
struct Base {
    from: String,
    to: String,
    first_parent: bool,
    compare_url: Option<String>,
}

impl Base {
    fn notes(
        &self,
        range: RangeKind,
        source: NotesSource,
        commits: Vec<Entry>,
        removed: Vec<Entry>,
    ) -> Notes {
        Notes {
            version: NOTES_VERSION,
            from: self.from.clone(),
            to: self.to.clone(),
            range,
            source,
            first_parent: self.first_parent,
            commits,
            removed,
            compare_url: match range {
                RangeKind::Same => None,
                _ => self.compare_url.clone(),
            },
        }
    }
}

/// What the local history says.
enum Local {
    /// The notes' case, commits and removed commits.
    Done(RangeKind, Vec<Entry>, Vec<Entry>),
    /// The history is not enough, for this reason.
    Incomplete(String),
}

fn local(
    dag: &mut GitDag,
    from: ObjectId,
    to: ObjectId,
    first_parent: bool,
    known: Option<RangeKind>,
    host: Option<&Host>,
) -> anyhow::Result<Local> {
    if !dag.has_commit(from) {
        return Ok(Local::Incomplete(format!(
            "the live commit {} is not in this clone{}",
            short(&from),
            if dag.shallow() {
                " (a shallow clone)"
            } else {
                ""
            }
        )));
    }
    let kind = match known {
        Some(kind) => kind,
        None => {
            let relation = history::relate(dag, from, to)?;
            if relation.incomplete {
                return Ok(Local::Incomplete(format!(
                    "this shallow clone's history ends between {} and {}",
                    short(&from),
                    short(&to)
                )));
            }
            let Some(kind) = range_kind(&relation.relation) else {
                return Ok(Local::Incomplete(format!(
                    "the history does not tell how {} relates to {}",
                    short(&from),
                    short(&to)
                )));
            };
            kind
        }
    };
    let (shipping, removing) = sides(kind);
    let mut entries = |hide, show| -> anyhow::Result<Vec<Entry>> {
        history::log(dag, hide, show, first_parent)?
            .into_iter()
            .map(|id| {
                let raw = dag.raw_commit(id)?;
                Ok(entry_from_raw(&id.to_string(), &raw, host))
            })
            .collect()
    };
    let commits = if shipping {
        entries(from, to)?
    } else {
        Vec::new()
    };
    let removed = if removing {
        entries(to, from)?
    } else {
        Vec::new()
    };
    Ok(Local::Done(kind, commits, removed))
}

/// The notes' label for how `to` relates to `from`: the one place a [`Relation`] becomes a
/// [`RangeKind`], so the notes and the deploy guard cannot disagree on a range. `None` for a
/// relation that could not be decided.
pub fn range_kind(relation: &Relation) -> Option<RangeKind> {
    match relation {
        Relation::Newer => Some(RangeKind::Forward),
        Relation::Same => Some(RangeKind::Same),
        Relation::Older => Some(RangeKind::Backward),
        Relation::Diverged => Some(RangeKind::Diverged),
        Relation::Unknown(_) => None,
    }
}

/// Which lists a case fills: (the commits that ship, the commits that are removed).
pub fn sides(kind: RangeKind) -> (bool, bool) {
    match kind {
        RangeKind::Forward => (true, false),
        RangeKind::Same => (false, false),
        RangeKind::Backward => (false, true),
        RangeKind::Diverged => (true, true),
    }
}

/// The notes' case for GitHub's comparison status of `from...to`.
pub fn range_kind_of_status(status: CompareStatus) -> Option<RangeKind> {
    range_kind(&match status {
        CompareStatus::Ahead => Relation::Newer,
        CompareStatus::Behind => Relation::Older,
        CompareStatus::Diverged => Relation::Diverged,
        CompareStatus::Identical => Relation::Same,
        CompareStatus::Unknown => return None,
    })
}

fn from_github(
    api_url: &str,
    token: &str,
    owner: &str,
    repo: &str,
    base: &Base,
    host: Option<&Host>,
) -> anyhow::Result<Notes> {
    crate::http::check_credential_url("GITHUB_API_URL", api_url).map_err(anyhow::Error::msg)?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let github = GitHub::new(api_url, token, deadline);
    let forward = github.compare(owner, repo, &base.from, &base.to)?;
    let kind = range_kind_of_status(forward.status).ok_or_else(|| {
        anyhow::anyhow!("GitHub compared the commits with a status this shipline does not know")
    })?;
    let (shipping, removing) = sides(kind);
    let commits = if shipping {
        github_entries(forward.commits, &base.to, base.first_parent, host)
    } else {
        Vec::new()
    };
    let removed = if removing {
        let backward = github.compare(owner, repo, &base.to, &base.from)?;
        github_entries(backward.commits, &base.from, base.first_parent, host)
    } else {
        Vec::new()
    };
    Ok(base.notes(kind, NotesSource::Github, commits, removed))
}

/// The entries of a GitHub comparison's commits (`base..head`, oldest first): merges
/// skipped, or, with `first_parent`, the first-parent chain from `head` within them.
fn github_entries(
    commits: Vec<github::Commit>,
    head: &str,
    first_parent: bool,
    host: Option<&Host>,
) -> Vec<Entry> {
    let chosen: Vec<github::Commit> = if first_parent {
        let mut by_sha: std::collections::HashMap<String, github::Commit> =
            commits.into_iter().map(|c| (c.sha.clone(), c)).collect();
        let mut chain = Vec::new();
        let mut next = Some(head.to_string());
        while let Some(sha) = next {
            let Some(commit) = by_sha.remove(&sha) else {
                break;
            };
            next = commit.parents.first().map(|p| p.sha.clone());
            chain.push(commit);
        }
        chain.reverse();
        chain
    } else {
        commits
            .into_iter()
            .filter(|c| c.parents.len() <= 1)
            .collect()
    };
    chosen
        .into_iter()
        .map(|c| {
            let (subject, body) = split_message(c.commit.message.as_bytes());
            let author = c.commit.author.unwrap_or_default();
            let url = host.map(|h| h.commit_url(&c.sha)).or(c.html_url);
            Entry {
                short: text::short(&c.sha).to_string(),
                pr: pr_number(&subject),
                sha: c.sha,
                author: author.name,
                email: author.email,
                subject,
                body,
                url,
            }
        })
        .collect()
}

fn short(id: &ObjectId) -> String {
    id.to_hex_with_len(7).to_string()
}

/// An entry from a raw commit object (headers, a blank line, the message).
pub fn entry_from_raw(sha: &str, raw: &[u8], host: Option<&Host>) -> Entry {
    let (headers, message) = match find(raw, b"\n\n") {
        Some(i) => (&raw[..i], &raw[i + 2..]),
        None => (raw, &b""[..]),
    };
    let (author, email) = headers
        .split(|&b| b == b'\n')
        .find_map(|line| line.strip_prefix(b"author "))
        .map(split_ident)
        .unwrap_or_default();
    let (subject, body) = split_message(message);
    Entry {
        sha: sha.to_string(),
        short: text::short(sha).to_string(),
        author,
        email,
        pr: pr_number(&subject),
        subject,
        body,
        url: host.map(|h| h.commit_url(sha)),
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Name and email of an identity line, as git's `%an` and `%ae` show them: the name is what
/// comes before the first `<`, right-trimmed; the email is up to the next `>`.
pub fn split_ident(ident: &[u8]) -> (String, String) {
    let Some(lt) = ident.iter().position(|&b| b == b'<') else {
        return (
            String::from_utf8_lossy(ident).trim_end().to_string(),
            String::new(),
        );
    };
    let name = &ident[..lt];
    let name_end = name
        .iter()
        .rposition(|b| !is_git_space(*b))
        .map_or(0, |i| i + 1);
    let rest = &ident[lt + 1..];
    let email = match rest.iter().position(|&b| b == b'>') {
        Some(gt) => &rest[..gt],
        None => rest,
    };
    (
        String::from_utf8_lossy(&name[..name_end]).into_owned(),
        String::from_utf8_lossy(email).into_owned(),
    )
}

/// Git's `isspace`: space, tab, newline and carriage return (not vertical tab or form feed).
fn is_git_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// Splits a commit message into git's `%s` and `%b`: leading blank lines are skipped; the
/// subject is the following lines up to the first blank one, each right-trimmed, joined with
/// single spaces (leading whitespace kept); the blank lines after it are skipped; the body is
/// the rest, verbatim. A line of only whitespace counts as blank.
pub fn split_message(message: &[u8]) -> (String, String) {
    let mut lines = message.split_inclusive(|&b| b == b'\n').peekable();
    let trimmed = |line: &[u8]| -> usize {
        line.iter()
            .rposition(|b| !is_git_space(*b))
            .map_or(0, |i| i + 1)
    };
    while lines.peek().is_some_and(|l| trimmed(l) == 0) {
        lines.next();
    }
    let mut subject = Vec::new();
    for line in lines.by_ref() {
        let end = trimmed(line);
        if end == 0 {
            break;
        }
        if !subject.is_empty() {
            subject.push(b' ');
        }
        subject.extend_from_slice(&line[..end]);
    }
    while lines.peek().is_some_and(|l| trimmed(l) == 0) {
        lines.next();
    }
    let body: Vec<u8> = lines.flatten().copied().collect();
    (
        String::from_utf8_lossy(&subject).into_owned(),
        String::from_utf8_lossy(&body).into_owned(),
    )
}

/// The pull request a subject names: ` (#123)` at the end (GitHub's squash merge) or
/// `Merge pull request #123 from ...` (its merge commit).
pub fn pr_number(subject: &str) -> Option<u64> {
    let digits = |s: &str| -> Option<u64> {
        (!s.is_empty() && s.len() <= 12 && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    if let Some(rest) = subject.strip_prefix("Merge pull request #") {
        let number = rest.split(' ').next().unwrap_or("");
        return digits(number);
    }
    let trimmed = subject.trim_end();
    let inner = trimmed.strip_suffix(')')?;
    let open = inner.rfind("(#")?;
    digits(&inner[open + 2..])
}

/// Which hosting service a remote is on, for links.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostKind {
    /// github.com.
    GitHub,
    /// gitlab.com.
    GitLab,
    /// bitbucket.org.
    Bitbucket,
}

/// A repository on a known host, read from a remote URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    /// The service.
    pub kind: HostKind,
    /// `https://github.com` and so on.
    pub web: String,
    /// `owner/repo` (GitLab: `group/subgroup/project`), without `.git`.
    pub path: String,
}

impl Host {
    /// Reads `git@github.com:o/r.git`, `ssh://git@github.com[:22]/o/r.git`,
    /// `https://[user[:token]@]github.com/o/r[.git][/]` and `git://` forms; `None` for other
    /// hosts and for local paths. Credentials in the URL are dropped, never kept.
    pub fn from_remote_url(url: &str) -> Option<Host> {
        let url = url.trim();
        let (host, path) = if let Some((scheme, rest)) = url.split_once("://") {
            if !matches!(
                scheme,
                "https" | "http" | "ssh" | "git" | "git+ssh" | "ssh+git"
            ) {
                return None;
            }
            let (authority, path) = rest.split_once('/')?;
            let host = authority.rsplit('@').next()?;
            let host = host.split(':').next()?;
            (host, path)
        } else {
            // scp-like: [user@]host:path (a path with a slash before the colon is local).
            let (authority, path) = url.split_once(':')?;
            if authority.contains('/') {
                return None;
            }
            (authority.rsplit('@').next()?, path)
        };
        let kind = match host.to_ascii_lowercase().as_str() {
            "github.com" | "www.github.com" => HostKind::GitHub,
            "gitlab.com" | "www.gitlab.com" => HostKind::GitLab,
            "bitbucket.org" | "www.bitbucket.org" => HostKind::Bitbucket,
            _ => return None,
        };
        let path = path.trim_matches('/');
        let path = path
            .strip_suffix(".git")
            .unwrap_or(path)
            .trim_end_matches('/');
        let parts: Vec<&str> = path.split('/').collect();
        let valid = parts.len() >= 2
            && parts.iter().all(|p| {
                !p.is_empty()
                    && *p != "."
                    && *p != ".."
                    && p.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
            });
        if !valid || (kind != HostKind::GitLab && parts.len() != 2) {
            return None;
        }
        let web = match kind {
            HostKind::GitHub => "https://github.com",
            HostKind::GitLab => "https://gitlab.com",
            HostKind::Bitbucket => "https://bitbucket.org",
        };
        Some(Host {
            kind,
            web: web.to_string(),
            path: parts.join("/"),
        })
    }

    /// The commit's page.
    pub fn commit_url(&self, sha: &str) -> String {
        match self.kind {
            HostKind::GitHub => format!("{}/{}/commit/{sha}", self.web, self.path),
            HostKind::GitLab => format!("{}/{}/-/commit/{sha}", self.web, self.path),
            HostKind::Bitbucket => format!("{}/{}/commits/{sha}", self.web, self.path),
        }
    }

    /// The page comparing what is live (`from`) with what ships (`to`).
    pub fn compare_url(&self, from: &str, to: &str) -> String {
        match self.kind {
            HostKind::GitHub => format!("{}/{}/compare/{from}...{to}", self.web, self.path),
            HostKind::GitLab => format!("{}/{}/-/compare/{from}...{to}", self.web, self.path),
            HostKind::Bitbucket => {
                format!("{}/{}/branches/compare/{to}%0D{from}", self.web, self.path)
            }
        }
    }

    /// `(owner, repo)` when the repository is on GitHub.
    pub fn github_repo(&self) -> Option<(&str, &str)> {
        match self.kind {
            HostKind::GitHub => self.path.split_once('/'),
            _ => None,
        }
    }
}

/// Prints notes, or why there are none, in `format`. Text and Markdown say the case first
/// (shipping, nothing to ship, going backwards, diverged), then the commits, oldest first;
/// JSON is the stable form of [`Recorded`], pretty-printed.
pub fn render(recorded: &Recorded, format: NotesFormat) -> String {
    match (recorded, format) {
        (_, NotesFormat::Json) => {
            let mut text = serde_json::to_string_pretty(recorded)
                .unwrap_or_else(|_| "{\"unavailable\": \"could not serialize the notes\"}".into());
            text.push('\n');
            text
        }
        (Recorded::Unavailable { unavailable }, NotesFormat::Text) => {
            format!("Release notes unavailable: {unavailable}\n")
        }
        (Recorded::Unavailable { unavailable }, NotesFormat::Markdown) => {
            format!(
                "_Release notes unavailable: {}_\n",
                text::markdown_escape(unavailable)
            )
        }
        (Recorded::Notes(notes), NotesFormat::Text) => render_text(notes),
        (Recorded::Notes(notes), NotesFormat::Markdown) => render_markdown(notes),
    }
}

fn count(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

/// The first line of text and Markdown output: the case, in words.
pub fn headline(notes: &Notes) -> String {
    let from = text::short(&notes.from);
    let to = text::short(&notes.to);
    let what = if notes.first_parent {
        "first-parent commit"
    } else {
        "commit"
    };
    let mut line = match notes.range {
        RangeKind::Forward => format!(
            "Shipping {} ({from}..{to})",
            count(notes.commits.len(), what)
        ),
        RangeKind::Same => format!("Nothing to ship: {to} is already live"),
        RangeKind::Backward => format!(
            "Going backwards: {to} is an ancestor of the live {from}; {} would be removed",
            count(notes.removed.len(), what)
        ),
        RangeKind::Diverged => format!(
            "History diverged (force-push or rebase): {} to ship, {} removed (live {from}, shipping {to})",
            count(notes.commits.len(), what),
            count(notes.removed.len(), what)
        ),
    };
    if notes.range == RangeKind::Forward && notes.commits.is_empty() && !notes.first_parent {
        line.push_str("; only merge commits, which are not listed (--first-parent lists them)");
    }
    if notes.source == NotesSource::Github {
        line.push_str(" [from GitHub's compare API]");
    }
    line
}

fn render_text(notes: &Notes) -> String {
    let mut out = headline(notes);
    out.push('\n');
    let list = |out: &mut String, entries: &[Entry], indent: &str| {
        for e in entries {
            out.push_str(&format!(
                "{indent}{} {} ({})\n",
                e.short, e.subject, e.author
            ));
        }
    };
    match notes.range {
        RangeKind::Diverged => {
            out.push_str("Shipping:\n");
            list(&mut out, &notes.commits, "  ");
            out.push_str("Removed:\n");
            list(&mut out, &notes.removed, "  ");
        }
        _ => {
            list(&mut out, &notes.commits, "");
            list(&mut out, &notes.removed, "");
        }
    }
    if let Some(url) = &notes.compare_url {
        out.push_str(&format!("Compare: {url}\n"));
    }
    out
}

fn render_markdown(notes: &Notes) -> String {
    let mut out = format!("**{}**", text::markdown_escape(&headline(notes)));
    if let Some(url) = &notes.compare_url {
        out.push_str(&format!(" ([compare]({url}))"));
    }
    out.push_str("\n\n");
    let list = |out: &mut String, entries: &[Entry]| {
        for e in entries {
            let sha = match &e.url {
                Some(url) => format!("[`{}`]({url})", e.short),
                None => format!("`{}`", e.short),
            };
            out.push_str(&format!(
                "- {sha} {} — {}\n",
                text::markdown_escape(&e.subject),
                text::markdown_escape(&e.author)
            ));
        }
    };
    match notes.range {
        RangeKind::Diverged => {
            out.push_str("Shipping:\n\n");
            list(&mut out, &notes.commits);
            out.push_str("\nRemoved:\n\n");
            list(&mut out, &notes.removed);
        }
        _ => {
            list(&mut out, &notes.commits);
            list(&mut out, &notes.removed);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pr_numbers_from_squash_and_merge_subjects() {
        assert_eq!(pr_number("Fix login (#123)"), Some(123));
        assert_eq!(pr_number("Fix login (#123)  "), Some(123));
        assert_eq!(
            pr_number("Merge pull request #45 from acme/feature-x"),
            Some(45)
        );
        assert_eq!(pr_number("Fix (#12) the thing"), None);
        assert_eq!(pr_number("Bump to (#x)"), None);
        assert_eq!(pr_number("Issue #7 fixed"), None);
        assert_eq!(pr_number("Overflow (#99999999999999999999)"), None);
        assert_eq!(pr_number(""), None);
    }

    #[test]
    fn remotes_of_known_hosts_give_links() {
        let github = Host {
            kind: HostKind::GitHub,
            web: "https://github.com".into(),
            path: "acme/shop".into(),
        };
        for url in [
            "git@github.com:acme/shop.git",
            "git@github.com:acme/shop",
            "ssh://git@github.com/acme/shop.git",
            "ssh://git@github.com:22/acme/shop.git",
            "https://github.com/acme/shop.git",
            "https://github.com/acme/shop/",
            "https://x-access-token:ghs_secret@github.com/acme/shop.git",
            "git://github.com/acme/shop.git",
        ] {
            assert_eq!(Host::from_remote_url(url).as_ref(), Some(&github), "{url}");
        }
        assert_eq!(
            github.commit_url("abc"),
            "https://github.com/acme/shop/commit/abc"
        );
        assert_eq!(
            github.compare_url("a", "b"),
            "https://github.com/acme/shop/compare/a...b"
        );
        assert_eq!(github.github_repo(), Some(("acme", "shop")));

        let gitlab = Host::from_remote_url("git@gitlab.com:group/sub/app.git").unwrap();
        assert_eq!(
            gitlab.commit_url("abc"),
            "https://gitlab.com/group/sub/app/-/commit/abc"
        );
        assert_eq!(gitlab.github_repo(), None);
        let bitbucket = Host::from_remote_url("https://ada@bitbucket.org/team/app.git").unwrap();
        assert_eq!(
            bitbucket.commit_url("abc"),
            "https://bitbucket.org/team/app/commits/abc"
        );

        for url in [
            "/srv/git/app.git",
            "file:///srv/git/app.git",
            "../app",
            "https://example.com/acme/shop.git",
            "https://github.com/acme",
            "https://github.com/acme/shop/extra",
            "https://github.com/../shop",
            "C:/repos/app",
        ] {
            assert_eq!(Host::from_remote_url(url), None, "{url}");
        }
    }

    #[test]
    fn messages_split_like_git_subject_and_body() {
        let (s, b) =
            split_message(b"\n \n  Fix the thing  \nacross lines\t\n\n\n\nBody\n\n  kept\n");
        assert_eq!(s, "  Fix the thing across lines");
        assert_eq!(b, "Body\n\n  kept\n");
        assert_eq!(
            split_message(b"one line"),
            ("one line".into(), String::new())
        );
        assert_eq!(split_message(b""), (String::new(), String::new()));
        // A vertical tab is not space for git.
        assert_eq!(split_message(b"a\x0b\n").0, "a\x0b");
    }

    #[test]
    fn identities_split_like_git() {
        assert_eq!(
            split_ident(b"Ada Lovelace  <ada@example.com> 1700000000 +0000"),
            ("Ada Lovelace".into(), "ada@example.com".into())
        );
        assert_eq!(split_ident(b"<x@y> 1 +0000"), (String::new(), "x@y".into()));
        assert_eq!(split_ident(b"broken"), ("broken".into(), String::new()));
    }

    #[test]
    fn raw_commits_become_entries() {
        let raw = b"tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n\
author Ada <ada@x> 1700000000 +0000\n\
committer Bob <bob@x> 1700000001 +0000\n\
\n\
Add checkout (#42)\n\nWith a body.\n";
        let host = Host::from_remote_url("git@github.com:acme/shop.git");
        let sha = "0123456789abcdef0123456789abcdef01234567";
        let e = entry_from_raw(sha, raw, host.as_ref());
        assert_eq!(e.short, "0123456");
        assert_eq!((e.author.as_str(), e.email.as_str()), ("Ada", "ada@x"));
        assert_eq!(e.subject, "Add checkout (#42)");
        assert_eq!(e.body, "With a body.\n");
        assert_eq!(e.pr, Some(42));
        assert_eq!(
            e.url.as_deref(),
            Some("https://github.com/acme/shop/commit/0123456789abcdef0123456789abcdef01234567")
        );
    }

    fn entry(n: u8, subject: &str) -> Entry {
        let sha = format!("{n}").repeat(40);
        Entry {
            short: sha[..7].to_string(),
            sha,
            author: "Ada".into(),
            email: "ada@x".into(),
            subject: subject.into(),
            body: String::new(),
            pr: pr_number(subject),
            url: None,
        }
    }

    fn notes(range: RangeKind, commits: Vec<Entry>, removed: Vec<Entry>) -> Notes {
        Notes {
            version: NOTES_VERSION,
            from: "a".repeat(40),
            to: "b".repeat(40),
            range,
            source: NotesSource::Git,
            first_parent: false,
            commits,
            removed,
            compare_url: Some("https://github.com/o/r/compare/a...b".into()),
        }
    }

    #[test]
    fn headlines_name_each_case() {
        let one = || vec![entry(1, "One")];
        assert_eq!(
            headline(&notes(RangeKind::Forward, one(), vec![])),
            "Shipping 1 commit (aaaaaaa..bbbbbbb)"
        );
        assert_eq!(
            headline(&notes(RangeKind::Same, vec![], vec![])),
            "Nothing to ship: bbbbbbb is already live"
        );
        assert!(headline(&notes(RangeKind::Backward, vec![], one()))
            .starts_with("Going backwards: bbbbbbb is an ancestor of the live aaaaaaa; 1 commit would be removed"));
        assert!(
            headline(&notes(RangeKind::Diverged, one(), vec![])).starts_with(
                "History diverged (force-push or rebase): 1 commit to ship, 0 commits removed"
            )
        );
        assert!(headline(&notes(RangeKind::Forward, vec![], vec![])).contains("--first-parent"));
        let mut from_github = notes(RangeKind::Forward, one(), vec![]);
        from_github.source = NotesSource::Github;
        assert!(headline(&from_github).ends_with("[from GitHub's compare API]"));
    }

    #[test]
    fn text_lists_commits_and_labels_both_sides() {
        let n = notes(
            RangeKind::Diverged,
            vec![entry(1, "New (#3)")],
            vec![entry(2, "Dropped")],
        );
        let text = render(&Recorded::Notes(n), NotesFormat::Text);
        assert_eq!(
            text,
            "History diverged (force-push or rebase): 1 commit to ship, 1 commit removed (live aaaaaaa, shipping bbbbbbb)\n\
Shipping:\n  1111111 New (#3) (Ada)\nRemoved:\n  2222222 Dropped (Ada)\n\
Compare: https://github.com/o/r/compare/a...b\n"
        );
    }

    #[test]
    fn markdown_escapes_commit_text() {
        let mut e = entry(1, "Use *stars* and [links](x) <b> `code` | pipes (#7)");
        e.url = Some("https://github.com/o/r/commit/1".into());
        let md = render(
            &Recorded::Notes(notes(RangeKind::Forward, vec![e], vec![])),
            NotesFormat::Markdown,
        );
        assert!(md.starts_with("**Shipping 1 commit (aaaaaaa..bbbbbbb)** ([compare](https://github.com/o/r/compare/a...b))\n\n"), "{md}");
        assert!(md.contains(
            "- [`1111111`](https://github.com/o/r/commit/1) Use \\*stars\\* and \\[links\\](x) \\<b\\> \\`code\\` \\| pipes (#7) — Ada\n"
        ), "{md}");
    }

    #[test]
    fn unavailable_notes_say_why_in_every_format() {
        let r = Recorded::Unavailable {
            unavailable: "no history".into(),
        };
        assert_eq!(
            render(&r, NotesFormat::Text),
            "Release notes unavailable: no history\n"
        );
        assert_eq!(
            render(&r, NotesFormat::Markdown),
            "_Release notes unavailable: no history_\n"
        );
        let json: serde_json::Value = serde_json::from_str(&render(&r, NotesFormat::Json)).unwrap();
        assert_eq!(json, serde_json::json!({"unavailable": "no history"}));
    }

    #[test]
    fn json_shape_is_stable() {
        let n = notes(RangeKind::Forward, vec![entry(1, "One (#5)")], vec![]);
        let json: serde_json::Value =
            serde_json::from_str(&render(&Recorded::Notes(n.clone()), NotesFormat::Json)).unwrap();
        assert_eq!(json["version"], 1);
        assert_eq!(json["range"], "forward");
        assert_eq!(json["source"], "git");
        assert_eq!(json["commits"][0]["pr"], 5);
        assert!(json.get("removed").is_none(), "empty lists are left out");
        let back: Recorded = serde_json::from_value(json).unwrap();
        assert_eq!(back, Recorded::Notes(n));
    }

    #[test]
    fn cases_fill_the_right_lists() {
        assert_eq!(sides(RangeKind::Forward), (true, false));
        assert_eq!(sides(RangeKind::Backward), (false, true));
        assert_eq!(sides(RangeKind::Diverged), (true, true));
        assert_eq!(sides(RangeKind::Same), (false, false));
        assert_eq!(
            range_kind_of_status(CompareStatus::Behind),
            Some(RangeKind::Backward)
        );
        assert_eq!(range_kind_of_status(CompareStatus::Unknown), None);
        assert_eq!(range_kind(&Relation::Diverged), Some(RangeKind::Diverged));
    }

    fn gh_commit(sha: &str, parents: &[&str]) -> github::Commit {
        serde_json::from_value(serde_json::json!({
            "sha": sha,
            "commit": {"author": {"name": "Ada", "email": "a@x", "date": "2026-01-01T00:00:00Z"},
                       "message": format!("{sha} subject\n\nbody")},
            "html_url": format!("https://github.com/o/r/commit/{sha}"),
            "parents": parents.iter().map(|p| serde_json::json!({"sha": p})).collect::<Vec<_>>(),
        }))
        .unwrap()
    }

    #[test]
    fn github_commits_skip_merges_or_follow_first_parents() {
        // base ← a ← m(a, c) ← d; base ← b ← c
        let list = || {
            vec![
                gh_commit("a", &["base"]),
                gh_commit("b", &["base"]),
                gh_commit("c", &["b"]),
                gh_commit("m", &["a", "c"]),
                gh_commit("d", &["m"]),
            ]
        };
        let shas = |es: Vec<Entry>| es.into_iter().map(|e| e.sha).collect::<Vec<_>>();
        assert_eq!(
            shas(github_entries(list(), "d", false, None)),
            ["a", "b", "c", "d"]
        );
        assert_eq!(
            shas(github_entries(list(), "d", true, None)),
            ["a", "m", "d"]
        );
        let e = &github_entries(list(), "d", false, None)[0];
        assert_eq!((e.subject.as_str(), e.body.as_str()), ("a subject", "body"));
        assert_eq!(e.url.as_deref(), Some("https://github.com/o/r/commit/a"));
    }
}
