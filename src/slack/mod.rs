//! Slack client: incoming webhooks and the Web API (`chat.postMessage`, `chat.update`).
//!
//! Both go through the one HTTP agent. What is particular to Slack lives here: a webhook
//! answers `ok` or a plain-text error code with a 4xx, and a 3xx means the URL is not a webhook
//! at all; the Web API answers HTTP 200 with `{"ok": false, "error": ...}`, so `ok` is checked
//! on every answer. A 429 is retried after `Retry-After` (bounded by the step's deadline);
//! posting a message is never retried after an answer that may mean it was posted, so a repost
//! never duplicates a message, while `chat.update` (idempotent on one `ts`) may be. Every
//! refusal carries a hint that says what to change. The webhook URL and the bot token are
//! secrets: the webhook's path is shown as `***` and neither ever reaches a message.
//!
//! [`message`] builds what is posted, as data.

pub mod message;

use std::fmt;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde::Deserialize;
use serde_json::Value;

use crate::ci;
use crate::http::{Body, Client, Reply, Request, Retry};

/// The default Web API base (`SHIPLINE_SLACK_API_URL` overrides it).
pub const DEFAULT_API_URL: &str = "https://slack.com/api";

/// What Slack wants as the body's type (without the charset it warns `missing_charset`).
const JSON_UTF8: &str = "application/json; charset=utf-8";

/// The two ways of posting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An incoming webhook (`SLACK_WEBHOOK_URL`).
    Webhook,
    /// The Web API with a bot token (`SLACK_BOT_TOKEN`).
    WebApi,
}

/// Slack refused a request, or answered in a way that means the message is not there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlackError {
    /// `POST /chat.postMessage`, or the webhook with its secret path masked.
    pub request: String,
    /// Slack's error code (`channel_not_found`), or `HTTP 503` when it gave none.
    pub code: String,
    /// What to do about it.
    pub hint: String,
}

impl fmt::Display for SlackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Slack {} answered `{}`: {}",
            self.request, self.code, self.hint
        )
    }
}

impl std::error::Error for SlackError {}

impl SlackError {
    /// Whether `chat.update` failed because the message cannot be edited any more (deleted,
    /// too old, not the bot's), so posting a new one is the way to keep the channel informed.
    pub fn message_is_gone(&self) -> bool {
        matches!(
            self.code.as_str(),
            "message_not_found" | "cant_update_message" | "edit_window_closed"
        )
    }
}

/// The hint for a Slack error code, by transport: the same word can mean different things
/// (`channel_not_found` from a webhook means the webhook's channel is gone).
pub fn hint(kind: Kind, code: &str) -> String {
    let refused_message = "Slack refused the message itself, which shipline builds within Slack's documented limits: please report it with the output of `shipline notify --dry-run`";
    let text = match (kind, code) {
        (Kind::WebApi, "channel_not_found") => "check --channel (SHIPLINE_CHANNEL): use the channel's ID such as C0123ABC (in Slack: the channel's name → About → Channel ID); a private channel is invisible until the bot is invited with `/invite @your-app`",
        (Kind::WebApi, "not_in_channel") => "invite the bot to the channel with `/invite @your-app`, or give the app the chat:write.public scope to post in public channels without joining",
        (_, "is_archived" | "channel_is_archived") => "the channel is archived: unarchive it or choose another channel",
        (Kind::WebApi, "invalid_auth" | "not_authed" | "token_revoked" | "token_expired" | "account_inactive") => "SLACK_BOT_TOKEN is missing, revoked or not a bot token: copy the Bot User OAuth Token (xoxb-...) from the app's OAuth & Permissions page into the CI secret SLACK_BOT_TOKEN",
        (Kind::WebApi, "missing_scope") => "the bot token lacks the chat:write scope: add it under the app's OAuth & Permissions, reinstall the app, and update SLACK_BOT_TOKEN",
        (Kind::Webhook, "invalid_token" | "no_service" | "no_team" | "channel_not_found" | "HTTP 404" | "HTTP 403") => "the incoming webhook was deleted, revoked or its app uninstalled: create a new incoming webhook for the channel and update the CI secret SLACK_WEBHOOK_URL",
        (_, "action_prohibited" | "restricted_action" | "restricted_action_read_only_channel" | "restricted_action_thread_only_channel" | "restricted_action_non_threadable_channel") => "a workspace or channel restriction forbids this post: ask a Slack admin, or choose another channel",
        (_, "ratelimited" | "rate_limited" | "HTTP 429") => "Slack kept rate limiting after waiting as long as its Retry-After asked, within --timeout: post less often, or raise --timeout",
        (_, "invalid_payload" | "invalid_blocks" | "invalid_blocks_format" | "invalid_json" | "msg_too_long" | "msg_blocks_too_long" | "no_text" | "missing_text_or_fallback_or_attachments" | "invalid_arguments" | "invalid_charset" | "too_many_attachments") => refused_message,
        (_, "message_not_found" | "cant_update_message" | "edit_window_closed") => "the message to update is gone or can no longer be edited",
        (_, "redirect") => "SLACK_WEBHOOK_URL is not an incoming webhook URL, which looks like https://hooks.slack.com/services/T…/B…/…; a bot token (xoxb-...) belongs in SLACK_BOT_TOKEN with --channel",
        (_, code) if code.starts_with("HTTP 5") || code == "fatal_error" || code == "internal_error" || code == "rollup_error" || code == "service_unavailable" => "Slack had an internal error; see https://slack-status.com and try again",
        _ => "see Slack's documentation of this error code",
    };
    text.to_string()
}

