//! `shipline notify`: tells Slack what happened to an app in the run.
//!
//! A job often acts on several apps (staging, then production), so a message is about one app:
//! the one of the job's latest deploy or promote unless `--app` names others. The step reads the
//! state file, asks [`derive()`] which status to report from the steps that acted on that app,
//! builds the message with [`message::build`], and sends it: through an incoming webhook (a new
//! message for each app and status), or through the Web API with a bot token, which posts one
//! message per app and updates it at each later step, with one thread reply carrying the
//! on-call mention when that app's deploy fails. What was posted is recorded under `slack` in
//! the state file, so a later or repeated `notify` updates instead of posting twice.
//!
//! A notification never fails a deploy: when Slack refuses or cannot be reached, the step warns
//! with a hint and exits 0 (the state says the message was not delivered); `--strict` makes it
//! fail. A missing credential or an unusable mention is a configuration error: exit 2 at once,
//! even when the status would have been filtered out, so it is found before the first outage.

use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};
use serde_json::Value;

use super::Scope;
use crate::ci;
use crate::cli::NotifyArgs;
use crate::guard;
use crate::heroku::HerokuConfig;
use crate::notes::{Recorded, NOTES_VERSION};
use crate::outcome::Outcome;
use crate::slack::message::{
    self, CiContext, DeployRecord, Facts, Mention, NotifyStatus, ReleaseRef, RolledBack,
};
use crate::slack::{self, Posted, SlackError, WebApi, Webhook};
use crate::state::{AppRecord, SlackMessage, SlackRecord, State, StepRecord};
use crate::usage::UsageError;

/// The status to report and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decided {
    /// The status.
    pub status: NotifyStatus,
    /// The step that decided it, when it came from the state file.
    pub step: Option<String>,
    /// That step's reason (why it failed or skipped).
    pub reason: Option<String>,
}

/// The steps that concern `app` (those that acted on it, and the lock), in the order they ran,
/// as they ended on that app, without `notify` itself; every step when there is no app.
pub fn steps_of(steps: &[StepRecord], app: Option<&str>) -> Vec<StepRecord> {
    steps
        .iter()
        .filter(|s| s.step != "notify")
        .filter(|s| app.is_none_or(|app| s.concerns(app)))
        .map(|s| match app {
            Some(app) => s.for_app(app),
            None => s.clone(),
        })
        .collect()
}

/// Decides the status from an app's steps, in order. A failed step anywhere means the deploy
/// failed (a rollback that succeeded after a failed verify does not make the run a success); a
/// skipped step ends the run as skipped; otherwise the last step that ran says how far it got,
/// and a run where only `lock` has run (or nothing yet) has just started.
pub fn derive(steps: &[StepRecord]) -> Decided {
    if let Some(record) = steps.iter().find(|r| r.outcome == "failed") {
        return Decided {
            status: NotifyStatus::Failed,
            step: Some(record.step.clone()),
            reason: record.reason.clone(),
        };
    }
    if let Some(record) = steps.iter().find(|r| r.outcome == "skipped") {
        return Decided {
            status: NotifyStatus::Skipped,
            step: Some(record.step.clone()),
            reason: record.reason.clone(),
        };
    }
    match steps.iter().rev().find(|r| r.outcome == "done") {
        None => Decided {
            status: NotifyStatus::Started,
            step: None,
            reason: None,
        },
        Some(record) => Decided {
            status: if record.step == "lock" {
                NotifyStatus::Started
            } else {
                NotifyStatus::Succeeded
            },
            step: Some(record.step.clone()),
            reason: None,
        },
    }
}

/// Applies `--status`: it wins over the state file, but when both agree the step and reason
/// from the state file are kept, since they say more.
pub fn decide(given: Option<NotifyStatus>, derived: Decided) -> Decided {
    match given {
        Some(status) if status != derived.status => Decided {
            status,
            step: None,
            reason: None,
        },
        _ => derived,
    }
}

/// `--on`: whether this status is to be posted, or the line saying why not.
pub fn filter(on: Option<&[NotifyStatus]>, status: NotifyStatus) -> Result<(), String> {
    match on {
        Some(on) if !on.contains(&status) => {
            let words: Vec<&str> = on.iter().map(|s| s.word()).collect();
            Err(format!(
                "not posting to Slack: the status is {} and --on asks for {} only",
                status.word(),
                words.join(", ")
            ))
        }
        _ => Ok(()),
    }
}

