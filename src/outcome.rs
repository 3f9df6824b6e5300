//! How a step ended, and the state file that carries it to the next step.
//!
//! Steps of one CI job run as separate processes (`lock`, then `deploy`, then `verify`,
//! `notify`). The state file is how they talk: each step records its outcome, reason and timings,
//! and the data later steps need (the deployed release, the release it replaced). It is JSON,
//! versioned, written atomically (temporary file + rename), and keeps keys it does not know so
//! that an older binary never erases what a newer step wrote.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The format version of the state file. A file with a newer version is refused rather than
/// misread.
pub const STATE_VERSION: u64 = 1;

/// How a step ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The step did its work.
    Done,
    /// The step decided not to act, for the reason given; exit code 0.
    Skipped(String),
    /// The step failed, for the reason given; exit code 1.
    Failed(String),
}

impl Outcome {
    /// The word used in the state file and CI outputs.
    pub fn word(&self) -> &'static str {
        match self {
            Outcome::Done => "done",
            Outcome::Skipped(_) => "skipped",
            Outcome::Failed(_) => "failed",
        }
    }

    /// The reason of a skip or failure.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Outcome::Done => None,
            Outcome::Skipped(r) | Outcome::Failed(r) => Some(r),
        }
    }
}

/// What one step recorded about itself.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StepRecord {
    /// `done`, `skipped` or `failed`.
    pub outcome: String,
    /// Why it skipped or failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// When the step started, RFC 3339 UTC.
    pub started_at: String,
    /// How long it took.
    pub duration_ms: u64,
    /// Whether it was a `--dry-run`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,
}

/// The state file: step records plus per-step data, with unknown keys preserved.
#[derive(Debug, Clone, Default)]
pub struct State {
    path: PathBuf,
    doc: Map<String, Value>,
}

impl State {
    /// The state file's path: `--state`/`SHIPLINE_STATE`, else `.shipline/state.json`.
    pub fn default_path() -> PathBuf {
        PathBuf::from(".shipline/state.json")
    }

