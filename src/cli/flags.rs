//! Every command's flags, once, as data: name, value type, environment variable, default and
//! help. The parser reads values through this table, `--help` is generated from it, and
//! `tests/wrappers_match_flags.rs` checks that `action.yml` and the orb offer each flag.
//!
//! Adding a flag is one entry here (and reading it in the command's `parse_*`); the wrapper test
//! then says which input of the action and which parameter of the orb to add.

/// What a flag takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value {
    /// No value: present or not; its variable takes true/false (also 1/0, yes/no, on/off).
    Switch,
    /// One text value.
    Text,
    /// Repeatable; its variable holds several values (see the flag's help for the separator).
    List,
    /// A duration such as 500ms, 10s, 5m or 1h30m, at most 24h.
    Duration,
}

/// A flag's default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagDefault {
    /// None: the flag is optional and absent means "not given".
    None,
    /// A value the parser takes when neither the flag nor its variable is set.
    Value(&'static str),
    /// What happens without the flag, in words (resolved later, from the CI or the state file).
    Described(&'static str),
}

/// One flag of one command.
#[derive(Debug, Clone, Copy)]
pub struct Flag {
    /// `--app`.
    pub name: &'static str,
    /// The value's placeholder in help (`APP`); empty for a switch.
    pub placeholder: &'static str,
    /// What it takes.
    pub value: Value,
    /// The environment variable when it is not `SHIPLINE_<FLAG>`.
    pub env: Option<&'static str>,
    /// Its default.
    pub default: FlagDefault,
    /// The help line.
    pub help: &'static str,
    /// More help, printed under the line; empty for none.
    pub long: &'static str,
}

impl Flag {
    /// The environment variable: `SHIPLINE_<FLAG>` unless the table says otherwise.
    pub fn env_var(&self) -> String {
        self.env
            .map(str::to_string)
            .unwrap_or_else(|| super::env_name(self.name))
    }
}

/// One command: its help around the options, and its flags.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    /// `deploy`.
    pub name: &'static str,
    /// One line for the list of commands in `shipline --help`.
    pub summary: &'static str,
    /// The help above the options: the description and the usage line.
    pub about: &'static str,
    /// The flags.
    pub flags: &'static [Flag],
    /// The help below the options: environment, formats, exit codes.
    pub more: &'static str,
}

impl Spec {
    /// The flag named `name` (`--app`).
    pub fn flag(&self, name: &str) -> Option<&'static Flag> {
        self.flags.iter().find(|f| f.name == name)
    }

    /// `shipline <command> --help`.
    pub fn help(&self) -> String {
        const WIDTH: usize = 24;
        const INDENT: usize = 6 + WIDTH + 1;
        const LINE: usize = 100;
        let mut text = String::new();
        text.push_str(self.about);
        text.push_str("\nOptions:\n");
        for flag in self.flags {
            let left = if flag.placeholder.is_empty() {
                flag.name.to_string()
            } else {
                format!("{} {}", flag.name, flag.placeholder)
            };
            let mut line = format!("      {left:<WIDTH$} ");
            if left.len() >= WIDTH {
                line = format!("      {left}\n{:INDENT$}", "");
            }
            line.push_str(flag.help);
            let mut tail = String::new();
            if let FlagDefault::Value(v) | FlagDefault::Described(v) = flag.default {
                tail.push_str(&format!("[default: {v}] "));
            }
            tail.push_str(&format!("[{}]", flag.env_var()));
            let last = line.rsplit('\n').next().unwrap_or_default();
            if last.chars().count() + 1 + tail.chars().count() <= LINE {
                line.push(' ');
            } else {
                line.push_str(&format!("\n{:INDENT$}", ""));
            }
            line.push_str(&tail);
            text.push_str(&line);
            text.push('\n');
            for more in flag.long.lines() {
                text.push_str(&format!("{:INDENT$}{more}\n", ""));
            }
        }
        text.push_str(&format!("  -h, --help{:1$}Print help\n", "", INDENT - 12));
        text.push('\n');
        text.push_str(self.more);
        text
    }
}