/// Masks a webhook URL for messages: `https://hooks.slack.com/services/***`.
pub fn mask_webhook(url: &str) -> String {
    if let Some(at) = url.find("/services/") {
        return format!("{}/services/***", &url[..at]);
    }
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let host = rest.split(['/', '?', '#']).next().unwrap_or(rest);
            let host = host.rsplit_once('@').map(|(_, h)| h).unwrap_or(host);
            format!("{scheme}://{host}/***")
        }
        None => "***".to_string(),
    }
}

/// An incoming webhook.
pub struct Webhook {
    client: Client,
    url: String,
    shown: String,
}

impl Webhook {
    /// A webhook at `url`, which is registered as a secret (whole, and its path, which alone
    /// is enough to post).
    pub fn new(url: &str, deadline: Instant) -> Webhook {
        ci::register_secret(url);
        if let Some((_, rest)) = url.split_once("://") {
            if let Some(at) = rest.find('/') {
                ci::register_secret(&rest[at..]);
            }
        }
        let shown = mask_webhook(url);
        Webhook {
            client: Client::new("Slack", &shown, Duration::from_secs(1)).with_deadline(deadline),
            url: url.to_string(),
            shown,
        }
    }

    /// Posts a message. A webhook cannot say where the message landed, so nothing comes back.
    pub fn post(&self, payload: &Value) -> Result<Vec<String>> {
        let bytes = serde_json::to_vec(payload).context("could not serialize the Slack message")?;
        let reply = self
            .client
            .send(
                Request::post(self.url.clone(), Retry::Once)
                    .shown_as(self.shown.clone())
                    .body(Body::Bytes(&bytes, JSON_UTF8)),
            )
            .context("could not reach the Slack webhook")?;
        let body = String::from_utf8_lossy(&reply.body).trim().to_string();
        if reply.status == 200 {
            return Ok(Vec::new());
        }
        let code = if (300..400).contains(&reply.status) {
            "redirect".to_string()
        } else {
            webhook_code(reply.status, &body)
        };
        Err(SlackError {
            request: reply.request.clone(),
            hint: hint(Kind::Webhook, &code),
            code,
        }
        .into())
    }
}

/// The error word of a webhook's plain-text answer, or `HTTP <status>` when the body is not
/// one (an HTML error page, say).
fn webhook_code(status: u16, body: &str) -> String {
    let word = body.lines().next().unwrap_or("").trim();
    let is_code = !word.is_empty()
        && word.len() <= 64
        && word
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if is_code {
        word.to_string()
    } else {
        format!("HTTP {status}")
    }
}

/// Where a Web API message landed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posted {
    /// The channel's ID (what `chat.update` needs, whatever name the post used).
    pub channel: String,
    /// The message's timestamp, its id within the channel.
    pub ts: String,
    /// Slack's warnings (`message_truncated`, `missing_charset`), to pass on to the log.
    pub warnings: Vec<String>,
}