    /// Loads the state file, or starts an empty one. A file from another CI run (`run_key`
    /// differs) is set aside: its verdicts belong to another job.
    pub fn load(path: &Path, run_key: Option<&str>) -> Result<State> {
        let mut state = State {
            path: path.to_path_buf(),
            doc: Map::new(),
        };
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                state.start(run_key);
                return Ok(state);
            }
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("could not read the state file {}", path.display()))
            }
        };
        let doc: Value = serde_json::from_str(&text).with_context(|| {
            format!(
                "the state file {} is not valid JSON; delete it or point --state (SHIPLINE_STATE) elsewhere",
                path.display()
            )
        })?;
        let Value::Object(doc) = doc else {
            bail!(
                "the state file {} does not hold a JSON object; delete it or point --state (SHIPLINE_STATE) elsewhere",
                path.display()
            );
        };
        let version = doc.get("version").and_then(Value::as_u64).unwrap_or(0);
        if version > STATE_VERSION {
            bail!(
                "the state file {} has format version {version}, newer than this shipline understands ({STATE_VERSION}); use the same shipline version in every step",
                path.display()
            );
        }
        let same_run = doc.get("run").and_then(Value::as_str) == run_key;
        if same_run {
            state.doc = doc;
            state.doc.insert("version".into(), STATE_VERSION.into());
        } else {
            state.start(run_key);
        }
        Ok(state)
    }

    fn start(&mut self, run_key: Option<&str>) {
        self.doc.clear();
        self.doc.insert("version".into(), STATE_VERSION.into());
        if let Some(key) = run_key {
            self.doc.insert("run".into(), key.into());
        }
    }

    /// The record of `step`, if it ran in this job.
    pub fn step(&self, step: &str) -> Option<StepRecord> {
        let value = self.doc.get("steps")?.get(step)?;
        serde_json::from_value(value.clone()).ok()
    }

    /// Every step recorded in this run, by name, in no particular order (callers that care
    /// about order sort by [`StepRecord::started_at`]). Records this version cannot read are
    /// left out rather than failing the step that asks.
    pub fn steps(&self) -> Vec<(String, StepRecord)> {
        let Some(Value::Object(steps)) = self.doc.get("steps") else {
            return Vec::new();
        };
        steps
            .iter()
            .filter_map(|(name, value)| {
                let record = serde_json::from_value(value.clone()).ok()?;
                Some((name.clone(), record))
            })
            .collect()
    }

    /// The first of `earlier` steps that skipped, with its reason: a later step of the same
    /// run skips too (a superseded build must not deploy, a skipped deploy must not verify).
    pub fn skipped_before(&self, earlier: &[&str]) -> Option<(String, String)> {
        earlier.iter().find_map(|step| {
            let record = self.step(step)?;
            (record.outcome == "skipped")
                .then(|| (step.to_string(), record.reason.unwrap_or_default()))
        })
    }

    /// Records how `step` ended.
    pub fn record_step(&mut self, step: &str, record: StepRecord) {
        let steps = self
            .doc
            .entry("steps")
            .or_insert_with(|| Value::Object(Map::new()));
        if !steps.is_object() {
            *steps = Value::Object(Map::new());
        }
        if let Value::Object(steps) = steps {
            steps.insert(
                step.to_string(),
                serde_json::to_value(record).unwrap_or(Value::Null),
            );
        }
    }

    /// Sets a top-level section (e.g. `deploy`) to `value`.
    pub fn set(&mut self, key: &str, value: Value) {
        self.doc.insert(key.to_string(), value);
    }

    /// A top-level section, as an earlier step wrote it.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.doc.get(key)
    }

    /// Writes the file atomically: a temporary file beside it, then a rename, so a reader never
    /// sees half a file and a crash never leaves one.
    pub fn save(&self) -> Result<()> {
        let path = &self.path;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| {
                format!("could not create the state directory {}", dir.display())
            })?;
        }
        let mut text = serde_json::to_string_pretty(&Value::Object(self.doc.clone()))
            .context("could not serialize the state file")?;
        text.push('\n');
        let tmp = path.with_extension(format!("json.tmp-{}", std::process::id()));
        std::fs::write(&tmp, text)
            .with_context(|| format!("could not write the state file {}", tmp.display()))?;
        std::fs::rename(&tmp, path).with_context(|| {
            let _ = std::fs::remove_file(&tmp);
            format!("could not replace the state file {}", path.display())
        })
    }
}

/// Formats a time as RFC 3339 UTC with second precision (`2026-11-27T02:30:00Z`).
pub fn rfc3339(time: SystemTime) -> String {
    let secs = time
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs() as i64;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Parses an RFC 3339 timestamp as the CI APIs write them (`2026-11-27T02:30:00Z`,
/// `2026-11-27T02:30:00.123Z`, `2026-11-27T03:30:00+01:00`); `None` when it is not one.
pub fn parse_rfc3339(text: &str) -> Option<SystemTime> {
    let b = text.trim().as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = b.get(r)?;
        if !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(part).ok()?.parse().ok()
    };
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, s) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let mut i = 19;
    let mut nanos = 0u32;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        let digits = &text.trim()[start..i];
        if digits.is_empty() {
            return None;
        }
        let padded: String = digits
            .chars()
            .chain(std::iter::repeat('0'))
            .take(9)
            .collect();
        nanos = padded.parse().ok()?;
    }
    let offset = match b.get(i)? {
        b'Z' | b'z' if i + 1 == b.len() => 0,
        sign @ (b'+' | b'-') if i + 6 == b.len() && b[i + 3] == b':' => {
            let minutes = num(i + 1..i + 3)? * 60 + num(i + 4..i + 6)?;
            if *sign == b'+' {
                minutes * 60
            } else {
                -minutes * 60
            }
        }
        _ => return None,
    };
    let days = days_from_civil(y, mo as u32, d as u32);
    let secs = days * 86_400 + h * 3600 + mi * 60 + s - offset;
    if secs < 0 {
        return None;
    }
    Some(UNIX_EPOCH + Duration::new(secs as u64, nanos))
}

