//! Revisions as a CI configuration names them, read by shipline itself.
//!
//! A revision is a base, then any number of steps:
//! - the base: a full commit id; a branch, tag or other ref, short or full, found as git finds
//!   it (`NAME`, `refs/NAME`, `refs/tags/NAME`, `refs/heads/NAME`, `refs/remotes/NAME`,
//!   `refs/remotes/NAME/HEAD`); `HEAD` or `@`; or an abbreviated commit id of 4 or more digits;
//! - the steps: `~N` (the Nth first-parent ancestor, `~` alone is `~1`), `^N` (the Nth parent,
//!   `^` alone is `^1`, `^0` the commit itself), `^{}` (tags peeled), and `^{commit}`,
//!   `^{tree}`, `^{blob}`, `^{tag}`, `^{object}` (peeled to that kind).
//!
//! Git's other forms — reflogs and dates (`main@{yesterday}`), upstreams (`@{u}`), message
//! searches (`:/fix`, `^{/fix}`), paths (`HEAD:src`), ranges (`a..b`) — are refused with a line
//! saying what to pass instead: a deploy ships one commit, which a CI job names by id or ref.
//! gix's full revision parser would accept them, and would bring into the binary the date
//! parser, time zones, reflogs, remotes and the index that only they need (about 400 KB).

use anyhow::{anyhow, bail, Context, Result};
use gix::object::Kind;
use gix::ObjectId;

/// A revision, parsed: where to start and how to move from there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revision<'a> {
    /// The name or (possibly abbreviated) id the revision starts from; `@` is given as `HEAD`.
    pub base: &'a str,
    /// The moves from the base, in order.
    pub steps: Vec<Step>,
}

/// One move from a revision to another object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// `~N`: the commit N first parents back.
    Ancestor(u32),
    /// `^N`: the commit's Nth parent; `^0` is the commit itself.
    Parent(u32),
    /// `^{}`: annotated tags peeled to what they tag.
    PeelTags,
    /// `^{KIND}`: peeled until an object of that kind; `None` is `^{object}`, any object.
    PeelTo(Option<Kind>),
}

/// Reads `spec`, or says which of git's forms it uses that shipline does not take.
pub fn parse(spec: &str) -> Result<Revision<'_>, String> {
    let refuse = |form: &str| {
        Err(format!(
            "it is {form}, which shipline does not read: pass a commit id, a branch or a tag \
             (optionally followed by ~N or ^N), e.g. HEAD, main, v1.2.0, HEAD~1 or a commit id"
        ))
    };
    if spec.is_empty() {
        return Err("the revision is empty: pass a commit id, a branch or a tag".into());
    }
    if spec.contains("..") {
        return refuse("a range");
    }
    if spec.contains("@{") {
        return refuse("a reflog, date or upstream form (@{…})");
    }
    if spec.contains("^{/") || spec.starts_with(":/") {
        return refuse("a commit message search");
    }
    if spec.contains(':') {
        return refuse("a path in a tree (REV:PATH)");
    }
    if spec.ends_with("^!") || spec.ends_with("^@") || spec.contains("^-") {
        return refuse("a range shorthand");
    }
    let end = spec.find(['~', '^']).unwrap_or(spec.len());
    let base = match &spec[..end] {
        "" => return Err("it has no commit or name before its ~ or ^".into()),
        "@" => "HEAD",
        base => base,
    };
    let mut steps = Vec::new();
    let mut rest = &spec[end..];
    while let Some(op) = rest.chars().next() {
        rest = &rest[1..];
        if op == '^' && rest.starts_with('{') {
            let close = rest
                .find('}')
                .ok_or_else(|| "it opens ^{ without closing it".to_string())?;
            steps.push(match &rest[1..close] {
                "" => Step::PeelTags,
                "object" => Step::PeelTo(None),
                "commit" => Step::PeelTo(Some(Kind::Commit)),
                "tree" => Step::PeelTo(Some(Kind::Tree)),
                "blob" => Step::PeelTo(Some(Kind::Blob)),
                "tag" => Step::PeelTo(Some(Kind::Tag)),
                other => {
                    return Err(format!(
                        "^{{{other}}} is not an object kind (commit, tree, blob, tag or object)"
                    ))
                }
            });
            rest = &rest[close + 1..];
            continue;
        }
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let n = match &rest[..digits] {
            "" => 1,
            n => n
                .parse()
                .map_err(|_| format!("{n} counts past what any history holds"))?,
        };
        rest = &rest[digits..];
        steps.push(match op {
            '~' => Step::Ancestor(n),
            '^' => Step::Parent(n),
            other => return Err(format!("it has {other:?} where ~ or ^ was expected")),
        });
    }
    Ok(Revision { base, steps })
}

