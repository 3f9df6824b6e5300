//! The commit history behind the deploy guard and the release notes: how two commits relate,
//! and the commits between them in exactly the order `git log --reverse --no-merges from..to`
//! prints them.
//!
//! The walks are written here rather than taken from gix's `rev_walk` for two reasons. Git's
//! order for a range is the order of its `limit_list` walk (commit date first, then insertion
//! order, with a five-commit "slop" before it stops), which decides what is listed when commit
//! dates are out of order; reproducing it is the only way to print what `git log` prints. And
//! in a shallow clone git treats the commits of the shallow boundary as having no parents,
//! where gix 0.90's walk keeps their real parents and skips some commits reachable through
//! another branch. Both walks run over a [`Dag`], so they are unit-tested on small in-memory
//! graphs; [`GitDag`] reads a repository through gix.
//!
//! One walk, [`relate`], answers how two commits relate for the deploy guard and the release
//! notes alike, as a [`Relation`]. A shallow clone may lack the history the answer needs;
//! [`super::fetch::complete`] deepens it step by step and asks again.

use std::collections::{BinaryHeap, HashSet};
use std::hash::Hash;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use anyhow::{anyhow, bail, Context, Result};
use gix::objs::Find;
use gix::ObjectId;

use super::fetch::{complete, Failure, Look, Unanswered};
use super::repo::short;
use super::Repository;

/// A commit as the walks see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node<Id> {
    /// Committer time, unix seconds: what git orders by.
    pub time: i64,
    /// The parents, in order; empty for a root commit and for a commit of a shallow clone's
    /// boundary.
    pub parents: Vec<Id>,
}

/// A commit graph the walks can read.
pub trait Dag {
    /// How a commit is named.
    type Id: Copy + Eq + Hash + std::fmt::Debug;
    /// The commit `id`; an error when it cannot be read.
    fn node(&mut self, id: Self::Id) -> Result<Rc<Node<Self::Id>>>;
    /// Whether `id` is a commit at the shallow boundary, whose real parents are missing.
    fn is_shallow(&self, id: Self::Id) -> bool;
}

/// What [`relate`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Related {
    /// How `to` relates to `from` (`Newer`: `to` descends from `from`; `Older`: `to` is an
    /// ancestor of `from`; `Diverged`: neither), as far as the history read tells.
    pub relation: Relation,
    /// A commit of the shallow boundary lies inside the range: its missing parents could
    /// change the answer and the list, so neither is to be trusted yet.
    pub incomplete: bool,
}

const LEFT: u8 = 1;
const RIGHT: u8 = 2;
const STALE: u8 = 4;

/// Decides how `to` relates to `from` (distinct commits) by painting the history down from
/// both, the way `git merge-base` does: every commit gets the sides it is reachable from, and
/// the walk stops once only commits reachable from both remain. Unlike a date-bounded walk it
/// is exact whatever the commit dates say.
pub fn relate<D: Dag>(dag: &mut D, from: D::Id, to: D::Id) -> Result<Related> {
    let mut flags: gix::hashtable::hash_map::HashMap<D::Id, u8> = Default::default();
    let mut queue = BinaryHeap::new();
    let mut seq = 0u64;
    let mut shallow_seen = Vec::new();
    for (id, side) in [(from, LEFT), (to, RIGHT)] {
        flags.insert(id, side);
        queue.push(Queued::new(dag.node(id)?.time, seq, id));
        seq += 1;
    }
    while queue
        .iter()
        .any(|q| flags.get(&q.id).is_some_and(|f| f & STALE == 0))
    {
        let Some(Queued { id, .. }) = queue.pop() else {
            break;
        };
        let own = flags.get(&id).copied().unwrap_or(0);
        let mut pass = own & (LEFT | RIGHT);
        if pass == LEFT | RIGHT {
            pass |= STALE;
        }
        if dag.is_shallow(id) {
            shallow_seen.push(id);
        }
        let node = dag.node(id)?;
        for &parent in &node.parents {
            let theirs = flags.entry(parent).or_insert(0);
            if *theirs & pass == pass {
                continue;
            }
            *theirs |= pass;
            queue.push(Queued::new(dag.node(parent)?.time, seq, parent));
            seq += 1;
        }
    }
    let side = |id: D::Id| flags.get(&id).copied().unwrap_or(0);
    let relation = if side(from) & RIGHT != 0 {
        Relation::Newer
    } else if side(to) & LEFT != 0 {
        Relation::Older
    } else {
        Relation::Diverged
    };
    let incomplete = shallow_seen
        .iter()
        .any(|&id| side(id) & (LEFT | RIGHT) != LEFT | RIGHT);
    Ok(Related {
        relation,
        incomplete,
    })
}