#[derive(Deserialize)]
struct ApiAnswer {
    ok: bool,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    channel: Option<String>,
    #[serde(default)]
    ts: Option<String>,
    #[serde(default)]
    needed: Option<String>,
    #[serde(default)]
    warning: Option<String>,
    #[serde(default)]
    response_metadata: Option<Metadata>,
}

#[derive(Deserialize, Default)]
struct Metadata {
    #[serde(default)]
    warnings: Vec<String>,
    #[serde(default)]
    messages: Vec<String>,
}

/// The Web API with a bot token.
pub struct WebApi {
    client: Client,
}

impl WebApi {
    /// A client for the Web API at `base` with `token`, which is registered as a secret.
    pub fn new(base: &str, token: &str, deadline: Instant) -> WebApi {
        ci::register_secret(token);
        WebApi {
            client: Client::new("Slack", base, Duration::from_secs(1))
                .with_header("Authorization", format!("Bearer {token}"))
                .with_deadline(deadline),
        }
    }

    /// Posts a message to `channel` (an ID or a name), as a reply in the thread of
    /// `thread_ts` when given. Retried only when Slack said it did not take it (429) or the
    /// connection never opened: anything else may mean it was posted.
    pub fn post_message(
        &self,
        channel: &str,
        payload: &Value,
        thread_ts: Option<&str>,
    ) -> Result<Posted> {
        let mut body = payload.clone();
        body["channel"] = channel.into();
        if let Some(ts) = thread_ts {
            body["thread_ts"] = ts.into();
        }
        self.call("/chat.postMessage", Retry::Once, &body)
    }

    /// Replaces the message `ts` in `channel` (an ID). Safe to retry: the same edit twice
    /// leaves the same message.
    pub fn update(&self, channel: &str, ts: &str, payload: &Value) -> Result<Posted> {
        let mut body = payload.clone();
        if let Value::Object(map) = &mut body {
            // chat.update takes neither; the original message's settings stay.
            map.remove("unfurl_links");
            map.remove("unfurl_media");
        }
        body["channel"] = channel.into();
        body["ts"] = ts.into();
        self.call("/chat.update", Retry::Idempotent, &body)
    }

    fn call(&self, method: &str, retry: Retry, body: &Value) -> Result<Posted> {
        let bytes = serde_json::to_vec(body).context("could not serialize the Slack message")?;
        let reply = self
            .client
            .send(Request::post(method, retry).body(Body::Bytes(&bytes, JSON_UTF8)))
            .with_context(|| format!("could not reach the Slack Web API ({method})"))?;
        api_answer(&reply)
    }
}