/// The environment a message names: `--environment`, else the app's pipeline stage, else none
/// (the headline then names the app alone).
pub fn environment<'a>(given: Option<&'a str>, stage: Option<&'a str>) -> Option<&'a str> {
    given.or(stage).map(str::trim).filter(|e| !e.is_empty())
}

/// What the message says about an app's releases: the change (deploy or promote) and any
/// rollback after it.
pub fn shipped(app: &str, record: Option<&AppRecord>) -> Option<DeployRecord> {
    let record = record?;
    let change = record.change.as_ref()?;
    Some(DeployRecord {
        app: Some(app.to_string()),
        commit: Some(change.commit.clone()),
        release: change.release.as_ref().map(|r| ReleaseRef {
            version: Some(r.version),
        }),
        previous_release: change.previous_release.as_ref().map(|r| ReleaseRef {
            version: Some(r.version),
        }),
        dry_run: change.dry_run,
        web_url: change.web_url.clone(),
        rolled_back: record
            .rollback
            .as_ref()
            .filter(|r| !r.dry_run)
            .map(|r| RolledBack {
                to: r.to,
                release: r.release.as_ref().map(|r| r.version),
            }),
        adopted: record.adopted.clone(),
    })
}

/// How the message is sent, from the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// `SLACK_WEBHOOK_URL`.
    Webhook {
        /// The URL (a secret).
        url: String,
    },
    /// `SLACK_BOT_TOKEN` with `--channel`.
    WebApi {
        /// `SHIPLINE_SLACK_API_URL` or Slack's.
        base: String,
        /// The bot token (a secret).
        token: String,
        /// The channel as given (an ID or a name).
        channel: String,
    },
}

