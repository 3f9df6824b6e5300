//! `shipline notify`: tells Slack what happened in the run.
//!
//! The step reads the state file, asks [`derive`] which status to report and which step decided
//! it, builds the message with [`message::build`], and sends it: through an incoming webhook
//! (one new message each time), or through the Web API with a bot token, which posts one
//! message per run and updates it at each later step, with one thread reply carrying the
//! on-call mention when the deploy fails. What was posted is recorded under `slack` in the state
//! file, so a later or repeated `notify` updates instead of posting twice.
//!
//! A notification never fails a deploy: when Slack refuses or cannot be reached, the step warns
//! with a hint and exits 0 (the state says the message was not delivered); `--strict` makes it
//! fail. A missing credential or an unusable mention is a configuration error: exit 2 at once,
//! even when the status would have been filtered out, so it is found before the first outage.

use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ci;
use crate::cli::{NotesFrom, NotifyArgs, NotifyStatus, UsageError};
use crate::message::{self, CiContext, DeployRecord, Facts, Mention};
use crate::notes::{Recorded, NOTES_VERSION};
use crate::outcome::{Outcome, State, StepRecord};
use crate::slack::{self, Posted, SlackError, WebApi, Webhook};

/// The steps of a run in the order they happen; a step this version does not know is placed by
/// its start time, after known steps that started in the same second.
const STEP_ORDER: &[&str] = &["lock", "deploy", "verify", "promote", "rollback"];

/// The state file's key for what was posted to Slack.
const STATE_KEY: &str = "slack";

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

/// The run's steps from the state file, in the order they ran, without `notify` itself.
pub fn ordered_steps(state: &State) -> Vec<(String, StepRecord)> {
    let mut steps: Vec<(String, StepRecord)> = state
        .steps()
        .into_iter()
        .filter(|(name, _)| name != "notify")
        .collect();
    let rank = |name: &str| {
        STEP_ORDER
            .iter()
            .position(|s| *s == name)
            .unwrap_or(STEP_ORDER.len())
    };
    steps.sort_by(|(a, ra), (b, rb)| {
        (ra.started_at.as_str(), rank(a), a.as_str()).cmp(&(
            rb.started_at.as_str(),
            rank(b),
            b.as_str(),
        ))
    });
    steps
}

