//! `shipline deploy`: the commit to Heroku through the Platform API, behind guards.
//!
//! The step fetches the app's live release and the repository's view of the two commits,
//! asks [`judge`] whether to go on, then packs the commit's tree, uploads it, builds it with
//! the output streamed live, and follows the release (and its release phase) until it is live.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, Context, Result};
use serde_json::json;

use super::follow::{self, Follow, HerokuConfig, Tail};
use super::Scope;
use crate::ci;
use crate::cli::{parse_bool, DeployArgs, UsageError};
use crate::git::{self, Relation};
use crate::heroku::{self, Heroku, Release, Status};
use crate::notes;
use crate::outcome::Outcome;
use crate::state::{Change, ChangeKind, Dependency, ReleaseRef, State};
use crate::text::{self, short};
use crate::time::human;

/// The live release as the guards see it.
#[derive(Debug, Clone)]
pub struct Live {
    /// Its version.
    pub version: u64,
    /// Its description, e.g. `Rollback to v41`.
    pub description: String,
    /// The commit its slug was built from, when it has one.
    pub commit: Option<String>,
}

/// What the guards decided.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Deploy; each note is printed (e.g. a guard that `--force` overrode).
    Proceed(Vec<String>),
    /// Do not deploy, for this reason; exit 0.
    Skip(String),
    /// Do not deploy, and fail the step.
    Fail(String),
}

/// The kill switch: with `--enabled-by VAR`, a CI run deploys only when `$VAR` is `true`.
/// Outside CI (`CI` not `true`) it does not apply, so a person can always deploy by hand.
pub fn kill_switch(var: Option<&str>, ci: Option<&str>, value: Option<&str>) -> Option<String> {
    let var = var?;
    let in_ci = ci.and_then(parse_bool) == Some(true);
    if !in_ci || value.and_then(parse_bool) == Some(true) {
        return None;
    }
    let shown = match value {
        None => "is not set".to_string(),
        Some(v) => format!("is `{v}`"),
    };
    Some(format!(
        "continuous deployment is switched off: ${var} {shown} (set it to `true` to deploy from CI)"
    ))
}

/// The kill switch judged on this process's environment (`CI` and the named variable).
pub fn kill_switch_in_env(var: Option<&str>) -> Option<String> {
    let value = var.and_then(|v| std::env::var(v).ok());
    let ci = std::env::var("CI").ok();
    kill_switch(var, ci.as_deref(), value.as_deref())
}

/// The guards that need the live release, in order: rollback, already live, older commit.
/// `relation` is how the deploying commit relates to the live one (when the live release has a
/// commit that differs from it); `pending` is a newer release still in its release phase.
pub fn judge(
    live: Option<&Live>,
    deploying: &str,
    relation: Option<&Relation>,
    pending: Option<u64>,
    force: bool,
) -> Verdict {
    let mut notes = Vec::new();
    let Some(live) = live else {
        return Verdict::Proceed(vec!["the app has no live release yet".to_string()]);
    };
    if let Some(target) = heroku::rollback_target(&live.description) {
        let why = format!(
            "the live release v{} is a rollback to v{target}: continuous deployment stays paused until someone deploys with --force",
            live.version
        );
        if !force {
            return Verdict::Skip(why);
        }
        notes.push(format!("--force: deploying although {why}"));
    }
    match live.commit.as_deref() {
        Some(commit) if commit == deploying => {
            return Verdict::Skip(format!(
                "{} is already live as v{}",
                short(deploying),
                live.version
            ));
        }
        Some(commit) => match relation {
            Some(Relation::Older) => {
                let why = format!(
                    "{} is older than the live commit {} (v{}): an ancestor of it, so deploying it would put older code over newer",
                    short(deploying),
                    short(commit),
                    live.version
                );
                if !force {
                    return Verdict::Skip(why);
                }
                notes.push(format!("--force: deploying although {why}"));
            }
            Some(Relation::Diverged) => notes.push(format!(
                "the live commit {} is not an ancestor of {}: history was rewritten or another branch was deployed",
                short(commit),
                short(deploying)
            )),
            Some(Relation::Unknown(why)) => {
                let message = format!(
                    "cannot tell whether {} is older than the live commit {}: {why}",
                    short(deploying),
                    short(commit)
                );
                if !force {
                    return Verdict::Fail(format!(
                        "{message}. Fetch the full history (e.g. `fetch-depth: 0` on actions/checkout) or deploy with --force"
                    ));
                }
                notes.push(format!("--force: deploying although {message}"));
            }
            Some(Relation::Same) | Some(Relation::Newer) | None => {}
        },
        None => notes.push(format!(
            "the live release v{} has no commit recorded (not built from source by the Build API); the older-commit guard cannot apply",
            live.version
        )),
    }
    if let Some(version) = pending {
        let why = format!(
            "release v{version} is still pending: another deploy or its release phase is running"
        );
        if !force {
            return Verdict::Fail(format!(
                "{why}; retry when it has finished (or serialize deploys with `shipline lock`)"
            ));
        }
        notes.push(format!("--force: deploying although {why}"));
    }
    Verdict::Proceed(notes)
}

