//! Which CI we run in, and everything shipline says to it.
//!
//! The log is line-oriented and goes to standard output, so a CI job shows it in order with the
//! output of the commands around it. On GitHub Actions the same lines carry workflow commands
//! (groups, annotations, masks) and the binary writes `$GITHUB_OUTPUT` and
//! `$GITHUB_STEP_SUMMARY` itself; on CircleCI and elsewhere nothing CI-specific is written.

use std::fs::OpenOptions;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use anyhow::{Context, Result};

/// `true`/`false` and the usual spellings CI systems use for a variable or an input.
pub fn parse_bool(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" | "" => Some(false),
        _ => None,
    }
}

/// The CI service the step runs in, detected from the variables each one sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    /// `GITHUB_ACTIONS=true`.
    GitHubActions,
    /// `CIRCLECI=true`.
    CircleCi,
    /// Any other CI, or a terminal.
    Other,
}

impl Provider {
    /// Detects the provider from the environment.
    pub fn detect() -> Provider {
        Provider::from_env(|name| std::env::var(name).ok())
    }

    /// Detects the provider from a variable lookup (pure, for tests).
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Provider {
        if var("GITHUB_ACTIONS").as_deref() == Some("true") {
            Provider::GitHubActions
        } else if var("CIRCLECI").as_deref() == Some("true") {
            Provider::CircleCi
        } else {
            Provider::Other
        }
    }

    /// The identity of the current CI job, so that a state file left by another run is not
    /// mistaken for this one's. `None` outside CI: then the file is the user's to manage.
    pub fn run_key(self) -> Option<String> {
        let var = |name: &str| std::env::var(name).unwrap_or_default();
        match self {
            Provider::GitHubActions => Some(format!(
                "github:{}:{}:{}",
                var("GITHUB_RUN_ID"),
                var("GITHUB_RUN_ATTEMPT"),
                var("GITHUB_JOB")
            )),
            Provider::CircleCi => {
                let job = std::env::var("CIRCLE_WORKFLOW_JOB_ID")
                    .unwrap_or_else(|_| var("CIRCLE_BUILD_NUM"));
                Some(format!("circleci:{}:{}", var("CIRCLE_WORKFLOW_ID"), job))
            }
            Provider::Other => None,
        }
    }
}

/// Secrets that must never reach the log, an error message or an output file.
static SECRETS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Registers a secret: it is masked on GitHub Actions and replaced by `***` in everything
/// shipline prints. Short values are not registered: masking them would garble the log.
pub fn register_secret(value: &str) {
    let value = value.trim();
    if value.len() < 6 {
        return;
    }
    let mut secrets = SECRETS.lock().unwrap_or_else(|e| e.into_inner());
    if secrets.iter().any(|s| s == value) {
        return;
    }
    secrets.push(value.to_string());
    drop(secrets);
    if Provider::detect() == Provider::GitHubActions {
        emit(&format!("::add-mask::{}", escape_data(value)));
    }
}

/// Replaces every registered secret in `text` with `***`.
pub fn redact(text: &str) -> String {
    let secrets = SECRETS.lock().unwrap_or_else(|e| e.into_inner());
    let mut out = text.to_string();
    for secret in secrets.iter() {
        if out.contains(secret.as_str()) {
            out = out.replace(secret.as_str(), "***");
        }
    }
    out
}

/// Whether standard output carries the command's data (`shipline notes`), so the log and
/// workflow commands go to standard error, which the GitHub runner reads for commands too.
static STDOUT_IS_DATA: AtomicBool = AtomicBool::new(false);

/// Sends the log and every workflow command to standard error from now on: standard output is
/// the command's data, and whatever captures it (`notes > CHANGES.md`, a step output) must
/// get the data alone, never an `::add-mask::` line carrying a secret.
pub fn stdout_is_data() {
    STDOUT_IS_DATA.store(true, Ordering::Relaxed);
}

/// Prints text, which may hold text shipline did not write (a commit subject, a release
/// description, an API's error body): on GitHub Actions each line of it is neutralised, so the
/// runner never reads one as a workflow command.
fn emit_text(text: &str) {
    if Provider::detect() == Provider::GitHubActions {
        emit(&neutralise(text));
    } else {
        emit(text);
    }
}