/// An entry of a walk's queue: git pops the newest commit first and, among equal dates, the
/// one queued first.
struct Queued<Id> {
    time: i64,
    seq: u64,
    id: Id,
}

impl<Id> Queued<Id> {
    fn new(time: i64, seq: u64, id: Id) -> Queued<Id> {
        Queued { time, seq, id }
    }
}

impl<Id> PartialEq for Queued<Id> {
    fn eq(&self, other: &Self) -> bool {
        self.time == other.time && self.seq == other.seq
    }
}

impl<Id> Eq for Queued<Id> {}

impl<Id> PartialOrd for Queued<Id> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl<Id> Ord for Queued<Id> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.time
            .cmp(&other.time)
            .then_with(|| other.seq.cmp(&self.seq))
    }
}

const UNINTERESTING: u8 = 1;
const SEEN: u8 = 2;
const ADDED: u8 = 4;
const PARSED: u8 = 8;
/// Git's `SLOP`: how many uninteresting commits in a row end the walk once nothing
/// interesting is left to pop.
const SLOP: u32 = 5;

/// The commits of `hide..show`, in the order `git log --reverse` prints them: git's
/// `limit_list` walk, reversed. With `first_parent` only the first parent of each listed
/// commit is followed (`--first-parent`) and merges are kept; otherwise merges (commits with
/// more than one parent, as the clone knows them) are dropped (`--no-merges`).
///
/// Git's quirks are kept on purpose, so the list equals `git log` on the same clone: the
/// walk stops after five uninteresting commits in a row once nothing interesting is queued
/// (with commit dates out of order, git can then list a commit that `hide` reaches), and a
/// commit found uninteresting only after it was queued is dropped at the end.
pub fn log<D: Dag>(
    dag: &mut D,
    hide: D::Id,
    show: D::Id,
    first_parent: bool,
) -> Result<Vec<D::Id>> {
    let mut flags: gix::hashtable::hash_map::HashMap<D::Id, u8> = Default::default();
    let mut queue = BinaryHeap::new();
    let mut seq = 0u64;
    for (id, initial) in [(hide, UNINTERESTING), (show, 0)] {
        let flag = flags.entry(id).or_insert(0);
        if *flag & SEEN != 0 {
            *flag |= initial;
            continue;
        }
        *flag |= initial | SEEN | PARSED;
        queue.push(Queued::new(dag.node(id)?.time, seq, id));
        seq += 1;
        if initial == UNINTERESTING {
            // Git marks the parents of a `^rev` before the walk starts.
            mark_parents_uninteresting(dag, &mut flags, id)?;
        }
    }
    let mut listed = Vec::new();
    let mut date = i64::MAX;
    let mut slop = SLOP;
    while let Some(Queued { id, .. }) = queue.pop() {
        let node = dag.node(id)?;
        let flag = flags.entry(id).or_insert(0);
        let uninteresting = *flag & UNINTERESTING != 0;
        if *flag & ADDED == 0 {
            *flag |= ADDED;
            for (i, &parent) in node.parents.iter().enumerate() {
                if !uninteresting && first_parent && i > 0 {
                    break;
                }
                let parent_node = dag.node(parent)?;
                let pf = flags.entry(parent).or_insert(0);
                *pf |= PARSED;
                if uninteresting {
                    *pf |= UNINTERESTING;
                    mark_parents_uninteresting(dag, &mut flags, parent)?;
                }
                let pf = flags.entry(parent).or_insert(0);
                if *pf & SEEN == 0 {
                    *pf |= SEEN;
                    queue.push(Queued::new(parent_node.time, seq, parent));
                    seq += 1;
                }
            }
        }
        if uninteresting {
            mark_parents_uninteresting(dag, &mut flags, id)?;
            slop = still_interesting(&queue, &flags, date, slop);
            if slop == 0 {
                break;
            }
            continue;
        }
        date = node.time;
        listed.push(id);
    }
    let mut shown = Vec::with_capacity(listed.len());
    for id in listed.into_iter().rev() {
        if flags.get(&id).is_some_and(|f| f & UNINTERESTING != 0) {
            continue;
        }
        if !first_parent && dag.node(id)?.parents.len() > 1 {
            continue;
        }
        shown.push(id);
    }
    Ok(shown)
}

