//! The Slack message `shipline notify` sends, as data.
//!
//! Everything here is pure: [`build`] turns what the run knows (status, the step that decided
//! it, the deploy record, the release notes, the CI context) into a Slack payload that is then
//! serialized by `serde_json`, never templated as text. Untrusted text (commit subjects, author
//! names, reasons) is escaped for Slack's mrkdwn, so a quote, a backslash, a newline or a
//! `<!channel>` in a commit message can neither break the JSON nor ping anyone. The payload
//! stays within Slack's limits however large the deploy: long release notes end with "…and N
//! more commits" and a link to the compare view.

use std::fmt;
use std::time::Duration;

use serde_json::{json, Value};

use crate::ci::Provider;
use crate::notes::{Entry, Notes, RangeKind, Recorded};
use crate::text;
use crate::time::human;

/// A deploy's status as Slack is told it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotifyStatus {
    /// A deploy is starting.
    Started,
    /// It succeeded.
    Succeeded,
    /// It failed.
    Failed,
    /// It skipped on purpose.
    Skipped,
}

impl NotifyStatus {
    /// Parses a status, accepting GitHub's `job.status` words (`success`, `failure`,
    /// `cancelled`) so the action can pass them through.
    pub fn parse(text: &str) -> Option<NotifyStatus> {
        match text.trim().to_ascii_lowercase().as_str() {
            "started" | "start" | "running" => Some(NotifyStatus::Started),
            "succeeded" | "success" | "done" => Some(NotifyStatus::Succeeded),
            "failed" | "failure" | "cancelled" | "canceled" => Some(NotifyStatus::Failed),
            "skipped" => Some(NotifyStatus::Skipped),
            _ => None,
        }
    }

    /// The word used in messages and filters.
    pub fn word(self) -> &'static str {
        match self {
            NotifyStatus::Started => "started",
            NotifyStatus::Succeeded => "succeeded",
            NotifyStatus::Failed => "failed",
            NotifyStatus::Skipped => "skipped",
        }
    }
}

/// Most blocks Slack accepts in one message (`invalid_blocks` beyond).
pub const MAX_BLOCKS: usize = 50;
/// Most characters of a section's text (`invalid_blocks` beyond).
pub const MAX_SECTION_TEXT: usize = 3000;
/// Most characters of a header's plain text.
pub const MAX_HEADER_TEXT: usize = 150;
/// Most characters of the top-level `text` before Slack truncates it (`message_truncated`).
pub const MAX_TEXT: usize = 40_000;
/// The cumulative block text shipline allows itself. Slack refuses messages past roughly 13,000
/// characters of block text (`msg_blocks_too_long`, undocumented), so the budget stays well under.
pub const BLOCK_TEXT_BUDGET: usize = 10_000;

/// Characters of release-notes lines in one message.
const NOTES_BUDGET: usize = 7_000;
/// Characters of one notes section, with a margin under [`MAX_SECTION_TEXT`].
const SECTION_BUDGET: usize = 2_900;
/// Characters of a commit subject before it is cut with `…` (escaped form).
const SUBJECT_MAX: usize = 200;
/// Characters of an author's name (escaped form).
const AUTHOR_MAX: usize = 60;
/// Characters of a step's reason (escaped form).
const REASON_MAX: usize = 1_000;
/// Characters of a short value in a field or the context line (escaped form).
const VALUE_MAX: usize = 200;
/// Characters of the top-level fallback text: a notification preview, not the message.
const FALLBACK_MAX: usize = 500;

/// What shipped to the app, as far as the message shows it: the deploy or promotion recorded
/// in the state file, and any rollback after it. Every field is optional: a dry run records
/// less.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeployRecord {
    /// The Heroku app.
    pub app: Option<String>,
    /// The deployed commit (full id).
    pub commit: Option<String>,
    /// The release the deploy created.
    pub release: Option<ReleaseRef>,
    /// The release it replaced.
    pub previous_release: Option<ReleaseRef>,
    /// Whether it was a `--dry-run` (nothing was released).
    pub dry_run: bool,
    /// Where the app is served.
    pub web_url: Option<String>,
    /// The rollback that undid it, when there was one.
    pub rolled_back: Option<RolledBack>,
    /// What a re-run found of the work a cancelled job left in flight (`cancelled during the
    /// release phase; the release completed as v12`), so the channel knows why one job shows
    /// a cancel and the release anyway.
    pub adopted: Option<String>,
}

/// A release as the deploy record names it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReleaseRef {
    /// `v<version>` in Heroku's words.
    pub version: Option<u64>,
}

/// A rollback after the deploy: back to release `to`, as the new release `release`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RolledBack {
    /// The version restored.
    pub to: u64,
    /// The rollback release Heroku created.
    pub release: Option<u64>,
}

/// Where the run happens: the CI build to link to and who triggered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CiContext {
    /// The CI service.
    pub provider: Provider,
    /// A link to the build (a GitHub Actions run, a CircleCI job).
    pub build_url: Option<String>,
    /// How the link reads, e.g. `GitHub Actions run 77`.
    pub build_label: String,
    /// Who merged or pushed (`GITHUB_ACTOR`, `CIRCLE_USERNAME`).
    pub actor: Option<String>,
    /// The repository's web address on GitHub Actions, for commit links when the notes have
    /// none.
    pub repo_url: Option<String>,
}