/// Text made harmless for the GitHub runner, which reads a line starting with `::` (after
/// whitespace, which it trims) or holding `##[` anywhere as a workflow command: a zero-width
/// space goes before such a `::` and inside each `##[`. The text still reads as written.
pub fn neutralise(text: &str) -> String {
    const ZWSP: char = '\u{200B}';
    let mut out = String::with_capacity(text.len());
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        for (j, part) in line.split('\r').enumerate() {
            if j > 0 {
                out.push('\r');
            }
            let body = part.trim_start();
            if body.starts_with("::") {
                out.push_str(&part[..part.len() - body.len()]);
                out.push(ZWSP);
                out.push_str(body);
            } else {
                out.push_str(part);
            }
        }
    }
    if out.contains("##[") {
        out = out.replace("##[", &format!("#{ZWSP}#["));
    }
    out
}

/// Prints one line: a workflow command of shipline's own, or text already safe.
fn emit(line: &str) {
    // A closed stdout (e.g. `| head`) must not turn into a panic; the step goes on.
    if STDOUT_IS_DATA.load(Ordering::Relaxed) {
        let _ = writeln!(std::io::stderr(), "{line}");
        return;
    }
    let stdout = std::io::stdout();
    let mut lock = stdout.lock();
    let _ = writeln!(lock, "{line}");
    let _ = lock.flush();
}

/// Prints one log line (neutralised on GitHub Actions: it may quote text from elsewhere).
pub fn say(line: &str) {
    emit_text(&redact(line));
}

/// Prints a warning: an annotation on GitHub Actions, a `warning:` line elsewhere.
pub fn warn(message: &str) {
    let message = redact(message);
    if !annotate("warning", &message) {
        emit_text(&format!("warning: {message}"));
    }
}

/// On GitHub Actions, adds an annotation of `kind` (`warning`, `error`) titled shipline with
/// the already-redacted `message`; says whether it did.
fn annotate(kind: &str, message: &str) -> bool {
    let github = Provider::detect() == Provider::GitHubActions;
    if github {
        emit(&format!(
            "::{kind} title=shipline::{}",
            escape_data(message)
        ));
    }
    github
}

/// Adds a notice annotation on GitHub Actions, so a skip shows on the run's summary page
/// (elsewhere the plain log line that accompanies it is enough).
pub fn notice(title: &str, message: &str) {
    if Provider::detect() == Provider::GitHubActions {
        emit(&format!(
            "::notice title={}::{}",
            escape_property(title),
            escape_data(&redact(message))
        ));
    }
}

