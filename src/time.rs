//! Time as people and APIs write it: RFC 3339 timestamps (the state file, the CI APIs) and
//! short human durations (`12.3s`, `4m05s`) for the log.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Formats a time as RFC 3339 UTC with second precision (`2026-11-27T02:30:00Z`).
pub fn rfc3339(time: SystemTime) -> String {
    let secs = time
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let ts = jiff::Timestamp::from_second(i64::try_from(secs).unwrap_or(i64::MAX))
        .unwrap_or(jiff::Timestamp::MAX);
    ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Parses an RFC 3339 timestamp as the CI APIs write them (`2026-11-27T02:30:00Z`,
/// `2026-11-27T02:30:00.123Z`, `2026-11-27T03:30:00+01:00`); `None` when it is not one,
/// including a date that does not exist (`2026-02-31`). jiff does the parsing: it is linked
/// already (through gix's dates).
pub fn parse_rfc3339(text: &str) -> Option<SystemTime> {
    let ts: jiff::Timestamp = text.trim().parse().ok()?;
    Some(SystemTime::from(ts))
}

/// `text`, a decimal number of `unit`s (`90`, `1.5`, `.25`), as a duration: "bad number" when
/// it is not digits with at most one point, "too long" past `limit`. Digits past nanoseconds
/// are dropped. Integer arithmetic, so no decimal is rounded through binary floating point.
pub fn decimal(text: &str, unit: Duration, limit: Duration) -> Result<Duration, &'static str> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.len() + fraction.len() == 0 || !digits(whole) || !digits(fraction) {
        return Err("bad number");
    }
    let unit = unit.as_nanos();
    let whole: u128 = match whole {
        "" => 0,
        // Only digits are left, so parsing fails on overflow alone.
        _ => whole.parse().map_err(|_| "too long")?,
    };
    let mut nanos = whole.checked_mul(unit);
    let mut scale = unit;
    for digit in fraction.bytes() {
        scale /= 10;
        nanos = nanos.and_then(|n| n.checked_add(u128::from(digit - b'0') * scale));
    }
    match nanos {
        Some(n) if n <= limit.as_nanos() => Ok(Duration::new(
            (n / 1_000_000_000) as u64,
            (n % 1_000_000_000) as u32,
        )),
        _ => Err("too long"),
    }
}

/// `n` divided by `d` to one decimal place, rounded half up: `tenths(1536, 1024)` is `1.5`.
pub fn tenths(n: u128, d: u128) -> String {
    let t = (n * 10 + d / 2) / d;
    format!("{}.{}", t / 10, t % 10)
}

/// Formats a duration for people: `850ms`, `12.3s`, `4m05s`, `1h02m`.
pub fn human(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        format!("{}s", tenths(ms, 1000))
    } else if ms < 3_600_000 {
        let s = d.as_secs();
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        let m = d.as_secs() / 60;
        format!("{}h{:02}m", m / 60, m % 60)
    }
}

/// Waits before the next look at something that is not done yet: `poll`, or less when the
/// deadline comes first, so the last look is at the deadline itself. `false` once the deadline
/// has passed: the look just made was the last one. A signal (a cancelled job) ends the wait
/// with [`crate::signal::Interrupted`] within a tenth of a second.
pub fn wait_for_next_look(deadline: Instant, poll: Duration) -> anyhow::Result<bool> {
    let now = Instant::now();
    if now >= deadline {
        return Ok(false);
    }
    crate::signal::sleep(poll.min(deadline - now))?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_look_is_at_the_deadline() {
        let start = Instant::now();
        let deadline = start + Duration::from_millis(120);
        let mut looks = 1;
        while wait_for_next_look(deadline, Duration::from_millis(50)).unwrap() {
            looks += 1;
        }
        assert_eq!(looks, 4, "at 0, 50, 100 and 120 ms");
        assert!(start.elapsed() >= Duration::from_millis(120));
        assert!(!wait_for_next_look(deadline, Duration::from_millis(50)).unwrap());
    }

    #[test]
    fn decimals_are_exact_to_the_nanosecond() {
        let s = Duration::from_secs(1);
        assert_eq!(
            decimal("1.5", s, Duration::MAX),
            Ok(Duration::from_millis(1500))
        );
        assert_eq!(
            decimal("0.000000001", s, Duration::MAX),
            Ok(Duration::from_nanos(1))
        );
        assert_eq!(
            decimal("0.0000000019", s, Duration::MAX),
            Ok(Duration::from_nanos(1))
        );
        assert_eq!(decimal("2.", s, Duration::MAX), Ok(Duration::from_secs(2)));
        assert_eq!(decimal("61", s, Duration::from_secs(60)), Err("too long"));
        for bad in ["", ".", "1.2.3", "-1", "+1", "1e3", " 1", "0x10"] {
            assert_eq!(decimal(bad, s, Duration::MAX), Err("bad number"), "{bad:?}");
        }
    }

    #[test]
    fn tenths_round_half_up() {
        assert_eq!(tenths(1536, 1024), "1.5");
        assert_eq!(tenths(1024, 1024), "1.0");
        assert_eq!(tenths(1075, 1024), "1.0");
        assert_eq!(tenths(1076, 1024), "1.1");
        assert_eq!(human(Duration::from_millis(12_345)), "12.3s");
        assert_eq!(human(Duration::from_millis(59_960)), "60.0s");
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
            "2026-02-31T00:00:00Z",
            "2026-11-27T24:30:00Z",
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