/// What the app looks like before a deploy or a promotion.
pub struct Preflight {
    /// The app's name.
    pub app: String,
    /// The app's id.
    pub app_id: String,
    /// Where the app is served.
    pub web_url: Option<String>,
    /// The live release and its commit.
    pub live: Option<Live>,
    /// The live release's id, the rollback anchor.
    pub live_id: Option<String>,
    /// A newer release still in its release phase.
    pub pending: Option<u64>,
    /// The version the next release will most likely get.
    pub next_version: u64,
}

impl Preflight {
    /// The live release as the state file records it: what a rollback returns to.
    pub fn previous_release(&self) -> Option<ReleaseRef> {
        self.live.as_ref().map(|live| ReleaseRef {
            id: self.live_id.clone(),
            version: live.version,
            commit: live.commit.clone(),
        })
    }
}

/// The packed source, in a temporary file.
struct Packed {
    file: TempFile,
    size: u64,
    checksum: String,
    time: Duration,
}

/// A deploy acts on its app and waits behind the lock.
pub fn scope(args: &DeployArgs) -> Scope {
    Scope {
        apps: vec![args.app.clone()],
        after: vec![Dependency::lock()],
    }
}

/// Runs `shipline deploy`: fetch, decide, act.
pub fn run(args: &DeployArgs, state: &mut State) -> Result<Outcome> {
    let started = Instant::now();
    let deadline = started + args.timeout;

    if let Some(reason) = kill_switch_in_env(args.enabled_by.as_deref()) {
        return Ok(Outcome::Skipped(reason));
    }
    let config = HerokuConfig::from_env()?;
    let repo = git::open(&args.dir).map_err(|e| anyhow!(UsageError(format!("{e:#}"))))?;
    let commit = repo
        .resolve(&args.git_ref)
        .map_err(|e| anyhow!(UsageError(format!("{e:#}"))))?;
    if let Some(subdir) = &args.subdir {
        repo.check_subdir(&commit, subdir)
            .map_err(|e| anyhow!(UsageError(format!("{e:#}"))))?;
    }
    let short = short(&commit.id);
    let folder = args
        .subdir
        .as_deref()
        .map(|s| format!(", folder {s}/"))
        .unwrap_or_default();
    ci::say(&format!(
        "Deploying {short} \"{}\" ({}{folder}) to {}",
        commit.subject, args.git_ref, args.app
    ));

    let heroku = Heroku::new(&config.api_url, &config.api_key, deadline);
    let before = preflight(&heroku, &args.app)?;
    let relation = match before.live.as_ref().and_then(|l| l.commit.as_deref()) {
        Some(live_commit) if live_commit != commit.id => Some(
            repo.relation(&commit.id, live_commit)
                .context("could not compare the commit with the live one")?,
        ),
        _ => None,
    };
    match judge(
        before.live.as_ref(),
        &commit.id,
        relation.as_ref(),
        before.pending,
        args.force,
    ) {
        Verdict::Skip(reason) => return Ok(Outcome::Skipped(reason)),
        Verdict::Fail(reason) => return Ok(Outcome::Failed(reason)),
        Verdict::Proceed(notes) => notes.iter().for_each(|note| ci::say(note)),
    }
    if let Some(failure) = check_preboot(&heroku, &before.app, args.require_preboot)? {
        return Ok(failure);
    }

    state.app_mut(&args.app).notes =
        Some(release_notes(&args.dir, before.live.as_ref(), &commit.id));
    let packed = pack(&repo, &commit, args.subdir.as_deref())?;
    let mut record = Change {
        kind: ChangeKind::Deploy,
        commit: commit.id.clone(),
        git_ref: args.git_ref.clone(),
        previous_release: before.previous_release(),
        release: None,
        web_url: before.web_url.clone(),
        build_id: None,
        source: None,
        route: None,
        dry_run: false,
        timings_ms: None,
    };
    if args.dry_run {
        ci::say(&format!(
            "Dry run: would upload {} and build {short} on {}, creating release v{}; nothing was uploaded, built or released",
            bytes(packed.size),
            before.app,
            before.next_version
        ));
        record.dry_run = true;
        state.app_mut(&args.app).change = Some(record);
        return Ok(Outcome::Done);
    }

    let upload_started = Instant::now();
    let blob = heroku
        .create_source()
        .context("could not create a source upload slot")?;
    heroku
        .upload(&blob.put_url, &packed.file.path)
        .context("could not upload the source archive")?;
    let upload_time = upload_started.elapsed();
    ci::say(&format!("Uploaded the source in {}", human(upload_time)));
    drop(packed.file);

    let live_version = before.live.as_ref().map(|l| l.version).unwrap_or(0);
    let build_started = Instant::now();
    let build = heroku
        .create_build(
            &before.app,
            &blob.get_url,
            &commit.id,
            &format!("SHA256:{}", packed.checksum),
            &commit.subject,
        )
        .context("could not start the build")?;
    ci::say(&format!("Build {} started", build.id));
    let mut tail = Tail::new();
    let follow = Follow {
        heroku: &heroku,
        deadline,
        poll: args.poll,
    };
    let build = follow.until_done(
        build.output_stream_url.as_deref(),
        "Build output",
        &format!("build {} to finish", build.id),
        &mut tail,
        || {
            let b = heroku.build(&before.app, &build.id)?;
            let done = b.status != Status::Pending;
            Ok((b, done))
        },
    )?;
    let build_time = build_started.elapsed();
    if build.status != Status::Succeeded {
        tail.show("build output");
        return Ok(Outcome::Failed(format!(
            "build {} {} after {}; the live release stays v{live_version}",
            build.id,
            build.status,
            human(build_time)
        )));
    }
    ci::say(&format!("Build succeeded in {}", human(build_time)));

    let release_started = Instant::now();
    let release_id = build.release.as_ref().map(|r| r.id.clone()).ok_or_else(|| {
        anyhow!(
            "Heroku reported build {} succeeded without a release; check the app's activity in the Heroku dashboard",
            build.id
        )
    })?;
    let release = heroku.release(&before.app, &release_id)?;
    ci::say(&format!(
        "Release v{}: {}",
        release.version, release.description
    ));
    let mut tail = Tail::new();
    let release = follow::release(&follow, &before.app, release, &mut tail)?;
    if release.status != Status::Succeeded {
        tail.show("release phase output");
        return Ok(Outcome::Failed(format!(
            "release v{} (release {}) {}: its release phase did not succeed; the live release stays v{live_version}",
            release.version, release.id, release.status
        )));
    }
    let release_time = release_started.elapsed();
    let total = started.elapsed();
    ci::say(&format!(
        "Released v{} ({short}) to {} in {}",
        release.version,
        before.app,
        human(total)
    ));

    record.release = Some(ReleaseRef {
        id: Some(release.id.clone()),
        version: release.version,
        commit: Some(commit.id.clone()),
    });
    record.build_id = Some(build.id.clone());
    record.timings_ms = Some(json!({
        "pack": millis(packed.time),
        "upload": millis(upload_time),
        "build": millis(build_time),
        "release": millis(release_time),
        "total": millis(total),
    }));
    state.app_mut(&args.app).change = Some(record);
    let mut outputs = vec![
        ("release-version", release.version.to_string()),
        ("commit", commit.id.clone()),
    ];
    if let Some(url) = &before.web_url {
        outputs.push(("web-url", url.clone()));
    }
    ci::write_outputs(&outputs)?;
    ci::write_summary(&format!(
        "### Deployed {} v{}\n\n| | |\n|---|---|\n| commit | `{short}` {} |\n| previous | {} |\n| build | `{}` in {} |\n| total | {} |\n\n",
        before.app,
        release.version,
        text::markdown_cell(&commit.subject),
        before
            .live
            .as_ref()
            .map(|l| format!("v{}", l.version))
            .unwrap_or_else(|| "none".into()),
        build.id,
        human(build_time),
        human(total)
    ))?;
    Ok(Outcome::Done)
}