/// Chooses the transport. The bot token wins when it has a channel, since only it can update
/// one message through the run; a token without a channel falls back to a webhook when one is
/// set, and is a configuration error otherwise. The second value is a line for the log about a
/// choice the user may not expect. Values are never quoted in errors: they are secrets.
pub fn transport(
    channel: Option<&str>,
    var: impl Fn(&str) -> Option<String>,
) -> Result<(Option<Transport>, Option<String>), UsageError> {
    let var = |name: &str| {
        var(name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let webhook = var("SLACK_WEBHOOK_URL");
    let token = var("SLACK_BOT_TOKEN");
    let channel = channel.map(str::trim).filter(|c| !c.is_empty());
    if let Some(url) = &webhook {
        if url.starts_with("xox") {
            return Err(UsageError("SLACK_WEBHOOK_URL holds a Slack token, not a webhook URL: put the bot token in SLACK_BOT_TOKEN and pass --channel, or set SLACK_WEBHOOK_URL to https://hooks.slack.com/services/...".into()));
        }
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err(UsageError("SLACK_WEBHOOK_URL is not an http(s) URL; an incoming webhook URL looks like https://hooks.slack.com/services/T…/B…/… (its value is not shown: it is a secret)".into()));
        }
        crate::http::check_credential_url("SLACK_WEBHOOK_URL", url).map_err(UsageError)?;
    }
    if let Some(token) = &token {
        if token.starts_with("https://") || token.starts_with("http://") {
            return Err(UsageError("SLACK_BOT_TOKEN holds a URL, not a token: a webhook URL belongs in SLACK_WEBHOOK_URL; a bot token starts with xoxb-".into()));
        }
    }
    match (token, channel, webhook) {
        (Some(token), Some(channel), _) => {
            let base = var("SHIPLINE_SLACK_API_URL").unwrap_or_else(|| slack::DEFAULT_API_URL.into());
            if !(base.starts_with("https://") || base.starts_with("http://")) {
                return Err(UsageError(format!(
                    "SHIPLINE_SLACK_API_URL must be an http(s) URL such as {}, not `{base}`",
                    slack::DEFAULT_API_URL
                )));
            }
            crate::http::check_credential_url("SHIPLINE_SLACK_API_URL", &base).map_err(UsageError)?;
            Ok((
                Some(Transport::WebApi {
                    base,
                    token,
                    channel: channel.to_string(),
                }),
                None,
            ))
        }
        (Some(_), None, Some(url)) => Ok((
            Some(Transport::Webhook { url }),
            Some("SLACK_BOT_TOKEN is set without --channel (SHIPLINE_CHANNEL); posting through SLACK_WEBHOOK_URL instead, which cannot update the message at later steps".into()),
        )),
        (Some(_), None, None) => Err(UsageError(
            "SLACK_BOT_TOKEN is set but no channel: pass --channel C0123ABC or set SHIPLINE_CHANNEL (a channel ID is best; the bot must be in the channel)".into(),
        )),
        (None, channel, Some(url)) => Ok((
            Some(Transport::Webhook { url }),
            channel.map(|_| "--channel is ignored with SLACK_WEBHOOK_URL: an incoming webhook posts to the channel it was created for".to_string()),
        )),
        (None, _, None) => Ok((None, None)),
    }
}

/// The release notes the message shows for `app`: what `deploy` or `promote` recorded for it.
///
/// This is where a run whose deploy was done by something else gets its notes: with nothing
/// recorded, they are computed here with the `notes` step's computation, from `--from` (else the
/// app's live commit) to `--to`. Whatever goes wrong becomes "unavailable, because …": a
/// notification goes out without notes rather than not at all.
pub fn release_notes(
    recorded: Option<Recorded>,
    app: Option<&str>,
    args: &NotifyArgs,
) -> Option<Recorded> {
    if let Some(Recorded::Notes(notes)) = &recorded {
        if notes.version > NOTES_VERSION {
            ci::warn(&format!(
                "the release notes in the state file have format version {}, newer than this shipline reads ({NOTES_VERSION}); fields it does not know are left out of the message",
                notes.version
            ));
        }
    }
    if recorded.is_some() {
        return recorded;
    }
    let from = match (&args.from, app) {
        (Some(rev), _) => rev.clone(),
        (None, Some(app)) => match guard::live_commit(app) {
            Ok(Ok(commit)) => commit,
            Ok(Err(reason)) => {
                return Some(Recorded::Unavailable {
                    unavailable: reason,
                })
            }
            Err(e) => {
                return Some(Recorded::Unavailable {
                    unavailable: ci::redact(&format!("{e:#}")),
                })
            }
        },
        (None, None) => return None,
    };
    ci::say(&format!(
        "Release notes: computing {}..{}{} in {}",
        from.chars().take(12).collect::<String>(),
        args.to,
        if args.first_parent {
            " (first parents)"
        } else {
            ""
        },
        args.dir.display()
    ));
    Some(crate::notes::compute(&crate::notes::Range {
        dir: &args.dir,
        from: &from,
        to: &args.to,
        first_parent: args.first_parent,
        known: None,
    }))
}

/// Notify reports on the apps given, else on those of the job's latest deploy or promote, else
/// on the run as a whole. It never skips because an earlier step skipped: it reports the skip.
pub fn scope(args: &NotifyArgs, state: &State) -> Result<Scope> {
    Ok(Scope {
        apps: super::apps_or_latest(&args.apps, state).unwrap_or_default(),
        after: Vec::new(),
    })
}

/// Runs `shipline notify`: configuration, then a message for each app.
pub fn run(args: &NotifyArgs, state: &mut State, apps: &[String]) -> Result<Outcome> {
    let deadline = Instant::now() + args.timeout;
    let env = |name: &str| std::env::var(name).ok();
    let mention = args
        .mention_on_failure
        .as_deref()
        .map(Mention::parse)
        .transpose()
        .map_err(|e| anyhow!(UsageError(e)))?;
    let (transport, note) = transport(args.channel.as_deref(), env)?;
    if transport.is_none() && !args.dry_run {
        return Err(anyhow!(UsageError(
            "no Slack credentials: set SLACK_WEBHOOK_URL to an incoming webhook URL, or SLACK_BOT_TOKEN to a bot token (chat:write) together with --channel (SHIPLINE_CHANNEL); store them as CI secrets".into()
        )));
    }
    if let Some(note) = note {
        ci::say(&note);
    }
    let notify = Notify {
        args,
        transport: transport.as_ref(),
        mention: mention.as_ref(),
        ci: CiContext::from_env(env),
        deadline,
    };
    let targets: Vec<Option<&str>> = if apps.is_empty() {
        vec![None]
    } else {
        apps.iter().map(|a| Some(a.as_str())).collect()
    };
    let mut outcomes = Vec::new();
    for app in targets {
        let outcome = notify.report(state, app)?;
        if let Some(app) = app {
            state.record_app_outcome(app, &outcome);
        }
        if let (Some(app), Outcome::Skipped(why) | Outcome::Failed(why)) = (app, &outcome) {
            if apps.len() > 1 {
                outcomes.push(match outcome {
                    Outcome::Skipped(_) => Outcome::Skipped(format!("{app}: {why}")),
                    _ => Outcome::Failed(format!("{app}: {why}")),
                });
                continue;
            }
        }
        outcomes.push(outcome);
    }
    Ok(combine(outcomes))
}

/// One outcome for the step from each message's: a failure wins, then done, and the step skips
/// only when every message was skipped.
fn combine(outcomes: Vec<Outcome>) -> Outcome {
    let reasons = |word: &str| -> Vec<String> {
        outcomes
            .iter()
            .filter(|o| o.word() == word)
            .filter_map(|o| o.reason().map(str::to_string))
            .collect()
    };
    let failed = reasons("failed");
    if !failed.is_empty() {
        return Outcome::Failed(failed.join("; "));
    }
    if outcomes.contains(&Outcome::Done) {
        return Outcome::Done;
    }
    Outcome::Skipped(reasons("skipped").join("; "))
}

/// What every message of one `notify` shares.
struct Notify<'a> {
    args: &'a NotifyArgs,
    transport: Option<&'a Transport>,
    mention: Option<&'a Mention>,
    ci: CiContext,
    deadline: Instant,
}