/// Prints the error that ended the step, to standard error (and as an annotation on GitHub).
pub fn error(message: &str) {
    let message = redact(message);
    annotate("error", &message);
    let line = format!("error: {message}");
    let line = if Provider::detect() == Provider::GitHubActions {
        neutralise(&line)
    } else {
        line
    };
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// A foldable section of the log on GitHub Actions; a heading line elsewhere. Closed on drop,
/// so an error inside still closes it.
pub struct Group {
    github: bool,
}

impl Group {
    /// Opens a group titled `title`.
    pub fn open(title: &str) -> Group {
        let github = Provider::detect() == Provider::GitHubActions;
        if github {
            emit(&format!(
                "::group::{}",
                neutralise(&redact(title).replace(['\r', '\n'], " "))
            ));
        } else {
            emit_text(&format!("=== {}", redact(title)));
        }
        Group { github }
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        if self.github {
            emit("::endgroup::");
        }
    }
}

/// Output from elsewhere (a build log, a release phase) printed on GitHub Actions between
/// `::stop-commands::` markers, so a line in it that looks like a workflow command (`::error::`,
/// `::add-mask::`) is shown, not executed. Elsewhere it does nothing.
pub struct Untrusted {
    token: Option<String>,
}

impl Untrusted {
    /// Stops workflow commands until dropped.
    pub fn begin() -> Untrusted {
        if Provider::detect() != Provider::GitHubActions {
            return Untrusted { token: None };
        }
        let token = format!("shipline-{}", random_hex());
        emit(&format!("::stop-commands::{token}"));
        Untrusted { token: Some(token) }
    }
}

impl Drop for Untrusted {
    fn drop(&mut self) {
        if let Some(token) = &self.token {
            emit(&format!("::{token}::"));
        }
    }
}

/// 16 random bytes as hex: a `::stop-commands::` token that output from elsewhere cannot guess
/// (a guessed token would let it switch commands back on).
fn random_hex() -> String {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 16];
    if ring::rand::SystemRandom::new().fill(&mut bytes).is_err() {
        // No system randomness: the time and the process still make a token per run.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        bytes[..16].copy_from_slice(&(nanos ^ u128::from(std::process::id())).to_le_bytes());
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Escapes a workflow command's message data.
pub fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a workflow command's property value.
pub fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

/// Writes step outputs to `$GITHUB_OUTPUT` (GitHub Actions only; a no-op elsewhere).
/// Multi-line values use a heredoc with a delimiter that cannot occur in the value.
pub fn write_outputs(outputs: &[(&str, String)]) -> Result<()> {
    if Provider::detect() != Provider::GitHubActions {
        return Ok(());
    }
    let Some(path) = std::env::var_os("GITHUB_OUTPUT") else {
        return Ok(());
    };
    let mut text = String::new();
    for (name, value) in outputs {
        let value = redact(value);
        if value.contains('\n') || value.contains('\r') {
            let mut delimiter = format!("SHIPLINE_EOF_{}", std::process::id());
            while value.lines().any(|line| line == delimiter) {
                delimiter.push('_');
            }
            text.push_str(&format!("{name}<<{delimiter}\n{value}\n{delimiter}\n"));
        } else {
            text.push_str(&format!("{name}={value}\n"));
        }
    }
    append(&path, &text).context("could not write the step outputs to $GITHUB_OUTPUT")
}

/// Appends Markdown to `$GITHUB_STEP_SUMMARY` (GitHub Actions only).
pub fn write_summary(markdown: &str) -> Result<()> {
    if Provider::detect() != Provider::GitHubActions {
        return Ok(());
    }
    let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY") else {
        return Ok(());
    };
    append(&path, &redact(markdown)).context("could not write $GITHUB_STEP_SUMMARY")
}

fn append(path: &std::ffi::OsStr, text: &str) -> std::io::Result<()> {
    let mut file = OpenOptions::new().create(true).append(true).open(path)?;
    file.write_all(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neutralised_text_holds_no_workflow_command_and_reads_as_written() {
        for hostile in [
            "::add-mask::hunter2",
            "   ::set-output name=x::y",
            "\t::stop-commands::abc",
            "build step ##[set-output name=y;]z",
            "fine\n::error::pwned\r::warning::too",
        ] {
            let safe = neutralise(hostile);
            for line in safe.split(['\n', '\r']) {
                assert!(!line.trim_start().starts_with("::"), "{line:?}");
                assert!(!line.contains("##["), "{line:?}");
            }
            assert_eq!(safe.replace('\u{200B}', ""), hostile);
        }
        assert_eq!(neutralise("Live on shop: v3"), "Live on shop: v3");
    }

    #[test]
    fn detects_providers_from_their_variables() {
        let gh = |n: &str| (n == "GITHUB_ACTIONS").then(|| "true".to_string());
        let circle = |n: &str| (n == "CIRCLECI").then(|| "true".to_string());
        assert_eq!(Provider::from_env(gh), Provider::GitHubActions);
        assert_eq!(Provider::from_env(circle), Provider::CircleCi);
        assert_eq!(Provider::from_env(|_| None), Provider::Other);
    }

    #[test]
    fn escapes_workflow_command_text() {
        assert_eq!(escape_data("50% done\r\nnext"), "50%25 done%0D%0Anext");
        assert_eq!(escape_property("a:b,c"), "a%3Ab%2Cc");
    }

    #[test]
    fn redacts_registered_secrets_everywhere_in_a_text() {
        register_secret("s3cr3t-token-value");
        assert_eq!(
            redact("key s3cr3t-token-value and s3cr3t-token-value"),
            "key *** and ***"
        );
        register_secret("abc");
        assert_eq!(redact("abc"), "abc", "short values are not masked");
    }
}

/// Helpers for the unit tests of modules that read CI variables.
#[cfg(test)]
pub mod testing {
    /// An environment lookup over fixed pairs, for functions that take one instead of reading
    /// the process's environment.
    pub fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }
}
