//! Command line → typed commands. Each command's flags are a table (`cli/flags.rs`) that the
//! parser reads and `--help` is generated from.
//!
//! Every flag also reads an environment variable `SHIPLINE_<FLAG>` (upper snake case), so a CI
//! config can set options once for a whole job; a flag on the command line wins. Anything the
//! parser cannot accept is a [`UsageError`] naming the flag or variable: exit code 2.

use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use pico_args::Arguments;

use crate::lock::Mode as LockMode;
use crate::notes::NotesFormat;
use crate::slack::message::NotifyStatus;
use crate::usage::UsageError;

mod flags;
pub use flags::{command as command_spec, Flag, FlagDefault, Spec, Value, COMMANDS};

fn usage(message: impl Into<String>) -> UsageError {
    UsageError(message.into())
}

/// What the user asked for.
#[derive(Debug)]
pub enum Command {
    /// Print a help text.
    Help(String),
    /// Print the version.
    Version,
    /// `shipline deploy`.
    Deploy(DeployArgs),
    /// `shipline notes`.
    Notes(NotesArgs),
    /// `shipline notify`.
    Notify(NotifyArgs),
    /// `shipline verify`.
    Verify(VerifyArgs),
    /// `shipline rollback`.
    Rollback(RollbackArgs),
    /// `shipline promote`.
    Promote(PromoteArgs),
    /// `shipline lock`.
    Lock(LockArgs),
}

/// A set of HTTP statuses an endpoint may answer: `200`, `200,204`, `2xx`, `200-299`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusSet {
    ranges: Vec<(u16, u16)>,
    text: String,
}

impl StatusSet {
    /// Parses a comma-separated list of codes, classes (`2xx`) and ranges (`200-299`).
    pub fn parse(text: &str) -> Result<StatusSet, String> {
        let mut ranges = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let range = if let Some(class) = part.strip_suffix("xx").or(part.strip_suffix("XX")) {
                match class.parse::<u16>() {
                    Ok(c) if (1..=5).contains(&c) => (c * 100, c * 100 + 99),
                    _ => return Err(format!("`{part}` is not a status class like 2xx")),
                }
            } else if let Some((a, b)) = part.split_once('-') {
                match (a.trim().parse::<u16>(), b.trim().parse::<u16>()) {
                    (Ok(a), Ok(b)) if (100..=599).contains(&a) && (a..=599).contains(&b) => (a, b),
                    _ => return Err(format!("`{part}` is not a status range like 200-299")),
                }
            } else {
                match part.parse::<u16>() {
                    Ok(c) if (100..=599).contains(&c) => (c, c),
                    _ => return Err(format!("`{part}` is not an HTTP status")),
                }
            };
            ranges.push(range);
        }
        if ranges.is_empty() {
            return Err("no status given".into());
        }
        Ok(StatusSet {
            ranges,
            text: text.trim().to_string(),
        })
    }

    /// Whether `status` is allowed.
    pub fn allows(&self, status: u16) -> bool {
        self.ranges.iter().any(|(a, b)| (*a..=*b).contains(&status))
    }
}

impl fmt::Display for StatusSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Options of `shipline verify`.
#[derive(Debug, Clone)]
pub struct VerifyArgs {
    /// The apps; empty takes those of the latest deploy or promote of the job.
    pub apps: Vec<String>,
    /// The release whose dynos must be up (one app only); `None` takes the one recorded.
    pub release: Option<u64>,
    /// Endpoints that must answer.
    pub checks: Vec<String>,
    /// Allowed statuses.
    pub expect_status: StatusSet,
    /// Text the body must contain.
    pub expect_body: Option<String>,
    /// Slowest acceptable answer.
    pub max_latency: Option<Duration>,
    /// Headers sent with every check (`NAME: VALUE`).
    pub check_headers: Vec<(String, String)>,
    /// Follow redirects instead of judging the redirect itself.
    pub follow_redirects: bool,
    /// Wait until the old release's dynos are gone (preboot).
    pub wait_preboot: bool,
    /// Roll back to the previous release when verification fails.
    pub rollback_on_failure: bool,
    /// Bound on the whole step.
    pub timeout: Duration,
    /// Longest interval between two polls of the dynos or two attempts of a check.
    pub poll: Duration,
    /// The state file.
    pub state: PathBuf,
}

/// Options of `shipline rollback`.
#[derive(Debug, Clone)]
pub struct RollbackArgs {
    /// The app; `None` takes the one of the latest deploy or promote of the job.
    pub app: Option<String>,
    /// The version to roll back to; `None` is the release before the live one.
    pub to: Option<u64>,
    /// Show which release would be restored, change nothing.
    pub dry_run: bool,
    /// Bound on the whole step.
    pub timeout: Duration,
    /// Interval between status polls.
    pub poll: Duration,
    /// The state file.
    pub state: PathBuf,
}

/// Options of `shipline promote`.
#[derive(Debug, Clone)]
pub struct PromoteArgs {
    /// The staging app whose slug ships.
    pub from: String,
    /// The production apps (several in one pipeline promotion).
    pub apps: Vec<String>,
    /// The commit that must be the staging slug's.
    pub git_ref: String,
    /// The repository.
    pub dir: PathBuf,
    /// Ship the staging slug whatever its commit.
    pub any_commit: bool,
    /// The kill switch variable.
    pub enabled_by: Option<String>,
    /// Override the rollback and older-commit guards.
    pub force: bool,
    /// Decide and print the plan, change nothing.
    pub dry_run: bool,
    /// Bound on the whole step.
    pub timeout: Duration,
    /// Interval between status polls.
    pub poll: Duration,
    /// The state file.
    pub state: PathBuf,
}

