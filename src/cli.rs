//! Command line → typed commands, and the help texts.
//!
//! Every flag also reads an environment variable `SHIPLINE_<FLAG>` (upper snake case), so a CI
//! config can set options once for a whole job; a flag on the command line wins. Anything the
//! parser cannot accept is a [`UsageError`] naming the flag or variable: exit code 2.

use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use pico_args::Arguments;

/// Bad usage or configuration: exit code 2.
#[derive(Debug)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

fn usage(message: impl Into<String>) -> UsageError {
    UsageError(message.into())
}

/// What the user asked for.
#[derive(Debug)]
pub enum Command {
    /// Print a help text.
    Help(&'static str),
    /// Print the version.
    Version,
    /// `shipline deploy`.
    Deploy(DeployArgs),
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

/// The top-level help.
pub const HELP: &str = "\
shipline — continuous deployment from CI to Heroku, one step per CI config line

Usage: shipline <COMMAND> [OPTIONS]

Commands:
  deploy    Deploy a commit to a Heroku app through the Platform API, behind safety guards

Options:
  -h, --help       Print help (`shipline <COMMAND> --help` for a command's options)
  -V, --version    Print the version

Every option can also be set as an environment variable SHIPLINE_<OPTION> (e.g. --app and
SHIPLINE_APP); an option on the command line wins.

Exit codes: 0 done or deliberately skipped (the reason is printed and recorded),
            1 the step failed, 2 usage or configuration error.
";

/// The help of `shipline deploy`.
pub const DEPLOY_HELP: &str = "\
Deploy a commit to a Heroku app through the Platform API (no Heroku CLI, no git push)

Usage: shipline deploy --app APP [OPTIONS]

Guards, in order; each ends the step as skipped (exit 0) with the reason printed and recorded:
  kill switch    --enabled-by VAR is given, CI is `true` and $VAR is not `true`
  rollback       the live release is a rollback (`Rollback to vN`): continuous deployment stays
                 paused until someone deploys with --force
  already live   the live release runs the commit being deployed
  older commit   the commit being deployed is an ancestor of the live commit

Options:
      --app APP            Heroku app to deploy to (name or id)             [SHIPLINE_APP]
      --ref REV            Revision to deploy [default: HEAD]               [SHIPLINE_REF]
      --dir PATH           Path of the git repository [default: .]          [SHIPLINE_DIR]
      --subdir PATH        Deploy only this folder of the tree as the app root (monorepos)
                                                                            [SHIPLINE_SUBDIR]
      --enabled-by VAR     Kill switch: in CI, deploy only when $VAR is `true`
                                                                            [SHIPLINE_ENABLED_BY]
      --force              Deploy over a rollback or over newer code        [SHIPLINE_FORCE]
      --require-preboot    Fail when preboot is off instead of warning      [SHIPLINE_REQUIRE_PREBOOT]
      --dry-run            Run the guards and print the plan; upload, build and release nothing
                                                                            [SHIPLINE_DRY_RUN]
      --timeout DURATION   Bound on the whole step [default: 30m]           [SHIPLINE_TIMEOUT]
      --poll DURATION      Interval between build and release status checks [default: 3s]
                                                                            [SHIPLINE_POLL]
      --state PATH         State file shared with later steps [default: .shipline/state.json]
                                                                            [SHIPLINE_STATE]
  -h, --help               Print help

Environment:
  HEROKU_API_KEY             Heroku API key or OAuth token (required)
  SHIPLINE_HEROKU_API_URL    Heroku API base [default: https://api.heroku.com]

Durations: 500ms, 10s, 5m, 1h, 1h30m (a bare number is seconds).
";

/// Parses the command line (without the program name).
pub fn parse(args: Vec<OsString>) -> Result<Command, UsageError> {
    parse_with_env(args, &|name| std::env::var(name).ok())
}

/// Parses with an explicit environment lookup (pure, for tests).
pub fn parse_with_env(
    args: Vec<OsString>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Command, UsageError> {
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
                return Ok(Command::Help(HELP));
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
        Some("-h" | "--help") => Ok(Command::Help(HELP)),
        Some("help") => match args.subcommand().ok().flatten().as_deref() {
            Some("deploy") => Ok(Command::Help(DEPLOY_HELP)),
            None => Ok(Command::Help(HELP)),
            Some(other) => Err(usage(format!(
                "unknown command `{other}`; see `shipline --help`"
            ))),
        },
        Some("deploy") => {
            if args.contains(["-h", "--help"]) {
                return Ok(Command::Help(DEPLOY_HELP));
            }
            parse_deploy(args, env, &raw).map(Command::Deploy)
        }
        Some(other) => Err(usage(format!(
            "unknown command `{other}`; see `shipline --help`"
        ))),
    }
}

fn parse_deploy(
    mut args: Arguments,
    env: &dyn Fn(&str) -> Option<String>,
    raw: &[String],
) -> Result<DeployArgs, UsageError> {
    let mut o = Options {
        args: &mut args,
        env,
        raw,
    };
    let app = o.string("--app")?;
    let git_ref = o.string("--ref")?.unwrap_or_else(|| "HEAD".to_string());
    let dir = o.string("--dir")?.unwrap_or_else(|| ".".to_string());
    let subdir = o.string("--subdir")?;
    let enabled_by = o.string("--enabled-by")?;
    let force = o.flag("--force")?;
    let require_preboot = o.flag("--require-preboot")?;
    let dry_run = o.flag("--dry-run")?;
    let timeout = o
        .duration("--timeout")?
        .unwrap_or(Duration::from_secs(30 * 60));
    let poll = o.duration("--poll")?.unwrap_or(Duration::from_secs(3));
    let state = o.string("--state")?;
    finish(args)?;

    let app = app
        .filter(|a| !a.trim().is_empty())
        .ok_or_else(|| usage("deploy needs the Heroku app: pass --app APP or set SHIPLINE_APP"))?;
    if let Some(var) = &enabled_by {
        if !is_env_name(var) {
            return Err(usage(format!(
                "--enabled-by takes the name of an environment variable (letters, digits and _), not `{var}`"
            )));
        }
    }
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
            .unwrap_or_else(crate::outcome::State::default_path),
    })
}

/// Reads flags with their `SHIPLINE_*` fallbacks.
struct Options<'a> {
    args: &'a mut Arguments,
    env: &'a dyn Fn(&str) -> Option<String>,
    /// The command line as given, to tell whether a value came from a flag or a variable.
    raw: &'a [String],
}

impl Options<'_> {
    fn string(&mut self, flag: &'static str) -> Result<Option<String>, UsageError> {
        match self.args.opt_value_from_str::<_, String>(flag) {
            Ok(Some(v)) => Ok(Some(v)),
            Ok(None) => Ok((self.env)(&env_name(flag)).filter(|v| !v.is_empty())),
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

    fn flag(&mut self, flag: &'static str) -> Result<bool, UsageError> {
        if self.args.contains(flag) {
            return Ok(true);
        }
        let name = env_name(flag);
        match (self.env)(&name) {
            None => Ok(false),
            Some(v) => parse_bool(&v).ok_or_else(|| {
                usage(format!(
                    "{name} must be true or false (also accepted: 1/0, yes/no), not `{v}`"
                ))
            }),
        }
    }

    fn duration(&mut self, flag: &'static str) -> Result<Option<Duration>, UsageError> {
        let from_env = !self
            .raw
            .iter()
            .any(|a| a == flag || a.starts_with(&format!("{flag}=")));
        let Some(text) = self.string(flag)? else {
            return Ok(None);
        };
        let source = if from_env {
            env_name(flag)
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
        Ok(Some(d))
    }
}

fn finish(args: Arguments) -> Result<(), UsageError> {
    let rest = args.finish();
    match rest.first() {
        None => Ok(()),
        Some(arg) => {
            let arg = arg.to_string_lossy();
            if arg.starts_with('-') {
                Err(usage(format!(
                    "unknown option `{arg}`; see `shipline deploy --help`"
                )))
            } else {
                Err(usage(format!(
                    "unexpected argument `{arg}`; see `shipline deploy --help`"
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

/// `true`/`false` and the usual spellings CI systems use.
pub fn parse_bool(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" | "" => Some(false),
        _ => None,
    }
}

fn is_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

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
        let number: f64 = rest[..digits].parse().map_err(|_| "bad number")?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let scale = match unit {
            "ms" => 0.001,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err("units are ms, s, m and h"),
        };
        let secs = number * scale;
        if !secs.is_finite() || secs > 1e9 {
            return Err("too long");
        }
        total += Duration::from_secs_f64(secs);
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
            &["deploy", "--app=a", "--force"],
            &[("SHIPLINE_DRY_RUN", "1")],
        );
        assert!(d.force && d.dry_run && !d.require_preboot);
        let e = error(&["deploy", "--app=a"], &[("SHIPLINE_FORCE", "maybe")]);
        assert!(e.contains("SHIPLINE_FORCE") && e.contains("maybe"), "{e}");
    }

    #[test]
    fn usage_errors_name_the_flag() {
        assert!(error(&["deploy", "--app"], &[]).contains("--app needs a value"));
        assert!(error(&["deploy", "--app", "a", "--bogus"], &[]).contains("`--bogus`"));
        let e = error(&["deploy", "--app", "a", "--timeout", "soon"], &[]);
        assert!(e.contains("--timeout") && e.contains("soon"), "{e}");
        let e = error(&["deploy", "--app", "a"], &[("SHIPLINE_TIMEOUT", "5x")]);
        assert!(e.contains("SHIPLINE_TIMEOUT"), "{e}");
        assert!(error(&["deploy"], &[]).contains("--app APP"));
        assert!(error(&["deploy", "--app", "a", "--subdir", "../x"], &[]).contains("--subdir"));
        assert!(
            error(&["deploy", "--app", "a", "--enabled-by", "$X"], &[]).contains("--enabled-by")
        );
        assert!(error(&["launch"], &[]).contains("unknown command `launch`"));
        assert!(error(&["deploy", "--app", "a", "--poll", "0s"], &[]).contains("--poll"));
    }

    #[test]
    fn help_and_version() {
        assert!(matches!(
            parse_args(&["--version"], &[]),
            Ok(Command::Version)
        ));
        assert!(matches!(
            parse_args(&["--help"], &[]),
            Ok(Command::Help(HELP))
        ));
        assert!(matches!(
            parse_args(&["deploy", "--help"], &[]),
            Ok(Command::Help(DEPLOY_HELP))
        ));
        assert!(matches!(
            parse_args(&["help", "deploy"], &[]),
            Ok(Command::Help(DEPLOY_HELP))
        ));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m30s"), Ok(Duration::from_secs(150)));
        assert_eq!(parse_duration("45"), Ok(Duration::from_secs(45)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
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
