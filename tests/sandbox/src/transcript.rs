//! A Slack conversation laid out for a terminal the way Slack lays it out: each message's
//! header, section text and fields, release notes, context line, and its thread replies
//! indented under it. Slack's mrkdwn becomes readable text: links `<url|text>` read
//! `text (url)`, mentions read `@oncall`, `&amp;`-style escapes are undone, and bold is bold
//! only when the output is a terminal that accepts colour.
//!
//! The input is what the control API's `GET /slack/messages` answers (see
//! [`crate::control`]), so a transcript shows exactly what the fake Slack received.

use serde_json::Value;

/// How to show emphasis.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Style {
    /// Bold with ANSI escapes (a terminal, without `NO_COLOR`); otherwise plain text.
    pub bold: bool,
}

impl Style {
    /// Plain text: no escape sequences at all (files, pipes, CI logs, `NO_COLOR`).
    pub fn plain() -> Style {
        Style { bold: false }
    }

    /// Bold only on a terminal and when `NO_COLOR` is unset or empty (no-color.org).
    pub fn for_output(is_terminal: bool, no_color: Option<&str>) -> Style {
        Style {
            bold: is_terminal && no_color.is_none_or(str::is_empty),
        }
    }

    fn strong(self, text: &str) -> String {
        if self.bold && !text.is_empty() {
            format!("\x1b[1m{text}\x1b[22m")
        } else {
            text.to_string()
        }
    }
}

/// The names Slack shows for IDs in mentions (`S0ONCALL` → `oncall`, `U0ADA` → `ada`): the
/// workspace's user groups and users. A mention without a label is shown by ID when its
/// name is unknown.
#[derive(Clone, Debug, Default)]
pub struct Directory {
    names: Vec<(String, String)>,
}

impl Directory {
    /// From `{"usergroups": {"S0ONCALL": "oncall"}, "users": {"U0ADA": "ada"}}`, as the
    /// control API's `GET /slack/directory` answers.
    pub fn from_json(value: &Value) -> Directory {
        let mut names = Vec::new();
        for key in ["usergroups", "users"] {
            if let Some(map) = value[key].as_object() {
                for (id, name) in map {
                    if let Some(name) = name.as_str() {
                        names.push((id.clone(), name.to_string()));
                    }
                }
            }
        }
        Directory { names }
    }

    fn name(&self, id: &str) -> Option<&str> {
        self.names
            .iter()
            .find(|(i, _)| i == id)
            .map(|(_, n)| n.as_str())
    }
}

/// Width of the divider, and of the left column of fields.
const DIVIDER: usize = 48;
const FIELD_COLUMN: usize = 34;

/// Renders every message (an array as `GET /slack/messages` answers it) in order, a blank
/// line between messages, thread replies indented under their parent.
pub fn render(messages: &Value, directory: &Directory, style: Style) -> String {
    let Some(list) = messages.as_array() else {
        return String::new();
    };
    if list.is_empty() {
        return "(Slack received no message)\n".into();
    }
    let mut out = String::new();
    for (i, message) in list.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        render_message(&mut out, message, directory, style, "", i + 1);
        if let Some(replies) = message["replies"].as_array() {
            for reply in replies {
                render_reply(&mut out, reply, directory, style);
            }
        }
    }
    out
}

fn via(message: &Value) -> &'static str {
    match message["via"].as_str() {
        Some("webhook") => "incoming webhook",
        _ => "Web API",
    }
}

fn channel(message: &Value) -> String {
    match message["channel_name"].as_str() {
        Some(name) => format!("#{name}"),
        None => message["channel"].as_str().unwrap_or("?").to_string(),
    }
}

fn edits(message: &Value) -> usize {
    message["edits"].as_array().map_or(0, Vec::len)
}

fn render_message(
    out: &mut String,
    message: &Value,
    directory: &Directory,
    style: Style,
    indent: &str,
    n: usize,
) {
    out.push_str(&format!(
        "{indent}── {n}. {} · {}{}\n",
        channel(message),
        via(message),
        match edits(message) {
            0 => String::new(),
            1 => " · edited once".into(),
            k => format!(" · edited {k} times"),
        }
    ));
    render_body(out, message, directory, style, indent);
}

fn render_reply(out: &mut String, reply: &Value, directory: &Directory, style: Style) {
    let edited = match edits(reply) {
        0 => String::new(),
        _ => " (edited)".into(),
    };
    out.push_str(&format!("   ↳ reply in thread{edited}\n"));
    render_body(out, reply, directory, style, "     ");
}