impl CiContext {
    /// Reads the context from CI variables (a lookup, so tests need no environment).
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> CiContext {
        let var = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        let provider = Provider::from_env(var);
        match provider {
            Provider::GitHubActions => {
                let server =
                    var("GITHUB_SERVER_URL").unwrap_or_else(|| "https://github.com".into());
                let repo_url = var("GITHUB_REPOSITORY")
                    .map(|repo| format!("{}/{repo}", server.trim_end_matches('/')));
                let run = var("GITHUB_RUN_ID");
                let build_url = match (&repo_url, &run) {
                    (Some(repo), Some(run)) => Some(format!("{repo}/actions/runs/{run}")),
                    _ => None,
                };
                CiContext {
                    provider,
                    build_url,
                    build_label: run
                        .map(|r| format!("GitHub Actions run {r}"))
                        .unwrap_or_else(|| "GitHub Actions run".into()),
                    actor: var("GITHUB_ACTOR"),
                    repo_url,
                }
            }
            Provider::CircleCi => CiContext {
                provider,
                build_url: var("CIRCLE_BUILD_URL"),
                build_label: var("CIRCLE_BUILD_NUM")
                    .map(|n| format!("CircleCI job {n}"))
                    .unwrap_or_else(|| "CircleCI job".into()),
                actor: var("CIRCLE_USERNAME"),
                repo_url: None,
            },
            Provider::Other => CiContext {
                provider,
                build_url: None,
                build_label: "CI build".into(),
                actor: None,
                repo_url: None,
            },
        }
    }
}

/// A Slack mention that notifies, in token form (`<@U0123ABC>`, `<!subteam^S0123ABC>`,
/// `<!here>`), possibly several separated by spaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mention(String);

impl Mention {
    /// Validates `--mention-on-failure`. Token forms are accepted as they are; the shorthands
    /// `@here`, `@channel`, `U0123ABC`, `W0123ABC` and `subteam^S0123ABC` are normalised. A
    /// plain `@name` is refused with the reason: Slack stopped linking names in 2017, so it
    /// would be posted as text and page nobody, the worst way to find out during an outage.
    pub fn parse(text: &str) -> Result<Mention, String> {
        let tokens: Vec<&str> = text
            .split(|c: char| c.is_whitespace() || c == ',')
            .filter(|t| !t.is_empty())
            .collect();
        if tokens.is_empty() {
            return Err(format!("--mention-on-failure is empty; {MENTION_FORMS}"));
        }
        let mentions = tokens
            .iter()
            .map(|token| normalize_mention(token))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Mention(mentions.join(" ")))
    }

    /// The mention in token form, ready for a message.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Mention {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

const MENTION_FORMS: &str = "give a member ID as <@U0123ABC> (Slack: the person's profile → ⋮ → Copy member ID), a user group as <!subteam^S0123ABC>, or <!here> / <!channel>";

fn is_id(text: &str, prefixes: &[char]) -> bool {
    let mut chars = text.chars();
    matches!(chars.next(), Some(c) if prefixes.contains(&c))
        && text.len() >= 2
        && text.len() <= 24
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

fn normalize_mention(token: &str) -> Result<String, String> {
    let special = |word: &str| matches!(word, "here" | "channel" | "everyone");
    if let Some(inner) = token.strip_prefix('<').and_then(|t| t.strip_suffix('>')) {
        // `<@U123|jane>` and `<!subteam^S123|@oncall>` carry a label Slack ignores for pinging.
        let id = inner.split('|').next().unwrap_or(inner);
        if let Some(user) = id.strip_prefix('@') {
            if is_id(user, &['U', 'W']) {
                return Ok(format!("<@{user}>"));
            }
        } else if let Some(group) = id.strip_prefix("!subteam^") {
            if is_id(group, &['S']) {
                return Ok(format!("<!subteam^{group}>"));
            }
        } else if let Some(word) = id.strip_prefix('!') {
            if special(word) {
                return Ok(format!("<!{word}>"));
            }
        }
        return Err(format!(
            "--mention-on-failure `{token}` is not a Slack mention; {MENTION_FORMS}"
        ));
    }
    if let Some(word) = token.strip_prefix('@').or_else(|| token.strip_prefix('!')) {
        if special(word) {
            return Ok(format!("<!{word}>"));
        }
        return Err(format!(
            "--mention-on-failure `{token}` would not notify anyone: Slack no longer turns a plain @name into a mention (since 2017), so it would be posted as text; {MENTION_FORMS}"
        ));
    }
    if is_id(token, &['U', 'W']) {
        return Ok(format!("<@{token}>"));
    }
    if let Some(group) = token.strip_prefix("subteam^") {
        if is_id(group, &['S']) {
            return Ok(format!("<!subteam^{group}>"));
        }
    }
    Err(format!(
        "--mention-on-failure `{token}` is not a Slack mention; {MENTION_FORMS}"
    ))
}

/// Escapes untrusted text for Slack's mrkdwn (`&`, `<` and `>` are its control characters and
/// nothing else may be encoded) and cuts it at `max` characters of escaped text, with `…` when cut. An
/// entity (`&amp;`) is never cut in half, so the result stays valid mrkdwn.
fn escape_within(text: &str, max: usize) -> String {
    let mut out = String::new();
    let mut count = 0usize;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let unit: &str = match c {
            '&' => "&amp;",
            '<' => "&lt;",
            '>' => "&gt;",
            _ => "",
        };
        let len = if unit.is_empty() { 1 } else { unit.len() };
        // Keep room for the ellipsis whenever more text follows.
        let room = if chars.peek().is_some() {
            max.saturating_sub(1)
        } else {
            max
        };
        if count + len > room {
            out.push('…');
            return out;
        }
        if unit.is_empty() {
            out.push(c);
        } else {
            out.push_str(unit);
        }
        count += len;
    }
    out
}

/// One line of untrusted text: newlines and tabs become spaces, then it is escaped and cut.
fn line_within(text: &str, max: usize) -> String {
    let flat: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    escape_within(flat.trim(), max)
}

/// A link label: one line, escaped, and without `|`, which would end the label early.
fn label_within(text: &str, max: usize) -> String {
    line_within(&text.replace('|', "¦"), max)
}