/// Git's `mark_parents_uninteresting`: marks the ancestors of `id` uninteresting, as far as
/// the walk has parsed them (a commit not parsed yet has no parents to follow).
fn mark_parents_uninteresting<D: Dag>(
    dag: &mut D,
    flags: &mut gix::hashtable::hash_map::HashMap<D::Id, u8>,
    id: D::Id,
) -> Result<()> {
    if flags.get(&id).is_none_or(|f| f & PARSED == 0) {
        return Ok(());
    }
    let mut stack: Vec<D::Id> = dag.node(id)?.parents.clone();
    while let Some(commit) = stack.pop() {
        let flag = flags.entry(commit).or_insert(0);
        if *flag & UNINTERESTING != 0 {
            continue;
        }
        *flag |= UNINTERESTING;
        if *flag & PARSED != 0 {
            stack.extend(dag.node(commit)?.parents.iter().copied());
        }
    }
    Ok(())
}

/// Git's `still_interesting`: whether the walk must go on after an uninteresting commit.
fn still_interesting<Id: Copy + Eq + Hash>(
    queue: &BinaryHeap<Queued<Id>>,
    flags: &gix::hashtable::hash_map::HashMap<Id, u8>,
    date: i64,
    slop: u32,
) -> u32 {
    let Some(head) = queue.peek() else {
        return 0;
    };
    if date <= head.time {
        return SLOP;
    }
    if queue
        .iter()
        .any(|q| flags.get(&q.id).is_none_or(|f| f & UNINTERESTING == 0))
    {
        return SLOP;
    }
    slop - 1
}

/// A repository opened for reading history fast.
pub struct GitDag {
    repo: gix::Repository,
    dir: PathBuf,
    buf: Vec<u8>,
    nodes: gix::hashtable::HashMap<ObjectId, Rc<Node<ObjectId>>>,
    shallow: HashSet<ObjectId>,
}

impl GitDag {
    /// Opens the repository that contains `dir`.
    pub fn open(dir: &Path) -> Result<GitDag> {
        let mut repo = gix::discover(dir).map_err(|err| {
            anyhow!(
                "{} is not inside a git repository ({err}); run shipline in the checkout of the \
                 app's repository, or point --dir at it",
                dir.display()
            )
        })?;
        repo.object_cache_size_if_unset(16 * 1024 * 1024);
        // Without this, every lookup of an object that is not found (and every id shortening)
        // re-reads the pack directory: most of the time of a long walk.
        repo.objects.refresh_never();
        let shallow = repo
            .shallow_commits()
            .context("could not read the shallow boundary of the clone (.git/shallow)")?
            .map(|ids| ids.iter().copied().collect())
            .unwrap_or_default();
        Ok(GitDag {
            repo,
            dir: dir.to_path_buf(),
            buf: Vec::new(),
            nodes: Default::default(),
            shallow,
        })
    }

    /// The directory it was opened from, where `git fetch` runs to complete it.
    pub(super) fn dir(&self) -> &Path {
        &self.dir
    }