/// Where release notes start: a revision, or the live commit of a Heroku app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotesFrom {
    /// `--from REV`.
    Rev(String),
    /// `--app APP`: the commit of the app's current release, read from its slug.
    App(String),
}

/// Options of `shipline notes`.
#[derive(Debug, Clone)]
pub struct NotesArgs {
    /// Where the range starts.
    pub from: NotesFrom,
    /// Where it ends.
    pub to: String,
    /// The repository.
    pub dir: PathBuf,
    /// List the merges of the main branch instead of skipping merges.
    pub first_parent: bool,
    /// Output format.
    pub format: NotesFormat,
}

/// Options of `shipline notify`.
#[derive(Debug, Clone)]
pub struct NotifyArgs {
    /// The status to report; `None` derives it from the state file.
    pub status: Option<NotifyStatus>,
    /// Post only for these statuses; `None` posts for all.
    pub on: Option<Vec<NotifyStatus>>,
    /// Web API channel (required with `SLACK_BOT_TOKEN`).
    pub channel: Option<String>,
    /// A title replacing the default first line.
    pub title: Option<String>,
    /// Who to mention when the deploy failed, as given (validated by the step).
    pub mention_on_failure: Option<String>,
    /// The environment's name (`production`, `staging`), shown in the message; `None` takes
    /// the app's pipeline stage, else its name.
    pub environment: Option<String>,
    /// The apps to report on; empty takes those of the latest deploy or promote of the job.
    pub apps: Vec<String>,
    /// Where release notes start when the state file has none for the app: a revision
    /// (without it, the app's live commit).
    pub from: Option<String>,
    /// Where they end.
    pub to: String,
    /// The repository.
    pub dir: PathBuf,
    /// Follow first parents in the notes.
    pub first_parent: bool,
    /// Exit 1 when Slack fails, instead of warning.
    pub strict: bool,
    /// Print the payload instead of sending it.
    pub dry_run: bool,
    /// Bound on the whole step.
    pub timeout: Duration,
    /// The state file.
    pub state: PathBuf,
}

/// The CI whose build queue `shipline lock` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockProvider {
    /// CircleCI (API v2).
    CircleCi,
    /// GitHub Actions (REST).
    GitHub,
}

impl LockProvider {
    /// `--provider`'s spellings; the default, `None`, detects the CI from its variables.
    const WORDS: &[(&str, Option<LockProvider>)] = &[
        ("", None),
        ("circleci", Some(LockProvider::CircleCi)),
        ("circle", Some(LockProvider::CircleCi)),
        ("CircleCI", Some(LockProvider::CircleCi)),
        ("github", Some(LockProvider::GitHub)),
        ("github-actions", Some(LockProvider::GitHub)),
        ("GitHub", Some(LockProvider::GitHub)),
    ];
}

/// What `shipline lock` does when `--timeout` passes while it still waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnTimeout {
    /// Fail the step (exit 1): nothing deploys, failure notifications fire.
    Fail,
    /// Take the lock anyway, with a warning.
    Proceed,
}

impl OnTimeout {
    /// `--on-timeout`'s words, the default first.
    const WORDS: &[(&str, OnTimeout)] =
        &[("fail", OnTimeout::Fail), ("proceed", OnTimeout::Proceed)];
}

/// Options of `shipline lock`.
#[derive(Debug, Clone)]
pub struct LockArgs {
    /// The CI; `None` detects it.
    pub provider: Option<LockProvider>,
    /// The branch whose deploys queue together; `None` takes the CI's.
    pub branch: Option<String>,
    /// The job of the lock's name; `None` takes the current job's.
    pub job: Option<String>,
    /// CircleCI project slug (`gh/org/repo`, `circleci/<org-id>/<project-id>`); `None` derives
    /// it from the environment.
    pub project: Option<String>,
    /// Queue or latest.
    pub mode: LockMode,
    /// Builds on hold for an approval block too.
    pub include_on_hold: bool,
    /// Interval between polls; `None` is the provider's default.
    pub poll: Option<Duration>,
    /// How long to wait at most.
    pub timeout: Duration,
    /// What to do then.
    pub on_timeout: OnTimeout,
    /// Ignore builds whose job has run longer than this.
    pub stale_after: Option<Duration>,
    /// The state file.
    pub state: PathBuf,
    /// The command to run once the lock is held (`-- CMD ARGS...`); empty for none.
    pub command: Vec<OsString>,
}

/// Options of `shipline deploy`.
#[derive(Debug, Clone)]
pub struct DeployArgs {
    /// The Heroku app.
    pub app: String,
    /// The revision to deploy.
    pub git_ref: String,
    /// The repository.
    pub dir: PathBuf,
    /// The folder of the tree that is the app's root.
    pub subdir: Option<String>,
    /// The kill switch variable.
    pub enabled_by: Option<String>,
    /// Override the rollback and older-commit guards.
    pub force: bool,
    /// Fail instead of warning when preboot is off.
    pub require_preboot: bool,
    /// Decide and print the plan, change nothing.
    pub dry_run: bool,
    /// Bound on the whole step.
    pub timeout: Duration,
    /// Interval between status polls.
    pub poll: Duration,
    /// The state file.
    pub state: PathBuf,
}

/// Parses the command line (without the program name).
pub fn parse(args: Vec<OsString>) -> Result<Command, UsageError> {
    parse_with_env(args, &|name| std::env::var(name).ok())
}

