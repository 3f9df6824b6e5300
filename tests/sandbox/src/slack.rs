//! A fake Slack: an incoming webhook and the Web API's `chat.postMessage` and `chat.update`,
//! answering as Slack's reference describes them and keeping every message (with its thread
//! replies and edit history) for tests to read.
//!
//! What it reproduces:
//! - the webhook (`POST /services/T…/B…/…`): HTTP 200 with the body `ok`, or a plain-text
//!   error code with a 4xx (`invalid_payload` for a body that is not JSON, `no_text`,
//!   `invalid_blocks`, 404 `no_service` for an unknown or deleted webhook); any other path
//!   answers a 302 to api.slack.com, as hooks.slack.com does for what is not a webhook;
//! - the Web API (`POST /api/chat.postMessage`, `/api/chat.update`): HTTP 200 with
//!   `{"ok": false, "error": ...}` for every error, as Slack does (`not_authed`,
//!   `invalid_auth`, `invalid_json`, `channel_not_found`, `not_in_channel`, `is_archived`,
//!   `message_not_found`, `no_text`, `invalid_blocks` with Slack's `[ERROR] … [json-pointer:…]`
//!   messages), a `missing_charset` warning when `Content-Type` has no charset, and
//!   `chat.update` requiring the channel's ID rather than its name;
//! - Slack's limits: at most 50 blocks; header text plain_text of 1–150 characters; section
//!   text of 1–3000 characters or 1–10 fields of at most 2000; context with 1–10 elements;
//!   `block_id` at most 255; top-level `text` past 40,000 characters truncated with the
//!   `message_truncated` warning; and the undocumented ~13,000 characters of cumulative block
//!   text refused as `msg_blocks_too_long` (reported in slackapi/bolt-js #2509, #2867);
//! - rate limits, when scripted: HTTP 429 with `Retry-After`.
//!
//! Known divergences: no OAuth scopes (`missing_scope` only when scripted), no form-encoded
//! bodies, no attachments validation, no markdown blocks; a reply to an unknown `thread_ts`
//! answers `thread_not_found` (Slack's behaviour there is not documented).

use std::io;
use std::net::TcpListener;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use crate::server::{Request, Response, Server};
use crate::tls::ServerCert;
use crate::util::uuid;

/// A request the fake received, as it arrived.
pub type Recorded = Request;

const JSON: &str = "application/json; charset=utf-8";

/// The channel every fake starts with: the bot is a member and the webhook posts there.
pub const DEPLOYS: &str = "C0DEPLOYS";

/// Most blocks in a message.
pub const MAX_BLOCKS: usize = 50;
/// Most characters of a section's text.
pub const MAX_SECTION_TEXT: usize = 3000;
/// Most characters of a header's text.
pub const MAX_HEADER_TEXT: usize = 150;
/// Most characters of top-level text before it is truncated.
pub const MAX_TEXT: usize = 40_000;
/// Cumulative block text past which Slack answers `msg_blocks_too_long` (undocumented).
pub const MAX_BLOCKS_TEXT: usize = 13_000;

/// How a message arrived.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Via {
    /// Through the incoming webhook.
    Webhook,
    /// Through `chat.postMessage`.
    WebApi,
}

/// A message as the channel holds it.
#[derive(Clone, Debug)]
pub struct Message {
    /// The channel's ID.
    pub channel: String,
    /// Its timestamp (its id within the channel).
    pub ts: String,
    /// The top-level text, as stored (truncated past 40,000 characters).
    pub text: String,
    /// The blocks, as received.
    pub blocks: Value,
    /// The payload of the last post or update, as received (decoded JSON).
    pub payload: Value,
    /// The parent's `ts`, for a thread reply.
    pub thread_ts: Option<String>,
    /// Replies in its thread, oldest first.
    pub replies: Vec<Message>,
    /// Earlier versions (payloads) replaced by `chat.update`, oldest first.
    pub edits: Vec<Value>,
    /// How it arrived.
    pub via: Via,
}

#[derive(Clone, Debug)]
struct Channel {
    id: String,
    name: String,
    member: bool,
    private: bool,
    archived: bool,
}

#[derive(Clone, Debug)]
struct Rule {
    path: String,
    remaining: usize,
    answer: Answer,
}