    /// The underlying repository.
    pub fn repo(&self) -> &gix::Repository {
        &self.repo
    }

    /// Whether the clone is shallow.
    pub fn shallow(&self) -> bool {
        !self.shallow.is_empty()
    }

    /// Whether the clone has the commit.
    pub fn has_commit(&self, id: ObjectId) -> bool {
        self.repo.has_object(id)
    }

    /// Resolves a revision to a commit id, peeling tags.
    pub fn resolve(&self, rev: &str) -> Result<ObjectId> {
        let object = super::revision::resolve(&self.repo, rev).map_err(|err| {
            anyhow!(
                "the revision {rev:?} does not resolve to a commit in the repository at {} \
                 ({err:#})",
                self.dir.display()
            )
        })?;
        let kind = object.kind;
        let commit = object
            .peel_to_commit()
            .map_err(|_| anyhow!("the revision {rev:?} names a {kind}, not a commit"))?;
        Ok(commit.id)
    }

    /// The raw bytes of commit `id`, for the notes' author and message.
    pub fn raw_commit(&mut self, id: ObjectId) -> Result<Vec<u8>> {
        self.commit_bytes(id).map(<[u8]>::to_vec)
    }

    /// Commit `id` as stored, read into the walk's buffer: the one lookup the walk and the
    /// notes share, with the errors a user can act on.
    fn commit_bytes(&mut self, id: ObjectId) -> Result<&[u8]> {
        let data = self
            .repo
            .objects
            .try_find(&id, &mut self.buf)
            .with_context(|| format!("could not read commit {id}"))?
            .ok_or_else(|| anyhow!("commit {id} is missing from the clone"))?;
        if data.kind != gix::object::Kind::Commit {
            bail!("object {id} is a {}, not a commit", data.kind);
        }
        Ok(data.data)
    }
}

impl Dag for GitDag {
    type Id = ObjectId;

    fn node(&mut self, id: ObjectId) -> Result<Rc<Node<ObjectId>>> {
        if let Some(node) = self.nodes.get(&id) {
            return Ok(node.clone());
        }
        let (time, mut parents) = parse_header(self.commit_bytes(id)?)
            .with_context(|| format!("commit {id} is malformed"))?;
        if self.shallow.contains(&id) {
            parents.clear();
        }
        let node = Rc::new(Node { time, parents });
        self.nodes.insert(id, node.clone());
        Ok(node)
    }

    fn is_shallow(&self, id: ObjectId) -> bool {
        self.shallow.contains(&id)
    }
}

/// The committer time and the parents of a raw commit.
///
/// Reading stops at the committer line: what follows it (encoding, signatures, the message)
/// can be most of a commit, and git's own parser finds the parents and the committer before it.
fn parse_header(data: &[u8]) -> Result<(i64, Vec<ObjectId>)> {
    let mut parents = Vec::with_capacity(1);
    let mut rest = data;
    while !rest.is_empty() {
        let end = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
        let line = &rest[..end];
        rest = rest.get(end + 1..).unwrap_or_default();
        if line.is_empty() {
            break;
        }
        if let Some(hex) = line.strip_prefix(b"parent ") {
            parents.push(ObjectId::from_hex(hex).map_err(|e| anyhow!("bad parent id: {e}"))?);
        } else if let Some(ident) = line.strip_prefix(b"committer ") {
            return Ok((ident_time(ident), parents));
        }
    }
    Ok((0, parents))
}

/// The time of an identity line (`Name <email> 1700000000 +0000`), as git reads it: the
/// number after the last `>`, 0 when there is none (or when it does not fit).
fn ident_time(ident: &[u8]) -> i64 {
    let Some(end) = ident.iter().rposition(|&b| b == b'>') else {
        return 0;
    };
    let mut time: i64 = 0;
    let mut digits = ident[end + 1..]
        .iter()
        .skip_while(|b| **b == b' ')
        .take_while(|b| b.is_ascii_digit())
        .peekable();
    if digits.peek().is_none() {
        return 0;
    }
    for &digit in digits {
        match time
            .checked_mul(10)
            .and_then(|t| t.checked_add(i64::from(digit - b'0')))
        {
            Some(next) => time = next,
            None => return 0,
        }
    }
    time
}