/// The object `spec` names in `repo`: its base looked up, then its steps taken. A missing
/// object (a shallow or single-branch clone) is named, with the fetch that brings it.
pub fn resolve<'repo>(repo: &'repo gix::Repository, spec: &str) -> Result<gix::Object<'repo>> {
    let revision = parse(spec).map_err(|why| anyhow!(why))?;
    let mut object = find(repo, base(repo, revision.base)?)?;
    for step in revision.steps {
        object = match step {
            Step::Ancestor(n) => {
                let mut commit = object.peel_to_commit()?;
                for back in 0..n {
                    let Some(parent) = commit.parent_ids().next() else {
                        bail!(
                            "the history ends at commit {}, {back} commits back, before ~{n}: \
                             it has no parent (or this clone is shallow: fetch more history)",
                            commit.id
                        );
                    };
                    commit = find(repo, parent.detach())?.into_commit();
                }
                commit.into()
            }
            Step::Parent(0) => object.peel_to_commit()?.into(),
            Step::Parent(n) => {
                let commit = object.peel_to_commit()?;
                let parents = commit.parent_ids().count();
                let Some(parent) = commit.parent_ids().nth(n as usize - 1) else {
                    bail!(
                        "commit {} has {parents} parent(s), so ^{n} names none",
                        commit.id
                    );
                };
                find(repo, parent.detach())?
            }
            Step::PeelTags => object.peel_tags_to_end()?,
            Step::PeelTo(None) => object,
            Step::PeelTo(Some(kind)) => {
                let from = object.kind;
                object
                    .peel_to_kind(kind)
                    .map_err(|_| anyhow!("a {from} does not peel to a {kind}"))?
            }
        };
    }
    Ok(object)
}

/// The id a revision's base names: a full id as it is, else a ref, else an abbreviated id.
/// That is git's order: `cafe` is the branch `cafe` when there is one.
fn base(repo: &gix::Repository, base: &str) -> Result<ObjectId> {
    let hex = base.bytes().all(|b| b.is_ascii_hexdigit());
    if hex && base.len() == repo.object_hash().len_in_hex() {
        return ObjectId::from_hex(base.as_bytes()).map_err(|e| anyhow!("{base:?}: {e}"));
    }
    // A name git could not store as a ref (a space, `*`) is no ref, not an error.
    if let Ok(Some(mut reference)) = repo.try_find_reference(base) {
        let name = reference.name().as_bstr().to_string();
        return Ok(reference
            .follow_to_object()
            .with_context(|| format!("could not follow the ref {name}"))?
            .detach());
    }
    if hex && base.len() >= 4 {
        return abbreviated(repo, base);
    }
    bail!("no branch, tag or other ref is named {base:?}, and it is not a commit id")
}

/// The one object an abbreviated id names; among several, the one commit, as git prefers
/// commits where one is expected.
fn abbreviated(repo: &gix::Repository, hex: &str) -> Result<ObjectId> {
    let prefix = gix::hash::Prefix::from_hex(hex).map_err(|e| anyhow!("{hex:?}: {e}"))?;
    let mut candidates = std::collections::HashSet::new();
    repo.objects
        .lookup_prefix(prefix, Some(&mut candidates))
        .with_context(|| format!("could not look up the objects whose id begins with {hex}"))?;
    let mut ids: Vec<ObjectId> = candidates.into_iter().collect();
    let is_commit = |id: &ObjectId| {
        repo.find_header(*id)
            .is_ok_and(|h| h.kind() == Kind::Commit)
    };
    if ids.len() > 1 && ids.iter().any(is_commit) {
        ids.retain(is_commit);
    }
    match ids.as_slice() {
        [id] => Ok(*id),
        [] => bail!(
            "no object of this clone has an id beginning with {hex}; it may not be fetched yet \
             (a shallow or single-branch clone), or is not an id"
        ),
        several => bail!(
            "{hex} is ambiguous: {} objects have ids beginning with it; give more digits",
            several.len()
        ),
    }
}

