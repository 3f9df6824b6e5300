//! Following work that runs on Heroku — a build, a release phase, a rollback or a promotion —
//! with its output streamed to the log as it happens and its status polled until it is done,
//! all within the step's deadline. Shared by every step that changes what is live.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};

use crate::ci::{self, Group};
use crate::heroku::{Heroku, Release, Status};
use crate::http::Stream;

/// How many lines of build or release output a failure repeats after the stream.
const TAIL_LINES: usize = 30;

/// Follows a release until it is no longer pending, streaming its release phase. Returns the
/// finished release; its status says whether it went live.
pub fn release(
    follow: &Follow<'_>,
    app: &str,
    release: Release,
    tail: &mut Tail,
) -> Result<Release> {
    let id = release.id.clone();
    let stream = release_stream(follow, app, release)?;
    follow.until_done(
        stream.as_deref(),
        "Release phase output",
        "the release phase to finish",
        tail,
        || {
            let r = follow.heroku.release(app, &id)?;
            let done = r.status != Status::Pending;
            Ok((r, done))
        },
    )
}

/// The release phase's output URL: Heroku may set it on the release only once the phase is
/// scheduled, so a pending release without one is polled until it has one or is done.
fn release_stream(follow: &Follow<'_>, app: &str, mut release: Release) -> Result<Option<String>> {
    loop {
        if release.status != Status::Pending || release.output_stream_url.is_some() {
            return Ok(release.output_stream_url);
        }
        follow.sleep(&format!(
            "the release phase of v{} to start",
            release.version
        ))?;
        release = follow.heroku.release(app, &release.id)?;
    }
}

/// Follows a build or release: its output streamed to the log, then its status polled until it
/// is no longer pending, all within the step's deadline.
pub struct Follow<'a> {
    /// The API client.
    pub heroku: &'a Heroku,
    /// When the step must end.
    pub deadline: Instant,
    /// The interval between status polls.
    pub poll: Duration,
}

impl Follow<'_> {
    /// Streams `stream` (when there is one) inside a log group titled `title`, then polls
    /// `fetch` until it reports done.
    pub fn until_done<T>(
        &self,
        stream: Option<&str>,
        title: &str,
        what: &str,
        tail: &mut Tail,
        mut fetch: impl FnMut() -> Result<(T, bool)>,
    ) -> Result<T> {
        if let Some(url) = stream {
            let _group = Group::open(title);
            self.stream(url, tail, || fetch().map(|(_, done)| done))?;
        }
        loop {
            let (value, done) = fetch()?;
            if done {
                return Ok(value);
            }
            self.sleep(what)?;
        }
    }

    /// Streams an output URL to the log line by line, as it arrives. A stream that is not
    /// there yet (404) is retried until `finished` says the work is over; a stream that breaks
    /// is reported and left, since the status poll that follows decides the outcome.
    fn stream(
        &self,
        url: &str,
        tail: &mut Tail,
        mut finished: impl FnMut() -> Result<bool>,
    ) -> Result<()> {
        loop {
            let idle = self
                .deadline
                .saturating_duration_since(Instant::now())
                .clamp(Duration::from_secs(1), Duration::from_secs(120));
            let reader = match self.heroku.open_stream(url, idle) {
                Ok(Stream::Open(reader)) => reader,
                Ok(Stream::Status(404)) => {
                    if finished()? {
                        return Ok(());
                    }
                    self.sleep("the output stream to start")?;
                    continue;
                }
                Ok(Stream::Status(status)) => {
                    ci::warn(&format!(
                        "the output stream answered {status}; waiting for the result without it"
                    ));
                    return Ok(());
                }
                Err(e) => {
                    ci::warn(&format!(
                        "could not open the output stream ({e:#}); waiting for the result without it"
                    ));
                    return Ok(());
                }
            };
            let _untrusted = ci::Untrusted::begin();
            // The reads block until Heroku sends a line, which can be minutes into a quiet
            // build step; a thread reads, so this one looks at the signal between lines.
            let lines = read_lines(reader);
            loop {
                crate::signal::check()?;
                match lines.recv_timeout(crate::signal::SLICE) {
                    Ok(Ok(line)) => {
                        let text = String::from_utf8_lossy(&line);
                        let text = text.trim_end_matches(['\n', '\r']);
                        ci::say(text);
                        tail.push(text);
                    }
                    Ok(Err(e)) => {
                        ci::warn(&format!(
                            "the output stream broke ({e}); waiting for the result without it"
                        ));
                        return Ok(());
                    }
                    Err(mpsc::RecvTimeoutError::Timeout) => {}
                    Err(mpsc::RecvTimeoutError::Disconnected) => return Ok(()),
                }
            }
        }
    }

    /// Sleeps one poll interval, or fails with what it was waiting for once the deadline has
    /// passed.
    pub fn sleep(&self, what: &str) -> Result<()> {
        if !crate::time::wait_for_next_look(self.deadline, self.poll)? {
            bail!("timed out waiting for {what} (--timeout / SHIPLINE_TIMEOUT bounds the whole step; what already started on Heroku goes on)");
        }
        Ok(())
    }
}

/// Reads `reader` line by line on a thread of its own and hands the lines over; the channel
/// closes at the end of the stream. A thread left blocked on a read when the step is cancelled
/// ends with the process.
fn read_lines(reader: Box<dyn Read + Send>) -> mpsc::Receiver<std::io::Result<Vec<u8>>> {
    let (send, receive) = mpsc::sync_channel(64);
    let spawned = std::thread::Builder::new()
        .name("shipline-stream".into())
        .spawn(move || {
            let mut reader = BufReader::new(reader);
            loop {
                let mut line = Vec::new();
                match reader.read_until(b'\n', &mut line) {
                    Ok(0) => return,
                    Ok(_) => {
                        if send.send(Ok(line)).is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        let _ = send.send(Err(e));
                        return;
                    }
                }
            }
        });
    if let Err(e) = spawned {
        // No thread: the channel's sender is gone with the closure, so report why instead.
        let (send, receive) = mpsc::sync_channel(1);
        let _ = send.send(Err(e));
        return receive;
    }
    receive
}

/// The last lines of an output, repeated after a failure so the cause is visible outside the
/// folded log group.
pub struct Tail {
    lines: VecDeque<String>,
}

impl Default for Tail {
    fn default() -> Tail {
        Tail::new()
    }
}

impl Tail {
    /// An empty tail.
    pub fn new() -> Tail {
        Tail {
            lines: VecDeque::with_capacity(TAIL_LINES),
        }
    }

    fn push(&mut self, line: &str) {
        if self.lines.len() == TAIL_LINES {
            self.lines.pop_front();
        }
        self.lines.push_back(line.to_string());
    }

    /// Prints the kept lines, headed by what they are the output of.
    pub fn show(&self, what: &str) {
        if self.lines.is_empty() {
            ci::say(&format!("(no {what} was received)"));
            return;
        }
        ci::say(&format!("Last {} lines of the {what}:", self.lines.len()));
        for line in &self.lines {
            ci::say(&format!("  {line}"));
        }
    }
}