/// How one commit relates to another: the one answer the deploy guard (deploying against
/// live) and the release notes (`to` against `from`) both read.
///
/// The guard uses it to refuse shipping older code over newer code; the notes derive from it
/// which commits ship and which stop being live.
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

impl Repository {
    /// Decides how the commit being deployed relates to the live one.
    ///
    /// CI clones are often shallow (depth 1 by default on GitHub Actions), and a stale build's
    /// clone may not even contain the newer live commit. When the answer cannot be read from the
    /// local history, [`complete`] fetches the missing history from the clone's own remote and
    /// the question is asked again. Whatever still cannot be decided is `Relation::Unknown`
    /// with the reason, never a guess: the guard it feeds must fail closed.
    ///
    /// In a shallow clone an ancestry found in local history is trusted, but "neither is an
    /// ancestor" is not when the walk met the shallow boundary: the missing commits could
    /// connect the two. A full clone (`fetch-depth: 0` on GitHub Actions) avoids fetching.
    /// `deploying` and `live` may be any revision; `live` is normally the full id Heroku
    /// recorded for the release, which can be fetched even when no branch of this clone
    /// contains it.
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
        let mut dag = GitDag::open(&self.dir)?;
        let answer = complete(
            &mut dag,
            [deploying_id, live_id],
            |dag| guard_look(dag, deploying_id, live_id),
            &mut |_, _| {},
        )?;
        Ok(match answer {
            Ok(relation) => relation,
            Err(Unanswered { why, failure }) => Relation::Unknown(match failure {
                Failure::NoRemote => format!(
                    "{why}, and the clone has no `origin` (or single) remote to fetch it from"
                ),
                Failure::Fetch(failed) => format!("{why}, and {failed}"),
                Failure::Exhausted(remote) => format!("{why}, even after fetching from {remote}"),
            }),
        })
    }
}

