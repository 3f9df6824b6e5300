//! Release notes: the commits between what is live and what is shipping, and which case the
//! range is. The data here is what `deploy` records in the state file, what `notify` puts in a
//! Slack message, and what `shipline notes --format json` prints; its JSON form is stable.

use serde::{Deserialize, Serialize};

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