impl Notify<'_> {
    /// Builds and sends the message about `app` (or the run, when it has no app yet).
    fn report(&self, state: &mut State, app: Option<&str>) -> Result<Outcome> {
        let args = self.args;
        let steps = steps_of(state.steps(), app);
        let decided = decide(args.status, derive(&steps));
        if let Err(line) = filter(args.on.as_deref(), decided.status) {
            return Ok(Outcome::Skipped(line));
        }
        let record = app.and_then(|a| state.app(a));
        let shipped = app.and_then(|a| shipped(a, record));
        let notes = release_notes(record.and_then(|r| r.notes.clone()), app, args);
        let progress: Vec<(String, String)> = steps
            .iter()
            .map(|r| {
                let outcome = if r.dry_run {
                    format!("{} (dry run)", r.outcome)
                } else {
                    r.outcome.clone()
                };
                (r.step.clone(), outcome)
            })
            .collect();
        let duration = (!steps.is_empty())
            .then(|| Duration::from_millis(steps.iter().map(|r| r.duration_ms).sum()));
        let stage = match (args.environment.as_deref(), app) {
            (None, Some(app)) => pipeline_stage(app),
            _ => None,
        };
        let web_api = matches!(self.transport, Some(Transport::WebApi { .. }));
        let facts = Facts {
            status: decided.status,
            step: decided.step.as_deref(),
            reason: decided.reason.as_deref(),
            steps: &progress,
            deploy: shipped.as_ref(),
            notes: notes.as_ref(),
            ci: &self.ci,
            app,
            environment: environment(args.environment.as_deref(), stage.as_deref()),
            title: args.title.as_deref(),
            duration,
            // A webhook cannot reply in a thread, so its message carries the mention itself.
            mention: if web_api { None } else { self.mention },
        };
        let payload = message::build(&facts);
        if let Err(why) = message::check_limits(&payload) {
            ci::warn(&format!(
                "the Slack message exceeds a limit ({why}); Slack may refuse it. Please report this with the output of --dry-run"
            ));
        }
        let reply = match (self.mention, decided.status) {
            (Some(m), NotifyStatus::Failed) if web_api => Some(message::failure_reply(&facts, m)),
            _ => None,
        };
        let what = match &decided.step {
            Some(step) => format!("{} at {step}", decided.status.word()),
            None => decided.status.word().to_string(),
        };
        let about = app.map(|a| format!(" about {a}")).unwrap_or_default();
        let tag = app.map(|a| format!(" ({a})")).unwrap_or_default();
        let key = app.unwrap_or_default().to_string();

        let previous = state.slack().cloned();
        if args.dry_run {
            dry_run(
                self.transport,
                previous.as_ref(),
                &key,
                &payload,
                reply.as_ref(),
            );
            return Ok(Outcome::Done);
        }
        let Some(transport) = self.transport else {
            return Err(anyhow!(UsageError("no Slack credentials".into())));
        };
        let mut record = match (transport, previous) {
            (Transport::WebApi { channel, .. }, Some(p))
                if p.transport == "web_api" && p.requested_channel.as_deref() == Some(channel) =>
            {
                p
            }
            (Transport::Webhook { .. }, Some(p)) if p.transport == "webhook" => p,
            (Transport::WebApi { channel, .. }, _) => SlackRecord {
                transport: "web_api".into(),
                requested_channel: Some(channel.clone()),
                ..SlackRecord::default()
            },
            (Transport::Webhook { .. }, _) => SlackRecord {
                transport: "webhook".into(),
                ..SlackRecord::default()
            },
        };
        let mut message = record.messages.remove(&key).unwrap_or_default();
        message.status = Some(decided.status.word().to_string());

        let result = match transport {
            Transport::Webhook { url } => {
                if message.posted.contains(&what) {
                    message.delivered = true;
                    message.error = None;
                    record.messages.insert(key, message);
                    state.set_slack(record);
                    return Ok(Outcome::Skipped(format!(
                        "a message{about} for \"{what}\" was already posted through the webhook in this run; a webhook cannot update it, so it is not posted twice"
                    )));
                }
                let webhook = Webhook::new(url, self.deadline);
                webhook.post(&payload).map(|warnings| {
                    message.posted.push(what.clone());
                    ci::say(&format!(
                        "Posted to Slack through the incoming webhook: {what}{tag}"
                    ));
                    warn_about(&warnings);
                })
            }
            Transport::WebApi {
                base,
                token,
                channel,
            } => {
                let api = WebApi::new(base, token, self.deadline);
                let mut sent = Sent {
                    record: &mut record,
                    key: &key,
                    message: &mut message,
                    state,
                };
                sent.web_api(&api, channel, &tag, &payload, reply.as_ref())
            }
        };

        let outcome = match result {
            Ok(()) => {
                message.delivered = true;
                message.error = None;
                Outcome::Done
            }
            Err(error) => {
                let text = ci::redact(&format!("{error:#}"));
                message.delivered = false;
                message.error = Some(text.clone());
                let line = format!("the Slack message{about} was not delivered: {text}");
                if args.strict {
                    Outcome::Failed(line)
                } else {
                    ci::warn(&format!(
                        "{line} (the deploy is not affected; --strict makes this fail the step)"
                    ));
                    ci::write_summary(&format!(
                        "> **Slack notification{about} not delivered**: {}\n\n",
                        text.replace('\n', " ")
                    ))?;
                    Outcome::Done
                }
            }
        };
        let mut outputs = vec![("delivered", message.delivered.to_string())];
        if let (Some(channel), Some(ts)) = (&record.channel, &message.ts) {
            outputs.push(("slack-channel", channel.clone()));
            outputs.push(("slack-ts", ts.clone()));
        }
        record.messages.insert(key, message);
        state.set_slack(record);
        ci::write_outputs(&outputs)?;
        Ok(outcome)
    }
}