/// What the local history tells the deploy guard. A found ancestry is trusted whatever the
/// shallow boundary; "diverged" only when the walk did not meet it.
fn guard_look(dag: &mut GitDag, deploying: ObjectId, live: ObjectId) -> Result<Look<Relation>> {
    if !dag.has_commit(live) {
        return Ok(Look::Missing(format!(
            "live commit {} is not in this clone's history",
            short(live)
        )));
    }
    let related = relate(dag, live, deploying).with_context(|| {
        format!(
            "could not compare commits {} and {} in the repository",
            short(deploying),
            short(live)
        )
    })?;
    Ok(match related.relation {
        Relation::Diverged if related.incomplete => Look::Missing(format!(
            "this clone is shallow and its history does not show how {} (deploying) relates to \
             live commit {}",
            short(deploying),
            short(live)
        )),
        relation => Look::Answered(relation),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// An in-memory graph: id → (time, parents).
    struct Mem {
        nodes: HashMap<u32, Rc<Node<u32>>>,
        shallow: HashSet<u32>,
    }

    impl Mem {
        fn new(edges: &[(u32, i64, &[u32])]) -> Mem {
            Mem {
                nodes: edges
                    .iter()
                    .map(|(id, time, parents)| {
                        (
                            *id,
                            Rc::new(Node {
                                time: *time,
                                parents: parents.to_vec(),
                            }),
                        )
                    })
                    .collect(),
                shallow: HashSet::new(),
            }
        }
    }

    impl Dag for Mem {
        type Id = u32;
        fn node(&mut self, id: u32) -> Result<Rc<Node<u32>>> {
            self.nodes
                .get(&id)
                .cloned()
                .ok_or_else(|| anyhow!("no commit {id}"))
        }
        fn is_shallow(&self, id: u32) -> bool {
            self.shallow.contains(&id)
        }
    }

    /// 1 ← 2 ← 3 ← 4 (merge of 3 and 6) ← 7; 1 ← 5 ← 6.
    fn merged() -> Mem {
        Mem::new(&[
            (1, 10, &[]),
            (2, 20, &[1]),
            (3, 30, &[2]),
            (5, 25, &[1]),
            (6, 35, &[5]),
            (4, 40, &[3, 6]),
            (7, 50, &[4]),
        ])
    }

    #[test]
    fn relate_tells_the_four_cases_apart() {
        let mut g = merged();
        let rel = |g: &mut Mem, a, b| relate(g, a, b).unwrap().relation;
        assert_eq!(rel(&mut g, 2, 7), Relation::Newer);
        assert_eq!(rel(&mut g, 6, 7), Relation::Newer);
        assert_eq!(rel(&mut g, 7, 2), Relation::Older);
        assert_eq!(rel(&mut g, 3, 6), Relation::Diverged);
    }

    #[test]
    fn relate_is_exact_when_dates_lie() {
        // 3's date is older than its ancestors': a date-bounded walk would stop too early.
        let mut g = Mem::new(&[(1, 100, &[]), (2, 200, &[1]), (3, 5, &[2]), (4, 300, &[3])]);
        assert_eq!(relate(&mut g, 1, 4).unwrap().relation, Relation::Newer);
        assert_eq!(relate(&mut g, 4, 1).unwrap().relation, Relation::Older);
    }

    #[test]
    fn relate_flags_a_shallow_boundary_inside_the_range() {
        let mut g = Mem::new(&[(2, 20, &[]), (3, 30, &[2]), (9, 90, &[])]);
        g.shallow.insert(2);
        assert!(relate(&mut g, 9, 3).unwrap().incomplete);
        // A boundary below both sides is history they share: no doubt.
        let mut g = Mem::new(&[(2, 20, &[]), (3, 30, &[2]), (4, 40, &[3])]);
        g.shallow.insert(2);
        let r = relate(&mut g, 3, 4).unwrap();
        assert_eq!((r.relation, r.incomplete), (Relation::Newer, false));
    }

    #[test]
    fn log_skips_merges_or_follows_first_parents() {
        let mut g = merged();
        assert_eq!(log(&mut g, 2, 7, false).unwrap(), vec![5, 3, 6, 7]);
        assert_eq!(log(&mut g, 2, 7, true).unwrap(), vec![3, 4, 7]);
        assert_eq!(log(&mut g, 7, 2, false).unwrap(), Vec::<u32>::new());
    }

    #[test]
    fn log_orders_by_date_then_queue_order() {
        // Two children of 1 with the same date: the one queued first (first parent) wins.
        let mut g = Mem::new(&[(1, 10, &[]), (2, 20, &[1]), (3, 20, &[1]), (4, 30, &[2, 3])]);
        assert_eq!(log(&mut g, 1, 4, true).unwrap(), vec![2, 4]);
        assert_eq!(log(&mut g, 1, 4, false).unwrap(), vec![3, 2]);
    }

    #[test]
    fn parses_commit_headers() {
        let raw = b"tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n\
parent 1111111111111111111111111111111111111111\n\
parent 2222222222222222222222222222222222222222\n\
author A <a@x> 1700000000 +0100\n\
committer C <c@x> 1700000099 -0500\n\
gpgsig -----BEGIN PGP SIGNATURE-----\n \n -----END PGP SIGNATURE-----\n\
\n\
parent 3333333333333333333333333333333333333333\n";
        let (time, parents) = parse_header(raw).unwrap();
        assert_eq!(time, 1_700_000_099);
        assert_eq!(parents.len(), 2);
        assert_eq!(ident_time(b"No Date <x>"), 0);
        assert_eq!(ident_time(b"Far <x> 99999999999999999999 +0000"), 0);
        assert_eq!(ident_time(b"Odd <x>   42abc"), 42);
    }

    use crate::git::open;
    use crate::git::testing::*;

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
