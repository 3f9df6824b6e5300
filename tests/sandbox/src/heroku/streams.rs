//! Build and release output streams (`output_stream_url`): chunked `text/plain`, held open
//! while the run produces lines.

use std::time::{Duration, Instant};

use super::api::{lock, Shared};
use super::model::State;
use crate::server::{ChunkedWriter, Request, Response};

enum StreamKind {
    Build,
    Release,
}

/// Finds what a stream id refers to: (app index, object index).
fn locate(state: &State, kind: &StreamKind, id: &str) -> Option<(usize, usize)> {
    state.apps.iter().enumerate().find_map(|(ai, app)| {
        let oi = match kind {
            StreamKind::Build => app.builds.iter().position(|b| b.id == id),
            StreamKind::Release => app.releases.iter().position(|r| r.id == id),
        }?;
        Some((ai, oi))
    })
}

/// The lines emitted so far, whether the run is over, and when the next thing happens.
fn snapshot(
    state: &State,
    kind: &StreamKind,
    (ai, oi): (usize, usize),
    now: Instant,
) -> Option<(Vec<String>, bool, Instant)> {
    let app = state.apps.get(ai)?;
    match kind {
        StreamKind::Build => {
            let build = app.builds.get(oi)?;
            let version = app.version_for_build(build);
            let lines = build
                .timeline
                .lines_until(now)
                .iter()
                .map(|l| app.fill(l, version))
                .collect();
            Some((
                lines,
                build.timeline.finished(now),
                build.timeline.next_event(now),
            ))
        }
        StreamKind::Release => {
            let phase = app.releases.get(oi)?.phase.as_ref()?;
            let lines = phase.lines_until(now);
            Some((lines, phase.finished(now), phase.next_event(now)))
        }
    }
}

/// Build and release output: chunked `text/plain`, one line per chunk as it is produced,
/// closed when the run ends. `Range: bytes=N-` resumes after the first N bytes.
pub fn stream(shared: &Shared, rest: &str, req: &Request, now: Instant) -> Response {
    let not_found = || Response::new(404, "text/plain", "Not Found\n");
    let (kind, id) = match rest.split_once('/') {
        Some(("builds", id)) => (StreamKind::Build, id.to_string()),
        Some(("releases", id)) => (StreamKind::Release, id.to_string()),
        _ => return not_found(),
    };
    if req.method != "GET" {
        return not_found();
    }
    let location = {
        let state = lock(shared);
        let Some(location) = locate(&state, &kind, &id) else {
            return not_found();
        };
        if let StreamKind::Release = kind {
            let release = &state.apps[location.0].releases[location.1];
            match &release.phase {
                Some(phase) if now >= phase.start() => {}
                // The release command has not started (or there is none): 404 like Heroku.
                _ => return not_found(),
            }
        }
        location
    };
    let skip: usize = req
        .header("Range")
        .and_then(|r| r.trim().strip_prefix("bytes="))
        .and_then(|r| r.strip_suffix('-'))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let status = if skip > 0 { 206 } else { 200 };
    let shared = shared.clone();
    Response::stream(
        status,
        "text/plain; charset=utf-8",
        Box::new(move |out: &mut ChunkedWriter<'_>| {
            let mut sent_lines = 0;
            let mut offset = 0usize;
            loop {
                let now = Instant::now();
                let (lines, finished, next, stopped) = {
                    let mut state = lock(&shared);
                    state.settle(now);
                    let Some((lines, finished, next)) = snapshot(&state, &kind, location, now)
                    else {
                        return Ok(());
                    };
                    (lines, finished, next, state.stopped)
                };
                for line in lines.iter().skip(sent_lines) {
                    let text = format!("{line}\n");
                    let bytes = text.as_bytes();
                    let start = skip.saturating_sub(offset).min(bytes.len());
                    offset += bytes.len();
                    out.write_chunk(&bytes[start..])?;
                }
                sent_lines = lines.len();
                if finished || stopped {
                    return Ok(());
                }
                let wait = next.saturating_duration_since(Instant::now());
                std::thread::sleep(wait.clamp(Duration::from_millis(1), Duration::from_millis(50)));
            }
        }),
    )
}