/// Decides the status from the run's steps, in order. A failed step anywhere means the deploy
/// failed (a rollback that succeeded after a failed verify does not make the run a success); a
/// skipped step ends the run as skipped; otherwise the last step that ran says how far it got,
/// and a run where only `lock` has run (or nothing yet) has just started.
pub fn derive(steps: &[(String, StepRecord)]) -> Decided {
    if let Some((name, record)) = steps.iter().find(|(_, r)| r.outcome == "failed") {
        return Decided {
            status: NotifyStatus::Failed,
            step: Some(name.clone()),
            reason: record.reason.clone(),
        };
    }
    if let Some((name, record)) = steps.iter().find(|(_, r)| r.outcome == "skipped") {
        return Decided {
            status: NotifyStatus::Skipped,
            step: Some(name.clone()),
            reason: record.reason.clone(),
        };
    }
    let last_done = steps.iter().rev().find(|(_, r)| r.outcome == "done");
    match last_done {
        None => Decided {
            status: NotifyStatus::Started,
            step: None,
            reason: None,
        },
        Some((name, _)) => Decided {
            status: if name == "lock" {
                NotifyStatus::Started
            } else {
                NotifyStatus::Succeeded
            },
            step: Some(name.clone()),
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

/// What the state file keeps about Slack between steps of one run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlackRecord {
    /// `web_api` or `webhook`.
    pub transport: String,
    /// The channel as `--channel` gave it (Web API), to notice a change of channel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_channel: Option<String>,
    /// The channel's ID, as Slack answered (Web API).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// The message's `ts`, which later steps update (Web API).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ts: Option<String>,
    /// The `ts` of the thread reply that carried the failure mention, so it is sent once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_reply_ts: Option<String>,
    /// `status at step` of each message a webhook delivered, so a repeat is not posted twice.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub posted: Vec<String>,
    /// The status the last attempt reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Whether the last attempt reached Slack.
    pub delivered: bool,
    /// Why it did not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The release notes the message shows: what `deploy` recorded under `notes`.
///
/// This is where a run whose deploy was done by something else gets its notes: with `recorded`
/// absent and a range given (`--from` or `--app`, `--to`, `--dir`), they are computed here with
/// the `notes` step's computation. Whatever goes wrong becomes "unavailable, because …": a
/// notification goes out without notes rather than not at all.
pub fn release_notes(recorded: Option<Recorded>, args: &NotifyArgs) -> Option<Recorded> {
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
    let from = match args.from.as_ref()? {
        NotesFrom::Rev(rev) => rev.clone(),
        NotesFrom::App(app) => match crate::steps::notes::live_commit(app) {
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
    };
    ci::say(&format!(
        "Release notes: computing {}..{}{} in {}",
        &from[..from.len().min(12)],
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
    }))
}

/// Reads a section of the state file, warning (not failing) when it is unreadable: a
/// notification goes out with less rather than not at all.
fn section<T: for<'de> Deserialize<'de>>(state: &State, key: &str) -> Option<T> {
    let value = state.get(key)?;
    if value.is_null() {
        return None;
    }
    match serde_json::from_value(value.clone()) {
        Ok(v) => Some(v),
        Err(e) => {
            ci::warn(&format!(
                "the state file's `{key}` section could not be read ({e}); the message goes without it"
            ));
            None
        }
    }
}

/// Runs `shipline notify`: configuration, status, filter, message, send.
pub fn run(args: &NotifyArgs, state: &mut State) -> Result<Outcome> {
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

    let steps = ordered_steps(state);
    let decided = decide(args.status, derive(&steps));
    if let Err(line) = filter(args.on.as_deref(), decided.status) {
        return Ok(Outcome::Skipped(line));
    }

    let deploy: Option<DeployRecord> = section(state, "deploy");
    let notes = release_notes(section(state, "notes"), args);
    let ci_context = CiContext::from_env(env);
    let progress: Vec<(String, String)> = steps
        .iter()
        .map(|(name, r)| {
            let outcome = if r.dry_run {
                format!("{} (dry run)", r.outcome)
            } else {
                r.outcome.clone()
            };
            (name.clone(), outcome)
        })
        .collect();
    let duration = (!steps.is_empty())
        .then(|| Duration::from_millis(steps.iter().map(|(_, r)| r.duration_ms).sum()));
    let app = deploy
        .as_ref()
        .and_then(|d| d.app.as_deref())
        .or(match &args.from {
            Some(NotesFrom::App(app)) => Some(app.as_str()),
            _ => None,
        });
    let web_api = matches!(transport, Some(Transport::WebApi { .. }));
    let facts = Facts {
        status: decided.status,
        step: decided.step.as_deref(),
        reason: decided.reason.as_deref(),
        steps: &progress,
        deploy: deploy.as_ref(),
        notes: notes.as_ref(),
        ci: &ci_context,
        app,
        environment: args.environment.as_deref(),
        title: args.title.as_deref(),
        duration,
        // A webhook cannot reply in a thread, so its message carries the mention itself.
        mention: if web_api { None } else { mention.as_ref() },
    };
    let payload = message::build(&facts);
    if let Err(why) = message::check_limits(&payload) {
        ci::warn(&format!(
            "the Slack message exceeds a limit ({why}); Slack may refuse it. Please report this with the output of --dry-run"
        ));
    }
    let reply = match (&mention, decided.status) {
        (Some(m), NotifyStatus::Failed) if web_api => Some(message::failure_reply(&facts, m)),
        _ => None,
    };
    let summary = match &decided.step {
        Some(step) => format!("{} at {step}", decided.status.word()),
        None => decided.status.word().to_string(),
    };

    let previous: Option<SlackRecord> = section(state, STATE_KEY);
    if args.dry_run {
        dry_run(
            transport.as_ref(),
            previous.as_ref(),
            &payload,
            reply.as_ref(),
        );
        return Ok(Outcome::Done);
    }
    let Some(transport) = transport else {
        return Err(anyhow!(UsageError("no Slack credentials".into())));
    };

    let mut record = match (&transport, previous) {
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
    record.status = Some(decided.status.word().to_string());

    let result = match &transport {
        Transport::Webhook { url } => {
            if record.posted.contains(&summary) {
                record.delivered = true;
                record.error = None;
                state.set(STATE_KEY, serde_json::to_value(&record)?);
                return Ok(Outcome::Skipped(format!(
                    "a message for \"{summary}\" was already posted through the webhook in this run; a webhook cannot update it, so it is not posted twice"
                )));
            }
            let webhook = Webhook::new(url, deadline);
            webhook.post(&payload).map(|warnings| {
                record.posted.push(summary.clone());
                ci::say(&format!(
                    "Posted to Slack through the incoming webhook: {summary}"
                ));
                warn_about(&warnings);
            })
        }
        Transport::WebApi {
            base,
            token,
            channel,
        } => {
            let api = WebApi::new(base, token, deadline);
            send_web_api(&api, channel, &payload, reply.as_ref(), &mut record, state)
        }
    };

    let outcome = match result {
        Ok(()) => {
            record.delivered = true;
            record.error = None;
            Outcome::Done
        }
        Err(error) => {
            let text = ci::redact(&format!("{error:#}"));
            record.delivered = false;
            record.error = Some(text.clone());
            let line = format!("the Slack message was not delivered: {text}");
            if args.strict {
                Outcome::Failed(line)
            } else {
                ci::warn(&format!(
                    "{line} (the deploy is not affected; --strict makes this fail the step)"
                ));
                ci::write_summary(&format!(
                    "> **Slack notification not delivered**: {}\n\n",
                    text.replace('\n', " ")
                ))?;
                Outcome::Done
            }
        }
    };
    state.set(STATE_KEY, serde_json::to_value(&record)?);
    let mut outputs = vec![("delivered", record.delivered.to_string())];
    if let (Some(channel), Some(ts)) = (&record.channel, &record.ts) {
        outputs.push(("slack-channel", channel.clone()));
        outputs.push(("slack-ts", ts.clone()));
    }
    ci::write_outputs(&outputs)?;
    Ok(outcome)
}

/// Posts or updates the run's message, then the failure reply once. The state is updated after
/// each request that succeeded, so whatever happens next, a rerun neither posts the message
/// again nor repeats the reply.
fn send_web_api(
    api: &WebApi,
    channel: &str,
    payload: &Value,
    reply: Option<&Value>,
    record: &mut SlackRecord,
    state: &mut State,
) -> Result<()> {
    let posted = match (record.channel.clone(), record.ts.clone()) {
        (Some(id), Some(ts)) => match api.update(&id, &ts, payload) {
            Ok(posted) => {
                ci::say(&format!("Updated the Slack message {ts} in {id}"));
                posted
            }
            Err(e)
                if e.downcast_ref::<SlackError>()
                    .is_some_and(SlackError::message_is_gone) =>
            {
                ci::warn(&format!("{e}; posting a new message instead"));
                record.failure_reply_ts = None;
                let posted = api.post_message(channel, payload, None)?;
                ci::say(&format!(
                    "Posted a new Slack message {} in {}",
                    posted.ts, posted.channel
                ));
                posted
            }
            Err(e) => return Err(e),
        },
        _ => {
            let posted = api.post_message(channel, payload, None)?;
            ci::say(&format!(
                "Posted to Slack: message {} in {}",
                posted.ts, posted.channel
            ));
            posted
        }
    };
    warn_about(&posted.warnings);
    record.channel = Some(posted.channel.clone());
    record.ts = Some(posted.ts.clone());
    state.set(STATE_KEY, serde_json::to_value(&*record)?);

    if let Some(reply) = reply {
        if record.failure_reply_ts.is_none() {
            let Posted { ts, warnings, .. } =
                api.post_message(&posted.channel, reply, Some(&posted.ts))?;
            warn_about(&warnings);
            ci::say(&format!(
                "Replied in the message's thread with the failure mention ({ts})"
            ));
            record.failure_reply_ts = Some(ts);
            state.set(STATE_KEY, serde_json::to_value(&*record)?);
        } else {
            ci::say(
                "The failure mention was already sent in the message's thread; not repeating it",
            );
        }
    }
    Ok(())
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
    payload: &Value,
    reply: Option<&Value>,
) {
    let target = match transport {
        None => "post it through SLACK_WEBHOOK_URL or SLACK_BOT_TOKEN (neither is set)".to_string(),
        Some(Transport::Webhook { url }) => {
            format!("post it through the webhook {}", slack::mask_webhook(url))
        }
        Some(Transport::WebApi { channel, .. }) => match previous {
            Some(SlackRecord {
                channel: Some(id),
                ts: Some(ts),
                requested_channel,
                ..
            }) if requested_channel.as_deref() == Some(channel.as_str()) => {
                format!("update the message {ts} in {id} (chat.update)")
            }
            _ => format!("post it to {channel} (chat.postMessage)"),
        },
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

    fn step(name: &str, outcome: &str, at: &str, reason: Option<&str>) -> (String, StepRecord) {
        (
            name.to_string(),
            StepRecord {
                outcome: outcome.into(),
                reason: reason.map(Into::into),
                started_at: format!("2026-11-27T02:30:{at}Z"),
                duration_ms: 1000,
                dry_run: false,
            },
        )
    }

    fn state_with(steps: &[(String, StepRecord)]) -> State {
        let mut state = State::default();
        for (name, record) in steps {
            state.record_step(name, record.clone());
        }
        state
    }

    #[test]
    fn steps_are_ordered_by_start_then_by_the_usual_order() {
        let state = state_with(&[
            step("verify", "done", "00", None),
            step("deploy", "done", "00", None),
            step("lock", "done", "00", None),
            step("notify", "done", "00", None),
            step("smoke", "done", "05", None),
            step("canary", "done", "00", None),
        ]);
        let names: Vec<String> = ordered_steps(&state).into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["lock", "deploy", "verify", "canary", "smoke"]);
    }

    #[test]
    fn the_status_comes_from_the_steps_that_ran() {
        assert_eq!(derive(&[]).status, NotifyStatus::Started);
        let lock = step("lock", "done", "00", None);
        let d = derive(std::slice::from_ref(&lock));
        assert_eq!(
            (d.status, d.step.as_deref()),
            (NotifyStatus::Started, Some("lock"))
        );
        let deploy = step("deploy", "done", "01", None);
        let d = derive(&[lock.clone(), deploy.clone()]);
        assert_eq!(
            (d.status, d.step.as_deref()),
            (NotifyStatus::Succeeded, Some("deploy"))
        );
        let verify = step("verify", "done", "02", None);
        let d = derive(&[lock.clone(), deploy.clone(), verify]);
        assert_eq!(d.step.as_deref(), Some("verify"));
    }

    #[test]
    fn a_failure_anywhere_decides_and_a_later_success_does_not_hide_it() {
        let steps = [
            step("lock", "done", "00", None),
            step("deploy", "done", "01", None),
            step("verify", "failed", "02", Some("GET /health answered 503")),
            step("rollback", "done", "03", None),
        ];
        let d = derive(&steps);
        assert_eq!(d.status, NotifyStatus::Failed);
        assert_eq!(d.step.as_deref(), Some("verify"));
        assert_eq!(d.reason.as_deref(), Some("GET /health answered 503"));
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
        let d = derive(&steps);
        assert_eq!(d.status, NotifyStatus::Skipped);
        assert_eq!(d.step.as_deref(), Some("lock"));
        assert_eq!(d.reason.as_deref(), Some("superseded by #12"));
    }

    #[test]
    fn status_flag_wins_but_keeps_details_when_it_agrees() {
        let derived = derive(&[step("deploy", "failed", "00", Some("build failed"))]);
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

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
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