/// The app's stage in its Heroku pipeline, which names the environment when `--environment`
/// does not. Needs `HEROKU_API_KEY`; without it, or when Heroku cannot say, the message names
/// the app alone (said in the log when Heroku failed).
fn pipeline_stage(app: &str) -> Option<String> {
    std::env::var("HEROKU_API_KEY")
        .ok()
        .filter(|k| !k.trim().is_empty())?;
    let config = HerokuConfig::from_env().ok()?;
    let heroku = config.client(Instant::now() + Duration::from_secs(20));
    match heroku.coupling(app) {
        Ok(coupling) => coupling.and_then(|c| c.stage),
        Err(e) => {
            ci::warn(&format!(
                "could not read the pipeline stage of {app} to name its environment ({}); the message names the app alone (pass --environment to name it)",
                ci::redact(&format!("{e:#}"))
            ));
            None
        }
    }
}

/// A Web API message being sent, with where its record lives.
struct Sent<'a> {
    record: &'a mut SlackRecord,
    key: &'a str,
    message: &'a mut SlackMessage,
    state: &'a mut State,
}

impl Sent<'_> {
    /// Saves what was sent so far into the state, so whatever happens next, a rerun neither
    /// posts the message again nor repeats the reply.
    fn keep(&mut self) {
        let mut record = self.record.clone();
        record
            .messages
            .insert(self.key.to_string(), self.message.clone());
        self.state.set_slack(record);
    }

    /// Posts or updates the app's message, then the failure reply once.
    fn web_api(
        &mut self,
        api: &WebApi,
        channel: &str,
        tag: &str,
        payload: &Value,
        reply: Option<&Value>,
    ) -> Result<()> {
        let posted = match (self.record.channel.clone(), self.message.ts.clone()) {
            (Some(id), Some(ts)) => match api.update(&id, &ts, payload) {
                Ok(posted) => {
                    ci::say(&format!("Updated the Slack message {ts} in {id}{tag}"));
                    posted
                }
                Err(e)
                    if e.downcast_ref::<SlackError>()
                        .is_some_and(SlackError::message_is_gone) =>
                {
                    ci::warn(&format!("{e}; posting a new message instead"));
                    self.message.failure_reply_ts = None;
                    let posted = api.post_message(channel, payload, None)?;
                    ci::say(&format!(
                        "Posted a new Slack message {} in {}{tag}",
                        posted.ts, posted.channel
                    ));
                    posted
                }
                Err(e) => return Err(e),
            },
            _ => {
                let posted = api.post_message(channel, payload, None)?;
                ci::say(&format!(
                    "Posted to Slack: message {} in {}{tag}",
                    posted.ts, posted.channel
                ));
                posted
            }
        };
        warn_about(&posted.warnings);
        self.record.channel = Some(posted.channel.clone());
        self.message.ts = Some(posted.ts.clone());
        self.keep();

        if let Some(reply) = reply {
            if self.message.failure_reply_ts.is_none() {
                let Posted { ts, warnings, .. } =
                    api.post_message(&posted.channel, reply, Some(&posted.ts))?;
                warn_about(&warnings);
                ci::say(&format!(
                    "Replied in the message's thread with the failure mention ({ts})"
                ));
                self.message.failure_reply_ts = Some(ts);
                self.keep();
            } else {
                ci::say(
                    "The failure mention was already sent in the message's thread; not repeating it",
                );
            }
        }
        Ok(())
    }
}