/// The blocks when there are any (Slack shows those, and the text only in notifications),
/// else the text.
fn render_body(
    out: &mut String,
    message: &Value,
    directory: &Directory,
    style: Style,
    indent: &str,
) {
    let blocks = message["blocks"].as_array().filter(|b| !b.is_empty());
    let Some(blocks) = blocks else {
        let text = message["text"].as_str().unwrap_or("");
        push_lines(out, indent, &mrkdwn(text, directory, style));
        return;
    };
    for block in blocks {
        match block["type"].as_str().unwrap_or("") {
            "header" => {
                let text = emoji(block["text"]["text"].as_str().unwrap_or(""));
                push_lines(out, indent, &style.strong(&text));
            }
            "section" => {
                if !block["text"].is_null() {
                    push_lines(out, indent, &text_object(&block["text"], directory, style));
                }
                if let Some(fields) = block["fields"].as_array() {
                    render_fields(out, fields, directory, style, indent);
                }
            }
            "context" => {
                let parts: Vec<String> = block["elements"]
                    .as_array()
                    .map(|e| {
                        e.iter()
                            .filter(|el| el["type"] != "image")
                            .map(|el| text_object(el, directory, style))
                            .collect()
                    })
                    .unwrap_or_default();
                push_lines(out, indent, &parts.join("  "));
            }
            "divider" => push_lines(out, indent, &"─".repeat(DIVIDER)),
            "image" => push_lines(
                out,
                indent,
                &format!("[image: {}]", block["alt_text"].as_str().unwrap_or("")),
            ),
            other => push_lines(out, indent, &format!("[{other} block]")),
        }
    }
}

/// Fields two per line, as Slack shows them: `Name: value`.
fn render_fields(
    out: &mut String,
    fields: &[Value],
    directory: &Directory,
    style: Style,
    indent: &str,
) {
    let cells: Vec<String> = fields
        .iter()
        .map(|f| {
            let text = text_object(f, directory, style);
            match text.split_once('\n') {
                Some((name, value)) => format!("{name}: {}", value.replace('\n', " ")),
                None => text,
            }
        })
        .collect();
    for pair in cells.chunks(2) {
        let line = match pair {
            [left, right] => {
                let width = visible_width(left);
                let pad = FIELD_COLUMN.saturating_sub(width).max(2);
                format!("{left}{}{right}", " ".repeat(pad))
            }
            [only] => only.clone(),
            _ => String::new(),
        };
        push_lines(out, indent, &line);
    }
}

/// Characters a terminal shows (ANSI escapes do not count).
fn visible_width(text: &str) -> usize {
    let mut n = 0;
    let mut in_escape = false;
    for c in text.chars() {
        match (in_escape, c) {
            (false, '\x1b') => in_escape = true,
            (true, 'm') => in_escape = false,
            (true, _) => {}
            (false, _) => n += 1,
        }
    }
    n
}

fn text_object(value: &Value, directory: &Directory, style: Style) -> String {
    let text = value["text"].as_str().unwrap_or("");
    match value["type"].as_str() {
        Some("plain_text") => emoji(text),
        _ => mrkdwn(text, directory, style),
    }
}

fn push_lines(out: &mut String, indent: &str, text: &str) {
    for line in text.split('\n') {
        out.push_str(indent);
        out.push_str(line);
        out.push('\n');
    }
}

/// The emoji Slack shows for the shortcodes shipline (and most deploy bots) use.
fn emoji(text: &str) -> String {
    const CODES: [(&str, &str); 10] = [
        (":white_check_mark:", "✅"),
        (":x:", "❌"),
        (":rocket:", "🚀"),
        (":fast_forward:", "⏩"),
        (":warning:", "⚠️"),
        (":rotating_light:", "🚨"),
        (":tada:", "🎉"),
        (":leftwards_arrow_with_hook:", "↩️"),
        (":hourglass_flowing_sand:", "⏳"),
        (":no_entry:", "⛔"),
    ];
    let mut text = text.to_string();
    for (code, glyph) in CODES {
        text = text.replace(code, glyph);
    }
    text
}

/// Slack mrkdwn as a reader sees it: `<url|text>` → `text (url)`, `<@U1|ada>` → `@ada`,
/// `<!subteam^S1|oncall>` or `<!subteam^S1>` with S1 in the directory → `@oncall`, `<!here>` → `@here`, `<#C1|deploys>` → `#deploys`,
/// `*bold*` bold (or plain), `_italic_` and `~strike~` plain, `` `code` `` kept, and the
/// escapes `&amp;` `&lt;` `&gt;` undone.
pub fn mrkdwn(text: &str, directory: &Directory, style: Style) -> String {
    // Tokens first: a link's label may hold a code span (`<url|`abc1234`>`).
    let text = tokens(&emoji(text), directory);
    let mut out = String::new();
    // Code spans keep their text as is (Slack formats nothing inside them).
    for (i, part) in text.split('`').enumerate() {
        if i > 0 {
            out.push('`');
        }
        if i % 2 == 1 {
            out.push_str(part);
        } else {
            out.push_str(&emphasis(part, style));
        }
    }
    out
}

/// Replaces `<…>` tokens (links, mentions, channels) by their readable text; entities are
/// undone in the result (so an escaped `&lt;` never becomes a token).
fn tokens(text: &str, directory: &Directory) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find('<') {
        out.push_str(&unescape(&rest[..start]));
        let after = &rest[start + 1..];
        match after.find('>') {
            Some(end) => {
                out.push_str(&token(&after[..end], directory));
                rest = &after[end + 1..];
            }
            None => {
                out.push_str(&unescape(&rest[start..]));
                rest = "";
            }
        }
    }
    out.push_str(&unescape(rest));
    out
}