#[derive(Clone, Debug)]
enum Answer {
    RateLimited(u64),
    Error(String),
}

struct State {
    token: String,
    webhook_path: String,
    webhook_deleted: bool,
    channels: Vec<Channel>,
    messages: Vec<Message>,
    requests: Vec<Request>,
    rules: Vec<Rule>,
    clock: u64,
    counter: u64,
}

type Shared = Arc<Mutex<State>>;

fn lock(shared: &Shared) -> MutexGuard<'_, State> {
    shared.lock().unwrap_or_else(|e| e.into_inner())
}

/// A running fake Slack on 127.0.0.1. Dropping it stops the server.
pub struct Slack {
    shared: Shared,
    url: String,
    token: String,
    _server: Server,
}

impl Slack {
    /// Starts on a free port with a random bot token and webhook; panics if it cannot bind.
    pub fn start() -> Slack {
        Slack::start_on(0).expect("sandbox: cannot start the fake Slack")
    }

    /// Starts on `port` (0 for a free one).
    pub fn start_on(port: u16) -> io::Result<Slack> {
        Slack::start_on_with(port, None)
    }

    /// Starts over HTTPS with `cert` (e.g. [`crate::TestCa::server_cert`]) on a free port;
    /// panics if it cannot bind. [`Slack::url`], [`Slack::api_url`] and
    /// [`Slack::webhook_url`] are then `https://127.0.0.1:PORT/…`.
    pub fn start_tls(cert: &ServerCert) -> Slack {
        Slack::start_on_with(0, Some(cert)).expect("sandbox: cannot start the fake Slack")
    }

    /// Starts on `port` (0 for a free one), over HTTPS with `tls` when given.
    pub fn start_on_with(port: u16, tls: Option<&ServerCert>) -> io::Result<Slack> {
        let listener = TcpListener::bind(("127.0.0.1", port))?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        let url = format!("{scheme}://{}", listener.local_addr()?);
        let token = format!("xoxb-{}", uuid().replace('-', ""));
        let secret = uuid().replace('-', "")[..24].to_string();
        let state = State {
            token: token.clone(),
            webhook_path: format!("/services/T0SANDBOX/B0WEBHOOK/{secret}"),
            webhook_deleted: false,
            channels: vec![Channel {
                id: DEPLOYS.into(),
                name: "deploys".into(),
                member: true,
                private: false,
                archived: false,
            }],
            messages: Vec::new(),
            requests: Vec::new(),
            rules: Vec::new(),
            clock: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs(),
            counter: 0,
        };
        let shared: Shared = Arc::new(Mutex::new(state));
        let handler_state = shared.clone();
        let server = Server::serve_with(
            listener,
            Arc::new(move |req| handle(&handler_state, req)),
            tls,
        )?;
        Ok(Slack {
            shared,
            url,
            token,
            _server: server,
        })
    }

    /// The server's base URL, `http://127.0.0.1:PORT` (`https://` when started with TLS).
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// The Web API base, what `SHIPLINE_SLACK_API_URL` takes.
    pub fn api_url(&self) -> String {
        format!("{}/api", self.url)
    }

    /// The incoming webhook's URL, what `SLACK_WEBHOOK_URL` takes.
    pub fn webhook_url(&self) -> String {
        format!("{}{}", self.url, lock(&self.shared).webhook_path)
    }

    /// The webhook's path (`/services/T…/B…/secret`), to script failures on it.
    pub fn webhook_path(&self) -> String {
        lock(&self.shared).webhook_path.clone()
    }

    /// The accepted bot token, what `SLACK_BOT_TOKEN` takes.
    pub fn bot_token(&self) -> &str {
        &self.token
    }

    /// Adds a public channel; `member` says whether the bot is in it (posting to one it is
    /// not in answers `not_in_channel`).
    pub fn add_channel(&self, id: &str, name: &str, member: bool) {
        self.push_channel(id, name, member, false, false);
    }

    /// Adds a private channel; one the bot is not in is invisible to it (`channel_not_found`).
    pub fn add_private_channel(&self, id: &str, name: &str, member: bool) {
        self.push_channel(id, name, member, true, false);
    }