/// A link `<url|label>` (the label already escaped), or the bare label when the URL is not a
/// plain http(s) URL. Characters that would end the link early are percent-encoded.
fn link(url: &str, label: &str) -> String {
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return label.to_string();
    }
    let url: String = url
        .chars()
        .filter(|c| !c.is_control())
        .map(|c| match c {
            '&' => "&amp;".to_string(),
            '<' => "%3C".to_string(),
            '>' => "%3E".to_string(),
            '|' => "%7C".to_string(),
            ' ' => "%20".to_string(),
            c => c.to_string(),
        })
        .collect();
    format!("<{url}|{label}>")
}

/// Cuts plain text (a header) at `max` characters, with `…` when cut.
fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

fn chars(text: &str) -> usize {
    text.chars().count()
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Everything the message says, gathered by the step.
#[derive(Debug, Clone)]
pub struct Facts<'a> {
    /// The status reported.
    pub status: NotifyStatus,
    /// The step that decided it (`deploy`), when it came from the state file.
    pub step: Option<&'a str>,
    /// Why that step failed or skipped.
    pub reason: Option<&'a str>,
    /// The steps of the run so far with how each ended, in order (`lock` `done`, ...).
    pub steps: &'a [(String, String)],
    /// What `deploy` recorded.
    pub deploy: Option<&'a DeployRecord>,
    /// The release notes, or why there are none; `None` when nothing recorded them.
    pub notes: Option<&'a Recorded>,
    /// The CI build and who triggered it.
    pub ci: &'a CiContext,
    /// The app's name, when known (the deploy record, else `--app`).
    pub app: Option<&'a str>,
    /// `--environment`.
    pub environment: Option<&'a str>,
    /// `--title`, replacing the default headline.
    pub title: Option<&'a str>,
    /// How long the run's steps took.
    pub duration: Option<Duration>,
    /// A mention to put in the message itself on failure (the webhook transport, which cannot
    /// reply in a thread); `None` when a thread reply carries it instead.
    pub mention: Option<&'a Mention>,
}

impl Facts<'_> {
    fn emoji(&self) -> &'static str {
        match self.status {
            NotifyStatus::Started => ":rocket:",
            NotifyStatus::Succeeded => ":white_check_mark:",
            NotifyStatus::Failed => ":x:",
            NotifyStatus::Skipped => ":fast_forward:",
        }
    }

    fn version(&self) -> Option<u64> {
        self.deploy?.release.as_ref()?.version
    }

    /// The first line, without the emoji (`Deploy of demo-app to production failed`).
    fn headline(&self) -> String {
        if let Some(title) = self.title {
            return title.to_string();
        }
        let subject = self.app.map(|app| match self.environment {
            Some(env) => format!("{app} to {env}"),
            None => app.to_string(),
        });
        match (self.status, subject) {
            (NotifyStatus::Started, Some(s)) => format!("Deploying {s}"),
            (NotifyStatus::Started, None) => "Deploy started".into(),
            (NotifyStatus::Succeeded, Some(s)) => match self.version() {
                Some(v) => format!("Deployed {s} (v{v})"),
                None => format!("Deployed {s}"),
            },
            (NotifyStatus::Succeeded, None) => "Deploy succeeded".into(),
            (NotifyStatus::Failed, Some(s)) => format!("Deploy of {s} failed"),
            (NotifyStatus::Failed, None) => "Deploy failed".into(),
            (NotifyStatus::Skipped, Some(s)) => format!("Deploy of {s} skipped"),
            (NotifyStatus::Skipped, None) => "Deploy skipped".into(),
        }
    }

    fn status_word(&self) -> &'static str {
        match self.status {
            NotifyStatus::Started => "Started",
            NotifyStatus::Succeeded => "Succeeded",
            NotifyStatus::Failed => "Failed",
            NotifyStatus::Skipped => "Skipped",
        }
    }

    /// The on-call mention and a space when the deploy failed (it goes first, so it pings),
    /// else nothing.
    fn mention_first(&self) -> String {
        match self.mention {
            Some(mention) if self.status == NotifyStatus::Failed => {
                format!("{} ", mention.as_str())
            }
            _ => String::new(),
        }
    }

    /// `*Failed* at `deploy`: reason`, then the steps so far.
    fn status_text(&self) -> String {
        let mut text = self.mention_first();
        text.push_str(&format!("*{}*", self.status_word()));
        if let Some(step) = self.step {
            let at = match self.status {
                NotifyStatus::Failed | NotifyStatus::Skipped => "at",
                _ => "after",
            };
            text.push_str(&format!(" {at} `{}`", line_within(step, 40)));
        }
        if let Some(reason) = self.reason.filter(|r| !r.trim().is_empty()) {
            text.push_str(": ");
            text.push_str(&line_within(reason, REASON_MAX));
        }
        if !self.steps.is_empty() {
            let progress: Vec<String> = self
                .steps
                .iter()
                .map(|(name, outcome)| {
                    format!("`{}` {}", line_within(name, 40), line_within(outcome, 20))
                })
                .collect();
            text.push('\n');
            text.push_str(&progress.join(" → "));
        }
        if self.deploy.is_some_and(|d| d.dry_run) {
            text.push_str("\n_Dry run: nothing was released._");
        }
        text
    }

    fn commit(&self) -> Option<&str> {
        self.deploy
            .and_then(|d| d.commit.as_deref())
            .or(match self.notes {
                Some(Recorded::Notes(notes)) => Some(notes.to.as_str()),
                _ => None,
            })
            .filter(|c| !c.is_empty())
    }

    /// A link to `sha`: the notes' own link for it, else the repository on GitHub.
    fn commit_url(&self, sha: &str) -> Option<String> {
        if let Some(Recorded::Notes(notes)) = self.notes {
            let entries = notes.commits.iter().chain(&notes.removed);
            if let Some(url) = entries.filter(|e| e.sha == sha).find_map(|e| e.url.clone()) {
                return Some(url);
            }
        }
        if let Some(repo) = &self.ci.repo_url {
            return Some(format!("{repo}/commit/{sha}"));
        }
        // GitHub's compare view `…/compare/a...b` sits beside its commit pages.
        match self.notes {
            Some(Recorded::Notes(notes)) => {
                let (repo, _) = notes.compare_url.as_deref()?.rsplit_once("/compare/")?;
                (!repo.ends_with("/-") && !repo.contains("bitbucket.org"))
                    .then(|| format!("{repo}/commit/{sha}"))
            }
            _ => None,
        }
    }

    fn fields(&self) -> Vec<Value> {
        let mut fields = Vec::new();
        let mut field = |name: &str, value: String| {
            fields.push(json!({"type": "mrkdwn", "text": format!("*{name}*\n{value}")}));
        };
        if let Some(env) = self.environment {
            field("Environment", line_within(env, VALUE_MAX));
        }
        let previous = self
            .deploy
            .and_then(|d| d.previous_release.as_ref())
            .and_then(|r| r.version);
        let rollback = self
            .deploy
            .and_then(|d| d.rolled_back.as_ref())
            .map(|r| match r.release {
                Some(as_version) => format!(", rolled back to v{} as v{as_version}", r.to),
                None => format!(", rolled back to v{}", r.to),
            });
        let rollback = rollback.unwrap_or_default();
        match (previous, self.version()) {
            (Some(old), Some(new)) => field("Release", format!("v{old} → v{new}{rollback}")),
            (None, Some(new)) => field("Release", format!("v{new}{rollback}")),
            _ => {}
        }
        if let Some(adopted) = self.deploy.and_then(|d| d.adopted.as_deref()) {
            field("Re-run", line_within(adopted, VALUE_MAX));
        }
        if let Some(sha) = self.commit() {
            let short = line_within(text::short(sha), 7);
            let label = format!("`{short}`");
            let value = match self.commit_url(sha) {
                Some(url) => link(&url, &label),
                None => label,
            };
            field("Commit", value);
        }
        if let Some(d) = self.duration {
            field("Duration", human(d));
        }
        fields
    }

    fn context(&self) -> Option<String> {
        let mut parts = Vec::new();
        if let Some(url) = &self.ci.build_url {
            parts.push(link(url, &label_within(&self.ci.build_label, VALUE_MAX)));
        }
        if let Some(actor) = &self.ci.actor {
            parts.push(format!("merged by *{}*", line_within(actor, VALUE_MAX)));
        }
        if let Some(url) = self.deploy.and_then(|d| d.web_url.as_deref()) {
            parts.push(link(url, "open the app"));
        }
        (!parts.is_empty()).then(|| parts.join(" · "))
    }

    /// The notification preview: short, and the mention first so it pings.
    fn fallback(&self) -> String {
        let mut text = self.mention_first();
        text.push_str(self.emoji());
        text.push(' ');
        text.push_str(&line_within(&self.headline(), VALUE_MAX));
        if let Some(step) = self.step {
            if matches!(self.status, NotifyStatus::Failed | NotifyStatus::Skipped) {
                text.push_str(&format!(" at {}", line_within(step, 40)));
            }
        }
        if let Some(reason) = self.reason.filter(|r| !r.trim().is_empty()) {
            text.push_str(": ");
            text.push_str(&line_within(reason, 200));
        }
        escape_free_cut(&text, FALLBACK_MAX)
    }
}

