//! `shipline deploy`: the commit to Heroku through the Platform API, behind guards.
//!
//! The step fetches the app's live release and the repository's view of the two commits, asks
//! the guards ([`crate::guard::judge`]) whether to go on, then packs the commit's tree, uploads
//! it, builds it with the output streamed live, and follows the release (and its release phase)
//! until it is live.

use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, Context, Result};
use serde_json::json;

use super::{Scope, Work};
use crate::adopt::{self, Found};
use crate::ci;
use crate::cli::DeployArgs;
use crate::follow::{self, Follow, Tail};
use crate::git;
use crate::guard::{check_preboot, judge, kill_switch_in_env, preflight, Verdict};
use crate::heroku::{Build, Heroku, HerokuConfig, Release, Status};
use crate::notes;
use crate::outcome::Outcome;
use crate::state::{Change, ChangeKind, Dependency, ReleaseRef, State};
use crate::text::{self, short};
use crate::time::human;
use crate::usage::UsageError;

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
    let heroku = HerokuConfig::from_env()?.client(deadline);
    let (repo, commit) = git::open_at(&args.dir, &args.git_ref)?;
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

    // What a cancelled (or killed) run of this step left in flight for this commit.
    let inherited = state
        .app(&args.app)
        .and_then(|a| a.in_flight.clone())
        .filter(|w| w.step == "deploy" && w.commit.as_deref() == Some(commit.id.as_str()));
    let before = preflight(&heroku, &args.app)?;
    let start = find_in_flight(
        &heroku,
        &before.app,
        &commit.id,
        inherited.is_some(),
        args.force,
    )?;
    let start = match start {
        Err(failure) => return Ok(failure),
        Ok(start) => start,
    };
    let relation = match before.live.as_ref().and_then(|l| l.commit.as_deref()) {
        Some(live_commit) if live_commit != commit.id && matches!(start, Start::New) => Some(
            repo.relation(&commit.id, live_commit)
                .context("could not compare the commit with the live one")?,
        ),
        _ => None,
    };
    if matches!(start, Start::New) {
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
    }

    let recorded = state
        .app(&args.app)
        .and_then(|a| a.change.clone())
        .filter(|c| c.kind == ChangeKind::Deploy && c.commit == commit.id && !c.dry_run);
    if !matches!(start, Start::Finished { .. })
        || state.app(&args.app).is_none_or(|a| a.notes.is_none())
    {
        state.app_mut(&args.app).notes = Some(notes::for_release(
            &args.dir,
            before.live.as_ref().and_then(|l| l.commit.as_deref()),
            &commit.id,
            relation.as_ref(),
        ));
    }
    let mut record = Change {
        kind: ChangeKind::Deploy,
        commit: commit.id.clone(),
        git_ref: args.git_ref.clone(),
        previous_release: match &start {
            // Live now is what the cancelled run released: what was live before it is in
            // the state file when the run recorded it.
            Start::Finished { .. } => recorded.as_ref().and_then(|c| c.previous_release.clone()),
            _ => before.previous_release(),
        },
        release: None,
        web_url: before.web_url.clone(),
        build_id: None,
        source: None,
        route: None,
        dry_run: false,
        timings_ms: None,
    };
    let packed = match &start {
        Start::New => Some(pack(&repo, &commit, args.subdir.as_deref())?),
        _ => None,
    };
    if args.dry_run {
        match &packed {
            Some(packed) => ci::say(&format!(
                "Dry run: would upload {} and build {short} on {}, creating release v{}; nothing was uploaded, built or released",
                bytes(packed.size),
                before.app,
                before.next_version
            )),
            None => ci::say(&format!(
                "Dry run: would follow the work in flight for {short} on {}; nothing was uploaded, built or released",
                before.app
            )),
        }
        record.dry_run = true;
        state.app_mut(&args.app).change = Some(record);
        return Ok(Outcome::Done);
    }

    let live_version = before.live.as_ref().map(|l| l.version).unwrap_or(0);
    let follow = Follow {
        heroku: &heroku,
        deadline,
        poll: args.poll,
    };
    let build_started = Instant::now();
    let mut upload_time = Duration::ZERO;
    let mut pack_time = Duration::ZERO;
    let (build, adopted_release) = match start {
        Start::New => {
            let packed = packed.ok_or_else(|| anyhow!("the source was not packed"))?;
            crate::signal::check()?;
            let upload_started = Instant::now();
            let blob = heroku
                .create_source()
                .context("could not create a source upload slot")?;
            heroku
                .upload(&blob.put_url, &packed.file.path)
                .context("could not upload the source archive")?;
            upload_time = upload_started.elapsed();
            ci::say(&format!("Uploaded the source in {}", human(upload_time)));
            pack_time = packed.time;
            record.timings_ms = Some(json!({ "pack": millis(pack_time) }));
            drop(packed.file);
            crate::signal::check()?;
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
            (build, None)
        }
        Start::Build(build) => (build, None),
        Start::Release { build, release } => (build, Some(release)),
        Start::Finished { build, release } => (build, Some(release)),
    };
    record.build_id = Some(build.id.clone());
    state.app_mut(&args.app).change = Some(record.clone());
    let build = if adopted_release.is_some() {
        build
    } else {
        super::record_in_flight(
            state,
            &args.app,
            Work {
                step: "deploy",
                kind: "build",
                id: &build.id,
                version: None,
                commit: Some(&commit.id),
            },
        );
        let mut tail = Tail::new();
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
        if build.status != Status::Succeeded {
            state.app_mut(&args.app).in_flight = None;
            tail.show("build output");
            return Ok(Outcome::Failed(format!(
                "build {} {} after {}; the live release stays v{live_version}",
                build.id,
                build.status,
                human(build_started.elapsed())
            )));
        }
        ci::say(&format!(
            "Build succeeded in {}",
            human(build_started.elapsed())
        ));
        build
    };
    let build_time = build_started.elapsed();

    let release_started = Instant::now();
    let release = match adopted_release {
        Some(release) => release,
        None => {
            let release_id = build.release.as_ref().map(|r| r.id.clone()).ok_or_else(|| {
                anyhow!(
                    "Heroku reported build {} succeeded without a release; check the app's activity in the Heroku dashboard",
                    build.id
                )
            })?;
            heroku.release(&before.app, &release_id)?
        }
    };
    ci::say(&format!(
        "Release v{}: {}",
        release.version, release.description
    ));
    let cancelled_in = inherited.as_ref().map(|w| {
        let phase = if w.kind == "build" {
            "the build"
        } else {
            "the release phase"
        };
        match &w.cancelled_by {
            Some(_) => format!("cancelled during {phase}"),
            None => format!("stopped during {phase} without a record of why (killed?)"),
        }
    });
    super::record_in_flight(
        state,
        &args.app,
        Work {
            step: "deploy",
            kind: "release",
            id: &release.id,
            version: Some(release.version),
            commit: Some(&commit.id),
        },
    );
    let release = if release.status == Status::Pending {
        let mut tail = Tail::new();
        let release = follow::release(&follow, &before.app, release, &mut tail)?;
        if release.status != Status::Succeeded {
            state.app_mut(&args.app).in_flight = None;
            tail.show("release phase output");
            return Ok(Outcome::Failed(format!(
                "release v{} (release {}) {}: its release phase did not succeed; the live release stays v{live_version}",
                release.version, release.id, release.status
            )));
        }
        release
    } else {
        release
    };
    state.app_mut(&args.app).in_flight = None;
    if let Some(how) = cancelled_in {
        let what = format!("{how}; the release completed as v{}", release.version);
        ci::say(&format!("The deploy of {short} was {what}"));
        state.app_mut(&args.app).adopted = Some(what);
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
        "pack": millis(pack_time),
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

/// Where a deploy starts: a new build, or the work in flight for its commit that a cancelled
/// run left on Heroku.
enum Start {
    /// Nothing in flight: pack, upload and build.
    New,
    /// A build of the commit still running.
    Build(Build),
    /// The commit's release, still in its release phase.
    Release { build: Build, release: Release },
    /// The commit's release, which completed after the step that followed it was cancelled.
    Finished { build: Build, release: Release },
}

/// Finds the work of a deploy of `commit` still in flight on `app` ([`adopt::find`] on its
/// recent builds), says what is adopted, and fails when a build of another commit runs
/// (another deploy) unless `force`. `cancelled`: the state file holds this deploy's in-flight
/// record, left by a run that was stopped.
fn find_in_flight(
    heroku: &Heroku,
    app: &str,
    commit: &str,
    cancelled: bool,
    force: bool,
) -> Result<std::result::Result<Start, Outcome>> {
    let builds = heroku
        .recent_builds(app, adopt::RECENT_BUILDS)
        .with_context(|| format!("could not list the recent builds of {app}"))?;
    let started = |b: &Build| {
        b.created_at
            .clone()
            .unwrap_or_else(|| "an unknown time".into())
    };
    let short = short(commit);
    Ok(Ok(match adopt::find(&builds, commit) {
        Found::Nothing => Start::New,
        Found::Building(build) => {
            ci::say(&format!(
                "Adopting build {} started at {}: a build of {short} is already running on {app} (an earlier run started it, such as a cancelled job), so it is followed instead of building again",
                build.id,
                started(build)
            ));
            Start::Build(build.clone())
        }
        Found::Other(build) => {
            let why = format!(
                "build {} of {} (started at {}) is still running on {app}: another deploy is running",
                build.id,
                build.commit().map(text::short).unwrap_or("another commit"),
                started(build)
            );
            if !force {
                return Ok(Err(Outcome::Failed(format!(
                    "{why}; retry when it has finished (or serialize deploys with `shipline lock`)"
                ))));
            }
            ci::say(&format!("--force: deploying although {why}"));
            Start::New
        }
        Found::Built(build) => {
            let Some(release_ref) = &build.release else {
                return Ok(Ok(Start::New));
            };
            let release = heroku.release(app, &release_ref.id)?;
            match release.status {
                Status::Pending => {
                    ci::say(&format!(
                        "Adopting release v{} of {short}, still in its release phase (from build {} started at {} by an earlier run, such as a cancelled job): following it instead of building again",
                        release.version,
                        build.id,
                        started(build)
                    ));
                    Start::Release {
                        build: build.clone(),
                        release,
                    }
                }
                Status::Succeeded if release.current && cancelled => {
                    ci::say(&format!(
                        "Adopting build {} started at {}: the run that started it was cancelled, and its release v{} of {short} is live",
                        build.id,
                        started(build),
                        release.version
                    ));
                    Start::Finished {
                        build: build.clone(),
                        release,
                    }
                }
                _ => Start::New,
            }
        }
    }))
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
        format!("{} KiB", crate::time::tenths(n.into(), 1024))
    } else {
        format!("{} MiB", crate::time::tenths(n.into(), 1024 * 1024))
    }
}