/// Reads a Web API answer: `ok` checked on every status, the error code with its hint.
fn api_answer(reply: &Reply) -> Result<Posted> {
    let refuse = |code: String| -> anyhow::Error {
        SlackError {
            request: reply.request.clone(),
            hint: hint(Kind::WebApi, &code),
            code,
        }
        .into()
    };
    if reply.status == 429 {
        return Err(refuse("ratelimited".into()));
    }
    let answer: ApiAnswer = match serde_json::from_slice(&reply.body) {
        Ok(answer) => answer,
        Err(_) if reply.status != 200 => return Err(refuse(format!("HTTP {}", reply.status))),
        Err(e) => {
            return Err(anyhow::anyhow!(
                "Slack {} answered HTTP 200 with a body that is not Slack's JSON ({e}); is SHIPLINE_SLACK_API_URL pointing at Slack's Web API (https://slack.com/api)?",
                reply.request
            ))
        }
    };
    let metadata = answer.response_metadata.unwrap_or_default();
    let mut warnings: Vec<String> = answer
        .warning
        .into_iter()
        .flat_map(|w| w.split(',').map(str::to_string).collect::<Vec<_>>())
        .chain(metadata.warnings)
        .collect();
    warnings.sort_unstable();
    warnings.dedup();
    if !answer.ok {
        let code = answer
            .error
            .unwrap_or_else(|| format!("HTTP {}", reply.status));
        let mut error = SlackError {
            request: reply.request.clone(),
            hint: hint(Kind::WebApi, &code),
            code,
        };
        if let Some(needed) = answer.needed {
            error.hint.push_str(&format!(" (needed: {needed})"));
        }
        if !metadata.messages.is_empty() {
            error
                .hint
                .push_str(&format!(" (Slack says: {})", metadata.messages.join("; ")));
        }
        return Err(error.into());
    }
    match (answer.channel, answer.ts) {
        (Some(channel), Some(ts)) => Ok(Posted {
            channel,
            ts,
            warnings,
        }),
        _ => Err(anyhow::anyhow!(
            "Slack {} answered ok without the message's channel and ts, so it cannot be updated later",
            reply.request
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(status: u16, body: &str) -> Result<Posted> {
        api_answer(&Reply::for_test(
            status,
            body.as_bytes(),
            "POST /chat.postMessage",
        ))
    }

    fn slack_error(result: Result<Posted>) -> SlackError {
        result
            .unwrap_err()
            .downcast::<SlackError>()
            .expect("a SlackError")
    }

    #[test]
    fn ok_answers_give_channel_ts_and_warnings() {
        let posted = api(
            200,
            r#"{"ok":true,"channel":"C1","ts":"1.2","warning":"missing_charset","response_metadata":{"warnings":["missing_charset","message_truncated"]}}"#,
        )
        .unwrap();
        assert_eq!(posted.channel, "C1");
        assert_eq!(posted.ts, "1.2");
        assert_eq!(posted.warnings, ["message_truncated", "missing_charset"]);
    }

    #[test]
    fn ok_false_with_http_200_is_an_error_with_a_hint() {
        let e = slack_error(api(200, r#"{"ok":false,"error":"not_in_channel"}"#));
        assert_eq!(e.code, "not_in_channel");
        assert!(e.to_string().contains("/invite @your-app"), "{e}");
        assert!(e
            .to_string()
            .starts_with("Slack POST /chat.postMessage answered `not_in_channel`"));
        let e = slack_error(api(
            200,
            r#"{"ok":false,"error":"missing_scope","needed":"chat:write","provided":"users:read"}"#,
        ));
        assert!(e.hint.contains("chat:write") && e.hint.contains("(needed: chat:write)"));
        let e = slack_error(api(200, r#"{"ok":false,"error":"invalid_auth"}"#));
        assert!(e.hint.contains("SLACK_BOT_TOKEN"));
        let e = slack_error(api(200, r#"{"ok":false,"error":"channel_not_found"}"#));
        assert!(e.hint.contains("--channel") && e.hint.contains("C0123ABC"));
    }

    #[test]
    fn rate_limits_and_server_errors_are_named() {
        assert_eq!(slack_error(api(429, "")).code, "ratelimited");
        let e = slack_error(api(503, "<html>down</html>"));
        assert_eq!(e.code, "HTTP 503");
        assert!(e.hint.contains("slack-status.com"));
        let e = api(200, "<html>").unwrap_err().to_string();
        assert!(e.contains("SHIPLINE_SLACK_API_URL"), "{e}");
        let e = api(200, r#"{"ok":true}"#).unwrap_err().to_string();
        assert!(e.contains("without the message's channel and ts"), "{e}");
    }

    #[test]
    fn an_edit_of_a_gone_message_is_recognised() {
        assert!(
            slack_error(api(200, r#"{"ok":false,"error":"message_not_found"}"#)).message_is_gone()
        );
        assert!(
            !slack_error(api(200, r#"{"ok":false,"error":"channel_not_found"}"#)).message_is_gone()
        );
    }

    #[test]
    fn webhook_answers_are_read_as_codes() {
        assert_eq!(webhook_code(400, "invalid_payload\n"), "invalid_payload");
        assert_eq!(webhook_code(404, "no_service"), "no_service");
        assert_eq!(webhook_code(500, "<html>Oops</html>"), "HTTP 500");
        assert!(hint(Kind::Webhook, "no_service").contains("SLACK_WEBHOOK_URL"));
        assert!(hint(Kind::Webhook, "HTTP 404").contains("deleted"));
        assert!(hint(Kind::Webhook, "redirect").contains("SLACK_BOT_TOKEN"));
        assert!(hint(Kind::Webhook, "invalid_blocks").contains("--dry-run"));
    }

    #[test]
    fn webhook_urls_are_masked_down_to_the_host() {
        assert_eq!(
            mask_webhook("https://hooks.slack.com/services/T0/B0/secret"),
            "https://hooks.slack.com/services/***"
        );
        assert_eq!(
            mask_webhook("https://user:pw@proxy.example/hook/abc?x=1"),
            "https://proxy.example/***"
        );
        assert_eq!(mask_webhook("garbage"), "***");
    }
}