/// Every command, in the order of `shipline --help`.
pub const COMMANDS: &[Spec] = &[
    Spec {
        name: "lock",
        summary:
            "One deploy at a time per branch on CircleCI or GitHub Actions; skip superseded builds",
        about: LOCK_ABOUT,
        flags: LOCK,
        more: LOCK_MORE,
    },
    Spec {
        name: "deploy",
        summary: "Deploy a commit to a Heroku app through the Platform API, behind safety guards",
        about: DEPLOY_ABOUT,
        flags: DEPLOY,
        more: DEPLOY_MORE,
    },
    Spec {
        name: "verify",
        summary:
            "Prove the new release is healthy: dynos up, endpoints answering; roll back if not",
        about: VERIFY_ABOUT,
        flags: VERIFY,
        more: VERIFY_MORE,
    },
    Spec {
        name: "rollback",
        summary: "Roll an app back to an earlier release",
        about: ROLLBACK_ABOUT,
        flags: ROLLBACK,
        more: ROLLBACK_MORE,
    },
    Spec {
        name: "promote",
        summary: "Ship the exact slug staging runs to production, behind the deploy guards",
        about: PROMOTE_ABOUT,
        flags: PROMOTE,
        more: PROMOTE_MORE,
    },
    Spec {
        name: "notes",
        summary: "Release notes: the commits between what is live and what is shipping",
        about: NOTES_ABOUT,
        flags: NOTES,
        more: NOTES_MORE,
    },
    Spec {
        name: "notify",
        summary: "Tell Slack what happened, with release notes and an on-call mention on failure",
        about: NOTIFY_ABOUT,
        flags: NOTIFY,
        more: NOTIFY_MORE,
    },
];

/// `shipline --help`: the commands of [`COMMANDS`] with their summaries, and what holds for
/// all of them.
pub fn top_help() -> String {
    let width = COMMANDS.iter().map(|c| c.name.len()).max().unwrap_or(0) + 2;
    let mut text = String::from(
        "shipline — continuous deployment from CI to Heroku, one step per CI config line\n\n\
         Usage: shipline <COMMAND> [OPTIONS]\n\nCommands:\n",
    );
    for command in COMMANDS {
        text.push_str(&format!("  {:width$}{}\n", command.name, command.summary));
    }
    text.push_str(TOP_MORE);
    text
}

/// The part of `shipline --help` below the commands.
const TOP_MORE: &str = "
Options:
  -h, --help       Print help (`shipline <COMMAND> --help` for a command's options)
  -V, --version    Print the version

Every option can also be set as an environment variable SHIPLINE_<OPTION> (e.g. --app and
SHIPLINE_APP); an option on the command line wins.

Exit codes: 0 done or deliberately skipped (the reason is printed and recorded),
            1 the step failed, 2 usage or configuration error.
";

/// The command named `name`.
pub fn command(name: &str) -> Option<&'static Spec> {
    COMMANDS.iter().find(|c| c.name == name)
}

const fn flag(
    name: &'static str,
    placeholder: &'static str,
    value: Value,
    default: FlagDefault,
    help: &'static str,
) -> Flag {
    Flag {
        name,
        placeholder,
        value,
        env: None,
        default,
        help,
        long: "",
    }
}

const fn switch(name: &'static str, help: &'static str) -> Flag {
    flag(name, "", Value::Switch, FlagDefault::None, help)
}

const fn long(flag: Flag, long: &'static str) -> Flag {
    Flag { long, ..flag }
}

use FlagDefault::{Described, None as NoDefault, Value as Is};
use Value::{Duration, List, Text};