fn warn_about(warnings: &[String]) {
    for warning in warnings {
        ci::warn(&format!("Slack warned `{warning}` about the message"));
    }
}

/// Prints what would be sent, and where, without sending anything. Pretty JSON lines always
/// start with whitespace or a bracket and strings carry no raw newline, so no line of it can
/// be mistaken for a GitHub workflow command.
fn dry_run(
    transport: Option<&Transport>,
    previous: Option<&SlackRecord>,
    key: &str,
    payload: &Value,
    reply: Option<&Value>,
) {
    let target = match transport {
        None => "post it through SLACK_WEBHOOK_URL or SLACK_BOT_TOKEN (neither is set)".to_string(),
        Some(Transport::Webhook { url }) => {
            format!("post it through the webhook {}", slack::mask_webhook(url))
        }
        Some(Transport::WebApi { channel, .. }) => {
            let earlier = previous
                .filter(|p| p.requested_channel.as_deref() == Some(channel.as_str()))
                .and_then(|p| Some((p.channel.clone()?, p.messages.get(key)?.ts.clone()?)));
            match earlier {
                Some((id, ts)) => format!("update the message {ts} in {id} (chat.update)"),
                None => format!("post it to {channel} (chat.postMessage)"),
            }
        }
    };
    ci::say(&format!(
        "Dry run: would {target}; nothing was sent. The message:"
    ));
    ci::say(&serde_json::to_string_pretty(payload).unwrap_or_default());
    if let Some(reply) = reply {
        ci::say("and the reply in its thread, carrying the mention:");
        ci::say(&serde_json::to_string_pretty(reply).unwrap_or_default());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ci::testing::env;

    fn step(name: &str, outcome: &str, at: &str, reason: Option<&str>) -> StepRecord {
        on(name, &[], outcome, at, reason)
    }

    fn on(name: &str, apps: &[&str], outcome: &str, at: &str, reason: Option<&str>) -> StepRecord {
        StepRecord {
            step: name.to_string(),
            apps: apps.iter().map(|a| a.to_string()).collect(),
            outcome: outcome.into(),
            reason: reason.map(Into::into),
            started_at: format!("2026-11-27T02:30:{at}Z"),
            duration_ms: 1000,
            dry_run: false,
            by_app: Default::default(),
        }
    }

    fn derived(steps: &[StepRecord], app: Option<&str>) -> Decided {
        derive(&steps_of(steps, app))
    }

    /// Checks what the message tells of a decision: the status, the step and the reason.
    fn assert_told(d: Decided, status: NotifyStatus, step: &str, reason: &str) {
        assert_eq!(
            (d.status, d.step.as_deref(), d.reason.as_deref()),
            (status, Some(step), Some(reason))
        );
    }

    #[test]
    fn the_status_comes_from_the_steps_that_ran() {
        assert_eq!(derived(&[], None).status, NotifyStatus::Started);
        let lock = step("lock", "done", "00", None);
        let d = derived(std::slice::from_ref(&lock), None);
        assert_eq!(
            (d.status, d.step.as_deref()),
            (NotifyStatus::Started, Some("lock"))
        );
        let deploy = step("deploy", "done", "01", None);
        let d = derived(&[lock.clone(), deploy.clone()], None);
        assert_eq!(
            (d.status, d.step.as_deref()),
            (NotifyStatus::Succeeded, Some("deploy"))
        );
        let verify = step("verify", "done", "02", None);
        let notify = step("notify", "failed", "03", Some("Slack said no"));
        let d = derived(&[lock, deploy, verify, notify], None);
        assert_eq!(
            (d.status, d.step.as_deref()),
            (NotifyStatus::Succeeded, Some("verify")),
            "notify's own record does not count"
        );
    }

    #[test]
    fn each_app_is_judged_by_the_steps_that_acted_on_it() {
        let steps = [
            step("lock", "done", "00", None),
            on("deploy", &["shop-staging"], "done", "01", None),
            on("verify", &["shop-staging"], "done", "02", None),
            on("notify", &["shop-staging"], "done", "03", None),
            on("promote", &["shop"], "done", "04", None),
            on(
                "verify",
                &["shop"],
                "failed",
                "05",
                Some("web.1 crashed; rolled back to v4 as v6"),
            ),
        ];
        let staging = derived(&steps, Some("shop-staging"));
        assert_eq!(
            (staging.status, staging.step.as_deref()),
            (NotifyStatus::Succeeded, Some("verify"))
        );
        let production = derived(&steps, Some("shop"));
        assert_eq!(
            (production.status, production.step.as_deref()),
            (NotifyStatus::Failed, Some("verify"))
        );
        assert_eq!(
            production.reason.as_deref(),
            Some("web.1 crashed; rolled back to v4 as v6")
        );
        let of_production = steps_of(&steps, Some("shop"));
        let names: Vec<&str> = of_production.iter().map(|s| s.step.as_str()).collect();
        assert_eq!(names, ["lock", "promote", "verify"]);
    }

    #[test]
    fn the_environment_is_the_flag_else_the_pipeline_stage() {
        assert_eq!(environment(Some("prod"), Some("production")), Some("prod"));
        assert_eq!(environment(None, Some("production")), Some("production"));
        assert_eq!(environment(None, None), None);
        assert_eq!(environment(Some(" "), None), None);
    }

    #[test]
    fn a_failure_anywhere_decides_and_a_later_success_does_not_hide_it() {
        let steps = [
            step("lock", "done", "00", None),
            step("deploy", "done", "01", None),
            step("verify", "failed", "02", Some("GET /health answered 503")),
            step("rollback", "done", "03", None),
        ];
        let d = derived(&steps, None);
        assert_told(
            d,
            NotifyStatus::Failed,
            "verify",
            "GET /health answered 503",
        );
    }

    #[test]
    fn a_skip_says_which_step_and_why() {
        let steps = [
            step("lock", "skipped", "00", Some("superseded by #12")),
            step(
                "deploy",
                "skipped",
                "01",
                Some("the lock step skipped this run"),
            ),
        ];
        assert_told(
            derived(&steps, None),
            NotifyStatus::Skipped,
            "lock",
            "superseded by #12",
        );
    }

    #[test]
    fn status_flag_wins_but_keeps_details_when_it_agrees() {
        let derived = derived(
            &[step("deploy", "failed", "00", Some("build failed"))],
            None,
        );
        assert_eq!(decide(Some(NotifyStatus::Failed), derived.clone()), derived);
        let d = decide(Some(NotifyStatus::Succeeded), derived.clone());
        assert_eq!(
            (d.status, d.step, d.reason),
            (NotifyStatus::Succeeded, None, None)
        );
        assert_eq!(decide(None, derived.clone()), derived);
    }

    #[test]
    fn on_filters_with_a_line_saying_why() {
        assert!(filter(None, NotifyStatus::Started).is_ok());
        let on = [NotifyStatus::Failed, NotifyStatus::Succeeded];
        assert!(filter(Some(&on), NotifyStatus::Failed).is_ok());
        assert_eq!(
            filter(Some(&on), NotifyStatus::Skipped).unwrap_err(),
            "not posting to Slack: the status is skipped and --on asks for failed, succeeded only"
        );
    }

    #[test]
    fn transport_prefers_the_bot_token_with_a_channel() {
        let vars = [
            ("SLACK_BOT_TOKEN", "xoxb-1-2"),
            (
                "SLACK_WEBHOOK_URL",
                "https://hooks.slack.com/services/T/B/x",
            ),
        ];
        let (t, note) = transport(Some("C1"), env(&vars)).unwrap();
        assert_eq!(
            t,
            Some(Transport::WebApi {
                base: "https://slack.com/api".into(),
                token: "xoxb-1-2".into(),
                channel: "C1".into()
            })
        );
        assert!(note.is_none());
        let (t, note) = transport(None, env(&vars)).unwrap();
        assert!(matches!(t, Some(Transport::Webhook { .. })));
        assert!(note.unwrap().contains("without --channel"));
    }

    #[test]
    fn transport_configuration_errors_name_the_variable_never_the_value() {
        let err = transport(None, env(&[("SLACK_BOT_TOKEN", "xoxb-1-2")]))
            .unwrap_err()
            .0;
        assert!(
            err.contains("--channel") && err.contains("SHIPLINE_CHANNEL"),
            "{err}"
        );
        let err = transport(
            None,
            env(&[("SLACK_WEBHOOK_URL", "hooks.slack.com/services/T/B/sekrit")]),
        )
        .unwrap_err()
        .0;
        assert!(
            err.contains("SLACK_WEBHOOK_URL") && !err.contains("sekrit"),
            "{err}"
        );
        let err = transport(None, env(&[("SLACK_WEBHOOK_URL", "xoxb-123")]))
            .unwrap_err()
            .0;
        assert!(
            err.contains("SLACK_BOT_TOKEN") && !err.contains("xoxb-123"),
            "{err}"
        );
        let err = transport(
            Some("C1"),
            env(&[
                ("SLACK_BOT_TOKEN", "xoxb-1"),
                ("SHIPLINE_SLACK_API_URL", "slack.com"),
            ]),
        )
        .unwrap_err()
        .0;
        assert!(err.contains("SHIPLINE_SLACK_API_URL"), "{err}");
        assert_eq!(transport(Some("C1"), env(&[])).unwrap(), (None, None));
        let (_, note) = transport(
            Some("C1"),
            env(&[("SLACK_WEBHOOK_URL", "https://h/services/x")]),
        )
        .unwrap();
        assert!(note.unwrap().contains("--channel is ignored"));
    }
}