    /// Adds an archived channel (`is_archived`).
    pub fn add_archived_channel(&self, id: &str, name: &str) {
        self.push_channel(id, name, true, false, true);
    }

    fn push_channel(&self, id: &str, name: &str, member: bool, private: bool, archived: bool) {
        lock(&self.shared).channels.push(Channel {
            id: id.into(),
            name: name.into(),
            member,
            private,
            archived,
        });
    }

    /// Deletes the webhook: it answers 404 `no_service` from now on.
    pub fn delete_webhook(&self) {
        lock(&self.shared).webhook_deleted = true;
    }

    /// The next `times` requests to `path` (`/api/chat.postMessage`, `/api/chat.update`, or
    /// [`Slack::webhook_path`]) answer HTTP 429 with `Retry-After: retry_after`.
    pub fn rate_limit_next(&self, path: &str, times: usize, retry_after: u64) {
        lock(&self.shared).rules.push(Rule {
            path: path.into(),
            remaining: times,
            answer: Answer::RateLimited(retry_after),
        });
    }

    /// The next `times` requests to `path` fail with Slack's error `code`: `{"ok": false}`
    /// with HTTP 200 on the Web API, the code as plain text with its 4xx/5xx on the webhook.
    pub fn fail_next(&self, path: &str, code: &str, times: usize) {
        lock(&self.shared).rules.push(Rule {
            path: path.into(),
            remaining: times,
            answer: Answer::Error(code.into()),
        });
    }

    /// The top-level messages of a channel, oldest first, with their replies and edits.
    pub fn messages(&self, channel: &str) -> Vec<Message> {
        lock(&self.shared)
            .messages
            .iter()
            .filter(|m| m.channel == channel)
            .cloned()
            .collect()
    }

    /// Every top-level message of every channel, in the order they arrived (webhook and Web
    /// API alike), with their replies and edits: the whole conversation, for a transcript.
    pub fn all_messages(&self) -> Vec<Message> {
        lock(&self.shared).messages.clone()
    }