#[rustfmt::skip]
const STATE: Flag = flag("--state", "PATH", Text, Is(".shipline/state.json"), "State file shared by the steps of a job");
#[rustfmt::skip]
const DIR: Flag = flag("--dir", "PATH", Text, Is("."), "Path of the git repository");

#[rustfmt::skip]
const LOCK: &[Flag] = &[
    flag("--provider", "CI", Text, Described("detected from CIRCLECI/GITHUB_ACTIONS"), "circleci or github"),
    long(flag("--branch", "NAME", Text, Described("CIRCLE_BRANCH, GITHUB_REF_NAME"), "Branch whose deploys queue together"), "Required on tag builds"),
    long(flag("--job", "NAME", Text, Described("CIRCLE_JOB, GITHUB_JOB"), "Job whose builds queue"), "On GitHub, pass the job's `name:` when it has one"),
    flag("--project", "SLUG", Text, Described("from CIRCLE_* variables"), "CircleCI only: gh/ORG/REPO, bb/ORG/REPO or circleci/ORG-ID/PROJECT-ID"),
    flag("--mode", "MODE", Text, Is("queue"), "queue or latest"),
    switch("--include-on-hold", "Builds waiting for a manual approval block too"),
    flag("--poll", "DURATION", Duration, Described("10s on CircleCI, 30s on GitHub"), "Interval between polls"),
    flag("--timeout", "DURATION", Duration, Is("30m"), "Longest wait"),
    flag("--on-timeout", "POLICY", Text, Is("fail"), "fail (exit 1, nothing deploys) or proceed (take the lock with a warning)"),
    long(flag("--stale-after", "DURATION", Duration, Described("off"), "Ignore (and report) a build whose job has been running longer than this"), "The escape from builds stuck running"),
    STATE,
];

#[rustfmt::skip]
const DEPLOY: &[Flag] = &[
    flag("--app", "APP", Text, NoDefault, "Heroku app to deploy to (name or id)"),
    flag("--ref", "REV", Text, Is("HEAD"), "Revision to deploy"),
    DIR,
    flag("--subdir", "PATH", Text, NoDefault, "Deploy only this folder of the tree as the app root (monorepos)"),
    flag("--enabled-by", "VAR", Text, NoDefault, "Kill switch: in CI, deploy only when $VAR is `true`"),
    switch("--force", "Deploy over a rollback or over newer code"),
    switch("--require-preboot", "Fail when preboot is off instead of warning"),
    switch("--dry-run", "Run the guards and print the plan; upload, build and release nothing"),
    flag("--timeout", "DURATION", Duration, Is("30m"), "Bound on the whole step"),
    flag("--poll", "DURATION", Duration, Is("3s"), "Interval between build and release status checks"),
    STATE,
];

#[rustfmt::skip]
const VERIFY: &[Flag] = &[
    flag("--app", "APP", List, Described("the apps of the job's latest deploy or promote"), "Heroku app; repeatable (variable: separated by commas or spaces)"),
    flag("--release", "vN", Text, Described("the deployed one"), "Release whose dynos must be up"),
    flag("--check", "URL", List, NoDefault, "Endpoint to check; repeatable (variable: whitespace-separated)"),
    flag("--expect-status", "LIST", Text, Is("200"), "Allowed statuses: 200, 200,204, 2xx, 200-299"),
    flag("--expect-body", "TEXT", Text, NoDefault, "Text the body must contain (e.g. the commit id)"),
    flag("--max-latency", "DURATION", Duration, NoDefault, "Slowest acceptable answer"),
    flag("--check-header", "N:V", List, NoDefault, "Header sent with each check; repeatable (variable: one per line)"),
    switch("--follow-redirects", "Follow redirects instead of judging the redirect"),
    switch("--wait-preboot", "Wait until the old release's dynos are gone"),
    switch("--rollback-on-failure", "Roll back when verification fails"),
    flag("--timeout", "DURATION", Duration, Is("5m"), "Bound on the whole step"),
    flag("--poll", "DURATION", Duration, Is("10s"), "Longest interval between polls and attempts"),
    STATE,
];