/// A proleptic Gregorian date to days since 1970-01-01 (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Formats a duration for people: `850ms`, `12.3s`, `4m05s`, `1h02m`.
pub fn human(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        format!("{:.1}s", d.as_secs_f64())
    } else if ms < 3_600_000 {
        let s = d.as_secs();
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        let m = d.as_secs() / 60;
        format!("{}h{:02}m", m / 60, m % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_path(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "shipline-state-{}-{name}-{}",
            std::process::id(),
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        dir.join("state.json")
    }

    fn record(outcome: &str, reason: Option<&str>) -> StepRecord {
        StepRecord {
            outcome: outcome.into(),
            reason: reason.map(Into::into),
            started_at: "2026-11-27T00:00:00Z".into(),
            duration_ms: 5,
            dry_run: false,
        }
    }

    #[test]
    fn round_trips_and_keeps_unknown_keys() {
        let path = temp_path("roundtrip");
        let mut state = State::load(&path, Some("run-1")).unwrap();
        state.record_step("lock", record("skipped", Some("superseded by #12")));
        state.set("future", serde_json::json!({"kept": true}));
        state.save().unwrap();

        let state = State::load(&path, Some("run-1")).unwrap();
        assert_eq!(
            state.skipped_before(&["lock", "deploy"]),
            Some(("lock".into(), "superseded by #12".into()))
        );
        let text = std::fs::read_to_string(&path).unwrap();
        let doc: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(doc["future"]["kept"], true);
        assert_eq!(doc["version"], STATE_VERSION);
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }

    #[test]
    fn a_file_from_another_run_is_set_aside() {
        let path = temp_path("other-run");
        let mut state = State::load(&path, Some("run-1")).unwrap();
        state.record_step("lock", record("skipped", Some("superseded")));
        state.save().unwrap();
        let state = State::load(&path, Some("run-2")).unwrap();
        assert_eq!(state.skipped_before(&["lock"]), None);
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }

    #[test]
    fn refuses_garbage_and_newer_versions_with_the_path() {
        let path = temp_path("garbage");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, "{not json").unwrap();
        let err = format!("{:#}", State::load(&path, None).unwrap_err());
        assert!(
            err.contains("not valid JSON") && err.contains("state.json"),
            "{err}"
        );
        std::fs::write(&path, r#"{"version": 99}"#).unwrap();
        let err = format!("{:#}", State::load(&path, None).unwrap_err());
        assert!(err.contains("format version 99"), "{err}");
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }

    #[test]
    fn parses_the_timestamps_ci_apis_write() {
        let t = UNIX_EPOCH + Duration::from_secs(1_795_746_600);
        assert_eq!(parse_rfc3339("2026-11-27T02:30:00Z"), Some(t));
        assert_eq!(
            parse_rfc3339("2026-11-27T02:30:00.250Z"),
            Some(t + Duration::from_millis(250))
        );
        assert_eq!(parse_rfc3339("2026-11-27T03:30:00+01:00"), Some(t));
        assert_eq!(
            parse_rfc3339("2024-02-29T00:00:00Z")
                .map(rfc3339)
                .as_deref(),
            Some("2024-02-29T00:00:00Z")
        );
        for bad in [
            "",
            "2026-11-27",
            "2026-13-01T00:00:00Z",
            "2026-11-27T02:30:00",
            "x026-11-27T02:30:00Z",
            "2026-11-27T02:30:00.Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn formats_times_and_durations() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(1_795_746_600)),
            "2026-11-27T02:30:00Z"
        );
        assert_eq!(human(Duration::from_millis(850)), "850ms");
        assert_eq!(human(Duration::from_millis(12_340)), "12.3s");
        assert_eq!(human(Duration::from_secs(245)), "4m05s");
        assert_eq!(human(Duration::from_secs(3720)), "1h02m");
    }
}