/// Object `id`, or why this clone does not have it.
fn find(repo: &gix::Repository, id: ObjectId) -> Result<gix::Object<'_>> {
    repo.find_object(id).map_err(|_| {
        anyhow!(
            "commit {id} is not in this clone: a shallow or single-branch CI clone may lack it \
             (fetch it, or clone with full history: fetch-depth: 0)"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::git::testing::{commit_all, git, git_str, init, TempDir};

    fn steps(spec: &str) -> Vec<Step> {
        parse(spec).unwrap().steps
    }

    #[test]
    fn reads_bases_and_steps() {
        assert_eq!(
            parse("main").unwrap(),
            Revision {
                base: "main",
                steps: vec![]
            }
        );
        assert_eq!(parse("@").unwrap().base, "HEAD");
        assert_eq!(parse("@~2").unwrap().base, "HEAD");
        assert_eq!(parse("origin/main^2").unwrap().base, "origin/main");
        assert_eq!(steps("HEAD~"), [Step::Ancestor(1)]);
        assert_eq!(steps("HEAD~3"), [Step::Ancestor(3)]);
        assert_eq!(steps("HEAD^"), [Step::Parent(1)]);
        assert_eq!(steps("HEAD^0"), [Step::Parent(0)]);
        assert_eq!(
            steps("v1^{}~2^2^{commit}"),
            [
                Step::PeelTags,
                Step::Ancestor(2),
                Step::Parent(2),
                Step::PeelTo(Some(Kind::Commit))
            ]
        );
        assert_eq!(steps("HEAD^^"), [Step::Parent(1), Step::Parent(1)]);
        assert_eq!(steps("x^{object}"), [Step::PeelTo(None)]);
    }

    #[test]
    fn refuses_the_forms_a_deploy_does_not_name() {
        for (spec, says) in [
            ("main@{yesterday}", "reflog, date or upstream"),
            ("@{u}", "reflog, date or upstream"),
            ("HEAD@{2}", "reflog, date or upstream"),
            (":/fix the bug", "message search"),
            ("HEAD^{/fix}", "message search"),
            ("HEAD:src/main.rs", "path in a tree"),
            ("v1..v2", "a range"),
            ("v1...v2", "a range"),
            ("HEAD^!", "range shorthand"),
            ("HEAD^-", "range shorthand"),
        ] {
            let why = parse(spec).unwrap_err();
            assert!(why.contains(says), "{spec}: {why}");
            assert!(
                why.contains("pass a commit id, a branch or a tag"),
                "{spec}: {why}"
            );
        }
        for (spec, says) in [
            ("", "empty"),
            ("~1", "before its ~ or ^"),
            ("HEAD^{commit", "without closing"),
            ("HEAD^{branch}", "not an object kind"),
            ("HEAD~99999999999", "counts past"),
        ] {
            let why = parse(spec).unwrap_err();
            assert!(why.contains(says), "{spec:?}: {why}");
        }
    }

    /// Each revision resolves to what `git rev-parse REV^{commit}` prints.
    #[test]
    fn resolves_as_git_rev_parse_does() {
        let tmp = TempDir::new("revision");
        let dir = tmp.path();
        init(dir);
        commit_all(dir, "one");
        git(dir, &["tag", "-a", "v1", "-m", "first release"]);
        git(dir, &["checkout", "-q", "-b", "topic"]);
        commit_all(dir, "on topic");
        git(dir, &["checkout", "-q", "-"]);
        commit_all(dir, "two");
        git(
            dir,
            &["merge", "-q", "--no-ff", "-m", "merge topic", "topic"],
        );
        git(dir, &["update-ref", "refs/remotes/origin/main", "HEAD~1"]);
        let short = git_str(dir, &["rev-parse", "--short=7", "HEAD~1"]);
        let repo = gix::open(dir).unwrap();
        for spec in [
            "HEAD",
            "@",
            "HEAD~",
            "HEAD~2",
            "HEAD^2",
            "HEAD^2~1",
            "HEAD^0",
            "HEAD^^",
            "v1",
            "v1^{}",
            "v1^{commit}",
            "refs/tags/v1~0",
            "topic",
            "heads/topic",
            "origin/main",
            "remotes/origin/main^",
            short.as_str(),
        ] {
            let expected = git_str(dir, &["rev-parse", &format!("{spec}^{{commit}}")]);
            let object = resolve(&repo, spec).unwrap_or_else(|e| panic!("{spec}: {e:#}"));
            let commit = object.peel_to_commit().unwrap();
            assert_eq!(commit.id.to_string(), expected, "{spec}");
        }
        let tag = git_str(dir, &["rev-parse", "v1"]);
        assert_eq!(
            resolve(&repo, "v1").unwrap().id.to_string(),
            tag,
            "a tag object until peeled"
        );
        assert_eq!(resolve(&repo, "v1^{tag}").unwrap().id.to_string(), tag);
        let tree = git_str(dir, &["rev-parse", "HEAD^{tree}"]);
        assert_eq!(resolve(&repo, "HEAD^{tree}").unwrap().id.to_string(), tree);
    }

    /// Among objects sharing an abbreviated id, the one commit is taken, as by
    /// `git rev-parse PREFIX^{commit}`; with none or several commits the prefix is ambiguous.
    #[test]
    fn an_abbreviated_id_prefers_the_one_commit_that_has_it() {
        use std::collections::BTreeMap;
        use std::io::Write;
        let tmp = TempDir::new("revision-prefix");
        let dir = tmp.path();
        init(dir);
        let mut stream = String::new();
        for i in 0..1500 {
            stream += &format!(
                "blob\nmark :{}\ndata {}\n{i}\ncommit refs/heads/main\n\
                 committer Ada <ada@example.com> {} +0000\ndata 2\nc\nM 100644 :{} f\n",
                i + 1,
                i.to_string().len() + 1,
                1_700_000_000 + i,
                i + 1
            );
        }
        let mut import = std::process::Command::new("git")
            .args(["-C", dir.to_str().unwrap(), "fast-import", "--quiet"])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        import
            .stdin
            .take()
            .unwrap()
            .write_all(stream.as_bytes())
            .unwrap();
        assert!(import.wait().unwrap().success());
        let listing = git_str(dir, &["cat-file", "--batch-all-objects", "--batch-check"]);
        let mut by_prefix: BTreeMap<&str, Vec<(&str, &str)>> = BTreeMap::new();
        for line in listing.lines() {
            let mut fields = line.split(' ');
            let (id, kind) = (fields.next().unwrap(), fields.next().unwrap());
            by_prefix.entry(&id[..4]).or_default().push((id, kind));
        }
        let repo = gix::open(dir).unwrap();
        let commits = |objects: &[(&str, &str)]| objects.iter().filter(|o| o.1 == "commit").count();
        let (mut one_commit, mut ambiguous) = (0, 0);
        for (prefix, objects) in by_prefix.iter().filter(|(_, o)| o.len() > 1) {
            match commits(objects) {
                1 => {
                    let expected = git_str(dir, &["rev-parse", &format!("{prefix}^{{commit}}")]);
                    assert_eq!(resolve(&repo, prefix).unwrap().id.to_string(), expected);
                    one_commit += 1;
                }
                _ => {
                    let why = format!("{:#}", resolve(&repo, prefix).unwrap_err());
                    assert!(why.contains("is ambiguous"), "{prefix}: {why}");
                    ambiguous += 1;
                }
            }
        }
        assert!(
            one_commit > 0 && ambiguous > 0,
            "{one_commit} {ambiguous}: more objects needed"
        );
    }

    #[test]
    fn says_what_is_missing() {
        let tmp = TempDir::new("revision-missing");
        let dir = tmp.path();
        init(dir);
        commit_all(dir, "one");
        git(dir, &["checkout", "-q", "-b", "cafe"]);
        let repo = gix::open(dir).unwrap();
        let why = |spec: &str| format!("{:#}", resolve(&repo, spec).unwrap_err());
        assert!(
            why("HEAD~1").contains("ends at commit"),
            "{}",
            why("HEAD~1")
        );
        assert!(
            why("HEAD^2").contains("has 0 parent(s), so ^2 names none"),
            "{}",
            why("HEAD^2")
        );
        assert!(why("no-such-branch").contains("no branch, tag or other ref is named"));
        assert!(why("HEAD^{tree}^{commit}").contains("a tree does not peel to a commit"));
        let missing = "0123456789abcdef0123456789abcdef01234567";
        assert!(
            why(missing).contains("is not in this clone"),
            "{}",
            why(missing)
        );
        assert!(
            why("0123456").contains("no object of this clone"),
            "{}",
            why("0123456")
        );
        // `cafe` is hex, and a branch: git's order takes the branch.
        assert_eq!(
            resolve(&repo, "cafe").unwrap().id.to_string(),
            git_str(dir, &["rev-parse", "HEAD"])
        );
    }
}