#[rustfmt::skip]
const ROLLBACK: &[Flag] = &[
    flag("--app", "APP", Text, Described("the app of the job's latest deploy or promote"), "Heroku app"),
    flag("--to", "vN", Text, Described("the previous release"), "Version to restore"),
    switch("--dry-run", "Show which release would be restored and its commit"),
    flag("--timeout", "DURATION", Duration, Is("10m"), "Bound on the whole step"),
    flag("--poll", "DURATION", Duration, Is("3s"), "Interval between status checks"),
    STATE,
];

#[rustfmt::skip]
const PROMOTE: &[Flag] = &[
    flag("--from", "APP", Text, NoDefault, "Staging app whose slug ships"),
    flag("--app", "APP", List, NoDefault, "Production app; repeatable (variable: separated by commas or spaces)"),
    flag("--ref", "REV", Text, Is("HEAD"), "Commit that must be the staging slug's"),
    DIR,
    switch("--any-commit", "Ship the staging slug whatever its commit"),
    flag("--enabled-by", "VAR", Text, NoDefault, "Kill switch: in CI, promote only when $VAR is `true`"),
    switch("--force", "Promote over a rollback or over newer code"),
    switch("--dry-run", "Run the guards and print the plan"),
    flag("--timeout", "DURATION", Duration, Is("30m"), "Bound on the whole step"),
    flag("--poll", "DURATION", Duration, Is("3s"), "Interval between status checks"),
    STATE,
];

#[rustfmt::skip]
const NOTES: &[Flag] = &[
    flag("--from", "REV", Text, NoDefault, "Where the range starts (the live commit)"),
    flag("--app", "APP", Text, NoDefault, "Start at the commit live on this Heroku app"),
    flag("--to", "REV", Text, Is("HEAD"), "Where the range ends"),
    DIR,
    switch("--first-parent", "Follow first parents: list the merges of the main branch (PR titles)"),
    flag("--format", "FORMAT", Text, Is("text"), "text, markdown or json"),
];

#[rustfmt::skip]
const NOTIFY: &[Flag] = &[
    long(flag("--status", "STATUS", Text, Described("derived from the state file"), "started, succeeded, failed or skipped"), "GitHub's success, failure and cancelled too"),
    flag("--on", "LIST", Text, NoDefault, "Post only for these statuses, e.g. failed,succeeded; otherwise exit 0 quietly"),
    flag("--channel", "ID", Text, NoDefault, "Slack channel for the Web API (an ID such as C0123ABC is best)"),
    flag("--title", "TEXT", Text, NoDefault, "First line of the message"),
    flag("--mention-on-failure", "M", Text, NoDefault, "Who to page on failure: <!subteam^S123>, <@U123> or <!here>"),
    flag("--app", "APP", List, Described("the apps of the job's latest deploy or promote"), "App to report on; repeatable, one message each"),
    flag("--environment", "NAME", Text, Described("the app's Heroku pipeline stage, else the app's name"), "Environment shown in the message"),
    flag("--from", "REV", Text, Described("the app's live commit"), "Where the release notes start when the state file has none for the app"),
    flag("--to", "REV", Text, Is("HEAD"), "Where they end"),
    DIR,
    switch("--first-parent", "Release notes from the merges of the main branch"),
    switch("--strict", "Exit 1 when Slack fails (by default: a warning and exit 0)"),
    switch("--dry-run", "Print the payload instead of sending it"),
    flag("--timeout", "DURATION", Duration, Is("1m"), "Bound on the whole step"),
    STATE,
];

const DEPLOY_ABOUT: &str = "\
Deploy a commit to a Heroku app through the Platform API (no Heroku CLI, no git push)

Usage: shipline deploy --app APP [OPTIONS]