    /// Channel IDs with their names (`C0DEPLOYS` → `deploys`), to show messages as Slack does.
    pub fn channel_names(&self) -> Vec<(String, String)> {
        lock(&self.shared)
            .channels
            .iter()
            .map(|c| (c.id.clone(), c.name.clone()))
            .collect()
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<Recorded> {
        lock(&self.shared).requests.clone()
    }
}

fn api_ok(body: Value) -> Response {
    let mut body = body;
    body["ok"] = true.into();
    Response::new(200, JSON, body.to_string())
}

fn api_error(code: &str) -> Response {
    api_error_with(code, &[])
}

fn api_error_with(code: &str, messages: &[String]) -> Response {
    let mut body = json!({"ok": false, "error": code});
    if !messages.is_empty() {
        body["errors"] = json!(messages);
        body["response_metadata"] = json!({"messages": messages});
    }
    Response::new(200, JSON, body.to_string())
}

fn webhook_error(code: &str) -> Response {
    let status = match code {
        "invalid_token" | "action_prohibited" => 403,
        "channel_not_found" | "no_service" | "no_team" => 404,
        "channel_is_archived" => 410,
        "rollup_error" => 500,
        "rate_limited" => 429,
        _ => 400,
    };
    Response::new(status, "text/plain; charset=utf-8", code.to_string())
}

fn handle(shared: &Shared, req: Request) -> Response {
    let mut state = lock(shared);
    state.requests.push(req.clone());
    let webhook = req.path.starts_with("/services/");
    if let Some(rule) = state
        .rules
        .iter_mut()
        .find(|r| r.remaining > 0 && r.path == req.path)
    {
        rule.remaining -= 1;
        return match rule.answer.clone() {
            Answer::RateLimited(seconds) => {
                let body = if webhook {
                    "rate_limited".to_string()
                } else {
                    json!({"ok": false, "error": "ratelimited"}).to_string()
                };
                let kind = if webhook { "text/plain" } else { JSON };
                Response::new(429, kind, body).with_header("Retry-After", seconds.to_string())
            }
            Answer::Error(code) if webhook => webhook_error(&code),
            Answer::Error(code) => api_error(&code),
        };
    }
    if webhook {
        return post_webhook(&mut state, &req);
    }
    match req.path.as_str() {
        "/api/chat.postMessage" | "/api/chat.update" => {}
        path if path.starts_with("/api/") => return api_error("unknown_method"),
        _ => {
            return Response::new(302, "text/html", "")
                .with_header("Location", "https://api.slack.com/messaging/webhooks")
        }
    }
    if req.method != "POST" {
        return Response::new(405, "text/plain", "method not allowed");
    }
    let token = req
        .header("Authorization")
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match token {
        None | Some("") => return api_error("not_authed"),
        Some(t) if t != state.token => return api_error("invalid_auth"),
        Some(_) => {}
    }
    let content_type = req
        .header("Content-Type")
        .unwrap_or("")
        .to_ascii_lowercase();
    if !content_type.starts_with("application/json") {
        // Form-encoded calls are not modelled; shipline sends JSON.
        return api_error("invalid_arguments");
    }
    let mut warnings = Vec::new();
    if !content_type.contains("charset") {
        warnings.push("missing_charset".to_string());
    }
    let payload: Value = match serde_json::from_slice(&req.body) {
        Ok(Value::Object(map)) => Value::Object(map),
        _ => return api_error("invalid_json"),
    };
    let result = if req.path == "/api/chat.postMessage" {
        post_message(&mut state, payload, &mut warnings)
    } else {
        update(&mut state, payload, &mut warnings)
    };
    match result {
        Err(response) => response,
        Ok(mut body) => {
            if !warnings.is_empty() {
                body["warning"] = warnings.join(",").into();
                body["response_metadata"] = json!({"warnings": warnings});
            }
            api_ok(body)
        }
    }
}

fn post_webhook(state: &mut State, req: &Request) -> Response {
    if req.path != state.webhook_path || state.webhook_deleted {
        return webhook_error("no_service");
    }
    if req.method != "POST" {
        return Response::new(405, "text/plain", "invalid_method");
    }
    let payload: Value = match serde_json::from_slice(&req.body) {
        Ok(Value::Object(map)) => Value::Object(map),
        _ => return webhook_error("invalid_payload"),
    };
    let mut warnings = Vec::new();
    let (text, blocks) = match validate(&payload, &mut warnings) {
        Ok(parts) => parts,
        Err((code, _)) => return webhook_error(&code),
    };
    let channel = state.channels[0].id.clone();
    let ts = state.next_ts();
    let message = Message {
        channel,
        ts,
        text,
        blocks,
        payload,
        thread_ts: None,
        replies: Vec::new(),
        edits: Vec::new(),
        via: Via::Webhook,
    };
    state.messages.push(message);
    Response::new(200, "text/html", "ok")
}

impl State {
    fn next_ts(&mut self) -> String {
        self.counter += 1;
        format!("{}.{:06}", self.clock, self.counter * 100)
    }