/// Cuts already-escaped mrkdwn without splitting an entity or a `<...>` token.
fn escape_free_cut(text: &str, max: usize) -> String {
    if chars(text) <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    // Drop a half-written entity or token at the end.
    if let Some(at) = out.rfind(['&', '<']) {
        if !out[at..].contains([';', '>']) {
            out.truncate(at);
        }
    }
    out.push('…');
    out
}

/// Builds the message: top-level `text` (the notification fallback) and Block Kit `blocks`
/// (header, status, fields, release notes, context), with link unfurling off.
pub fn build(facts: &Facts<'_>) -> Value {
    let mut blocks = vec![json!({
        "type": "header",
        "text": {
            "type": "plain_text",
            "text": cut(&format!("{} {}", facts.emoji(), facts.headline().replace(['\n', '\r'], " ")), MAX_HEADER_TEXT),
            "emoji": true,
        }
    })];
    blocks.push(section(&facts.status_text()));
    let fields = facts.fields();
    if !fields.is_empty() {
        blocks.push(json!({"type": "section", "fields": fields}));
    }
    blocks.push(json!({"type": "divider"}));
    blocks.extend(notes_blocks(facts));
    if let Some(context) = facts.context() {
        blocks.push(json!({
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": context}],
        }));
    }
    json!({
        "text": facts.fallback(),
        "blocks": blocks,
        "unfurl_links": false,
        "unfurl_media": false,
    })
}

/// The thread reply posted under the message when a deploy fails: an edited message does not
/// notify anyone, a new reply does, so the mention goes here.
pub fn failure_reply(facts: &Facts<'_>, mention: &Mention) -> Value {
    let mut text = format!("{} {}", mention.as_str(), facts.emoji());
    text.push(' ');
    text.push_str(&line_within(&facts.headline(), VALUE_MAX));
    if let Some(step) = facts.step {
        text.push_str(&format!(" at `{}`", line_within(step, 40)));
    }
    if let Some(reason) = facts.reason.filter(|r| !r.trim().is_empty()) {
        text.push_str(": ");
        text.push_str(&line_within(reason, REASON_MAX));
    }
    if let Some(url) = &facts.ci.build_url {
        text.push_str(" — ");
        text.push_str(&link(url, &label_within(&facts.ci.build_label, VALUE_MAX)));
    }
    json!({
        "text": text,
        "unfurl_links": false,
        "unfurl_media": false,
    })
}