fn token(inner: &str, directory: &Directory) -> String {
    let (target, label) = match inner.split_once('|') {
        Some((t, l)) => (t, Some(unescape(l))),
        None => (inner, None),
    };
    let known = |id: &str| {
        label
            .clone()
            .or_else(|| directory.name(id).map(str::to_string))
    };
    let at = |name: String| {
        if name.starts_with('@') {
            name
        } else {
            format!("@{name}")
        }
    };
    if let Some(user) = target.strip_prefix('@') {
        return at(known(user).unwrap_or_else(|| user.to_string()));
    }
    if let Some(channel) = target.strip_prefix('#') {
        return format!("#{}", label.unwrap_or_else(|| channel.to_string()));
    }
    if let Some(special) = target.strip_prefix('!') {
        if let Some(group) = special.strip_prefix("subteam^") {
            return at(known(group).unwrap_or_else(|| group.to_string()));
        }
        if special.starts_with("date^") {
            return label.unwrap_or_default();
        }
        return at(label.unwrap_or_else(|| special.to_string()));
    }
    let url = unescape(target);
    match label {
        Some(label) if label != url => format!("{label} ({url})"),
        _ => url,
    }
}

fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// `*bold*`, `_italic_`, `~strike~` where Slack sees them: the opening marker after a
/// non-word character and before a non-space, the closing one after a non-space and before a
/// non-word character, on one line. `snake_case_names` stay as they are.
fn emphasis(text: &str, style: Style) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if matches!(c, '*' | '_' | '~') && opens(&chars, i) {
            if let Some(j) = (i + 2..chars.len())
                .take_while(|&j| chars[j] != '\n')
                .find(|&j| chars[j] == c && closes(&chars, j))
            {
                let inner: String = chars[i + 1..j].iter().collect();
                let inner = emphasis(&inner, style);
                out.push_str(&if c == '*' {
                    style.strong(&inner)
                } else {
                    inner
                });
                i = j + 1;
                continue;
            }
        }
        out.push(c);
        i += 1;
    }
    out
}

fn opens(chars: &[char], i: usize) -> bool {
    let before_ok = i == 0 || !chars[i - 1].is_alphanumeric();
    let next = chars.get(i + 1);
    before_ok && next.is_some_and(|n| !n.is_whitespace() && *n != chars[i])
}

fn closes(chars: &[char], j: usize) -> bool {
    let before_ok = !chars[j - 1].is_whitespace();
    let after_ok = chars.get(j + 1).is_none_or(|n| !n.is_alphanumeric());
    before_ok && after_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_mentions_and_escapes_read_as_slack_shows_them() {
        let plain = Style::plain();
        let dir = Directory::from_json(&serde_json::json!({"usergroups": {"S0ONCALL": "oncall"}}));
        let mrkdwn = |text: &str, style| mrkdwn(text, &dir, style);
        assert_eq!(
            mrkdwn("<https://x.test/a?b=1&amp;c=2|the run> by <@U1|ada>", plain),
            "the run (https://x.test/a?b=1&c=2) by @ada"
        );
        assert_eq!(
            mrkdwn("<!subteam^S0ONCALL|oncall> look", plain),
            "@oncall look"
        );
        assert_eq!(
            mrkdwn("<!subteam^S0ONCALL> <!here>", plain),
            "@oncall @here"
        );
        assert_eq!(mrkdwn("<!subteam^S0OTHER> <@U9>", plain), "@S0OTHER @U9");
        assert_eq!(
            mrkdwn("fix &lt;!channel&gt; &amp; co", plain),
            "fix <!channel> & co"
        );
        assert_eq!(mrkdwn("<https://x.test>", plain), "https://x.test");
    }

    #[test]
    fn emphasis_is_bold_only_with_ansi_and_leaves_names_alone() {
        let plain = Style::plain();
        let bold = Style { bold: true };
        let mrkdwn = |text: &str, style| mrkdwn(text, &Directory::default(), style);
        assert_eq!(mrkdwn("*Failed* at `verify`", plain), "Failed at `verify`");
        assert_eq!(
            mrkdwn("*Failed* at `verify`", bold),
            "\x1b[1mFailed\x1b[22m at `verify`"
        );
        assert_eq!(
            mrkdwn("SHIPLINE_ENABLED is _off_", plain),
            "SHIPLINE_ENABLED is off"
        );
        assert_eq!(mrkdwn("`a *b* c`", plain), "`a *b* c`");
        assert_eq!(mrkdwn("2 * 3 * 4", plain), "2 * 3 * 4");
    }

    #[test]
    fn style_follows_the_terminal_and_no_color() {
        assert!(Style::for_output(true, None).bold);
        assert!(Style::for_output(true, Some("")).bold);
        assert!(!Style::for_output(true, Some("1")).bold);
        assert!(!Style::for_output(false, None).bold);
    }
}