/// Parses with an explicit environment lookup (pure, for tests).
pub fn parse_with_env(
    args: Vec<OsString>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Command, UsageError> {
    let mut args = args;
    // `shipline lock [options] -- CMD ARGS...`: everything after the first `--` is the command.
    let command = if args.first().is_some_and(|a| a == "lock") {
        match args.iter().position(|a| a == "--") {
            Some(at) => {
                let command = args.split_off(at + 1);
                args.pop();
                Some(command)
            }
            None => Some(Vec::new()),
        }
    } else {
        None
    };
    let raw: Vec<String> = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let mut args = Arguments::from_vec(args);
    let sub = args
        .subcommand()
        .map_err(|_| usage("the command name is not valid UTF-8"))?;
    match sub.as_deref() {
        None => {
            if args.contains(["-V", "--version"]) {
                return Ok(Command::Version);
            }
            if args.contains(["-h", "--help"]) {
                return Ok(Command::Help(flags::top_help()));
            }
            let rest = args.finish();
            if let Some(first) = rest.first() {
                return Err(usage(format!(
                    "unknown option `{}`; see `shipline --help`",
                    first.to_string_lossy()
                )));
            }
            Err(usage("no command given; see `shipline --help`"))
        }
        Some("-V" | "--version") => Ok(Command::Version),
        Some("-h" | "--help") => Ok(Command::Help(flags::top_help())),
        Some("help") => match args.subcommand().ok().flatten().as_deref() {
            None => Ok(Command::Help(flags::top_help())),
            Some(name) => help_of(name)
                .map(Command::Help)
                .ok_or_else(|| unknown(name)),
        },
        Some(name) => {
            let spec = command_spec(name).ok_or_else(|| unknown(name))?;
            if args.contains(["-h", "--help"]) {
                return Ok(Command::Help(spec.help()));
            }
            let o = Options::new(spec, args, env, &raw);
            match name {
                "lock" => parse_lock(o, command.unwrap_or_default()).map(Command::Lock),
                "deploy" => parse_deploy(o).map(Command::Deploy),
                "verify" => parse_verify(o).map(Command::Verify),
                "rollback" => parse_rollback(o).map(Command::Rollback),
                "promote" => parse_promote(o).map(Command::Promote),
                "notes" => parse_notes(o).map(Command::Notes),
                "notify" => parse_notify(o).map(Command::Notify),
                other => Err(unknown(other)),
            }
        }
    }
}

/// The help text of a command, or `None` when there is no such command.
fn help_of(name: &str) -> Option<String> {
    command_spec(name).map(Spec::help)
}

fn unknown(name: &str) -> UsageError {
    usage(format!("unknown command `{name}`; see `shipline --help`"))
}

fn parse_deploy(mut o: Options<'_>) -> Result<DeployArgs, UsageError> {
    let app = o.string("--app")?;
    let git_ref = o.text("--ref")?;
    let dir = o.text("--dir")?;
    let subdir = o.string("--subdir")?;
    let enabled_by = o.string("--enabled-by")?;
    let force = o.flag("--force")?;
    let require_preboot = o.flag("--require-preboot")?;
    let dry_run = o.flag("--dry-run")?;
    let timeout = o.required_duration("--timeout")?;
    let poll = o.required_duration("--poll")?;
    let state = o.string("--state")?;
    o.finish("deploy")?;

    let app = app
        .filter(|a| !a.trim().is_empty())
        .ok_or_else(|| usage("deploy needs the Heroku app: pass --app APP or set SHIPLINE_APP"))?;
    check_apps("--app", std::slice::from_ref(&app))?;
    check_enabled_by(enabled_by.as_deref())?;
    let subdir = match subdir {
        Some(s) => Some(normalize_subdir(&s)?),
        None => None,
    };
    Ok(DeployArgs {
        app,
        git_ref,
        dir: PathBuf::from(dir),
        subdir,
        enabled_by,
        force,
        require_preboot,
        dry_run,
        timeout,
        poll,
        state: state
            .map(PathBuf::from)
            .unwrap_or_else(crate::state::State::default_path),
    })
}

fn parse_notes(mut o: Options<'_>) -> Result<NotesArgs, UsageError> {
    let from = o.notes_from()?;
    let to = o.text("--to")?;
    let dir = o.text("--dir")?;
    let first_parent = o.flag("--first-parent")?;
    let format = o.choice("--format", NotesFormat::WORDS, "text, markdown or json")?;
    o.finish("notes")?;
    if let Some(NotesFrom::App(app)) = &from {
        check_apps("--app", std::slice::from_ref(app))?;
    }
    let from = from.ok_or_else(|| {
        usage("notes needs where the range starts: --from REV, or --app APP for the commit live on Heroku")
    })?;
    Ok(NotesArgs {
        from,
        to,
        dir: PathBuf::from(dir),
        first_parent,
        format,
    })
}

fn parse_notify(mut o: Options<'_>) -> Result<NotifyArgs, UsageError> {
    let status = match o.string("--status")? {
        None => None,
        Some(text) => Some(NotifyStatus::parse(&text).ok_or_else(|| {
            usage(format!(
                "--status takes started, succeeded, failed or skipped (or GitHub's success, failure, cancelled), not `{text}`"
            ))
        })?),
    };
    let on = match o.string("--on")? {
        None => None,
        Some(text) => Some(
            text.split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(|t| {
                    NotifyStatus::parse(t).ok_or_else(|| {
                        usage(format!(
                            "--on takes a comma-separated list of started, succeeded, failed, skipped; `{t}` is none of them"
                        ))
                    })
                })
                .collect::<Result<Vec<_>, _>>()?,
        ),
    };
    let channel = o.string("--channel")?;
    let title = o.string("--title")?;
    let mention_on_failure = o.string("--mention-on-failure")?;
    let environment = o.string("--environment")?;
    let apps = o.list("--app", is_list_separator)?;
    let from = o.string("--from")?;
    let to = o.text("--to")?;
    let dir = o.text("--dir")?;
    let first_parent = o.flag("--first-parent")?;
    let strict = o.flag("--strict")?;
    let dry_run = o.flag("--dry-run")?;
    let timeout = o.required_duration("--timeout")?;
    let state = o.string("--state")?;
    o.finish("notify")?;
    check_apps("--app", &apps)?;
    Ok(NotifyArgs {
        status,
        on,
        channel,
        title,
        mention_on_failure,
        environment,
        apps,
        from,
        to,
        dir: PathBuf::from(dir),
        first_parent,
        strict,
        dry_run,
        timeout,
        state: state
            .map(PathBuf::from)
            .unwrap_or_else(crate::state::State::default_path),
    })
}

fn parse_verify(mut o: Options<'_>) -> Result<VerifyArgs, UsageError> {
    let apps = o.list("--app", is_list_separator)?;
    let release = match o.string("--release")? {
        None => None,
        Some(text) => Some(
            text.trim()
                .trim_start_matches(['v', 'V'])
                .parse::<u64>()
                .map_err(|_| {
                    usage(format!(
                        "--release takes a version such as v42, not `{text}`"
                    ))
                })?,
        ),
    };
    let checks = o.list("--check", char::is_whitespace)?;
    for url in &checks {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(usage(format!(
                "--check takes an http:// or https:// URL, not `{url}`"
            )));
        }
    }
    let expect_status = match o.string("--expect-status")? {
        None => StatusSet::parse("200").expect("200 is a status"),
        Some(text) => StatusSet::parse(&text).map_err(|why| {
            usage(format!(
                "--expect-status takes statuses such as 200, 200,204, 2xx or 200-299: {why}"
            ))
        })?,
    };
    let expect_body = o.string("--expect-body")?;
    let max_latency = o.duration("--max-latency")?;
    let check_headers = o
        .list("--check-header", |c| c == '\n')?
        .into_iter()
        .map(|h| match h.split_once(':') {
            Some((name, value)) if !name.trim().is_empty() && !name.contains(' ') => {
                Ok((name.trim().to_string(), value.trim().to_string()))
            }
            _ => Err(usage(format!(
                "--check-header takes NAME:VALUE, e.g. `Authorization: Bearer ...`, not `{}`",
                h.split(':').next().unwrap_or_default()
            ))),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let follow_redirects = o.flag("--follow-redirects")?;
    let wait_preboot = o.flag("--wait-preboot")?;
    let rollback_on_failure = o.flag("--rollback-on-failure")?;
    let timeout = o.required_duration("--timeout")?;
    let poll = o.required_duration("--poll")?;
    let state = o.string("--state")?;
    o.finish("verify")?;
    check_apps("--app", &apps)?;
    if release.is_some() && apps.len() > 1 {
        return Err(usage(
            "--release names one release, but --app gives several apps; verify them in separate steps",
        ));
    }
    Ok(VerifyArgs {
        apps,
        release,
        checks,
        expect_status,
        expect_body,
        max_latency,
        check_headers,
        follow_redirects,
        wait_preboot,
        rollback_on_failure,
        timeout,
        poll,
        state: state_path(state),
    })
}

fn parse_rollback(mut o: Options<'_>) -> Result<RollbackArgs, UsageError> {
    let app = o.string("--app")?;
    let to = match o.string("--to")? {
        None => None,
        Some(text) => Some(
            text.trim()
                .trim_start_matches(['v', 'V'])
                .parse::<u64>()
                .map_err(|_| {
                    usage(format!(
                        "--to takes a release version such as v41, not `{text}`"
                    ))
                })?,
        ),
    };
    let dry_run = o.flag("--dry-run")?;
    let timeout = o.required_duration("--timeout")?;
    let poll = o.required_duration("--poll")?;
    let state = o.string("--state")?;
    o.finish("rollback")?;
    check_apps("--app", app.as_slice())?;
    Ok(RollbackArgs {
        app,
        to,
        dry_run,
        timeout,
        poll,
        state: state_path(state),
    })
}

fn parse_promote(mut o: Options<'_>) -> Result<PromoteArgs, UsageError> {
    let from = o.string("--from")?;
    let apps = o.list("--app", is_list_separator)?;
    let git_ref = o.text("--ref")?;
    let dir = o.text("--dir")?;
    let any_commit = o.flag("--any-commit")?;
    let enabled_by = o.string("--enabled-by")?;
    let force = o.flag("--force")?;
    let dry_run = o.flag("--dry-run")?;
    let timeout = o.required_duration("--timeout")?;
    let poll = o.required_duration("--poll")?;
    let state = o.string("--state")?;
    o.finish("promote")?;
    check_apps("--from", from.as_slice())?;
    check_apps("--app", &apps)?;
    let from = from.ok_or_else(|| {
        usage("promote needs the staging app: pass --from STAGING_APP or set SHIPLINE_FROM")
    })?;
    if apps.is_empty() {
        return Err(usage(
            "promote needs the production app: pass --app PRODUCTION_APP (repeatable) or set SHIPLINE_APP",
        ));
    }
    if apps.contains(&from) {
        return Err(usage(format!(
            "--from and --app both name `{from}`: promote ships one app's slug to others"
        )));
    }
    for (i, app) in apps.iter().enumerate() {
        if apps[..i].contains(app) {
            return Err(usage(format!("--app names `{app}` twice")));
        }
    }
    check_enabled_by(enabled_by.as_deref())?;
    Ok(PromoteArgs {
        from,
        apps,
        git_ref,
        dir: PathBuf::from(dir),
        any_commit,
        enabled_by,
        force,
        dry_run,
        timeout,
        poll,
        state: state_path(state),
    })
}

fn parse_lock(mut o: Options<'_>, command: Vec<OsString>) -> Result<LockArgs, UsageError> {
    let provider = o.choice("--provider", LockProvider::WORDS, "circleci or github")?;
    let branch = o.string("--branch")?;
    let job = o.string("--job")?;
    let project = o.string("--project")?;
    let mode = o.choice("--mode", LockMode::WORDS, LockMode::TAKES)?;
    let include_on_hold = o.flag("--include-on-hold")?;
    let poll = o.duration("--poll")?;
    let timeout = o.required_duration("--timeout")?;
    let on_timeout = o.choice("--on-timeout", OnTimeout::WORDS, "fail or proceed")?;
    let stale_after = o.duration("--stale-after")?;
    let state = o.string("--state")?;
    o.finish("lock")?;
    if let Some(project) = &project {
        crate::circleci::ProjectSlug::parse(project)
            .map_err(|why| usage(format!("--project: {why}")))?;
    }
    Ok(LockArgs {
        provider,
        branch: branch.filter(|b| !b.trim().is_empty()),
        job: job.filter(|j| !j.trim().is_empty()),
        project,
        mode,
        include_on_hold,
        poll,
        timeout,
        on_timeout,
        stale_after,
        state: state_path(state),
        command,
    })
}

fn state_path(flag: Option<String>) -> PathBuf {
    flag.map(PathBuf::from)
        .unwrap_or_else(crate::state::State::default_path)
}

/// Reads the flags of one command through its table: the value on the command line, else the
/// flag's variable, else the table's default.
struct Options<'a> {
    spec: &'static Spec,
    args: Arguments,
    env: &'a dyn Fn(&str) -> Option<String>,
    /// The command line as given, to tell whether a value came from a flag or a variable.
    raw: &'a [String],
}

impl<'a> Options<'a> {
    fn new(
        spec: &'static Spec,
        args: Arguments,
        env: &'a dyn Fn(&str) -> Option<String>,
        raw: &'a [String],
    ) -> Options<'a> {
        Options {
            spec,
            args,
            env,
            raw,
        }
    }

    /// The table's entry for `flag`; reading a flag the table lacks is a bug of the parser.
    fn entry(&self, flag: &str, value: Value) -> &'static Flag {
        let entry = self.spec.flag(flag).unwrap_or_else(|| {
            panic!(
                "`shipline {}` reads {flag}, which its table lacks",
                self.spec.name
            )
        });
        assert_eq!(
            entry.value, value,
            "{flag} of {} is read as {value:?}",
            self.spec.name
        );
        entry
    }

    /// Fails on whatever is left on the command line, naming it and the command's help.
    fn finish(self, command: &str) -> Result<(), UsageError> {
        finish(self.args, command)
    }

    /// A value given on the command line or in the flag's variable.
    fn given(&mut self, entry: &'static Flag) -> Result<Option<String>, UsageError> {
        let flag = entry.name;
        match self.args.opt_value_from_str::<_, String>(flag) {
            Ok(Some(v)) => Ok(Some(v)),
            Ok(None) => Ok((self.env)(&entry.env_var()).filter(|v| !v.is_empty())),
            Err(pico_args::Error::OptionWithoutAValue(_)) => {
                Err(usage(format!("{flag} needs a value")))
            }
            Err(pico_args::Error::Utf8ArgumentParsingFailed { .. })
            | Err(pico_args::Error::NonUtf8Argument) => {
                Err(usage(format!("the value of {flag} is not valid UTF-8")))
            }
            Err(e) => Err(usage(format!("{flag}: {e}"))),
        }
    }

    /// A text flag: given, else the table's default value, else `None`.
    fn string(&mut self, flag: &'static str) -> Result<Option<String>, UsageError> {
        let entry = self.entry(flag, Value::Text);
        Ok(self.given(entry)?.or_else(|| match entry.default {
            FlagDefault::Value(v) => Some(v.to_string()),
            FlagDefault::None | FlagDefault::Described(_) => None,
        }))
    }

    /// A text flag whose table entry has a default value.
    fn text(&mut self, flag: &'static str) -> Result<String, UsageError> {
        Ok(self
            .string(flag)?
            .unwrap_or_else(|| panic!("{flag} has no default value in its table")))
    }

    /// A repeatable flag; its variable holds the values separated by `split`.
    fn list(
        &mut self,
        flag: &'static str,
        split: fn(char) -> bool,
    ) -> Result<Vec<String>, UsageError> {
        let entry = self.entry(flag, Value::List);
        let values: Vec<String> = self.args.values_from_str(flag).map_err(|e| match e {
            pico_args::Error::OptionWithoutAValue(_) => usage(format!("{flag} needs a value")),
            other => usage(format!("{flag}: {other}")),
        })?;
        if !values.is_empty() {
            return Ok(values);
        }
        Ok((self.env)(&entry.env_var())
            .map(|v| {
                v.split(split)
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default())
    }

    /// `--from REV` or `--app APP`, not both (`shipline notes`).
    fn notes_from(&mut self) -> Result<Option<NotesFrom>, UsageError> {
        let from = self.string("--from")?;
        let app = self.string("--app")?;
        match (from, app) {
            (Some(_), Some(_)) => Err(usage(
                "--from and --app both say where the notes start; give one of them",
            )),
            (Some(rev), None) => Ok(Some(NotesFrom::Rev(rev))),
            (None, Some(app)) => Ok(Some(NotesFrom::App(app))),
            (None, None) => Ok(None),
        }
    }

    /// One of a fixed set of `words` (the first listed is the default when the flag is not
    /// given); anything else is an error that says what the flag `takes`.
    fn choice<T: Copy>(
        &mut self,
        flag: &'static str,
        words: &[(&str, T)],
        takes: &str,
    ) -> Result<T, UsageError> {
        let Some(given) = self.string(flag)? else {
            return Ok(words[0].1);
        };
        let word = given.trim();
        words
            .iter()
            .find(|(spelling, _)| *spelling == word)
            .map(|(_, value)| *value)
            .ok_or_else(|| usage(format!("{flag} takes {takes}, not `{word}`")))
    }

    /// A switch: on the command line, else its variable as true/false.
    fn flag(&mut self, flag: &'static str) -> Result<bool, UsageError> {
        let entry = self.entry(flag, Value::Switch);
        if self.args.contains(flag) {
            return Ok(true);
        }
        let name = entry.env_var();
        match (self.env)(&name) {
            None => Ok(false),
            Some(v) => crate::ci::parse_bool(&v).ok_or_else(|| {
                usage(format!(
                    "{name} must be true or false (also accepted: 1/0, yes/no), not `{v}`"
                ))
            }),
        }
    }

    /// A duration flag: given, else the table's default value, else `None`.
    fn duration(&mut self, flag: &'static str) -> Result<Option<Duration>, UsageError> {
        let entry = self.entry(flag, Value::Duration);
        let from_env = !self
            .raw
            .iter()
            .any(|a| a == flag || a.starts_with(&format!("{flag}=")));
        let Some(text) = self.given(entry)? else {
            return Ok(match entry.default {
                FlagDefault::Value(v) => {
                    Some(parse_duration(v).expect("the table's durations parse"))
                }
                FlagDefault::None | FlagDefault::Described(_) => None,
            });
        };
        let source = if from_env {
            entry.env_var()
        } else {
            flag.to_string()
        };
        let d = parse_duration(&text).map_err(|why| {
            usage(format!(
                "{source} takes a duration such as 30s, 5m or 1h30m, not `{text}`: {why}"
            ))
        })?;
        if d.is_zero() {
            return Err(usage(format!("{source} must be longer than zero")));
        }
        if d > MAX_DURATION {
            return Err(usage(format!(
                "{source} is `{text}`, longer than the most shipline waits for anything ({}): a CI job is stopped long before; pass at most 24h",
                crate::time::human(MAX_DURATION)
            )));
        }
        Ok(Some(d))
    }

    /// A duration flag whose table entry has a default value.
    fn required_duration(&mut self, flag: &'static str) -> Result<Duration, UsageError> {
        Ok(self
            .duration(flag)?
            .unwrap_or_else(|| panic!("{flag} has no default value in its table")))
    }
}

/// Every app must be one Heroku can name, before it becomes part of a request path.
fn check_apps(flag: &str, apps: &[String]) -> Result<(), UsageError> {
    for app in apps {
        crate::heroku::check_app(
            &format!("{flag} (SHIPLINE_{})", &flag[2..].to_uppercase()),
            app,
        )
        .map_err(UsageError)?;
    }
    Ok(())
}

/// How a variable holding several apps separates them: commas or whitespace
/// (`SHIPLINE_APP="shop shop-eu"`).
fn is_list_separator(c: char) -> bool {
    c == ',' || c.is_whitespace()
}

fn finish(args: Arguments, command: &str) -> Result<(), UsageError> {
    let rest = args.finish();
    match rest.first() {
        None => Ok(()),
        Some(arg) => {
            let arg = arg.to_string_lossy();
            if arg.starts_with('-') {
                Err(usage(format!(
                    "unknown option `{arg}`; see `shipline {command} --help`"
                )))
            } else {
                Err(usage(format!(
                    "unexpected argument `{arg}`; see `shipline {command} --help`"
                )))
            }
        }
    }
}

/// `--enabled-by` → `SHIPLINE_ENABLED_BY`.
pub fn env_name(flag: &str) -> String {
    format!(
        "SHIPLINE_{}",
        flag.trim_start_matches('-')
            .replace('-', "_")
            .to_uppercase()
    )
}

/// `--enabled-by` names a variable; `$X` or `X=true` there is a mistake worth saying.
fn check_enabled_by(var: Option<&str>) -> Result<(), UsageError> {
    match var {
        Some(var) if !is_env_name(var) => Err(usage(format!(
            "--enabled-by takes the name of an environment variable (letters, digits and _), not `{var}`"
        ))),
        _ => Ok(()),
    }
}

fn is_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The longest duration any flag takes. Bounding every duration here means no deadline
/// computed from one (`Instant::now() + timeout`) can overflow.
pub const MAX_DURATION: Duration = Duration::from_secs(24 * 3600);

/// Parses `500ms`, `10s`, `5m`, `1h`, `1h30m`, `2m30s`; a bare number is seconds.
pub fn parse_duration(text: &str) -> Result<Duration, &'static str> {
    let text = text.trim();
    if text.is_empty() {
        return Err("it is empty");
    }
    if let Ok(secs) = text.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .ok_or("a number needs a unit (ms, s, m or h)")?;
        if digits == 0 {
            return Err("expected a number");
        }
        let number = &rest[..digits];
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let unit = match unit {
            "ms" => Duration::from_millis(1),
            "s" => Duration::from_secs(1),
            "m" => Duration::from_secs(60),
            "h" => Duration::from_secs(3600),
            _ => return Err("units are ms, s, m and h"),
        };
        let limit = Duration::from_secs(1_000_000_000);
        let part = crate::time::decimal(number, unit, limit)?;
        total = total
            .checked_add(part)
            .filter(|t| *t <= limit)
            .ok_or(crate::time::TOO_LONG)?;
    }
    Ok(total)
}