fn section(text: &str) -> Value {
    json!({"type": "section", "text": {"type": "mrkdwn", "text": text}})
}

/// The `/pull/N` page next to a GitHub commit link, when the link has GitHub's shape.
fn pr_url(commit_url: &str, pr: u64) -> Option<String> {
    let (repo, _) = commit_url.rsplit_once("/commit/")?;
    if repo.ends_with("/-") || repo.contains("bitbucket.org") {
        return None;
    }
    Some(format!("{repo}/pull/{pr}"))
}

/// One line of the notes: `• `abc1234` <url|subject> (#12) — author`.
fn note_line(entry: &Entry) -> String {
    let short = line_within(&entry.short, 12);
    let subject = label_within(&entry.subject, SUBJECT_MAX);
    let subject = if subject.is_empty() {
        "(no subject)".to_string()
    } else {
        subject
    };
    let mut line = format!("• `{short}` ");
    match &entry.url {
        Some(url) => line.push_str(&link(url, &subject)),
        None => line.push_str(&subject),
    }
    // A squash merge's subject already says `(#12)`, and its link leads to the commit, whose
    // page names the pull request; repeating the number would only add noise.
    if let Some(pr) = entry
        .pr
        .filter(|pr| !entry.subject.contains(&format!("#{pr}")))
    {
        match entry.url.as_deref().and_then(|url| pr_url(url, pr)) {
            Some(url) => line.push_str(&format!(" ({})", link(&url, &format!("#{pr}")))),
            None => line.push_str(&format!(" (#{pr})")),
        }
    }
    let author = line_within(&entry.author, AUTHOR_MAX);
    if !author.is_empty() {
        line.push_str(" — ");
        line.push_str(&author);
    }
    line
}

