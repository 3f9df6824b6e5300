//! `shipline deploy`: the commit to Heroku through the Platform API, behind guards.
//!
//! The step fetches the app's live release and the repository's view of the two commits,
//! asks [`judge`] whether to go on, then packs the commit's tree, uploads it, builds it with
//! the output streamed live, and follows the release (and its release phase) until it is live.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context, Result};
use serde_json::json;

use crate::ci::{self, Group};
use crate::cli::{parse_bool, DeployArgs, UsageError};
use crate::git::{self, Relation};
use crate::heroku::{self, Heroku, Release, Status};
use crate::http::Stream;
use crate::outcome::{human, Outcome, State};

/// How many lines of build or release output a failure repeats after the stream.
const TAIL_LINES: usize = 30;

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
    let short = |c: &str| c.chars().take(7).collect::<String>();
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

/// Runs `shipline deploy`.
pub fn run(args: &DeployArgs, state: &mut State) -> Result<Outcome> {
    let started = Instant::now();
    let deadline = started + args.timeout;

    if let Some(reason) = kill_switch(
        args.enabled_by.as_deref(),
        std::env::var("CI").ok().as_deref(),
        args.enabled_by
            .as_deref()
            .and_then(|v| std::env::var(v).ok())
            .as_deref(),
    ) {
        return Ok(Outcome::Skipped(reason));
    }

    let api_key = std::env::var("HEROKU_API_KEY")
        .ok()
        .map(|k| k.trim().to_string())
        .filter(|k| !k.is_empty())
        .ok_or_else(|| {
            anyhow!(UsageError(
                "HEROKU_API_KEY is not set: store a Heroku API key (`heroku authorizations:create`) as a CI secret and expose it as HEROKU_API_KEY".into()
            ))
        })?;
    ci::register_secret(&api_key);
    let api_url = std::env::var("SHIPLINE_HEROKU_API_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| heroku::DEFAULT_API_URL.to_string());
    if !(api_url.starts_with("https://") || api_url.starts_with("http://")) {
        bail!(UsageError(format!(
            "SHIPLINE_HEROKU_API_URL must be an http(s) URL, not `{api_url}`"
        )));
    }

    let repo = git::open(&args.dir).map_err(|e| anyhow!(UsageError(format!("{e:#}"))))?;
    let commit = repo
        .resolve(&args.git_ref)
        .map_err(|e| anyhow!(UsageError(format!("{e:#}"))))?;
    let short = &commit.id[..7.min(commit.id.len())];
    ci::say(&format!(
        "Deploying {short} \"{}\" ({}) to {}{}",
        commit.subject,
        args.git_ref,
        args.app,
        args.subdir
            .as_deref()
            .map(|s| format!(", folder {s}/"))
            .unwrap_or_default()
    ));

    let heroku = Heroku::new(&api_url, &api_key, deadline);
    let app = heroku.app(&args.app)?;
    let releases = heroku
        .recent_releases(&app.name, 25)
        .with_context(|| format!("could not list the releases of {}", app.name))?;
    let current = releases.iter().find(|r| r.current).cloned();
    let pending = releases
        .iter()
        .filter(|r| r.status == Status::Pending)
        .filter(|r| current.as_ref().is_none_or(|c| r.version > c.version))
        .map(|r| r.version)
        .max();
    let live = match &current {
        Some(release) => Some(live_of(&heroku, &app.name, release)?),
        None => None,
    };
    match &live {
        Some(l) => ci::say(&format!(
            "Live: v{} ({}){}",
            l.version,
            l.description,
            l.commit
                .as_deref()
                .map(|c| format!(", commit {}", &c[..7.min(c.len())]))
                .unwrap_or_default()
        )),
        None => ci::say("Live: nothing yet"),
    }

    let relation = match live.as_ref().and_then(|l| l.commit.as_deref()) {
        Some(live_commit) if live_commit != commit.id => Some(
            repo.relation(&commit.id, live_commit)
                .context("could not compare the commit with the live one")?,
        ),
        _ => None,
    };
    match judge(
        live.as_ref(),
        &commit.id,
        relation.as_ref(),
        pending,
        args.force,
    ) {
        Verdict::Skip(reason) => return Ok(Outcome::Skipped(reason)),
        Verdict::Fail(reason) => return Ok(Outcome::Failed(reason)),
        Verdict::Proceed(notes) => {
            for note in notes {
                ci::say(&note);
            }
        }
    }

    match heroku.preboot(&app.name)? {
        Some(true) => ci::say("Preboot is on: the new dynos take traffic once they have booted"),
        Some(false) if args.require_preboot => {
            return Ok(Outcome::Failed(format!(
                "preboot is off for {}, and --require-preboot is set: enable it with `heroku features:enable preboot -a {}`",
                app.name, app.name
            )))
        }
        Some(false) => ci::warn(&format!(
            "preboot is off for {}: dynos restart all at once and requests are dropped while the new release boots (enable it with `heroku features:enable preboot -a {}`)",
            app.name, app.name
        )),
        None if args.require_preboot => {
            return Ok(Outcome::Failed(format!(
                "{} has no preboot feature (GET /apps/{}/features/preboot answered 404), and --require-preboot is set",
                app.name, app.name
            )))
        }
        None => ci::warn(&format!(
            "could not tell whether preboot is on for {}: the app has no preboot feature",
            app.name
        )),
    }

    let pack_started = Instant::now();
    let archive = TempFile::new("source", "tar.gz");
    let mut writer = HashingWriter::new(File::create(&archive.path).with_context(|| {
        format!(
            "could not create the temporary source archive {}",
            archive.path.display()
        )
    })?);
    let summary = repo.write_archive(&commit, args.subdir.as_deref(), &mut writer)?;
    let (size, checksum) = writer.finish()?;
    let pack_time = pack_started.elapsed();
    ci::say(&format!(
        "Packed {short}{}: {} entries, {} ({checksum}) in {}",
        args.subdir
            .as_deref()
            .map(|s| format!(":{s}"))
            .unwrap_or_default(),
        summary.entries,
        bytes(size),
        human(pack_time)
    ));
    if summary.uses_lfs {
        ci::warn("the tree uses Git LFS (filter=lfs in .gitattributes): LFS pointer files are deployed, not the large files they point to");
    }

    let previous = current.as_ref().map(|r| {
        json!({
            "id": r.id,
            "version": r.version,
            "commit": live.as_ref().and_then(|l| l.commit.clone()),
        })
    });
    if args.dry_run {
        ci::say(&format!(
            "Dry run: would upload {} and build {short} on {}, creating release v{}; nothing was uploaded, built or released",
            bytes(size),
            app.name,
            releases.iter().map(|r| r.version).max().unwrap_or(0) + 1
        ));
        state.set(
            "deploy",
            json!({
                "app": app.name,
                "commit": commit.id,
                "ref": args.git_ref,
                "dry_run": true,
                "previous_release": previous,
            }),
        );
        return Ok(Outcome::Done);
    }

    let upload_started = Instant::now();
    let blob = heroku
        .create_source()
        .context("could not create a source upload slot")?;
    heroku
        .upload(&blob.put_url, &archive.path)
        .context("could not upload the source archive")?;
    let upload_time = upload_started.elapsed();
    ci::say(&format!("Uploaded the source in {}", human(upload_time)));
    drop(archive);

    let build_started = Instant::now();
    let build = heroku
        .create_build(
            &app.name,
            &blob.get_url,
            &commit.id,
            &format!("SHA256:{checksum}"),
            &commit.subject,
        )
        .context("could not start the build")?;
    ci::say(&format!("Build {} started", build.id));
    let mut tail = Tail::new();
    if let Some(url) = &build.output_stream_url {
        let _group = Group::open("Build output");
        follow_stream(&heroku, url, deadline, args.poll, &mut tail, || {
            heroku
                .build(&app.name, &build.id)
                .map(|b| b.status != Status::Pending)
        })?;
    }
    let build = wait_for(
        deadline,
        args.poll,
        &format!("build {} to finish", build.id),
        || {
            let b = heroku.build(&app.name, &build.id)?;
            Ok((b.status != Status::Pending).then_some(b))
        },
    )?;
    let build_time = build_started.elapsed();
    if build.status != Status::Succeeded {
        tail.show("build output");
        return Ok(Outcome::Failed(format!(
            "build {} {} after {}; the live release stays v{}",
            build.id,
            build.status,
            human(build_time),
            live.as_ref().map(|l| l.version).unwrap_or(0)
        )));
    }
    ci::say(&format!("Build succeeded in {}", human(build_time)));

    let release_started = Instant::now();
    let release_ref = build.release.as_ref().ok_or_else(|| {
        anyhow!(
            "Heroku reported build {} succeeded without a release",
            build.id
        )
    })?;
    let mut release = heroku.release(&app.name, &release_ref.id)?;
    ci::say(&format!(
        "Release v{}: {}",
        release.version, release.description
    ));
    if release.status == Status::Pending {
        let mut tail = Tail::new();
        let stream = wait_for_release_stream(&heroku, &app.name, &release, deadline, args.poll)?;
        if let Some(url) = stream {
            let _group = Group::open("Release phase output");
            follow_stream(&heroku, &url, deadline, args.poll, &mut tail, || {
                heroku
                    .release(&app.name, &release.id)
                    .map(|r| r.status != Status::Pending)
            })?;
        }
        release = wait_for(
            deadline,
            args.poll,
            &format!("release v{} (its release phase) to finish", release.version),
            || {
                let r = heroku.release(&app.name, &release.id)?;
                Ok((r.status != Status::Pending).then_some(r))
            },
        )?;
        if release.status != Status::Succeeded {
            tail.show("release phase output");
            return Ok(Outcome::Failed(format!(
                "the release phase of v{} (release {}) {}; the live release stays v{}",
                release.version,
                release.id,
                release.status,
                live.as_ref().map(|l| l.version).unwrap_or(0)
            )));
        }
    } else if release.status != Status::Succeeded {
        return Ok(Outcome::Failed(format!(
            "release v{} ({}) is {}",
            release.version, release.id, release.status
        )));
    }
    let release_time = release_started.elapsed();
    let total = started.elapsed();
    ci::say(&format!(
        "Released v{} ({short}) to {} in {}",
        release.version,
        app.name,
        human(total)
    ));

    state.set(
        "deploy",
        json!({
            "app": app.name,
            "commit": commit.id,
            "ref": args.git_ref,
            "release": {"id": release.id, "version": release.version},
            "previous_release": previous,
            "build_id": build.id,
            "web_url": app.web_url,
            "timings_ms": {
                "pack": pack_time.as_millis() as u64,
                "upload": upload_time.as_millis() as u64,
                "build": build_time.as_millis() as u64,
                "release": release_time.as_millis() as u64,
                "total": total.as_millis() as u64,
            },
        }),
    );
    ci::write_outputs(&[
        ("release-version", release.version.to_string()),
        ("commit", commit.id.clone()),
    ])?;
    ci::write_summary(&format!(
        "### Deployed {} v{}\n\n| | |\n|---|---|\n| commit | `{}` {} |\n| previous | {} |\n| build | `{}` in {} |\n| total | {} |\n\n",
        app.name,
        release.version,
        short,
        markdown_escape(&commit.subject),
        live.as_ref()
            .map(|l| format!("v{}", l.version))
            .unwrap_or_else(|| "none".into()),
        build.id,
        human(build_time),
        human(total)
    ))?;
    Ok(Outcome::Done)
}

/// The live release with the commit of its slug.
fn live_of(heroku: &Heroku, app: &str, release: &Release) -> Result<Live> {
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

/// Waits for the release phase's stream to exist (404 until it starts) or the release to end.
fn wait_for_release_stream(
    heroku: &Heroku,
    app: &str,
    release: &Release,
    deadline: Instant,
    poll: Duration,
) -> Result<Option<String>> {
    let mut release = release.clone();
    loop {
        if let Some(url) = release.output_stream_url.clone() {
            return Ok(Some(url));
        }
        if release.status != Status::Pending {
            return Ok(None);
        }
        sleep_until_next(
            deadline,
            poll,
            &format!("the release phase of v{} to start", release.version),
        )?;
        release = heroku.release(app, &release.id)?;
    }
}

/// Streams an output URL to the log line by line, as it arrives. A stream that is not there
/// yet (404) is retried until `finished` says the work is over; a stream that breaks is
/// reported and left, since the status poll that follows decides the outcome.
fn follow_stream(
    heroku: &Heroku,
    url: &str,
    deadline: Instant,
    poll: Duration,
    tail: &mut Tail,
    mut finished: impl FnMut() -> Result<bool>,
) -> Result<()> {
    loop {
        let idle = deadline
            .saturating_duration_since(Instant::now())
            .clamp(Duration::from_secs(1), Duration::from_secs(120));
        match heroku.open_stream(url, idle) {
            Ok(Stream::Open(reader)) => {
                let mut reader = BufReader::new(reader);
                let mut line = Vec::new();
                loop {
                    line.clear();
                    match reader.read_until(b'\n', &mut line) {
                        Ok(0) => return Ok(()),
                        Ok(_) => {
                            let text = String::from_utf8_lossy(&line);
                            let text = text.trim_end_matches(['\n', '\r']);
                            ci::say(text);
                            tail.push(text);
                        }
                        Err(e) => {
                            ci::warn(&format!(
                                "the output stream broke ({e}); waiting for the result without it"
                            ));
                            return Ok(());
                        }
                    }
                }
            }
            Ok(Stream::Status(404)) => {
                if finished()? {
                    return Ok(());
                }
                sleep_until_next(deadline, poll, "the output stream to start")?;
            }
            Ok(Stream::Status(status)) => {
                ci::warn(&format!(
                    "the output stream answered {status}; waiting for the result without it"
                ));
                return Ok(());
            }
            Err(e) => {
                ci::warn(&format!(
                    "could not open the output stream ({e:#}); waiting for the result without it"
                ));
                return Ok(());
            }
        }
    }
}

/// Polls `check` every `poll` until it yields a value, failing with what it waited for when
/// the step's deadline passes.
fn wait_for<T>(
    deadline: Instant,
    poll: Duration,
    what: &str,
    mut check: impl FnMut() -> Result<Option<T>>,
) -> Result<T> {
    loop {
        if let Some(value) = check()? {
            return Ok(value);
        }
        sleep_until_next(deadline, poll, what)?;
    }
}

fn sleep_until_next(deadline: Instant, poll: Duration, what: &str) -> Result<()> {
    let now = Instant::now();
    if now >= deadline {
        bail!("timed out waiting for {what} (--timeout / SHIPLINE_TIMEOUT bounds the whole step; work already started on Heroku goes on)");
    }
    std::thread::sleep(poll.min(deadline - now));
    Ok(())
}

/// The last lines of an output, repeated after a failure so the cause is visible outside the
/// folded log group.
struct Tail {
    lines: VecDeque<String>,
}

impl Tail {
    fn new() -> Tail {
        Tail {
            lines: VecDeque::with_capacity(TAIL_LINES),
        }
    }

    fn push(&mut self, line: &str) {
        if self.lines.len() == TAIL_LINES {
            self.lines.pop_front();
        }
        self.lines.push_back(line.to_string());
    }

    fn show(&self, what: &str) {
        if self.lines.is_empty() {
            ci::say(&format!("(no {what} was received)"));
            return;
        }
        ci::say(&format!("Last {} lines of the {what}:", self.lines.len()));
        for line in &self.lines {
            ci::say(&format!("  {line}"));
        }
    }
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

fn bytes(n: u64) -> String {
    if n < 1024 {
        format!("{n} B")
    } else if n < 1024 * 1024 {
        format!("{:.1} KiB", n as f64 / 1024.0)
    } else {
        format!("{:.1} MiB", n as f64 / (1024.0 * 1024.0))
    }
}

fn markdown_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '|' | '*' | '_' | '`' | '<' | '>' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
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
