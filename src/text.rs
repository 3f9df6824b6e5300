//! Text shipline prints about things it does not control. A slug's `commit` is free text when
//! another tool built it through the API, and flags are the user's: shortening either must cut
//! at a character, never inside one (a byte slice there aborts the step, with no state record,
//! no outcome and no Slack message).

/// How many characters of a commit id the log shows.
pub const SHORT_ID: usize = 7;

/// The first `n` characters of `text`, cut at a character boundary.
pub fn prefix(text: &str, n: usize) -> &str {
    match text.char_indices().nth(n) {
        Some((at, _)) => &text[..at],
        None => text,
    }
}

/// The short form of a commit id (or of whatever a slug records as its commit) for the log.
pub fn short(id: &str) -> &str {
    prefix(id, SHORT_ID)
}

/// Text made literal for Markdown (a step summary, release notes, a PR comment): every
/// character Markdown or GitHub's renderer gives a meaning is escaped, so a commit subject shows
/// as written and cannot add a link, an image, a table cell or a mention. `#` is kept, so GitHub
/// still links `#123`.
pub fn markdown_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(
            c,
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '~' | '&' | '!'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// One cell of a Markdown table: on one line, escaped.
pub fn markdown_cell(text: &str) -> String {
    markdown_escape(&text.replace(['\n', '\r'], " "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_at_characters_never_inside_one() {
        for (id, shown) in [
            ("1a2b3c4d5e6f", "1a2b3c4"),
            ("abc", "abc"),
            ("", ""),
            ("v1.2-ünïcødé", "v1.2-ün"),
            ("ßßßßßßßßß", "ßßßßßßß"),
        ] {
            assert_eq!(short(id), shown, "{id}");
        }
        assert_eq!(prefix("日本語のコミット", 3), "日本語");
        assert_eq!(prefix("🚀🚀", 5), "🚀🚀");
    }

    #[test]
    fn markdown_shows_text_as_written() {
        assert_eq!(
            markdown_escape("a *b* [c](d) <e> | ~f~ ![g]"),
            "a \\*b\\* \\[c\\](d) \\<e\\> \\| \\~f\\~ \\!\\[g\\]"
        );
        assert_eq!(markdown_cell("one\ntwo|three"), "one two\\|three");
    }
}