fn normalize_subdir(text: &str) -> Result<String, UsageError> {
    let trimmed = text.trim().trim_start_matches("./").trim_matches('/');
    if trimmed.is_empty() || trimmed == "." {
        return Err(usage(
            "--subdir needs a folder of the repository, e.g. `apps/web` (omit it to deploy the whole tree)",
        ));
    }
    if trimmed
        .split('/')
        .any(|part| part.is_empty() || part == "." || part == "..")
    {
        return Err(usage(format!(
            "--subdir `{text}` must be a plain relative path inside the repository, without `.`, `..` or empty parts"
        )));
    }
    Ok(trimmed.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_args(args: &[&str], env: &[(&str, &str)]) -> Result<Command, UsageError> {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let lookup = move |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        parse_with_env(args.iter().map(OsString::from).collect(), &lookup)
    }

    fn deploy(args: &[&str], env: &[(&str, &str)]) -> DeployArgs {
        match parse_args(args, env) {
            Ok(Command::Deploy(d)) => d,
            other => panic!("expected deploy, got {other:?}"),
        }
    }

    fn error(args: &[&str], env: &[(&str, &str)]) -> String {
        parse_args(args, env).unwrap_err().0
    }

    #[test]
    fn flags_win_over_environment() {
        let d = deploy(
            &["deploy", "--app", "from-flag"],
            &[("SHIPLINE_APP", "from-env"), ("SHIPLINE_REF", "main")],
        );
        assert_eq!(d.app, "from-flag");
        assert_eq!(d.git_ref, "main");
        let d = deploy(&["deploy"], &[("SHIPLINE_APP", "from-env")]);
        assert_eq!(d.app, "from-env");
        assert_eq!(d.timeout, Duration::from_secs(1800));
        assert_eq!(d.state, PathBuf::from(".shipline/state.json"));
    }

    #[test]
    fn booleans_from_flags_and_environment() {
        let d = deploy(
            &["deploy", "--app=shop", "--force"],
            &[("SHIPLINE_DRY_RUN", "1")],
        );
        assert!(d.force && d.dry_run && !d.require_preboot);
        let e = error(&["deploy", "--app=shop"], &[("SHIPLINE_FORCE", "maybe")]);
        assert!(e.contains("SHIPLINE_FORCE") && e.contains("maybe"), "{e}");
    }

    #[test]
    fn usage_errors_name_the_flag() {
        assert!(error(&["deploy", "--app"], &[]).contains("--app needs a value"));
        assert!(error(&["deploy", "--app", "shop", "--bogus"], &[]).contains("`--bogus`"));
        let e = error(&["deploy", "--app", "shop", "--timeout", "soon"], &[]);
        assert!(e.contains("--timeout") && e.contains("soon"), "{e}");
        let e = error(&["deploy", "--app", "shop"], &[("SHIPLINE_TIMEOUT", "5x")]);
        assert!(e.contains("SHIPLINE_TIMEOUT"), "{e}");
        assert!(error(&["deploy"], &[]).contains("--app APP"));
        assert!(error(&["deploy", "--app", "shop", "--subdir", "../x"], &[]).contains("--subdir"));
        assert!(
            error(&["deploy", "--app", "shop", "--enabled-by", "$X"], &[]).contains("--enabled-by")
        );
        assert!(error(&["launch"], &[]).contains("unknown command `launch`"));
        assert!(error(&["deploy", "--app", "shop", "--poll", "0s"], &[]).contains("--poll"));
    }

    #[test]
    fn help_and_version() {
        assert!(matches!(
            parse_args(&["--version"], &[]),
            Ok(Command::Version)
        ));
        assert!(matches!(
            parse_args(&["--help"], &[]),
            Ok(Command::Help(h)) if h == flags::top_help()
        ));
        assert!(matches!(
            parse_args(&["deploy", "--help"], &[]),
            Ok(Command::Help(h)) if h.starts_with("Deploy a commit")
        ));
        assert!(matches!(
            parse_args(&["help", "deploy"], &[]),
            Ok(Command::Help(h)) if h.starts_with("Deploy a commit")
        ));
    }

    #[test]
    fn notes_and_notify_options() {
        match parse_args(&["notes", "--app", "demo", "--format", "json"], &[]) {
            Ok(Command::Notes(n)) => {
                assert_eq!(n.from, NotesFrom::App("demo".into()));
                assert_eq!(n.format, NotesFormat::Json);
                assert_eq!(n.to, "HEAD");
            }
            other => panic!("{other:?}"),
        }
        assert!(error(&["notes"], &[]).contains("--from REV"));
        assert!(error(&["notes", "--from", "a", "--app", "b"], &[]).contains("give one of them"));
        assert!(error(&["notes", "--from", "a", "--format", "xml"], &[]).contains("--format"));
        match parse_args(
            &["notify", "--on", "failed, success", "--status", "failure"],
            &[("SHIPLINE_CHANNEL", "C0123")],
        ) {
            Ok(Command::Notify(n)) => {
                assert_eq!(n.status, Some(NotifyStatus::Failed));
                assert_eq!(
                    n.on,
                    Some(vec![NotifyStatus::Failed, NotifyStatus::Succeeded])
                );
                assert_eq!(n.channel.as_deref(), Some("C0123"));
                assert!(n.from.is_none());
            }
            other => panic!("{other:?}"),
        }
        assert!(error(&["notify", "--on", "failed,maybe"], &[]).contains("`maybe`"));
        assert!(error(&["notify", "--status", "great"], &[]).contains("--status"));
        assert!(error(&["notify", "--bogus"], &[]).contains("shipline notify --help"));
    }

    #[test]
    fn lock_options_and_the_command_after_the_separator() {
        match parse_args(
            &[
                "lock", "--mode", "latest", "--poll", "2s", "--", "make", "deploy", "--app", "x",
            ],
            &[
                ("SHIPLINE_ON_TIMEOUT", "proceed"),
                ("SHIPLINE_JOB", "deploy prod"),
            ],
        ) {
            Ok(Command::Lock(l)) => {
                assert_eq!(l.mode, LockMode::Latest);
                assert_eq!(l.poll, Some(Duration::from_secs(2)));
                assert_eq!(l.on_timeout, OnTimeout::Proceed);
                assert_eq!(l.job.as_deref(), Some("deploy prod"));
                assert_eq!(l.timeout, Duration::from_secs(1800));
                assert_eq!(l.command, ["make", "deploy", "--app", "x"]);
                assert!(l.provider.is_none() && l.stale_after.is_none() && !l.include_on_hold);
            }
            other => panic!("{other:?}"),
        }
        match parse_args(&["lock", "--provider", "circleci"], &[]) {
            Ok(Command::Lock(l)) => {
                assert_eq!(l.provider, Some(LockProvider::CircleCi));
                assert!(l.command.is_empty());
                assert_eq!(l.mode, LockMode::Queue);
                assert_eq!(l.on_timeout, OnTimeout::Fail);
            }
            other => panic!("{other:?}"),
        }
        assert!(error(&["lock", "--mode", "newest"], &[]).contains("--mode"));
        assert!(error(&["lock", "--on-timeout", "wait"], &[]).contains("--on-timeout"));
        assert!(error(&["lock", "--provider", "jenkins"], &[]).contains("--provider"));
        assert!(error(&["lock", "--project", "acme/shop"], &[]).contains("--project"));
        assert!(error(&["lock", "make"], &[]).contains("unexpected argument `make`"));
        assert!(
            error(&["lock"], &[("SHIPLINE_STALE_AFTER", "soon")]).contains("SHIPLINE_STALE_AFTER")
        );
        // Only lock takes a command.
        assert!(error(&["deploy", "--app", "shop", "--", "x"], &[]).contains("`--`"));
        assert!(matches!(
            parse_args(&["help", "lock"], &[]),
            Ok(Command::Help(h)) if h.starts_with("One deploy at a time")
        ));
    }

    #[test]
    fn every_flag_of_the_table_is_read_and_in_the_help() {
        for spec in COMMANDS {
            let help = spec.help();
            for flag in spec.flags {
                let var = flag.env_var();
                assert!(
                    help.contains(flag.name),
                    "{} --help lacks {}",
                    spec.name,
                    flag.name
                );
                assert!(help.contains(&var), "{} --help lacks {var}", spec.name);
                if let FlagDefault::Value(v) = flag.default {
                    if flag.value == Value::Duration {
                        assert!(parse_duration(v).is_ok(), "{}: {v}", flag.name);
                    }
                }
                // Set through its variable with a value the flag may well refuse: whatever the
                // parser says, it must not be that the option is unknown (read by no one).
                let sample = match flag.value {
                    Value::Switch => "true",
                    Value::Duration => "1s",
                    Value::Text | Value::List => "x",
                };
                let args = [spec.name, flag.name, sample];
                let args: &[&str] = if flag.value == Value::Switch {
                    &args[..2]
                } else {
                    &args
                };
                if let Err(e) = parse_args(args, &[]) {
                    assert!(!e.0.contains("unknown option"), "{}: {}", spec.name, e.0);
                }
            }
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m30s"), Ok(Duration::from_secs(150)));
        assert_eq!(parse_duration("45"), Ok(Duration::from_secs(45)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("0.1s"), Ok(Duration::from_millis(100)));
        assert_eq!(parse_duration(".5m"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("1.5h"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("1.5.2s"), Err("bad number"));
        assert_eq!(parse_duration(".s"), Err("bad number"));
        assert_eq!(parse_duration("99999999999h"), Err("too long"));
        assert_eq!(
            parse_duration("999999999999999999999999999999999999999999h"),
            Err("too long")
        );
        assert_eq!(parse_duration("600000000m600000000m"), Err("too long"));
        assert!(parse_duration("10").is_ok());
        assert!(parse_duration("m").is_err());
        assert!(parse_duration("10d").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn subdirs_are_normalised() {
        assert_eq!(normalize_subdir("./apps/web/").unwrap(), "apps/web");
        assert!(normalize_subdir("/").is_err());
        assert!(normalize_subdir("a//b").is_err());
    }
}