    /// A channel by ID or name (`#deploys` or `deploys`).
    fn channel(&self, given: &str) -> Option<&Channel> {
        let name = given.trim_start_matches('#');
        self.channels
            .iter()
            .find(|c| c.id == given || c.name == name)
    }
}

fn post_message(
    state: &mut State,
    payload: Value,
    warnings: &mut Vec<String>,
) -> Result<Value, Response> {
    let given = payload["channel"].as_str().unwrap_or("");
    let channel = state
        .channel(given)
        .filter(|c| c.member || !c.private)
        .cloned()
        .ok_or_else(|| api_error("channel_not_found"))?;
    if channel.archived {
        return Err(api_error("is_archived"));
    }
    if !channel.member {
        return Err(api_error("not_in_channel"));
    }
    let (text, blocks) =
        validate(&payload, warnings).map_err(|(code, m)| api_error_with(&code, &m))?;
    let thread_ts = payload["thread_ts"].as_str().map(str::to_string);
    let ts = state.next_ts();
    let message = Message {
        channel: channel.id.clone(),
        ts: ts.clone(),
        text: text.clone(),
        blocks,
        payload: payload.clone(),
        thread_ts: thread_ts.clone(),
        replies: Vec::new(),
        edits: Vec::new(),
        via: Via::WebApi,
    };
    match &thread_ts {
        Some(parent) => {
            let parent = state
                .messages
                .iter_mut()
                .find(|m| m.channel == channel.id && &m.ts == parent)
                .ok_or_else(|| api_error("thread_not_found"))?;
            parent.replies.push(message);
        }
        None => state.messages.push(message),
    }
    Ok(json!({
        "channel": channel.id,
        "ts": ts,
        "message": {"type": "message", "text": text, "ts": ts, "bot_id": "B0SANDBOX"},
    }))
}

fn update(
    state: &mut State,
    payload: Value,
    warnings: &mut Vec<String>,
) -> Result<Value, Response> {
    let given = payload["channel"].as_str().unwrap_or("");
    // chat.update needs the channel's ID; a name does not find it.
    let channel = state
        .channels
        .iter()
        .find(|c| c.id == given && (c.member || !c.private))
        .cloned()
        .ok_or_else(|| api_error("channel_not_found"))?;
    let ts = payload["ts"].as_str().unwrap_or("").to_string();
    let (text, blocks) =
        validate(&payload, warnings).map_err(|(code, m)| api_error_with(&code, &m))?;
    let mut found = None;
    for (i, m) in state.messages.iter().enumerate() {
        if m.channel != channel.id {
            continue;
        }
        if m.ts == ts {
            found = Some((i, None));
            break;
        }
        if let Some(j) = m.replies.iter().position(|r| r.ts == ts) {
            found = Some((i, Some(j)));
            break;
        }
    }
    let message = match found.ok_or_else(|| api_error("message_not_found"))? {
        (i, None) => &mut state.messages[i],
        (i, Some(j)) => &mut state.messages[i].replies[j],
    };
    let previous = std::mem::replace(&mut message.payload, payload);
    message.edits.push(previous);
    message.text = text.clone();
    message.blocks = blocks;
    Ok(json!({
        "channel": channel.id,
        "ts": ts,
        "text": text,
        "message": {"type": "message", "text": text, "bot_id": "B0SANDBOX"},
    }))
}

fn chars(text: &str) -> usize {
    text.chars().count()
}

/// Checks a message against Slack's limits. Returns the stored text and blocks, or the error
/// code with Slack-style messages naming the offending place.
fn validate(
    payload: &Value,
    warnings: &mut Vec<String>,
) -> Result<(String, Value), (String, Vec<String>)> {
    let invalid = |why: String, at: String| {
        (
            "invalid_blocks".to_string(),
            vec![format!("[ERROR] {why} [json-pointer:{at}]")],
        )
    };
    let text = match &payload["text"] {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        _ => {
            return Err((
                "invalid_arguments".into(),
                vec!["[ERROR] text must be a string".into()],
            ))
        }
    };
    let blocks = match &payload["blocks"] {
        Value::Null => Vec::new(),
        Value::Array(blocks) => blocks.clone(),
        _ => return Err(("invalid_blocks_format".into(), Vec::new())),
    };
    if text.trim().is_empty() && blocks.is_empty() {
        return Err(("no_text".into(), Vec::new()));
    }
    if blocks.len() > MAX_BLOCKS {
        return Err(invalid(
            format!("no more than {MAX_BLOCKS} items allowed"),
            "/blocks".into(),
        ));
    }
    let text_object = |value: &Value, at: String, max: usize, plain_only: bool| {
        let kind = value["type"].as_str().unwrap_or("");
        if kind != "plain_text" && (plain_only || kind != "mrkdwn") {
            return Err(invalid(
                format!(
                    "must be a {} text object",
                    if plain_only {
                        "plain_text"
                    } else {
                        "plain_text or mrkdwn"
                    }
                ),
                at,
            ));
        }
        let Some(text) = value["text"].as_str() else {
            return Err(invalid(
                "text must be a string".into(),
                format!("{at}/text"),
            ));
        };
        let n = chars(text);
        if n == 0 {
            return Err(invalid(
                "must be more than 0 characters".into(),
                format!("{at}/text"),
            ));
        }
        if n > max {
            return Err(invalid(
                format!("must be less than {} characters", max + 1),
                format!("{at}/text"),
            ));
        }
        Ok(n)
    };
    let mut total = 0;
    for (i, block) in blocks.iter().enumerate() {
        let at = format!("/blocks/{i}");
        if let Some(id) = block["block_id"].as_str() {
            if chars(id) > 255 {
                return Err(invalid(
                    "must be less than 256 characters".into(),
                    format!("{at}/block_id"),
                ));
            }
        }
        match block["type"].as_str().unwrap_or("") {
            "header" => {
                total += text_object(&block["text"], format!("{at}/text"), MAX_HEADER_TEXT, true)?
            }
            "section" => {
                let has_text = !block["text"].is_null();
                let fields = block["fields"].as_array();
                if !has_text && fields.is_none() {
                    return Err(invalid("must provide either text or fields".into(), at));
                }
                if has_text {
                    total += text_object(
                        &block["text"],
                        format!("{at}/text"),
                        MAX_SECTION_TEXT,
                        false,
                    )?;
                }
                if let Some(fields) = fields {
                    if fields.is_empty() || fields.len() > 10 {
                        return Err(invalid(
                            "must provide 1 to 10 fields".into(),
                            format!("{at}/fields"),
                        ));
                    }
                    for (j, field) in fields.iter().enumerate() {
                        total += text_object(field, format!("{at}/fields/{j}"), 2000, false)?;
                    }
                }
            }
            "context" => {
                let elements = block["elements"].as_array().cloned().unwrap_or_default();
                if elements.is_empty() || elements.len() > 10 {
                    return Err(invalid(
                        "must provide 1 to 10 elements".into(),
                        format!("{at}/elements"),
                    ));
                }
                for (j, element) in elements.iter().enumerate() {
                    if element["type"] == "image" {
                        continue;
                    }
                    total += text_object(
                        element,
                        format!("{at}/elements/{j}"),
                        MAX_SECTION_TEXT,
                        false,
                    )?;
                }
            }
            "divider" | "actions" | "image" => {}
            other => {
                return Err(invalid(
                    format!("unsupported type `{other}`"),
                    format!("{at}/type"),
                ));
            }
        }
    }
    if total > MAX_BLOCKS_TEXT {
        return Err(("msg_blocks_too_long".into(), Vec::new()));
    }
    let text = if chars(&text) > MAX_TEXT {
        warnings.push("message_truncated".into());
        text.chars().take(MAX_TEXT).collect()
    } else {
        text
    };
    Ok((text, Value::Array(blocks)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(payload: Value) -> Result<(String, Value), String> {
        let mut warnings = Vec::new();
        validate(&payload, &mut warnings).map_err(|(code, m)| format!("{code} {m:?}"))
    }

    #[test]
    fn enforces_block_limits_with_slack_messages() {
        assert!(check(json!({"text": "hi"})).is_ok());
        assert!(check(json!({})).unwrap_err().starts_with("no_text"));
        let long = "x".repeat(3001);
        let err = check(
            json!({"blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": long}}]}),
        )
        .unwrap_err();
        assert!(
            err.contains("must be less than 3001 characters [json-pointer:/blocks/0/text/text]"),
            "{err}"
        );
        let header = "h".repeat(151);
        assert!(check(
            json!({"blocks": [{"type": "header", "text": {"type": "plain_text", "text": header}}]})
        )
        .is_err());
        assert!(check(
            json!({"blocks": [{"type": "header", "text": {"type": "mrkdwn", "text": "x"}}]})
        )
        .is_err());
        let many: Vec<Value> = (0..51).map(|_| json!({"type": "divider"})).collect();
        assert!(check(json!({"text": "x", "blocks": many}))
            .unwrap_err()
            .contains("no more than 50"));
        let big: Vec<Value> = (0..5)
            .map(|_| json!({"type": "section", "text": {"type": "mrkdwn", "text": "y".repeat(2900)}}))
            .collect();
        assert!(check(json!({"blocks": big}))
            .unwrap_err()
            .starts_with("msg_blocks_too_long"));
    }

    #[test]
    fn truncates_long_text_with_a_warning() {
        let mut warnings = Vec::new();
        let (text, _) = validate(&json!({"text": "z".repeat(40_001)}), &mut warnings).unwrap();
        assert_eq!(text.len(), 40_000);
        assert_eq!(warnings, ["message_truncated"]);
    }
}