/// How many release-note entries the deploy log lists (all of them are in the state file).
const NOTES_IN_LOG: usize = 20;

/// The release notes of this deploy, live commit → deployed commit, for `notify`. Never an
/// error: notes that cannot be computed are recorded as unavailable, with the reason, and the
/// deploy goes on.
pub fn release_notes(dir: &Path, live: Option<&Live>, deploying: &str) -> notes::Recorded {
    let recorded = match live.and_then(|l| l.commit.as_deref()) {
        Some(from) => notes::compute(&notes::Range {
            dir,
            from,
            to: deploying,
            first_parent: false,
        }),
        None => notes::Recorded::Unavailable {
            unavailable: "nothing with a recorded commit is live on the app yet".into(),
        },
    };
    match &recorded {
        notes::Recorded::Notes(n) => ci::say(&format!(
            "Release notes: {} commit(s) {}",
            if n.range == notes::RangeKind::Backward {
                n.removed.len()
            } else {
                n.commits.len()
            },
            match n.range {
                notes::RangeKind::Forward => "shipping",
                notes::RangeKind::Same => "(nothing new)",
                notes::RangeKind::Backward => "being removed",
                notes::RangeKind::Diverged => "shipping, on rewritten history",
            }
        )),
        notes::Recorded::Unavailable { unavailable } => {
            ci::say(&format!("Release notes unavailable: {unavailable}"))
        }
    }
    if let notes::Recorded::Notes(n) = &recorded {
        let listed = if n.range == notes::RangeKind::Backward {
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

/// Reads the app, its recent releases and the live release's commit.
pub fn preflight(heroku: &Heroku, app: &str) -> Result<Preflight> {
    let app = heroku.app(app)?;
    let releases = heroku
        .recent_releases(&app.name, 25)
        .with_context(|| format!("could not list the releases of {}", app.name))?;
    let current = releases.iter().find(|r| r.current);
    let pending = releases
        .iter()
        .filter(|r| r.status == Status::Pending)
        .filter(|r| current.is_none_or(|c| r.version > c.version))
        .map(|r| r.version)
        .max();
    let live = current.map(|r| live_of(heroku, &app.name, r)).transpose()?;
    match &live {
        Some(l) => ci::say(&format!(
            "Live on {}: v{} ({}){}",
            app.name,
            l.version,
            l.description,
            l.commit
                .as_deref()
                .map(|c| format!(", commit {}", short(c)))
                .unwrap_or_default()
        )),
        None => ci::say(&format!("Live on {}: nothing yet", app.name)),
    }
    Ok(Preflight {
        live,
        live_id: current.map(|r| r.id.clone()),
        pending,
        next_version: releases.iter().map(|r| r.version).max().unwrap_or(0) + 1,
        web_url: app.web_url,
        app_id: app.id,
        app: app.name,
    })
}

/// Warns when preboot is off, or fails with `--require-preboot`.
pub fn check_preboot(heroku: &Heroku, app: &str, require: bool) -> Result<Option<Outcome>> {
    let enable = format!("enable it with `heroku features:enable preboot -a {app}`");
    match heroku.preboot(app)? {
        Some(true) => {
            ci::say("Preboot is on: the new dynos take traffic once they have booted");
            Ok(None)
        }
        Some(false) if require => Ok(Some(Outcome::Failed(format!(
            "preboot is off for {app}, and --require-preboot is set: {enable}"
        )))),
        Some(false) => {
            ci::warn(&format!(
                "preboot is off for {app}: dynos restart all at once and requests are dropped while the new release boots ({enable})"
            ));
            Ok(None)
        }
        None if require => Ok(Some(Outcome::Failed(format!(
            "{app} has no preboot feature (GET /apps/{app}/features/preboot answered 404), and --require-preboot is set"
        )))),
        None => {
            ci::warn(&format!(
                "could not tell whether preboot is on for {app}: the app has no preboot feature"
            ));
            Ok(None)
        }
    }
}

/// Packs the commit's tree into a temporary tar.gz, hashing it on the way.
fn pack(repo: &git::Repository, commit: &git::Commit, subdir: Option<&str>) -> Result<Packed> {
    let started = Instant::now();
    let file = TempFile::new("source", "tar.gz");
    let mut writer = HashingWriter::new(File::create(&file.path).with_context(|| {
        format!(
            "could not create the temporary source archive {}",
            file.path.display()
        )
    })?);
    let summary = repo.write_archive(commit, subdir, &mut writer)?;
    let (size, checksum) = writer.finish()?;
    let time = started.elapsed();
    ci::say(&format!(
        "Packed {}{}: {} entries, {} (SHA256:{checksum}) in {}",
        short(&commit.id),
        subdir.map(|s| format!(":{s}")).unwrap_or_default(),
        summary.entries,
        bytes(size),
        human(time)
    ));
    if summary.uses_lfs {
        ci::warn("the tree uses Git LFS (filter=lfs in .gitattributes): LFS pointer files are deployed, not the large files they point to");
    }
    Ok(Packed {
        file,
        size,
        checksum,
        time,
    })
}

/// The live release with the commit of its slug.
pub fn live_of(heroku: &Heroku, app: &str, release: &Release) -> Result<Live> {
    let commit = match &release.slug {
        Some(slug) => heroku
            .slug(app, &slug.id)
            .with_context(|| {
                format!(
                    "could not read the slug of the live release v{}",
                    release.version
                )
            })?
            .commit
            .filter(|c| !c.is_empty()),
        None => None,
    };
    Ok(Live {
        version: release.version,
        description: release.description.clone(),
        commit,
    })
}

/// Writes to a file while hashing and counting, so the checksum needs no second read.
struct HashingWriter {
    file: File,
    digest: ring::digest::Context,
    size: u64,
}

impl HashingWriter {
    fn new(file: File) -> HashingWriter {
        HashingWriter {
            file,
            digest: ring::digest::Context::new(&ring::digest::SHA256),
            size: 0,
        }
    }

    /// Flushes to disk and returns the size and the lowercase hex SHA-256.
    fn finish(mut self) -> Result<(u64, String)> {
        self.file
            .flush()
            .and_then(|_| self.file.sync_all())
            .context("could not write the source archive")?;
        let hex = self
            .digest
            .finish()
            .as_ref()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Ok((self.size, hex))
    }
}

impl Write for HashingWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.file.write(buf)?;
        self.digest.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

/// A file in the temporary directory, removed when dropped.
struct TempFile {
    path: PathBuf,
}

impl TempFile {
    fn new(stem: &str, ext: &str) -> TempFile {
        let dir = std::env::var_os("RUNNER_TEMP")
            .map(PathBuf::from)
            .unwrap_or_else(std::env::temp_dir);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        TempFile {
            path: dir.join(format!(
                "shipline-{stem}-{}-{nanos}.{ext}",
                std::process::id()
            )),
        }
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn millis(d: Duration) -> u64 {
    d.as_millis().try_into().unwrap_or(u64::MAX)
}

fn bytes(n: u64) -> String {
    if n < 1024 {
        format!("{n} B")
    } else if n < 1024 * 1024 {
        format!("{:.1} KiB", n as f64 / 1024.0)
    } else {
        format!("{:.1} MiB", n as f64 / (1024.0 * 1024.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NEW: &str = "1111111111111111111111111111111111111111";
    const OLD: &str = "2222222222222222222222222222222222222222";

    fn live(description: &str, commit: Option<&str>) -> Live {
        Live {
            version: 12,
            description: description.into(),
            commit: commit.map(Into::into),
        }
    }

    #[test]
    fn kill_switch_applies_only_in_ci_and_only_when_not_true() {
        assert_eq!(kill_switch(None, Some("true"), None), None);
        assert_eq!(kill_switch(Some("CD_ON"), Some("true"), Some("true")), None);
        assert_eq!(kill_switch(Some("CD_ON"), None, Some("false")), None);
        let why = kill_switch(Some("CD_ON"), Some("true"), Some("false")).unwrap();
        assert!(why.contains("$CD_ON is `false`"), "{why}");
        let why = kill_switch(Some("CD_ON"), Some("true"), None).unwrap();
        assert!(why.contains("$CD_ON is not set"), "{why}");
    }

    #[test]
    fn a_rollback_pauses_deploys_until_forced() {
        let l = live("Rollback to v10", Some(OLD));
        match judge(Some(&l), NEW, Some(&Relation::Newer), None, false) {
            Verdict::Skip(why) => assert!(
                why.contains("rollback to v10") && why.contains("--force"),
                "{why}"
            ),
            other => panic!("{other:?}"),
        }
        match judge(Some(&l), NEW, Some(&Relation::Newer), None, true) {
            Verdict::Proceed(notes) => assert!(notes[0].starts_with("--force")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_same_commit_is_not_deployed_twice_even_when_forced() {
        let l = live("Deploy 11111111", Some(NEW));
        for force in [false, true] {
            assert!(
                matches!(judge(Some(&l), NEW, None, None, force), Verdict::Skip(why) if why.contains("already live as v12"))
            );
        }
    }

    #[test]
    fn older_code_never_goes_over_newer_unless_forced() {
        let l = live("Deploy 22222222", Some(OLD));
        assert!(
            matches!(judge(Some(&l), NEW, Some(&Relation::Older), None, false), Verdict::Skip(why) if why.contains("older than the live commit 2222222"))
        );
        assert!(matches!(
            judge(Some(&l), NEW, Some(&Relation::Older), None, true),
            Verdict::Proceed(_)
        ));
        assert_eq!(
            judge(Some(&l), NEW, Some(&Relation::Newer), None, false),
            Verdict::Proceed(vec![])
        );
        assert!(
            matches!(judge(Some(&l), NEW, Some(&Relation::Diverged), None, false), Verdict::Proceed(notes) if notes.len() == 1)
        );
    }

    #[test]
    fn an_unknown_relation_fails_closed() {
        let l = live("Deploy 22222222", Some(OLD));
        let unknown = Relation::Unknown("not in this clone".into());
        assert!(
            matches!(judge(Some(&l), NEW, Some(&unknown), None, false), Verdict::Fail(why) if why.contains("fetch-depth: 0"))
        );
        assert!(matches!(
            judge(Some(&l), NEW, Some(&unknown), None, true),
            Verdict::Proceed(_)
        ));
    }

    #[test]
    fn a_pending_release_fails_after_the_skips() {
        let l = live("Deploy 22222222", Some(OLD));
        assert!(
            matches!(judge(Some(&l), NEW, Some(&Relation::Newer), Some(13), false), Verdict::Fail(why) if why.contains("v13 is still pending"))
        );
        let same = live("Deploy 11111111", Some(NEW));
        assert!(matches!(
            judge(Some(&same), NEW, None, Some(13), false),
            Verdict::Skip(_)
        ));
    }

    #[test]
    fn a_new_app_proceeds() {
        assert!(matches!(
            judge(None, NEW, None, None, false),
            Verdict::Proceed(_)
        ));
        let initial = live("Initial release", None);
        assert!(
            matches!(judge(Some(&initial), NEW, None, None, false), Verdict::Proceed(notes) if notes[0].contains("no commit"))
        );
    }
}