fn authors(entries: &[Entry]) -> usize {
    let mut names: Vec<&str> = entries.iter().map(|e| e.author.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    names.len()
}

/// The heading of the notes and the commits they list.
fn notes_heading(notes: &Notes) -> (String, &[Entry]) {
    let short = |sha: &str| line_within(text::short(sha), 7);
    let compare = notes
        .compare_url
        .as_deref()
        .map(|url| format!(" · {}", link(url, "compare")))
        .unwrap_or_default();
    match notes.range {
        RangeKind::Same => (
            format!(
                "*No code changes*: a redeploy of `{}`{compare}",
                short(&notes.to)
            ),
            &[],
        ),
        RangeKind::Forward if notes.commits.is_empty() => (
            format!(
                "*Release notes*: no commits to list between `{}` and `{}`{compare}",
                short(&notes.from),
                short(&notes.to)
            ),
            &[],
        ),
        RangeKind::Forward => (
            format!(
                "*Release notes* · {} by {}{compare}",
                plural(notes.commits.len(), "commit", "commits"),
                plural(authors(&notes.commits), "author", "authors")
            ),
            &notes.commits,
        ),
        RangeKind::Backward => (
            format!(
                "*Going backwards* · {} stop being live{compare}",
                plural(notes.removed.len(), "commit", "commits")
            ),
            &notes.removed,
        ),
        RangeKind::Diverged => (
            format!(
                "*History rewritten* · {} new; {} of the live release dropped{compare}",
                plural(notes.commits.len(), "commit", "commits"),
                plural(notes.removed.len(), "commit", "commits")
            ),
            &notes.commits,
        ),
    }
}

/// The release notes as sections within the budget, ending with "…and N more commits" and
/// the compare link when they do not fit.
fn notes_blocks(facts: &Facts<'_>) -> Vec<Value> {
    let notes = match facts.notes {
        None => return vec![section("_No release notes were recorded for this run._")],
        Some(Recorded::Unavailable { unavailable }) => {
            return vec![section(&format!(
                "_Release notes unavailable_: {}",
                line_within(unavailable, REASON_MAX)
            ))]
        }
        Some(Recorded::Notes(notes)) => notes,
    };
    let (heading, entries) = notes_heading(notes);
    let mut blocks = Vec::new();
    let mut current = heading;
    let mut used = chars(&current);
    let mut shown = 0;
    for entry in entries {
        let line = note_line(entry);
        let len = chars(&line) + 1;
        if used + len > NOTES_BUDGET {
            break;
        }
        if chars(&current) + len > SECTION_BUDGET {
            blocks.push(section(&current));
            current = String::new();
        }
        if !current.is_empty() {
            current.push('\n');
        }
        current.push_str(&line);
        used += len;
        shown += 1;
    }
    blocks.push(section(&current));
    let more = entries.len() - shown;
    if more > 0 {
        let noun = if more == 1 { "commit" } else { "commits" };
        let mut text = format!("…and {more} more {noun}");
        if let Some(url) = &notes.compare_url {
            text.push_str(&format!(
                ": {}",
                link(url, "see them all in the compare view")
            ));
        }
        blocks.push(section(&text));
    }
    blocks
}

/// Checks a payload against Slack's limits, for tests and as a last guard before sending:
/// block count, section and header lengths, top-level text, and the cumulative block text.
pub fn check_limits(payload: &Value) -> Result<(), String> {
    let blocks = payload["blocks"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    if blocks.len() > MAX_BLOCKS {
        return Err(format!(
            "{} blocks (Slack allows {MAX_BLOCKS})",
            blocks.len()
        ));
    }
    let mut total = 0;
    for (i, block) in blocks.iter().enumerate() {
        let text = block["text"]["text"].as_str().unwrap_or("");
        let len = chars(text);
        total += len;
        let max = match block["type"].as_str() {
            Some("header") => MAX_HEADER_TEXT,
            _ => MAX_SECTION_TEXT,
        };
        if len > max {
            return Err(format!(
                "block {i} has {len} characters of text (Slack allows {max})"
            ));
        }
        for element in block["fields"]
            .as_array()
            .into_iter()
            .chain(block["elements"].as_array())
            .flatten()
        {
            total += chars(element["text"].as_str().unwrap_or(""));
        }
    }
    if total > BLOCK_TEXT_BUDGET {
        return Err(format!(
            "{total} characters of block text (shipline keeps under {BLOCK_TEXT_BUDGET})"
        ));
    }
    let text = chars(payload["text"].as_str().unwrap_or(""));
    if text > MAX_TEXT {
        return Err(format!(
            "{text} characters of top-level text (Slack allows {MAX_TEXT})"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notes::{NotesSource, NOTES_VERSION};

    fn ci() -> CiContext {
        CiContext::from_env(|name| {
            Some(
                match name {
                    "GITHUB_ACTIONS" => "true",
                    "GITHUB_SERVER_URL" => "https://github.com",
                    "GITHUB_REPOSITORY" => "acme/shop",
                    "GITHUB_RUN_ID" => "77",
                    "GITHUB_ACTOR" => "jane",
                    _ => return None,
                }
                .to_string(),
            )
        })
    }

    fn entry(i: usize, subject: &str) -> Entry {
        let sha = format!("{i:040x}");
        Entry {
            short: sha[..7].to_string(),
            url: Some(format!("https://github.com/acme/shop/commit/{sha}")),
            sha,
            author: format!("Author {}", i % 3),
            email: "a@example.com".into(),
            subject: subject.into(),
            body: String::new(),
            pr: None,
        }
    }

    fn notes(commits: Vec<Entry>) -> Recorded {
        Recorded::Notes(Notes {
            version: NOTES_VERSION,
            from: "a".repeat(40),
            to: "b".repeat(40),
            range: RangeKind::Forward,
            source: NotesSource::Git,
            first_parent: false,
            commits,
            removed: Vec::new(),
            compare_url: Some("https://github.com/acme/shop/compare/aaa...bbb".into()),
        })
    }

    fn deploy() -> DeployRecord {
        DeployRecord {
            app: Some("shop".into()),
            commit: Some("b".repeat(40)),
            release: Some(ReleaseRef { version: Some(12) }),
            previous_release: Some(ReleaseRef { version: Some(11) }),
            dry_run: false,
            web_url: Some("https://shop.herokuapp.com/".into()),
            rolled_back: None,
            adopted: None,
        }
    }

    fn facts<'a>(
        status: NotifyStatus,
        deploy: Option<&'a DeployRecord>,
        notes: Option<&'a Recorded>,
        ci: &'a CiContext,
    ) -> Facts<'a> {
        Facts {
            status,
            step: Some("deploy"),
            reason: None,
            steps: &[],
            deploy,
            notes,
            ci,
            app: Some("shop"),
            environment: Some("production"),
            title: None,
            duration: Some(Duration::from_secs(125)),
            mention: None,
        }
    }

    fn all_text(payload: &Value) -> String {
        serde_json::to_string(payload).unwrap()
    }

    #[test]
    fn a_release_a_rerun_adopted_says_what_happened() {
        let ci = CiContext::from_env(|_| None);
        let adopted = DeployRecord {
            adopted: Some(
                "cancelled during the release phase; the release completed as v42".into(),
            ),
            ..deploy()
        };
        let text = all_text(&build(&facts(
            NotifyStatus::Succeeded,
            Some(&adopted),
            None,
            &ci,
        )));
        assert!(
            text.contains(
                "*Re-run*\\ncancelled during the release phase; the release completed as v42"
            ),
            "{text}"
        );
        let plain = all_text(&build(&facts(
            NotifyStatus::Succeeded,
            Some(&deploy()),
            None,
            &ci,
        )));
        assert!(!plain.contains("Re-run"), "{plain}");
    }

    #[test]
    fn escapes_slack_control_characters_and_nothing_else() {
        let escape = |text: &str| escape_within(text, usize::MAX);
        assert_eq!(
            escape("a & b <!here> > c"),
            "a &amp; b &lt;!here&gt; &gt; c"
        );
        assert_eq!(
            escape("\"quotes\" \\ 100% :tada: 🎉 *bold*"),
            "\"quotes\" \\ 100% :tada: 🎉 *bold*"
        );
        assert_eq!(label_within("a|b\nc", 50), "a¦b c");
    }

    #[test]
    fn cutting_never_splits_an_entity() {
        let cut = escape_within("&&&&&", 12);
        assert_eq!(cut, "&amp;&amp;…");
        assert!(chars(&cut) <= 12);
        assert_eq!(escape_within("abc", 3), "abc");
        assert_eq!(escape_within("abcd", 3), "ab…");
        let text = escape_free_cut("hello <https://x|link> world &amp; more", 12);
        assert_eq!(text, "hello …");
    }

    #[test]
    fn mentions_in_token_form_are_kept_and_shorthands_normalised() {
        for (given, token) in [
            ("<@U0123ABC>", "<@U0123ABC>"),
            ("<@W0123ABC|jane>", "<@W0123ABC>"),
            ("<!subteam^S123>", "<!subteam^S123>"),
            ("<!subteam^S123|@oncall>", "<!subteam^S123>"),
            ("subteam^S0123ABC", "<!subteam^S0123ABC>"),
            ("U0123ABC", "<@U0123ABC>"),
            ("@here", "<!here>"),
            ("<!channel>", "<!channel>"),
            ("<!subteam^S1>, U0123ABC", "<!subteam^S1> <@U0123ABC>"),
        ] {
            assert_eq!(Mention::parse(given).unwrap().as_str(), token, "{given}");
        }
    }

    #[test]
    fn plain_names_and_malformed_mentions_are_refused_with_the_reason() {
        let err = Mention::parse("@jane").unwrap_err();
        assert!(err.contains("`@jane` would not notify anyone"), "{err}");
        assert!(
            err.contains("<@U0123ABC>") && err.contains("<!subteam^S0123ABC>"),
            "{err}"
        );
        for bad in [
            "jane",
            "<@jane>",
            "<#C0123>",
            "<!subteam^s12>",
            "u0123abc",
            "",
            " , ",
        ] {
            assert!(Mention::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn a_succeeded_deploy_shows_app_release_commit_duration_build_and_notes() {
        let ci = ci();
        let d = deploy();
        let mut first = entry(1, "Add checkout");
        first.pr = Some(42);
        let mut second = entry(2, "Fix cart (#43)");
        second.pr = Some(43);
        let n = notes(vec![first, second]);
        let steps = [
            ("lock".to_string(), "done".to_string()),
            ("deploy".to_string(), "done".to_string()),
        ];
        let mut f = facts(NotifyStatus::Succeeded, Some(&d), Some(&n), &ci);
        f.steps = &steps;
        let payload = build(&f);
        check_limits(&payload).unwrap();
        assert_eq!(payload["unfurl_links"], false);
        assert_eq!(payload["unfurl_media"], false);
        assert_eq!(
            payload["blocks"][0]["text"]["text"],
            ":white_check_mark: Deployed shop to production (v12)"
        );
        assert_eq!(
            payload["text"],
            ":white_check_mark: Deployed shop to production (v12)"
        );
        assert_eq!(
            payload["blocks"][1]["text"]["text"],
            "*Succeeded* after `deploy`\n`lock` done → `deploy` done"
        );
        let fields = all_text(&payload["blocks"][2]);
        assert!(fields.contains("v11 → v12"), "{fields}");
        assert!(
            fields.contains("<https://github.com/acme/shop/commit/bbbbbbb"),
            "{fields}"
        );
        assert!(fields.contains("2m05s"), "{fields}");
        let notes_text = payload["blocks"][4]["text"]["text"].as_str().unwrap();
        assert!(notes_text.starts_with("*Release notes* · 2 commits by 2 authors · <https://github.com/acme/shop/compare/aaa...bbb|compare>"), "{notes_text}");
        assert!(notes_text.contains("• `0000000` <https://github.com/acme/shop/commit/0000000000000000000000000000000000000001|Add checkout> (<https://github.com/acme/shop/pull/42|#42>) — Author 1"), "{notes_text}");
        assert!(
            notes_text.contains("|Fix cart (#43)> — Author 2"),
            "{notes_text}"
        );
        let context = payload["blocks"][5]["elements"][0]["text"]
            .as_str()
            .unwrap();
        assert_eq!(
            context,
            "<https://github.com/acme/shop/actions/runs/77|GitHub Actions run 77> · merged by *jane* · <https://shop.herokuapp.com/|open the app>"
        );
    }

    #[test]
    fn a_failure_names_the_step_and_reason_and_mentions_only_when_asked() {
        let ci = ci();
        let mention = Mention::parse("<!subteam^S123>").unwrap();
        let mut f = facts(NotifyStatus::Failed, None, None, &ci);
        f.reason = Some("build 1 failed: <!channel> & co");
        let payload = build(&f);
        let status = payload["blocks"][1]["text"]["text"].as_str().unwrap();
        assert_eq!(
            status,
            "*Failed* at `deploy`: build 1 failed: &lt;!channel&gt; &amp; co"
        );
        assert!(!all_text(&payload).contains("subteam"));
        assert_eq!(
            payload["blocks"][4]["text"]["text"],
            "_No release notes were recorded for this run._"
        );

        f.mention = Some(&mention);
        let payload = build(&f);
        assert!(payload["text"]
            .as_str()
            .unwrap()
            .starts_with("<!subteam^S123> :x: Deploy of shop to production failed at deploy"));
        let reply = failure_reply(&f, &mention);
        let text = reply["text"].as_str().unwrap();
        assert!(text.starts_with("<!subteam^S123> :x: Deploy of shop to production failed at `deploy`: build 1 failed: &lt;!channel&gt;"), "{text}");
        assert!(
            text.ends_with("<https://github.com/acme/shop/actions/runs/77|GitHub Actions run 77>"),
            "{text}"
        );
    }

    #[test]
    fn adversarial_commit_text_is_escaped_and_never_pings() {
        let ci = ci();
        let subject =
            "Fix \"quotes\" \\ back\\slash 100% <!here> <!channel> <@U999> a|b & 🎉\nsecond";
        let mut e = entry(1, subject);
        e.author = "<!everyone> Mallory".into();
        e.body = "x".repeat(10_000);
        let n = notes(vec![e]);
        let payload = build(&facts(NotifyStatus::Succeeded, None, Some(&n), &ci));
        check_limits(&payload).unwrap();
        let text = all_text(&payload);
        for raw in ["<!here>", "<!channel>", "<!everyone>", "<@U999>"] {
            assert!(!text.contains(raw), "{raw} survived in {text}");
        }
        let notes_text = payload["blocks"][4]["text"]["text"].as_str().unwrap();
        assert!(notes_text.contains("|Fix \"quotes\" \\ back\\slash 100% &lt;!here&gt; &lt;!channel&gt; &lt;@U999&gt; a¦b &amp; 🎉 second> — &lt;!everyone&gt; Mallory"), "{notes_text}");
        let round: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(round, payload);
    }

    #[test]
    fn huge_deploys_are_cut_within_limits_with_a_compare_link() {
        let ci = ci();
        let long = "y".repeat(5_000);
        let commits: Vec<Entry> = (0..300)
            .map(|i| entry(i, &format!("Commit number {i} & <{long}>")))
            .collect();
        let n = notes(commits);
        let d = deploy();
        let mention = Mention::parse("@here").unwrap();
        let mut f = facts(NotifyStatus::Failed, Some(&d), Some(&n), &ci);
        let reason = "z".repeat(20_000);
        f.reason = Some(&reason);
        let title = "T".repeat(400);
        f.title = Some(&title);
        f.mention = Some(&mention);
        let payload = build(&f);
        check_limits(&payload).unwrap();
        let blocks = payload["blocks"].as_array().unwrap();
        let last_notes = blocks[blocks.len() - 2]["text"]["text"].as_str().unwrap();
        assert!(last_notes.starts_with("…and "), "{last_notes}");
        assert!(last_notes.ends_with(" more commits: <https://github.com/acme/shop/compare/aaa...bbb|see them all in the compare view>"), "{last_notes}");
        let shown = all_text(&payload).matches("• `").count();
        let more: usize = last_notes
            .trim_start_matches("…and ")
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(shown + more, 300);
        assert!(shown >= 10, "only {shown} commits shown");
        assert!(chars(payload["text"].as_str().unwrap()) <= FALLBACK_MAX);
    }

    #[test]
    fn every_range_kind_says_what_the_commits_mean() {
        let ci = ci();
        let heading = |n: &Recorded| {
            let payload = build(&facts(NotifyStatus::Succeeded, None, Some(n), &ci));
            payload["blocks"][4]["text"]["text"]
                .as_str()
                .unwrap()
                .to_string()
        };
        let Recorded::Notes(base) = notes(vec![entry(1, "a")]) else {
            unreachable!()
        };
        let same = Recorded::Notes(Notes {
            range: RangeKind::Same,
            commits: vec![],
            ..base.clone()
        });
        assert!(heading(&same).starts_with("*No code changes*: a redeploy of `bbbbbbb`"));
        let back = Recorded::Notes(Notes {
            range: RangeKind::Backward,
            commits: vec![],
            removed: vec![entry(5, "Gone")],
            ..base.clone()
        });
        let text = heading(&back);
        assert!(
            text.starts_with("*Going backwards* · 1 commit stop being live")
                && text.contains("Gone"),
            "{text}"
        );
        let diverged = Recorded::Notes(Notes {
            range: RangeKind::Diverged,
            removed: vec![entry(5, "Dropped"), entry(6, "Dropped too")],
            ..base.clone()
        });
        let text = heading(&diverged);
        assert!(
            text.starts_with(
                "*History rewritten* · 1 commit new; 2 commits of the live release dropped"
            ),
            "{text}"
        );
        assert!(!text.contains("Dropped"), "{text}");
        let unavailable = Recorded::Unavailable {
            unavailable: "the live commit <abc> is not in the clone".into(),
        };
        assert_eq!(
            heading(&unavailable),
            "_Release notes unavailable_: the live commit &lt;abc&gt; is not in the clone"
        );
    }

    #[test]
    fn headlines_fit_every_status_and_the_title_replaces_them() {
        let ci = CiContext::from_env(|_| None);
        let mut f = facts(NotifyStatus::Started, None, None, &ci);
        let header = |f: &Facts<'_>| {
            build(f)["blocks"][0]["text"]["text"]
                .as_str()
                .unwrap()
                .to_string()
        };
        assert_eq!(header(&f), ":rocket: Deploying shop to production");
        f.status = NotifyStatus::Skipped;
        f.environment = None;
        assert_eq!(header(&f), ":fast_forward: Deploy of shop skipped");
        f.app = None;
        assert_eq!(header(&f), ":fast_forward: Deploy skipped");
        f.title = Some("Storefront <release>");
        assert_eq!(header(&f), ":fast_forward: Storefront <release>");
        assert_eq!(
            build(&f)["text"],
            ":fast_forward: Storefront &lt;release&gt; at deploy"
        );
        assert!(build(&f)["blocks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|b| b["type"] != "context"));
    }

    #[test]
    fn ci_context_comes_from_each_providers_variables() {
        let circle = CiContext::from_env(|name| {
            Some(
                match name {
                    "CIRCLECI" => "true",
                    "CIRCLE_BUILD_URL" => "https://circleci.com/gh/acme/shop/9",
                    "CIRCLE_BUILD_NUM" => "9",
                    "CIRCLE_USERNAME" => "ben",
                    _ => return None,
                }
                .to_string(),
            )
        });
        assert_eq!(
            circle.build_url.as_deref(),
            Some("https://circleci.com/gh/acme/shop/9")
        );
        assert_eq!(circle.build_label, "CircleCI job 9");
        assert_eq!(circle.actor.as_deref(), Some("ben"));
        let gh = ci();
        assert_eq!(
            gh.build_url.as_deref(),
            Some("https://github.com/acme/shop/actions/runs/77")
        );
        assert_eq!(gh.repo_url.as_deref(), Some("https://github.com/acme/shop"));
    }

    #[test]
    fn links_refuse_other_schemes_and_encode_what_would_end_them() {
        assert_eq!(link("javascript:alert(1)", "x"), "x");
        assert_eq!(
            link("https://h/a|b>c&d e", "x"),
            "<https://h/a%7Cb%3Ec&amp;d%20e|x>"
        );
        assert_eq!(
            pr_url("https://github.com/o/r/commit/abc", 4).as_deref(),
            Some("https://github.com/o/r/pull/4")
        );
        assert_eq!(pr_url("https://gitlab.com/o/r/-/commit/abc", 4), None);
    }
}