Guards, in order; each ends the step as skipped (exit 0) with the reason printed and recorded:
  kill switch    --enabled-by VAR is given, CI is `true` and $VAR is not `true`
  rollback       the live release is a rollback (`Rollback to vN`): continuous deployment stays
                 paused until someone deploys with --force
  already live   the live release runs the commit being deployed
  older commit   the commit being deployed is an ancestor of the live commit
";

const DEPLOY_MORE: &str = "\
Environment:
  HEROKU_API_KEY             Heroku API key or OAuth token (required)
  SHIPLINE_HEROKU_API_URL    Heroku API base [default: https://api.heroku.com]

Durations: 500ms, 10s, 5m, 1h, 1h30m (a bare number is seconds).
";

const NOTES_ABOUT: &str = "\
Release notes: the commits between what is live and what is shipping, oldest first

Usage: shipline notes (--from REV | --app APP) [OPTIONS]

The range's case is said, never guessed: shipping (from is an ancestor of to), nothing to ship
(same commit), going backwards (the commits that would be removed), diverged history (both
sides), or unavailable (with the reason). A shallow clone is deepened from its remote; when
that is not possible and the repository is on GitHub, GITHUB_TOKEN lets the compare API answer.
";

const NOTES_MORE: &str = "\
Environment:
  HEROKU_API_KEY, SHIPLINE_HEROKU_API_URL   with --app
  GITHUB_TOKEN, GITHUB_API_URL              the compare API fallback [default: https://api.github.com]

The list equals `git log --reverse --no-merges FROM..TO` (with --first-parent,
`git log --reverse --first-parent FROM..TO`) on the same clone. A commit that is not in the
clone yet must be given as its full 40-character id. Notes go to standard output; progress
(fetches, GitHub requests) and errors to standard error. JSON (version 1, fields are only
ever added): version, from, to, range (forward, same, backward or diverged), source (git or
github), first_parent, commits and removed (each: sha, short, author, email, subject, body,
pr, url), compare_url; or unavailable (the reason) alone.

Exit codes: 0 notes printed, whatever the case; 1 notes unavailable (the reason is printed in
the chosen format, and as the error); 2 not a repository, a revision that does not resolve, or
missing Heroku credentials with --app.
";

const NOTIFY_ABOUT: &str = "\
Tell Slack what happened: app, status and the step that decided it, release, commit, duration,
CI build link, who merged, and the release notes; an on-call mention on failure

Usage: shipline notify [OPTIONS]

It reports on one app: the one of the job's latest deploy or promote (or --app), with the
steps that acted on it, its releases, the notes of what shipped to it and any rollback. A job
that deploys staging and then promotes to production gets a message for each.

Transports: an incoming webhook (SLACK_WEBHOOK_URL), which posts each app's status once, or
the Web API (SLACK_BOT_TOKEN and --channel), which posts one message per app and updates it at
each later step of the run, with a thread reply carrying the mention when the deploy fails.
";

const NOTIFY_MORE: &str = "\
Environment:
  SLACK_WEBHOOK_URL          Incoming webhook URL (a secret: never printed)
  SLACK_BOT_TOKEN            Bot token (xoxb-...) for the Web API; needs chat:write
  SHIPLINE_SLACK_API_URL     Web API base [default: https://slack.com/api]
";

const VERIFY_ABOUT: &str = "\
Prove the new release is healthy: its dynos up, its endpoints answering; roll back if not

Usage: shipline verify [--app APP]... [--check URL]... [OPTIONS]

The app is the one of the job's latest deploy or promote (several after a promotion to
several apps), or --app. Each app is verified in turn.

1. Dynos: waits until every dyno of the new release (recorded by deploy, or --release) is up,
   ignoring one-off `run` and `release` dynos and dynos of older releases. A crashed dyno of the
   new release fails the step at once. With preboot, old dynos keep serving for a few minutes
   after the new ones are up; --wait-preboot waits until they are gone.
2. Endpoints: each --check URL must answer an allowed status, optionally containing a text,
   within a latency; retried with backoff until --timeout. The report tells \\\"could not
   connect / timed out / TLS error\\\" apart from \\\"answered 503\\\" and from \\\"answered 200
   without the expected text\\\".
3. With --rollback-on-failure a failed verification rolls the app back to the release that was
   live before the deploy. That rollback pauses continuous deployment: the next deploy skips
   until someone deploys with --force.
";

const VERIFY_MORE: &str = "\
Environment: HEROKU_API_KEY (required), SHIPLINE_HEROKU_API_URL
";

const ROLLBACK_ABOUT: &str = "\
Roll an app back to an earlier release (its code and config), and wait until it is live

Usage: shipline rollback [--app APP] [--to vN] [OPTIONS]

Without --to, the release before the live one is restored. The rollback release is described
`Rollback to vN`, which makes later `shipline deploy` runs skip until someone deploys with --force:
continuous deployment stays paused while a human looks.
";

const ROLLBACK_MORE: &str = "\
Environment: HEROKU_API_KEY (required), SHIPLINE_HEROKU_API_URL
";

const PROMOTE_ABOUT: &str = "\
Ship the exact slug the staging app runs to the production app: no second build

Usage: shipline promote --from STAGING_APP --app PRODUCTION_APP... [OPTIONS]

When the apps are in one Heroku pipeline the promotion is a pipeline promotion (one promotion
to every --app); otherwise a release of the staging slug is created on each. Each app's
release is waited for and reported; one app failing fails the step, naming it and saying what
state the others are in. All deploy guards apply, judged on the
slug's commit: kill switch, rollback, already live, older commit. The staging release must run
the commit being shipped (--ref) unless --any-commit.
";

const PROMOTE_MORE: &str = "\
Environment: HEROKU_API_KEY (required), SHIPLINE_HEROKU_API_URL
";

const LOCK_ABOUT: &str = "\
One deploy at a time per branch: wait until no earlier build of this job on this branch is in
flight; in latest mode, skip when a newer build has overtaken this one

Usage: shipline lock [OPTIONS] [-- CMD ARGS...]

The CI's own record of its builds is the queue: builds are ordered by number (CircleCI pipeline
number; GitHub run number of the same workflow file, a re-run placed by when it started),
numerically. An earlier build blocks while its job of the same name is running, queued, blocked
waiting for its own upstream jobs, or its pipeline or run is still setting up; a build on hold
for a manual approval (CircleCI on_hold, GitHub `waiting` for environment reviewers) blocks only
with --include-on-hold. Before taking the lock the verdict is confirmed by a second read. Each
poll says whom it waits behind.

Modes:
  queue     every build deploys, one at a time, oldest first (the default)
  latest    a build exits as skipped (exit 0, recorded) when a newer build's job has reached
            the lock (is running) or has already succeeded; a newer build still blocked on its
            tests never makes it skip, and the newest build never skips

With `-- CMD ARGS...` the command runs once the lock is held and shipline exits with its code;
when the lock skips, the command does not run. Without a command the verdict goes to the state
file: later `shipline deploy`, `promote` and `verify` steps of the job skip when the lock
skipped.
";

const LOCK_MORE: &str = "\
Environment:
  CIRCLE_TOKEN                 CircleCI personal API token (project tokens do not work with
                               API v2)
  SHIPLINE_CIRCLECI_API_URL    CircleCI API base [default: https://circleci.com/api/v2]
  GITHUB_TOKEN                 GitHub token with `actions: read` (pass `${{ github.token }}`)
  GITHUB_API_URL               GitHub API base [default: https://api.github.com]
  GITHUB_REPOSITORY, GITHUB_WORKFLOW_REF, GITHUB_RUN_ID
                               The repository, workflow file and own run (set by GitHub)

An API error that persists after retries fails the step: the lock never deploys on a guess.
";
